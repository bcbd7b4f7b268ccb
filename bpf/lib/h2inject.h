/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * traceparent in HTTP/2 HEADERS frames (h2headers.bpf.c): the sk_msg work on
 * a client connection whose first send began with the whole HTTP/2 preface
 * (tw_msg_state.proto TW_PROTO_H2C). Allow-list, as for HTTP/1:
 *
 *  - Framing from the preface on: every frame header is read (one split
 *    across sends is put together), payloads are passed by their length.
 *    A header block not whole in one send, a frame or field that breaks
 *    RFC 9113/7541, a send the kernel cut or skipped where a payload does not
 *    explain it: the connection is passed for good, counted by reason.
 *  - Proof that the peer speaks HTTP/2: the client's SETTINGS ACK, which it
 *    sends only once the server's SETTINGS arrived (RFC 9113 6.5.3). Streams
 *    opened before it go without a field.
 *  - Every header block of the connection is walked with HPACK's grammar
 *    (RFC 7541 6): a literal field name traceparent (plain or Huffman-coded)
 *    anywhere, and no field is ever added on this connection again: a later
 *    stream could carry it as an indexed reference, invisible to us. Same
 *    for tracestate, which we then never add.
 *  - A header block continued in CONTINUATION frames cannot be walked
 *    field by field (a field may straddle the frames): the connection is
 *    passed for good (clients use them only past 16 KiB of headers).
 *  - Only the first HEADERS frame of a new client stream (odd id above every
 *    earlier one), whose frame header is in this send, and whose length with the field
 *    stays within 16384 (every peer's SETTINGS_MAX_FRAME_SIZE is at least
 *    that).
 *  - The field is a literal without indexing with a literal name (0x00), at
 *    the end of the block: after the pseudo-headers, before any padding. The
 *    peer's dynamic table is never touched.
 *
 * The server's SETTINGS_MAX_HEADER_LIST_SIZE is not known here (ingress is
 * not seen): the field adds 98 to the list size as RFC 9113 counts it.
 */
#ifndef TW_BPF_H2INJECT_H
#define TW_BPF_H2INJECT_H

#include "msgseq.h"
#include "hpack_names.h"
#include "goh2.h"

enum tw_h2_state {
	TW_H2S_NONE = 0, /* not framed: no preface whole in the first send */
	TW_H2S_FRAMING,  /* from the preface on */
	TW_H2S_OPAQUE,   /* passed for good */
};

#define TW_H2F_READY 0x1    /* the client acknowledged the server's SETTINGS */
/* TW_H2F_APP_TP, TW_H2F_APP_TS (0x2, 0x4): hpack_names.h */

#define TW_H2_DATA 0x0
#define TW_H2_HEADERS 0x1
#define TW_H2_SETTINGS 0x4
#define TW_H2_PUSH_PROMISE 0x5
#define TW_H2_CONTINUATION 0x9
#define TW_H2_END_HEADERS 0x4
#define TW_H2_PADDED 0x8
#define TW_H2_PRIORITY 0x20
#define TW_H2_ACK 0x1

#define TW_H2_PREFACE_LEN 24
#define TW_H2_FRAME_MIN_MAX 16384 /* SETTINGS_MAX_FRAME_SIZE's floor */
/* frames (or payload remainders) walked per send */
#define TW_H2_STEPS 1024
/* the scan buffer (sc->buf): blocks shorter than this are walked */
#define TW_H2_BLOCK_MAX TW_HP_BUF
_Static_assert(TW_HP_BUF == 2 * TW_SCAN_WIN, "the HPACK walk reads msg_scratch's buf");
/* 0x00, 0x0b "traceparent", 0x37, "00-" 32 "-" 16 "-" 2 */
#define TW_H2_TP_FIELD_LEN (2 + 11 + 1 + 55)
/* 0x00, 0x0a "tracestate", length (at most 3 bytes for 512), value */
#define TW_H2_TS_FIELD_MAX (2 + 10 + 3 + TW_TRACESTATE_MAX)
_Static_assert(TW_H2_TS_FIELD_MAX <= TW_TS_INSERT_MAX, "tw_msg_insert_tsline takes the field");

/* The preface as little-endian words (no static arrays: clang leaves
 * unused ones in .rodata's BTF at offset 0, which the kernel refuses). */
#define TW_H2_PRI0 0x5448202a20495250ULL /* "PRI * HT" */
#define TW_H2_PRI1 0x0a0d302e322f5054ULL /* "TP/2.0\r\n" */
#define TW_H2_PRI2 0x0a0d0a0d4d530a0dULL /* "\r\nSM\r\n\r\n" */

static __always_inline void tw_h2_opaque(struct tw_msg_state *st, __u32 reason)
{
	st->h2.state = TW_H2S_OPAQUE;
	tw_pcount(reason);
}

static const char tw_h2_preface_bytes[TW_H2_PREFACE_LEN] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* The preface, whole, at the start of msg. */
static __always_inline bool tw_h2_preface(struct sk_msg_md *msg)
{
	__u64 *data, *end;

	if (tw_msg_size(msg) < TW_H2_PREFACE_LEN ||
	    bpf_msg_pull_data(msg, 0, TW_H2_PREFACE_LEN, 0))
		return false;
	data = (void *)(long)msg->data;
	end = (void *)(long)msg->data_end;
	if (data + 3 > end)
		return false;
	return data[0] == TW_H2_PRI0 && data[1] == TW_H2_PRI1 && data[2] == TW_H2_PRI2;
}

/* Copies msg bytes [pos, pos + n) to dst (n <= 16). */
static __always_inline int tw_h2_read16(struct sk_msg_md *msg, __u32 pos, __u32 n, __u8 *dst)
{
	void *data;

	if (!n || n > 16 || bpf_msg_pull_data(msg, pos, pos + n, 0))
		return -1;
	data = (void *)(long)msg->data;
	if ((__u64)((void *)(long)msg->data_end - data) < n)
		return -1;
	barrier_var(n);
	n &= 31;
	if (!n || n > 16)
		return -1;
	return bpf_probe_read_kernel(dst, n, data) ? -1 : 0;
}

/* One field representation per call, from sc->hp.i. */
static long tw_hp_step_cb(__u32 k, void *data)
{
	struct tw_msg_scratch *sc;
	struct tw_hp_walk *hw;
	__u32 zero = 0;
	int r;

	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	if (!sc)
		return 1;
	hw = &sc->hp;
	if (hw->i >= hw->n)
		return 1;
	r = tw_hp_field(sc->buf, hw->i, hw->n, &hw->found);
	if (r < 0) {
		hw->bad = 1;
		return 1;
	}
	hw->i = r;
	return 0;
}

/* ---- the field ---------------------------------------------------------- */

__noinline int tw_h2_tracestate_field(void);

/* Inserts the traceparent field (and the parent's tracestate, unless the
 * connection carries its own) at message offset at, for new stream sid: its
 * parent is the Go goroutine that opened it (goh2.h), else as for HTTP/1.
 * Returns bytes inserted. */
static __always_inline __u32 tw_h2_put_fields(struct sk_msg_md *msg, struct tw_msg_scratch *sc,
					      __u32 at, __u32 room, bool with_tracestate, __u32 sid)
{
	struct tw_trace_ctx *ctx = &sc->hdr.ctx;
	__u8 *line = sc->line, *data, *end;
	bool parent = tw_go_h2_take((__u64)msg->sk, sid, ctx) ||
		      tw_choose_ctx((__u64)msg->sk, ctx, 1, NULL);

	line[0] = 0x00;
	line[1] = 11;
	__builtin_memcpy(line + 2, "traceparent", 11);
	line[13] = 55;
	__builtin_memcpy(line + 14, "00-", 3);
	tw_hex_encode(line + 17, ctx->trace_id, 16);
	line[49] = '-';
	tw_hex_encode(line + 50, ctx->span_id, 8);
	line[66] = '-';
	tw_hex_encode(line + 67, &ctx->flags, 1);

	if (bpf_msg_push_data(msg, at, TW_H2_TP_FIELD_LEN, 0)) {
		tw_pcount(TW_PC_FAIL_OPEN);
		return 0;
	}
	if (bpf_msg_pull_data(msg, at, at + TW_H2_TP_FIELD_LEN, 0))
		goto undo;
	data = (void *)(long)msg->data;
	end = (void *)(long)msg->data_end;
	if (data + TW_H2_TP_FIELD_LEN > end)
		goto undo;
	__builtin_memcpy(data, line, TW_H2_TP_FIELD_LEN);
	if (parent && with_tracestate) {
		int len = tw_h2_tracestate_field();

		if (len > 0 && (__u32)len <= room - TW_H2_TP_FIELD_LEN)
			return TW_H2_TP_FIELD_LEN +
			       tw_msg_insert_tsline(msg, at + TW_H2_TP_FIELD_LEN, len);
	}
	return TW_H2_TP_FIELD_LEN;
undo:
	bpf_msg_pop_data(msg, at, TW_H2_TP_FIELD_LEN, 0);
	tw_pcount(TW_PC_FAIL_OPEN);
	return 0;
}

/* The tracestate that came with the parent SERVER span, as a field, into
 * the scratch's tsline for tw_msg_insert_tsline. Returns its length, 0 for
 * none. Global: verified once (and no deeper call chain, as for HTTP/1). */
__noinline int tw_h2_tracestate_field(void)
{
	const struct tw_tracestate *ts;
	struct tw_msg_scratch *sc;
	__u32 zero = 0, vlen = 0, hl;
	__u8 *f;

	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	if (!sc)
		return 0;
	ts = tw_parent_tracestate(sc, &vlen);
	if (!ts)
		return 0;
	f = sc->tsline;
	f[0] = 0x00;
	f[1] = 10;
	__builtin_memcpy(f + 2, "tracestate", 10);
	if (vlen < 127) { /* RFC 7541 5.1, a 7-bit prefix */
		f[12] = vlen;
		hl = 13;
	} else if (vlen - 127 < 128) {
		f[12] = 127;
		f[13] = vlen - 127;
		hl = 14;
	} else {
		f[12] = 127;
		f[13] = ((vlen - 127) & 0x7f) | 0x80;
		f[14] = (vlen - 127) >> 7;
		hl = 15;
	}
	/* a constant size: simpler for the verifier than vlen, and cheap */
	if (bpf_probe_read_kernel(f + hl, TW_TRACESTATE_MAX, ts->value))
		return 0;
	return hl + vlen;
}

/* The frame at message offset frame_pos now has len payload bytes. */
static __always_inline int tw_h2_set_len(struct sk_msg_md *msg, __u32 frame_pos, __u32 len)
{
	__u8 *data, *end;

	if (bpf_msg_pull_data(msg, frame_pos, frame_pos + 3, 0))
		return -1;
	data = (void *)(long)msg->data;
	end = (void *)(long)msg->data_end;
	if (data + 3 > end)
		return -1;
	data[0] = len >> 16;
	data[1] = len >> 8;
	data[2] = len;
	return 0;
}

/* ---- frames ------------------------------------------------------------- */

/*
 * A HEADERS frame whose 9-byte header ended at message offset w->pos (and
 * began at frame_pos, in this send when whole_hdr): walk
 * its header block, and give a new stream's first HEADERS frame the field.
 * Returns 1 to go on framing, 0 when the connection was passed for good.
 */
static __always_inline int tw_h2_block(struct sk_msg_md *msg, struct tw_msg_scratch *sc,
				       struct tw_msg_state *st, __u32 frame_pos, bool whole_hdr,
				       __u8 type, __u8 flags, __u32 len, __u32 sid)
{
	struct tw_msg_walk *w = &sc->walk;
	struct tw_h2_out *h = &st->h2;
	__u32 size = tw_msg_size(msg), pre = 0, pad = 0, blen, at, added, room;
	bool opens;
	__u8 padb;

	if (!(flags & TW_H2_END_HEADERS))
		return tw_h2_opaque(st, TW_PC_H2_OPAQUE_CONTINUATION), 0;
	if (len > size || w->pos > size - len)
		return tw_h2_opaque(st, TW_PC_H2_OPAQUE_SPLIT_BLOCK), 0;
	if (type == TW_H2_HEADERS) {
		if (flags & TW_H2_PADDED) {
			if (!len || tw_h2_read16(msg, w->pos, 1, &padb))
				return tw_h2_opaque(st, TW_PC_H2_OPAQUE_BAD), 0;
			pad = padb;
			pre = 1;
		}
		if (flags & TW_H2_PRIORITY)
			pre += 5;
	}
	if (pre + pad > len)
		return tw_h2_opaque(st, TW_PC_H2_OPAQUE_BAD), 0;
	blen = len - pre - pad;
	if (blen >= TW_H2_BLOCK_MAX)
		return tw_h2_opaque(st, TW_PC_H2_OPAQUE_LONG_BLOCK), 0;
	sc->hp.i = 0;
	sc->hp.n = blen;
	sc->hp.found = 0;
	sc->hp.bad = 0;
	if (blen) {
		if (tw_msg_copy(msg, sc, w->pos + pre, blen))
			return tw_h2_opaque(st, TW_PC_H2_OPAQUE_LOST), 0;
		bpf_loop(TW_H2_BLOCK_MAX, tw_hp_step_cb, NULL, 0);
		if (sc->hp.bad || sc->hp.i != blen)
			return tw_h2_opaque(st, TW_PC_H2_OPAQUE_BAD), 0;
	}
	h->flags |= sc->hp.found;
	at = w->pos + pre + blen;
	w->pos += len;
	opens = type == TW_H2_HEADERS && (sid & 1) && sid > h->max_sid;
	if (!opens)
		return 1;
	h->max_sid = sid;
	if (!inject_headers)
		return 1;
	if (h->flags & TW_H2F_APP_TP) {
		tw_pcount(TW_PC_H2_KEPT_EXISTING);
		return 1;
	}
	if (!(h->flags & TW_H2F_READY)) {
		tw_pcount(TW_PC_H2_SKIP_NO_ACK);
		return 1;
	}
	if (!tw_msg_may_insert(msg, w, at + TW_H2_TP_FIELD_LEN)) {
		tw_pcount(TW_PC_SKIP_SNDBUF);
		return 1;
	}
	if (!whole_hdr) {
		tw_pcount(TW_PC_H2_SKIP_SPLIT_FRAME);
		return 1;
	}
	if (len + TW_H2_TP_FIELD_LEN > TW_H2_FRAME_MIN_MAX) {
		tw_pcount(TW_PC_H2_SKIP_FRAME_SIZE);
		return 1;
	}
	room = TW_H2_FRAME_MIN_MAX - len;
	added = tw_h2_put_fields(msg, sc, at, room, !(h->flags & TW_H2F_APP_TS), sid);
	if (!added)
		return 1;
	if (tw_h2_set_len(msg, frame_pos, len + added)) {
		/* never let a frame out whose length does not say its bytes */
		bpf_msg_pop_data(msg, at, added, 0);
		tw_pcount(TW_PC_FAIL_OPEN);
		return 1;
	}
	w->pos += added;
	w->added += added;
	tw_pcount(TW_PC_H2_INJECTED);
	tw_emit_ctx_kind(msg, sc, sid, TW_CTX_INJECTED_H2);
	tw_msg_linearize(msg, frame_pos, 9 + len + added);
	return 1;
}

/*
 * The frame whose header starts (or, with h2.hdr_have bytes kept, goes on)
 * at message offset pos. Returns 1 to go on framing, 0 to stop (end of the
 * send, or the connection passed for good). Global: verified once.
 */
__noinline int tw_h2_frame(struct sk_msg_md *msg, __u32 pos)
{
	struct tw_msg_scratch *sc;
	struct tw_msg_state *st;
	struct tw_h2_out *h;
	__u32 zero = 0, size, have, need, len, sid;
	__u8 fh[16], tmp[16], type, flags;

	st = bpf_sk_storage_get(&msg_state, msg->sk, 0, 0);
	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	if (!st || !sc)
		return 0;
	h = &st->h2;
	size = tw_msg_size(msg);
	if (pos >= size)
		return 0;
	have = h->hdr_have;
	if (have > 8)
		return tw_h2_opaque(st, TW_PC_H2_OPAQUE_LOST), 0;
	need = 9 - have;
	if (size - pos < need) {
		/* the rest of this send is the start of a frame header */
		need = size - pos;
		if (tw_h2_read16(msg, pos, need, tmp))
			return tw_h2_opaque(st, TW_PC_H2_OPAQUE_LOST), 0;
		for (__u32 k = 0; k < 8; k++)
			if (k >= have && k < have + need)
				h->hdr[k] = tmp[(k - have) & 15];
		h->hdr_have = have + need;
		sc->walk.pos = size;
		return 0;
	}
	if (tw_h2_read16(msg, pos, need, tmp))
		return tw_h2_opaque(st, TW_PC_H2_OPAQUE_LOST), 0;
	for (__u32 k = 0; k < 9; k++)
		fh[k] = k < have ? h->hdr[k] : tmp[(k - have) & 15];
	h->hdr_have = 0;
	sc->walk.pos = pos + need;
	len = (__u32)fh[0] << 16 | (__u32)fh[1] << 8 | fh[2];
	type = fh[3];
	flags = fh[4];
	sid = ((__u32)fh[5] << 24 | (__u32)fh[6] << 16 | (__u32)fh[7] << 8 | fh[8]) & 0x7fffffff;
	switch (type) {
	case TW_H2_HEADERS:
		return tw_h2_block(msg, sc, st, pos, !have, type, flags, len, sid);
	case TW_H2_CONTINUATION: /* blocks that have them make the connection opaque */
	case TW_H2_PUSH_PROMISE: /* a server's frame */
		return tw_h2_opaque(st, TW_PC_H2_OPAQUE_BAD), 0;
	case TW_H2_SETTINGS:
		if ((flags & TW_H2_ACK) && !sid)
			h->flags |= TW_H2F_READY;
		break;
	}
	h->skip = len;
	return 1;
}

/* Framing starts after the preface; max_sid: the streams already taken (1
 * after an h2c upgrade: the upgrade request's). */
static __always_inline void tw_h2_conn_begin(struct tw_msg_state *st, __u32 max_sid)
{
	st->proto = TW_PROTO_H2C;
	__builtin_memset(&st->h2, 0, sizeof(st->h2));
	st->h2.skip = TW_H2_PREFACE_LEN;
	st->h2.max_sid = max_sid;
	st->h2.state = TW_H2S_FRAMING;
	tw_pcount(TW_PC_H2_CONNS);
}

/*
 * A tunnel's first send (tunnel_fresh, set where its Upgrade or CONNECT
 * request ended a send with no body): true when it begins, right where the
 * request ended (the kernel queued all of it), with the whole HTTP/2
 * preface. A client sends that only after the server's 101 to "Upgrade:
 * h2c" (RFC 9113 3.1 / RFC 7540 3.2), or through a CONNECT tunnel as
 * prior knowledge: either way the tunnel is HTTP/2 from its first byte,
 * the same proof as a connection's first bytes. Anything else leaves it
 * opaque for good; the question is asked once.
 */
static __always_inline bool tw_msg_tunnel_h2c(struct sk_msg_md *msg, struct tw_msg_state *st)
{
	bool at_start = st->seq_valid && tw_write_seq(msg) == st->seq_next;

	st->tunnel_fresh = 0;
	return at_start && tw_h2_preface(msg);
}

/*
 * write_seq moved by delta bytes more than framed since the last send (see
 * tw_msg_resync): inside a payload that is a matter of counting; anywhere
 * else the connection is passed for good.
 */
static __always_inline void tw_h2_resync(struct tw_msg_state *st, __s32 delta)
{
	struct tw_h2_out *h = &st->h2;

	if (h->state != TW_H2S_FRAMING)
		return;
	if (h->hdr_have)
		goto lost;
	if (delta < 0) {
		__u32 d = -delta;

		if (d > st->tail_bulk)
			goto lost;
		h->skip += d;
		st->stream_off -= d;
		tw_pcount(TW_PC_SHORT_WRITES);
		return;
	}
	if (h->skip < (__u32)delta)
		goto lost;
	h->skip -= delta;
	st->stream_off += delta;
	tw_pcount(TW_PC_UNSEEN_SENDS);
	return;
lost:
	tw_h2_opaque(st, TW_PC_H2_OPAQUE_LOST);
}

#endif
