/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The ids of a client request tracewire puts on the wire, chosen where the
 * request's bytes are seen before they leave: sk_msg for plaintext
 * (headers.bpf.c), the SSL_write uprobes for TLS (tls.bpf.c). One
 * rule for both, so a CLIENT span's parent does not depend on the carrier.
 */
#ifndef TW_BPF_CLIENTCTX_H
#define TW_BPF_CLIENTCTX_H

#include "compat.h"
#include "maps.h"
#include "tracectx.h"
#include "reqline.h"

/* The request-line rule's parent for the request being framed, written into
 * the ctx the caller passed (sk_msg: h1inject.h, a function verified on its
 * own); elsewhere the rule is not tried. */
#ifndef TW_LINE_TAKE
#define TW_LINE_TAKE(lk, ctx) false
#endif

/*
 * The ids of a new client request on socket sk (struct sock address) whose
 * first byte is at application stream offset stream_off: a CLIENT span whose
 * parent is the server request the Go probes found for the request being
 * written (goroutine), else the one server request of this process in flight
 * with the same request line (request_line, lk: the request's key, NULL when
 * its line is not known; reqline.h), else the one its thread handled at
 * connect() (first request on the socket), else the one the thread handles
 * now, else none (a new root). Fills ctx (kind left TW_CTX_NONE for the
 * caller). Returns true when there is such a parent (its tracestate travels
 * along).
 */
static __always_inline bool tw_choose_ctx(__u64 sk, struct tw_trace_ctx *ctx, __u64 stream_off,
					  const struct tw_line_key *lk)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tw_thread_ctx *tc = NULL, *cc = NULL;

	tc = tw_thread_ctx_get(tid);
	if (stream_off == 0) {
		cc = bpf_map_lookup_elem(&connect_ctx, &sk);
		/* A Go dial goroutine connect()s on whatever thread it runs on:
		 * what that thread held then says nothing about the request. */
		if (cc && tc && tc->go) {
			bpf_map_delete_elem(&connect_ctx, &sk);
			cc = NULL;
		}
	}
	__builtin_memset(ctx, 0, sizeof(*ctx));
	if (!(tc && tc->go) && lk && lk->len && TW_LINE_TAKE(lk, ctx)) {
		if (cc)
			bpf_map_delete_elem(&connect_ctx, &sk);
		tw_random_id(ctx->span_id, 8);
		return true;
	}
	if (cc) {
		__builtin_memcpy(ctx->trace_id, cc->trace_id, 16);
		__builtin_memcpy(ctx->parent_span_id, cc->span_id, 8);
		ctx->flags = cc->flags;
		ctx->source = TW_PSRC_CONNECT;
		bpf_map_delete_elem(&connect_ctx, &sk);
	} else if (tc) {
		__builtin_memcpy(ctx->trace_id, tc->trace_id, 16);
		__builtin_memcpy(ctx->parent_span_id, tc->span_id, 8);
		ctx->flags = tc->flags;
		ctx->source = tc->go ? TW_PSRC_GOROUTINE : TW_PSRC_THREAD;
	} else {
		tw_random_id(ctx->trace_id, 16);
		ctx->flags = tw_root_flags();
		ctx->source = TW_PSRC_NONE;
	}
	tw_random_id(ctx->span_id, 8);
	return tc || cc;
}

#endif
