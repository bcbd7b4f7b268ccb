/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Byte-at-a-time framer for an outgoing HTTP/1.x request stream: where each
 * request starts, where its head ends, how long its body is (Content-Length,
 * chunked), and where a traceparent/tracestate header sits. Bulk body bytes
 * are skipped by the caller (TW_SP_BODY_LEN, TW_SP_CHUNK_DATA: `remaining`),
 * never fed here. Anything it cannot follow turns the stream TW_SP_OPAQUE:
 * the caller passes the rest of the socket's bytes unmodified.
 */
#ifndef TW_BPF_H1SCAN_H
#define TW_BPF_H1SCAN_H

#include "compat.h"

enum tw_scan_phase {
	TW_SP_REQ_START = 0, /* the next byte begins a request */
	TW_SP_METHOD,
	TW_SP_REQLINE,
	TW_SP_LINE_START,
	TW_SP_NAME,
	TW_SP_VALUE,
	TW_SP_HEAD_CR,
	TW_SP_BODY_LEN,      /* bulk: `remaining` body bytes */
	TW_SP_CHUNK_SIZE,
	TW_SP_CHUNK_EXT,
	TW_SP_CHUNK_DATA,    /* bulk: `remaining` chunk bytes */
	TW_SP_CHUNK_DATA_END,
	TW_SP_TRAILER_START,
	TW_SP_TRAILER_LINE,
	TW_SP_TRAILER_CR,
	TW_SP_OPAQUE,        /* pass everything from here on */
};

/* flags */
#define TW_SF_HAVE_CL 0x0001
#define TW_SF_HAVE_TE 0x0002
#define TW_SF_CHUNKED 0x0004
#define TW_SF_SWITCH 0x0008     /* Upgrade or CONNECT: opaque after this request */
#define TW_SF_HEAD_DONE 0x0010  /* the head ended in this scan (head_end) */
#define TW_SF_NOT_HTTP 0x0020   /* the bytes at a request start were no request line */
#define TW_SF_DIGITS 0x0040     /* number parsing: digits seen */
#define TW_SF_DIGITS_END 0x0080 /* Content-Length: OWS after digits */
#define TW_SF_CONNECT 0x0100

/* header names the framer cares about (lowercase), by bit */
#define TW_HN_CL 0
#define TW_HN_TE 1
#define TW_HN_TP 2
#define TW_HN_TS 3
#define TW_HN_UPGRADE 4
#define TW_HN_COUNT 5
#define TW_HN_NONE 0xff
#define TW_HN_MAXLEN 18

/* Bytes of a request copied and scanned at a time (a power of two). */
#define TW_SCAN_WIN 1024
#define TW_HEAD_LIMIT (64 * 1024) /* longer heads are not followed */
#define TW_NUMBER_LIMIT (1ULL << 44)

struct tw_h1scan {
	__u64 remaining;  /* bulk bytes left; while parsing: the number so far */
	__u64 content_length;
	__u32 head_len;
	__u32 reqline_end; /* scan index just past the request line (this scan) */
	__u32 head_end;    /* scan index just past the head (TW_SF_HEAD_DONE) */
	__u32 tp_off, tp_len; /* first traceparent value in this scan */
	__u32 ts_off, ts_len; /* first tracestate value in this scan */
	__u32 val_end;     /* value: index past its last non-OWS byte */
	__u16 flags;
	__u8 phase;
	__u8 name_idx;
	__u8 name_mask;
	__u8 value_of;
	__u8 te_match;
	__u8 method_len;
	__u8 n_tp;
	__u8 method0;
	__u8 pad[6];
};

static const char tw_hn_names[TW_HN_COUNT][TW_HN_MAXLEN] = {
	"content-length", "transfer-encoding", "traceparent", "tracestate", "upgrade",
};
static const __u8 tw_hn_lens[TW_HN_COUNT] = { 14, 17, 11, 10, 7 };

static __always_inline void tw_scan_begin_request(struct tw_h1scan *s)
{
	__builtin_memset(s, 0, sizeof(*s));
	s->phase = TW_SP_METHOD;
	s->name_mask = 0;
	s->value_of = TW_HN_NONE;
}

static __always_inline __u8 tw_lower(__u8 c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static __always_inline int tw_hexdigit_any(__u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tw_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The request (head and body) is over. */
static __always_inline void tw_scan_message_done(struct tw_h1scan *s)
{
	s->phase = (s->flags & TW_SF_SWITCH) ? TW_SP_OPAQUE : TW_SP_REQ_START;
}

static __always_inline void tw_scan_head_done(struct tw_h1scan *s, __u32 i)
{
	s->flags |= TW_SF_HEAD_DONE;
	s->head_end = i + 1;
	if (s->flags & TW_SF_HAVE_TE) {
		/* RFC 9112 6.1: a request with a transfer coding other than a final
		 * chunked has no length a framer can know */
		if (!(s->flags & TW_SF_CHUNKED)) {
			s->phase = TW_SP_OPAQUE;
			return;
		}
		s->remaining = 0;
		s->flags &= ~(TW_SF_DIGITS | TW_SF_DIGITS_END);
		s->phase = TW_SP_CHUNK_SIZE;
		return;
	}
	if ((s->flags & TW_SF_HAVE_CL) && s->content_length) {
		s->remaining = s->content_length;
		s->phase = TW_SP_BODY_LEN;
		return;
	}
	if (s->flags & TW_SF_CONNECT) {
		s->phase = TW_SP_OPAQUE;
		return;
	}
	tw_scan_message_done(s);
}

static __always_inline bool tw_scan_value_end(struct tw_h1scan *s)
{
	switch (s->value_of) {
	case TW_HN_CL:
		if (!(s->flags & TW_SF_DIGITS))
			return false;
		if ((s->flags & TW_SF_HAVE_CL) && s->content_length != s->remaining)
			return false; /* conflicting lengths: RFC 9112 6.3 says reject */
		s->content_length = s->remaining;
		s->flags |= TW_SF_HAVE_CL;
		break;
	case TW_HN_TE:
		s->flags |= TW_SF_HAVE_TE;
		if (s->te_match == 7)
			s->flags |= TW_SF_CHUNKED;
		else
			s->flags &= ~TW_SF_CHUNKED;
		break;
	case TW_HN_TP:
		if (s->n_tp == 0)
			s->tp_len = s->val_end > s->tp_off ? s->val_end - s->tp_off : 0;
		if (s->n_tp < 255)
			s->n_tp++;
		break;
	case TW_HN_TS:
		if (!s->ts_len)
			s->ts_len = s->val_end > s->ts_off ? s->val_end - s->ts_off : 0;
		break;
	case TW_HN_UPGRADE:
		s->flags |= TW_SF_SWITCH;
		break;
	}
	s->remaining = 0;
	s->flags &= ~(TW_SF_DIGITS | TW_SF_DIGITS_END);
	return true;
}

static __always_inline bool tw_scan_value_byte(struct tw_h1scan *s, __u8 c, __u32 i)
{
	bool ows = c == ' ' || c == '\t';

	switch (s->value_of) {
	case TW_HN_CL:
		if (c >= '0' && c <= '9') {
			if (s->flags & TW_SF_DIGITS_END)
				return false;
			s->remaining = s->remaining * 10 + (c - '0');
			if (s->remaining > TW_NUMBER_LIMIT)
				return false;
			s->flags |= TW_SF_DIGITS;
			return true;
		}
		if (ows) {
			if (s->flags & TW_SF_DIGITS)
				s->flags |= TW_SF_DIGITS_END;
			return true;
		}
		return false;
	case TW_HN_TE:
		if (ows)
			return true;
		if (c == ',') {
			s->te_match = 0;
			return true;
		}
		if (s->te_match < 7 && tw_lower(c) == "chunked"[s->te_match & 7])
			s->te_match++;
		else
			s->te_match = 8;
		return true;
	case TW_HN_TP:
	case TW_HN_TS:
		if (ows)
			return true;
		if (!(s->flags & TW_SF_DIGITS)) { /* first value byte */
			s->flags |= TW_SF_DIGITS;
			if (s->value_of == TW_HN_TP && s->n_tp == 0)
				s->tp_off = i;
			if (s->value_of == TW_HN_TS && !s->ts_len)
				s->ts_off = i;
		}
		s->val_end = i + 1;
		return true;
	}
	return true;
}

static __always_inline void tw_scan_name_byte(struct tw_h1scan *s, __u8 c)
{
	__u8 lc = tw_lower(c);
	__u32 k = s->name_idx;

	if (k >= TW_HN_MAXLEN) {
		s->name_mask = 0;
		return;
	}
	for (int j = 0; j < TW_HN_COUNT; j++)
		if ((s->name_mask & (1u << j)) && (k >= tw_hn_lens[j] || tw_hn_names[j][k] != lc))
			s->name_mask &= ~(1u << j);
	s->name_idx++;
}

static __always_inline __u8 tw_scan_name_match(const struct tw_h1scan *s)
{
	for (int j = 0; j < TW_HN_COUNT; j++)
		if ((s->name_mask & (1u << j)) && s->name_idx == tw_hn_lens[j])
			return j;
	return TW_HN_NONE;
}

static __always_inline void tw_scan_chunk_size_end(struct tw_h1scan *s)
{
	if (!(s->flags & TW_SF_DIGITS)) {
		s->phase = TW_SP_OPAQUE;
		return;
	}
	s->flags &= ~TW_SF_DIGITS;
	s->phase = s->remaining ? TW_SP_CHUNK_DATA : TW_SP_TRAILER_START;
}

/* Feed byte c at scan index i. Returns true when the caller must act: a
 * bulk phase, a new request, the end of a head, or TW_SP_OPAQUE. */
static __always_inline bool tw_scan_byte(struct tw_h1scan *s, __u8 c, __u32 i)
{
	__u8 phase = s->phase;

	if (phase <= TW_SP_HEAD_CR && ++s->head_len > TW_HEAD_LIMIT) {
		s->phase = TW_SP_OPAQUE;
		return true;
	}
	switch (phase) {
	case TW_SP_METHOD:
		if (c >= 'A' && c <= 'Z' && s->method_len < 20) {
			if (!s->method_len)
				s->method0 = c;
			s->method_len++;
			return false;
		}
		if (c == ' ' && s->method_len) {
			if (s->method_len == 7 && s->method0 == 'C')
				s->flags |= TW_SF_CONNECT | TW_SF_SWITCH;
			s->phase = TW_SP_REQLINE;
			return false;
		}
		s->flags |= TW_SF_NOT_HTTP;
		s->phase = TW_SP_OPAQUE;
		return true;
	case TW_SP_REQLINE:
		if (c == '\n') {
			s->reqline_end = i + 1;
			s->phase = TW_SP_LINE_START;
		}
		return false;
	case TW_SP_LINE_START:
		if (c == '\r') {
			s->phase = TW_SP_HEAD_CR;
			return false;
		}
		if (c == '\n') {
			tw_scan_head_done(s, i);
			return true;
		}
		if (c == ' ' || c == '\t' || c == ':') { /* obs-fold or no name */
			s->phase = TW_SP_OPAQUE;
			return true;
		}
		s->name_idx = 0;
		s->name_mask = (1u << TW_HN_COUNT) - 1;
		s->phase = TW_SP_NAME;
		tw_scan_name_byte(s, c);
		return false;
	case TW_SP_HEAD_CR:
		if (c == '\n') {
			tw_scan_head_done(s, i);
			return true;
		}
		s->phase = TW_SP_OPAQUE;
		return true;
	case TW_SP_NAME:
		if (c == ':') {
			s->value_of = tw_scan_name_match(s);
			s->te_match = 0;
			s->remaining = 0;
			s->flags &= ~(TW_SF_DIGITS | TW_SF_DIGITS_END);
			s->phase = TW_SP_VALUE;
			return false;
		}
		if (c == '\n' || c == '\r' || c == ' ' || c == '\t') {
			s->phase = TW_SP_OPAQUE;
			return true;
		}
		tw_scan_name_byte(s, c);
		return false;
	case TW_SP_VALUE:
		if (c == '\n') {
			if (!tw_scan_value_end(s)) {
				s->phase = TW_SP_OPAQUE;
				return true;
			}
			s->value_of = TW_HN_NONE;
			s->phase = TW_SP_LINE_START;
			return false;
		}
		if (c == '\r')
			return false;
		if (!tw_scan_value_byte(s, c, i)) {
			s->phase = TW_SP_OPAQUE;
			return true;
		}
		return false;
	case TW_SP_CHUNK_SIZE: {
		int v = tw_hexdigit_any(c);

		if (v >= 0) {
			s->remaining = s->remaining * 16 + v;
			if (s->remaining > TW_NUMBER_LIMIT) {
				s->phase = TW_SP_OPAQUE;
				return true;
			}
			s->flags |= TW_SF_DIGITS;
			return false;
		}
		if (c == ';') {
			s->phase = TW_SP_CHUNK_EXT;
			return false;
		}
		if (c == ' ' || c == '\t' || c == '\r')
			return false;
		if (c == '\n') {
			tw_scan_chunk_size_end(s);
			return s->phase == TW_SP_CHUNK_DATA || s->phase == TW_SP_OPAQUE;
		}
		s->phase = TW_SP_OPAQUE;
		return true;
	}
	case TW_SP_CHUNK_EXT:
		if (c == '\n') {
			tw_scan_chunk_size_end(s);
			return s->phase == TW_SP_CHUNK_DATA || s->phase == TW_SP_OPAQUE;
		}
		return false;
	case TW_SP_CHUNK_DATA_END:
		if (c == '\r')
			return false;
		if (c == '\n') {
			s->remaining = 0;
			s->flags &= ~TW_SF_DIGITS;
			s->phase = TW_SP_CHUNK_SIZE;
			return false;
		}
		s->phase = TW_SP_OPAQUE;
		return true;
	case TW_SP_TRAILER_START:
		if (c == '\r') {
			s->phase = TW_SP_TRAILER_CR;
			return false;
		}
		if (c == '\n') {
			tw_scan_message_done(s);
			return true;
		}
		s->phase = TW_SP_TRAILER_LINE;
		return false;
	case TW_SP_TRAILER_CR:
		if (c == '\n') {
			tw_scan_message_done(s);
			return true;
		}
		s->phase = TW_SP_OPAQUE;
		return true;
	case TW_SP_TRAILER_LINE:
		if (c == '\n')
			s->phase = TW_SP_TRAILER_START;
		return false;
	}
	/* REQ_START, bulk phases and OPAQUE are the caller's */
	return true;
}

/* Does any byte of w equal c? (the classic SWAR zero-byte test) */
static __always_inline bool tw_word_has(__u64 w, __u8 c)
{
	__u64 x = w ^ (0x0101010101010101ULL * c);

	return ((x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL) != 0;
}

/*
 * Feed the first nb (<= 8) bytes of w (little-endian: byte k at bits 8k),
 * at scan index base. Returns 0 when all were taken, else k + 1 for the byte
 * k that made the caller act (see tw_scan_byte). Eight bytes a call, and in a
 * request line or a value nobody reads only a newline matters, so those
 * words pass whole. A global function: the verifier checks it once, with the
 * state as plain memory, instead of once per path through the callers' loops.
 */
__noinline int tw_scan_word(struct tw_h1scan *s, __u64 w, __u32 nb, __u32 base)
{
	if (!s)
		return 1;
	if (nb == 8 && !tw_word_has(w, '\n') &&
	    (s->phase == TW_SP_REQLINE || (s->phase == TW_SP_VALUE && s->value_of == TW_HN_NONE))) {
		s->head_len += 8;
		if (s->head_len > TW_HEAD_LIMIT) {
			s->phase = TW_SP_OPAQUE;
			return 1;
		}
		return 0;
	}
	for (int k = 0; k < 8; k++) {
		if ((__u32)k >= nb)
			break;
		if (tw_scan_byte(s, (w >> (8 * k)) & 0xff, base + k))
			return k + 1;
	}
	return 0;
}

#endif
