/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The process selection (--pid, --cgroup, --comm) tested in user space, on
 * /proc, for parts that act on processes rather than on events (the Go
 * probes attach per process). The kernel side tests the same selection in
 * bpf/lib/select.h.
 */
#ifndef TW_PROCSEL_H
#define TW_PROCSEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <sys/types.h>

#include "config.h"

struct tw_procsel {
	const struct tw_config *cfg;
	char cg2root[256]; /* the cgroup2 mount whose root is the hierarchy's; "" if none */
	/* what /proc/PID/cgroup paths are relative to: the root of tracewire's
	 * cgroup namespace under cg2root (cg2root itself when it shares the
	 * host's, as /proc/1/ns/cgroup tells) */
	char ns_root[PATH_MAX];
};

/* 0, or negative errno when --cgroup is used and no cgroup2 mount is found. */
int tw_procsel_init(struct tw_procsel *ps, const struct tw_config *cfg);
/* Is process pid selected (never tracewire itself)? */
bool tw_procsel_match(const struct tw_procsel *ps, pid_t pid);

/* base + "/" + rel with "." and ".." resolved lexically ("/x/a" + "/../b"
 * = "/x/b"; never above "/"): a /proc/PID/cgroup path read inside a cgroup
 * namespace is relative to its root and may climb out of it. 0, or
 * -ENAMETOOLONG. */
int tw_path_join_norm(const char *base, const char *rel, char *out, size_t size);
/* The cgroup directory under cg2root whose cgroup.procs lists pid (searched
 * at most depth levels deep, 50,000 directories). 0, -ENOENT, or -errno. */
int tw_cgroup_of_pid(const char *cg2root, pid_t pid, int depth, char *out, size_t size);

/* path is sel or below it ("/a/b" is under "/a", "/ab" is not). */
bool tw_path_under(const char *path, const char *sel);
/* Is dir the cgroup2 hierarchy's root cgroup (its id, the inode, is 1)? */
bool tw_cgroup2_is_root(const char *dir);
/* The mount point of the cgroup2 hierarchy's root (the mount whose root is
 * "/") into buf: 0, -ENOENT when there is none, or negative errno. */
int tw_cgroup2_root(char *buf, size_t size);
/* The cgroup2 path of process pid (0: this one) as /proc/PID/cgroup shows it,
 * read into text; NULL when it cannot be read or has no cgroup2 line. */
const char *tw_proc_cgroup2_path(pid_t pid, char *text, size_t size);
/* The cgroup2 path of a /proc/PID/cgroup text ("0::/x/y" line), or NULL. */
const char *tw_cgroup2_line(char *text);
/* Field 22 of /proc/PID/stat (start time in clock ticks): with the pid it
 * names one process even when pids are reused. 0 or negative errno. */
int tw_proc_starttime(pid_t pid, uint64_t *out);
/* Field 22 of a /proc/PID/stat text. 0 or -EINVAL. */
int tw_stat_starttime(const char *text, uint64_t *out);

#endif
