// SPDX-License-Identifier: BSD-2-Clause
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum tw_log_level current_level = TW_LOG_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

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

bool tw_log_enabled(enum tw_log_level level)
{
	return level <= current_level;
}

void tw_vlog(enum tw_log_level level, const char *fmt, va_list ap)
{
	char small[1024], *line = small;
	va_list again;
	int n;

	if (!tw_log_enabled(level))
		return;
	va_copy(again, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	/* verifier logs from libbpf run to many kilobytes */
	if (n >= (int)sizeof(small)) {
		line = malloc((size_t)n + 1);
		if (line)
			vsnprintf(line, (size_t)n + 1, fmt, again);
		else
			line = small;
	}
	va_end(again);
	if (n < 0)
		return;
	n = (int)strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	/* one write per line keeps lines whole when stderr is shared */
	fprintf(stderr, "tracewire: %s: %s\n", level_names[level], line);
	if (line != small)
		free(line);
}

void tw_log(enum tw_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tw_vlog(level, fmt, ap);
	va_end(ap);
}
