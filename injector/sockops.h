/* SPDX-License-Identifier: BSD-2-Clause */
/* User-side half of bpf/sockops.bpf.c: which client sockets propagation
 * watches, the TCP option, and the propagation maps the sk_msg and tc
 * objects share (docs/propagation.md, docs/wire-format.md). */
#ifndef TW_SOCKOPS_H
#define TW_SOCKOPS_H

#include <stdint.h>

#include "capture.h"
#include "config.h"
#include "tracewire_event.h"

struct tw_sockops;
struct bpf_object;

/*
 * Loads the sock_ops program on capture's maps, fills the scope and trust
 * maps, and attaches it to each --cgroup (or to the cgroup2 root when
 * processes are selected otherwise). 0 or negative errno (the caller runs
 * without propagation then).
 */
int tw_sockops_start(struct tw_sockops **out, const struct tw_config *cfg,
		     const struct tw_capture *cap);
/* The sk_msg program watches the sockhash now: sockets in scope go there. */
void tw_sockops_watch_sockets(struct tw_sockops *p);
/* Sums of the per-CPU counters, indexed by enum tw_prop_counter. */
int tw_sockops_counters(const struct tw_sockops *p, uint64_t out[TW_PC_MAX]);
/* fd of one of its maps (the sk_msg and tc objects share them), or -ENOENT. */
int tw_sockops_map_fd(const struct tw_sockops *p, const char *name);
const struct bpf_object *tw_sockops_object(const struct tw_sockops *p);
/* Counter names for logs, indexed by enum tw_prop_counter. */
const char *tw_prop_counter_name(unsigned idx);
void tw_sockops_stop(struct tw_sockops *p);

#endif
