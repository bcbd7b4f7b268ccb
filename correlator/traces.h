/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Trace assembly: groups finished spans by trace_id and hands each trace to
 * the exporters once it has been quiet (no new span) for window_ns.
 *
 * Bounded: at most max_spans are buffered in total (adding to a full buffer
 * first emits the least recently active trace, counted in
 * traces_forced_early) and at most max_spans_per_trace per trace (a trace
 * that reaches it is emitted as it is and later spans start a new part,
 * counted in traces_split). With max_age_ns a steadily active trace is
 * emitted at that age rather than held indefinitely. Spans of an emitted
 * trace are sorted by start_ns (arrival order for equal starts).
 *
 * Adding is O(1): a hash table keyed by trace_id (seeded per instance, since
 * trace ids can come from outside), plus lists ordered by last activity and
 * by creation, so tick() only looks at traces that are due.
 *
 * Times are the caller's monotonic clock (any one clock, consistently);
 * span timestamps are never used for windowing. Not thread-safe. Exporters
 * must not call back into the same tw_traces.
 */
#ifndef TW_TRACES_H
#define TW_TRACES_H

#include <stddef.h>
#include <stdint.h>

#include "exporter.h"
#include "span.h"

#define TW_TRACES_DEFAULT_MAX_SPANS 65536
#define TW_TRACES_DEFAULT_MAX_PER_TRACE 1024

struct tw_traces;

struct tw_traces_cfg {
	uint64_t window_ns;            /* quiet time before a trace is emitted; 0: next tick */
	uint64_t max_age_ns;           /* emit at this age since its first span; 0: no limit */
	size_t max_spans;              /* spans buffered in total; 0: default */
	size_t max_spans_per_trace;    /* 0: default; clamped to max_spans */
	struct tw_exporter *exporters; /* borrowed: tw_traces_free() does not destroy them */
};

struct tw_traces_stats {
	uint64_t spans_in;            /* spans buffered by tw_traces_add() */
	uint64_t spans_dropped;       /* refused: all-zero trace id, or out of memory */
	uint64_t spans_out;           /* spans handed to the exporters */
	uint64_t traces_out;          /* traces (or parts of traces) handed to the exporters */
	uint64_t traces_forced_early; /* emitted before their window because max_spans was reached */
	uint64_t traces_split;        /* emitted at max_spans_per_trace; later spans start a new part */
	uint64_t traces_aged;         /* emitted at max_age_ns while still active */
	uint64_t export_errors;       /* exporter calls that returned an error */
	uint64_t spans_buffered;      /* currently held */
	uint64_t traces_buffered;     /* currently held */
	uint64_t groups_reused;       /* traces assembled in an emitted trace's memory */
};

/* cfg NULL: defaults, no exporters. NULL with errno set (ENOMEM). */
struct tw_traces *tw_traces_new(const struct tw_traces_cfg *cfg);
/* Frees buffered spans without emitting them: call tw_traces_flush() first. */
void tw_traces_free(struct tw_traces *t);

/* Copies span into its trace. 0, -EINVAL (all-zero trace id) or -ENOMEM;
 * refused spans are counted in spans_dropped. May emit other traces (or this
 * trace's earlier part) to keep the bounds. */
int tw_traces_add(struct tw_traces *t, const struct tw_span *span, uint64_t now_ns);

/* Emits every trace quiet for window_ns, or older than max_age_ns. */
void tw_traces_tick(struct tw_traces *t, uint64_t now_ns);

/* Emits every buffered trace, then flushes the exporters. Returns 0 or the
 * first exporter flush error. */
int tw_traces_flush(struct tw_traces *t);

void tw_traces_stats(const struct tw_traces *t, struct tw_traces_stats *out);

#endif
