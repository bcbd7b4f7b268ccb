/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * OTLP protobuf encoding of spans: an ExportTraceServiceRequest as defined by
 * opentelemetry-proto (collector/trace/v1/trace_service.proto,
 * trace/v1/trace.proto, resource/v1, common/v1). Hand-written: the message
 * set is small and fixed, and no allocation per field is needed.
 *
 * One ResourceSpans per resource group (the daemon groups spans by process),
 * each with one ScopeSpans naming tracewire as the instrumentation scope.
 */
#ifndef TW_OTLP_PB_H
#define TW_OTLP_PB_H

#include <stddef.h>
#include <stdint.h>

#include "span.h"

/* A growable byte buffer; zero-initialise, free with tw_buf_free(). */
struct tw_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void tw_buf_reset(struct tw_buf *b); /* len = 0, keeps the memory */
void tw_buf_free(struct tw_buf *b);

struct tw_otlp_resource_spans {
	const struct tw_attr *attrs; /* Resource.attributes (TW_ATTR_STR / TW_ATTR_INT) */
	size_t n_attrs;
	const struct tw_span *const *spans;
	size_t n_spans;
};

struct tw_otlp_scope {
	const char *name;    /* InstrumentationScope.name, e.g. "tracewire" */
	const char *version; /* InstrumentationScope.version; may be "" */
};

/*
 * Appends the encoding of ExportTraceServiceRequest{resource_spans = rs[0..n)}
 * to out. Each span carries: trace_id, span_id, parent_span_id (omitted for a
 * root), flags (W3C trace flags in bits 0-7), name (tw_span_name), kind
 * (SERVER = 2, CLIENT = 3), start/end_time_unix_nano, the attributes of
 * tw_span_attrs(), and status (code ERROR = 2 with error_type as message when
 * the span is an error, else UNSET: the field is omitted).
 * Returns 0, or -ENOMEM (out is then left at its old length).
 */
int tw_otlp_encode_request(struct tw_buf *out, const struct tw_otlp_resource_spans *rs, size_t n,
			   const struct tw_otlp_scope *scope);

#endif
