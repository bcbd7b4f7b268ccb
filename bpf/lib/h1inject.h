/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sk_msg's work on a client socket's outgoing stream: frame it with the
 * HTTP/1.x gate (h1scan.h), remember what the connection carries, and insert
 * traceparent (and tracestate) after the request line of every request whose
 * head is whole in the send; or, for the TCP/IPv4 options, only record each
 * request's ids in wire_out. Every path passes the bytes (SK_PASS).
 */
#ifndef TW_BPF_H1INJECT_H
#define TW_BPF_H1INJECT_H

#include "compat.h"
#include "maps.h"
#include "h1scan.h"
#include "tracectx.h"

/* The request-line rule (reqline.h) runs in a global function: verified once,
 * not once per path of the framer that calls it. It reads the key and writes
 * the ids in msg_scratch, where lk and ctx are. */
__noinline int tw_line_take(void);
#define TW_LINE_TAKE(lk, ctx) (tw_line_take() != 0)
#include "clientctx.h"
#include "wire.h"
#include "tracewire_event.h"

/* --propagation headers: insert traceparent; without it only wire_out */
const volatile __u8 inject_headers = 1;

/*
 * A client connection that began with the HTTP/2 preface, framed by
 * h2headers.bpf.c (h2inject.h): where its stream is and what it proved.
 */
struct tw_h2_out {
	__u32 skip;    /* bytes of the current frame's payload (or the preface) still to pass */
	__u32 max_sid; /* highest stream id the client opened */
	__u8 hdr[9];   /* a frame header split across sends: its first hdr_have bytes */
	__u8 hdr_have;
	__u8 state;    /* enum tw_h2_state */
	__u8 flags;    /* TW_H2F_* */
	__u8 pad[4];
};

/* "traceparent: 00-" 32 "-" 16 "-" 2 "\r\n" */
#define TW_TP_LINE_LEN 70
/* Framing steps walked per send (a head or a body each take one or two). */
#define TW_MSG_STEPS 64

struct tw_msg_state {
	struct tw_h1scan scan;
	__u64 stream_off; /* bytes the application wrote before this send */
	/* The kernel can queue more or fewer bytes than this program framed
	 * (tw_msg_resync); write_seq tells how many really went: */
	__u32 seq_next;   /* tcp write_seq if all of the last message was queued */
	__u32 tail_bulk;  /* the last message ended in this many body bytes */
	__u8 tail_phase;  /* ... of this bulk phase */
	__u8 seq_valid;
	__u8 proto;       /* enum tw_conn_proto: what the connection's bytes proved */
	__u8 adopt;       /* joined mid-stream, not in step yet (tw_msg_adopted) */
	/* TW_PROTO_TUNNEL whose request had no body and ended its send: the
	 * next send holds the tunnel's first bytes (tw_msg_tunnel_h2c) */
	__u8 tunnel_fresh;
	__u8 pad[3];
	struct tw_h2_out h2; /* TW_PROTO_H2C: HTTP/2 framing (h2inject.h) */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tw_msg_state);
} msg_state SEC(".maps");

/* "tracestate: " value "\r\n" */
#define TW_TS_LINE_MAX (12 + TW_TRACESTATE_MAX + 2)
/* What tw_msg_insert_tsline inserts at most: this line, or HTTP/2's field
 * (h2inject.h: 15 bytes before the value) */
#define TW_TS_INSERT_MAX (16 + TW_TRACESTATE_MAX)
/* Room for any masked length (< 1024) + 14: no offset the verifier can
 * imagine leaves the buffer. */
#define TW_TS_LINE_BUF 2048

/* tw_sk_msg's walk over one send (headers.bpf.c) */
struct tw_msg_walk {
	__u64 added;     /* bytes inserted so far in this send */
	__u32 pos;       /* message offset the next step starts at */
	__u32 seq0;      /* tcp write_seq of the send's first byte */
	__u32 tail_bulk; /* the send ended in this many body bytes */
	__u8 tail_phase; /* ... of this bulk phase */
	__u8 room_known; /* room and goal read (tw_msg_may_insert, once per send) */
	__u8 pad[2];
	__u32 room;      /* tw_msg_room: bytes below the send buffer's limits */
	__u32 goal;      /* ... and the socket's size goal */
};

/* bpf_loop's context for a walk over one send: only the message. Where the
 * walk is stays in the per-CPU scratch (tw_msg_walk), not here, so the
 * verifier does not track it exactly from one step to the next and checks a
 * step a few times instead of once per iteration (6.1 gave up at 1M
 * instructions on the unrolled walk). */
struct tw_msg_walk_ctx {
	struct sk_msg_md *msg;
};

/* The HPACK walk over a header block in buf (h2inject.h) */
struct tw_hp_walk {
	__u32 i;     /* index of the next field representation */
	__u32 n;     /* bytes of the block */
	__u8 found;  /* TW_H2F_APP_TP / TW_H2F_APP_TS */
	__u8 bad;    /* a representation broke RFC 7541 */
	__u8 pad[6];
};

struct tw_msg_scratch {
	struct tw_msg_walk walk;
	struct tw_hp_walk hp;
	__u8 buf[2 * TW_SCAN_WIN];
	__u8 line[TW_TP_LINE_LEN + 2];
	__u8 tsline[TW_TS_LINE_BUF];
	struct tw_event_hdr hdr;
	/* map keys and values built per request, off the stack: the sk_msg
	 * call chain stays far from the verifier's stack limit */
	struct tw_traceparent tp;
	struct tw_fwd_slot fs; /* forwarded_ctx: the key looked up, then the slot read */
	struct tw_wire_out wo;
	struct tw_tuple tuple;
	struct tw_line_key lk; /* the request's line (reqline.h); len 0: unknown */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_msg_scratch);
} msg_scratch SEC(".maps");

/* msg->size read as one ctx load: the compiler would otherwise fold the
 * field offset into the pointer, which the verifier refuses for ctx. */
static __always_inline __u32 tw_msg_size(struct sk_msg_md *msg)
{
	__u32 v;

	asm volatile("%0 = *(u32 *)(%1 + %2)"
		     : "=r"(v)
		     : "r"(msg), "i"(__builtin_offsetof(struct sk_msg_md, size)));
	return v;
}

/* ---- sk_msg: framing and injection ---------------------------------------- */

/* What a client connection carries, decided by its first bytes and kept:
 * only TW_PROTO_HTTP1 is ever written to. */
enum tw_conn_proto {
	TW_PROTO_UNKNOWN = 0, /* nothing sent yet */
	TW_PROTO_HTTP1,       /* its first request passed the gate */
	TW_PROTO_H2C,         /* the HTTP/2 preface: h2headers.bpf.c frames it when the
			       * preface was whole in the connection's first send */
	TW_PROTO_TLS,         /* a TLS record */
	TW_PROTO_OTHER,       /* anything else, or an HTTP/1.x stream that stopped being one */
	TW_PROTO_TUNNEL,      /* after an Upgrade or CONNECT request: opaque both ways, unless
			       * the tunnel's first send is the HTTP/2 preface (h2c by
			       * upgrade): then TW_PROTO_H2C */
};

/* The gate refused this connection's bytes: remember what it is, count why. */
static __always_inline void tw_conn_not_http(struct tw_msg_state *st, const struct tw_h1scan *s)
{
	__u8 reason = s->reject;

	tw_pcount(TW_PC_SKIP_NOT_HTTP);
	if (reason >= TW_REJ_TLS && reason < TW_REJ_MAX)
		tw_pcount(TW_PC_SKIP_NH_TLS + reason - TW_REJ_TLS);
	if (st->proto == TW_PROTO_UNKNOWN)
		st->proto = reason == TW_REJ_TLS ? TW_PROTO_TLS :
			    reason == TW_REJ_H2C ? TW_PROTO_H2C : TW_PROTO_OTHER;
	else
		st->proto = TW_PROTO_OTHER;
}

struct tw_win_scan {
	struct tw_h1scan *s;
	__u32 n;
	__u32 stop; /* index after the byte that stopped the scan, or n */
};

/* One call per 8 bytes of the window (tw_scan_word). */
static long tw_win_scan_cb(__u32 i, void *data)
{
	struct tw_win_scan *x = data;
	struct tw_msg_scratch *sc;
	__u32 zero = 0, pos = i * 8, nb;
	__u64 w;
	int r;

	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	if (!sc || pos >= x->n)
		return 1;
	nb = x->n - pos < 8 ? x->n - pos : 8;
	__builtin_memcpy(&w, sc->buf + (pos & (TW_SCAN_WIN - 1)), 8);
	r = tw_scan_word(x->s, w, nb, pos);
	if (r) {
		x->stop = pos + r;
		return 1;
	}
	return 0;
}

/* Copies msg bytes [pos, pos + n) into the scratch buffer; n <= TW_SCAN_WIN. */
static __always_inline int tw_msg_copy(struct sk_msg_md *msg, struct tw_msg_scratch *sc,
				       __u32 pos, __u32 n)
{
	void *data;

	if (bpf_msg_pull_data(msg, pos, pos + n, 0))
		return -1;
	data = (void *)(long)msg->data;
	if ((__u64)((void *)(long)msg->data_end - data) < n)
		return -1;
	barrier_var(n);
	n &= 2 * TW_SCAN_WIN - 1; /* a no-op (n <= TW_SCAN_WIN) the verifier can see */
	if (!n)
		return -1;
	return bpf_probe_read_kernel(sc->buf, n, data) ? -1 : 0;
}

/* Runs the framer over msg bytes [pos, pos + n). Returns bytes consumed. */
static __always_inline __u32 tw_msg_scan(struct sk_msg_md *msg, struct tw_msg_scratch *sc,
					 struct tw_h1scan *s, __u32 pos, __u32 n)
{
	struct tw_win_scan x = { .s = s, .n = n, .stop = n };

	if (tw_msg_copy(msg, sc, pos, n)) {
		tw_pcount(TW_PC_FAIL_OPEN);
		s->phase = TW_SP_OPAQUE;
		return n;
	}
	bpf_loop(TW_SCAN_WIN / 8, tw_win_scan_cb, &x, 0);
	return x.stop;
}

/* The ids just put on the wire: stream_off is the request's application
 * stream offset (TW_CTX_INJECTED) or an HTTP/2 stream id (TW_CTX_INJECTED_H2). */
static __always_inline void tw_emit_ctx_kind(struct sk_msg_md *msg, struct tw_msg_scratch *sc,
					     __u64 stream_off, __u8 kind)
{
	struct tw_event_hdr *h = &sc->hdr;
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	h->ts_ns = bpf_ktime_get_ns();
	h->sock_id = (__u64)msg->sk;
	h->len = stream_off;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->cap = 0;
	h->type = TW_EV_CTX;
	h->dir = TW_DIR_EGRESS;
	h->role = TW_ROLE_CLIENT;
	h->syscall = 0;
	h->ctx.kind = kind;
	if (bpf_ringbuf_output(&events, h, sizeof(*h), tw_rb_flags(sizeof(*h))))
		tw_pcount(TW_PC_CTX_LOST);
}

static __always_inline void tw_emit_ctx(struct sk_msg_md *msg, struct tw_msg_scratch *sc,
					__u64 stream_off)
{
	tw_emit_ctx_kind(msg, sc, stream_off, TW_CTX_INJECTED);
}

/* Writes hex of id (n bytes) into the message at [at, at + 2n). */
static __always_inline int tw_msg_write_hex(struct sk_msg_md *msg, __u32 at, const __u8 *id)
{
	__u8 hex[16];
	__u8 *data, *end;

	tw_hex_encode(hex, id, 8);
	if (bpf_msg_pull_data(msg, at, at + 16, 0))
		return -1;
	data = (void *)(long)msg->data;
	end = (void *)(long)msg->data_end;
	if (data + 16 > end)
		return -1;
	__builtin_memcpy(data, hex, 16);
	return 0;
}

/* The request already has a traceparent: never add a second one. When it is
 * the one this process received (a proxy forwarding it), re-parent it to the
 * proxy's CLIENT span in place. */
static __always_inline bool tw_existing_header(struct sk_msg_md *msg, struct tw_msg_scratch *sc,
					       const struct tw_h1scan *s, __u32 pos,
					       __u64 stream_off)
{
	struct tw_trace_ctx *ctx = &sc->hdr.ctx;
	struct tw_traceparent *tp = &sc->tp;
	struct tw_fwd_slot *fs = &sc->fs, *slot;
	__u32 off = s->tp_off & (TW_SCAN_WIN - 1), idx;
	bool forwarded;

	if (s->n_tp != 1 || !tw_traceparent_parse(sc->buf + off, s->tp_len, tp)) {
		tw_pcount(TW_PC_KEPT_EXISTING);
		return false; /* the correlator parents it by thread */
	}
	__builtin_memcpy(fs->k.trace_id, tp->trace_id, 16);
	__builtin_memcpy(fs->k.parent_id, tp->parent_id, 8);
	idx = tw_fwd_index(&fs->k);
	slot = bpf_map_lookup_elem(&forwarded_ctx, &idx);
	forwarded = slot && tw_fwd_slot_matches(slot, fs);
	__builtin_memset(ctx, 0, sizeof(*ctx));
	__builtin_memcpy(ctx->trace_id, tp->trace_id, 16);
	tw_random_id(ctx->span_id, 8);
	ctx->flags = tp->flags;
	if (forwarded) {
		__builtin_memcpy(ctx->parent_span_id, fs->span_id, 8);
		/* parent-id sits 36 bytes into the value: "vv-<32>-" */
		if (tw_msg_write_hex(msg, pos + s->tp_off + 36, ctx->span_id)) {
			tw_pcount(TW_PC_FAIL_OPEN);
			return false;
		}
		ctx->source = TW_PSRC_FORWARDED;
		tw_pcount(TW_PC_REWRITTEN);
	} else {
		__builtin_memcpy(ctx->parent_span_id, tp->parent_id, 8);
		ctx->source = TW_PSRC_APPLICATION;
		tw_pcount(TW_PC_KEPT_EXISTING);
	}
	tw_emit_ctx(msg, sc, stream_off);
	return true;
}

__noinline int tw_msg_tracestate_line(void);
__noinline int tw_msg_insert_tsline(struct sk_msg_md *msg, __u32 at, __u32 len);

__noinline int tw_line_take(void)
{
	struct tw_msg_scratch *sc;
	__u32 zero = 0;

	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	if (!sc)
		return 0;
	return tw_line_parent(&sc->lk, &sc->hdr.ctx) ? 1 : 0;
}
__noinline int tw_msg_linearize(struct sk_msg_md *msg, __u32 start, __u32 len);

/* The request whose first byte is TCP sequence number seq carries ctx in
 * the TCP/IPv4 options of the segment/packet holding that byte. */
static __always_inline void tw_wire_out_put(struct sk_msg_md *msg, struct tw_msg_scratch *sc,
					    __u32 seq)
{
	const struct tw_trace_ctx *ctx = &sc->hdr.ctx;
	struct tw_wire_out *wo = &sc->wo;

	TW_TUPLE_OF_CTX(&sc->tuple, msg);
	__builtin_memset(wo, 0, sizeof(*wo));
	wo->seq = seq;
	wo->flags = ctx->flags;
	__builtin_memcpy(wo->trace_id, ctx->trace_id, 16);
	__builtin_memcpy(wo->span_id, ctx->span_id, 8);
	if (bpf_map_update_elem(&wire_out, &sc->tuple, wo, BPF_ANY))
		tw_pcount(TW_PC_FAIL_OPEN);
}

/* No header for this request (options only, or a head split across sends):
 * its ids still travel below the payload and name its CLIENT span. */
static __always_inline void tw_wire_only(struct sk_msg_md *msg, struct tw_msg_scratch *sc,
					 __u64 stream_off, __u32 seq)
{
	tw_choose_ctx((__u64)msg->sk, &sc->hdr.ctx, stream_off, &sc->lk);
	tw_wire_out_put(msg, sc, seq);
	tw_emit_ctx(msg, sc, stream_off);
}

/* Inserts "traceparent: ..." at message offset at. Returns bytes inserted. */
static __always_inline __u32 tw_inject(struct sk_msg_md *msg, struct tw_msg_scratch *sc,
				       __u32 at, __u64 stream_off, bool with_tracestate)
{
	struct tw_trace_ctx *ctx = &sc->hdr.ctx;
	__u8 *line = sc->line, *data, *end;
	bool parent = tw_choose_ctx((__u64)msg->sk, ctx, stream_off, &sc->lk);

	__builtin_memcpy(line, "traceparent: 00-", 16);
	tw_hex_encode(line + 16, ctx->trace_id, 16);
	line[48] = '-';
	tw_hex_encode(line + 49, ctx->span_id, 8);
	line[65] = '-';
	tw_hex_encode(line + 66, &ctx->flags, 1);
	line[68] = '\r';
	line[69] = '\n';

	if (bpf_msg_push_data(msg, at, TW_TP_LINE_LEN, 0)) {
		tw_pcount(TW_PC_FAIL_OPEN);
		return 0;
	}
	if (bpf_msg_pull_data(msg, at, at + TW_TP_LINE_LEN, 0))
		goto undo;
	data = (void *)(long)msg->data;
	end = (void *)(long)msg->data_end;
	if (data + TW_TP_LINE_LEN > end)
		goto undo;
	__builtin_memcpy(data, line, TW_TP_LINE_LEN);
	tw_pcount(TW_PC_INJECTED);
	tw_emit_ctx(msg, sc, stream_off);
	if (parent && with_tracestate) {
		int len = tw_msg_tracestate_line();

		if (len > 0)
			return TW_TP_LINE_LEN + tw_msg_insert_tsline(msg, at + TW_TP_LINE_LEN, len);
	}
	return TW_TP_LINE_LEN;
undo:
	/* never let the blank room out */
	bpf_msg_pop_data(msg, at, TW_TP_LINE_LEN, 0);
	tw_pcount(TW_PC_FAIL_OPEN);
	return 0;
}

/*
 * Inserts the first len bytes of the scratch's tsline (a tracestate line or
 * field, len <= TW_TS_INSERT_MAX) at message offset at. Returns len, or 0 with
 * the message as it was. Global: verified once, for HTTP/1 and HTTP/2.
 */
__noinline int tw_msg_insert_tsline(struct sk_msg_md *msg, __u32 at, __u32 len)
{
	struct tw_msg_scratch *sc;
	__u8 *data, *end;
	__u32 zero = 0;

	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	if (!sc || !len || len > TW_TS_INSERT_MAX)
		return 0;
	if (bpf_msg_push_data(msg, at, len, 0))
		return 0;
	if (bpf_msg_pull_data(msg, at, at + len, 0))
		goto undo;
	data = (void *)(long)msg->data;
	end = (void *)(long)msg->data_end;
	if (data + len > end)
		goto undo;
	/* 8 bytes at a time, then the tail: the room is variable-sized */
	for (__u32 off = 0; off < TW_TS_INSERT_MAX; off += 8) {
		__u8 *p = data + off;
		__u64 v;

		if (off + 8 > len)
			break;
		if (p + 8 > end)
			goto undo;
		__builtin_memcpy(&v, sc->tsline + off, 8);
		__builtin_memcpy(p, &v, 8);
	}
	for (__u32 off = len & ~7u, k = 0; k < 8; k++, off++) {
		__u8 *p = data + (off & (TW_TS_LINE_BUF - 1));

		if (off >= len)
			break;
		if (p + 1 > end)
			goto undo;
		*p = sc->tsline[off & (TW_TS_LINE_BUF - 1)];
	}
	return len;
undo:
	bpf_msg_pop_data(msg, at, len, 0);
	tw_pcount(TW_PC_FAIL_OPEN);
	return 0;
}

/* The tracestate that came with the thread's server request travels with the
 * traceparent injected for it (W3C: the two go together): its line, into
 * the scratch's tsline for tw_msg_insert_tsline. Returns its length, 0 for
 * none. Global: verified once; it returns before the insertion is called,
 * so the call chain (and its stack) is no deeper. */
/* The tracestate that came with the parent SERVER span of the ids in
 * sc->hdr.ctx, and its length (1..TW_TRACESTATE_MAX), or NULL. */
static __always_inline const struct tw_tracestate *tw_parent_tracestate(struct tw_msg_scratch *sc,
									__u32 *vlen)
{
	struct tw_tracestate *ts;
	__u64 parent;

	__builtin_memcpy(&parent, sc->hdr.ctx.parent_span_id, 8);
	ts = bpf_map_lookup_elem(&span_tracestate, &parent);
	if (!ts)
		return NULL;
	*vlen = ts->len & 1023;
	if (*vlen == 0 || *vlen > TW_TRACESTATE_MAX)
		return NULL;
	return ts;
}

__noinline int tw_msg_tracestate_line(void)
{
	const struct tw_tracestate *ts;
	struct tw_msg_scratch *sc;
	__u32 zero = 0, vlen = 0;

	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	if (!sc)
		return 0;
	ts = tw_parent_tracestate(sc, &vlen);
	if (!ts)
		return 0;
	__builtin_memcpy(sc->tsline, "tracestate: ", 12);
	/* a constant size: simpler for the verifier than vlen, and cheap */
	if (bpf_probe_read_kernel(sc->tsline + 12, TW_TRACESTATE_MAX, ts->value))
		return 0;
	sc->tsline[12 + vlen] = '\r';
	sc->tsline[13 + vlen] = '\n';
	return 12 + vlen + 2;
}

/*
 * How far into this send bytes may be inserted. When tcp_bpf's push of a
 * send cannot go on (a non-blocking socket out of send buffer: event loops,
 * Go, gRPC), it frees the rest and tells the application that many bytes
 * fewer were written, counting inserted bytes that did not leave as the
 * application's own: the application then writes again bytes that already
 * left, and the stream is corrupt (measured: tests/bpf test_h2inject
 * full_send_buffer; a gRPC call failed with 64 in flight). The push can
 * stop only where a new skb would start with sk_wmem_queued at sk_sndbuf,
 * or with the unsent bytes at TCP_NOTSENT_LOWAT: so inserted bytes are safe
 * when everything up to their end fits below both, with 2 KiB per skb the
 * push can make up to there (size goal: MSS times GSO segments) and 4 KiB
 * more (tw_msg_may_insert). A blocking socket without SO_SNDTIMEO waits
 * for room instead: no bound (a signal while it waits would still cut the
 * push, as would global tcp_mem pressure, not seen from here). Returns the
 * room in bytes (low 32 bits, ~0 for no bound) and the size goal (high).
 * Read once per send, at its start. Global: not on the walk's call chain.
 */
#define TW_O_NONBLOCK 04000 /* x86-64 */
__noinline __u64 tw_msg_room(struct sk_msg_md *msg)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(msg->sk);
	__s64 room, unsent_room;
	__u64 goal, lowat;
	unsigned int f_flags;
	struct sock *sk;

	if (!tp)
		return 0;
	sk = (struct sock *)tp;
	goal = (__u64)tp->mss_cache * (tp->gso_segs ? tp->gso_segs : 1);
	if (goal < 512)
		goal = 512;
	if (goal > 0xffff)
		goal = 0xffff;
	f_flags = BPF_CORE_READ(sk, sk_socket, file, f_flags);
	if (!(f_flags & TW_O_NONBLOCK) && sk->sk_sndtimeo == 0x7fffffffffffffffL)
		return goal << 32 | 0xffffffffu;
	room = (__s64)sk->sk_sndbuf - sk->sk_wmem_queued;
	lowat = tp->notsent_lowat;
	if (!lowat)
		lowat = BPF_CORE_READ(sk, __sk_common.skc_net.net, ipv4.sysctl_tcp_notsent_lowat);
	unsent_room = (__s64)lowat - (__u32)(tp->write_seq - tp->snd_nxt);
	if (unsent_room < room)
		room = unsent_room;
	if (room < 0)
		room = 0;
	if (room > 0x7fffffff)
		room = 0x7fffffff;
	return goal << 32 | (__u64)room;
}

/* Bytes inserted to end at message offset end (with a tracestate after them
 * at most TW_TS_INSERT_MAX more) leave before any point the push can stop
 * at (tw_msg_room, read at the send's first insertion only: most sends,
 * bodies, insert nothing). */
static __always_inline bool tw_msg_may_insert(struct sk_msg_md *msg, struct tw_msg_walk *w,
					      __u64 end)
{
	__u64 last = end + TW_TS_INSERT_MAX;

	if (!w->room_known) {
		__u64 room = tw_msg_room(msg);

		w->room = (__u32)room;
		w->goal = room >> 32;
		w->room_known = 1;
	}
	if (w->room == 0xffffffffu)
		return true;
	return last + (last / (w->goal ? w->goal : 512) + 2) * 2048 + 4096 <= w->room;
}

/*
 * A request starts at message offset pos. Frames its head and, when the
 * whole head is in this send, gives it a traceparent. Returns the message
 * bytes consumed (head plus what was inserted). Global: verified once.
 */
__noinline int tw_msg_request(struct sk_msg_md *msg, __u32 pos, __u64 stream_off, __u32 seq)
{
	struct tw_msg_scratch *sc;
	struct tw_msg_state *st;
	struct tw_h1scan *s;
	__u32 zero = 0, avail, n, used, added;

	st = bpf_sk_storage_get(&msg_state, msg->sk, 0, 0);
	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	if (!st || !sc || pos >= tw_msg_size(msg))
		return 0;
	s = &st->scan;
	avail = tw_msg_size(msg) - pos;
	n = avail < TW_SCAN_WIN ? avail : TW_SCAN_WIN;
	tw_scan_begin_request(s);
	used = tw_msg_scan(msg, sc, s, pos, n);
	if (s->reqline_end && s->reqline_end <= used)
		tw_line_key_of(&sc->lk, sc->buf, s->reqline_end);
	else
		sc->lk.len = 0;
	if (s->flags & TW_SF_NOT_HTTP) {
		tw_conn_not_http(st, s);
		return avail;
	}
	if (st->proto == TW_PROTO_UNKNOWN)
		st->proto = TW_PROTO_HTTP1;
	if ((s->flags & TW_SF_HEAD_DONE) && (s->flags & TW_SF_SWITCH)) {
		/* Upgrade or CONNECT: after this request the connection is (or
		 * may become, on 101 / 2xx) a tunnel, opaque both ways */
		st->proto = TW_PROTO_TUNNEL;
		/* a client sends the tunnel's first byte only after the 101 /
		 * 2xx: with no body and nothing after the head in this send,
		 * the next send begins the tunnel */
		st->tunnel_fresh = inject_headers && s->phase == TW_SP_OPAQUE && used == avail;
		tw_pcount(TW_PC_SKIP_TUNNEL);
	} else if (s->phase == TW_SP_OPAQUE) {
		tw_pcount(TW_PC_SKIP_UNFRAMED);
		return avail;
	}
	if (!(s->flags & TW_SF_HEAD_DONE)) {
		/* no header for this one; framing goes on in the next window/send */
		if (inject_headers)
			tw_pcount(n == avail ? TW_PC_SKIP_SPLIT_HEAD : TW_PC_SKIP_HEAD_TOO_LONG);
		if (wire_on)
			tw_wire_only(msg, sc, stream_off, seq);
		return used;
	}
	if (s->n_tp) {
		if (tw_existing_header(msg, sc, s, pos, stream_off) && wire_on)
			tw_wire_out_put(msg, sc, seq);
		return used;
	}
	if (!inject_headers || !s->reqline_end || s->reqline_end > used) {
		if (wire_on)
			tw_wire_only(msg, sc, stream_off, seq);
		return used;
	}
	if (!tw_msg_may_insert(msg, &sc->walk, pos + s->reqline_end + TW_TP_LINE_LEN)) {
		tw_pcount(TW_PC_SKIP_SNDBUF);
		if (wire_on)
			tw_wire_only(msg, sc, stream_off, seq);
		return used;
	}
	/* an application that sends its own tracestate keeps it alone */
	added = tw_inject(msg, sc, pos + s->reqline_end, stream_off, !s->n_ts);
	if (added) {
		tw_msg_linearize(msg, pos, used + added);
		if (wire_on)
			tw_wire_out_put(msg, sc, seq);
	}
	return used + added;
}

/* Bytes of a send kept in one piece after an injection. */
#define TW_LINEAR_MAX (16 * 1024)

/*
 * The inserted lines sit in a page fragment of their own, and the kernel
 * pushes each fragment of a message separately: without this the request
 * line leaves as a small segment of its own, Nagle holds the rest until it
 * is acknowledged, and a keep-alive chain drops to 2% of its throughput
 * (measured: bench/results/chain.md). One contiguous copy of the request,
 * up to TW_LINEAR_MAX bytes of the send, leaves as the application wrote it.
 * Best effort: a failure changes nothing on the wire.
 */
__noinline int tw_msg_linearize(struct sk_msg_md *msg, __u32 start, __u32 len)
{
	__u32 size = tw_msg_size(msg), end = start + TW_LINEAR_MAX;

	if (end > size)
		end = size;
	if (end < start + len)
		end = start + len;
	return bpf_msg_pull_data(msg, start, end, 0);
}

/* Frames msg bytes [pos, ...) that continue a head, chunk-size lines or
 * trailers. Returns the bytes consumed. Global: verified once. */
__noinline int tw_msg_continue(struct sk_msg_md *msg, __u32 pos)
{
	struct tw_msg_scratch *sc;
	struct tw_msg_state *st;
	__u32 zero = 0, avail, n;

	st = bpf_sk_storage_get(&msg_state, msg->sk, 0, 0);
	sc = bpf_map_lookup_elem(&msg_scratch, &zero);
	if (!st || !sc || pos >= tw_msg_size(msg))
		return 0;
	avail = tw_msg_size(msg) - pos;
	n = avail < TW_SCAN_WIN ? avail : TW_SCAN_WIN;
	st->scan.flags &= ~TW_SF_HEAD_DONE;
	n = tw_msg_scan(msg, sc, &st->scan, pos, n);
	if (st->scan.phase == TW_SP_OPAQUE)
		tw_pcount(TW_PC_SKIP_UNFRAMED);
	return n;
}

#endif
