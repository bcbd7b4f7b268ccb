/* SPDX-License-Identifier: BSD-2-Clause */
/* A cgroup v2 directory as --cgroup names it, resolved to what the kernel
 * compares: its id and its depth. */
#ifndef TW_CGROUP_H
#define TW_CGROUP_H

#include <stdint.h>

struct tw_cgroup_sel {
	char path[256];
	uint64_t id;    /* cgroup v2 id (kernfs inode) */
	uint32_t level; /* depth below the cgroup2 root */
};

/* Resolve a cgroup v2 directory (-EMEDIUMTYPE: not cgroup v2). 0 or
 * negative errno. */
int tw_cgroup_resolve(const char *path, struct tw_cgroup_sel *out);

#endif
