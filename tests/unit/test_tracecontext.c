// SPDX-License-Identifier: BSD-2-Clause
/*
 * Conformance of the shared W3C Trace Context rules (include/tw_tracecontext.h),
 * the code the kernel runs: the tracestate filter against a table written
 * from the level 2 spec (spec/20-http_request_header_format.md) and the
 * official test suite's test_tracestate_* cases, and the traceparent parser
 * called directly (test_tracectx.c covers it through the correlator's API).
 *
 * Every case runs over heap copies without terminators and into a heap
 * output of exactly TW_TRACESTATE_MAX bytes, so that valgrind catches a read
 * past a field or a write past the output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tw_tracecontext.h"

/* ---- strings the table is built from ------------------------------------- */

/* Long keys and values live in one arena (no leaks to report). */
static char arena[1 << 16];
static size_t arena_used;

static char *arena_take(size_t n)
{
	char *p;

	assert_true(arena_used + n + 1 <= sizeof(arena));
	p = arena + arena_used;
	arena_used += n + 1;
	p[n] = '\0';
	return p;
}

/* Concatenation of NULL-terminated pieces; a piece "\x01<c><count>" is
 * <count> (decimal) times <c>. */
static const char *S(const char *first, ...)
{
	char tmp[8192];
	size_t n = 0;
	va_list ap;
	char *p;

	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *)) {
		if (s[0] == '\x01') {
			long k = strtol(s + 2, NULL, 10);

			assert_true(n + (size_t)k < sizeof(tmp));
			memset(tmp + n, s[1], (size_t)k);
			n += (size_t)k;
		} else {
			size_t l = strlen(s);

			assert_true(n + l < sizeof(tmp));
			memcpy(tmp + n, s, l);
			n += l;
		}
	}
	va_end(ap);
	p = arena_take(n);
	memcpy(p, tmp, n);
	return p;
}

/* "bar01=01,...": members first..last */
static const char *bars(int first, int last)
{
	char tmp[1024];
	size_t n = 0;
	char *p;

	for (int i = first; i <= last; i++)
		n += (size_t)snprintf(tmp + n, sizeof(tmp) - n, "%sbar%02d=%02d",
				      i == first ? "" : ",", i, i);
	p = arena_take(n);
	memcpy(p, tmp, n);
	return p;
}

/* ---- the table ------------------------------------------------------------ */

#define MAX_FIELDS 6

struct field {
	const char *p;
	size_t n;
};

struct tcase {
	const char *name;
	int nf;
	struct field f[MAX_FIELDS];
	const char *want; /* normalised list; "" when invalid or empty */
};

/* field of a literal (may hold NUL bytes) */
#define L(s) { (s), sizeof(s) - 1 }

static struct tcase cases[128];
static int ncases;

static void add(const char *name, const char *want, int nf, ...)
{
	struct tcase *c;
	va_list ap;

	assert_true(ncases < (int)(sizeof(cases) / sizeof(cases[0])));
	assert_true(nf <= MAX_FIELDS);
	c = &cases[ncases++];
	c->name = name;
	c->want = want;
	c->nf = nf;
	va_start(ap, nf);
	for (int i = 0; i < nf; i++) {
		c->f[i].p = va_arg(ap, const char *);
		c->f[i].n = strlen(c->f[i].p);
	}
	va_end(ap);
}

/* one field given with its length (NUL bytes) */
static void add_raw(const char *name, const char *want, struct field f)
{
	assert_true(ncases < (int)(sizeof(cases) / sizeof(cases[0])));
	cases[ncases].name = name;
	cases[ncases].want = want;
	cases[ncases].nf = 1;
	cases[ncases].f[0] = f;
	ncases++;
}

#define INVALID ""

static void build_table(void)
{
	const char *key_plain = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
	const char *key_vendor;
	char value_all[128];
	size_t nv = 0;
	const char *m100[6], *m128, *m125, *big500;

	for (int c = 0x20; c <= 0x7e; c++)
		if (c != ',' && c != '=')
			value_all[nv++] = (char)c;
	value_all[nv] = '\0';
	assert_int_equal(nv, 93);
	assert_int_equal(value_all[0], ' ');

	arena_used = 0;
	ncases = 0;
	key_vendor = S(key_plain, "@a-z0-9_-*/", NULL);

	/* -- test_tracestate_included_traceparent_included, _header_name_valid_casing */
	add("single", "foo=1", 1, "foo=1");
	add("two members", "foo=1,bar=2", 1, "foo=1,bar=2");
	add("spec example", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 1,
	    "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");

	/* -- test_tracestate_multiple_headers_different_keys: fields in order */
	add("three fields", "foo=1,bar=2,rojo=1,congo=2,baz=3", 3, "foo=1,bar=2", "rojo=1,congo=2",
	    "baz=3");

	/* -- test_tracestate_empty_header */
	add("empty field", "", 1, "");
	add("no field", "", 0);
	add("empty field last", "foo=1", 2, "foo=1", "");
	add("empty field first", "foo=1", 2, "", "foo=1");
	add("empty field between", "foo=1,bar=2", 3, "foo=1", "", "bar=2");
	add("whitespace-only fields", "", 3, " ", "\t", " \t ");
	add("empty members", "foo=1,bar=2", 1, ",,foo=1,, ,\t,bar=2,,");
	add("only commas and OWS", "", 1, " , \t, ,");
	add("field ending in ','", "foo=1,bar=2", 2, "foo=1,", "bar=2");
	add("field starting with ','", "foo=1,bar=2", 2, "foo=1", ",bar=2");

	/* -- test_tracestate_duplicated_keys: kept as they are */
	add("duplicated keys", "foo=1,foo=2", 1, "foo=1,foo=2");
	add("duplicated keys over fields", "foo=1,foo=1", 2, "foo=1", "foo=1");

	/* -- test_tracestate_all_allowed_characters */
	add("all key chars, all value chars", S(key_plain, "=", value_all, NULL), 1,
	    S(key_plain, "=", value_all, NULL));
	add("all key chars with '@', all value chars", S(key_vendor, "=", value_all, NULL), 1,
	    S(key_vendor, "=", value_all, NULL));
	add("key starting with a digit", "0foo=1,9=2", 1, "0foo=1,9=2");

	/* -- test_tracestate_ows_handling */
	add("OWS around members", "foo=1,bar=2,baz=3", 1, "foo=1 \t , \t bar=2, \t baz=3");
	add("tabs around members", "foo=1,bar=2,baz=3", 1, "foo=1\t \t,\t \tbar=2,\t \tbaz=3");
	add("leading SP", "foo=1", 1, " foo=1");
	add("leading HTAB", "foo=1", 1, "\tfoo=1");
	add("trailing SP", "foo=1", 1, "foo=1 ");
	add("trailing HTAB", "foo=1", 1, "foo=1\t");
	add("OWS both sides", "foo=1", 1, "\t foo=1 \t");
	add("OWS at field ends", "foo=1,bar=2", 2, "foo=1 ", " bar=2");
	add("value: leading spaces kept", "foo= 1", 1, "foo= 1");
	add("value: inner spaces kept, trailing dropped", "foo=  a b", 1, "foo=  a b  ");
	add("value: trailing SP then HTAB", "foo=a,bar=2", 1, "foo=a \t ,bar=2");
	add("value: HTAB then OWS", "foo=a,bar=2", 1, "foo=a\t ,bar=2");

	/* -- tabs and OWS where they are not OWS */
	add("HTAB inside a value", INVALID, 1, "foo=a\tb");
	add("SP HTAB inside a value", INVALID, 1, "foo=a \tb");
	add("HTAB SP inside a value", INVALID, 1, "foo=a\t b,bar=2");
	add("HTAB as the value", INVALID, 1, "foo=\t1");
	add("spaces only as the value", INVALID, 1, "foo= ,bar=3");
	add("SP before '='", INVALID, 1, "foo =1");
	add("SP inside a key", INVALID, 1, "fo o=1");

	/* -- test_tracestate_value_illegal_characters */
	add("'=' in a value", INVALID, 1, "foo=bar=baz");
	add("empty value drops the others", INVALID, 1, "foo=,bar=3");
	add("empty value at the end", INVALID, 1, "foo=1,bar=");
	add("',' in a value splits it", INVALID, 1, "foo=a,b");

	/* -- header injection and bytes outside the grammar */
	add("bare CR in a value", INVALID, 1, "foo=a\rb");
	add("bare CR after a value", INVALID, 1, "foo=1\r,bar=2");
	add("CRLF and a header", INVALID, 1, "foo=1\r\nx-evil: 1");
	add("LF in a value", INVALID, 1, "foo=a\nb");
	add("LF between members", INVALID, 1, "foo=1,\nbar=2");
	add_raw("NUL in a value", INVALID, (struct field)L("foo=a\0b"));
	add_raw("NUL after a member", INVALID, (struct field)L("foo=1,\0"));
	add("DEL in a value", INVALID, 1, "foo=a\x7f" "b");
	add("0x80 in a value", INVALID, 1, "foo=a\x80");
	add("UTF-8 in a value", INVALID, 1, "foo=caf\xc3\xa9");
	add("0xff in a key", INVALID, 1, "fo\xff=1");
	add("VT in a value", INVALID, 1, "foo=a\x0b" "b");
	add("invalid member in a later field", INVALID, 3, "foo=1", "bar=2", "baz=\r");

	/* -- test_tracestate_key_illegal_characters */
	add("uppercase key", INVALID, 1, "FOO=1");
	add("one uppercase key char", INVALID, 2, "bar=1", "fOo=1");
	add("'.' in a key", INVALID, 1, "foo.bar=1");
	add("key without '='", INVALID, 1, "foo");
	add("key without '=' at a field end", INVALID, 2, "foo", "=1");
	add("empty key", INVALID, 1, "=1");
	add("key starting with '_'", INVALID, 1, "_foo=1");
	add("key starting with '*'", INVALID, 1, "*=1");

	/* -- test_tracestate_key_illegal_vendor_format */
	add("'@' last in a key", "foo@=1,bar=2", 1, "foo@=1,bar=2");
	add("'@' first in a key", INVALID, 1, "@foo=1,bar=2");
	add("'@@' in a key", "foo@@bar=1,bar=2", 1, "foo@@bar=1,bar=2");
	add("two '@' in a key", "foo@bar@baz=1,bar=2", 1, "foo@bar@baz=1,bar=2");

	/* -- test_tracestate_key_length_limit */
	add("key of 256", S("foo=1,", "\x01z256", "=1", NULL), 2, "foo=1", S("\x01z256", "=1", NULL));
	add("key of 257 drops the other field", INVALID, 2, "foo=1", S("\x01z257", "=1", NULL));
	add("tenant 241 @ system 14", S("foo=1,", "\x01t241", "@", "\x01v14", "=1", NULL), 2,
	    "foo=1", S("\x01t241", "@", "\x01v14", "=1", NULL));
	add("tenant 242 @ system 1", S("foo=1,", "\x01t242", "@v=1", NULL), 2, "foo=1",
	    S("\x01t242", "@v=1", NULL));
	add("tenant 1 @ system 15", S("foo=1,", "t@", "\x01v15", "=1", NULL), 2, "foo=1",
	    S("t@", "\x01v15", "=1", NULL));
	add("tenant 242 @ system 14: 257", INVALID, 1, S("\x01t242", "@", "\x01v14", "=1", NULL));

	/* -- value lengths */
	add("value of 256", S("k=", "\x01v256", NULL), 1, S("k=", "\x01v256", NULL));
	add("value of 257", INVALID, 1, S("k=", "\x01v257", NULL));
	add("value of 256 and trailing OWS", S("k=", "\x01v256", ",b=1", NULL), 1,
	    S("k=", "\x01v256", "\x01 300", "\t ,b=1", NULL));
	add("value of 255 leading spaces and a char", S("k=", "\x01 255", "x", NULL), 1,
	    S("k=", "\x01 255", "x", NULL));
	add("value of 256 leading spaces and a char", INVALID, 1, S("k=", "\x01 256", "x", NULL));
	add("value 256 + ' x'", INVALID, 1, S("k=", "\x01v256", " x", NULL));

	/* -- test_tracestate_member_count_limit: 32 and 33 over 4 fields */
	add("32 members over 4 fields", bars(1, 32), 4, bars(1, 10), bars(11, 20), bars(21, 30),
	    bars(31, 32));
	add("33 members over 4 fields", INVALID, 4, bars(1, 10), bars(11, 20), bars(21, 30),
	    bars(31, 33));
	add("32 members and empty ones", bars(1, 32), 5, S(",", bars(1, 10), ", ,", NULL), "",
	    S(bars(11, 20), ",,", NULL), S(" ,", bars(21, 30), NULL), S(bars(31, 32), ", \t", NULL));
	add("33rd member invalid anyway", INVALID, 2, bars(1, 32), "x=\r");

	/* -- 512: whole members from the end (members of 100 bytes) */
	for (int i = 0; i < 6; i++)
		m100[i] = S((const char[]){ (char)('a' + i), '\0' }, "=", "\x01v98", NULL);
	add("605 bytes keep 5 whole members (504)",
	    S(m100[0], ",", m100[1], ",", m100[2], ",", m100[3], ",", m100[4], NULL), 1,
	    S(m100[0], ",", m100[1], ",", m100[2], ",", m100[3], ",", m100[4], ",", m100[5], NULL));
	add("605 bytes over 6 fields", S(m100[0], ",", m100[1], ",", m100[2], ",", m100[3], ",",
					 m100[4], NULL),
	    6, m100[0], m100[1], m100[2], m100[3], m100[4], m100[5]);
	m128 = S("k=", "\x01v126", NULL);
	m125 = S("k=", "\x01v123", NULL);
	add("exactly 512 kept",
	    S(m128, ",", m128, ",", m128, ",", m125, NULL), 1,
	    S(m128, ",", m128, ",", m128, ",", m125, NULL));
	add("512 and one more member",
	    S(m128, ",", m128, ",", m128, ",", m125, NULL), 1,
	    S(m128, ",", m128, ",", m128, ",", m125, ",a=1", NULL));
	add("no later member after a cut", S(m128, ",", m128, ",", m128, NULL), 1,
	    S(m128, ",", m128, ",", m128, ",", m128, ",a=1", NULL));
	add("cut, then an invalid member", INVALID, 1,
	    S(m128, ",", m128, ",", m128, ",", m128, ",a=1,B=2", NULL));
	add("cut, then 33 members", INVALID, 2, S(m128, ",", m128, ",", m128, ",", m128, NULL),
	    bars(1, 29));
	add("a first member of 513: valid, nothing fits", "", 1,
	    S("\x01k256", "=", "\x01v256", ",a=1", NULL));
	big500 = S("\x01k250", "=", "\x01v249", NULL);
	add("trailing spaces past 512 taken back", S(big500, ",b=1", NULL), 1,
	    S(big500, "\x01 30", ",b=1", NULL));
	add("inner spaces past 512: member cut", big500, 1,
	    S(big500, ",c=", "\x01 20", "x,d=1", NULL));
	add("member ends at 512 with trailing OWS", S(big500, ",c=", "\x01v9", NULL), 1,
	    S(big500, ",c=", "\x01v9", "\x01 40", NULL));
	add("member one byte too long", big500, 1, S(big500, ",c=", "\x01v10", NULL));
}

/* ---- running a case ------------------------------------------------------ */

static bool allowed_out(__u8 c)
{
	return (c >= 0x20 && c <= 0x7e); /* value chars, key chars, '=', ',' */
}

/* Output only of key chars, '=', value chars and ',', and no OWS around a
 * member: what the next hop's request gets can never carry CR, LF, HTAB. */
static void check_shape(const __u8 *out, __u32 n)
{
	assert_true(n <= TW_TRACESTATE_MAX);
	for (__u32 i = 0; i < n; i++)
		assert_true(allowed_out(out[i]));
	if (n) {
		assert_true(out[0] != ',' && out[0] != ' ');
		assert_true(out[n - 1] != ',' && out[n - 1] != ' ');
	}
}

static __u32 run_fields(const struct field *f, int nf, __u8 *out)
{
	const char *ptrs[MAX_FIELDS + 1] = { 0 };
	__u32 lens[MAX_FIELDS + 1] = { 0 };
	char *copies[MAX_FIELDS + 1] = { 0 };
	__u32 n;

	for (int i = 0; i < nf; i++) {
		copies[i] = malloc(f[i].n ? f[i].n : 1);
		assert_non_null(copies[i]);
		memcpy(copies[i], f[i].p, f[i].n);
		ptrs[i] = copies[i];
		lens[i] = (__u32)f[i].n;
	}
	n = tw_tracestate_normalize(ptrs, lens, nf, out);
	for (int i = 0; i < nf; i++)
		free(copies[i]);
	return n;
}

static void expect_case(const struct tcase *c)
{
	__u8 *out = malloc(TW_TRACESTATE_MAX);
	size_t wn = strlen(c->want);
	__u32 n;

	assert_non_null(out);
	n = run_fields(c->f, c->nf, out);
	if (n != wn || memcmp(out, c->want, wn) != 0) {
		print_error("case '%s': got %u bytes '%.*s', want %zu bytes '%s'\n", c->name, n,
			    (int)n, (const char *)out, wn, c->want);
		free(out);
		fail();
	}
	check_shape(out, n);

	/* the output is a fixed point */
	if (n) {
		__u8 *again = malloc(TW_TRACESTATE_MAX);
		struct field f = { (const char *)out, n };

		assert_non_null(again);
		assert_int_equal(run_fields(&f, 1, again), n);
		assert_memory_equal(again, out, n);
		free(again);
	}
	free(out);
}

static int setup_table(void **state)
{
	(void)state;
	build_table();
	return 0;
}

static void tracestate_table(void **state)
{
	(void)state;
	assert_true(ncases >= 40);
	for (int i = 0; i < ncases; i++)
		expect_case(&cases[i]);
	print_message("tracestate: %d table cases\n", ncases);
}

/* Each multi-member single-field case again with every ',' turned into a
 * field boundary: fields combine as if joined by ','. */
static void tracestate_split_at_commas(void **state)
{
	(void)state;
	for (int i = 0; i < ncases; i++) {
		const struct tcase *c = &cases[i];
		struct field parts[64];
		int np = 0;
		size_t start = 0;
		__u8 *out;
		__u32 n;

		if (c->nf != 1)
			continue;
		for (size_t j = 0; j <= c->f[0].n; j++) {
			if (j == c->f[0].n || c->f[0].p[j] == ',') {
				if (np == MAX_FIELDS)
					break;
				parts[np].p = c->f[0].p + start;
				parts[np].n = j - start;
				np++;
				start = j + 1;
			}
		}
		if (np < 2 || np > MAX_FIELDS || start <= c->f[0].n)
			continue;
		out = malloc(TW_TRACESTATE_MAX);
		assert_non_null(out);
		n = run_fields(parts, np, out);
		if (n != strlen(c->want) || memcmp(out, c->want, n) != 0) {
			print_error("case '%s' split at ',': got '%.*s'\n", c->name, (int)n,
				    (const char *)out);
			free(out);
			fail();
		}
		free(out);
	}
}

/* The filter one byte at a time by hand, the way the kernel drives it from
 * a bpf_loop callback: same result as tw_tracestate_normalize. */
static void tracestate_bytewise(void **state)
{
	static const char *const f[] = { " foo=1 , bar= 2\t", "", ",baz=3" };
	struct tw_ts_filter ts;
	__u8 out[TW_TRACESTATE_MAX];
	__u32 n;

	(void)state;
	assert_int_equal(sizeof(struct tw_ts_filter), 16);
	memset(&ts, 0xa5, sizeof(ts));
	tw_ts_begin(&ts);
	for (size_t i = 0; i < 3; i++) {
		for (size_t j = 0; f[i][j]; j++)
			tw_ts_byte(&ts, (__u8)f[i][j], out);
		tw_ts_field_end(&ts, out);
	}
	n = tw_ts_finish(&ts, out);
	assert_int_equal(n, strlen("foo=1,bar= 2,baz=3"));
	assert_memory_equal(out, "foo=1,bar= 2,baz=3", n);
	/* finish is idempotent, a field end more changes nothing */
	tw_ts_field_end(&ts, out);
	assert_int_equal(tw_ts_finish(&ts, out), n);

	/* finish ends a field left open */
	tw_ts_begin(&ts);
	for (const char *p = "a=1,b=2 "; *p; p++)
		tw_ts_byte(&ts, (__u8)*p, out);
	assert_int_equal(tw_ts_finish(&ts, out), 7);
	assert_memory_equal(out, "a=1,b=2", 7);

	assert_false(tw_ts_invalid(&ts));
	/* begin resets an invalid filter */
	tw_ts_byte(&ts, '\r', out);
	assert_int_equal(tw_ts_finish(&ts, out), 0);
	assert_true(tw_ts_invalid(&ts));
	tw_ts_begin(&ts);
	tw_ts_byte(&ts, 'x', out);
	tw_ts_byte(&ts, '=', out);
	tw_ts_byte(&ts, 'y', out);
	assert_int_equal(tw_ts_finish(&ts, out), 3);
	assert_memory_equal(out, "x=y", 3);
	assert_false(tw_ts_invalid(&ts));

	/* valid and empty is not invalid */
	tw_ts_begin(&ts);
	tw_ts_byte(&ts, ' ', out);
	tw_ts_byte(&ts, ',', out);
	assert_int_equal(tw_ts_finish(&ts, out), 0);
	assert_false(tw_ts_invalid(&ts));
}

/* Every single byte value as a whole value, after '=': only nblk-chr keep
 * the tracestate; as a key's first byte: only lcalpha and DIGIT. */
static void tracestate_every_byte(void **state)
{
	__u8 out[TW_TRACESTATE_MAX];

	(void)state;
	for (int b = 0; b < 256; b++) {
		char v[] = { 'k', '=', (char)b, ',', 'z', '=', '1' };
		char k[] = { (char)b, '=', '1' };
		const char *pv = v, *pk = k;
		__u32 lv = sizeof(v), lk = sizeof(k), n;
		bool nblk = (b >= 0x21 && b <= 0x7e && b != ',' && b != '=');
		bool first = (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9');

		n = tw_tracestate_normalize(&pv, &lv, 1, out);
		if (nblk) {
			assert_int_equal(n, 7);
			assert_memory_equal(out, v, 7);
		} else {
			/* ' ', '\t' and ',' leave an empty value: invalid too */
			assert_int_equal(n, 0);
		}
		n = tw_tracestate_normalize(&pk, &lk, 1, out);
		if (first) {
			assert_int_equal(n, 3);
			assert_memory_equal(out, k, 3);
		} else {
			/* OWS or ',' first: still a key missing before "=1" */
			assert_int_equal(n, 0);
		}
	}
}

/* ---- traceparent, the shared parser itself --------------------------------- */

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define PARENT "00f067aa0ba902b7"

static bool tp_parse(const char *s, struct tw_traceparent *tp)
{
	size_t n = strlen(s);
	__u8 *copy = malloc(n ? n : 1);
	bool ok;

	assert_non_null(copy);
	memcpy(copy, s, n);
	ok = tw_traceparent_parse(copy, (__u32)n, tp);
	free(copy);
	return ok;
}

static void traceparent_shared(void **state)
{
	static const __u8 trace[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
					0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
	static const __u8 parent[8] = { 0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7 };
	struct tw_traceparent tp;
	__u8 hex[2 * 16];

	(void)state;
	assert_int_equal(sizeof(struct tw_traceparent), 26);
	assert_true(tp_parse("00-" TRACE "-" PARENT "-03", &tp));
	assert_memory_equal(tp.trace_id, trace, 16);
	assert_memory_equal(tp.parent_id, parent, 8);
	assert_int_equal(tp.flags, 3);
	assert_int_equal(tp.version, 0);
	assert_true(tp_parse("cc-" TRACE "-" PARENT "-01-what-the-future-holds", &tp));
	assert_int_equal(tp.version, 0xcc);
	assert_false(tp_parse("00-" TRACE "-" PARENT "-01-", &tp));
	assert_false(tp_parse("cc-" TRACE "-" PARENT "-01.", &tp));
	assert_false(tp_parse("ff-" TRACE "-" PARENT "-01", &tp));
	assert_false(tp_parse("00-" TRACE "-" PARENT "-0A", &tp));
	assert_false(tp_parse("00-00000000000000000000000000000000-" PARENT "-01", &tp));
	assert_false(tp_parse("00-" TRACE "-0000000000000000-01", &tp));
	assert_false(tp_parse("00-" TRACE "-" PARENT "-1", &tp));

	tw_hex_encode(hex, trace, 16);
	assert_memory_equal(hex, TRACE, 32);
	tw_hex_encode(hex, parent, 8);
	assert_memory_equal(hex, PARENT, 16);
	assert_true(tw_id_zero((const __u8[4]){ 0 }, 4));
	assert_false(tw_id_zero((const __u8[4]){ 0, 0, 0, 1 }, 4));
	for (int c = 0; c < 256; c++) {
		int want = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;

		assert_int_equal(tw_hex_nibble((__u8)c), want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tracestate_table),
		cmocka_unit_test(tracestate_split_at_commas),
		cmocka_unit_test(tracestate_bytewise),
		cmocka_unit_test(tracestate_every_byte),
		cmocka_unit_test(traceparent_shared),
	};

	return cmocka_run_group_tests(tests, setup_table, NULL);
}
