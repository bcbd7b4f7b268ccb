// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for traceparent parsing (correlator/tracectx.c): the kernel's
 * parser (include/tw_tracecontext.h), W3C Trace Context level 2. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tracectx.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define PARENT "00f067aa0ba902b7"
#define VALID(flags) "00-" TRACE "-" PARENT "-" flags

static const uint8_t trace_bytes[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
					 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
static const uint8_t parent_bytes[8] = { 0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7 };

/* Parses exactly strlen(s) bytes from a heap copy without a terminator, so
 * valgrind catches a read past len. */
static int parse(const char *s, struct tw_traceparent_val *out)
{
	size_t n = strlen(s);
	char *copy = malloc(n ? n : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, s, n);
	rc = tw_traceparent_parse_str(copy, n, out);
	free(copy);
	return rc;
}

static void expect_valid(const char *s, uint8_t version, uint8_t flags)
{
	struct tw_traceparent_val tp;

	memset(&tp, 0xee, sizeof(tp));
	assert_int_equal(parse(s, &tp), 0);
	assert_memory_equal(tp.trace_id, trace_bytes, sizeof(trace_bytes));
	assert_memory_equal(tp.parent_id, parent_bytes, sizeof(parent_bytes));
	assert_int_equal(tp.version, version);
	assert_int_equal(tp.flags, flags);
}

static void expect_invalid(const char *s)
{
	struct tw_traceparent_val tp;

	assert_int_equal(parse(s, &tp), -EINVAL);
}

static void test_valid_version_00(void **state)
{
	(void)state;
	assert_int_equal(strlen(VALID("01")), TW_TRACEPARENT_LEN);
	expect_valid(VALID("00"), 0, 0x00);
	expect_valid(VALID("01"), 0, 0x01);
	/* unknown flag bits are kept as sent (the random bit here) */
	expect_valid(VALID("03"), 0, 0x03);
	expect_valid(VALID("ff"), 0, 0xff);
}

static void test_uppercase_rejected(void **state)
{
	(void)state;
	expect_invalid("00-4BF92F3577B34DA6A3CE929D0E0E4736-" PARENT "-01");
	expect_invalid("00-" TRACE "-00F067AA0BA902B7-01");
	expect_invalid("00-" TRACE "-" PARENT "-0A");
	expect_invalid("0A-" TRACE "-" PARENT "-01");
	/* one uppercase digit is enough */
	expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e473F-" PARENT "-01");
}

static void test_lengths(void **state)
{
	(void)state;
	expect_invalid("");
	expect_invalid("00");
	expect_invalid(VALID("0"));                    /* 54 */
	expect_invalid("00-" TRACE "-" PARENT "-01-"); /* 56: version 00 is exact */
	expect_invalid(VALID("01") "x");
	expect_invalid(VALID("01") "-abc");
	expect_invalid(" " VALID("01"));               /* OWS is the caller's */
}

static void test_all_zero_ids(void **state)
{
	(void)state;
	expect_invalid("00-00000000000000000000000000000000-" PARENT "-01");
	expect_invalid("00-" TRACE "-0000000000000000-01");
	expect_invalid("00-00000000000000000000000000000000-0000000000000000-01");
	/* one non-zero nibble anywhere makes an id */
	{
		struct tw_traceparent_val tp;

		assert_int_equal(parse("00-00000000000000000000000000000001-0000000000000100-01",
				       &tp), 0);
		assert_int_equal(tp.trace_id[15], 1);
		assert_int_equal(tp.parent_id[6], 1);
	}
}

static void test_versions(void **state)
{
	(void)state;
	expect_invalid("ff-" TRACE "-" PARENT "-01");
	expect_invalid("ff-" TRACE "-" PARENT "-01-abc");
	/* a later version is read by its version-00 prefix */
	expect_valid("01-" TRACE "-" PARENT "-01", 1, 0x01);
	expect_valid("01-" TRACE "-" PARENT "-01-abc", 1, 0x01);
	expect_valid("fe-" TRACE "-" PARENT "-00-", 0xfe, 0x00);
	/* ... and must continue with '-' when longer */
	expect_invalid("01-" TRACE "-" PARENT "-01abc");
	expect_invalid("01-" TRACE "-" PARENT "-01_abc");
	/* still 55 at least, still lowercase hex */
	expect_invalid("01-" TRACE "-" PARENT "-1");
	expect_invalid("0g-" TRACE "-" PARENT "-01");
	expect_invalid("1-" TRACE "-" PARENT "-01-x");
}

static void test_separators(void **state)
{
	char s[] = VALID("01");
	static const size_t seps[] = { 2, 35, 52 };

	(void)state;
	expect_invalid("00_" TRACE "-" PARENT "-01");
	expect_invalid("00-" TRACE "_" PARENT "-01");
	expect_invalid("00-" TRACE "-" PARENT "_01");
	/* shifted fields: right length, separators in the wrong places */
	expect_invalid("00-" TRACE "0-" PARENT "-1");
	expect_invalid("00--" TRACE PARENT "-01");
	for (size_t i = 0; i < sizeof(seps) / sizeof(seps[0]); i++) {
		s[seps[i]] = 'a';
		expect_invalid(s);
		s[seps[i]] = '-';
	}
	expect_valid(s, 0, 0x01);
}

/* Every position of a valid value holding a non-hex byte: rejected. */
static void test_non_hex(void **state)
{
	char s[] = VALID("01");
	static const char bad[] = { 'g', 'x', 'G', ' ', '-', '\0', '\xff', ':' };

	(void)state;
	for (size_t i = 0; i < TW_TRACEPARENT_LEN; i++) {
		if (i == 2 || i == 35 || i == 52)
			continue;
		for (size_t b = 0; b < sizeof(bad); b++) {
			struct tw_traceparent_val tp;
			char save = s[i];

			s[i] = bad[b];
			assert_int_equal(tw_traceparent_parse_str(s, TW_TRACEPARENT_LEN, &tp), -EINVAL);
			s[i] = save;
		}
	}
	expect_valid(s, 0, 0x01);
}

static void test_null_args(void **state)
{
	struct tw_traceparent_val tp;

	(void)state;
	assert_int_equal(tw_traceparent_parse_str(NULL, 55, &tp), -EINVAL);
	assert_int_equal(tw_traceparent_parse_str(VALID("01"), TW_TRACEPARENT_LEN, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_version_00),
		cmocka_unit_test(test_uppercase_rejected),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_all_zero_ids),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_separators),
		cmocka_unit_test(test_non_hex),
		cmocka_unit_test(test_null_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
