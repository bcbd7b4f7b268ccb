/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * File descriptors: the daemon holds one per BPF map, program and link,
 * per uprobe of every Go binary and libssl it probes, per perf buffer and
 * per connection of the exporter; the default soft limit (1024) runs out on
 * a busy node. The soft RLIMIT_NOFILE is raised to the hard limit at start
 * (nothing here uses select(2), which limits fds to FD_SETSIZE), and the
 * number of open fds is in the stats.
 */
#ifndef TW_FDS_H
#define TW_FDS_H

#include <stdint.h>

struct tw_nofile {
	uint64_t before; /* soft limit found */
	uint64_t now;    /* soft limit after raising */
	uint64_t hard;
};

/* Raises the soft RLIMIT_NOFILE to the hard one. 0, or negative errno
 * (getrlimit/setrlimit); out is filled either way with what is in force. */
int tw_nofile_raise(struct tw_nofile *out);

/* The soft RLIMIT_NOFILE now. */
uint64_t tw_nofile_limit(void);

/* Open file descriptors of this process (from /proc/self/fd), or negative
 * errno. */
long tw_open_fds(void);

#endif
