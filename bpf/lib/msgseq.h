/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where a watched connection's outgoing stream is, between sends: the TCP
 * sequence number each send starts at, the bookkeeping after a walk, the
 * resync when the kernel queued more or fewer bytes than were framed, and
 * where framing starts on a connection adopted mid-stream. Shared by the
 * HTTP/1 and HTTP/2 sk_msg programs and adopt.bpf.c.
 */
#ifndef TW_BPF_MSGSEQ_H
#define TW_BPF_MSGSEQ_H

#include "h1inject.h"

static __always_inline __u32 tw_write_seq(struct sk_msg_md *msg)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(msg->sk);

	return tp ? tp->write_seq : 0;
}

/*
 * A connection adopt.bpf.c put in the sockhash after tracewire (re)started
 * (tw_msg_state.adopt): where its stream is, this program never saw. Each
 * send passes untouched until one starts between two requests: everything
 * sent before it is acknowledged (write_seq == snd_una), and the last thing
 * that came back was the peer's data, sent after all of that had arrived
 * (snd_wl1, the sequence number of the last segment that moved the send
 * window, is then that data segment's start, below rcv_nxt; a bare ACK
 * after it, of a body say, sets it to rcv_nxt), or nothing was ever sent.
 * That send starts a request as on a new connection, and framing is exact
 * from it on (the socket is locked here: nothing moves while it is read).
 * Its stream offset is capture's count of bytes sent (conns), the base of
 * the offsets its records carry, so the correlator matches TW_EV_CTX
 * records exactly. Returns true when framing starts with this send.
 */
static __always_inline bool tw_msg_adopted(struct sk_msg_md *msg, struct tw_msg_state *st)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(msg->sk);
	struct tw_conn_state *cs;
	__u64 sk = (__u64)msg->sk;

	if (!tp || tp->write_seq != tp->snd_una)
		return false;
	if (tp->bytes_sent && (!tp->bytes_received || tp->snd_wl1 == tp->rcv_nxt))
		return false;
	cs = bpf_map_lookup_elem(&conns, &sk);
	if (cs)
		st->stream_off = cs->sent;
	st->scan.phase = TW_SP_REQ_START;
	st->seq_valid = 0;
	st->adopt = 0;
	return true;
}

/*
 * write_seq moved by delta bytes more than this program framed since its last
 * run. Two kernel paths do that (6.18): a push cut short on a full send buffer
 * frees the rest of the message, which the application sends again (delta <
 * 0); and after such a failed push the next message goes out without the
 * verdict program running at all (psock->eval is left at PASS; delta > 0).
 * Inside a body both are a matter of counting body bytes; anywhere else the
 * framer no longer knows where it is and the socket is passed for good.
 */
static __always_inline void tw_msg_resync(struct tw_msg_state *st, __s32 delta)
{
	__u8 phase = st->scan.phase;

	if (phase == TW_SP_OPAQUE)
		return;
	if (delta < 0) {
		__u32 d = -delta;
		__u64 left = phase == st->tail_phase ? st->scan.remaining : 0;

		if (d > st->tail_bulk)
			goto lost;
		st->scan.phase = st->tail_phase;
		st->scan.remaining = left + d;
		st->stream_off -= d;
		tw_pcount(TW_PC_SHORT_WRITES);
		return;
	}
	if ((phase != TW_SP_BODY_LEN && phase != TW_SP_CHUNK_DATA) ||
	    st->scan.remaining < (__u32)delta)
		goto lost;
	st->scan.remaining -= delta;
	st->stream_off += delta;
	if (!st->scan.remaining) {
		if (phase == TW_SP_CHUNK_DATA)
			st->scan.phase = TW_SP_CHUNK_DATA_END;
		else
			tw_scan_message_done(&st->scan);
	}
	tw_pcount(TW_PC_UNSEEN_SENDS);
	return;
lost:
	st->scan.phase = TW_SP_OPAQUE;
	tw_pcount(TW_PC_SKIP_UNFRAMED);
}

/* A send's walk starts at its first byte, whose TCP sequence number is
 * seq0; returns it (in the per-CPU scratch). */
static __always_inline struct tw_msg_walk *tw_msg_walk_begin(struct tw_msg_scratch *sc, __u32 seq0)
{
	struct tw_msg_walk *w = &sc->walk;

	__builtin_memset(w, 0, sizeof(*w));
	w->seq0 = seq0;
	return w;
}

/* The send of orig bytes was walked: where the connection's stream now is,
 * and what the next send's resync (tw_msg_resync, tw_h2_resync) compares
 * with. */
static __always_inline void tw_msg_walk_end(struct sk_msg_md *msg, struct tw_msg_state *st,
					    const struct tw_msg_walk *w, __u32 orig)
{
	__u32 size = tw_msg_size(msg);

	st->stream_off += orig;
	st->seq_next = w->seq0 + size;
	st->tail_bulk = w->pos >= size ? w->tail_bulk : 0;
	st->tail_phase = w->tail_phase;
	st->seq_valid = 1;
}

#endif
