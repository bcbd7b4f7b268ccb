// SPDX-License-Identifier: BSD-2-Clause
/*
 * The memory budget (budget.h). limit is split in shares, each share
 * divided by what one entry of its table costs at most:
 *
 *   base       24 MiB: the process itself (code, libraries, libbpf's BTF
 *              while loading, OTLP worker, stacks), measured at start
 *   BPF other  maps not bounded here (adopt's, the selection maps,
 *              per-CPU scratch, counters) at their compiled sizes: 4 MiB
 *   Go + TLS   12% of what is left after those: the Go probes' maps
 *              (go_ctx, go_sock_ctx, go_pc, go_writer, go_spawn, go_pids,
 *              go_tls_reads) and TLS capture's ssl_socks, 22 MiB at their
 *              compiled sizes (preallocated LRU/hash maps, charged to the
 *              cgroup whether or not a Go process or libssl is ever seen);
 *              scaled down together when the share is smaller
 *   of the rest:
 *     30%  BPF maps bounded here and the ring buffer (kernel memory is
 *          charged to tracewire's cgroup too)
 *     25%  correlator connections: struct conn and one head buffer (a
 *          connection in the middle of a request head; idle ones cost
 *          less, tw_correlator_conn_bytes)
 *     15%  queued requests (pending spans), shared by all connections
 *     12%  trace assembly (spans waiting for their trace window, and the
 *          emitted traces' memory kept for reuse: a quarter more spans,
 *          correlator/traces.c)
 *     12%  OTLP export queue
 *      1%  Go binaries cache (one analysis each)
 *      1%  Kubernetes pod metadata cache (injector/k8s_pods.c)
 *      2%  HTTP/2 header (HPACK) tables (correlator/http2_hpack.c)
 *      2%  slack (allocator fragmentation, buckets, scratch)
 *
 * Compiled sizes are the ceilings: a big limit never grows a table past
 * what the BPF programs and the defaults were built and tested with.
 */
#include "budget.h"

#include <bpf/libbpf.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "correlator.h"
#include "goplan.h"
#include "otlp_batch.h"
#include "span.h"
#include "tracewire_event.h"
#include "tracewire_wire.h"
#include "tw_tracecontext.h"

#define MIB (1ull << 20)
#define BASE_BYTES (24 * MIB)
#define BPF_OTHER_BYTES (4 * MIB)
/* share of limit - base for the Go and TLS maps, percent */
#define GO_TLS_SHARE 12
/* per element of a preallocated (LRU) hash map beyond key and value:
 * struct htab_elem with its LRU node, rounded up */
#define HTAB_ELEM_OVERHEAD 64
#define MALLOC_OVERHEAD 16

/* compiled max_entries (bpf/lib/maps.h, server_head.h, sockops.bpf.c) */
#define CEIL_CONNS 65536
#define CEIL_THREAD 16384
#define CEIL_SRV_PENDING 4096
#define CEIL_TRACESTATE 4096
#define CEIL_WIRE 65536
#define CEIL_SOCKHASH 65536
#define CEIL_RINGBUF (8u << 20)
#define CEIL_TRACE_SPANS (1u << 16)
#define CEIL_GO_BINARIES 256
#define CEIL_K8S_PODS 16384
/* bpf/goprobes.bpf.c, bpf/lib/tls.h */
#define CEIL_GO_CTX 65536
#define CEIL_GO_SOCK_CTX 16384
#define CEIL_GO_PC 16384
#define CEIL_GO_WRITER 16384
#define CEIL_GO_SPAWN 4096
#define CEIL_GO_PIDS 4096
#define CEIL_GO_TLS_READS 65536
#define CEIL_GO_GRPC_HF 4096    /* gRPC streams queued, not yet given an id */
#define CEIL_GO_H2_STREAMS 4096 /* gRPC streams given an id, HEADERS not yet sent */
#define CEIL_SSL_SOCKS 16384
/* bpf/lib/reqline.h */
#define CEIL_LINE_CTX 1024
#define CEIL_SERVER_LINE 8192
#define MIN_RINGBUF (256u << 10)
#define MAX_RINGBUF_WAKEUP (1u << 20)

/* user-space values of the BPF maps (their BPF-side definitions) */
#define THREAD_CTX_VALUE 40   /* struct tw_thread_ctx */
#define FWD_SLOT 48           /* struct tw_fwd_slot: forwarded_ctx is an array */
#define SRV_PENDING_VALUE 128 /* struct tw_srv_pending: scan state + traceparent */
#define LINE_KEY 16           /* struct tw_line_key */
#define LINE_REF 24           /* struct tw_line_ref: a key, its slot, in flight */
#define LINE_VALUE 1544       /* struct tw_line_val: 32 slots of 48 bytes, a count */
#define GO_KEY 16             /* struct tw_go_key */
#define GO_H2_KEY 16          /* struct tw_go_h2_key */
#define GO_WRITER_VALUE 8     /* struct tw_go_writer */
#define GO_TLS_READ_VALUE 32  /* struct tw_go_tls_read */
#define SSL_KEY 16            /* struct tw_tls_key */
#define SSL_VALUE 24          /* struct tw_tls_sock */
/* a pod in the metadata cache: struct tw_k8s_pod (k8s_pods.h, ~2.7 KiB),
 * without including the Kubernetes client's headers here */
#define K8S_POD_BYTES 3072

static struct tw_budget current;
static bool current_set;

static uint64_t r8(uint64_t n)
{
	return (n + 7) & ~7ull;
}

static uint64_t hash_elem(uint64_t key, uint64_t value)
{
	return r8(key) + r8(value) + HTAB_ELEM_OVERHEAD;
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

int tw_budget_parse(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* "0::/path" of /proc/self/cgroup (cgroup v2's line) */
static int own_cgroup(const char *proc_root, char *path, size_t size)
{
	char file[256], line[4096];
	FILE *f;
	int err = -ENOENT;

	snprintf(file, sizeof(file), "%s/self/cgroup", proc_root);
	f = fopen(file, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (strlen(line + 3) >= size)
			break;
		memcpy(path, line + 3, strlen(line + 3) + 1);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

static int read_max(const char *file, uint64_t *out)
{
	char buf[64];
	FILE *f = fopen(file, "re");
	int ok;

	if (!f)
		return -errno;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	if (!strncmp(buf, "max", 3))
		return -ENOENT;
	*out = strtoull(buf, NULL, 10);
	return *out ? 0 : -EINVAL;
}

uint64_t tw_budget_default_limit(const char *proc_root, const char *cg_root,
				 char *source, size_t source_size)
{
	static const char *const mounts[] = { "", "/unified" };
	char cg[2048], file[2600];
	uint64_t max;

	if (!own_cgroup(proc_root, cg, sizeof(cg))) {
		/* the nearest limit from tracewire's cgroup up */
		for (;;) {
			for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
				snprintf(file, sizeof(file), "%s%s%s/memory.max", cg_root, mounts[i],
					 strcmp(cg, "/") ? cg : "");
				if (!read_max(file, &max)) {
					snprintf(source, source_size, "80%% of %s", file);
					return max / 5 * 4;
				}
			}
			char *slash = strrchr(cg, '/');

			if (!slash || slash == cg)
				break;
			*slash = '\0';
		}
	}
	snprintf(source, source_size, "no cgroup memory.max: default");
	return TW_BUDGET_DEFAULT;
}

static uint32_t pow2_floor(uint64_t v)
{
	uint32_t p = 1;

	while ((uint64_t)p * 2 <= v && p < (1u << 30))
		p *= 2;
	return p;
}

/* The Go and TLS maps from share bytes: each at its compiled size when the
 * share holds them all, else all scaled by the same factor (at least 256
 * entries each: a handful of Go processes and TLS connections must still
 * work). Returns the bytes they take (b->go_tls_bytes). */
static uint64_t derive_go_tls(struct tw_budget *b, uint64_t share)
{
	const struct {
		uint32_t *n;
		uint32_t ceil;
		uint64_t elem;
	} maps[] = {
		{ &b->map_go_ctx, CEIL_GO_CTX, hash_elem(GO_KEY, THREAD_CTX_VALUE) },
		{ &b->map_go_sock_ctx, CEIL_GO_SOCK_CTX, hash_elem(GO_KEY, THREAD_CTX_VALUE) },
		{ &b->map_go_pc, CEIL_GO_PC, hash_elem(GO_KEY, THREAD_CTX_VALUE) },
		{ &b->map_go_writer, CEIL_GO_WRITER, hash_elem(GO_KEY, GO_WRITER_VALUE) },
		{ &b->map_go_spawn, CEIL_GO_SPAWN, hash_elem(4, 8) },
		{ &b->map_go_pids, CEIL_GO_PIDS, hash_elem(4, 1) },
		{ &b->map_go_tls_reads, CEIL_GO_TLS_READS, hash_elem(GO_KEY, GO_TLS_READ_VALUE) },
		{ &b->map_ssl_socks, CEIL_SSL_SOCKS, hash_elem(SSL_KEY, SSL_VALUE) },
		{ &b->map_go_grpc_hf, CEIL_GO_GRPC_HF, hash_elem(GO_KEY, THREAD_CTX_VALUE) },
		{ &b->map_go_h2_streams, CEIL_GO_H2_STREAMS, hash_elem(GO_H2_KEY, THREAD_CTX_VALUE) },
	};
	uint64_t full = 0, used = 0;

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		full += maps[i].ceil * maps[i].elem;
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		uint64_t n = share >= full ? maps[i].ceil : maps[i].ceil * share / full;

		*maps[i].n = (uint32_t)clamp_u64(n, 256, maps[i].ceil);
		used += *maps[i].n * maps[i].elem;
	}
	b->go_tls_bytes = used;
	return used;
}

int tw_budget_derive(uint64_t limit, struct tw_budget *b)
{
	uint64_t rest, bpf, per_sock, per_thread, ring, n;
	uint64_t conn_cost = tw_correlator_conn_bytes(true);
	uint64_t pending_cost = tw_correlator_pending_bytes();
	uint64_t span_cost = sizeof(struct tw_span) + MALLOC_OVERHEAD + 16;
	uint64_t item_cost = sizeof(struct tw_otlp_item);
	uint64_t go_cost = sizeof(struct tw_goplan) + 256;

	if (limit < TW_BUDGET_MIN)
		return -EINVAL;
	b->limit = limit;
	b->base_bytes = BASE_BYTES + BPF_OTHER_BYTES;
	rest = limit - b->base_bytes;
	rest -= derive_go_tls(b, rest / 100 * GO_TLS_SHARE);

	/* BPF: a socket costs conns, wire_out, wire_in and a sockhash slot; a
	 * thread thread_ctx, connect_ctx and forwarded_ctx */
	bpf = rest / 100 * 30;
	ring = clamp_u64(pow2_floor(bpf / 5), MIN_RINGBUF, CEIL_RINGBUF);
	b->ringbuf = (uint32_t)ring;
	/* A wakeup costs both sides (an inter-processor interrupt sent from
	 * bpf_ringbuf_submit, a context switch of the reader): at 64 KiB the
	 * reader woke ~1,000 times a second under wrk -> nginx, and a mark of
	 * 1 MiB took 20-30% off tracewire's CPU per request and ~8% off the
	 * BPF programs' (bench/results/breakdown.md, round 4). An eighth of
	 * the ring leaves seven eighths for what arrives while the reader
	 * drains; the 20 ms tick drains whatever never reaches the mark. */
	b->ringbuf_wakeup = (uint32_t)(ring / 8 < MAX_RINGBUF_WAKEUP ? ring / 8 : MAX_RINGBUF_WAKEUP);
	per_sock = hash_elem(8, sizeof(struct tw_conn_state)) +
		   hash_elem(sizeof(struct tw_tuple), sizeof(struct tw_wire_out)) +
		   hash_elem(sizeof(struct tw_tuple), sizeof(struct tw_wire_in)) +
		   hash_elem(8, 8);
	/* ... and a request line in flight (line_ctx) for 16 threads, a
	 * server connection's line (server_line) for 2 */
	per_thread = hash_elem(4, THREAD_CTX_VALUE) + hash_elem(8, THREAD_CTX_VALUE) +
		     FWD_SLOT +
		     hash_elem(8, 8 + TW_TRACESTATE_MAX) / 4 +
		     hash_elem(8, SRV_PENDING_VALUE) / 4 +
		     hash_elem(LINE_KEY, LINE_VALUE) / 16 + hash_elem(8, LINE_REF) / 2;
	n = (bpf - ring) / 4 * 3 / per_sock;
	b->map_conns = (uint32_t)clamp_u64(n, 1024, CEIL_CONNS);
	b->map_wire = (uint32_t)clamp_u64(n, 1024, CEIL_WIRE);
	b->map_sockhash = (uint32_t)clamp_u64(n, 1024, CEIL_SOCKHASH);
	n = (bpf - ring) / 4 / per_thread;
	b->map_thread_ctx = (uint32_t)clamp_u64(n, 1024, CEIL_THREAD);
	b->map_connect_ctx = b->map_thread_ctx;
	/* direct-mapped (bpf/lib/maps.h): a power of two, its mask in rodata */
	b->map_forwarded_ctx = pow2_floor(b->map_thread_ctx);
	b->map_span_tracestate = (uint32_t)clamp_u64(n / 4, 256, CEIL_TRACESTATE);
	b->map_server_pending = (uint32_t)clamp_u64(n / 4, 256, CEIL_SRV_PENDING);
	b->map_line_ctx = (uint32_t)clamp_u64(n / 16, 128, CEIL_LINE_CTX);
	b->map_server_line = (uint32_t)clamp_u64(n / 2, 1024, CEIL_SERVER_LINE);
	b->bpf_bytes = b->go_tls_bytes + ring + (uint64_t)b->map_conns * hash_elem(8, sizeof(struct tw_conn_state)) +
		       (uint64_t)b->map_wire * (hash_elem(sizeof(struct tw_tuple),
							  sizeof(struct tw_wire_out)) +
						hash_elem(sizeof(struct tw_tuple),
							  sizeof(struct tw_wire_in))) +
		       (uint64_t)b->map_sockhash * hash_elem(8, 8) +
		       (uint64_t)b->map_thread_ctx * (hash_elem(4, THREAD_CTX_VALUE) +
						      hash_elem(8, THREAD_CTX_VALUE)) +
		       (uint64_t)b->map_forwarded_ctx * FWD_SLOT +
		       (uint64_t)b->map_span_tracestate * hash_elem(8, 8 + TW_TRACESTATE_MAX) +
		       (uint64_t)b->map_server_pending * hash_elem(8, SRV_PENDING_VALUE) +
		       (uint64_t)b->map_line_ctx * hash_elem(LINE_KEY, LINE_VALUE) +
		       (uint64_t)b->map_server_line * hash_elem(8, LINE_REF);

	/* user space */
	b->max_conns = clamp_u64(rest / 100 * 25 / conn_cost, 256, 1u << 20);
	b->max_pending_total = clamp_u64(rest / 100 * 15 / pending_cost, 64, 1u << 22);
	b->max_pending = b->max_pending_total < 64 ? b->max_pending_total : 64;
	b->trace_spans = clamp_u64(rest / 100 * 12 * 4 / 5 / span_cost, 256, CEIL_TRACE_SPANS);
	b->export_queue = clamp_u64(rest / 100 * 12 / item_cost, 64, 1u << 20);
	b->go_binaries = clamp_u64(rest / 100 / go_cost, 4, CEIL_GO_BINARIES);
	b->k8s_pods = clamp_u64(rest / 100 / K8S_POD_BYTES, 64, CEIL_K8S_PODS);
	b->h2_hpack_bytes = rest / 100 * 2;
	b->user_bytes = b->max_conns * conn_cost + b->max_pending_total * pending_cost +
			b->trace_spans * span_cost * 5 / 4 + b->export_queue * item_cost +
			b->go_binaries * go_cost + b->k8s_pods * K8S_POD_BYTES + b->h2_hpack_bytes;
	return 0;
}

void tw_budget_describe(const struct tw_budget *b, char *buf, size_t size)
{
	snprintf(buf, size,
		 "memory budget %.1f MiB (%s): conns=%llu pending=%llu/conn %llu total "
		 "trace_spans=%llu export_queue=%llu | bpf maps: conns=%u "
		 "thread_ctx=%u connect_ctx=%u forwarded_ctx=%u server_pending=%u "
		 "span_tracestate=%u line_ctx=%u server_line=%u wire_in/out=%u sockhash=%u "
		 "ringbuf=%u KiB (wakeup every %u KiB) go_ctx=%u "
		 "go_tls_reads=%u ssl_socks=%u k8s_pods=%llu | estimate MiB: "
		 "base %.1f, user %.1f, bpf %.1f",
		 b->limit / (double)MIB, b->source, (unsigned long long)b->max_conns,
		 (unsigned long long)b->max_pending, (unsigned long long)b->max_pending_total,
		 (unsigned long long)b->trace_spans, (unsigned long long)b->export_queue,
		 b->map_conns, b->map_thread_ctx,
		 b->map_connect_ctx, b->map_forwarded_ctx, b->map_server_pending,
		 b->map_span_tracestate, b->map_line_ctx, b->map_server_line, b->map_wire,
		 b->map_sockhash, b->ringbuf >> 10, b->ringbuf_wakeup >> 10,
		 b->map_go_ctx, b->map_go_tls_reads, b->map_ssl_socks,
		 (unsigned long long)b->k8s_pods,
		 b->base_bytes / (double)MIB, b->user_bytes / (double)MIB,
		 b->bpf_bytes / (double)MIB);
}

void tw_budget_set(const struct tw_budget *b)
{
	current = *b;
	current_set = true;
}

const struct tw_budget *tw_budget_get(void)
{
	return current_set ? &current : NULL;
}

uint32_t tw_budget_fwd_mask(uint32_t compiled)
{
	const struct tw_budget *b = tw_budget_get();

	return b && b->map_forwarded_ctx ? b->map_forwarded_ctx - 1 : compiled;
}

uint64_t tw_budget_wakeup_bytes(uint64_t compiled)
{
	const struct tw_budget *b = tw_budget_get();

	return b && b->ringbuf_wakeup ? b->ringbuf_wakeup : compiled;
}

uint32_t tw_budget_map_bound(const struct tw_budget *b, const char *name)
{
	const struct {
		const char *name;
		uint32_t n;
	} bounds[] = {
		{ "conns", b->map_conns },
		{ "thread_ctx", b->map_thread_ctx },
		{ "connect_ctx", b->map_connect_ctx },
		{ "forwarded_ctx", b->map_forwarded_ctx },
		{ "server_pending", b->map_server_pending },
		{ "span_tracestate", b->map_span_tracestate },
		{ "line_ctx", b->map_line_ctx },
		{ "server_line", b->map_server_line },
		{ "wire_out", b->map_wire },
		{ "wire_in", b->map_wire },
		{ "client_socks", b->map_sockhash },
		{ "events", b->ringbuf },
		{ "go_ctx", b->map_go_ctx },
		{ "go_sock_ctx", b->map_go_sock_ctx },
		{ "go_pc", b->map_go_pc },
		{ "go_writer", b->map_go_writer },
		{ "go_spawn", b->map_go_spawn },
		{ "go_pids", b->map_go_pids },
		{ "go_tls_reads", b->map_go_tls_reads },
		{ "ssl_socks", b->map_ssl_socks },
		{ "go_grpc_hf", b->map_go_grpc_hf },
		{ "go_h2_streams", b->map_go_h2_streams },
	};

	for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++)
		if (!strcmp(name, bounds[i].name))
			return bounds[i].n;
	return 0;
}

void tw_budget_apply_maps(struct bpf_object *obj)
{
	const struct tw_budget *b = tw_budget_get();
	struct bpf_map *map;

	if (!b)
		return;
	bpf_object__for_each_map(map, obj) {
		uint32_t n;

		if (bpf_map__fd(map) >= 0) /* reused: sized by its owner */
			continue;
		n = tw_budget_map_bound(b, bpf_map__name(map));
		if (n)
			bpf_map__set_max_entries(map, n);
	}
}
