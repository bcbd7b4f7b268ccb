/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tracewire's own state over HTTP (--metrics-addr HOST:PORT), for Prometheus
 * and the kubelet's probes:
 *
 *   GET /metrics   Prometheus text format 0.0.4: the daemon's counters, the
 *                  features that run, the export queue, RSS and open fds
 *   GET /healthz   200 while the event loop published within the last
 *                  TW_METRICS_STALE_S seconds (or started that recently), else 503
 *   GET /readyz    200 once the daemon logged "ready" and while capture runs
 *                  and the loop is healthy, else 503
 *
 * The event loop fills a struct tw_metrics_snapshot and hands it over with
 * tw_metrics_publish() about once a second; libmicrohttpd's own thread
 * answers from the last one (a mutex guards the copy). Process figures
 * (RSS from /proc/self/statm, open fds, the fd limit) are read when scraped.
 * Nothing here touches BPF: the daemon reads the maps.
 */
#ifndef TW_METRICS_H
#define TW_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "correlator.h"
#include "export_otlp.h"
#include "feature_set.h"
#include "traces.h"
#include "tracewire_event.h"

/* /healthz fails once the event loop has not published for this long. */
#define TW_METRICS_STALE_S 10

enum tw_feature_state {
	TW_FEATURE_STATE_OFF = 0, /* not asked for */
	TW_FEATURE_STATE_ON,      /* running */
	TW_FEATURE_STATE_FAILED,  /* asked for, not running (the "OFF" of the features line) */
};

struct tw_metrics_snapshot {
	bool ready;                        /* "ready" was logged, not stopping yet */
	uint8_t features[TW_FEATURE_MAX];  /* enum tw_feature_state, by enum tw_feature */
	uint64_t kernel[TW_CNT_MAX];       /* capture's counters, by enum tw_counter */
	struct tw_correlator_stats correlator;
	struct tw_traces_stats traces;
	uint64_t spans_unsampled;          /* finished spans of unsampled traces, not exported */
	bool propagation;                  /* sock_ops runs: prop[] holds its counters */
	uint64_t prop[TW_PC_MAX];          /* by enum tw_prop_counter */
	bool otlp;                         /* the OTLP exporter runs: otlp holds its counters */
	struct tw_otlp_stats otlp_stats;
};

/* What the process looks like at scrape time (read by tw_metrics itself). */
struct tw_metrics_process {
	uint64_t rss_bytes;     /* /proc/self/statm resident pages * page size */
	long open_fds;          /* negative: unknown */
	uint64_t max_fds;       /* soft RLIMIT_NOFILE */
	double loop_age_s;      /* seconds since the last publish (or the start) */
};

struct tw_metrics_cfg {
	const char *addr; /* as --metrics-addr accepted it */
	/* names of snapshot.prop[] entries (tw_prop_counter_name(), sockops.h) */
	const char *(*prop_counter_name)(unsigned idx);
};

struct tw_metrics;

/*
 * --metrics-addr: "IPV4:PORT", "[IPV6]:PORT", "localhost:PORT" or ":PORT"
 * (every address). PORT 0 lets the kernel choose (logged at start). On
 * success *out = arg and 0; else a message on stderr and -EINVAL.
 */
int tw_metrics_option(const char *arg, const char **out);
/* The address itself: 0 or -EINVAL. */
int tw_metrics_parse_addr(const char *arg, struct sockaddr_storage *ss, socklen_t *len);

/*
 * Binds and starts serving from libmicrohttpd's thread (start it after the
 * signals the daemon handles are blocked: the thread inherits the mask).
 * Until the first publish, /healthz counts from now and /readyz says
 * "starting". 0 or negative errno (logged).
 */
int tw_metrics_start(struct tw_metrics **out, const struct tw_metrics_cfg *cfg);
/* The port bound (the chosen one for port 0). */
uint16_t tw_metrics_port(const struct tw_metrics *m);
/* Copies snap for the server thread; also marks the event loop alive. */
void tw_metrics_publish(struct tw_metrics *m, const struct tw_metrics_snapshot *snap);
/* Stops the thread and frees m. NULL is fine. */
void tw_metrics_stop(struct tw_metrics *m);

/* Reads /proc/self for p (loop_age_s left 0). */
void tw_metrics_read_process(struct tw_metrics_process *p);
/*
 * The /metrics body for snap and p, malloc'd and NUL-terminated (NULL when
 * out of memory). prop_name may be NULL (counters named "pc<N>").
 */
char *tw_metrics_render(const struct tw_metrics_snapshot *snap, const struct tw_metrics_process *p,
			const char *(*prop_name)(unsigned idx));

#endif
