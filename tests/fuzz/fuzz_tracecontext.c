// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the shared W3C Trace Context rules
 * (include/tw_tracecontext.h), the code the kernel runs.
 *
 * Input: the first byte is the field separator, the rest is split at it
 * into tracestate header field values (so every byte value, CR, LF and NUL
 * included, can still appear inside a field). Each input:
 *  - runs the tracestate filter byte by byte into a heap buffer of exactly
 *    TW_TRACESTATE_MAX bytes (ASan: no write past it);
 *  - checks the output: <= TW_TRACESTATE_MAX, only %x20-7E, no ',' or SP at
 *    either end, and normalising it again is the identity;
 *  - compares it with a plain reference written from the spec's ABNF
 *    (split at ',', trim OWS, check key and value, at most 32 members,
 *    keep whole members while they fit in 512);
 *  - parses the input after the separator byte as a traceparent and checks
 *    the verdict and the ids against a reference as well.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *          tests/fuzz/fuzz_tracecontext.c -o fuzz_tracecontext
 * Run:   ./fuzz_tracecontext tests/fuzz/corpus/tracecontext
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tw_tracecontext.h"

#include "fuzz_check.h"

/* ---- reference tracestate, straight from the ABNF ------------------------ */

static int ref_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static int ref_key_ok(const uint8_t *k, size_t n)
{
	if (n < 1 || n > 256)
		return 0;
	if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= '0' && k[0] <= '9')))
		return 0;
	for (size_t i = 1; i < n; i++) {
		uint8_t c = k[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '*' || c == '/' || c == '@'))
			return 0;
	}
	return 1;
}

/* value = 0*255(chr) nblk-chr */
static int ref_value_ok(const uint8_t *v, size_t n)
{
	if (n < 1 || n > 256)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] > 0x7e || v[i] == ',' || v[i] == '=')
			return 0;
	return v[n - 1] != ' ';
}

/* joined: the fields joined by ','. Returns the length written into out
 * (cap bytes), 0 when invalid or empty. */
static size_t ref_tracestate(const uint8_t *joined, size_t len, uint8_t *out, size_t cap)
{
	size_t start = 0, olen = 0;
	int members = 0, full = 0;

	for (size_t i = 0; i <= len; i++) {
		size_t a, b, eq;

		if (i < len && joined[i] != ',')
			continue;
		a = start;
		b = i;
		start = i + 1;
		while (a < b && ref_ows(joined[a]))
			a++;
		while (b > a && ref_ows(joined[b - 1]))
			b--;
		if (a == b)
			continue; /* empty or whitespace-only member */
		for (eq = a; eq < b && joined[eq] != '='; eq++)
			;
		if (eq == b)
			return 0;
		if (!ref_key_ok(joined + a, eq - a) || !ref_value_ok(joined + eq + 1, b - eq - 1))
			return 0;
		if (++members > 32)
			return 0;
		if (full)
			continue;
		if (olen + (olen ? 1 : 0) + (b - a) > cap) {
			full = 1;
			continue;
		}
		if (olen)
			out[olen++] = ',';
		memcpy(out + olen, joined + a, b - a);
		olen += b - a;
	}
	return olen;
}

/* ---- reference traceparent ------------------------------------------------ */

static int ref_hex(uint8_t c)
{
	return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

static int ref_traceparent(const uint8_t *v, size_t len, uint8_t trace[16], uint8_t parent[8],
			   uint8_t *flags, uint8_t *version)
{
	static const char shape[] = "xx-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-xxxxxxxxxxxxxxxx-xx";
	uint8_t raw[26]; /* version, trace, parent, flags */
	int nz_t = 0, nz_p = 0;

	if (len < 55)
		return 0;
	for (size_t i = 0; i < 55; i++) {
		if (shape[i] == '-' ? v[i] != '-' : ref_hex(v[i]) < 0)
			return 0;
	}
	/* hex pairs, skipping the three '-' */
	for (size_t i = 0, k = 0; k < sizeof(raw); k++) {
		raw[k] = (uint8_t)(ref_hex(v[i]) << 4 | ref_hex(v[i + 1]));
		i += 2;
		if (i < 55 && v[i] == '-')
			i++;
	}
	if (raw[0] == 0xff)
		return 0;
	if (raw[0] == 0 && len != 55)
		return 0;
	if (len > 55 && v[55] != '-')
		return 0;
	for (int i = 0; i < 16; i++)
		nz_t |= raw[1 + i];
	for (int i = 0; i < 8; i++)
		nz_p |= raw[17 + i];
	if (!nz_t || !nz_p)
		return 0;
	*version = raw[0];
	memcpy(trace, raw + 1, 16);
	memcpy(parent, raw + 17, 8);
	*flags = raw[25];
	return 1;
}

/* ---- the target ----------------------------------------------------------- */

static void check_output(const uint8_t *out, uint32_t n)
{
	CHECK(n <= TW_TRACESTATE_MAX);
	for (uint32_t i = 0; i < n; i++)
		CHECK(out[i] >= 0x20 && out[i] <= 0x7e);
	if (n) {
		CHECK(out[0] != ',' && out[0] != ' ');
		CHECK(out[n - 1] != ',' && out[n - 1] != ' ');
	}
}

static void fuzz_tracestate(const uint8_t *data, size_t size)
{
	uint8_t sep = data[0];
	uint8_t *out = malloc(TW_TRACESTATE_MAX);
	uint8_t *again = malloc(TW_TRACESTATE_MAX);
	uint8_t *joined = malloc(size ? size : 1);
	uint8_t ref[TW_TRACESTATE_MAX];
	struct tw_ts_filter f;
	const char *field;
	__u32 n, n2, flen;
	size_t rn;

	CHECK(out && again && joined);
	tw_ts_begin(&f);
	for (size_t i = 1; i < size; i++) {
		if (data[i] == sep)
			tw_ts_field_end(&f, out);
		else
			tw_ts_byte(&f, data[i], out);
	}
	tw_ts_field_end(&f, out);
	n = tw_ts_finish(&f, out);
	check_output(out, n);

	/* a fixed point */
	field = (const char *)out;
	flen = n;
	n2 = tw_tracestate_normalize(&field, &flen, 1, again);
	CHECK(n2 == n);
	CHECK(memcmp(again, out, n) == 0);

	/* the reference: the fields joined by ',' */
	for (size_t i = 1; i < size; i++)
		joined[i - 1] = data[i] == sep ? ',' : data[i];
	rn = ref_tracestate(joined, size - 1, ref, sizeof(ref));
	if (rn != n || memcmp(ref, out, n) != 0) {
		fprintf(stderr, "filter: %u '%.*s'\nref:    %zu '%.*s'\n", n, (int)n, out, rn,
			(int)rn, ref);
		abort();
	}
	free(joined);
	free(again);
	free(out);
}

static void fuzz_traceparent(const uint8_t *data, size_t size)
{
	size_t len = size - 1;
	uint8_t *v = malloc(len ? len : 1);
	uint8_t trace[16], parent[8], flags = 0, version = 0;
	struct tw_traceparent tp;
	int ok, want;

	CHECK(v);
	if (len)
		memcpy(v, data + 1, len);
	ok = tw_traceparent_parse(v, (__u32)len, &tp);
	want = ref_traceparent(v, len, trace, parent, &flags, &version);
	CHECK(ok == want);
	if (ok) {
		uint8_t hex[32];

		CHECK(memcmp(tp.trace_id, trace, 16) == 0);
		CHECK(memcmp(tp.parent_id, parent, 8) == 0);
		CHECK(tp.flags == flags && tp.version == version);
		tw_hex_encode(hex, tp.trace_id, 16);
		CHECK(memcmp(hex, v + 3, 32) == 0);
		tw_hex_encode(hex, tp.parent_id, 8);
		CHECK(memcmp(hex, v + 36, 16) == 0);
	}
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	fuzz_tracestate(data, size);
	fuzz_traceparent(data, size);
	return 0;
}
