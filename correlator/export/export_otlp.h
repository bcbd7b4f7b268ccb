/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * OTLP/HTTP exporter: ExportTraceServiceRequest protobuf POSTed to
 * <endpoint>/v1/traces (Tempo, Jaeger >= 1.35, the OpenTelemetry Collector).
 *
 * export_trace() runs on the daemon's event loop and only copies the trace
 * into a bounded queue; a worker thread batches (max_batch spans, or whatever
 * is queued once schedule_delay has passed), encodes, gzips and sends with
 * libcurl, so a slow or dead backend never stalls event intake.
 *
 * Queue policy: drop-newest at trace granularity. A trace that does not fit
 * in the free queue space is refused whole (spans_dropped_queue_full), so
 * what is exported during an outage is whole traces, never the middle of one.
 *
 * Delivery (OTLP/HTTP spec): 2xx is success; 429, 502, 503, 504 and
 * transport errors (refused, reset, timeout) are retried with exponential
 * backoff (1 s doubling to 30 s, full jitter) or after Retry-After when the
 * backend sends it, for at most max_retry_ms per batch; any other status
 * (400 included) drops the batch at once. A backend that accepts and never
 * answers costs at most timeout_ms per attempt.
 *
 * Shutdown: flush()/destroy() send what is queued and wait at most
 * shutdown_ms in all; what is still unsent then is dropped and counted.
 */
#ifndef TW_EXPORT_OTLP_H
#define TW_EXPORT_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "exporter.h"
#include "span.h"

#define TW_OTLP_URL_MAX 2048
#define TW_OTLP_MAX_HEADERS 32
#define TW_OTLP_HEADER_MAX 1024
#define TW_OTLP_MAX_RESOURCE_ATTRS 32
#define TW_OTLP_RESOURCE_KEY_MAX 128
#define TW_OTLP_RESOURCE_VALUE_MAX 256

struct tw_procinfo;

struct tw_otlp_kv {
	char key[TW_OTLP_RESOURCE_KEY_MAX];
	char value[TW_OTLP_RESOURCE_VALUE_MAX];
};

struct tw_otlp_cfg {
	char url[TW_OTLP_URL_MAX];      /* full traces URL; "" = OTLP off */
	char headers[TW_OTLP_MAX_HEADERS][TW_OTLP_HEADER_MAX]; /* "Name: value" */
	size_t n_headers;
	bool gzip;
	uint64_t timeout_ms;            /* one POST, connect included */
	char ca_file[TW_OTLP_URL_MAX];  /* "" = system CAs */
	struct tw_otlp_kv resource[TW_OTLP_MAX_RESOURCE_ATTRS]; /* OTEL_RESOURCE_ATTRIBUTES */
	size_t n_resource;
	bool command_line;              /* add process.command_line (opt-in: may hold secrets) */
	uint64_t schedule_delay_ms;     /* OTEL_BSP_SCHEDULE_DELAY */
	size_t max_queue;               /* OTEL_BSP_MAX_QUEUE_SIZE (spans) */
	size_t max_batch;               /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE (spans) */
	uint64_t max_retry_ms;          /* give up on a batch after retrying this long */
	uint64_t shutdown_ms;           /* bound on the flush at exit */
	char host_name[256];            /* host.name; "" = gethostname() */
};

/* OpenTelemetry SDK defaults; url empty. */
void tw_otlp_cfg_defaults(struct tw_otlp_cfg *cfg);

struct tw_otlp_stats {
	uint64_t spans_queued;
	uint64_t spans_exported;            /* acknowledged with 2xx */
	uint64_t spans_dropped_queue_full;  /* refused by export_trace() */
	uint64_t spans_dropped_rejected;    /* batch answered with a non-retryable status */
	uint64_t spans_dropped_retries;     /* gave up after max_retry_ms, or at shutdown */
	uint64_t requests;                  /* POSTs attempted */
	uint64_t requests_failed;           /* of those, not 2xx (retried or not) */
	uint64_t retries;
	uint64_t bytes_sent;                /* request bodies as sent (compressed) */
	uint64_t queue_len;                 /* spans waiting now */
};

/*
 * procinfo (borrowed; used only inside export_trace, on the caller's thread)
 * supplies executable name, command line and start time for the Resource.
 * Returns NULL with errno set (EINVAL for a bad cfg, ENOMEM, or a libcurl /
 * thread start failure).
 */
struct tw_exporter *tw_otlp_exporter_new(const struct tw_otlp_cfg *cfg,
					 struct tw_procinfo *procinfo);

/*
 * A Retry-After header value (delay-seconds or an HTTP-date, blanks around
 * it allowed) as milliseconds from now. Values beyond
 * TW_OTLP_RETRY_AFTER_MAX_S saturate there, a date in the past is 0. 0, or
 * -EINVAL when it is neither form (the exporter backs off as usual then).
 */
#define TW_OTLP_RETRY_AFTER_MAX_S (366ull * 24 * 3600)
int tw_otlp_retry_after(const char *value, time_t now, uint64_t *ms);

/* Counters of an exporter made by tw_otlp_exporter_new(); zeros for others. */
void tw_otlp_exporter_stats(struct tw_exporter *e, struct tw_otlp_stats *out);

#endif
