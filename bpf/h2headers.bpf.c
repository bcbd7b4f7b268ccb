// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Trace-context propagation in HTTP/2 HEADERS frames (docs/propagation.md):
 * headers.bpf.c's sk_msg program tail-calls this one for every send of a
 * client connection that began with the HTTP/2 preface. It frames the
 * connection's stream and gives the first HEADERS frame of each new stream a
 * traceparent field when every rule of lib/h2inject.h allows it. It always
 * returns SK_PASS. An object of its own: when it cannot load, only HTTP/2
 * propagation is off (those connections pass untouched, counted).
 */
#include "lib/h2inject.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#ifndef SK_PASS
#define SK_PASS 1
#endif

/* One frame header, or the rest of a payload, per call: 0 to go on. */
static long tw_h2_step_cb(__u32 i, void *data)
{
	struct tw_msg_walk_ctx *x = data;
	struct sk_msg_md *msg = x->msg;
	struct tw_msg_scratch *sc;
	struct tw_msg_state *st;
	struct tw_msg_walk *w;
	__u32 zero = 0, size, left, n;

	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	st = bpf_sk_storage_get(&msg_state, msg->sk, 0, 0);
	if (!sc || !st)
		return 1;
	w = &sc->walk;
	size = tw_msg_size(msg);
	if (w->pos >= size || st->h2.state != TW_H2S_FRAMING)
		return 1;
	left = size - w->pos;
	if (st->h2.skip) {
		n = st->h2.skip < left ? st->h2.skip : left;
		w->pos += n;
		st->h2.skip -= n;
		w->tail_bulk = n;
		return 0;
	}
	w->tail_bulk = 0;
	return tw_h2_frame(msg, w->pos) ? 0 : 1;
}

SEC("sk_msg")
int tw_sk_msg_h2(struct sk_msg_md *msg)
{
	struct tw_msg_walk_ctx x = { .msg = msg };
	struct tw_msg_scratch *sc;
	struct tw_msg_state *st;
	struct tw_msg_walk *w;
	__u32 orig = tw_msg_size(msg), seq0, zero = 0;

	st = bpf_sk_storage_get(&msg_state, msg->sk, 0, 0);
	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	if (!st || !sc || st->proto != TW_PROTO_H2C) {
		tw_pcount(TW_PC_FAIL_OPEN);
		return SK_PASS;
	}
	seq0 = tw_write_seq(msg);
	if (st->seq_valid && st->seq_next != seq0)
		tw_h2_resync(st, (__s32)(seq0 - st->seq_next));
	if (st->h2.state != TW_H2S_FRAMING)
		return SK_PASS;
	tw_msg_walk_begin(sc, seq0);
	bpf_loop(TW_H2_STEPS, tw_h2_step_cb, &x, 0);
	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	st = bpf_sk_storage_get(&msg_state, msg->sk, 0, 0);
	if (!sc || !st)
		return SK_PASS;
	w = &sc->walk;
	if (w->pos < tw_msg_size(msg) && st->h2.state == TW_H2S_FRAMING)
		tw_h2_opaque(st, TW_PC_H2_OPAQUE_LOST); /* more frames than walked */
	tw_msg_walk_end(msg, st, w, orig);
	return SK_PASS;
}
