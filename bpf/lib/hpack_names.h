/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The field names of an HPACK header block (RFC 7541 6), without decoding
 * it: one field representation at a time, its integers and string lengths
 * followed, each literal name compared with traceparent and tracestate
 * (plain, ASCII letters folded to lower case, or Huffman-coded: Appendix
 * B gives one coding per string). Pure (no BPF helpers): h2inject.h runs it
 * in sk_msg, tests/fuzz/fuzz_hpack_names.c against libnghttp2's decoder.
 *
 * The block sits in a buffer of TW_HP_BUF bytes (a power of two: every
 * index is masked, which the verifier can see).
 */
#ifndef TW_BPF_HPACK_NAMES_H
#define TW_BPF_HPACK_NAMES_H

#ifdef __BPF__
#include "compat.h"
#else
#include <linux/types.h>
#include <stdbool.h>
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#endif

#define TW_HP_BUF 2048
#define TW_HP_MASK (TW_HP_BUF - 1)

#define TW_H2F_APP_TP 0x2 /* a traceparent field name */
#define TW_H2F_APP_TS 0x4 /* a tracestate field name */

/* The two names as little-endian words: plain (compared with ASCII
 * letters folded to lower case; two overlapping words each) and
 * Huffman-coded (RFC 7541 Appendix B: the only coding there is). */
#define TW_HP_TP_0 0x7261706563617274ULL /* "tracepar" */
#define TW_HP_TP_3 0x746e657261706563ULL /* "ceparent" */
#define TW_HP_TS_0 0x6174736563617274ULL /* "tracesta" */
#define TW_HP_TS_2 0x6574617473656361ULL /* "acestate" */
#define TW_HP_TP_HUFF 0x3fa9851d6b21834dULL /* 8 bytes */
#define TW_HP_TS_HUFF 0x00bfa4915021834dULL /* 7 bytes */
#define TW_HP_FOLD 0x2020202020202020ULL

/* The 11 bytes at name spell traceparent (ASCII letters folded). */
static __always_inline bool tw_hp_is_traceparent(const __u8 *name)
{
	__u64 a, b;

	__builtin_memcpy(&a, name, 8);
	__builtin_memcpy(&b, name + 3, 8);
	return (a | TW_HP_FOLD) == TW_HP_TP_0 && (b | TW_HP_FOLD) == TW_HP_TP_3;
}

/* Reads an HPACK integer with a prefix of bits at block index i (RFC 7541
 * 5.1); at most 4 continuation bytes (values below 2^28), else malformed.
 * Returns the index past it, or -1. */
static __always_inline int tw_hp_int(const __u8 *buf, __u32 i, __u32 n, __u8 bits, __u32 *val)
{
	__u32 max = (1u << bits) - 1, v;
	__u8 b;

	if (i >= n)
		return -1;
	v = buf[i & TW_HP_MASK] & max;
	i++;
	if (v < max) {
		*val = v;
		return i;
	}
	for (int k = 0; k < 4; k++) {
		if (i >= n)
			return -1;
		b = buf[i & TW_HP_MASK];
		i++;
		v += (__u32)(b & 0x7f) << (7 * k);
		if (!(b & 0x80)) {
			*val = v;
			return i;
		}
	}
	return -1;
}

/* Block bytes [i, i + 8) as a little-endian word. */
static __always_inline __u64 tw_hp_word(const __u8 *buf, __u32 i)
{
	__u64 v = 0;

	for (int k = 0; k < 8; k++)
		v |= (__u64)buf[(i + k) & TW_HP_MASK] << (8 * k);
	return v;
}

/* The TW_H2F_APP_* flag of a literal field name of len bytes at block index
 * i (huff: Huffman-coded), 0 for any other name. The caller checked that
 * the name lies inside the block; a word read past its end reads bytes of
 * the buffer that are not compared. */
static __always_inline __u8 tw_hp_name_flag(const __u8 *buf, __u32 i, __u32 len, bool huff)
{
	if (huff) {
		if (len == 8 && tw_hp_word(buf, i) == TW_HP_TP_HUFF)
			return TW_H2F_APP_TP;
		if (len == 7 && (tw_hp_word(buf, i) & 0x00ffffffffffffffULL) == TW_HP_TS_HUFF)
			return TW_H2F_APP_TS;
		return 0;
	}
	if (len == 11 && (tw_hp_word(buf, i) | TW_HP_FOLD) == TW_HP_TP_0 &&
	    (tw_hp_word(buf, i + 3) | TW_HP_FOLD) == TW_HP_TP_3)
		return TW_H2F_APP_TP;
	if (len == 10 && (tw_hp_word(buf, i) | TW_HP_FOLD) == TW_HP_TS_0 &&
	    (tw_hp_word(buf, i + 2) | TW_HP_FOLD) == TW_HP_TS_2)
		return TW_H2F_APP_TS;
	return 0;
}

/*
 * The field representation at block index i of a block of n bytes: the
 * index past it, or -1 when it breaks RFC 7541 (or an integer has more than
 * 4 continuation bytes). ORs the TW_H2F_APP_* flag of a literal name into
 * *found.
 */
static __always_inline int tw_hp_field(const __u8 *buf, __u32 i, __u32 n, __u8 *found)
{
	__u32 idx, len;
	bool huff;
	int r;
	__u8 b;

	if (i >= n)
		return -1;
	b = buf[i & TW_HP_MASK];
	if (b & 0x80) /* indexed field */
		return tw_hp_int(buf, i, n, 7, &idx);
	if ((b & 0xe0) == 0x20) /* dynamic table size update */
		return tw_hp_int(buf, i, n, 5, &idx);
	/* a literal: with incremental indexing (01), without (0000) or never
	 * indexed (0001); index 0: its name follows as a string */
	r = tw_hp_int(buf, i, n, (b & 0x40) ? 6 : 4, &idx);
	if (r < 0)
		return -1;
	i = r;
	if (!idx) {
		if (i >= n)
			return -1;
		huff = buf[i & TW_HP_MASK] & 0x80;
		r = tw_hp_int(buf, i, n, 7, &len);
		if (r < 0 || len > n - r)
			return -1;
		i = r;
		*found |= tw_hp_name_flag(buf, i, len, huff);
		i += len;
	}
	r = tw_hp_int(buf, i, n, 7, &len); /* the value */
	if (r < 0 || len > n - r)
		return -1;
	return r + len;
}

#endif
