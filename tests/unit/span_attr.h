/* SPDX-License-Identifier: BSD-2-Clause */
/* A span's attribute as the exporters see it (tw_span_attrs), as text, for
 * the tests that check attributes of spans the correlator made. */
#ifndef TW_TEST_SPAN_ATTR_H
#define TW_TEST_SPAN_ATTR_H

#include <stdio.h>
#include <string.h>

#include "span.h"

/* The value of attribute key written into buf, or NULL when the span has
 * none. */
static inline const char *attr(const struct tw_span *s, const char *key, char *buf, size_t size)
{
	struct tw_span_attrs a;

	tw_span_attrs(s, &a);
	for (size_t i = 0; i < a.n; i++) {
		if (strcmp(a.a[i].key, key))
			continue;
		if (a.a[i].type == TW_ATTR_INT)
			snprintf(buf, size, "%lld", (long long)a.a[i].num);
		else
			snprintf(buf, size, "%.*s", (int)a.a[i].len, a.a[i].str);
		return buf;
	}
	return NULL;
}

#endif
