/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The request_line rule: a proxy forwards the request line it received.
 *
 * An event loop (haproxy, nginx, node) reads many server requests on one
 * thread before it writes the client requests made for them, so "the server
 * request the thread handles" (thread) and "the one it handled at connect()"
 * (connect) can name another request. What the client request carries is
 * exact: a proxy passes the request's method and target on unchanged. So
 * every server request in flight (its head read, its response not yet
 * written) is kept under its process and request line (method SP target, the
 * version left out: a proxy may speak another); a client request of that
 * process with the same request line is the child of one of them: the only
 * one, or, when several are in flight with that line (GET / from many
 * clients), the oldest that no client request has taken yet among those the
 * sending thread read (a thread-per-request server: its own; an event loop:
 * it forwards requests in the order it read them, each once), else among
 * all (a request handed to another thread). Up to
 * TW_LINE_SLOTS requests with one line are kept; more are counted and never
 * chosen, and when every one kept has been taken the rule says nothing
 * (unless only one is in flight: a second call for the same request), so
 * the connect and thread rules decide, as before.
 *
 *   line_ctx    (tgid, line length, line hash) -> the SERVER spans in flight
 *               with that line (slots) and how many there are
 *   server_line server socket -> its (last) request's key in line_ctx and
 *               slot, so that the response (or a close) takes the request
 *               out without a scan, and a keep-alive connection's next
 *               request with the same line updates no map
 */
#ifndef TW_BPF_REQLINE_H
#define TW_BPF_REQLINE_H

#include "compat.h"
#include "tracewire_event.h"

struct tw_line_key {
	__u32 tgid;
	__u32 len;  /* bytes of method SP target */
	__u64 hash; /* of their first TW_LINE_HASH_WORDS * 8 */
};

/* One server request in flight with the line. */
struct tw_line_slot {
	__u8 trace_id[16];
	__u8 span_id[8]; /* its SERVER span */
	__u64 server_sk; /* 0: a free slot */
	__u64 since;     /* when its ids were chosen (bpf_ktime_get_ns) */
	__u32 tid;       /* the thread that read it */
	__u8 flags;      /* W3C trace-flags */
	__u8 claimed;    /* a client request of the process took it as parent */
	__u8 pad[2];
};

#define TW_LINE_SLOTS 32

/* bench/results/breakdown.md: the rule's cost measured apart, built with
 * CLANG="clang -DTW_BENCH_NO_LINE_RULE" */
#ifdef TW_BENCH_NO_LINE_RULE
#define TW_LINE_RULE_OFF 1
#else
#define TW_LINE_RULE_OFF 0
#endif

struct tw_line_val {
	struct tw_line_slot s[TW_LINE_SLOTS];
	__s32 n;         /* server requests in flight with this line (slots or not) */
	__u32 pad;
};

#define TW_LINE_MAX_ENTRIES 1024 /* lines in flight; server_line: 8x */

struct {
	/* LRU: a request whose end was never seen must not leak its slot */
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TW_LINE_MAX_ENTRIES);
	__type(key, struct tw_line_key);
	__type(value, struct tw_line_val);
} line_ctx SEC(".maps");

/* A server connection's last request line, and whether that request is
 * still in flight (then in slot `slot` of its line, TW_LINE_SLOTS: none). */
struct tw_line_ref {
	struct tw_line_key k;
	__u32 slot;
	__u32 live;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8 * TW_LINE_MAX_ENTRIES);
	__type(key, __u64); /* struct sock address of the server connection */
	__type(value, struct tw_line_ref);
} server_line SEC(".maps");

/* server_line's value for a new connection, built off the stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_line_ref);
} line_ref_scratch SEC(".maps");

/* A new line's first value: all zero (too large to build on the stack or
 * to memset). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_line_val);
} line_zero SEC(".maps");

/* " HTTP/1.x\r\n": what follows the target in a line the gate passed */
#define TW_LINE_VERSION_LEN 11
#define TW_LINE_HASH_WORDS 32

/*
 * The key of the request line at buf[0, reqline_end) (reqline_end: the
 * scanner's index just past its CRLF; buf holds at least
 * TW_LINE_HASH_WORDS * 8 bytes). k->len 0: no key (no whole line).
 */
static __always_inline void tw_line_key_of(struct tw_line_key *k, const __u8 *buf,
					   __u32 reqline_end)
{
	__u64 h = 0xcbf29ce484222325ULL;
	__u32 len;

	k->len = 0;
	k->hash = 0;
	k->tgid = bpf_get_current_pid_tgid() >> 32;
	if (TW_LINE_RULE_OFF || reqline_end <= TW_LINE_VERSION_LEN + 2 || reqline_end > 4096)
		return;
	len = reqline_end - TW_LINE_VERSION_LEN;
	for (int i = 0; i < TW_LINE_HASH_WORDS; i++) {
		__u32 at = i * 8;
		__u64 w;

		if (at >= len)
			break;
		__builtin_memcpy(&w, buf + at, 8);
		if (len - at < 8)
			w &= ~0ULL >> (64 - 8 * (len - at));
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	k->len = len;
	k->hash = h;
}

/*
 * Server socket sk's request (if one is in line_ctx) has ended. Its
 * server_line entry stays for the connection's next request, which on a
 * keep-alive connection most often has the same line: then tw_line_begin
 * updates no map. Nor is a line's line_ctx entry deleted when its last
 * request ends: the next request with the line would insert (and zero) its
 * 1.5 KiB value again; the LRU takes back lines no longer used.
 */
static __always_inline void tw_line_ref_end(struct tw_line_ref *r, __u64 sk)
{
	struct tw_line_val *v;
	__u32 i = r->slot;

	r->live = 0;
	v = bpf_map_lookup_elem(&line_ctx, &r->k);
	if (!v)
		return;
	if (i < TW_LINE_SLOTS) {
		/* not its slot: the line was evicted and inserted again since,
		 * and this value never counted the request */
		if (v->s[i & (TW_LINE_SLOTS - 1)].server_sk != sk)
			return;
		v->s[i & (TW_LINE_SLOTS - 1)].server_sk = 0;
	}
	/* an atomic add without fetch (BPF v1 has no other) */
	if (v->n > 0)
		__sync_fetch_and_add(&v->n, -1);
}

static __always_inline void tw_line_end(__u64 sk)
{
	struct tw_line_ref *r;

	if (TW_LINE_RULE_OFF)
		return;
	r = bpf_map_lookup_elem(&server_line, &sk);
	if (r && r->live)
		tw_line_ref_end(r, sk);
}

/* Server socket sk is closed: its request ends, and its entry goes. */
static __always_inline void tw_line_close(__u64 sk)
{
	if (TW_LINE_RULE_OFF)
		return;
	tw_line_end(sk);
	bpf_map_delete_elem(&server_line, &sk);
}

/* A server request on sk with key lk (in a map value or scratch, not on the
 * stack) and ids ctx, read at now (bpf_ktime_get_ns), is in flight. */
static __always_inline void tw_line_begin(__u64 sk, const struct tw_line_key *lk,
					  const struct tw_trace_ctx *ctx, __u64 now)
{
	struct tw_line_val *v, *zero_v;
	struct tw_line_ref *r, *nr;
	__u32 zero = 0, slot = TW_LINE_SLOTS;

	if (TW_LINE_RULE_OFF)
		return;
	r = bpf_map_lookup_elem(&server_line, &sk);
	if (r && r->live)
		tw_line_ref_end(r, sk); /* an earlier request on sk whose end was not seen */
	if (!lk->len)
		return;
	v = bpf_map_lookup_elem(&line_ctx, lk);
	if (!v) {
		zero_v = bpf_map_lookup_elem(&line_zero, &zero);
		if (!zero_v)
			return;
		bpf_map_update_elem(&line_ctx, lk, zero_v, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&line_ctx, lk);
		if (!v)
			return;
	}
	__sync_fetch_and_add(&v->n, 1);
#pragma clang loop unroll(disable)
	for (int i = 0; i < TW_LINE_SLOTS; i++) {
		struct tw_line_slot *sl = &v->s[i];

		if (sl->server_sk)
			continue;
		/* the ids first, the socket last: another CPU looking for a
		 * parent takes only slots with a socket */
		__builtin_memcpy(sl->trace_id, ctx->trace_id, 16);
		__builtin_memcpy(sl->span_id, ctx->span_id, 8);
		sl->since = now;
		sl->tid = (__u32)bpf_get_current_pid_tgid();
		sl->flags = ctx->flags;
		sl->claimed = 0;
		asm volatile("" ::: "memory");
		sl->server_sk = sk;
		slot = i;
		break;
	}
	/* no free slot: counted in n, never a parent (the rule keeps to the
	 * slots it has) */
	if (r) {
		/* the socket's entry, rewritten in place: no LRU update */
		r->k = *lk;
		r->slot = slot;
		r->live = 1;
		return;
	}
	nr = bpf_map_lookup_elem(&line_ref_scratch, &zero);
	if (!nr)
		return;
	nr->k = *lk;
	nr->slot = slot;
	nr->live = 1;
	bpf_map_update_elem(&server_line, &sk, nr, BPF_ANY);
}

/*
 * The parent of a client request of this process with key lk: among the
 * server requests in flight with the same line that no client request of
 * the process has taken yet, the oldest the sending thread read, else the
 * oldest; when every one is taken, the only one in flight (a second call
 * made for it), else nothing.
 */
static __always_inline bool tw_line_parent(const struct tw_line_key *lk, struct tw_trace_ctx *ctx)
{
	__u64 best_since = ~0ULL;
	struct tw_line_val *v;
	struct tw_line_slot *sl;
	int best = -1;

	if (TW_LINE_RULE_OFF || !lk || !lk->len)
		return false;
	v = bpf_map_lookup_elem(&line_ctx, lk);
	if (!v)
		return false;
	for (int i = 0; i < TW_LINE_SLOTS; i++) {
		sl = &v->s[i];
		if (sl->server_sk && !sl->claimed && sl->since < best_since) {
			best_since = sl->since;
			best = i;
		}
	}
	if (best < 0) {
		if (v->n != 1)
			return false;
		for (int i = 0; i < TW_LINE_SLOTS; i++) {
			if (v->s[i].server_sk) {
				best = i;
				break;
			}
		}
		if (best < 0)
			return false;
	}
	sl = &v->s[best & (TW_LINE_SLOTS - 1)];
	sl->claimed = 1;
	__builtin_memcpy(ctx->trace_id, sl->trace_id, 16);
	__builtin_memcpy(ctx->parent_span_id, sl->span_id, 8);
	ctx->flags = sl->flags;
	ctx->source = TW_PSRC_REQUEST_LINE;
	return true;
}

#endif
