// SPDX-License-Identifier: BSD-2-Clause
/* What the daemon tells of itself: stats lines, bounds, /metrics
 * (contract in daemon_int.h). */
#include "daemon_int.h"

#include <stdio.h>
#include <string.h>

#include "capture.h"
#include "correlator.h"
#include "export_otlp.h"
#include "fds.h"
#include "log.h"
#include "metrics.h"
#include "sockops.h"
#include "traces.h"

/* The propagation counters (sock_ops' and sk_msg's), with the capture
 * side's tracestate refusals, where tracestate is read. false: propagation off. */
static bool prop_counters(struct tw_daemon *d, uint64_t pc[TW_PC_MAX], const uint64_t *kernel)
{
	uint64_t k[TW_CNT_MAX] = { 0 };

	if (!d->sockops || tw_sockops_counters(d->sockops, pc))
		return false;
	if (!kernel) {
		tw_capture_counters(d->capture, k);
		kernel = k;
	}
	pc[TW_PC_TS_INVALID] = kernel[TW_CNT_TRACESTATE_INVALID];
	return true;
}

void tw_daemon_log_stats(struct tw_daemon *d, const char *when)
{
	uint64_t k[TW_CNT_MAX] = { 0 };
	struct tw_correlator_stats cs;
	struct tw_traces_stats ts;

	tw_capture_counters(d->capture, k);
	tw_correlator_stats(d->correlator, &cs);
	tw_traces_stats(d->traces, &ts);
	log_info("stats (%s): kernel records=%llu lost_ringbuf_full=%llu conn_map_full=%llu "
		 "copy_faults=%llu not_http=%llu | correlator records=%llu bad=%llu spans=%llu "
		 "closed_mid_request=%llu unsynced=%llu conns=%llu evicted=%llu switched=%llu "
		 "unanswered=%llu pending=%llu | "
		 "traces exported=%llu forced_early=%llu spans_dropped=%llu export_errors=%llu | "
		 "fds_open=%ld fds_limit=%llu",
		 when, (unsigned long long)k[TW_CNT_EVENTS], (unsigned long long)k[TW_CNT_RB_FULL],
		 (unsigned long long)k[TW_CNT_CONN_FULL], (unsigned long long)k[TW_CNT_READ_FAULT],
		 (unsigned long long)k[TW_CNT_NOT_HTTP], (unsigned long long)cs.events,
		 (unsigned long long)cs.bad_records, (unsigned long long)cs.spans,
		 (unsigned long long)cs.spans_error_closed, (unsigned long long)cs.unsynced,
		 (unsigned long long)cs.conns_live, (unsigned long long)cs.conns_evicted,
		 (unsigned long long)cs.conns_switched,
		 (unsigned long long)cs.dropped_unanswered, (unsigned long long)cs.pending_live,
		 (unsigned long long)ts.traces_out,
		 (unsigned long long)ts.traces_forced_early, (unsigned long long)ts.spans_dropped,
		 (unsigned long long)ts.export_errors, tw_open_fds(),
		 (unsigned long long)tw_nofile_limit());
	log_info("stats (%s): http2 h2_conns=%llu h2_upgrades=%llu h2_midstream=%llu h2_spans=%llu "
		 "h2_streams_dropped=%llu "
		 "h2_unsynced=%llu h2_hpack_errors=%llu h2_hpack_nomem=%llu h2_table_refused=%llu "
		 "h2_kernel_unsynced=%llu h2_kernel_cut=%llu",
		 when, (unsigned long long)cs.h2_conns, (unsigned long long)cs.h2_upgrades,
		 (unsigned long long)cs.h2_midstream, (unsigned long long)cs.h2_spans,
		 (unsigned long long)cs.h2_streams_dropped, (unsigned long long)cs.h2_unsynced,
		 (unsigned long long)cs.h2_hpack_errors, (unsigned long long)cs.h2_hpack_nomem,
		 (unsigned long long)cs.h2_table_refused, (unsigned long long)k[TW_CNT_H2_UNSYNCED],
		 (unsigned long long)k[TW_CNT_H2_CUT]);
}

void tw_daemon_log_propagation_stats(struct tw_daemon *d, const char *when)
{
	uint64_t pc[TW_PC_MAX] = { 0 };
	struct tw_correlator_stats cs;
	char line[2048];
	size_t len = 0;

	tw_correlator_stats(d->correlator, &cs);
	if (prop_counters(d, pc, NULL)) {
		for (unsigned i = 0; i < TW_PC_MAX && len < sizeof(line); i++)
			len += snprintf(line + len, sizeof(line) - len, " %s=%llu",
					tw_prop_counter_name(i), (unsigned long long)pc[i]);
	} else {
		snprintf(line, sizeof(line), " off");
	}
	log_info("stats (%s): propagation%s | ids ctx_records=%llu ctx_matched=%llu "
		 "ctx_unmatched=%llu kernel_ids=%llu thread_parent=%llu header_fallback=%llu "
		 "spans_unsampled=%llu",
		 when, line, (unsigned long long)cs.ctx_records,
		 (unsigned long long)cs.ctx_matched, (unsigned long long)cs.ctx_unmatched,
		 (unsigned long long)cs.spans_kernel_ids, (unsigned long long)cs.spans_thread_parent,
		 (unsigned long long)cs.spans_header_fallback, (unsigned long long)d->spans_unsampled);
	/* the console exporter's reader watches stdout, not the log */
	if (d->cfg->exporters & TW_EXPORT_CONSOLE) {
		printf("# propagation (%s):%s\n", when, line);
		fflush(stdout);
	}
}

void tw_daemon_log_otlp_stats(struct tw_daemon *d, const char *when)
{
	struct tw_otlp_stats os;

	if (d->otlp) {
		tw_otlp_exporter_stats(d->otlp, &os);
		log_info("stats (%s): otlp spans_exported=%llu queued_now=%llu dropped_queue_full=%llu "
			 "dropped_rejected=%llu dropped_retries=%llu requests=%llu failed=%llu "
			 "retries=%llu bytes_sent=%llu",
			 when, (unsigned long long)os.spans_exported, (unsigned long long)os.queue_len,
			 (unsigned long long)os.spans_dropped_queue_full,
			 (unsigned long long)os.spans_dropped_rejected,
			 (unsigned long long)os.spans_dropped_retries, (unsigned long long)os.requests,
			 (unsigned long long)os.requests_failed, (unsigned long long)os.retries,
			 (unsigned long long)os.bytes_sent);
	}
}

/* Eviction and refusals at the memory budget's bounds, by reason: one line
 * when any grew, at most once a minute (and at exit, when any is non-zero). */
void tw_daemon_log_bounds(struct tw_daemon *d, uint64_t now, bool at_exit)
{
	uint64_t k[TW_CNT_MAX] = { 0 }, v[6] = { 0 };
	struct tw_correlator_stats cs;
	struct tw_traces_stats ts;
	struct tw_otlp_stats os = { 0 };
	bool grew = false, any = false;

	if (!at_exit && now < d->next_bounds_ns)
		return;
	tw_capture_counters(d->capture, k);
	tw_correlator_stats(d->correlator, &cs);
	tw_traces_stats(d->traces, &ts);
	if (d->otlp)
		tw_otlp_exporter_stats(d->otlp, &os);
	v[0] = cs.conns_evicted;
	v[1] = cs.pending_dropped_conn;
	v[2] = cs.pending_dropped_total;
	v[3] = ts.traces_forced_early;
	v[4] = os.spans_dropped_queue_full;
	v[5] = k[TW_CNT_CONN_FULL];
	for (unsigned i = 0; i < 6; i++) {
		grew |= v[i] != d->bounds_logged[i];
		any |= v[i] != 0;
	}
	if (!(at_exit ? any : grew))
		return;
	log_warn("memory bounds reached%s: conns_evicted=%llu (max %zu) pending_refused_conn=%llu "
		 "pending_refused_total=%llu traces_forced_early=%llu export_queue_full=%llu "
		 "bpf_conn_map_full=%llu",
		 at_exit ? " (exit)" : "", (unsigned long long)v[0], (size_t)d->cfg->max_conns,
		 (unsigned long long)v[1], (unsigned long long)v[2], (unsigned long long)v[3],
		 (unsigned long long)v[4], (unsigned long long)v[5]);
	memcpy(d->bounds_logged, v, sizeof(v));
	d->next_bounds_ns = now + 60 * 1000000000ull;
}

/* --metrics-addr: the figures /metrics serves, about once a second. */
void tw_daemon_publish_metrics(struct tw_daemon *d)
{
	struct tw_metrics_snapshot s = { .ready = d->ready, .spans_unsampled = d->spans_unsampled };

	if (!d->metrics)
		return;
	memcpy(s.features, d->features, sizeof(s.features));
	if (d->capture)
		tw_capture_counters(d->capture, s.kernel);
	if (d->correlator)
		tw_correlator_stats(d->correlator, &s.correlator);
	if (d->traces)
		tw_traces_stats(d->traces, &s.traces);
	s.propagation = prop_counters(d, s.prop, s.kernel);
	if (d->otlp) {
		s.otlp = true;
		tw_otlp_exporter_stats(d->otlp, &s.otlp_stats);
	}
	tw_metrics_publish(d->metrics, &s);
}

