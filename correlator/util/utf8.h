/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * UTF-8 checking and repair for strings that come from captured bytes or
 * other processes (request targets, Host headers, command lines, resource
 * attributes). Exporters must send valid UTF-8: an OTLP collector rejects a
 * whole batch (HTTP 400) for one string field that is not. Invalid input is
 * repaired, not refused: each maximal invalid subpart becomes U+FFFD, as
 * Unicode recommends (and Python, browsers and the JSON writer do).
 */
#ifndef TW_UTF8_H
#define TW_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_UTF8_REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */
#define TW_UTF8_REPLACEMENT_LEN 3

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if s[0..n) does not
 * start with one; *bad gets the length of the maximal invalid subpart (>= 1)
 * in that case. n must be > 0. */
size_t tw_utf8_seq(const uint8_t *s, size_t n, size_t *bad);

/* Whether s[0..n) is valid UTF-8 (NUL bytes included: they are valid). */
bool tw_utf8_valid(const char *s, size_t n);

/* Bytes tw_utf8_repair() writes for s[0..n): n when it is valid, more when
 * not (a replacement is 3 bytes, the subpart it replaces 1 to 3). */
size_t tw_utf8_repaired_len(const char *s, size_t n);

/* Writes s[0..n) with each maximal invalid subpart replaced by U+FFFD into
 * out, which has room for tw_utf8_repaired_len(s, n) bytes; returns the
 * bytes written. No NUL is added. */
size_t tw_utf8_repair(char *out, const char *s, size_t n);

#endif
