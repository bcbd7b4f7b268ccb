// SPDX-License-Identifier: BSD-2-Clause
#include "json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Escaped form of one character or invalid subpart at s; returns bytes of
 * input consumed and fills esc/esc_len. */
static size_t escape_one(const uint8_t *s, size_t n, char esc[8], size_t *esc_len)
{
	static const char hex[] = "0123456789abcdef";
	size_t len, bad;
	uint8_t c = s[0];

	if (c == '"' || c == '\\') {
		esc[0] = '\\';
		esc[1] = (char)c;
		*esc_len = 2;
		return 1;
	}
	/* DEL is legal JSON, but escaping it keeps terminals safe too. */
	if (c < 0x20 || c == 0x7f) {
		memcpy(esc, "\\u00", 4);
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 0xf];
		*esc_len = 6;
		return 1;
	}
	len = tw_utf8_seq(s, n, &bad);
	if (!len) {
		memcpy(esc, "\xef\xbf\xbd", 3); /* U+FFFD */
		*esc_len = 3;
		return bad;
	}
	memcpy(esc, s, len);
	*esc_len = len;
	return len;
}

size_t tw_json_escape(char *out, size_t cap, const char *str, size_t n)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t need = 0, written = 0, i = 0;
	bool cut = false;

	while (i < n) {
		char esc[8];
		size_t esc_len;

		i += escape_one(s + i, n - i, esc, &esc_len);
		/* Whole characters only: a cut never splits an escape or a UTF-8 sequence. */
		if (!cut && written + esc_len < cap) {
			memcpy(out + written, esc, esc_len);
			written += esc_len;
		} else {
			cut = true;
		}
		need += esc_len;
	}
	if (cap)
		out[written] = '\0';
	return need;
}

void tw_json_init(struct tw_json *j, char *buf, size_t cap)
{
	j->buf = buf;
	j->cap = cap;
	tw_json_reset(j);
}

void tw_json_reset(struct tw_json *j)
{
	j->len = 0;
	j->overflow = j->cap == 0;
	j->after_key = false;
	j->depth = 0;
	j->has_member = 0;
	if (j->cap)
		j->buf[0] = '\0';
}

static void put(struct tw_json *j, const char *s, size_t n)
{
	if (j->overflow)
		return;
	if (n >= j->cap - j->len) {
		j->overflow = true;
		return;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

/* Before any value or key: a comma unless first in its container. */
static void separate(struct tw_json *j)
{
	uint32_t bit;

	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!j->depth)
		return;
	bit = 1u << (j->depth - 1);
	if (j->has_member & bit)
		put(j, ",", 1);
	j->has_member |= bit;
}

static void open_container(struct tw_json *j, char c)
{
	separate(j);
	if (j->depth >= TW_JSON_DEPTH_MAX) {
		j->overflow = true;
		return;
	}
	put(j, &c, 1);
	j->depth++;
	j->has_member &= ~(1u << (j->depth - 1));
}

static void close_container(struct tw_json *j, char c)
{
	if (!j->depth) {
		j->overflow = true;
		return;
	}
	j->depth--;
	put(j, &c, 1);
}

void tw_json_object_begin(struct tw_json *j)
{
	open_container(j, '{');
}

void tw_json_object_end(struct tw_json *j)
{
	close_container(j, '}');
}

void tw_json_array_begin(struct tw_json *j)
{
	open_container(j, '[');
}

void tw_json_array_end(struct tw_json *j)
{
	close_container(j, ']');
}

static void put_escaped(struct tw_json *j, const char *s, size_t n)
{
	size_t room, need;

	if (j->overflow)
		return;
	put(j, "\"", 1);
	room = j->cap - j->len;
	need = tw_json_escape(j->buf + j->len, room, s, n);
	/* +1 for the closing quote, which must fit before the NUL */
	if (j->overflow || need + 1 >= room) {
		j->overflow = true;
		return;
	}
	j->len += need;
	put(j, "\"", 1);
}

void tw_json_key(struct tw_json *j, const char *key)
{
	separate(j);
	put_escaped(j, key, strlen(key));
	put(j, ":", 1);
	j->after_key = true;
}

void tw_json_string_n(struct tw_json *j, const char *s, size_t n)
{
	separate(j);
	put_escaped(j, s, n);
}

void tw_json_string(struct tw_json *j, const char *s)
{
	tw_json_string_n(j, s, strlen(s));
}

static void put_number(struct tw_json *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put_number(struct tw_json *j, const char *fmt, ...)
{
	char tmp[24];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	separate(j);
	put(j, tmp, (size_t)n);
}

void tw_json_int(struct tw_json *j, int64_t v)
{
	put_number(j, "%" PRId64, v);
}

void tw_json_uint(struct tw_json *j, uint64_t v)
{
	put_number(j, "%" PRIu64, v);
}

void tw_json_bool(struct tw_json *j, bool v)
{
	separate(j);
	put(j, v ? "true" : "false", v ? 4 : 5);
}

void tw_json_null(struct tw_json *j)
{
	separate(j);
	put(j, "null", 4);
}

void tw_json_kv_string(struct tw_json *j, const char *key, const char *s)
{
	tw_json_key(j, key);
	tw_json_string(j, s);
}

void tw_json_kv_string_n(struct tw_json *j, const char *key, const char *s, size_t n)
{
	tw_json_key(j, key);
	tw_json_string_n(j, s, n);
}

void tw_json_kv_int(struct tw_json *j, const char *key, int64_t v)
{
	tw_json_key(j, key);
	tw_json_int(j, v);
}

void tw_json_kv_uint(struct tw_json *j, const char *key, uint64_t v)
{
	tw_json_key(j, key);
	tw_json_uint(j, v);
}

void tw_json_raw(struct tw_json *j, const char *s, size_t n)
{
	put(j, s, n);
}
