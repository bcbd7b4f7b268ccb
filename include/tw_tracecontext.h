/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * W3C Trace Context level 2: the one rule set for traceparent and tracestate,
 * compiled by the BPF programs (clang -target bpf) and by user space (gcc).
 * There is no second parser to keep in step: the kernel's capture and
 * sk_msg programs and the correlator call these functions.
 *
 * Constraints, so that the verifier accepts every function:
 *  - every function is static __always_inline;
 *  - no libc, no variable-length copies;
 *  - loops only over fixed small counts (the 16/8-byte ids); the tracestate
 *    filter is fed one byte per call (from a bpf_loop callback in the
 *    kernel) and has no loop at all;
 *  - every index written into the tracestate output is masked with
 *    (TW_TRACESTATE_MAX - 1) and checked against TW_TRACESTATE_MAX.
 *
 * When __bpf__ is defined the includer has already included vmlinux.h and
 * bpf_helpers.h (__u8 .. __u64, bool, __always_inline).
 */
#ifndef TW_TRACECONTEXT_H
#define TW_TRACECONTEXT_H

#ifndef __bpf__
#include <linux/types.h>
#include <stdbool.h>
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#endif

/* ------------------------------------------------------------------------ */
/* traceparent                                                              */
/* ------------------------------------------------------------------------ */

/* "00-" + 32 + "-" + 16 + "-" + 2: a version-00 value, and the prefix every
 * higher version is read by */
#define TW_TRACEPARENT_LEN 55

struct tw_traceparent {
	__u8 trace_id[16];
	__u8 parent_id[8];
	__u8 flags;   /* trace-flags as sent: unknown bits kept */
	__u8 version;
};

_Static_assert(sizeof(struct tw_traceparent) == 26, "struct tw_traceparent layout");

/* Lowercase hex only: W3C rejects uppercase. -1 for anything else. */
static __always_inline int tw_hex_nibble(__u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static __always_inline int tw_hex_byte(const __u8 *s)
{
	int hi = tw_hex_nibble(s[0]), lo = tw_hex_nibble(s[1]);

	if (hi < 0 || lo < 0)
		return -1;
	return hi << 4 | lo;
}

/* n: a small constant (16 or 8) */
static __always_inline bool tw_hex_decode(__u8 *dst, const __u8 *s, int n)
{
	for (int i = 0; i < n; i++) {
		int b = tw_hex_byte(s + 2 * i);

		if (b < 0)
			return false;
		dst[i] = (__u8)b;
	}
	return true;
}

static __always_inline bool tw_id_zero(const __u8 *id, int n)
{
	__u8 acc = 0;

	for (int i = 0; i < n; i++)
		acc |= id[i];
	return acc == 0;
}

/*
 * v: a traceparent value (OWS already skipped) of len bytes. Level 2 rules:
 * lowercase hex only; version ff invalid; version 00 is exactly
 * TW_TRACEPARENT_LEN bytes; a higher version is read by its version-00
 * prefix and, when longer, must continue with '-'; all-zero trace-id or
 * parent-id invalid. Returns true with *out filled (false: *out
 * meaningless).
 *
 * Reads v[0 .. TW_TRACEPARENT_LEN - 1] and, only when len is larger,
 * v[TW_TRACEPARENT_LEN]: user space needs len readable bytes; in the kernel
 * the verifier wants TW_TRACEPARENT_LEN + 1 readable bytes at v whatever len.
 */
static __always_inline bool tw_traceparent_parse(const __u8 *v, __u32 len,
						 struct tw_traceparent *out)
{
	int version, flags;

	if (len < TW_TRACEPARENT_LEN)
		return false;
	version = tw_hex_byte(v);
	if (version < 0 || version == 0xff)
		return false;
	if (version == 0 && len != TW_TRACEPARENT_LEN)
		return false;
	/* a later version may append fields, each after a '-' */
	if (len > TW_TRACEPARENT_LEN && v[TW_TRACEPARENT_LEN] != '-')
		return false;
	if (v[2] != '-' || v[35] != '-' || v[52] != '-')
		return false;
	if (!tw_hex_decode(out->trace_id, v + 3, 16) || !tw_hex_decode(out->parent_id, v + 36, 8))
		return false;
	flags = tw_hex_byte(v + 53);
	if (flags < 0)
		return false;
	if (tw_id_zero(out->trace_id, 16) || tw_id_zero(out->parent_id, 8))
		return false;
	out->flags = (__u8)flags;
	out->version = (__u8)version;
	return true;
}

/* dst gets 2 * n lowercase hex digits (no terminator); n a small constant */
static __always_inline void tw_hex_encode(__u8 *dst, const __u8 *src, int n)
{
	const char digits[] = "0123456789abcdef";

	for (int i = 0; i < n; i++) {
		dst[2 * i] = digits[(src[i] >> 4) & 0xf];
		dst[2 * i + 1] = digits[src[i] & 0xf];
	}
}

/* ------------------------------------------------------------------------ */
/* tracestate                                                               */
/* ------------------------------------------------------------------------ */

/*
 * A byte-at-a-time filter that validates the combined tracestate (every
 * tracestate field of a request, in order, as if joined by ',') and writes
 * its normalised form:
 *
 *   list        = list-member 0*31( OWS "," OWS list-member )
 *   list-member = (key "=" value) / OWS
 *   key         = ( lcalpha / DIGIT ) 0*255 ( lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@" )
 *   value       = 0*255(chr) nblk-chr
 *   chr         = %x20 / nblk-chr
 *   nblk-chr    = %x21-2B / %x2D-3C / %x3E-7E
 *
 * OWS is SP / HTAB. Leading spaces of a value are part of it; trailing SP
 * and HTAB are OWS. Empty and whitespace-only members are allowed and
 * dropped. Any invalid member, or more than 32 non-empty members, makes the
 * whole combined tracestate invalid (tw_ts_finish returns 0): that is what
 * the W3C test suite expects ('foo=,bar=3' drops bar too).
 *
 * Output: the members joined by ',' without OWS. When that is longer than
 * TW_TRACESTATE_MAX, the longest prefix of whole members that fits (W3C:
 * truncate whole entries, from the end). Only key characters, '=', value
 * characters (%x20-7E but ',' and '=') and ',' are ever written into out.
 * Bytes of out beyond the returned length are scratch.
 *
 * Trailing spaces of a value are written as they come (no loop can emit
 * them later) and taken back when the value ends; a HTAB ends the value.
 *
 * Use: tw_ts_begin once; tw_ts_byte for every byte of a field value and
 * tw_ts_field_end after each field; tw_ts_finish gives the length.
 */
#define TW_TRACESTATE_MAX 512
#define TW_TS_MAX_MEMBERS 32
#define TW_TS_MAX_KEY 256
#define TW_TS_MAX_VALUE 256

_Static_assert((TW_TRACESTATE_MAX & (TW_TRACESTATE_MAX - 1)) == 0,
	       "TW_TRACESTATE_MAX is a power of two (index masks)");

enum {
	TW_TS_PRE = 0, /* before a member: OWS, empty members */
	TW_TS_KEY = 1, /* in a key */
	TW_TS_VAL = 2, /* after '=': value chars, trailing spaces */
	TW_TS_POST = 3 /* after a value and a HTAB: only OWS until ',' */
};

struct tw_ts_filter {
	__u16 out_len;      /* bytes of out holding the list (<= TW_TRACESTATE_MAX) */
	__u16 member_start; /* out_len before the current member and its ',' */
	__u16 key_len;      /* current key, <= TW_TS_MAX_KEY */
	__u16 val_len;      /* current value incl. spaces, saturates at TW_TS_MAX_VALUE */
	__u16 trail_sp;     /* trailing spaces of the value written into out */
	__u8 state;         /* TW_TS_* */
	__u8 members;       /* non-empty members so far, <= TW_TS_MAX_MEMBERS */
	__u8 has_nblk;      /* the current value has a non-blank char */
	__u8 full;          /* a member did not fit: append nothing more */
	__u8 bad;           /* invalid: the whole tracestate is dropped */
	__u8 _pad[1];
};

_Static_assert(sizeof(struct tw_ts_filter) == 16, "struct tw_ts_filter layout");

static __always_inline bool tw_ts_ows(__u8 c)
{
	return c == ' ' || c == '\t';
}

static __always_inline bool tw_ts_key_first(__u8 c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static __always_inline bool tw_ts_key_char(__u8 c)
{
	return tw_ts_key_first(c) || c == '_' || c == '-' || c == '*' || c == '/' || c == '@';
}

static __always_inline bool tw_ts_nblk(__u8 c)
{
	return c >= 0x21 && c <= 0x7e && c != ',' && c != '=';
}

static __always_inline void tw_ts_begin(struct tw_ts_filter *f)
{
	f->out_len = 0;
	f->member_start = 0;
	f->key_len = 0;
	f->val_len = 0;
	f->trail_sp = 0;
	f->state = TW_TS_PRE;
	f->members = 0;
	f->has_nblk = 0;
	f->full = 0;
	f->bad = 0;
	f->_pad[0] = 0;
}

/* Hides a value from the optimiser: after the bounds check clang knows
 * i < TW_TRACESTATE_MAX, drops the mask as a no-op and may then compute the
 * index in a register the verifier has no bound for (seen with two puts in
 * a row: ',' then the key's first char). Opaque, the mask stays. */
#define TW_TS_OPAQUE(x) __asm__ __volatile__("" : "+r"(x))

/* out[out_len++] = c when there is room; false (nothing written) otherwise */
static __always_inline bool tw_ts_put(struct tw_ts_filter *f, __u8 c, __u8 *out)
{
	__u32 i = f->out_len;

	if (i >= TW_TRACESTATE_MAX)
		return false;
	f->out_len = (__u16)(i + 1);
	TW_TS_OPAQUE(i);
	out[i & (TW_TRACESTATE_MAX - 1)] = c;
	return true;
}

/* A byte of the current member that must be kept: when it does not fit,
 * the member goes (out_len back to before it and its ',') and so does
 * every later one. */
static __always_inline void tw_ts_emit(struct tw_ts_filter *f, __u8 c, __u8 *out)
{
	if (f->full)
		return;
	if (!tw_ts_put(f, c, out)) {
		f->full = 1;
		f->out_len = f->member_start;
	}
}

/* The value ends (',', HTAB, end of field): it needs a non-blank char; its
 * trailing spaces are OWS and leave out again. */
static __always_inline void tw_ts_value_end(struct tw_ts_filter *f)
{
	if (!f->has_nblk) {
		f->bad = 1;
		return;
	}
	if (!f->full && f->trail_sp <= f->out_len)
		f->out_len -= f->trail_sp;
	f->trail_sp = 0;
}

static __always_inline void tw_ts_byte(struct tw_ts_filter *f, __u8 c, __u8 *out)
{
	if (f->bad)
		return;

	switch (f->state) {
	case TW_TS_PRE:
		if (tw_ts_ows(c) || c == ',')
			return; /* OWS, or an empty member */
		if (!tw_ts_key_first(c)) {
			f->bad = 1;
			return;
		}
		if (f->members >= TW_TS_MAX_MEMBERS) {
			f->bad = 1;
			return;
		}
		f->members++;
		f->member_start = f->out_len;
		f->key_len = 1;
		f->state = TW_TS_KEY;
		if (f->out_len > 0)
			tw_ts_emit(f, ',', out);
		tw_ts_emit(f, c, out);
		return;

	case TW_TS_KEY:
		if (c == '=') {
			f->state = TW_TS_VAL;
			f->val_len = 0;
			f->trail_sp = 0;
			f->has_nblk = 0;
			tw_ts_emit(f, c, out);
			return;
		}
		if (!tw_ts_key_char(c) || f->key_len >= TW_TS_MAX_KEY) {
			f->bad = 1;
			return;
		}
		f->key_len++;
		tw_ts_emit(f, c, out);
		return;

	case TW_TS_VAL:
		if (tw_ts_nblk(c)) {
			if (f->val_len >= TW_TS_MAX_VALUE) {
				f->bad = 1;
				return;
			}
			f->val_len++;
			f->has_nblk = 1;
			f->trail_sp = 0;
			tw_ts_emit(f, c, out);
			return;
		}
		if (c == ' ') {
			/* a leading or inner space is kept, a trailing one is
			 * OWS: write it now, take it back at the end */
			if (f->val_len < TW_TS_MAX_VALUE)
				f->val_len++;
			if (!f->full && tw_ts_put(f, c, out))
				f->trail_sp++;
			/* no room: the next non-blank char cannot fit either */
			return;
		}
		if (c == '\t') {
			tw_ts_value_end(f);
			f->state = TW_TS_POST;
			return;
		}
		if (c == ',') {
			tw_ts_value_end(f);
			f->state = TW_TS_PRE;
			return;
		}
		f->bad = 1; /* '=', CTL, DEL, 8-bit */
		return;

	case TW_TS_POST:
		if (tw_ts_ows(c))
			return;
		if (c == ',') {
			f->state = TW_TS_PRE;
			return;
		}
		f->bad = 1; /* a HTAB inside a value */
		return;

	default:
		f->bad = 1;
		return;
	}
}

/* End of one tracestate field value: ends the member as a ',' would. */
static __always_inline void tw_ts_field_end(struct tw_ts_filter *f, __u8 *out)
{
	(void)out;
	if (f->bad)
		return;
	switch (f->state) {
	case TW_TS_PRE:
	case TW_TS_POST:
		break;
	case TW_TS_KEY:
		f->bad = 1; /* a key without '=' */
		break;
	case TW_TS_VAL:
		tw_ts_value_end(f);
		break;
	default:
		f->bad = 1;
		break;
	}
	f->state = TW_TS_PRE;
}

/* Length of the valid normalised list in out; 0 when invalid or empty.
 * Ends a field still open. */
static __always_inline __u32 tw_ts_finish(struct tw_ts_filter *f, __u8 *out)
{
	tw_ts_field_end(f, out);
	if (f->bad || f->out_len > TW_TRACESTATE_MAX)
		return 0;
	return f->out_len;
}

/* Invalid (dropped whole), as opposed to valid and empty: tw_ts_finish
 * returns 0 for both. Meaningful after tw_ts_finish. */
static __always_inline bool tw_ts_invalid(const struct tw_ts_filter *f)
{
	return f->bad != 0;
}

#ifndef __bpf__
/* User space and tests: the combined tracestate of nfields fields
 * (fields[i] of lens[i] bytes, need not be NUL-terminated) normalised into
 * out (TW_TRACESTATE_MAX bytes). Returns its length, 0 when invalid or empty. */
static inline __u32 tw_tracestate_normalize(const char *const *fields, const __u32 *lens,
					    int nfields, __u8 *out)
{
	struct tw_ts_filter f;

	tw_ts_begin(&f);
	for (int i = 0; i < nfields; i++) {
		for (__u32 j = 0; j < lens[i]; j++)
			tw_ts_byte(&f, (__u8)fields[i][j], out);
		tw_ts_field_end(&f, out);
	}
	return tw_ts_finish(&f, out);
}
#endif

#endif
