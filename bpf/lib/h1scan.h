/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Byte-at-a-time framer for an outgoing HTTP/1.x request stream: where each
 * request starts, where its head ends, how long its body is (Content-Length,
 * chunked), and where a traceparent/tracestate header sits. Bulk body bytes
 * are skipped by the caller (TW_SP_BODY_LEN, TW_SP_CHUNK_DATA: `remaining`),
 * never fed here. Anything it cannot follow turns the stream TW_SP_OPAQUE:
 * the caller passes the rest of the socket's bytes unmodified.
 *
 * It is also the gate in front of every insertion, so it is strict: a head
 * is an HTTP/1.x request only when its request line is exactly
 * token SP request-target SP "HTTP/1.1"|"HTTP/1.0" CRLF (RFC 9112 3), the
 * target in the form the method allows (origin, absolute, authority for
 * CONNECT, "*" for OPTIONS) with no CTL, SP or non-ASCII byte, and every
 * field line is token ":" value CRLF with no CTL but HTAB in the value.
 * Anything else (the h2c preface, TLS, RTSP, SIP, HTTP/3.0, bare LF, ...) is
 * TW_SF_NOT_HTTP with the reason in `reject` (enum tw_gate_reject).
 */
#ifndef TW_BPF_H1SCAN_H
#define TW_BPF_H1SCAN_H

#ifdef __bpf__
#include "compat.h"
#else
/* user space: unit tests and fuzz targets run this very code */
#include <linux/types.h>
#include <stdbool.h>
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif
#endif
#include "tracewire_event.h"

enum tw_scan_phase {
	TW_SP_REQ_START = 0, /* the next byte begins a request */
	TW_SP_METHOD,
	TW_SP_TARGET,
	TW_SP_VERSION,
	TW_SP_LINE_START,
	TW_SP_NAME,
	TW_SP_VALUE,
	TW_SP_VALUE_CR,      /* a CR in a field line: LF must follow */
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
#define TW_SF_TS_LOST 0x0200    /* a tracestate value is not in ts_off/ts_len */

/* request-target forms (RFC 9112 3.2), by their first byte */
#define TW_TF_NONE 0
#define TW_TF_ORIGIN 1    /* "/" ... */
#define TW_TF_ABSOLUTE 2  /* scheme ":" ... */
#define TW_TF_AUTHORITY 3 /* CONNECT host:port */
#define TW_TF_ASTERISK 4  /* OPTIONS * */

/* methods the gate must know (bits of method_match) */
#define TW_MM_CONNECT 0x1
#define TW_MM_OPTIONS 0x2
#define TW_MM_PRI 0x4 /* the h2c preface's "PRI * HTTP/2.0" */
#define TW_METHOD_MAX 24

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
/* tracestate fields a head may carry whose values are kept; more, and the
 * tracestate is dropped (TW_SF_TS_LOST) */
#define TW_TS_FIELDS 4

struct tw_h1scan {
	__u64 remaining;  /* bulk bytes left; while parsing: the number so far */
	__u64 content_length;
	__u32 head_len;
	__u32 reqline_end; /* scan index just past the request line (this scan) */
	__u32 head_end;    /* scan index just past the head (TW_SF_HEAD_DONE) */
	__u32 tp_off, tp_len; /* first traceparent value in this scan */
	/* tracestate values in this scan, in order (W3C combines them) */
	__u16 ts_off[TW_TS_FIELDS], ts_len[TW_TS_FIELDS];
	__u32 val_end;     /* value: index past its last non-OWS byte */
	__u16 flags;
	__u8 phase;
	__u8 name_idx;
	__u8 name_mask;
	__u8 value_of;
	__u8 te_match;
	__u8 method_len;
	__u8 n_tp;
	__u8 method_match; /* TW_MM_* still possible */
	__u8 reject;       /* enum tw_gate_reject once TW_SF_NOT_HTTP */
	__u8 target_form;  /* TW_TF_* */
	__u8 vpos;         /* bytes of "HTTP/1.x\r\n" matched */
	__u8 n_ts;         /* tracestate fields seen (this scan) */
	__u8 pad[2];
};

static const char tw_hn_names[TW_HN_COUNT][TW_HN_MAXLEN] = {
	"content-length", "transfer-encoding", "traceparent", "tracestate", "upgrade",
};
static const __u8 tw_hn_lens[TW_HN_COUNT] = { 14, 17, 11, 10, 7 };

/* Words the gate compares with, as little-endian integers (byte k at bits
 * 8k): no string tables, whose BTF clang 14 lays out in ways libbpf 1.1
 * cannot load. */
#ifndef TW_W_OPTIONS /* http.h has these two too */
#define TW_W_CONNECT 0x005443454e4e4f43ULL /* "CONNECT" */
#define TW_W_OPTIONS 0x00534e4f4954504fULL /* "OPTIONS" */
#endif
#define TW_W_PRI 0x0000000000495250ULL     /* "PRI" */
#define TW_W_HTTP1 0x002e312f50545448ULL   /* "HTTP/1." */

static __always_inline __u8 tw_word_byte(__u64 w, __u32 k)
{
	return (w >> (8 * (k & 7))) & 0xff;
}

static __always_inline void tw_scan_begin_request(struct tw_h1scan *s)
{
	__builtin_memset(s, 0, sizeof(*s));
	s->phase = TW_SP_METHOD;
	s->name_mask = 0;
	s->value_of = TW_HN_NONE;
	s->method_match = TW_MM_CONNECT | TW_MM_OPTIONS | TW_MM_PRI;
}

/* Not an HTTP/1.x request: pass the stream, and say why. */
static __always_inline bool tw_scan_reject(struct tw_h1scan *s, __u8 reason)
{
	s->flags |= TW_SF_NOT_HTTP;
	s->reject = reason;
	s->phase = TW_SP_OPAQUE;
	return true;
}

/* RFC 9110 5.6.2 tchar */
static __always_inline bool tw_tchar(__u8 c)
{
	__u8 l = c | 0x20;

	if ((l >= 'a' && l <= 'z') || (c >= '0' && c <= '9'))
		return true;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
	case '-': case '.': case '^': case '_': case '`': case '|': case '~':
		return true;
	}
	return false;
}

/* A byte no field value may hold: CTL except HTAB, and DEL (RFC 9110 5.5). */
static __always_inline bool tw_value_ctl(__u8 c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

static __always_inline bool tw_scan_method_byte(struct tw_h1scan *s, __u8 c)
{
	__u32 k = s->method_len;

	if (c == ' ') {
		if (!k)
			return tw_scan_reject(s, TW_REJ_METHOD);
		if (k != 7)
			s->method_match &= ~(TW_MM_CONNECT | TW_MM_OPTIONS);
		if (k != 3)
			s->method_match &= ~TW_MM_PRI;
		if (s->method_match & TW_MM_CONNECT)
			s->flags |= TW_SF_CONNECT | TW_SF_SWITCH;
		s->phase = TW_SP_TARGET;
		return false;
	}
	if (!tw_tchar(c))
		return tw_scan_reject(s, k == 0 && c == 0x16 ? TW_REJ_TLS : TW_REJ_METHOD);
	if (k >= TW_METHOD_MAX)
		return tw_scan_reject(s, TW_REJ_METHOD);
	if (k >= 7 || tw_word_byte(TW_W_CONNECT, k) != c)
		s->method_match &= ~TW_MM_CONNECT;
	if (k >= 7 || tw_word_byte(TW_W_OPTIONS, k) != c)
		s->method_match &= ~TW_MM_OPTIONS;
	if (k >= 3 || tw_word_byte(TW_W_PRI, k) != c)
		s->method_match &= ~TW_MM_PRI;
	s->method_len++;
	return false;
}

static __always_inline bool tw_scan_target_byte(struct tw_h1scan *s, __u8 c)
{
	__u8 l = c | 0x20;

	if (s->target_form == TW_TF_NONE) {
		if (s->method_match & TW_MM_CONNECT)
			s->target_form = (l >= 'a' && l <= 'z') || (c >= '0' && c <= '9') || c == '['
						 ? TW_TF_AUTHORITY : TW_TF_NONE;
		else if (c == '/')
			s->target_form = TW_TF_ORIGIN;
		else if (c == '*' && (s->method_match & TW_MM_OPTIONS))
			s->target_form = TW_TF_ASTERISK;
		else if (c == '*' && (s->method_match & TW_MM_PRI))
			return tw_scan_reject(s, TW_REJ_H2C); /* "PRI * HTTP/2.0" */
		else if (l >= 'a' && l <= 'z')
			s->target_form = TW_TF_ABSOLUTE;
		if (s->target_form == TW_TF_NONE)
			return tw_scan_reject(s, TW_REJ_TARGET);
		return false;
	}
	if (c == ' ') {
		s->phase = TW_SP_VERSION;
		return false;
	}
	if (c <= 0x20 || c >= 0x7f)
		return tw_scan_reject(s, c == '\r' || c == '\n' ? TW_REJ_VERSION : TW_REJ_TARGET);
	if (s->target_form == TW_TF_ASTERISK) /* "*" is the whole target */
		return tw_scan_reject(s, TW_REJ_TARGET);
	return false;
}

/* "HTTP/1.1" or "HTTP/1.0", then CRLF. */
static __always_inline bool tw_scan_version_byte(struct tw_h1scan *s, __u8 c, __u32 i)
{
	__u32 k = s->vpos;
	bool ok;

	if (k < 7)
		ok = tw_word_byte(TW_W_HTTP1, k) == c;
	else if (k == 7)
		ok = c == '1' || c == '0';
	else if (k == 8)
		ok = c == '\r';
	else
		ok = c == '\n';
	if (!ok) {
		if (k >= 8)
			return tw_scan_reject(s, TW_REJ_LINE_END);
		return tw_scan_reject(s, (s->method_match & TW_MM_PRI) ? TW_REJ_H2C : TW_REJ_VERSION);
	}
	if (k == 9) {
		s->reqline_end = i + 1;
		s->phase = TW_SP_LINE_START;
		return false;
	}
	s->vpos++;
	return false;
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
		if (s->n_tp == 0) /* an empty value has no start: length 0 */
			s->tp_len = (s->flags & TW_SF_DIGITS) && s->val_end > s->tp_off
					    ? s->val_end - s->tp_off : 0;
		if (s->n_tp < 255)
			s->n_tp++;
		break;
	case TW_HN_TS: {
		__u32 k = s->n_ts;

		if (k < TW_TS_FIELDS) {
			/* an empty value has no start: length 0 */
			s->ts_len[k & (TW_TS_FIELDS - 1)] =
				(s->flags & TW_SF_DIGITS) && s->val_end > s->ts_off[k & (TW_TS_FIELDS - 1)]
					? s->val_end - s->ts_off[k & (TW_TS_FIELDS - 1)] : 0;
		} else {
			s->flags |= TW_SF_TS_LOST;
		}
		if (s->n_ts < 255)
			s->n_ts++;
		break;
	}
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
			if (s->value_of == TW_HN_TS && s->n_ts < TW_TS_FIELDS)
				s->ts_off[s->n_ts & (TW_TS_FIELDS - 1)] = i;
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

	if (!s->name_mask) /* no name of ours: only the colon matters now */
		return;
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
		return tw_scan_method_byte(s, c);
	case TW_SP_TARGET:
		return tw_scan_target_byte(s, c);
	case TW_SP_VERSION:
		return tw_scan_version_byte(s, c, i);
	case TW_SP_LINE_START:
		if (c == '\r') {
			s->phase = TW_SP_HEAD_CR;
			return false;
		}
		if (c == '\n')
			return tw_scan_reject(s, TW_REJ_LINE_END);
		if (!tw_tchar(c)) /* obs-fold, no name, a CTL */
			return tw_scan_reject(s, TW_REJ_HEADER);
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
		return tw_scan_reject(s, TW_REJ_LINE_END);
	case TW_SP_NAME:
		if (c == ':') {
			s->value_of = tw_scan_name_match(s);
			s->te_match = 0;
			s->remaining = 0;
			s->flags &= ~(TW_SF_DIGITS | TW_SF_DIGITS_END);
			s->phase = TW_SP_VALUE;
			return false;
		}
		if (!tw_tchar(c)) /* also SP before the colon (RFC 9112 5.1) */
			return tw_scan_reject(s, TW_REJ_HEADER);
		tw_scan_name_byte(s, c);
		return false;
	case TW_SP_VALUE:
		if (c == '\r') {
			s->phase = TW_SP_VALUE_CR;
			return false;
		}
		if (c == '\n')
			return tw_scan_reject(s, TW_REJ_LINE_END);
		if (tw_value_ctl(c))
			return tw_scan_reject(s, TW_REJ_HEADER);
		if (!tw_scan_value_byte(s, c, i)) {
			s->phase = TW_SP_OPAQUE;
			return true;
		}
		return false;
	case TW_SP_VALUE_CR:
		if (c != '\n')
			return tw_scan_reject(s, TW_REJ_LINE_END);
		if (!tw_scan_value_end(s)) {
			s->phase = TW_SP_OPAQUE;
			return true;
		}
		s->value_of = TW_HN_NONE;
		s->phase = TW_SP_LINE_START;
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

/* Is every byte of w in 0x21..0x7e (a visible ASCII char)? */
static __always_inline bool tw_word_visible(__u64 w)
{
	const __u64 ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	/* a byte < 0x21, or one >= 0x7f (its high bit, or 0x7f + 1's) */
	bool low = ((w - ones * 0x21) & ~w & highs) != 0;
	bool high = ((w | (w + ones)) & highs) != 0;

	return !low && !high;
}

/* May every byte of w sit in a field value nobody reads, with nothing to
 * act on (no CR, LF or other CTL)? Bytes 0x80+ (obs-text) may. */
static __always_inline bool tw_word_plain_value(__u64 w)
{
	const __u64 ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;

	return !((w - ones * 0x20) & ~w & highs) && !tw_word_has(w, 0x7f);
}

/*
 * Feed the first nb (<= 8) bytes of w (little-endian: byte k at bits 8k),
 * at scan index base. Returns 0 when all were taken, else k + 1 for the byte
 * k that made the caller act (see tw_scan_byte). Eight bytes a call, and in a
 * request-target or a value nobody reads only a byte the gate refuses (or
 * the end of it) matters, so words without one pass whole. A global function: the verifier checks it once, with the
 * state as plain memory, instead of once per path through the callers' loops.
 */
__noinline int tw_scan_word(struct tw_h1scan *s, __u64 w, __u32 nb, __u32 base)
{
	bool kept_value;

	if (!s)
		return 1;
	/* a traceparent or tracestate value past its first byte: 8 more
	 * bytes of it, none of them whitespace, only move its end */
	kept_value = s->phase == TW_SP_VALUE && (s->flags & TW_SF_DIGITS) &&
		     (s->value_of == TW_HN_TP || s->value_of == TW_HN_TS);
	if (nb == 8 &&
	    ((s->phase == TW_SP_TARGET && s->target_form != TW_TF_NONE &&
	      s->target_form != TW_TF_ASTERISK && tw_word_visible(w)) ||
	     (s->phase == TW_SP_VALUE && s->value_of == TW_HN_NONE && tw_word_plain_value(w)) ||
	     (kept_value && tw_word_plain_value(w) && !tw_word_has(w, ' ')))) {
		s->head_len += 8;
		if (s->head_len > TW_HEAD_LIMIT) {
			s->phase = TW_SP_OPAQUE;
			return 1;
		}
		if (kept_value)
			s->val_end = base + 8;
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
