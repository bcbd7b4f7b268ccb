/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A grpc-go client stream's parent, from the Go probes (goprobes.bpf.c) to
 * sk_msg's HTTP/2 insertion (h2inject.h): the goroutine that opened the
 * stream queued its *headerFrame with its go_ctx; the connection's writer
 * goroutine (loopy) gave it its stream id and names its socket. sk_msg, at
 * that stream's first HEADERS frame on that socket, takes the entry: exact,
 * whatever thread the writer runs on (docs/go.md "gRPC").
 */
#ifndef TW_BPF_GOH2_H
#define TW_BPF_GOH2_H

#include "compat.h"
#include "maps.h"
#include "tracectx.h"

struct tw_go_h2_key {
	__u64 sk;  /* struct sock address */
	__u32 sid; /* HTTP/2 stream id */
	__u32 pad;
};

/* From headerHandler to the frame's send: microseconds, a handful per
 * connection in flight. LRU: a stream whose frame never reaches sk_msg (not
 * followed, connection gone) must not hold its slot. Created with sk_msg's
 * objects, shared with the Go probes' through the HTTP/2 one
 * (injector/goprobes.c). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tw_go_h2_key);
	__type(value, struct tw_thread_ctx);
} go_h2_streams SEC(".maps");

/* The ids of new stream sid on socket sk when a goroutine's context waits
 * for it: a CLIENT span (fresh span id) whose parent is that goroutine's
 * server request, source "goroutine". */
static __always_inline bool tw_go_h2_take(__u64 sk, __u32 sid, struct tw_trace_ctx *ctx)
{
	struct tw_go_h2_key k = { .sk = sk, .sid = sid };
	struct tw_thread_ctx *tc = bpf_map_lookup_elem(&go_h2_streams, &k);

	if (!tc)
		return false;
	__builtin_memset(ctx, 0, sizeof(*ctx));
	__builtin_memcpy(ctx->trace_id, tc->trace_id, 16);
	__builtin_memcpy(ctx->parent_span_id, tc->span_id, 8);
	ctx->flags = tc->flags;
	ctx->source = TW_PSRC_GOROUTINE;
	tw_random_id(ctx->span_id, 8);
	bpf_map_delete_elem(&go_h2_streams, &k);
	return true;
}

#endif
