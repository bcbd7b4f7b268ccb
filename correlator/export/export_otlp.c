// SPDX-License-Identifier: BSD-2-Clause
/* OTLP/HTTP exporter: bounded queue, worker thread, libcurl. See export_otlp.h. */
#include "export_otlp.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "log.h"
#include "otlp_batch.h"
#include "otlp_pb.h"
#include "procinfo.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
#define LOG_EVERY_NS (10 * 1000000000ull)

struct otlp_exporter {
	struct tw_exporter base; /* first: the list holds &base */
	struct tw_otlp_cfg cfg;
	struct tw_procinfo *procinfo;

	pthread_mutex_t lock;
	pthread_cond_t wake;      /* worker: work, flush or stop */
	pthread_cond_t drained;   /* flushers: queue empty and nothing in flight */
	pthread_t thread;
	bool thread_started;

	/* under lock */
	struct tw_otlp_item *queue;  /* ring of cfg.max_queue */
	size_t head, count;
	bool in_flight;
	bool flush_requested;
	bool stopping;
	uint64_t drain_deadline;  /* CLOCK_MONOTONIC ns; 0: none */
	struct tw_otlp_stats stats;

	/* worker only */
	/* Sized for max_batch at start: encoding a batch allocates nothing. */
	struct tw_otlp_batch batch;
	CURL *curl;
	struct curl_slist *http_headers;
	uint64_t retry_after_ms;  /* from the last response, when has_retry_after */
	bool has_retry_after;
	bool failing;
	uint64_t last_reject_log;
	unsigned seed;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static struct otlp_exporter *otlp_of(struct tw_exporter *e)
{
	return (struct otlp_exporter *)e;
}

void tw_otlp_cfg_defaults(struct tw_otlp_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout_ms = 10000;
	cfg->schedule_delay_ms = 5000;
	cfg->max_queue = 2048;
	cfg->max_batch = 512;
	cfg->max_retry_ms = 60000;
	cfg->shutdown_ms = 5000;
}

/* ---- event loop side ----------------------------------------------------- */

static int otlp_export_trace(struct tw_exporter *e, const struct tw_span *const *spans, size_t n)
{
	struct otlp_exporter *x = otlp_of(e);
	size_t cap = x->cfg.max_queue;
	bool wake;

	pthread_mutex_lock(&x->lock);
	if (n > cap - x->count) {
		x->stats.spans_dropped_queue_full += n;
		pthread_mutex_unlock(&x->lock);
		return -ENOBUFS;
	}
	for (size_t i = 0; i < n; i++)
		tw_otlp_item_fill(&x->queue[(x->head + x->count + i) % cap], spans[i], x->procinfo,
				  x->cfg.command_line);
	x->count += n;
	x->stats.spans_queued += n;
	wake = x->count >= x->cfg.max_batch;
	pthread_mutex_unlock(&x->lock);
	if (wake)
		pthread_cond_signal(&x->wake);
	return 0;
}

/* Waits until everything queued is sent or dropped, at most until the drain
 * deadline, which the first of flush() and destroy() sets. */
static int drain(struct otlp_exporter *x, bool stop)
{
	struct timespec until;
	uint64_t deadline;
	int err = 0;

	pthread_mutex_lock(&x->lock);
	if (!x->drain_deadline)
		x->drain_deadline = mono_ns() + x->cfg.shutdown_ms * 1000000ull;
	deadline = x->drain_deadline;
	x->flush_requested = true;
	x->stopping |= stop;
	pthread_cond_signal(&x->wake);
	until.tv_sec = deadline / 1000000000ull;
	until.tv_nsec = deadline % 1000000000ull;
	while (x->count || x->in_flight) {
		if (pthread_cond_timedwait(&x->drained, &x->lock, &until) == ETIMEDOUT) {
			err = -ETIMEDOUT;
			break;
		}
	}
	if (!err && !stop)
		x->drain_deadline = 0; /* drained in time: the next flush gets its own window */
	pthread_mutex_unlock(&x->lock);
	return err;
}

static int otlp_flush(struct tw_exporter *e)
{
	struct otlp_exporter *x = otlp_of(e);
	int err = drain(x, false);

	if (err)
		log_warn("OTLP: flush did not finish within %llu ms; %llu spans still queued",
			 (unsigned long long)x->cfg.shutdown_ms,
			 (unsigned long long)x->count);
	return err;
}

/* ---- worker: HTTP ------------------------------------------------------------- */

static size_t discard_body(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int tw_otlp_retry_after(const char *value, time_t now, uint64_t *ms)
{
	char val[128];
	size_t len;
	const char *p = value;
	uint64_t secs = 0;
	time_t t;

	while (is_blank(*p))
		p++;
	len = strlen(p);
	while (len && is_blank(p[len - 1]))
		len--;
	if (!len || len >= sizeof(val))
		return -EINVAL;
	memcpy(val, p, len);
	val[len] = '\0';
	if (strspn(val, "0123456789") == len) {
		/* delay-seconds = 1*DIGIT: saturate rather than wrap; whatever
		 * exceeds the retry budget gives the batch up all the same */
		for (size_t i = 0; i < len; i++) {
			if (secs > (TW_OTLP_RETRY_AFTER_MAX_S - (uint64_t)(val[i] - '0')) / 10) {
				secs = TW_OTLP_RETRY_AFTER_MAX_S;
				break;
			}
			secs = secs * 10 + (uint64_t)(val[i] - '0');
		}
		*ms = secs * 1000;
		return 0;
	}
	t = curl_getdate(val, NULL);
	if (t <= 0)
		return -EINVAL;
	if (t <= now)
		secs = 0;
	else if ((uint64_t)t - (uint64_t)now > TW_OTLP_RETRY_AFTER_MAX_S)
		secs = TW_OTLP_RETRY_AFTER_MAX_S;
	else
		secs = (uint64_t)t - (uint64_t)now;
	*ms = secs * 1000;
	return 0;
}

/* Retry-After: delay-seconds or an HTTP-date. */
static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct otlp_exporter *x = ctx;
	size_t len = size * n;
	char val[128];

	if (len > 12 && !strncasecmp(p, "Retry-After:", 12)) {
		size_t vlen = len - 12;

		if (vlen >= sizeof(val))
			vlen = sizeof(val) - 1;
		memcpy(val, p + 12, vlen);
		val[vlen] = '\0';
		x->has_retry_after = !tw_otlp_retry_after(val, time(NULL), &x->retry_after_ms);
	}
	return len;
}

/* Aborts a transfer once the drain deadline has passed. */
static int on_progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct otlp_exporter *x = ctx;
	uint64_t deadline;

	(void)a, (void)b, (void)c, (void)d;
	pthread_mutex_lock(&x->lock);
	deadline = x->stopping ? x->drain_deadline : 0;
	pthread_mutex_unlock(&x->lock);
	return deadline && mono_ns() >= deadline;
}

static int setup_curl(struct otlp_exporter *x)
{
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();

	if (!c)
		return -ENOMEM;
	h = curl_slist_append(h, "Content-Type: application/x-protobuf");
	if (h && x->cfg.gzip)
		h = curl_slist_append(h, "Content-Encoding: gzip");
	for (size_t i = 0; h && i < x->cfg.n_headers; i++)
		h = curl_slist_append(h, x->cfg.headers[i]);
	/* curl would send "Expect: 100-continue" for large bodies: a round trip for nothing. */
	if (h)
		h = curl_slist_append(h, "Expect:");
	if (!h) {
		curl_easy_cleanup(c);
		return -ENOMEM;
	}
	curl_easy_setopt(c, CURLOPT_URL, x->cfg.url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "tracewire/" TW_VERSION);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)x->cfg.timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (x->cfg.ca_file[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, x->cfg.ca_file);
	x->curl = c;
	x->http_headers = h;
	return 0;
}

enum post_result { POST_OK, POST_RETRY, POST_REJECTED };

static enum post_result post_once(struct otlp_exporter *x, char *why, size_t why_len)
{
	const struct tw_buf *b = x->cfg.gzip ? &x->batch.gz : &x->batch.body;
	CURLcode rc;
	long status = 0;

	x->has_retry_after = false;
	curl_easy_setopt(x->curl, CURLOPT_POSTFIELDS, b->data);
	curl_easy_setopt(x->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
	rc = curl_easy_perform(x->curl);
	pthread_mutex_lock(&x->lock);
	x->stats.requests++;
	x->stats.bytes_sent += b->len;
	pthread_mutex_unlock(&x->lock);
	if (rc != CURLE_OK) {
		snprintf(why, why_len, "%s", curl_easy_strerror(rc));
		return POST_RETRY;
	}
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300)
		return POST_OK;
	snprintf(why, why_len, "HTTP %ld", status);
	if (status == 429 || status == 502 || status == 503 || status == 504)
		return POST_RETRY;
	return POST_REJECTED;
}

/* Sleeps ms unless stopping makes the drain deadline come first. Returns
 * false when the batch should be given up (deadline reached). */
static bool wait_retry(struct otlp_exporter *x, uint64_t ms, uint64_t give_up_at)
{
	uint64_t start = mono_ns(), until;
	struct timespec ts;
	bool ok = true;

	/* ms may come from a server (Retry-After): no wrap-around */
	if (start >= give_up_at || ms > (give_up_at - start) / 1000000ull)
		return false;
	until = start + ms * 1000000ull;
	pthread_mutex_lock(&x->lock);
	for (;;) {
		uint64_t now = mono_ns(), end = until;

		if (x->stopping && x->drain_deadline && x->drain_deadline < end)
			end = x->drain_deadline;
		if (now >= end) {
			ok = now >= until;
			break;
		}
		ts.tv_sec = end / 1000000000ull;
		ts.tv_nsec = end % 1000000000ull;
		pthread_cond_timedwait(&x->wake, &x->lock, &ts);
	}
	pthread_mutex_unlock(&x->lock);
	return ok;
}

static void count(struct otlp_exporter *x, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&x->lock);
	*field += n;
	pthread_mutex_unlock(&x->lock);
}

static void send_batch(struct otlp_exporter *x, size_t n)
{
	uint64_t give_up_at = mono_ns() + x->cfg.max_retry_ms * 1000000ull;
	uint64_t backoff = BACKOFF_FIRST_MS;
	char why[CURL_ERROR_SIZE + 32];

	if (tw_otlp_batch_encode(&x->batch, n) || (x->cfg.gzip && tw_otlp_batch_gzip(&x->batch))) {
		log_warn("OTLP: encoding a batch of %zu spans failed (out of memory): dropped", n);
		count(x, &x->stats.spans_dropped_retries, n);
		return;
	}
	for (;;) {
		enum post_result r = post_once(x, why, sizeof(why));
		uint64_t wait;

		if (r == POST_OK) {
			count(x, &x->stats.spans_exported, n);
			if (x->failing)
				log_info("OTLP: export to %s works again", x->cfg.url);
			x->failing = false;
			return;
		}
		count(x, &x->stats.requests_failed, 1);
		if (r == POST_REJECTED) {
			uint64_t now = mono_ns();

			count(x, &x->stats.spans_dropped_rejected, n);
			if (now - x->last_reject_log >= LOG_EVERY_NS || !x->last_reject_log) {
				log_warn("OTLP: %s rejected a batch of %zu spans (%s): dropped, not retried",
					 x->cfg.url, n, why);
				x->last_reject_log = now;
			}
			return;
		}
		if (!x->failing)
			log_warn("OTLP: export to %s failing (%s); retrying with backoff", x->cfg.url, why);
		x->failing = true;
		if (x->has_retry_after) {
			wait = x->retry_after_ms;
		} else {
			/* equal jitter: never hammer, never wait in lockstep */
			wait = backoff / 2 + (uint64_t)rand_r(&x->seed) % (backoff / 2 + 1);
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
		}
		if (!wait_retry(x, wait, give_up_at)) {
			count(x, &x->stats.spans_dropped_retries, n);
			log_warn("OTLP: gave up on a batch of %zu spans after retrying (%s)", n, why);
			return;
		}
		count(x, &x->stats.retries, 1);
	}
}

/* Takes up to max_batch spans off the queue when a batch is due. */
static size_t take_batch(struct otlp_exporter *x, uint64_t *next_due)
{
	size_t n = 0, cap = x->cfg.max_queue;

	for (;;) {
		uint64_t now = mono_ns();
		bool due = x->count >= x->cfg.max_batch || x->flush_requested || x->stopping ||
			   (x->count && now >= *next_due);
		struct timespec ts;

		if (due && x->count)
			break;
		if (x->stopping && !x->count)
			return 0;
		if (x->flush_requested && !x->count) {
			x->flush_requested = false;
			pthread_cond_broadcast(&x->drained);
		}
		if (now >= *next_due)
			*next_due = now + x->cfg.schedule_delay_ms * 1000000ull;
		ts.tv_sec = *next_due / 1000000000ull;
		ts.tv_nsec = *next_due % 1000000000ull;
		pthread_cond_timedwait(&x->wake, &x->lock, &ts);
	}
	while (n < x->cfg.max_batch && x->count) {
		x->batch.items[n++] = x->queue[x->head];
		x->head = (x->head + 1) % cap;
		x->count--;
	}
	*next_due = mono_ns() + x->cfg.schedule_delay_ms * 1000000ull;
	return n;
}

static void *worker(void *arg)
{
	struct otlp_exporter *x = arg;
	uint64_t next_due = mono_ns() + x->cfg.schedule_delay_ms * 1000000ull;

	pthread_mutex_lock(&x->lock);
	for (;;) {
		size_t n = take_batch(x, &next_due);

		if (!n)
			break;
		x->in_flight = true;
		pthread_mutex_unlock(&x->lock);
		send_batch(x, n);
		pthread_mutex_lock(&x->lock);
		x->in_flight = false;
		/* past the drain deadline, what is left is dropped, not sent */
		if (x->stopping && x->drain_deadline && mono_ns() >= x->drain_deadline) {
			x->stats.spans_dropped_retries += x->count;
			x->head = (x->head + x->count) % x->cfg.max_queue;
			x->count = 0;
		}
		if (!x->count)
			pthread_cond_broadcast(&x->drained);
	}
	pthread_cond_broadcast(&x->drained);
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* ---- life cycle ------------------------------------------------------------- */

static void free_exporter(struct otlp_exporter *x)
{
	if (x->curl)
		curl_easy_cleanup(x->curl);
	curl_slist_free_all(x->http_headers);
	free(x->queue);
	tw_otlp_batch_free(&x->batch);
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->wake);
	pthread_cond_destroy(&x->drained);
	free(x);
}

static void otlp_destroy(struct tw_exporter *e)
{
	struct otlp_exporter *x = otlp_of(e);

	if (x->thread_started) {
		if (drain(x, true))
			log_warn("OTLP: %llu spans not sent within %llu ms at exit: dropped",
				 (unsigned long long)x->count, (unsigned long long)x->cfg.shutdown_ms);
		pthread_join(x->thread, NULL);
	}
	free_exporter(x);
	curl_global_cleanup();
}

static const struct tw_exporter_ops otlp_ops = {
	.name = "otlp",
	.export_trace = otlp_export_trace,
	.flush = otlp_flush,
	.destroy = otlp_destroy,
};

void tw_otlp_exporter_stats(struct tw_exporter *e, struct tw_otlp_stats *out)
{
	struct otlp_exporter *x;

	memset(out, 0, sizeof(*out));
	if (!e || e->ops != &otlp_ops)
		return;
	x = otlp_of(e);
	pthread_mutex_lock(&x->lock);
	*out = x->stats;
	out->queue_len = x->count;
	pthread_mutex_unlock(&x->lock);
}

static bool cfg_valid(const struct tw_otlp_cfg *cfg)
{
	return cfg->url[0] && cfg->max_queue >= 1 && cfg->max_batch >= 1 &&
	       cfg->max_batch <= cfg->max_queue && cfg->timeout_ms >= 1;
}

struct tw_exporter *tw_otlp_exporter_new(const struct tw_otlp_cfg *cfg, struct tw_procinfo *procinfo)
{
	pthread_condattr_t cattr;
	struct otlp_exporter *x;
	int err;

	if (!cfg || !cfg_valid(cfg)) {
		errno = EINVAL;
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		errno = ENOMEM;
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		curl_global_cleanup();
		errno = ENOMEM;
		return NULL;
	}
	x->base.ops = &otlp_ops;
	x->cfg = *cfg;
	x->procinfo = procinfo;
	x->seed = (unsigned)mono_ns() ^ (unsigned)getpid();
	if (!x->cfg.host_name[0] && gethostname(x->cfg.host_name, sizeof(x->cfg.host_name) - 1))
		snprintf(x->cfg.host_name, sizeof(x->cfg.host_name), "unknown");
	pthread_mutex_init(&x->lock, NULL);
	/* Every deadline here is CLOCK_MONOTONIC; the default would be realtime. */
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&x->wake, &cattr);
	pthread_cond_init(&x->drained, &cattr);
	pthread_condattr_destroy(&cattr);
	x->queue = calloc(cfg->max_queue, sizeof(*x->queue));
	err = tw_otlp_batch_init(&x->batch, &x->cfg, cfg->max_batch);
	if (!err)
		err = !x->queue ? -ENOMEM : setup_curl(x);
	if (!err)
		err = -pthread_create(&x->thread, NULL, worker, x);
	if (err) {
		free_exporter(x);
		curl_global_cleanup();
		errno = -err;
		return NULL;
	}
	x->thread_started = true;
	return &x->base;
}
