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
 * process whose request line is the same as that of exactly one server
 * request in flight is that request's child. Two or more in flight with the
 * same line (GET / from many clients) are ambiguous: the rule says nothing
 * and the connect and thread rules decide, as before.
 *
 *   line_ctx    (tgid, line length, line hash) -> the latest SERVER span with
 *               that line and how many such requests are in flight
 *   server_line server socket -> its request's key in line_ctx, so that the
 *               response (or a close) takes the request out
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

struct tw_line_val {
	__u8 trace_id[16];
	__u8 span_id[8]; /* the latest SERVER span in flight with this line */
	__u64 server_sk;
	__s32 n;         /* server requests in flight with this line */
	__u8 flags;      /* W3C trace-flags */
	__u8 stale;      /* the request whose ids these are has ended (n > 0 left) */
	__u8 pad[2];
};

#define TW_LINE_MAX_ENTRIES 8192

struct {
	/* LRU: a request whose end was never seen must not leak its slot */
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TW_LINE_MAX_ENTRIES);
	__type(key, struct tw_line_key);
	__type(value, struct tw_line_val);
} line_ctx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TW_LINE_MAX_ENTRIES);
	__type(key, __u64); /* struct sock address of the server connection */
	__type(value, struct tw_line_key);
} server_line SEC(".maps");

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
	if (reqline_end <= TW_LINE_VERSION_LEN + 2 || reqline_end > 4096)
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

/* Server socket sk's request (if it is in line_ctx) has ended. */
static __always_inline void tw_line_end(__u64 sk)
{
	struct tw_line_key *lk = bpf_map_lookup_elem(&server_line, &sk);
	struct tw_line_val *v;

	if (!lk)
		return;
	v = bpf_map_lookup_elem(&line_ctx, lk);
	if (v) {
		/* an atomic add without fetch (BPF v1 has no other): the
		 * read after it may see another CPU's change too, which
		 * errs towards ambiguity, never towards a wrong parent */
		__sync_fetch_and_add(&v->n, -1);
		if (v->n <= 0)
			bpf_map_delete_elem(&line_ctx, lk);
		else if (v->server_sk == sk)
			v->stale = 1;
	}
	bpf_map_delete_elem(&server_line, &sk);
}

/* A server request on sk with key lk (in a map value or scratch, not on the
 * stack) and ids ctx is in flight; lv: scratch for the new value. */
static __always_inline void tw_line_begin(__u64 sk, const struct tw_line_key *lk,
					  struct tw_line_val *lv, const struct tw_trace_ctx *ctx)
{
	struct tw_line_val *v;

	tw_line_end(sk); /* an earlier request on sk whose end was not seen */
	if (!lk->len)
		return;
	__builtin_memcpy(lv->trace_id, ctx->trace_id, 16);
	__builtin_memcpy(lv->span_id, ctx->span_id, 8);
	lv->server_sk = sk;
	lv->n = 1;
	lv->flags = ctx->flags;
	lv->stale = 0;
	if (bpf_map_update_elem(&line_ctx, lk, lv, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(&line_ctx, lk);
		if (!v)
			return;
		__sync_fetch_and_add(&v->n, 1);
		__builtin_memcpy(v->trace_id, ctx->trace_id, 16);
		__builtin_memcpy(v->span_id, ctx->span_id, 8);
		v->server_sk = sk;
		v->flags = ctx->flags;
		v->stale = 0;
	}
	bpf_map_update_elem(&server_line, &sk, lk, BPF_ANY);
}

/* The parent of a client request of this process with key lk: the one
 * server request in flight with the same line. */
static __always_inline bool tw_line_parent(const struct tw_line_key *lk, struct tw_trace_ctx *ctx)
{
	struct tw_line_val *v;

	if (!lk || !lk->len)
		return false;
	v = bpf_map_lookup_elem(&line_ctx, lk);
	if (!v || v->n != 1 || v->stale)
		return false;
	__builtin_memcpy(ctx->trace_id, v->trace_id, 16);
	__builtin_memcpy(ctx->parent_span_id, v->span_id, 8);
	ctx->flags = v->flags;
	ctx->source = TW_PSRC_REQUEST_LINE;
	return true;
}

#endif
