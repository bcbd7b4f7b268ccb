// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the kernel-side HPACK walk (bpf/lib/hpack_names.h),
 * which sk_msg runs over every header block of an HTTP/2 client connection
 * to learn whether the application sends traceparent or tracestate itself
 * (bpf/lib/h2inject.h).
 *
 * Input: one header block (at most TW_HP_BUF - 1 bytes, as h2inject.h walks
 * it). The walk runs over it field by field; libnghttp2's decoder (an
 * independent implementation, a fresh dynamic table) decodes it whole. When
 * the decoder accepts the block:
 *  - the walk accepts it too and ends exactly at its end (else a valid
 *    block would make connections opaque for nothing);
 *  - a decoded name "traceparent" (or "tracestate") means the walk flagged
 *    it: every such name of a block that starts on an empty table comes
 *    from a literal in the block, which the walk sees (the safety property:
 *    a missed name would let a second traceparent in);
 *  - a flag means a decoded name equal to it but for ASCII case (no
 *    invented names).
 * Always: the walk never reads outside the buffer (ASan) and stops.
 *
 * Build and run: make fuzz (tests/fuzz/fuzz.mk).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "../../bpf/lib/hpack_names.h"

#include "fuzz_check.h"

/* What libnghttp2 made of the block: -1 refused, else the names seen. */
static int reference(const uint8_t *data, size_t n, uint8_t *exact, uint8_t *folded)
{
	nghttp2_hd_inflater *inf;
	const uint8_t *in = data;
	size_t left = n;
	int ok = 0;

	*exact = *folded = 0;
	if (nghttp2_hd_inflate_new(&inf))
		abort();
	for (;;) {
		nghttp2_nv nv;
		int fl = 0;
		ssize_t r = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, left, 1);

		if (r < 0) {
			ok = -1;
			break;
		}
		in += r;
		left -= (size_t)r;
		if (fl & NGHTTP2_HD_INFLATE_EMIT) {
			if (nv.namelen == 11 && !strncasecmp((const char *)nv.name, "traceparent", 11)) {
				*folded |= TW_H2F_APP_TP;
				if (!memcmp(nv.name, "traceparent", 11))
					*exact |= TW_H2F_APP_TP;
			}
			if (nv.namelen == 10 && !strncasecmp((const char *)nv.name, "tracestate", 10)) {
				*folded |= TW_H2F_APP_TS;
				if (!memcmp(nv.name, "tracestate", 10))
					*exact |= TW_H2F_APP_TS;
			}
		}
		if (fl & NGHTTP2_HD_INFLATE_FINAL)
			break;
		if (!r && !left)
			break;
	}
	nghttp2_hd_inflate_del(inf);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[TW_HP_BUF];
	uint8_t found = 0, exact, folded;
	uint32_t n = (uint32_t)size, i = 0, steps = 0;
	bool bad = false;

	if (size >= TW_HP_BUF)
		return 0;
	/* stale bytes past the block, as in the kernel's scratch buffer */
	memset(buf, 0xa5, sizeof(buf));
	memcpy(buf, data, size);
	while (i < n) {
		int r = tw_hp_field(buf, i, n, &found);

		if (r < 0) {
			bad = true;
			break;
		}
		CHECK((uint32_t)r > i && (uint32_t)r <= n);
		i = (uint32_t)r;
		CHECK(++steps <= TW_HP_BUF); /* the kernel's bpf_loop bound */
	}
	if (reference(data, size, &exact, &folded) < 0)
		return 0;
	CHECK(!bad && i == n);
	CHECK((found & exact) == exact);
	CHECK((found & ~folded) == 0);
	return 0;
}
