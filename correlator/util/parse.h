/* SPDX-License-Identifier: BSD-2-Clause */
/* Numbers from the command line and the OTEL_* environment, strictly. */
#ifndef TW_PARSE_H
#define TW_PARSE_H

#include <stdint.h>

/* Whole-string unsigned decimal in [min, max]: 0 or -EINVAL. Digits only:
 * no blanks, no sign. */
int tw_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A decimal "0", "1", "0.25", "1.0", ... in [0, 1]: 0 or -EINVAL. No signs,
 * exponents, hex, nan/inf or surrounding blanks. */
int tw_parse_ratio(const char *s, double *out);

#endif
