/* SPDX-License-Identifier: BSD-2-Clause */
/* User-side half of bpf/propagate.bpf.c: trace-context injection into
 * HTTP/1.x requests of selected client sockets (docs/propagation.md). */
#ifndef TW_PROPAGATE_H
#define TW_PROPAGATE_H

#include <stdint.h>

#include "capture.h"
#include "config.h"
#include "tracewire_event.h"

struct tw_propagate;

/*
 * Loads the sk_msg and sock_ops programs sharing capture's maps, fills the
 * scope, attaches sock_ops to each --cgroup (or to the cgroup2 root when
 * processes are selected otherwise) and sk_msg to the client sockhash.
 * 0 or negative errno (the caller runs without propagation then).
 */
int tw_propagate_start(struct tw_propagate **out, const struct tw_config *cfg,
		       const struct tw_capture *cap);
/* Sums of the per-CPU counters, indexed by enum tw_prop_counter. */
int tw_propagate_counters(const struct tw_propagate *p, uint64_t out[TW_PC_MAX]);
/* fd of one of propagation's maps (the tc programs share them), or -ENOENT. */
int tw_propagate_map_fd(const struct tw_propagate *p, const char *name);
/* Counter names for logs, indexed by enum tw_prop_counter. */
const char *tw_prop_counter_name(unsigned idx);
void tw_propagate_stop(struct tw_propagate *p);

#endif
