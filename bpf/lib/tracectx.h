/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * W3C Trace Context (level 2) in the kernel: ids, sampling, traceparent
 * parsing and formatting. Shared by the server side (capture tracepoints)
 * and the injector (sk_msg).
 */
#ifndef TW_BPF_TRACECTX_H
#define TW_BPF_TRACECTX_H

#include "compat.h"
#include "maps.h"

/* "00-" + 32 + "-" + 16 + "-" + 2 */
#define TW_TRACEPARENT_LEN 55

struct tw_traceparent {
	__u8 trace_id[16];
	__u8 parent_id[8];
	__u8 flags;
	__u8 version;
};

static __always_inline bool tw_id_zero(const __u8 *id, int n)
{
	__u8 acc = 0;

	for (int i = 0; i < n; i++)
		acc |= id[i];
	return acc == 0;
}

/* n is a multiple of 4. Never all zero: W3C makes that id invalid. */
static __always_inline void tw_random_id(__u8 *dst, int n)
{
	for (int i = 0; i < n; i += 4) {
		__u32 r = bpf_get_prandom_u32();

		__builtin_memcpy(dst + i, &r, 4);
	}
	if (tw_id_zero(dst, n))
		dst[n - 1] = 1;
}

/* Flags for a trace tracewire starts: the random bit (its ids come from the
 * kernel's PRNG) and the sampled bit by --sample-ratio. */
static __always_inline __u8 tw_root_flags(void)
{
	__u8 flags = TW_FLAG_RANDOM;

	if ((__u64)bpf_get_prandom_u32() < sample_threshold)
		flags |= TW_FLAG_SAMPLED;
	return flags;
}

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

static __always_inline bool tw_hex_decode(__u8 *dst, const __u8 *s, int n)
{
	for (int i = 0; i < n; i++) {
		int b = tw_hex_byte(s + 2 * i);

		if (b < 0)
			return false;
		dst[i] = b;
	}
	return true;
}

/*
 * v: a traceparent value (OWS already skipped) of len bytes; at least
 * TW_TRACEPARENT_LEN + 1 bytes must be readable at v. Level 2 rules: exact
 * lengths, lowercase hex, version ff and all-zero ids invalid; a higher
 * version is read by its version-00 prefix and must continue with '-'.
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
	out->flags = flags;
	out->version = version;
	return true;
}

static __always_inline void tw_hex_encode(__u8 *dst, const __u8 *src, int n)
{
	const char digits[] = "0123456789abcdef";

	for (int i = 0; i < n; i++) {
		dst[2 * i] = digits[(src[i] >> 4) & 0xf];
		dst[2 * i + 1] = digits[src[i] & 0xf];
	}
}

#endif
