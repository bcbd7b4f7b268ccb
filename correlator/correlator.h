/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Connection tracker: turns the kernel's per-syscall records (TW_EV_DATA,
 * TW_EV_CLOSE, TW_EV_CTX) into finished HTTP/1.x SERVER and CLIENT spans.
 *
 * Each tracked socket (keyed by tw_event_hdr.sock_id) has two HTTP/1 framers,
 * one per direction. Requests queue per connection (keep-alive, pipelining),
 * responses pair with them in order. A span is finished when its response is
 * complete by its framing (Content-Length, chunked, no-body statuses, HEAD), or
 * failing that when the next request starts, the socket closes, or the
 * connection has been idle for idle_ns; its end time is the timestamp of the
 * last response bytes seen in every case.
 *
 * Span ids are chosen when a request's first byte is framed, from what the
 * kernel chose (docs/propagation.md): a SERVER request starting a record
 * marked TW_CTX_SERVER takes that record's ids; a CLIENT request takes the
 * TW_EV_CTX record naming its stream offset, else becomes a child of the
 * record's TW_CTX_THREAD context; anything else starts a new trace.
 * When the kernel supplied no ids (new trace, or a CLIENT request parented
 * by its thread), a request head carrying exactly one valid traceparent
 * decides instead, once the head is framed: a SERVER request continues
 * that trace ("header"), a CLIENT request is the child of the span the
 * application named ("application_header").
 */
#ifndef TW_CORRELATOR_H
#define TW_CORRELATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span.h"

struct tw_correlator;

/* Called once per finished span. span->service holds the process comm; the
 * callee may overwrite it (e.g. with OTEL_SERVICE_NAME). The span is only
 * valid during the call. */
typedef void (*tw_span_cb)(void *ctx, struct tw_span *span);

/* Called once when a connection leaves HTTP (101 Switching Protocols, a 2xx
 * to CONNECT): its later bytes are not HTTP and need not be captured. */
typedef void (*tw_switched_cb)(void *ctx, uint64_t sock_id);

struct tw_correlator_cfg {
	size_t max_conns;             /* bound on tracked connections; oldest idle evicted */
	/* queued requests (pipelining) per connection, 0: 64; and over all
	 * connections, 0: no bound. A request beyond either is not queued
	 * (counted): the older ones are those responses pair with first */
	size_t max_pending;
	size_t max_pending_total;
	uint64_t idle_ns;             /* finish spans of connections quiet this long */
	int64_t mono_to_unix_ns;      /* added to CLOCK_MONOTONIC stamps to get unix ns */
	tw_span_cb on_span;
	tw_switched_cb on_switched;   /* optional */
	/* optional: a connection became HTTP/2 by an h2c upgrade (its later
	 * calls are best captured whole, as those that began with the preface) */
	tw_switched_cb on_h2;
	/* traces started in user space (no kernel ids) are sampled with this
	 * probability; without sample_ratio_set all are */
	double sample_ratio;
	bool sample_ratio_set;
	/* HTTP/2: live streams tracked per connection (0: 32), and the bytes
	 * all HPACK decoders may hold together (0: 8 MiB) */
	size_t h2_max_streams;
	size_t h2_hpack_bytes;
	void *ctx;
};

struct tw_correlator_stats {
	uint64_t events;              /* records handled */
	uint64_t bad_records;         /* too short / inconsistent; ignored */
	uint64_t spans;               /* spans finished */
	uint64_t spans_error_closed;  /* finished with error: closed mid-request */
	uint64_t unsynced;            /* framer lost byte sync (uncaptured framing) */
	uint64_t conns_evicted;       /* dropped to honour max_conns */
	uint64_t conns_switched;      /* left HTTP: upgraded or tunnelled */
	uint64_t conns_live;
	uint64_t pending_live;        /* requests queued, all connections */
	uint64_t pending_dropped_conn;  /* not queued: max_pending on its connection */
	uint64_t pending_dropped_total; /* not queued: max_pending_total reached */
	uint64_t dropped_unanswered;  /* requests without response at flush */
	uint64_t ctx_records;         /* TW_EV_CTX records handled */
	uint64_t ctx_matched;         /* ... that named a client request we framed */
	uint64_t ctx_unmatched;       /* ... that did not: stale, overflowed, or
				       * left over when their connection went */
	uint64_t ctx_resynced;        /* client connections whose stream offsets were
				       * realigned with the kernel's (tracked from
				       * mid-stream: idle free, eviction, lost records) */
	uint64_t spans_kernel_ids;    /* spans with the ids the kernel chose */
	uint64_t spans_thread_parent; /* client spans parented by the writing thread's
				       * server request (TW_CTX_THREAD) */
	uint64_t spans_header_fallback; /* spans whose ids the kernel did not supply,
				       * taken from the request's own traceparent */
	/* HTTP/2 (correlator/http2.h) */
	uint64_t h2_conns;            /* connections that spoke HTTP/2 (preface or upgrade) */
	uint64_t h2_upgrades;         /* ... of them by an h2c upgrade (101) */
	uint64_t h2_midstream;        /* ... picked up mid-stream (state evicted before) */
	uint64_t h2_spans;            /* spans of HTTP/2 streams (in spans too) */
	uint64_t h2_streams_dropped;  /* streams not tracked: h2_max_streams live */
	uint64_t h2_unsynced;         /* directions that lost frame sync (uncaptured) */
	uint64_t h2_hpack_errors;     /* header blocks HPACK could not decode */
	uint64_t h2_hpack_nomem;      /* HPACK allocations refused: h2_hpack_bytes */
	uint64_t h2_table_refused;    /* SETTINGS_HEADER_TABLE_SIZE above 4096: kept 4096 */
};

/* Memory (heap, malloc overhead included) of one tracked connection: idle,
 * or in_head: while a request head is being framed (tracewire's budget). */
size_t tw_correlator_conn_bytes(bool in_head);
/* Memory of one queued request. */
size_t tw_correlator_pending_bytes(void);

struct tw_correlator *tw_correlator_new(const struct tw_correlator_cfg *cfg);
void tw_correlator_free(struct tw_correlator *c); /* does not emit pending spans */

/* One ring-buffer record, exactly as received. Returns 0 or -EINVAL for a
 * malformed record (counted in bad_records, never crashes). */
int tw_correlator_handle(struct tw_correlator *c, const void *rec, size_t size);

/* Finish spans of idle connections (now_mono_ns: CLOCK_MONOTONIC). */
void tw_correlator_tick(struct tw_correlator *c, uint64_t now_mono_ns);

/* On shutdown: finish every pending span whose response has started (end =
 * last response bytes seen). Requests with no response yet are dropped and
 * counted in dropped_unanswered: their outcome is unknown, and reporting them
 * as errors would blame the service for the daemon stopping. */
void tw_correlator_flush(struct tw_correlator *c);

void tw_correlator_stats(const struct tw_correlator *c, struct tw_correlator_stats *out);

/* Spans finished from now on use this offset: the daemon re-reads it as the
 * wall clock is stepped or slewed (NTP) while CLOCK_MONOTONIC is not. */
void tw_correlator_set_clock_offset(struct tw_correlator *c, int64_t mono_to_unix_ns);

#endif
