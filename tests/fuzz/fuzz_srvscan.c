// SPDX-License-Identifier: BSD-2-Clause
/*
 * The quick look at a server request's head (bpf/lib/srvscan.h) against the
 * framer it stands in for (bpf/lib/h1scan.h), both run over the first
 * min(size, TW_SCAN_WIN) bytes of the input as tw_server_head runs them
 * (the framer word by word, the bytes past the read stale):
 *   - the quick look always ends, done or fallen back;
 *   - on every head the framer completes without refusing it, a quick
 *     look that is done found what tw_server_head reads: the request line's
 *     end, the head's end, how many traceparent and tracestate lines, the
 *     first traceparent's offset and length, each kept tracestate value's,
 *     and whether tracestate values were lost;
 *   - it falls back on such a head only when a value has more whitespace
 *     around it than it strips (TW_SRVQ_OWS_MAX).
 * Heads the framer refuses may still be read by the quick look: on the
 * server side the bytes are only read (srvscan.h).
 * Build: make fuzz (tests/fuzz/fuzz.mk).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../bpf/lib/srvscan.h"

#include "fuzz_check.h"

static uint8_t buf[2 * TW_SCAN_WIN];

static bool framer(struct tw_h1scan *s, uint32_t n)
{
	tw_scan_begin_request(s);
	for (uint32_t pos = 0; pos < n; pos += 8) {
		uint32_t nb = n - pos < 8 ? n - pos : 8;
		uint64_t w;

		memcpy(&w, buf + pos, 8);
		if (tw_scan_word(s, w, nb, pos))
			break;
	}
	return (s->flags & TW_SF_HEAD_DONE) && !(s->flags & TW_SF_NOT_HTTP);
}

static int quick(struct tw_h1scan *s, uint32_t n)
{
	struct tw_srvq q = { .n = n, .open = TW_HN_NONE };

	tw_scan_begin_request(s);
	for (uint32_t i = 0; i < TW_SCAN_WIN / 8; i++)
		if (tw_srvq_step(&q, s, buf, i * 8))
			break;
	return q.result;
}

/* Does a traceparent or tracestate value of the head [0, end) have more
 * than TW_SRVQ_OWS_MAX whitespace bytes before or after it? */
static bool long_ows(uint32_t end)
{
	for (uint32_t ls = 0; ls < end;) {
		const uint8_t *lf = memchr(buf + ls, '\n', end - ls);
		uint32_t le = lf ? (uint32_t)(lf - buf) : end, v = 0, b, e, k;

		if (le - ls >= 12 && !strncasecmp((const char *)buf + ls, "traceparent:", 12))
			v = ls + 12;
		else if (le - ls >= 11 && !strncasecmp((const char *)buf + ls, "tracestate:", 11))
			v = ls + 11;
		if (v) {
			e = le > v && buf[le - 1] == '\r' ? le - 1 : le;
			for (b = v, k = 0; b < e && (buf[b] == ' ' || buf[b] == '\t'); b++)
				k++;
			if (k > TW_SRVQ_OWS_MAX)
				return true;
			for (k = 0; e > b && (buf[e - 1] == ' ' || buf[e - 1] == '\t'); e--)
				k++;
			if (k > TW_SRVQ_OWS_MAX)
				return true;
		}
		ls = le + 1;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t n = size < TW_SCAN_WIN ? (uint32_t)size : TW_SCAN_WIN;
	struct tw_h1scan f, q;
	bool framed;
	int r;

	memset(buf, size ? data[size - 1] ^ 0x5a : 0, sizeof(buf));
	memcpy(buf, data, n);
	framed = framer(&f, n);
	r = quick(&q, n);
	CHECK(r == TW_SRVQ_DONE || r == TW_SRVQ_FALLBACK);
	if (!framed)
		return 0;
	if (r == TW_SRVQ_FALLBACK) {
		CHECK(long_ows(f.head_end));
		return 0;
	}
	CHECK(q.reqline_end == f.reqline_end);
	CHECK(q.head_end == f.head_end);
	CHECK(q.n_tp == f.n_tp);
	if (f.n_tp) {
		CHECK(q.tp_len == f.tp_len);
		if (f.tp_len)
			CHECK(q.tp_off == f.tp_off);
	}
	CHECK(q.n_ts == f.n_ts);
	CHECK((q.flags & TW_SF_TS_LOST) == (f.flags & TW_SF_TS_LOST));
	for (uint32_t k = 0; k < f.n_ts && k < TW_TS_FIELDS; k++) {
		CHECK(q.ts_len[k] == f.ts_len[k]);
		if (f.ts_len[k])
			CHECK(q.ts_off[k] == f.ts_off[k]);
	}
	return 0;
}
