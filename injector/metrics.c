// SPDX-License-Identifier: BSD-2-Clause
/* --metrics-addr: /metrics, /healthz and /readyz from libmicrohttpd's thread. */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "fds.h"
#include "log.h"

/* A scrape and two probes at a time are the normal load; anything beyond
 * is refused rather than queued. */
#define TW_METRICS_MAX_CONNS 16
#define TW_METRICS_MAX_CONNS_PER_IP 8
#define TW_METRICS_CONN_TIMEOUT_S 10

struct tw_metrics {
	struct MHD_Daemon *mhd;
	uint16_t port;
	const char *(*prop_name)(unsigned idx);
	pthread_mutex_t lock;
	/* guarded by lock: */
	struct tw_metrics_snapshot snap;
	bool published;         /* snap holds a publish */
	uint64_t alive_mono_ns; /* last publish, or the start */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the address -------------------------------------------------------- */

int tw_metrics_parse_addr(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon, *port_s, *h;
	size_t hlen;
	unsigned long port = 0;

	memset(ss, 0, sizeof(*ss));
	if (!arg)
		return -EINVAL;
	if (arg[0] == '[') {
		const char *end = strchr(arg, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		h = arg + 1;
		hlen = (size_t)(end - h);
		port_s = end + 2;
	} else {
		colon = strrchr(arg, ':');
		if (!colon || memchr(arg, ':', (size_t)(colon - arg)))
			return -EINVAL; /* none, or an IPv6 address without brackets */
		h = arg;
		hlen = (size_t)(colon - arg);
		port_s = colon + 1;
	}
	if (hlen >= sizeof(host) || !*port_s || strlen(port_s) > 5)
		return -EINVAL;
	for (const char *p = port_s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port > 65535)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (arg[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (!*host)
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (!strcmp(host, "localhost"))
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	}
	return 0;
}

int tw_metrics_option(const char *arg, const char **out)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (tw_metrics_parse_addr(arg, &ss, &len)) {
		fprintf(stderr, "tracewire: --metrics-addr: expected HOST:PORT (HOST an IPv4 address, "
				"[IPv6 address], localhost, or empty for every IPv4 address; PORT 0 to "
				"65535), got '%s'\nTry 'tracewire --help'.\n", arg ? arg : "");
		return -EINVAL;
	}
	*out = arg;
	return 0;
}

/* ---- the text format ---------------------------------------------------- */

struct out {
	char *p;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap * 2 + (size_t)n;
		char *p = realloc(o->p, cap);

		if (!p) {
			o->oom = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
}

/* "# HELP" and "# TYPE" of one family; help has no backslash or newline. */
static void family(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void u64(struct out *o, const char *name, const char *labels, uint64_t v)
{
	put(o, "%s%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
	    (unsigned long long)v);
}

/* A single-sample family. */
static void one(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
	family(o, name, type, help);
	u64(o, name, "", v);
}

/* label="value" with the value escaped as the format wants (\\, \", \n). */
static void label(char *buf, size_t size, const char *key, const char *value)
{
	size_t n = (size_t)snprintf(buf, size, "%s=\"", key);

	for (const char *c = value; *c && n + 3 < size; c++) {
		if (*c == '\\' || *c == '"') {
			buf[n++] = '\\';
			buf[n++] = *c;
		} else if (*c == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *c;
		}
	}
	if (n + 2 > size)
		n = size - 2;
	buf[n++] = '"';
	buf[n] = '\0';
}

static void by_label(struct out *o, const char *name, const char *key, const char *value,
		     uint64_t v)
{
	char l[160];

	label(l, sizeof(l), key, value);
	u64(o, name, l, v);
}

static void render_daemon(struct out *o, const struct tw_metrics_snapshot *s,
			  const struct tw_metrics_process *p)
{
	bool ready = s->ready && s->features[TW_FEATURE_CAPTURE] == TW_FEATURE_STATE_ON;

	one(o, "tracewire_ready", "gauge",
	    "1 after tracewire logged ready, while capture runs (what /readyz answers, less the loop age)",
	    ready);
	family(o, "tracewire_event_loop_age_seconds", "gauge",
	       "Seconds since the event loop last published these figures (about every second)");
	put(o, "tracewire_event_loop_age_seconds %.3f\n", p->loop_age_s);
	family(o, "tracewire_feature_enabled", "gauge",
	       "1 for each feature that runs (capture, tls, headers, sockops, ip-option, go, h2-headers)");
	for (int f = 0; f < TW_FEATURE_MAX; f++)
		by_label(o, "tracewire_feature_enabled", "feature", tw_feature_name(f),
			 s->features[f] == TW_FEATURE_STATE_ON);
	family(o, "tracewire_feature_requested", "gauge",
	       "1 for each feature the options asked for; requested but not enabled: it failed to load or attach");
	for (int f = 0; f < TW_FEATURE_MAX; f++)
		by_label(o, "tracewire_feature_requested", "feature", tw_feature_name(f),
			 s->features[f] != TW_FEATURE_STATE_OFF);
	one(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes (/proc/self/statm)",
	    p->rss_bytes);
	if (p->open_fds >= 0)
		one(o, "process_open_fds", "gauge", "Open file descriptors", (uint64_t)p->open_fds);
	one(o, "process_max_fds", "gauge", "Soft limit of open file descriptors", p->max_fds);
}

static void render_kernel(struct out *o, const struct tw_metrics_snapshot *s)
{
	const uint64_t *k = s->kernel;

	one(o, "tracewire_kernel_records_total", "counter", "Records the BPF programs sent to the daemon",
	    k[TW_CNT_EVENTS]);
	family(o, "tracewire_kernel_lost_total", "counter",
	       "What the kernel side could not capture, by reason: ringbuf_full (records lost, the daemon "
	       "fell behind), conn_map_full (sockets not tracked), copy_fault (payload copies from user "
	       "memory failed), tls_no_socket (TLS reads and writes whose socket stayed unknown)");
	by_label(o, "tracewire_kernel_lost_total", "reason", "ringbuf_full", k[TW_CNT_RB_FULL]);
	by_label(o, "tracewire_kernel_lost_total", "reason", "conn_map_full", k[TW_CNT_CONN_FULL]);
	by_label(o, "tracewire_kernel_lost_total", "reason", "copy_fault", k[TW_CNT_READ_FAULT]);
	by_label(o, "tracewire_kernel_lost_total", "reason", "tls_no_socket", k[TW_CNT_TLS_NO_SOCK]);
	one(o, "tracewire_kernel_not_http_total", "counter",
	    "Reads and writes on untracked sockets that did not start like HTTP/1.x", k[TW_CNT_NOT_HTTP]);
	family(o, "tracewire_server_traceparent_total", "counter",
	       "Server requests with an incoming traceparent: continued (the trace goes on) or invalid (a new trace)");
	by_label(o, "tracewire_server_traceparent_total", "result", "continued",
		 k[TW_CNT_SERVER_CONTINUED]);
	by_label(o, "tracewire_server_traceparent_total", "result", "invalid", k[TW_CNT_SERVER_INVALID]);
	one(o, "tracewire_tls_records_total", "counter",
	    "Records of TLS plaintext (OpenSSL uprobes)", k[TW_CNT_TLS_RECORDS]);
	one(o, "tracewire_tls_client_contexts_total", "counter",
	    "TLS client requests whose ids went to the TCP or IPv4 option", k[TW_CNT_TLS_CTX]);
	one(o, "tracewire_kernel_http2_unsynced_total", "counter",
	    "HTTP/2 directions whose frames the kernel lost (copied as they come until found again)",
	    k[TW_CNT_H2_UNSYNCED]);
	one(o, "tracewire_kernel_http2_cut_total", "counter",
	    "HTTP/2 reads and writes with more header bytes than their records hold", k[TW_CNT_H2_CUT]);
}

static void render_correlator(struct out *o, const struct tw_metrics_snapshot *s)
{
	const struct tw_correlator_stats *c = &s->correlator;

	one(o, "tracewire_correlator_records_total", "counter", "Records the correlator handled", c->events);
	one(o, "tracewire_correlator_bad_records_total", "counter",
	    "Records too short or inconsistent: ignored", c->bad_records);
	one(o, "tracewire_spans_total", "counter", "Spans finished (sampled or not)", c->spans);
	one(o, "tracewire_spans_closed_mid_request_total", "counter",
	    "Spans ended with an error by a close before the response", c->spans_error_closed);
	one(o, "tracewire_correlator_unsynced_total", "counter",
	    "Messages whose length could not be followed (bytes beyond those captured per call)", c->unsynced);
	one(o, "tracewire_connections", "gauge", "Connections tracked in user space", c->conns_live);
	one(o, "tracewire_connections_evicted_total", "counter",
	    "Connections dropped to stay within --max-conns", c->conns_evicted);
	one(o, "tracewire_connections_switched_total", "counter",
	    "Connections that left HTTP (101 Switching Protocols, CONNECT tunnels)", c->conns_switched);
	one(o, "tracewire_requests_unanswered_total", "counter",
	    "Requests without a response when tracewire stopped or the connection went", c->dropped_unanswered);
	one(o, "tracewire_ctx_records_total", "counter",
	    "Trace-context records from the kernel (ids chosen for client requests)", c->ctx_records);
	one(o, "tracewire_ctx_records_matched_total", "counter",
	    "Trace-context records that named a client request the correlator framed", c->ctx_matched);
	one(o, "tracewire_ctx_records_unmatched_total", "counter",
	    "Trace-context records that did not (stale, overflowed, or left when their connection went)",
	    c->ctx_unmatched);
	family(o, "tracewire_span_ids_total", "counter",
	       "Spans by where their ids came from: kernel (chosen by the BPF side), thread_parent (client "
	       "spans parented by the writing thread's server request), header_fallback (the request's own traceparent)");
	by_label(o, "tracewire_span_ids_total", "source", "kernel", c->spans_kernel_ids);
	by_label(o, "tracewire_span_ids_total", "source", "thread_parent", c->spans_thread_parent);
	by_label(o, "tracewire_span_ids_total", "source", "header_fallback", c->spans_header_fallback);
	family(o, "tracewire_http2_connections_total", "counter",
	       "Connections that spoke HTTP/2, by how they were found: preface (from their first bytes), "
	       "upgrade (h2c by 101), midstream (picked up again after their state was evicted)");
	by_label(o, "tracewire_http2_connections_total", "how", "preface",
		 c->h2_conns - c->h2_upgrades - c->h2_midstream);
	by_label(o, "tracewire_http2_connections_total", "how", "upgrade", c->h2_upgrades);
	by_label(o, "tracewire_http2_connections_total", "how", "midstream", c->h2_midstream);
	one(o, "tracewire_http2_spans_total", "counter", "Spans of HTTP/2 streams (in tracewire_spans_total too)",
	    c->h2_spans);
	one(o, "tracewire_http2_streams_dropped_total", "counter",
	    "HTTP/2 streams not tracked: too many live on their connection or in all", c->h2_streams_dropped);
	one(o, "tracewire_http2_unsynced_total", "counter",
	    "HTTP/2 directions that lost frame sync (bytes not captured, records lost)", c->h2_unsynced);
	one(o, "tracewire_http2_hpack_errors_total", "counter",
	    "HTTP/2 header blocks that could not be decoded (header table state lost)", c->h2_hpack_errors);
	one(o, "tracewire_http2_hpack_nomem_total", "counter",
	    "HPACK allocations refused: the header tables' share of the memory budget", c->h2_hpack_nomem);
	one(o, "tracewire_http2_table_refused_total", "counter",
	    "Peers that allowed an HPACK table above 4096 bytes (4096 kept)", c->h2_table_refused);
}

static void render_export(struct out *o, const struct tw_metrics_snapshot *s)
{
	const struct tw_traces_stats *t = &s->traces;
	const struct tw_otlp_stats *x = &s->otlp_stats;

	family(o, "tracewire_spans_dropped_total", "counter",
	       "Finished spans not exported, by reason: unsampled (trace not sampled), trace_buffer (all-zero "
	       "trace id or out of memory), otlp_queue_full, otlp_rejected (the backend refused the batch), "
	       "otlp_retries (retries or time ran out)");
	by_label(o, "tracewire_spans_dropped_total", "reason", "unsampled", s->spans_unsampled);
	by_label(o, "tracewire_spans_dropped_total", "reason", "trace_buffer", t->spans_dropped);
	if (s->otlp) {
		by_label(o, "tracewire_spans_dropped_total", "reason", "otlp_queue_full",
			 x->spans_dropped_queue_full);
		by_label(o, "tracewire_spans_dropped_total", "reason", "otlp_rejected",
			 x->spans_dropped_rejected);
		by_label(o, "tracewire_spans_dropped_total", "reason", "otlp_retries",
			 x->spans_dropped_retries);
	}
	one(o, "tracewire_trace_spans_out_total", "counter", "Spans handed to the exporters", t->spans_out);
	one(o, "tracewire_traces_exported_total", "counter",
	    "Traces (or parts of traces) handed to the exporters", t->traces_out);
	one(o, "tracewire_traces_forced_early_total", "counter",
	    "Traces handed on before their --trace-window because the span buffer was full",
	    t->traces_forced_early);
	one(o, "tracewire_trace_buffer_spans", "gauge", "Spans held while their traces assemble",
	    t->spans_buffered);
	one(o, "tracewire_trace_buffer_traces", "gauge", "Traces being assembled", t->traces_buffered);
	one(o, "tracewire_export_errors_total", "counter", "Exporter calls that returned an error",
	    t->export_errors);
	if (!s->otlp)
		return;
	one(o, "tracewire_otlp_queue_spans", "gauge", "Spans waiting in the OTLP export queue",
	    x->queue_len);
	one(o, "tracewire_otlp_spans_exported_total", "counter",
	    "Spans the OTLP backend acknowledged (2xx)", x->spans_exported);
	one(o, "tracewire_otlp_requests_total", "counter", "OTLP POSTs attempted", x->requests);
	one(o, "tracewire_otlp_requests_failed_total", "counter",
	    "OTLP POSTs that got no 2xx answer (retried or not)", x->requests_failed);
	one(o, "tracewire_otlp_retries_total", "counter", "OTLP POSTs retried", x->retries);
	one(o, "tracewire_otlp_sent_bytes_total", "counter", "OTLP request bodies sent, in bytes (compressed)",
	    x->bytes_sent);
}

static void render_propagation(struct out *o, const struct tw_metrics_snapshot *s,
			       const char *(*prop_name)(unsigned idx))
{
	char fallback[16];

	if (!s->propagation)
		return;
	family(o, "tracewire_propagation_total", "counter",
	       "Trace-context propagation in the kernel, by event (the names of the propagation stats line)");
	for (unsigned i = 0; i < TW_PC_MAX; i++) {
		const char *name = prop_name ? prop_name(i) : NULL;

		if (!name || !*name || !strcmp(name, "?")) {
			snprintf(fallback, sizeof(fallback), "pc%u", i);
			name = fallback;
		}
		by_label(o, "tracewire_propagation_total", "event", name, s->prop[i]);
	}
}

char *tw_metrics_render(const struct tw_metrics_snapshot *snap, const struct tw_metrics_process *p,
			const char *(*prop_name)(unsigned idx))
{
	struct out o = { .cap = 16384 };

	o.p = malloc(o.cap);
	if (!o.p)
		return NULL;
	o.p[0] = '\0';
	render_daemon(&o, snap, p);
	render_kernel(&o, snap);
	render_correlator(&o, snap);
	render_export(&o, snap);
	render_propagation(&o, snap, prop_name);
	if (o.oom) {
		free(o.p);
		return NULL;
	}
	return o.p;
}

void tw_metrics_read_process(struct tw_metrics_process *p)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long size = 0, resident = 0;
	long page = sysconf(_SC_PAGESIZE);

	memset(p, 0, sizeof(*p));
	if (f) {
		if (fscanf(f, "%llu %llu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	p->rss_bytes = (uint64_t)resident * (uint64_t)(page > 0 ? page : 4096);
	p->open_fds = tw_open_fds();
	p->max_fds = tw_nofile_limit();
}

/* ---- the server --------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body,
			     const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!body)
		return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

__attribute__((format(printf, 1, 2)))
static char *text(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	static const char *const plain = "text/plain; charset=utf-8";
	struct tw_metrics *m = cls;
	struct tw_metrics_snapshot snap;
	struct tw_metrics_process proc;
	uint64_t alive_ns, now = mono_ns();
	bool published, healthy;
	double age;

	(void)version;
	(void)upload_data;
	(void)req_cls;
	if (*upload_data_size) {
		*upload_data_size = 0; /* a body is read and ignored */
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text("only GET and HEAD\n"), plain);

	pthread_mutex_lock(&m->lock);
	snap = m->snap;
	published = m->published;
	alive_ns = m->alive_mono_ns;
	pthread_mutex_unlock(&m->lock);
	age = now > alive_ns ? (double)(now - alive_ns) / 1e9 : 0;
	healthy = age <= TW_METRICS_STALE_S;

	if (!strcmp(url, "/metrics")) {
		tw_metrics_read_process(&proc);
		proc.loop_age_s = age;
		return reply(c, MHD_HTTP_OK, tw_metrics_render(&snap, &proc, m->prop_name),
			     "text/plain; version=0.0.4; charset=utf-8");
	}
	if (!strcmp(url, "/healthz")) {
		if (healthy)
			return reply(c, MHD_HTTP_OK, text("ok\n"), plain);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			     text("event loop silent for %.1f s (limit %d s)\n", age, TW_METRICS_STALE_S),
			     plain);
	}
	if (!strcmp(url, "/readyz")) {
		if (!published)
			return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				     text("starting: programs not attached yet\n"), plain);
		if (!snap.ready)
			return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				     text("not ready: starting or stopping\n"), plain);
		if (snap.features[TW_FEATURE_CAPTURE] != TW_FEATURE_STATE_ON)
			return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, text("capture is not running\n"),
				     plain);
		if (!healthy)
			return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				     text("event loop silent for %.1f s\n", age), plain);
		return reply(c, MHD_HTTP_OK, text("ready\n"), plain);
	}
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, text("tracewire: /metrics /healthz /readyz\n"), plain);
	return reply(c, MHD_HTTP_NOT_FOUND, text("not found: /metrics, /healthz, /readyz\n"), plain);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_warn("metrics: %s", line);
}

int tw_metrics_start(struct tw_metrics **out, const struct tw_metrics_cfg *cfg)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	struct tw_metrics *m;
	socklen_t len;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;

	*out = NULL;
	if (tw_metrics_parse_addr(cfg->addr, &ss, &len)) {
		log_error("--metrics-addr %s: not HOST:PORT", cfg->addr ? cfg->addr : "(none)");
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->prop_name = cfg->prop_counter_name;
	m->alive_mono_ns = mono_ns();
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* epoll, not select(2): tracewire's fds go far beyond FD_SETSIZE */
	m->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)TW_METRICS_MAX_CONNS,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)TW_METRICS_MAX_CONNS_PER_IP,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)TW_METRICS_CONN_TIMEOUT_S,
				  MHD_OPTION_END);
	if (!m->mhd) {
		int err = errno ? -errno : -EADDRNOTAVAIL;

		log_error("--metrics-addr %s: cannot serve there: %s", cfg->addr, strerror(-err));
		pthread_mutex_destroy(&m->lock);
		free(m);
		return err;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? info->port : 0;
	if (!m->port)
		m->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	log_info("metrics: serving /metrics, /healthz and /readyz on %s (port %u)", cfg->addr,
		 (unsigned)m->port);
	*out = m;
	return 0;
}

uint16_t tw_metrics_port(const struct tw_metrics *m)
{
	return m ? m->port : 0;
}

void tw_metrics_publish(struct tw_metrics *m, const struct tw_metrics_snapshot *snap)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->snap = *snap;
	m->published = true;
	m->alive_mono_ns = mono_ns();
	pthread_mutex_unlock(&m->lock);
}

void tw_metrics_stop(struct tw_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->mhd);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
