/* SPDX-License-Identifier: BSD-2-Clause */
#ifndef TW_IDS_H
#define TW_IDS_H

#include <stddef.h>
#include <stdint.h>

/* Fill out with random bytes, never all zero (W3C: all-zero ids are invalid).
 * Fast PRNG seeded once from getrandom(2); not for secrets. */
void tw_random_id(uint8_t *out, size_t n);

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void tw_hex(const uint8_t *in, size_t n, char *out);

#endif
