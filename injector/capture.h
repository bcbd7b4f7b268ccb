/* SPDX-License-Identifier: BSD-2-Clause */
/* User-side half of bpf/capture.bpf.c: open, configure, load, attach, poll. */
#ifndef TW_CAPTURE_H
#define TW_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "budget.h"
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
/* The socket became HTTP/2 (h2c upgrade): its calls go to user space whole,
 * in several records (bpf/lib/h2capture.h). 0, -ENOENT, or negative errno. */
int tw_capture_mark_h2(struct tw_capture *c, uint64_t sock_id);
/* Before load: every map of obj that capture has too (same name) becomes
 * capture's (bpf_map__reuse_fd), so another feature's object (TLS) works on
 * the same sockets, threads and ring buffer. */
struct bpf_object;
int tw_capture_share_maps(const struct tw_capture *c, struct bpf_object *obj);
/* The same from any loaded object to one not loaded yet. */
int tw_share_maps(const struct bpf_object *from, struct bpf_object *to);

/* The load-time settings every object built on bpf/lib/io.h takes (rodata):
 * who is selected, sampling, whether ids go below the payload. */
#define TW_CAPTURE_RODATA(rd, cfg)                                                             \
	do {                                                                                   \
		(rd)->self_tgid = getpid();                                                    \
		(rd)->sample_threshold = tw_sample_threshold((cfg)->sample_ratio);             \
		(rd)->select_all = !(cfg)->n_pids && !(cfg)->n_cgroups && !(cfg)->n_comms &&   \
				   (cfg)->pod_mode == TW_PODS_OFF;                             \
		(rd)->select_by_pid = (cfg)->n_pids > 0;                                       \
		(rd)->select_by_cgroup = (cfg)->n_cgroups > 0 || (cfg)->pod_mode != TW_PODS_OFF; \
		(rd)->cgroup_levels |= (cfg)->pod_levels;                                      \
		(rd)->select_by_comm = (cfg)->n_comms > 0;                                     \
		(rd)->wire_on = ((cfg)->propagation & (TW_PROP_TCP | TW_PROP_IP)) != 0;        \
		TW_BUDGET_RODATA(rd);                                                          \
		for (size_t i_ = 0; i_ < (cfg)->n_cgroups; i_++)                               \
			if ((cfg)->cgroups[i_].level < 32)                                     \
				(rd)->cgroup_levels |= 1u << (cfg)->cgroups[i_].level;         \
	} while (0)
/* fd of one of capture's maps (the other features' objects share them), or -ENOENT. */
int tw_capture_map_fd(const struct tw_capture *c, const char *name);
/* Sums a per-CPU array of n u64 counters into out[0..n). */
struct bpf_map;
int tw_percpu_counters(const struct bpf_map *map, uint32_t n, uint64_t *out);
void tw_capture_stop(struct tw_capture *c);

#endif
