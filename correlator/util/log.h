/* SPDX-License-Identifier: BSD-2-Clause */
/* One logging API for the daemon and, through tw_vlog() (main.c), libbpf. */
#ifndef TW_LOG_H
#define TW_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum tw_log_level {
	TW_LOG_ERROR = 0,
	TW_LOG_WARN,
	TW_LOG_INFO,
	TW_LOG_DEBUG,
};

void tw_log_set_level(enum tw_log_level level);
enum tw_log_level tw_log_get_level(void);
/* "error", "warn", "info", "debug" -> level; -EINVAL for anything else. */
int tw_log_parse_level(const char *s);
bool tw_log_enabled(enum tw_log_level level);

/* --log-format: how a line looks (tw_log_render) */
enum tw_log_format {
	TW_LOG_TEXT = 0, /* "<time> tracewire: <level>: <message>" */
	TW_LOG_JSON,     /* {"time":"<time>","level":"<level>","msg":"<message>"} */
};

void tw_log_set_format(enum tw_log_format format);
enum tw_log_format tw_log_get_format(void);
/* "text", "json" -> format; -EINVAL for anything else. */
int tw_log_parse_format(const char *s);

/* RFC 3339 in UTC with milliseconds: "2026-12-07T01:02:03.456Z" */
#define TW_LOG_TIME_LEN 24
void tw_log_time(const struct timespec *ts, char buf[TW_LOG_TIME_LEN + 1]);
/* One whole line of the format, '\n' included, in a malloc'd string (its
 * length in *len when len is not NULL); NULL when out of memory. */
char *tw_log_render(enum tw_log_format format, const struct timespec *ts,
		    enum tw_log_level level, const char *msg, size_t *len);

__attribute__((format(printf, 2, 3)))
void tw_log(enum tw_log_level level, const char *fmt, ...);
/* One line of the current format, stamped with the wall clock, to stderr
 * (trailing newlines of the message dropped), if level is enabled. */
__attribute__((format(printf, 2, 0)))
void tw_vlog(enum tw_log_level level, const char *fmt, va_list ap);

#define log_error(...) tw_log(TW_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) tw_log(TW_LOG_WARN, __VA_ARGS__)
#define log_info(...) tw_log(TW_LOG_INFO, __VA_ARGS__)
#define log_debug(...) tw_log(TW_LOG_DEBUG, __VA_ARGS__)

#endif
