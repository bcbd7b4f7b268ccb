// SPDX-License-Identifier: BSD-2-Clause
#include "kvlist.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "ascii.h"

static void trim(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

static void percent_decode(char *out, size_t size, const char *s, const char *e)
{
	size_t n = 0;

	while (s < e && n + 1 < size) {
		int hi, lo;

		if (*s == '%' && e - s >= 3 && (hi = tw_hex_digit_value(s[1])) >= 0 &&
		    (lo = tw_hex_digit_value(s[2])) >= 0) {
			out[n++] = (char)(hi << 4 | lo);
			s += 3;
		} else {
			out[n++] = *s++;
		}
	}
	out[n] = '\0';
}

int tw_kvlist_parse(const char *list, size_t len, tw_kv_fn fn, void *ctx)
{
	const char *s = list, *end = list + len;
	char value[TW_KV_VALUE_MAX];
	bool bad = false;

	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *item_end = comma ? comma : end;
		const char *eq = memchr(s, '=', (size_t)(item_end - s));
		const char *ks = s, *ke = eq, *vs, *ve = item_end;
		int rc;

		s = item_end + 1;
		if (!eq) {
			trim(&ks, &ve);
			bad |= ks != ve; /* an empty item (trailing comma) is fine */
			continue;
		}
		vs = eq + 1;
		trim(&ks, &ke);
		trim(&vs, &ve);
		if (ks == ke) {
			bad = true;
			continue;
		}
		percent_decode(value, sizeof(value), vs, ve);
		rc = fn(ctx, ks, (size_t)(ke - ks), value);
		if (rc)
			return rc;
	}
	return bad ? -EINVAL : 0;
}
