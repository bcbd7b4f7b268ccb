/* SPDX-License-Identifier: BSD-2-Clause */
/* The Go probes' state, shared by goprobes.c (finding Go processes, their
 * analyses, the binaries cache) and goattach.c (attaching and detaching a
 * process's uprobes). */
#ifndef TW_GOPROBES_INT_H
#define TW_GOPROBES_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "goplan.h"
#include "procsel.h"

struct bpf_link;
struct goprobes_bpf;
struct tw_goworker;

/* One executable (by device and inode), analysed once, on the worker. */
struct gobinary {
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	int status;              /* 0: probes planned; -EINPROGRESS: being analysed;
				  * other negative errno: none */
	struct tw_goplan *plan;  /* status 0 only */
	char path[256];          /* for the log: the first process's */
	pid_t pid;
	bool attach_failed_logged;
	struct gobinary *next;
};

/* One process seen in /proc. */
struct goproc {
	pid_t pid;
	dev_t dev;               /* its executable when last examined */
	ino_t ino;
	uint64_t starttime;      /* processes with links only */
	int exe_fd;              /* its executable, open while its analysis runs; -1 */
	struct gobinary *waiting; /* ... that analysis */
	struct bpf_link **links; /* classic uprobes (perf events) */
	int *mfds;               /* or uprobe_multi links: one per program and pass */
	size_t n_links;          /* of either */
	uint64_t gen;            /* scan that last saw it */
	struct goproc *next;
};

#define PROC_BUCKETS 1024

struct tw_goprobes {
	struct goprobes_bpf *skel;
	struct bpf_link *read_exit;  /* sys_exit_read: heads' ids to their socket */
	struct bpf_link *write_exit; /* sys_exit_write: a request's ids off the thread */
	bool exits_tried;            /* read_exit and write_exit attached (or failed) */
	struct tw_procsel sel;
	struct tw_goworker *worker;
	struct gobinary *binaries;
	struct goproc *procs[PROC_BUCKETS];
	uint64_t gen;
	uint64_t next_scan_ns;
	size_t n_attached;       /* processes with probes */
	size_t n_go_binaries;    /* binaries with probes planned */
	size_t n_binaries;       /* entries in binaries (Go or not) */
	size_t max_binaries;     /* the memory budget's bound on them */
	uint64_t binaries_evicted;
	uint64_t next_evict_log_ns;
	bool tls_capture;        /* --tls-capture: crypto/tls probed too */
	bool multi;              /* uprobe_multi links (umulti.h) */
	bool grpc_off;           /* grpc-go's programs not loaded: not attached */
	const char *grpc_off_why; /* ... why (for the plan's log line) */
};

/* p's probes per plan on the executable open as fd: 0 or negative errno
 * (then p holds none) */
int tw_go_attach(struct tw_goprobes *gp, struct goproc *p, const struct tw_goplan *plan, int fd);
/* removes p's probes */
void tw_go_detach(struct tw_goprobes *gp, struct goproc *p);

#endif
