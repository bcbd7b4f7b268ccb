/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The quick look at a server request's head: the common case only, a head
 * whole in the request's first read with every line ended by CRLF. It
 * looks at line ends and line starts, a word at a time, and fills the
 * fields of struct tw_h1scan that tw_server_head reads: where the request
 * line ends, where the head ends, and where the traceparent and tracestate
 * values are (the same offsets, counts and TW_SF_TS_LOST as h1scan.h's byte
 * framer). Anything else (the head not whole, a bare LF, whitespace around
 * a value longer than it looks at) is TW_SRVQ_FALLBACK: the caller starts
 * over with the framer. Received bytes are only read, never changed, so
 * this side need not be the gate h1scan.h is: a head the framer would
 * refuse may still be read here (tests/fuzz/fuzz_srvscan.c compares the two
 * on every head the framer accepts). The framer costs ~100 ns per 8 bytes
 * of a head here; this, a few per word and a few dozen per line.
 */
#ifndef TW_BPF_SRVSCAN_H
#define TW_BPF_SRVSCAN_H

#include "h1scan.h"

#define TW_SRVQ_RUNNING 0
#define TW_SRVQ_DONE 1
#define TW_SRVQ_FALLBACK 2
#define TW_SRVQ_OWS_MAX 8 /* whitespace bytes around a value it strips */

/* "tracepar", "ent:" / "tracesta", "te:" as little-endian words */
#define TW_W_TRACEPAR 0x7261706563617274ULL
#define TW_W_ENT_COLON 0x3a746e65U
#define TW_W_TRACESTA 0x6174736563617274ULL
#define TW_W_TE_COLON 0x3a6574U

struct tw_srvq {
	__u32 n;      /* bytes of the head's read in the buffer */
	__u32 vstart; /* the open value: index just past its colon */
	__u8 open;    /* TW_HN_TP, TW_HN_TS or TW_HN_NONE */
	__u8 result;  /* TW_SRVQ_* */
	__u8 seen_line; /* the request line's LF was seen */
	__u8 pad;
};

/* buf holds at least TW_SCAN_WIN + 16 bytes; i < TW_SCAN_WIN */
static __always_inline __u8 tw_srvq_byte(const __u8 *buf, __u32 i)
{
	return buf[i & (TW_SCAN_WIN - 1)];
}

static __always_inline __u64 tw_srvq_word(const __u8 *buf, __u32 i)
{
	__u64 w;

	__builtin_memcpy(&w, buf + (i & (TW_SCAN_WIN - 1)), 8);
	return w;
}

static __always_inline bool tw_srvq_ows(__u8 c)
{
	return c == ' ' || c == '\t';
}

/* The value of the open line, [q->vstart, cr) without the whitespace
 * around it, recorded as h1scan.h's tw_scan_value_end does. */
static __always_inline bool tw_srvq_close_value(struct tw_srvq *q, struct tw_h1scan *s,
						const __u8 *buf, __u32 cr)
{
	__u32 b = q->vstart, e = cr, k;

	for (int i = 0; i < TW_SRVQ_OWS_MAX && b < e && tw_srvq_ows(tw_srvq_byte(buf, b)); i++)
		b++;
	for (int i = 0; i < TW_SRVQ_OWS_MAX && e > b && tw_srvq_ows(tw_srvq_byte(buf, e - 1)); i++)
		e--;
	if ((b < e && tw_srvq_ows(tw_srvq_byte(buf, b))) ||
	    (e > b && tw_srvq_ows(tw_srvq_byte(buf, e - 1))))
		return false; /* more whitespace than it strips */
	if (q->open == TW_HN_TP) {
		if (s->n_tp == 0) {
			s->tp_off = b;
			s->tp_len = e - b;
		}
		if (s->n_tp < 255)
			s->n_tp++;
	} else {
		k = s->n_ts;
		if (k < TW_TS_FIELDS) {
			s->ts_off[k & (TW_TS_FIELDS - 1)] = b;
			s->ts_len[k & (TW_TS_FIELDS - 1)] = e - b;
		} else {
			s->flags |= TW_SF_TS_LOST;
		}
		if (s->n_ts < 255)
			s->n_ts++;
	}
	q->open = TW_HN_NONE;
	return true;
}

/* The LF at pos: ends the request line or a field line, and the next line
 * is the head's end, a traceparent or tracestate line, or another. */
static __always_inline void tw_srvq_line_end_in(struct tw_srvq *q, struct tw_h1scan *s,
						const __u8 *buf, __u32 pos)
{
	__u32 ls = pos + 1;
	__u64 w0, w1;

	if (pos == 0 || tw_srvq_byte(buf, pos - 1) != '\r') {
		q->result = TW_SRVQ_FALLBACK; /* a bare LF: the framer says what it is */
		return;
	}
	if (!q->seen_line) {
		q->seen_line = 1;
		s->reqline_end = ls;
	} else if (q->open != TW_HN_NONE && !tw_srvq_close_value(q, s, buf, pos - 1)) {
		q->result = TW_SRVQ_FALLBACK;
		return;
	}
	if (ls + 2 > q->n) {
		q->result = TW_SRVQ_FALLBACK; /* the head goes on in a later read */
		return;
	}
	if (tw_srvq_byte(buf, ls) == '\r' && tw_srvq_byte(buf, ls + 1) == '\n') {
		s->head_end = ls + 2;
		s->flags |= TW_SF_HEAD_DONE;
		q->result = TW_SRVQ_DONE;
		return;
	}
	if (ls + 11 > q->n)
		return;
	/* | 0x20 makes an upper-case letter lower case, and no other byte a
	 * letter: the names compare without regard to case, the colon exactly */
	w0 = tw_srvq_word(buf, ls) | 0x2020202020202020ULL;
	w1 = tw_srvq_word(buf, ls + 8);
	if (w0 == TW_W_TRACEPAR && ls + 12 <= q->n &&
	    ((__u32)w1 | 0x00202020U) == TW_W_ENT_COLON) {
		q->open = TW_HN_TP;
		q->vstart = ls + 12;
	} else if (w0 == TW_W_TRACESTA && (((__u32)w1 & 0xffffff) | 0x002020U) == TW_W_TE_COLON) {
		q->open = TW_HN_TS;
		q->vstart = ls + 11;
	}
}

#ifdef __bpf__
/* Global: the verifier checks a line end once, not once per LF position of
 * the word loop's paths. q and buf are the per-CPU scratch's (the caller's). */
__noinline int tw_srvq_line_end(struct tw_h1scan *s, __u32 pos);
#else
static inline int tw_srvq_line_end_buf(struct tw_srvq *q, struct tw_h1scan *s, const __u8 *buf,
				       __u32 pos)
{
	tw_srvq_line_end_in(q, s, buf, pos);
	return 0;
}
#endif

/* Bytes [base, base + 8) of the head (those below q->n). Returns true once
 * the look is over (q->result says how). */
static __always_inline bool tw_srvq_step(struct tw_srvq *q, struct tw_h1scan *s, const __u8 *buf,
					 __u32 base)
{
	__u64 x, lf;

	if (base >= q->n) {
		q->result = TW_SRVQ_FALLBACK; /* no end of head in this read */
		return true;
	}
	/* exact: 0x80 in each byte of w that is LF, nothing elsewhere */
	x = tw_srvq_word(buf, base) ^ 0x0a0a0a0a0a0a0a0aULL;
	lf = ~(((x & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL) | x | 0x7f7f7f7f7f7f7f7fULL);
	if (q->n - base < 8)
		lf &= ~0ULL >> (64 - 8 * (q->n - base));
	for (int k = 0; k < 8 && lf; k++) {
		if (!(lf & (0x80ULL << (8 * k))))
			continue;
		lf &= ~(0x80ULL << (8 * k));
#ifdef __bpf__
		tw_srvq_line_end(s, base + k);
#else
		tw_srvq_line_end_buf(q, s, buf, base + k);
#endif
		if (q->result != TW_SRVQ_RUNNING)
			return true;
	}
	if (base + 8 >= q->n) {
		q->result = TW_SRVQ_FALLBACK; /* no end of head in this read */
		return true;
	}
	return false;
}

#endif
