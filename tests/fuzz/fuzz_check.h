/* SPDX-License-Identifier: BSD-2-Clause */
/* The fuzz targets' one assertion: a property that does not hold aborts, so
 * libFuzzer keeps the input (make fuzz fails and names it). */
#ifndef TW_FUZZ_CHECK_H
#define TW_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                         \
		}                                                                        \
	} while (0)

#endif
