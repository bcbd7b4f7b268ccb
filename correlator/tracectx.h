/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * W3C Trace Context (level 2) traceparent parsing in user space: a thin
 * wrapper over the parser the kernel runs (include/tw_tracecontext.h), so a
 * header the kernel would reject is rejected here too and the two sides
 * never disagree on whether a request continued a trace.
 */
#ifndef TW_TRACECTX_H
#define TW_TRACECTX_H

#include <stddef.h>
#include <stdint.h>

/* TW_TRACEPARENT_LEN, the shared rules, the tracestate filter */
#include "tw_tracecontext.h"

struct tw_traceparent_val {
	uint8_t trace_id[16];
	uint8_t parent_id[8];
	uint8_t flags;   /* trace-flags as sent: unknown bits kept */
	uint8_t version;
};

/*
 * v: a traceparent header value, len bytes, OWS already trimmed (need not
 * be NUL-terminated). Lowercase hex only; version ff, all-zero trace-id or
 * parent-id invalid; version 00 is exactly 55 bytes; a higher version is
 * read by its version-00 prefix and, when longer, must continue with '-'.
 * Returns 0 with *out filled, or -EINVAL (*out then meaningless).
 * (tw_traceparent_parse is the shared parser itself.)
 */
int tw_traceparent_parse_str(const char *v, size_t len, struct tw_traceparent_val *out);

#endif
