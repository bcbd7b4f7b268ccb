// SPDX-License-Identifier: BSD-2-Clause
/* Log lines: RFC 3339 UTC timestamps with milliseconds, the text format's
 * "tracewire: <level>: " kept after the time, JSON lines escaped whatever
 * the message holds, and --log-format on the command line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "utf8.h"

/* 2026-12-07T01:02:03Z */
#define T0 1796605323

static void timestamps_are_rfc3339_utc_millis(void **state)
{
	char buf[TW_LOG_TIME_LEN + 1];
	struct {
		struct timespec ts;
		const char *want;
	} cases[] = {
		{ { T0, 456789012 }, "2026-12-07T01:02:03.456Z" },
		/* milliseconds are cut, never rounded up into the next second */
		{ { T0, 999999999 }, "2026-12-07T01:02:03.999Z" },
		{ { T0, 0 }, "2026-12-07T01:02:03.000Z" },
		{ { T0, 1000000 }, "2026-12-07T01:02:03.001Z" },
		{ { 0, 0 }, "1970-01-01T00:00:00.000Z" },
		/* a leap day, and the last millisecond of a year */
		{ { 1709164800, 5000000 }, "2024-02-29T00:00:00.005Z" },
		{ { 1798761599, 999000000 }, "2026-12-31T23:59:59.999Z" },
	};

	(void)state;
	/* UTC whatever the local zone says */
	setenv("TZ", "America/New_York", 1);
	tzset();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 'x', sizeof(buf));
		tw_log_time(&cases[i].ts, buf);
		assert_string_equal(buf, cases[i].want);
		assert_int_equal(strlen(buf), TW_LOG_TIME_LEN);
	}
	unsetenv("TZ");
	tzset();
}

static void text_line_keeps_tracewire_level_prefix(void **state)
{
	struct timespec ts = { T0, 456000000 };
	size_t len;
	char *line;

	(void)state;
	line = tw_log_render(TW_LOG_TEXT, &ts, TW_LOG_WARN, "features: capture on", &len);
	assert_non_null(line);
	assert_string_equal(line, "2026-12-07T01:02:03.456Z tracewire: warn: features: capture on\n");
	assert_int_equal(len, strlen(line));
	free(line);
	line = tw_log_render(TW_LOG_TEXT, &ts, TW_LOG_DEBUG, "", &len);
	assert_string_equal(line, "2026-12-07T01:02:03.456Z tracewire: debug: \n");
	free(line);
}

static void json_line_escapes_everything(void **state)
{
	struct timespec ts = { T0, 456000000 };
	size_t len;
	char *line;

	(void)state;
	line = tw_log_render(TW_LOG_JSON, &ts, TW_LOG_INFO, "ready: 24 programs", &len);
	assert_string_equal(line, "{\"time\":\"2026-12-07T01:02:03.456Z\",\"level\":\"info\","
				  "\"msg\":\"ready: 24 programs\"}\n");
	assert_int_equal(len, strlen(line));
	free(line);

	/* quote, backslash, newline, tab, other controls, DEL; valid UTF-8
	 * (é, €) kept; a lone continuation byte, a cut sequence and 0xff
	 * each become U+FFFD */
	line = tw_log_render(TW_LOG_JSON, &ts, TW_LOG_ERROR,
			     "a\"b\\c\nd\te\x01\x1f\x7f \xc3\xa9\xe2\x82\xac \x80|\xe2\x82|\xff", &len);
	assert_string_equal(line, "{\"time\":\"2026-12-07T01:02:03.456Z\",\"level\":\"error\","
				  "\"msg\":\"a\\\"b\\\\c\\u000ad\\u0009e\\u0001\\u001f\\u007f "
				  "\xc3\xa9\xe2\x82\xac \xef\xbf\xbd|\xef\xbf\xbd|\xef\xbf\xbd\"}\n");
	assert_int_equal(len, strlen(line));
	assert_true(tw_utf8_valid(line, len));
	free(line);
}

/* A long message (libbpf's verifier log runs to many KiB) is one line whole. */
static void json_line_of_a_long_message(void **state)
{
	struct timespec ts = { T0, 0 };
	size_t n = 100000, len;
	char *msg = malloc(n + 1), *line;

	(void)state;
	for (size_t i = 0; i < n; i++)
		msg[i] = i % 100 == 99 ? '\n' : '"';
	msg[n] = '\0';
	line = tw_log_render(TW_LOG_JSON, &ts, TW_LOG_WARN, msg, &len);
	assert_non_null(line);
	assert_int_equal(len, strlen(line));
	/* 99 quotes -> 198 bytes, one newline -> 6, per 100 input bytes */
	assert_int_equal(len, strlen("{\"time\":\"2026-12-07T01:02:03.000Z\",\"level\":\"warn\","
				     "\"msg\":\"\"}\n") + (n / 100) * 204);
	assert_null(memchr(line, '\n', len - 1));
	assert_string_equal(line + len - 3, "\"}\n");
	free(line);
	free(msg);
}

/* What tw_log writes to stderr, through a pipe. */
static char *capture_log(enum tw_log_format format, const char *fmt, const char *arg)
{
	static char out[4096];
	int fds[2], saved = dup(2);
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	fflush(stderr);
	dup2(fds[1], 2);
	tw_log_set_format(format);
	tw_log(TW_LOG_WARN, fmt, arg);
	tw_log_set_format(TW_LOG_TEXT);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fds[1]);
	n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	assert_true(n > 0);
	out[n] = '\0';
	return out;
}

static void every_line_is_stamped(void **state)
{
	regex_t text, json;
	char *line;

	(void)state;
	assert_int_equal(regcomp(&text, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
					 "\\.[0-9]{3}Z tracewire: warn: opening x: No such file\n$",
				 REG_EXTENDED),
			 0);
	assert_int_equal(regcomp(&json, "^\\{\"time\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
					"[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z\",\"level\":\"warn\","
					"\"msg\":\"opening \\\\\"x\\\\\": gone\"\\}\n$",
				 REG_EXTENDED),
			 0);
	/* trailing newlines of a message are dropped, as before */
	line = capture_log(TW_LOG_TEXT, "opening %s: No such file\n\n", "x");
	assert_int_equal(regexec(&text, line, 0, NULL, 0), 0);
	line = capture_log(TW_LOG_JSON, "opening %s: gone\n", "\"x\"");
	assert_int_equal(regexec(&json, line, 0, NULL, 0), 0);
	regfree(&text);
	regfree(&json);
}

static int parse(struct tw_config *cfg, int argc, char **argv)
{
	int saved = dup(2), null = open("/dev/null", 1), err;

	/* the usage error goes to stderr: not into the test's output */
	dup2(null, 2);
	err = tw_config_parse(cfg, argc, argv);
	dup2(saved, 2);
	close(saved);
	close(null);
	return err;
}

static void log_format_option(void **state)
{
	static struct tw_config cfg;
	char *def[] = { "tracewire", NULL };
	char *json[] = { "tracewire", "--log-format", "json", NULL };
	char *text[] = { "tracewire", "--log-format=text", NULL };
	char *bad[] = { "tracewire", "--log-format", "JSON", NULL };
	char *missing[] = { "tracewire", "--log-format", NULL };

	(void)state;
	assert_int_equal(tw_log_parse_format("text"), TW_LOG_TEXT);
	assert_int_equal(tw_log_parse_format("json"), TW_LOG_JSON);
	assert_int_equal(tw_log_parse_format("logfmt"), -EINVAL);
	assert_int_equal(tw_log_parse_format(""), -EINVAL);

	assert_int_equal(parse(&cfg, 1, def), 0);
	assert_int_equal(cfg.log_format, TW_LOG_TEXT);
	assert_int_equal(tw_log_get_format(), TW_LOG_TEXT);
	assert_int_equal(parse(&cfg, 3, json), 0);
	assert_int_equal(cfg.log_format, TW_LOG_JSON);
	assert_int_equal(tw_log_get_format(), TW_LOG_JSON);
	assert_int_equal(parse(&cfg, 2, text), 0);
	assert_int_equal(cfg.log_format, TW_LOG_TEXT);
	assert_int_equal(tw_log_get_format(), TW_LOG_TEXT);
	assert_int_equal(parse(&cfg, 3, bad), -EINVAL);
	assert_int_equal(parse(&cfg, 2, missing), -EINVAL);
	tw_log_set_format(TW_LOG_TEXT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(timestamps_are_rfc3339_utc_millis),
		cmocka_unit_test(text_line_keeps_tracewire_level_prefix),
		cmocka_unit_test(json_line_escapes_everything),
		cmocka_unit_test(json_line_of_a_long_message),
		cmocka_unit_test(every_line_is_stamped),
		cmocka_unit_test(log_format_option),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
