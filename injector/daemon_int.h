/* SPDX-License-Identifier: BSD-2-Clause */
/* The daemon's state, shared by daemon.c (start, event loop, stop) and
 * daemon_stats.c (the stats lines, the bounds line, /metrics). */
#ifndef TW_DAEMON_INT_H
#define TW_DAEMON_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "feature_set.h"

struct tw_daemon {
	const struct tw_config *cfg;
	struct tw_capture *capture;
	struct tw_sockops *sockops;     /* NULL: propagation off */
	struct tw_headers *headers;     /* NULL: no sk_msg (header propagation off) */
	struct tw_ipopt *ipopt;         /* NULL: IPv4 option off */
	struct tw_goprobes *goprobes;   /* NULL: Go probes off */
	struct tw_tls *tls;             /* NULL: TLS capture off */
	struct tw_correlator *correlator;
	struct tw_traces *traces;
	struct tw_exporter *exporters;
	struct tw_exporter *otlp; /* also in exporters; for its counters */
	struct tw_procinfo *procinfo;
	struct tw_metrics *metrics;     /* NULL: no --metrics-addr */
	struct tw_k8s *k8s;             /* NULL: no pod metadata */
	struct tw_podsel *podsel;       /* NULL: no selection by pod */
	uint64_t next_metrics_ns;
	bool ready;                     /* "ready" logged, not stopping */
	uint8_t features[TW_FEATURE_MAX]; /* enum tw_feature_state, set at start */
	uint64_t spans_unsampled;
	int epfd, sigfd, timerfd;
	uint64_t next_stats_ns;
	uint64_t next_clock_ns;
	/* memory bounds reached, by reason: logged at most once a minute */
	uint64_t bounds_logged[6];
	uint64_t next_bounds_ns;
};

static inline uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* "stats (WHEN): ..." lines: records, spans, traces, fds; HTTP/2 */
void tw_daemon_log_stats(struct tw_daemon *d, const char *when);
/* propagation counters and how spans got their ids (also to stdout with the
 * console exporter) */
void tw_daemon_log_propagation_stats(struct tw_daemon *d, const char *when);
void tw_daemon_log_otlp_stats(struct tw_daemon *d, const char *when);
/* memory bounds reached, by reason: when any grew, at most once a minute;
 * at exit when any is non-zero */
void tw_daemon_log_bounds(struct tw_daemon *d, uint64_t now, bool at_exit);
/* --metrics-addr: the figures /metrics serves */
void tw_daemon_publish_metrics(struct tw_daemon *d);

#endif
