// SPDX-License-Identifier: BSD-2-Clause
#include "parse.h"

#include <errno.h>
#include <stdlib.h>

int tw_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* strtoull() would also take leading blanks and a sign after them
	 * (" -1" is 2^64 - 1): only digits, from the first byte */
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int tw_parse_ratio(const char *s, double *out)
{
	uint64_t frac = 0, scale = 1;
	const char *p = s + 1;

	/* Hand-parsed rather than strtod(): strtod takes signs, blanks,
	 * exponents, hex, "nan" and the locale's decimal point, none of which
	 * belong in a ratio, and "1.0000000000000000001" would round to an
	 * accepted 1. */
	if (s[0] != '0' && s[0] != '1')
		return -EINVAL;
	if (*p == '.') {
		if (!p[1])
			return -EINVAL; /* "1." */
		for (p++; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			if (s[0] == '1' && *p != '0')
				return -EINVAL; /* above 1 */
			/* digits past the 18th are below double precision */
			if (scale < 1000000000000000000ull) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
		}
	} else if (*p) {
		return -EINVAL;
	}
	*out = s[0] == '1' ? 1.0 : (double)frac / (double)scale;
	return 0;
}
