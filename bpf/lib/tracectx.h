/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * W3C Trace Context (level 2) in the kernel: ids and sampling of the traces
 * tracewire starts. traceparent parsing and formatting and the tracestate
 * filter are include/tw_tracecontext.h, the same code user space runs.
 * Shared by the server side (capture tracepoints) and the injector (sk_msg).
 */
#ifndef TW_BPF_TRACECTX_H
#define TW_BPF_TRACECTX_H

#include "compat.h"
#include "maps.h"
/* the parsing and formatting rules, shared with user space */
#include "tw_tracecontext.h"

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

#endif
