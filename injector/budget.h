/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The memory budget (--memory-limit): one place derives the bound of every
 * table tracewire holds, in user space and in BPF maps, from one number.
 */
#ifndef TW_BUDGET_H
#define TW_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_object;

#define TW_BUDGET_MIN (48ull << 20) /* below this tracewire cannot run */
#define TW_BUDGET_DEFAULT (200ull << 20) /* no cgroup limit */

struct tw_budget {
	uint64_t limit;           /* bytes */
	char source[160];         /* where limit came from */
	/* user space */
	uint64_t max_conns;       /* correlator connections */
	uint64_t max_pending;     /* queued requests per connection */
	uint64_t max_pending_total; /* queued requests over all connections */
	uint64_t trace_spans;     /* trace assembly */
	uint64_t export_queue;    /* OTLP queue (spans) */
	uint64_t go_binaries;     /* Go binaries cache (injector/goprobes.c) */
	/* BPF maps (max_entries) */
	uint32_t map_conns, map_thread_ctx, map_connect_ctx, map_forwarded_ctx;
	uint32_t map_server_pending, map_span_tracestate, map_wire, map_sockhash;
	uint32_t ringbuf;         /* bytes, a power of two */
	/* estimates, bytes */
	uint64_t base_bytes, user_bytes, bpf_bytes;
};

/* Parses "67108864", "64M", "64Mi", "512K", "1G" (powers of 1024): 0 or
 * -EINVAL. */
int tw_budget_parse(const char *s, uint64_t *out);

/* The default limit: 80% of memory.max of tracewire's own cgroup (v2, via
 * /proc/self/cgroup; cgroup2 at /sys/fs/cgroup or /sys/fs/cgroup/unified),
 * else TW_BUDGET_DEFAULT. source says which. proc_root/cg_root: "/proc",
 * "/sys/fs/cgroup" (tests pass others). */
uint64_t tw_budget_default_limit(const char *proc_root, const char *cg_root,
				 char *source, size_t source_size);

/* Every bound from limit (>= TW_BUDGET_MIN): 0 or -EINVAL. */
int tw_budget_derive(uint64_t limit, struct tw_budget *b);

/* One line naming every bound (for the start log). */
void tw_budget_describe(const struct tw_budget *b, char *buf, size_t size);

/* The budget in force (set once at start; NULL before: compiled sizes). */
void tw_budget_set(const struct tw_budget *b);
const struct tw_budget *tw_budget_get(void);

/* Before load: the maps of obj that the budget bounds get its max_entries
 * (maps whose fd is reused from another object are left as they are). */
void tw_budget_apply_maps(struct bpf_object *obj);


#endif
