/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One OTLP export batch: spans (with what /proc told about their process)
 * grouped into one Resource per process and encoded as an
 * ExportTraceServiceRequest, gzip'ed on request. The exporter's worker uses
 * it for every POST, and bench/replay.c measures exactly this code.
 * Sized once for max spans: encoding a batch allocates nothing new.
 */
#ifndef TW_OTLP_BATCH_H
#define TW_OTLP_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export_otlp.h"
#include "otlp_pb.h"
#include "procinfo.h"
#include "resattr.h"
#include "span.h"
#include "version.h"

struct tw_otlp_item {
	struct tw_span span;
	uint64_t proc_start;
	char exe[TW_PROC_EXE_MAX];
	char cmdline[TW_PROC_CMDLINE_MAX];
	char resource[TW_PROC_RESOURCE_MAX]; /* the process's OTEL_RESOURCE_ATTRIBUTES */
	struct tw_res res; /* e.g. the process's pod (resattr.h) */
};

struct tw_otlp_resource_scratch;

struct tw_otlp_batch {
	const struct tw_otlp_cfg *cfg; /* host name, command line opt-in, resource attrs */
	size_t max;
	struct tw_otlp_item *items;    /* the caller fills items[0..n) */
	size_t *order;
	struct tw_otlp_resource_spans *groups;
	struct tw_otlp_resource_scratch *scratch;
	const struct tw_span **spans;
	size_t ngroups;                /* resources in the last encode (groups[0..ngroups)) */
	struct tw_buf body;            /* protobuf after tw_otlp_batch_encode */
	struct tw_buf gz;              /* gzip of body after tw_otlp_batch_gzip */
};

/* InstrumentationScope of every span tracewire exports. */
extern const struct tw_otlp_scope tw_otlp_scope;

/* 0 or -ENOMEM. cfg must outlive the batch. */
int tw_otlp_batch_init(struct tw_otlp_batch *b, const struct tw_otlp_cfg *cfg, size_t max);
void tw_otlp_batch_free(struct tw_otlp_batch *b);

/* items[0..n) grouped by process into body. 0 or negative errno. */
int tw_otlp_batch_encode(struct tw_otlp_batch *b, size_t n);
/* body gzip'ed (level 1, as OTLP receivers expect) into gz. 0 or negative errno. */
int tw_otlp_batch_gzip(struct tw_otlp_batch *b);

/* A span and its process as the batch wants them (procinfo may be NULL). */
void tw_otlp_item_fill(struct tw_otlp_item *it, const struct tw_span *s, struct tw_procinfo *pi,
		       bool command_line);

#endif
