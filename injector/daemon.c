// SPDX-License-Identifier: BSD-2-Clause
#include "daemon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "adopt.h"
#include "budget.h"
#include "capdrop.h"
#include "capture.h"
#include "correlator.h"
#include "export_otlp.h"
#include "exporter.h"
#include "fds.h"
#include "goprobes.h"
#include "ipopt.h"
#include "log.h"
#include "metrics.h"
#include "probe.h"
#include "procinfo.h"
#include "feature_set.h"
#include "headers.h"
#include "k8s.h"
#include "podsel.h"
#include "resattr.h"
#include "sockops.h"
#include "tls.h"
#include "traces.h"
#include "umulti.h"

/* Records are pulled on this tick even when no wake-up came (the BPF side
 * wakes the reader only once 64 KiB are queued). */
#define TW_TICK_MS 20
/* How often the monotonic -> unix offset is re-read (NTP steps the wall clock). */
#define TW_CLOCK_REFRESH_NS 1000000000ull

enum { EP_RING = 1, EP_SIGNAL, EP_TIMER };
enum { EP_LINK = 16 }; /* interfaces came or went (the IPv4 option's watcher) */

#include "daemon_int.h"

/* bpf_ktime_get_ns() is CLOCK_MONOTONIC; spans want unix time. */
static int64_t mono_to_unix_offset(void)
{
	uint64_t m1 = now_ns(CLOCK_MONOTONIC);
	uint64_t r = now_ns(CLOCK_REALTIME);
	uint64_t m2 = now_ns(CLOCK_MONOTONIC);

	return (int64_t)r - (int64_t)(m1 + (m2 - m1) / 2);
}

/* service.name: OTEL_SERVICE_NAME, service.name of OTEL_RESOURCE_ATTRIBUTES,
 * then the pod's app.kubernetes.io/name or owner workload, then the executable */
static void k8s_service(struct tw_daemon *d, struct tw_span *span)
{
	struct tw_proc proc;
	struct tw_res res;

	tw_procinfo_lookup(d->procinfo, span->pid, span->service, &proc);
	if (proc.service_source != TW_SERVICE_FROM_ENV &&
	    proc.service_source != TW_SERVICE_FROM_RESOURCE && tw_res_lookup(span->pid, &res) &&
	    res.service[0])
		snprintf(span->service, sizeof(span->service), "%s", res.service);
	else
		snprintf(span->service, sizeof(span->service), "%s", proc.service);
}

static void on_span(void *ctx, struct tw_span *span)
{
	struct tw_daemon *d = ctx;

	/* the sampled flag travelled downstream either way; the span stays here */
	if (!(span->trace_flags & TW_FLAG_SAMPLED)) {
		d->spans_unsampled++;
		return;
	}
	if (d->k8s)
		k8s_service(d, span);
	else
		tw_procinfo_service(d->procinfo, span->pid, span->service, span->service,
				    sizeof(span->service));
	tw_traces_add(d->traces, span, now_ns(CLOCK_MONOTONIC));
}

static void on_switched(void *ctx, uint64_t sock_id)
{
	struct tw_daemon *d = ctx;
	int err = tw_capture_mark_opaque(d->capture, sock_id);

	if (err && err != -ENOENT)
		log_debug("marking socket %#llx as no longer HTTP: %s",
			  (unsigned long long)sock_id, strerror(-err));
}

static void on_h2(void *ctx, uint64_t sock_id)
{
	struct tw_daemon *d = ctx;
	int err = tw_capture_mark_h2(d->capture, sock_id);

	if (err && err != -ENOENT)
		log_debug("marking socket %#llx as HTTP/2: %s", (unsigned long long)sock_id,
			  strerror(-err));
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct tw_daemon *d = ctx;

	tw_correlator_handle(d->correlator, data, size);
	return 0;
}

static int add_exporter(struct tw_daemon *d, struct tw_exporter *ex)
{
	if (!ex)
		return errno ? -errno : -ENOMEM;
	tw_exporter_append(&d->exporters, ex);
	return 0;
}

static int open_exporters(struct tw_daemon *d)
{
	int err;

	if (d->cfg->exporters & TW_EXPORT_CONSOLE) {
		err = add_exporter(d, tw_console_exporter_new(stdout));
		if (err)
			return err;
	}
	if (d->cfg->exporters & TW_EXPORT_OTLP) {
		d->otlp = tw_otlp_exporter_new(&d->cfg->otlp, d->procinfo);
		err = add_exporter(d, d->otlp);
		if (err) {
			log_error("starting the OTLP exporter failed: %s", strerror(-err));
			return err;
		}
		log_info("OTLP: sending to %s (%s, batches of %zu spans at least every %llu ms, "
			 "queue %zu spans)", d->cfg->otlp.url, d->cfg->otlp.gzip ? "gzip" : "uncompressed",
			 d->cfg->otlp.max_batch, (unsigned long long)d->cfg->otlp.schedule_delay_ms,
			 d->cfg->otlp.max_queue);
	}
	if (d->cfg->jsonl_path) {
		err = add_exporter(d, tw_jsonl_exporter_new(d->cfg->jsonl_path));
		if (err) {
			log_error("--jsonl %s: %s", d->cfg->jsonl_path, strerror(-err));
			return err;
		}
	}
	if (!d->exporters)
		log_warn("no exporter configured: spans are assembled and counted, then dropped");
	return 0;
}

static int epoll_add(int epfd, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int open_loop_fds(struct tw_daemon *d)
{
	struct itimerspec tick = {
		.it_interval = { .tv_nsec = TW_TICK_MS * 1000000L },
		.it_value = { .tv_nsec = TW_TICK_MS * 1000000L },
	};
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	/* A shell starts background jobs with SIGINT ignored, and an ignored
	 * signal never reaches a signalfd. Blocked before any thread starts, so
	 * that every thread (the OTLP worker) inherits the mask. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sigfd < 0 || d->timerfd < 0 || d->epfd < 0)
		return -errno;
	if (timerfd_settime(d->timerfd, 0, &tick, NULL))
		return -errno;
	if (epoll_add(d->epfd, d->sigfd, EP_SIGNAL) || epoll_add(d->epfd, d->timerfd, EP_TIMER))
		return -errno;
	return 0;
}

static void on_tick(struct tw_daemon *d)
{
	uint64_t expirations, now = now_ns(CLOCK_MONOTONIC);

	if (read(d->timerfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_debug("timerfd read: %s", strerror(errno));
	if (now >= d->next_clock_ns) {
		tw_correlator_set_clock_offset(d->correlator, mono_to_unix_offset());
		d->next_clock_ns = now + TW_CLOCK_REFRESH_NS;
	}
	tw_capture_drain(d->capture);
	tw_goprobes_tick(d->goprobes, now);
	tw_tls_tick(d->tls, now);
	tw_podsel_tick(d->podsel, now);
	tw_correlator_tick(d->correlator, now);
	tw_traces_tick(d->traces, now);
	tw_daemon_log_bounds(d, now, false);
	if (d->metrics && now >= d->next_metrics_ns) {
		tw_daemon_publish_metrics(d);
		d->next_metrics_ns = now + 1000000000ull;
	}
	if (d->cfg->stats_interval_s && now >= d->next_stats_ns) {
		if (d->next_stats_ns) {
			tw_daemon_log_stats(d, "periodic");
			tw_tls_log_stats(d->tls, d->capture, "periodic");
			tw_daemon_log_propagation_stats(d, "periodic");
			if (d->cfg->go_probes)
				tw_goprobes_log_stats(d->goprobes, "periodic");
			tw_daemon_log_otlp_stats(d, "periodic");
		}
		d->next_stats_ns = now + d->cfg->stats_interval_s * 1000000000ull;
	}
}

static int run_loop(struct tw_daemon *d)
{
	for (;;) {
		struct epoll_event evs[4];
		int n = epoll_wait(d->epfd, evs, 4, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u64) {
			case EP_RING:
				tw_capture_drain(d->capture);
				break;
			case EP_TIMER:
				on_tick(d);
				break;
			case EP_LINK:
				tw_ipopt_process(d->ipopt);
				break;
			case EP_SIGNAL: {
				struct signalfd_siginfo si;

				if (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
					log_info("received %s: stopping", strsignal(si.ssi_signo));
					return 0;
				}
				break;
			}
			}
		}
	}
}

static void shutdown_pipeline(struct tw_daemon *d)
{
	/* /readyz says "stopping" while what is pending is flushed */
	d->ready = false;
	tw_daemon_publish_metrics(d);
	if (d->capture)
		tw_capture_drain(d->capture);
	/* everything handed on before the counters are read, so the exit line
	 * counts the last trace window too */
	tw_correlator_flush(d->correlator);
	tw_traces_flush(d->traces);
	if (d->capture) {
		tw_daemon_log_stats(d, "exit");
		tw_daemon_log_bounds(d, now_ns(CLOCK_MONOTONIC), true);
		tw_tls_log_stats(d->tls, d->capture, "exit");
		if (d->correlator)
			tw_daemon_log_propagation_stats(d, "exit");
		if (d->cfg->go_probes)
			tw_goprobes_log_stats(d->goprobes, "exit");
		tw_goprobes_stop(d->goprobes);
		/* they use capture's maps and programs: they go first */
		tw_tls_stop(d->tls);
		/* it shares propagation's maps */
		tw_ipopt_stop(d->ipopt);
		tw_headers_stop(d->headers);
		tw_sockops_stop(d->sockops);
		tw_capture_stop(d->capture);
	}
	tw_correlator_free(d->correlator);
	tw_traces_free(d->traces);
	tw_exporters_flush(d->exporters);
	tw_daemon_log_otlp_stats(d, "exit");
	tw_exporters_destroy(d->exporters);
	tw_podsel_free(d->podsel); /* after the Go and TLS probes: they ask it */
	tw_k8s_stop(d->k8s); /* after the exporters: they ask it */
	tw_procinfo_free(d->procinfo);
	tw_metrics_stop(d->metrics);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->timerfd >= 0)
		close(d->timerfd);
}

/* Go probes are optional too: without them Go services keep the thread rule. */
static void start_goprobes(struct tw_daemon *d)
{
	int err;

	if (!d->cfg->go_probes) {
		log_info("go probes: off (--go-probes off)");
		return;
	}
	err = tw_goprobes_start(&d->goprobes, d->cfg, d->capture,
				d->headers ? tw_headers_h2_object(d->headers) : NULL);
	if (err) {
		d->goprobes = NULL;
		log_warn("go probes: off: they could not start (%s); Go services are linked by "
			 "the thread rule", strerror(-err));
	}
}

/* The IPv4 option is optional as well: without it, traffic is untouched. */
static void start_ipopt(struct tw_daemon *d)
{
	int err;

	if (!(d->cfg->propagation & TW_PROP_IP))
		return;
	err = tw_ipopt_start(&d->ipopt, d->cfg, d->sockops);
	if (!err)
		err = epoll_add(d->epfd, tw_ipopt_fd(d->ipopt), EP_LINK);
	if (err) {
		tw_ipopt_stop(d->ipopt);
		d->ipopt = NULL;
		log_warn("ip option: off: it could not start (%s); no IPv4 option is inserted or "
			 "stripped, other carriers are unaffected", strerror(-err));
	}
}

/* What runs and what does not, in one line; with --require, a required
 * feature that is off stops tracewire (exit 1) instead. */
static int report_features(struct tw_daemon *d)
{
	const struct tw_config *cfg = d->cfg;
	bool prop = cfg->propagation != TW_PROP_NONE;
	struct {
		bool wanted, on;
		const char *off_why;
	} f[TW_FEATURE_MAX] = {
		[TW_FEATURE_CAPTURE] = { true, d->capture != NULL, "could not start" },
		[TW_FEATURE_TLS] = { cfg->tls_capture, d->tls != NULL,
				     "could not load or found no libssl (see above)" },
		[TW_FEATURE_SOCKOPS] = { prop, d->sockops != NULL, "could not start (see above)" },
		[TW_FEATURE_HEADERS] = { prop, d->headers != NULL, "could not start (see above)" },
		[TW_FEATURE_IP_OPTION] = { (cfg->propagation & TW_PROP_IP) != 0, d->ipopt != NULL,
					   "could not start (see above)" },
		[TW_FEATURE_GO] = { cfg->go_probes, d->goprobes != NULL,
				    "could not start (see above)" },
		[TW_FEATURE_H2_HEADERS] = { (cfg->propagation & TW_PROP_HEADERS) != 0,
					    d->headers && tw_headers_h2_on(d->headers),
					    "could not start (see above)" },
	};
	char line[512];
	size_t len = 0;
	int missing = 0;

	for (int i = 0; i < TW_FEATURE_MAX && len < sizeof(line); i++)
		len += snprintf(line + len, sizeof(line) - len, "%s%s %s", i ? ", " : "",
				tw_feature_name(i), f[i].on ? "on" : f[i].wanted ? "OFF" : "off");
	log_info("features: %s", line);
	for (int i = 0; i < TW_FEATURE_MAX; i++)
		d->features[i] = f[i].on ? TW_FEATURE_STATE_ON
			       : f[i].wanted ? TW_FEATURE_STATE_FAILED : TW_FEATURE_STATE_OFF;
	for (int i = 0; i < TW_FEATURE_MAX; i++) {
		if (!(cfg->require & (1u << i)) || f[i].on)
			continue;
		log_error("--require %s: the feature is off: %s", tw_feature_name(i),
			  f[i].wanted ? f[i].off_why : "not enabled by the other options");
		missing++;
	}
	return missing ? -ENOTSUP : 0;
}

/*
 * Least privilege once everything is attached (capdrop.h): what the running
 * features still do later keeps its capabilities, the rest go, in one line.
 * A failure costs a warning, never the tracing.
 */
static void drop_capabilities(struct tw_daemon *d)
{
	struct tw_capdrop_needs needs = {
		.go = d->goprobes != NULL,
		.tls = d->tls != NULL,
		.ipopt = d->ipopt != NULL,
		.ipopt_prog_ids = d->ipopt && tw_ipopt_uses_prog_ids(d->ipopt),
	};
	struct tw_capdrop_result r;
	struct tw_capsets held;
	char why[1024], names[1024];
	uint64_t keep;
	int err;

	err = tw_capsets_read("/proc/self/status", &held);
	if (err) {
		log_warn("capabilities: not dropped: /proc/self/status: %s", strerror(-err));
		return;
	}
	/* uprobe_multi links (6.6+) are made with bpf(2), not perf_event_open:
	 * measured on 6.18, they attach without CAP_SYS_ADMIN (the Go and TLS
	 * probes use them where tw_umulti_supported() says so) */
	if ((needs.go || needs.tls) && (held.eff & TW_CAP(CAP_SYS_ADMIN)) &&
	    !tw_umulti_supported()) {
		err = tw_capdrop_probe_uprobes(&needs);
		if (err)
			log_warn("capabilities: whether uprobes need CAP_SYS_ADMIN here is unknown "
				 "(%s): it is kept", strerror(-err));
	}
	keep = tw_capdrop_plan(held.eff, &needs, why, sizeof(why));
	err = tw_capdrop_apply(keep, &r);
	if (err == -EAGAIN)
		log_warn("capabilities: %u of %u threads did not drop theirs (the signal blocked?)",
			 r.threads_left, r.threads + r.threads_left);
	else if (err) {
		log_warn("capabilities: not dropped: %s", strerror(-err));
		return;
	}
	tw_cap_names(r.dropped, names, sizeof(names));
	log_info("capabilities: kept %s; dropped %d: %s (effective and permitted sets%s; %u "
		 "threads); no_new_privs set",
		 why[0] ? why : "none", __builtin_popcountll(r.dropped), names[0] ? names : "none",
		 r.bounding ? ", bounding set" : "; bounding set unchanged: no CAP_SETPCAP",
		 r.threads);
}

/* Propagation is optional: when it cannot start, tracing goes on without it. */
static void start_propagation(struct tw_daemon *d)
{
	char what[1024];
	int err;

	tw_config_describe_propagation(d->cfg, what, sizeof(what));
	if (d->cfg->propagation == TW_PROP_NONE) {
		log_info("propagation: %s", what);
		return;
	}
	err = tw_sockops_start(&d->sockops, d->cfg, d->capture);
	if (err) {
		d->sockops = NULL;
		log_warn("propagation: off: it could not start (%s); spans are still captured "
			 "and linked by thread", strerror(-err));
		return;
	}
	/* sk_msg: headers, and the ids of plaintext requests for the options */
	err = tw_headers_start(&d->headers, d->cfg, d->capture, d->sockops);
	if (err) {
		d->headers = NULL;
		log_warn("propagation: sk_msg off: its program could not be loaded or attached "
			 "(%s): no traceparent is inserted, and TCP/IPv4 options carry ids of TLS "
			 "requests only; capture and the other carriers are unaffected",
			 strerror(-err));
	}
	log_info("propagation: %s", what);
	/* connections open before start (a restart): watched as well */
	tw_adopt_run(d->cfg, d->capture, d->sockops, d->headers);
	start_ipopt(d);
}

/* --memory-limit (or the cgroup's): every table's bound, logged in one
 * line; an explicit --max-conns or --bsp-max-queue-size below the budget's
 * bound is kept. */
static int derive_budget(struct tw_config *cfg, struct tw_budget *b)
{
	char line[1024];

	memset(b, 0, sizeof(*b));
	if (cfg->memory_limit) {
		b->limit = cfg->memory_limit;
		snprintf(b->source, sizeof(b->source), "--memory-limit");
	} else {
		b->limit = tw_budget_default_limit("/proc", "/sys/fs/cgroup", b->source,
						   sizeof(b->source));
	}
	if (tw_budget_derive(b->limit, b)) {
		log_error("memory budget %llu bytes (%s): below the least tracewire runs in (%llu MiB)",
			  (unsigned long long)b->limit, b->source,
			  (unsigned long long)(TW_BUDGET_MIN >> 20));
		return -EINVAL;
	}
	if (!cfg->max_conns || cfg->max_conns > b->max_conns)
		cfg->max_conns = b->max_conns;
	b->max_conns = cfg->max_conns;
	if (cfg->otlp.max_queue > b->export_queue)
		cfg->otlp.max_queue = b->export_queue;
	if (cfg->otlp.max_batch > cfg->otlp.max_queue)
		cfg->otlp.max_batch = cfg->otlp.max_queue;
	b->export_queue = cfg->otlp.max_queue;
	tw_budget_set(b);
	tw_budget_describe(b, line, sizeof(line));
	log_info("%s", line);
	return 0;
}

int tw_daemon_run(const struct tw_config *cfg_in)
{
	static struct tw_config cfg_eff; /* cfg_in with the budget's bounds */
	const struct tw_config *cfg = &cfg_eff;
	struct tw_daemon d = { .cfg = cfg, .epfd = -1, .sigfd = -1, .timerfd = -1 };
	struct tw_budget budget;
	struct tw_correlator_cfg ccfg = { 0 };
	char selection[1024];
	struct tw_nofile nofile;
	int err;

	cfg_eff = *cfg_in;
	err = derive_budget(&cfg_eff, &budget);
	if (err)
		return err;
	ccfg = (struct tw_correlator_cfg){
		.max_conns = cfg->max_conns,
		.max_pending = budget.max_pending,
		.max_pending_total = budget.max_pending_total,
		.idle_ns = cfg->idle_timeout_ms * 1000000ull,
		.mono_to_unix_ns = mono_to_unix_offset(),
		.on_span = on_span,
		.on_switched = on_switched,
		.on_h2 = on_h2,
		.sample_ratio = cfg->sample_ratio,
		.sample_ratio_set = true,
		.h2_hpack_bytes = budget.h2_hpack_bytes,
		.ctx = &d,
	};

	/* one fd per map, program, link and probe: 1024 is not much */
	err = tw_nofile_raise(&nofile);
	if (err)
		log_warn("open files limit: %llu; raising it to the hard limit %llu failed: %s",
			 (unsigned long long)nofile.now, (unsigned long long)nofile.hard,
			 strerror(-err));
	else if (nofile.now != nofile.before)
		log_info("open files limit: raised from %llu to %llu (the hard limit)",
			 (unsigned long long)nofile.before, (unsigned long long)nofile.now);
	else
		log_info("open files limit: %llu (the hard limit)", (unsigned long long)nofile.now);
	err = tw_podsel_prepare(&cfg_eff);
	if (err)
		goto cleanup;
	err = tw_ensure_tracefs();
	if (err)
		goto cleanup;
	tw_ipopt_sweep(); /* what a killed instance left */
	d.procinfo = tw_procinfo_new("/proc");
	if (!d.procinfo) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = open_loop_fds(&d);
	if (err) {
		log_error("setting up the event loop failed: %s", strerror(-err));
		goto cleanup;
	}
	/* after the signals are blocked: its thread inherits the mask */
	if (cfg->metrics_addr) {
		struct tw_metrics_cfg mcfg = { .addr = cfg->metrics_addr,
					       .prop_counter_name = tw_prop_counter_name };

		err = tw_metrics_start(&d.metrics, &mcfg);
		if (err)
			goto cleanup;
	}
	/* after the signals are blocked; never waits for the API server */
	d.k8s = tw_k8s_start(cfg->k8s_node, cfg->pod_mode == TW_PODS_FILTER ? &cfg->pods : NULL);
	if (cfg->pod_mode == TW_PODS_FILTER && !d.k8s) {
		log_error("--k8s-namespace/--k8s-selector need pod metadata, which is off (above)");
		err = -EINVAL;
		goto cleanup;
	}
	err = open_exporters(&d);
	if (err)
		goto cleanup;
	d.traces = tw_traces_new(&(struct tw_traces_cfg){
		.window_ns = cfg->trace_window_ms * 1000000ull,
		.max_spans = budget.trace_spans,
		.exporters = d.exporters,
	});
	d.correlator = tw_correlator_new(&ccfg);
	if (!d.procinfo || !d.traces || !d.correlator) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = tw_capture_start(&d.capture, cfg, on_record, &d);
	if (err)
		goto cleanup;
	err = epoll_add(d.epfd, tw_capture_epoll_fd(d.capture), EP_RING);
	if (err)
		goto cleanup;
	if (cfg->pod_mode != TW_PODS_OFF) {
		/* before the per-process features look for processes to probe */
		d.podsel = tw_podsel_new(cfg, d.k8s, tw_capture_map_fd(d.capture, "selected_cgroups"));
		if (!d.podsel) {
			err = -ENOMEM;
			goto cleanup;
		}
	}
	start_propagation(&d);
	start_goprobes(&d);
	d.tls = tw_tls_start(cfg, d.capture);
	err = report_features(&d);
	if (err)
		goto cleanup;
	drop_capabilities(&d);

	tw_config_describe_selection(cfg, selection, sizeof(selection));
	log_info("ready: %zu capture programs attached; tracing %s; exporters:%s%s%s%s%s",
		 tw_capture_attached(d.capture), selection,
		 cfg->exporters & TW_EXPORT_CONSOLE ? " console" : "",
		 cfg->exporters & TW_EXPORT_OTLP ? " otlp" : "",
		 cfg->jsonl_path ? " jsonl=" : "", cfg->jsonl_path ? cfg->jsonl_path : "",
		 d.exporters ? "" : " none");
	d.ready = true;
	tw_daemon_publish_metrics(&d);
	err = run_loop(&d);
cleanup:
	shutdown_pipeline(&d);
	return err;
}
