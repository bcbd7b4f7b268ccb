// SPDX-License-Identifier: BSD-2-Clause
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h" /* tw_json_escape() */

static enum tw_log_level current_level = TW_LOG_INFO;
static enum tw_log_format current_format = TW_LOG_TEXT;
static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const char *const format_names[] = { "text", "json" };

void tw_log_set_level(enum tw_log_level level)
{
	current_level = level;
}

enum tw_log_level tw_log_get_level(void)
{
	return current_level;
}

int tw_log_parse_level(const char *s)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!strcmp(s, level_names[i]))
			return (int)i;
	return -EINVAL;
}

void tw_log_set_format(enum tw_log_format format)
{
	current_format = format;
}

enum tw_log_format tw_log_get_format(void)
{
	return current_format;
}

int tw_log_parse_format(const char *s)
{
	for (unsigned i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
		if (!strcmp(s, format_names[i]))
			return (int)i;
	return -EINVAL;
}

bool tw_log_enabled(enum tw_log_level level)
{
	return level <= current_level;
}

void tw_log_time(const struct timespec *ts, char buf[TW_LOG_TIME_LEN + 1])
{
	char tmp[96];
	struct tm tm;
	time_t sec = ts->tv_sec;

	/* a time without a four-digit year still gives a line of the same
	 * shape (1970's) */
	if (!gmtime_r(&sec, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
		gmtime_r(&(time_t){ 0 }, &tm);
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03luZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 ((unsigned long)ts->tv_nsec / 1000000ul) % 1000);
	memcpy(buf, tmp, TW_LOG_TIME_LEN);
	buf[TW_LOG_TIME_LEN] = '\0';
}

char *tw_log_render(enum tw_log_format format, const struct timespec *ts,
		    enum tw_log_level level, const char *msg, size_t *len_out)
{
	char when[TW_LOG_TIME_LEN + 1], *line;
	size_t msg_len = strlen(msg), len;

	tw_log_time(ts, when);
	if (format == TW_LOG_JSON) {
		/* a message holds what other processes control (paths, names,
		 * a libbpf log): escaped, and invalid UTF-8 replaced, so that
		 * every line stays one valid JSON object */
		size_t esc = tw_json_escape(NULL, 0, msg, msg_len);
		int head;

		len = esc + TW_LOG_TIME_LEN + 64;
		line = malloc(len);
		if (!line)
			return NULL;
		head = snprintf(line, len, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", when,
				level_names[level]);
		tw_json_escape(line + head, len - (size_t)head, msg, msg_len);
		len = (size_t)head + esc;
		memcpy(line + len, "\"}\n", 4);
		len += 3;
	} else {
		len = TW_LOG_TIME_LEN + msg_len + 32;
		line = malloc(len);
		if (!line)
			return NULL;
		/* "tracewire: <level>: " after the time, as it always was:
		 * what greps the log keeps matching */
		len = (size_t)snprintf(line, len, "%s tracewire: %s: %s\n", when, level_names[level],
				       msg);
	}
	if (len_out)
		*len_out = len;
	return line;
}

void tw_vlog(enum tw_log_level level, const char *fmt, va_list ap)
{
	char small[1024], *msg = small, *line;
	struct timespec now;
	va_list again;
	size_t len;
	int n;

	if (!tw_log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	va_copy(again, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	/* verifier logs from libbpf run to many kilobytes */
	if (n >= (int)sizeof(small)) {
		msg = malloc((size_t)n + 1);
		if (msg)
			vsnprintf(msg, (size_t)n + 1, fmt, again);
		else
			msg = small;
	}
	va_end(again);
	if (n < 0)
		return;
	n = (int)strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	line = tw_log_render(current_format, &now, level, msg, &len);
	/* one write per line keeps lines whole when stderr is shared (stderr
	 * is unbuffered: fwrite is one write(2)) */
	if (line)
		fwrite(line, 1, len, stderr);
	else
		fprintf(stderr, "tracewire: %s: %s\n", level_names[level], msg);
	free(line);
	if (msg != small)
		free(msg);
}

void tw_log(enum tw_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tw_vlog(level, fmt, ap);
	va_end(ap);
}
