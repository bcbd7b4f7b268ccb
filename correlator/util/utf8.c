// SPDX-License-Identifier: BSD-2-Clause
#include "utf8.h"

#include <string.h>

size_t tw_utf8_seq(const uint8_t *s, size_t n, size_t *bad)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	*bad = 0;
	if (c < 0x80)
		return 1;
	/* Unicode Table 3-7: the second byte's range excludes overlongs,
	 * surrogates and code points above U+10FFFF. */
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		*bad = 1;
		return 0;
	}
	for (i = 1; i < need && i < n; i++) {
		if (s[i] < lo || s[i] > hi)
			break;
		lo = 0x80;
		hi = 0xbf;
	}
	if (i == need)
		return need;
	*bad = i;
	return 0;
}

/* Bytes of the ASCII run at s[0..n): eight at a time, as most strings here
 * are ASCII from end to end. */
static size_t ascii_run(const uint8_t *s, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		if (w & 0x8080808080808080ull)
			break;
	}
	while (i < n && s[i] < 0x80)
		i++;
	return i;
}

/* Walks s[0..n); returns the repaired length, and in *valid whether nothing
 * needed repair. */
static size_t walk(const uint8_t *s, size_t n, bool *valid)
{
	size_t i = 0, out = 0;

	*valid = true;
	while (i < n) {
		size_t run = ascii_run(s + i, n - i), len, bad;

		i += run;
		out += run;
		if (i == n)
			break;
		len = tw_utf8_seq(s + i, n - i, &bad);
		if (len) {
			i += len;
			out += len;
		} else {
			i += bad;
			out += TW_UTF8_REPLACEMENT_LEN;
			*valid = false;
		}
	}
	return out;
}

bool tw_utf8_valid(const char *s, size_t n)
{
	bool valid;

	walk((const uint8_t *)s, n, &valid);
	return valid;
}

size_t tw_utf8_repaired_len(const char *s, size_t n)
{
	bool valid;

	return walk((const uint8_t *)s, n, &valid);
}

size_t tw_utf8_repair(char *out, const char *str, size_t n)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t i = 0, o = 0;

	while (i < n) {
		size_t len, bad;

		if (s[i] < 0x80) {
			out[o++] = (char)s[i++];
			continue;
		}
		len = tw_utf8_seq(s + i, n - i, &bad);
		if (len) {
			memcpy(out + o, s + i, len);
			i += len;
			o += len;
		} else {
			memcpy(out + o, TW_UTF8_REPLACEMENT, TW_UTF8_REPLACEMENT_LEN);
			i += bad;
			o += TW_UTF8_REPLACEMENT_LEN;
		}
	}
	return o;
}
