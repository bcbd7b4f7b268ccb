/* SPDX-License-Identifier: BSD-2-Clause */
/* User-side half of bpf/capture.bpf.c: open, configure, load, attach, poll. */
#ifndef TW_CAPTURE_H
#define TW_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "tracewire_event.h"

struct tw_capture;

/* Called for every ring-buffer record; return 0 to continue. */
typedef int (*tw_record_fn)(void *ctx, void *data, size_t size);

/*
 * Opens the skeleton, sets the selection in rodata, loads, fills the selection
 * maps and attaches every program whose hook exists (a missing hook is logged
 * and skipped). 0 or negative errno; *out is set only on success.
 */
int tw_capture_start(struct tw_capture **out, const struct tw_config *cfg, tw_record_fn fn,
		     void *ctx);
int tw_capture_epoll_fd(const struct tw_capture *c);
/* Hand every queued record to fn. Returns records consumed or negative errno. */
int tw_capture_drain(struct tw_capture *c);
/* Sums of the per-CPU counters, indexed by enum tw_counter. */
int tw_capture_counters(const struct tw_capture *c, uint64_t out[TW_CNT_MAX]);
size_t tw_capture_attached(const struct tw_capture *c);
/* The socket left HTTP: the kernel stops sending its bytes until it closes.
 * 0, -ENOENT when the kernel no longer tracks it, or negative errno. */
int tw_capture_mark_opaque(struct tw_capture *c, uint64_t sock_id);
/* The loaded object (tls.c attaches its uprobe programs, which
 * tw_capture_start loads but does not attach). */
struct bpf_object *tw_capture_object(const struct tw_capture *c);
/* fd of one of capture's maps (propagate.c shares them), or -ENOENT. */
int tw_capture_map_fd(const struct tw_capture *c, const char *name);
/* Sums a per-CPU array of n u64 counters into out[0..n). */
struct bpf_map;
int tw_percpu_counters(const struct bpf_map *map, uint32_t n, uint64_t *out);
void tw_capture_stop(struct tw_capture *c);

#endif
