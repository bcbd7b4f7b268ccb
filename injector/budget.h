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
	uint64_t h2_hpack_bytes;  /* HTTP/2 header tables, all connections (correlator/http2_hpack.c) */
	uint64_t k8s_pods;        /* pod metadata cache (injector/k8s_pods.c) */
	/* BPF maps (max_entries) */
	uint32_t map_conns, map_thread_ctx, map_connect_ctx, map_forwarded_ctx;
	uint32_t map_server_pending, map_span_tracestate, map_wire, map_sockhash;
	uint32_t map_line_ctx, map_server_line; /* bpf/lib/reqline.h */
	uint32_t ringbuf;         /* bytes, a power of two */
	uint32_t ringbuf_wakeup;  /* the reader is woken each time this many bytes queue */
	/* Go probes' maps (bpf/goprobes.bpf.c) and TLS capture's (bpf/lib/tls.h,
	 * created by capture): loaded on every node with Go or libssl */
	uint32_t map_go_ctx, map_go_sock_ctx, map_go_pc, map_go_writer;
	uint32_t map_go_spawn, map_go_pids, map_go_tls_reads, map_ssl_socks;
	uint32_t map_go_grpc_hf, map_go_h2_streams; /* grpc-go probes (docs/go.md "gRPC") */
	/* estimates, bytes */
	uint64_t base_bytes, user_bytes, bpf_bytes;
	uint64_t go_tls_bytes;    /* of bpf_bytes: the Go and TLS maps */
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

/* The max_entries b gives the map called name; 0 when the budget does not
 * bound it (tw_budget_apply_maps leaves its compiled size). */
/* forwarded_ctx's slots - 1 for the BPF side's fwd_slots_mask (the budget's
 * size, a power of two), or compiled when no budget is set. */
uint32_t tw_budget_fwd_mask(uint32_t compiled);
/* The BPF side's wakeup_bytes: the budget's ringbuf_wakeup, or compiled. */
uint64_t tw_budget_wakeup_bytes(uint64_t compiled);
/* What the budget sets in the rodata of every object built on bpf/lib/maps.h. */
#define TW_BUDGET_RODATA(rd)                                                     \
	do {                                                                     \
		(rd)->fwd_slots_mask = tw_budget_fwd_mask((rd)->fwd_slots_mask); \
		(rd)->wakeup_bytes = tw_budget_wakeup_bytes((rd)->wakeup_bytes); \
	} while (0)
uint32_t tw_budget_map_bound(const struct tw_budget *b, const char *name);


#endif
