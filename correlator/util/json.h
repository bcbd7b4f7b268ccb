/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Minimal JSON writer into a caller-owned, fixed-size buffer. Strings are
 * escaped for any input bytes: quote, backslash and control characters are
 * escaped (\u00XX for controls), invalid UTF-8 becomes U+FFFD (one per
 * maximal invalid subpart, as Unicode recommends and Python/browsers do), so
 * the output is always valid JSON in valid UTF-8.
 *
 * Nothing is written past cap; a value that does not fit sets `overflow` and
 * every later call is a no-op, so callers check once at the end.
 */
#ifndef TW_JSON_H
#define TW_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "utf8.h" /* tw_utf8_seq() */

#define TW_JSON_DEPTH_MAX 32

struct tw_json {
	char *buf;
	size_t cap;        /* bytes at buf; one is kept for the terminating NUL */
	size_t len;        /* bytes written, excluding the NUL */
	bool overflow;     /* output did not fit (or nesting too deep): discard it */
	bool after_key;    /* next value completes a "key": pair */
	uint8_t depth;
	uint32_t has_member; /* bit d: the container at depth d is not empty */
};

void tw_json_init(struct tw_json *j, char *buf, size_t cap);
/* Start again on the same buffer. */
void tw_json_reset(struct tw_json *j);

void tw_json_object_begin(struct tw_json *j);
void tw_json_object_end(struct tw_json *j);
void tw_json_array_begin(struct tw_json *j);
void tw_json_array_end(struct tw_json *j);

void tw_json_key(struct tw_json *j, const char *key);
void tw_json_string(struct tw_json *j, const char *s);
void tw_json_string_n(struct tw_json *j, const char *s, size_t n);
void tw_json_int(struct tw_json *j, int64_t v);
void tw_json_uint(struct tw_json *j, uint64_t v);
void tw_json_bool(struct tw_json *j, bool v);
void tw_json_null(struct tw_json *j);

/* key + value in one call */
void tw_json_kv_string(struct tw_json *j, const char *key, const char *s);
void tw_json_kv_string_n(struct tw_json *j, const char *key, const char *s, size_t n);
void tw_json_kv_int(struct tw_json *j, const char *key, int64_t v);
void tw_json_kv_uint(struct tw_json *j, const char *key, uint64_t v);

/* Append raw bytes (e.g. "\n" between records); not separator-aware. */
void tw_json_raw(struct tw_json *j, const char *s, size_t n);

/*
 * The escaped form of s[0..n) without surrounding quotes into out (cap bytes,
 * NUL-terminated if cap > 0). Returns the length the full escaped string
 * needs (excluding NUL), like snprintf: >= cap means it was cut (at a
 * character boundary).
 */
size_t tw_json_escape(char *out, size_t cap, const char *s, size_t n);

#endif
