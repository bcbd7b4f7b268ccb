/* SPDX-License-Identifier: BSD-2-Clause */
/* One logging API for the daemon and, through tw_vlog() (main.c), libbpf. */
#ifndef TW_LOG_H
#define TW_LOG_H

#include <stdarg.h>
#include <stdbool.h>

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

__attribute__((format(printf, 2, 3)))
void tw_log(enum tw_log_level level, const char *fmt, ...);
/* One line "tracewire: <level>: <message>" to stderr (trailing newlines of
 * the message dropped), if level is enabled. */
__attribute__((format(printf, 2, 0)))
void tw_vlog(enum tw_log_level level, const char *fmt, va_list ap);

#define log_error(...) tw_log(TW_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) tw_log(TW_LOG_WARN, __VA_ARGS__)
#define log_info(...) tw_log(TW_LOG_INFO, __VA_ARGS__)
#define log_debug(...) tw_log(TW_LOG_DEBUG, __VA_ARGS__)

#endif
