// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Trace-context propagation in HTTP/1.x headers (docs/propagation.md): the
 * sk_msg program user space attaches to sockops.bpf.c's SOCKHASH. It frames
 * each watched socket's outgoing stream and inserts a traceparent header
 * after the request line of every request that passes the HTTP/1.x gate
 * with its head whole in one send (lib/h1inject.h). It always returns
 * SK_PASS: when anything is in doubt the bytes go out as the application
 * wrote them, and a counter says why. An object of its own: when it cannot
 * load, only header propagation is off.
 */
#include "lib/h2inject.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#ifndef SK_PASS
#define SK_PASS 1
#endif

/* Slot 0: h2headers.bpf.c's program, which frames HTTP/2 connections. An
 * object of its own, put here by user space once loaded: when it cannot
 * load, the slot stays empty and those connections pass untouched. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} h2_prog SEC(".maps");

/* One framing step of the send: a body skipped, a request head framed (and
 * maybe given a header), or a head's continuation. 0 to go on, 1 to stop. */
static long tw_msg_step_cb(__u32 i, void *data)
{
	struct tw_msg_walk_ctx *x = data;
	struct sk_msg_md *msg = x->msg;
	struct tw_msg_scratch *sc;
	struct tw_msg_state *st;
	struct tw_msg_walk *w;
	__u32 zero = 0, size, left;
	__u8 phase;
	int used;

	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	st = bpf_sk_storage_get(&msg_state, msg->sk, 0, 0);
	if (!sc || !st)
		return 1;
	w = &sc->walk;
	size = tw_msg_size(msg);
	phase = st->scan.phase;
	if (w->pos >= size || phase == TW_SP_OPAQUE)
		return 1;
	left = size - w->pos;
	if (phase == TW_SP_BODY_LEN || phase == TW_SP_CHUNK_DATA) {
		/* body bytes are skipped, never looked at */
		__u64 skip = st->scan.remaining < left ? st->scan.remaining : left;

		w->pos += skip;
		st->scan.remaining -= skip;
		w->tail_bulk = skip;
		w->tail_phase = phase;
		if (!st->scan.remaining) {
			if (phase == TW_SP_CHUNK_DATA)
				st->scan.phase = TW_SP_CHUNK_DATA_END;
			else
				tw_scan_message_done(&st->scan);
		}
		return 0;
	}
	if (phase == TW_SP_REQ_START) {
		__u32 before = size;

		used = tw_msg_request(msg, w->pos, st->stream_off + w->pos - w->added, w->seq0 + w->pos);
		/* tw_msg_request may have looked the scratch up again: same value */
		w->added += tw_msg_size(msg) - before;
	} else {
		used = tw_msg_continue(msg, w->pos);
	}
	if (used <= 0) {
		st->scan.phase = TW_SP_OPAQUE;
		tw_pcount(TW_PC_FAIL_OPEN);
		return 1;
	}
	w->pos += used;
	w->tail_bulk = 0;
	return 0;
}

SEC("sk_msg")
int tw_sk_msg(struct sk_msg_md *msg)
{
	struct tw_msg_walk_ctx x = { .msg = msg };
	struct tw_msg_scratch *sc;
	struct tw_msg_state *st;
	struct tw_msg_walk *w;
	__u32 orig = tw_msg_size(msg), seq0, zero = 0;

	st = bpf_sk_storage_get(&msg_state, msg->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	if (!st || !sc) {
		tw_pcount(TW_PC_FAIL_OPEN);
		return SK_PASS;
	}
	if (st->adopt && !tw_msg_adopted(msg, st)) {
		tw_pcount(TW_PC_SKIP_RESYNC);
		return SK_PASS;
	}
	if (inject_headers && st->proto == TW_PROTO_UNKNOWN && !st->stream_off &&
	    tw_h2_preface(msg)) {
		/* the connection's first bytes: HTTP/2 with prior knowledge
		 * (without headers the gate refuses it, as any non-HTTP/1) */
		tw_h2_conn_begin(st, 0);
	} else if (st->tunnel_fresh && tw_msg_tunnel_h2c(msg, st)) {
		/* h2c by upgrade: stream 1 is the upgrade request's */
		tw_h2_conn_begin(st, 1);
	}
	if (st->proto == TW_PROTO_H2C) {
		/* the gate refused a partial preface: passed as before */
		if (st->h2.state != TW_H2S_FRAMING)
			return SK_PASS;
		bpf_tail_call(msg, &h2_prog, 0);
		/* here only with the slot empty: frames this send will never
		 * be followed, so neither will the connection's */
		tw_h2_opaque(st, TW_PC_H2_OFF);
		return SK_PASS;
	}
	seq0 = tw_write_seq(msg);
	if (st->seq_valid && st->seq_next != seq0)
		tw_msg_resync(st, (__s32)(seq0 - st->seq_next));
	tw_msg_walk_begin(sc, seq0);
	bpf_loop(TW_MSG_STEPS, tw_msg_step_cb, &x, 0);
	/* the callbacks may have replaced the scratch's contents: look again */
	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	st = bpf_sk_storage_get(&msg_state, msg->sk, 0, 0);
	if (!sc || !st)
		return SK_PASS;
	w = &sc->walk;
	if (w->pos < tw_msg_size(msg) && st->scan.phase != TW_SP_OPAQUE) {
		/* more requests in one send than this walks: stop touching it */
		st->scan.phase = TW_SP_OPAQUE;
		tw_pcount(TW_PC_SKIP_UNFRAMED);
	}
	tw_msg_walk_end(msg, st, w, orig);
	return SK_PASS;
}
