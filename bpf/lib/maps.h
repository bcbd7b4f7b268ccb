/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps both kernel units use. capture.bpf.c owns them; the other objects
 * declares the same definitions and user space hands it capture's map fds
 * (bpf_map__reuse_fd) before load, so all objects share one instance.
 */
#ifndef TW_BPF_MAPS_H
#define TW_BPF_MAPS_H

#include "compat.h"
#include "tracewire_event.h"
#include "tracewire_wire.h"
#include "tw_tracecontext.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock address */
	__type(value, struct tw_conn_state);
} conns SEC(".maps");

/* A connection state being made, to insert into conns: here, not on the
 * stack, which the deepest call chains (Go's TLS probe -> tw_io_done) are
 * short of (it holds HTTP/2's frame places, tw_h2_frames). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_conn_state);
} conn_blank SEC(".maps");

/* A zeroed tw_conn_state in conn_blank, or NULL. */
static __always_inline struct tw_conn_state *tw_conn_blank(void)
{
	__u32 zero = 0;
	struct tw_conn_state *b = bpf_map_lookup_elem(&conn_blank, &zero);

	if (b)
		__builtin_memset(b, 0, sizeof(*b));
	return b;
}

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

/* Records are submitted without waking the reader until this much is queued;
 * the daemon drains on a short timer as well, so nothing waits for long. */
const volatile __u64 wakeup_bytes = 64 * 1024;

/*
 * The flags of a record of size bytes into events: a wakeup only when it
 * takes the queue across a multiple of wakeup_bytes. A wakeup is an
 * interrupt the CPU sends itself (an APIC register write: in a virtual
 * machine, an exit to the hypervisor); waking a reader that has not drained
 * yet for every record took 10% of all CPU under load (perf: native_write_msr
 * below bpf_ringbuf_output). Per multiple, not only at the first: two CPUs
 * racing past the mark cannot leave the reader asleep for more than the next
 * wakeup_bytes (nor than the daemon's 20 ms tick).
 */
static __always_inline __u64 tw_rb_flags(__u64 size)
{
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	if (avail / wakeup_bytes != (avail + size) / wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* The server request a thread is handling: from the read that began it to
 * the first write of its response on the same socket. */
struct tw_thread_ctx {
	__u8 trace_id[16];
	__u8 span_id[8];   /* the SERVER span: parent of the thread's client requests */
	__u64 server_sk;   /* struct sock address of the server connection */
	__u8 flags;        /* W3C trace-flags */
	__u8 go;           /* set by the Go probes (goprobes.bpf.c) for the thread
			    * writing a Go client request: exact, it wins over
			    * connect_ctx, parent source "goroutine" */
	__u8 live;         /* thread_ctx: 0 once the request ended (tw_thread_ctx_end) */
	__u8 pad;
	__u32 go_seq;      /* which Request.write set it (goprobes.bpf.c) */
};

struct {
	/* LRU: a thread that exits mid-request must not leak its slot. */
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct tw_thread_ctx);
} thread_ctx SEC(".maps");

/*
 * A thread's entry, once written, stays: its next request rewrites it in
 * place, and a request's end only clears `live`. An LRU insert at every
 * server request and a delete at its response cost about 300 ns a request
 * (prealloc_lru_pop, bench/results/breakdown.md); the LRU still takes back
 * the entries of threads that are gone. Every use of thread_ctx goes
 * through these three.
 */
static __always_inline struct tw_thread_ctx *tw_thread_ctx_get(__u32 tid)
{
	struct tw_thread_ctx *tc = bpf_map_lookup_elem(&thread_ctx, &tid);

	return tc && tc->live ? tc : NULL;
}

static __always_inline void tw_thread_ctx_end(__u32 tid)
{
	struct tw_thread_ctx *tc = bpf_map_lookup_elem(&thread_ctx, &tid);

	if (tc)
		tc->live = 0;
}

/* v (in a map value or scratch) becomes tid's context; v->live is set. */
static __always_inline void tw_thread_ctx_put(__u32 tid, struct tw_thread_ctx *v)
{
	struct tw_thread_ctx *tc = bpf_map_lookup_elem(&thread_ctx, &tid);

	v->live = 1;
	if (!tc) {
		bpf_map_update_elem(&thread_ctx, &tid, v, BPF_ANY);
		return;
	}
	/* only this thread's programs write its entry; `live` last, so a
	 * reader elsewhere (tw_go_connwrite_ret) never sees a half-written
	 * entry as live after an end */
	tc->live = 0;
	asm volatile("" ::: "memory");
	__builtin_memcpy(tc->trace_id, v->trace_id, 16);
	__builtin_memcpy(tc->span_id, v->span_id, 8);
	tc->server_sk = v->server_sk;
	tc->flags = v->flags;
	tc->go = v->go;
	tc->go_seq = v->go_seq;
	asm volatile("" ::: "memory");
	tc->live = 1;
}

/* The thread's server request when a client socket was connect()ed: the
 * parent of the first request on it. An event loop (nginx, node) reads more
 * requests between connect() and the first write, so the thread's context at
 * write time may belong to another request; at connect() it does not. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct sock address */
	__type(value, struct tw_thread_ctx);
} connect_ctx SEC(".maps");

/* A valid traceparent a server request of process tgid carried, so that a
 * proxy forwarding it unchanged can be recognised (and re-parented). */
struct tw_fwd_key {
	__u8 trace_id[16];
	__u8 parent_id[8];
};

/*
 * forwarded_ctx is direct-mapped: a slot per hash of the key, overwritten
 * by the next server request whose key lands there. An entry is needed only
 * while its request is in flight, and every server request with a header
 * writes one: in an LRU hash, full within a second under load, each write
 * evicted (about 1 us per request here, bench/results/breakdown.md); a slot
 * write costs a lookup and 48 bytes. A slot another request took in the
 * meantime is a miss (the header is then left as the application's). Two
 * CPUs writing one slot at once can mix their halves: `check`, written
 * last and tested by the reader, turns that into a miss too.
 */
struct tw_fwd_slot {
	struct tw_fwd_key k;
	__u8 span_id[8]; /* the SERVER span that received the header */
	__u32 tgid;
	__u32 check;     /* tw_fwd_check() of the fields above; 0: empty */
	__u64 pad;
};

#define TW_FWD_SLOTS_DEFAULT 16384 /* replaced by the memory budget's, a power of two */

/* slots - 1: the loader sets it with forwarded_ctx's size (budget.c) */
const volatile __u32 fwd_slots_mask = TW_FWD_SLOTS_DEFAULT - 1;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TW_FWD_SLOTS_DEFAULT);
	__type(key, __u32);
	__type(value, struct tw_fwd_slot);
} forwarded_ctx SEC(".maps");

static __always_inline __u64 tw_fwd_mix(__u64 h)
{
	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 31);
}

/* The slot of key k: trace and parent ids come from the network, so they
 * are mixed, not taken as they are. */
static __always_inline __u32 tw_fwd_index(const struct tw_fwd_key *k)
{
	__u64 w[3];

	__builtin_memcpy(w, k, sizeof(w));
	return (__u32)(tw_fwd_mix(tw_fwd_mix(w[0] ^ w[2]) ^ w[1]) >> 32) & fwd_slots_mask;
}

static __always_inline __u32 tw_fwd_check(const struct tw_fwd_slot *s)
{
	__u64 w[4];

	__builtin_memcpy(w, s, sizeof(w));
	return (__u32)tw_fwd_mix(tw_fwd_mix(w[0] ^ w[1]) ^ w[2] ^ w[3] ^ s->tgid) | 1;
}

/* Whether slot holds the key in fs->k for the current process: then its
 * span id is copied to fs. The check is read before and after the fields,
 * so a slot being rewritten meanwhile is a miss. */
static __always_inline bool tw_fwd_slot_matches(const struct tw_fwd_slot *slot, struct tw_fwd_slot *fs)
{
	__u32 check = slot->check;
	__u64 a[3], b[3];

	asm volatile("" ::: "memory");
	if (!check || slot->tgid != bpf_get_current_pid_tgid() >> 32)
		return false;
	__builtin_memcpy(a, &slot->k, sizeof(a));
	__builtin_memcpy(b, &fs->k, sizeof(b));
	if ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]))
		return false;
	__builtin_memcpy(fs->span_id, slot->span_id, 8);
	fs->tgid = slot->tgid;
	asm volatile("" ::: "memory");
	return slot->check == check && tw_fwd_check(fs) == check;
}

/* tracestate received with a server request (only when present), keyed by
 * that SERVER span's id: whichever rule finds the parent (thread, connect)
 * finds the tracestate that came with it. */
struct tw_tracestate {
	__u32 len;
	__u32 pad;
	__u8 value[TW_TRACESTATE_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* SERVER span id */
	__type(value, struct tw_tracestate);
} span_tracestate SEC(".maps");

/* Trace context carried in TCP and IPv4 options (include/tracewire_wire.h,
 * docs/wire-format.md), keyed by tw_tuple in tw_tuple_normalize()d form:
 * wire_out by the client socket's, written where a request's ids are
 * decided (sk_msg), read per segment by sock_ops and per packet by tc;
 * wire_in by the server socket's, written by sock_ops (TCP option) and tc
 * (IPv4 option), taken by the server span decision in capture. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tw_tuple);
	__type(value, struct tw_wire_out);
} wire_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tw_tuple);
	__type(value, struct tw_wire_in);
} wire_in SEC(".maps");

/* Load-time settings shared by both units. */
/* Root traces are sampled when bpf_get_prandom_u32() < sample_threshold
 * (ratio * 2^32: 2^32 samples all, 0 none). */
const volatile __u64 sample_threshold = 1ULL << 32;
/* Some carrier below the payload is on (--propagation tcp or ip): server
 * spans look for ids in wire_in, sk_msg records ids in wire_out. */
const volatile __u8 wire_on = 0;

#endif
