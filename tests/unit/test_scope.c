// SPDX-License-Identifier: BSD-2-Clause
/* Propagation scope (CIDRs, LPM keys) and the sampling ratio's parse and threshold. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "log.h"
#include "scope.h"

static void assert_cidr(const char *s, int family, unsigned prefixlen, const char *formatted)
{
	struct tw_cidr c;
	char buf[TW_CIDR_STRLEN];

	assert_int_equal(tw_cidr_parse(s, &c), 0);
	assert_int_equal(c.family, family);
	assert_int_equal(c.prefixlen, prefixlen);
	tw_cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, formatted);
}

static void cidr_valid_forms(void **state)
{
	(void)state;
	assert_cidr("10.0.0.0/8", AF_INET, 8, "10.0.0.0/8");
	assert_cidr("192.168.1.7", AF_INET, 32, "192.168.1.7/32");
	assert_cidr("192.168.1.7/32", AF_INET, 32, "192.168.1.7/32");
	assert_cidr("0.0.0.0/0", AF_INET, 0, "0.0.0.0/0");
	assert_cidr("172.16.0.0/12", AF_INET, 12, "172.16.0.0/12");
	assert_cidr("fc00::/7", AF_INET6, 7, "fc00::/7");
	assert_cidr("::1", AF_INET6, 128, "::1/128");
	assert_cidr("2001:db8::/32", AF_INET6, 32, "2001:db8::/32");
	assert_cidr("2001:DB8:0:0:0:0:0:1/128", AF_INET6, 128, "2001:db8::1/128");
	assert_cidr("::/0", AF_INET6, 0, "::/0");
	assert_cidr("::ffff:10.0.0.0/104", AF_INET6, 104, "::ffff:10.0.0.0/104");
}

static void cidr_invalid_forms(void **state)
{
	static const char *const bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0/8", "10.0.0.0.0", "10.0.0.256/32", "010.0.0.0/8",
		"10.0.0.0/8x", "10.0.0.0/+8", "10.0.0.0/-1", "10.0.0.0/ 8", " 10.0.0.0/8",
		"10.0.0.0/8/8", "10.0.0.0/0008", "example.com", "fe80::1%eth0", "fc00::/",
		"fc00:::/7", "1:2:3:4:5:6:7:8:9", "g::/16", "10.0.0.0/8 ",
	};
	struct tw_cidr c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tw_cidr_parse(bad[i], &c) != -EINVAL)
			fail_msg("'%s' was not rejected as malformed", bad[i]);
	}
	assert_int_equal(tw_cidr_parse("10.0.0.0/33", &c), -ERANGE);
	assert_int_equal(tw_cidr_parse("10.0.0.0/999", &c), -ERANGE);
	assert_int_equal(tw_cidr_parse("fc00::/129", &c), -ERANGE);
}

static void cidr_host_bits_are_refused(void **state)
{
	struct tw_cidr c;
	char buf[TW_CIDR_STRLEN];

	(void)state;
	assert_int_equal(tw_cidr_parse("10.1.2.3/8", &c), -EDOM);
	tw_cidr_network(&c);
	tw_cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.0/8");
	/* the bit just past the prefix counts, the last prefix bit does not */
	assert_int_equal(tw_cidr_parse("172.24.0.0/12", &c), -EDOM);
	assert_int_equal(tw_cidr_parse("172.31.0.0/12", &c), -EDOM);
	assert_int_equal(tw_cidr_parse("172.16.0.0/12", &c), 0);
	assert_int_equal(tw_cidr_parse("0.0.0.1/0", &c), -EDOM);
	assert_int_equal(tw_cidr_parse("fd00::/7", &c), -EDOM);
	tw_cidr_network(&c);
	tw_cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "fc00::/7");
	assert_int_equal(tw_cidr_parse("2001:db8::1/64", &c), -EDOM);
	assert_int_equal(tw_cidr_parse("2001:db8::1/127", &c), -EDOM);
	assert_int_equal(tw_cidr_parse("2001:db8::1/128", &c), 0);
}

static void keys_map_ipv4_into_ipv6(void **state)
{
	static const uint8_t v4[16] = { [10] = 0xff, [11] = 0xff, 192, 168, 0, 0 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	struct tw_scope_key key;
	struct tw_cidr c;

	(void)state;
	assert_int_equal(tw_cidr_parse("192.168.0.0/16", &c), 0);
	tw_cidr_to_key(&c, &key);
	assert_int_equal(key.prefixlen, 16 + 96);
	assert_memory_equal(key.addr, v4, 16);
	assert_int_equal(tw_cidr_parse("192.168.0.0", &c), 0);
	tw_cidr_to_key(&c, &key);
	assert_int_equal(key.prefixlen, 128);
	assert_int_equal(tw_cidr_parse("0.0.0.0/0", &c), 0);
	tw_cidr_to_key(&c, &key);
	assert_int_equal(key.prefixlen, 96);
	assert_int_equal(key.addr[11], 0xff);
	assert_int_equal(tw_cidr_parse("2001:db8::/32", &c), 0);
	tw_cidr_to_key(&c, &key);
	assert_int_equal(key.prefixlen, 32);
	assert_memory_equal(key.addr, v6, 16);
}

static void default_scope_is_well_formed(void **state)
{
	size_t n;
	const struct tw_cidr *def = tw_scope_default(&n);
	struct tw_cidr c;
	char buf[TW_CIDR_STRLEN];

	(void)state;
	assert_int_equal(n, 8);
	/* each default entry survives a round trip through the parser, so none
	 * has host bits set or a wrong family */
	for (size_t i = 0; i < n; i++) {
		tw_cidr_format(&def[i], buf, sizeof(buf));
		assert_int_equal(tw_cidr_parse(buf, &c), 0);
		assert_memory_equal(&c, &def[i], sizeof(c));
	}
}

static void ratio_parse(void **state)
{
	static const char *const bad[] = {
		"", "1.5", "-0.1", "abc", "2", "1.01", "1.0000000000000000000001", "+0.5", ".5", "0.",
		"1.", "0,5", "1e-1", "0x1", "nan", "inf", " 0.5", "0.5 ", "00.5", "0.5x", "10",
	};
	double r;

	(void)state;
	assert_int_equal(tw_parse_ratio("1", &r), 0);
	assert_true(r == 1.0);
	assert_int_equal(tw_parse_ratio("1.0", &r), 0);
	assert_true(r == 1.0);
	assert_int_equal(tw_parse_ratio("1.000", &r), 0);
	assert_true(r == 1.0);
	assert_int_equal(tw_parse_ratio("0", &r), 0);
	assert_true(r == 0.0);
	assert_int_equal(tw_parse_ratio("0.0", &r), 0);
	assert_true(r == 0.0);
	assert_int_equal(tw_parse_ratio("0.25", &r), 0);
	assert_true(r == 0.25);
	assert_int_equal(tw_parse_ratio("0.1", &r), 0);
	assert_true(r > 0.0999999 && r < 0.1000001);
	/* more digits than a double holds: still a valid ratio */
	assert_int_equal(tw_parse_ratio("0.123456789012345678901234", &r), 0);
	assert_true(r > 0.1234567 && r < 0.1234568);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tw_parse_ratio(bad[i], &r) != -EINVAL)
			fail_msg("ratio '%s' was not rejected", bad[i]);
	}
}

static void sample_threshold(void **state)
{
	(void)state;
	/* sampled iff a u32 < threshold: 1 must pass every u32, 0 none */
	assert_true(tw_sample_threshold(1.0) == 1ull << 32);
	assert_true(tw_sample_threshold(1.0) > UINT32_MAX);
	assert_true(tw_sample_threshold(0.0) == 0);
	assert_true(tw_sample_threshold(0.5) == 1ull << 31);
	assert_true(tw_sample_threshold(0.25) == 1ull << 30);
	assert_true(tw_sample_threshold(0.1) == 429496730); /* 429496729.6 rounded */
	/* clamped, never wrapping */
	assert_true(tw_sample_threshold(-0.1) == 0);
	assert_true(tw_sample_threshold(1.5) == 1ull << 32);
	assert_true(tw_sample_threshold(0.9999999999999999) <= 1ull << 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cidr_valid_forms),
		cmocka_unit_test(cidr_invalid_forms),
		cmocka_unit_test(cidr_host_bits_are_refused),
		cmocka_unit_test(keys_map_ipv4_into_ipv6),
		cmocka_unit_test(default_scope_is_well_formed),
		cmocka_unit_test(ratio_parse),
		cmocka_unit_test(sample_threshold),
	};

	tw_log_set_level(TW_LOG_ERROR);
	return cmocka_run_group_tests_name("scope", tests, NULL, NULL);
}
