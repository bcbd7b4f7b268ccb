/* SPDX-License-Identifier: BSD-2-Clause */
/* Locale-free character classes for protocol text (ctype.h follows the locale). */
#ifndef TW_ASCII_H
#define TW_ASCII_H

#include <stdbool.h>
#include <stdint.h>

static inline bool tw_is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* 0..15 for a hex digit of either case, else -1. */
static inline int tw_hex_digit_value(uint8_t c)
{
	if (tw_is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
