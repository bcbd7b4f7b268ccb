// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the HTTP/1.x framer and head parser
 * (correlator/http1.c, http1_head.c): the bytes other processes send and
 * receive, as the kernel hands them over, one syscall at a time.
 *
 * Input: byte 0 selects options, bytes 1-4 seed the split points, the rest
 * is the stream. The stream goes to a request framer and to a response
 * framer (both directions of a connection), each time:
 *  1. in one feed, everything captured;
 *  2. split at random points, everything captured: up to the first UNSYNC
 *     the events must be the same as in 1 (where a syscall ends must not
 *     change what the framer makes of the bytes);
 *  3. split at random points with the kernel's capture limit (only a prefix
 *     of each syscall's bytes is seen) and random tw_h1_unsync() /
 *     tw_h1_set_opaque() calls, the way the correlator drives it.
 * Every run checks what any owner relies on: events in order (BEGIN, HEAD,
 * END; UNSYNC at any time), BEGIN offsets increasing and inside the stream,
 * head strings terminated and within their bounds, the phase consistent
 * with the last event; ASan and UBSan check the rest.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

#include "fuzz_check.h"

#define MAX_EVENTS 4096

struct ev_rec {
	uint8_t type;
	bool has_head;
	uint64_t offset;
	uint64_t body_bytes;
	uint16_t status;
	uint8_t minor, body, n_tp;
	uint64_t content_length;
	char method[TW_H1_METHOD_MAX];
	char target[TW_H1_START_KEEP + 1];
	char host[TW_H1_HOST_MAX];
	char tp[TW_H1_TRACEPARENT_KEEP + 1];
};

struct run {
	struct tw_h1 f;
	enum tw_h1_kind kind;
	uint8_t opts;
	bool in_msg, have_head, unsynced_once;
	uint64_t last_begin, fed;
	uint64_t expect_body;     /* at END, as the head announced; UINT64_MAX: any */
	size_t n;                 /* events recorded (until the first UNSYNC) */
	struct ev_rec ev[MAX_EVENTS];
};

/* xorshift64*: split points from the input's seed */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static size_t bounded_strlen(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	CHECK(n < max); /* terminated inside its buffer */
	return n;
}

static void check_head(const struct run *r, const struct tw_h1_head *h, bool full)
{
	CHECK(h->method && h->target && h->host && h->traceparent);
	bounded_strlen(h->host, TW_H1_HOST_MAX);
	CHECK(bounded_strlen(h->traceparent, TW_H1_TRACEPARENT_KEEP + 1) <= TW_H1_TRACEPARENT_KEEP);
	if (r->kind == TW_H1_REQUEST) {
		size_t m = bounded_strlen(h->method, TW_H1_METHOD_MAX);

		CHECK(m > 0 || !full);
		CHECK(bounded_strlen(h->target, TW_H1_START_KEEP + 1) <= TW_H1_START_KEEP);
		if (full) {
			CHECK(h->status == 0);
			for (size_t i = 0; i < m; i++)
				CHECK(h->method[i] > ' ' && h->method[i] < 0x7f);
		}
	} else {
		CHECK(!*h->target);
		if (full)
			CHECK(h->status >= 100 && h->status <= 999);
	}
	if (full) {
		CHECK(h->minor <= 9);
		CHECK(h->body <= TW_H1_BODY_CLOSE);
		CHECK(h->body != TW_H1_BODY_CLOSE || r->kind == TW_H1_RESPONSE);
	}
}

static void record(struct run *r, const struct tw_h1_event *e)
{
	struct ev_rec *x;

	if (r->unsynced_once || r->n == MAX_EVENTS)
		return;
	x = &r->ev[r->n++];
	memset(x, 0, sizeof(*x));
	x->type = (uint8_t)e->type;
	x->offset = e->offset;
	x->body_bytes = e->type == TW_H1_EV_END ? e->body_bytes : 0;
	if (e->head) {
		x->has_head = true;
		x->status = e->head->status;
		x->minor = e->head->minor;
		x->body = (uint8_t)e->head->body;
		x->n_tp = e->head->n_traceparent;
		x->content_length = e->head->body == TW_H1_BODY_LENGTH ? e->head->content_length : 0;
		snprintf(x->method, sizeof(x->method), "%s", e->head->method);
		snprintf(x->target, sizeof(x->target), "%s", e->head->target);
		snprintf(x->host, sizeof(x->host), "%s", e->head->host);
		snprintf(x->tp, sizeof(x->tp), "%s", e->head->traceparent);
	}
	if (e->type == TW_H1_EV_UNSYNC)
		r->unsynced_once = true;
}

static int on_event(void *ctx, const struct tw_h1_event *e)
{
	struct run *r = ctx;
	int directives = 0;

	record(r, e);
	switch (e->type) {
	case TW_H1_EV_BEGIN:
		CHECK(!r->in_msg);
		CHECK(e->offset >= r->last_begin);
		CHECK(e->offset < r->fed);
		CHECK(tw_h1_phase(&r->f) == TW_H1_IN_MESSAGE);
		r->last_begin = e->offset;
		r->in_msg = true;
		r->have_head = false;
		break;
	case TW_H1_EV_HEAD:
		CHECK(r->in_msg && !r->have_head);
		CHECK(e->head);
		check_head(r, e->head, true);
		r->have_head = true;
		/* what the correlator answers: a response to HEAD has no body,
		 * a 2xx to CONNECT starts a tunnel */
		if (r->kind == TW_H1_RESPONSE)
			directives = (r->opts >> 4) & (TW_H1_NO_BODY | TW_H1_TUNNEL);
		if (directives || e->head->body == TW_H1_BODY_NONE)
			r->expect_body = 0;
		else if (e->head->body == TW_H1_BODY_LENGTH)
			r->expect_body = e->head->content_length;
		else
			r->expect_body = UINT64_MAX;
		break;
	case TW_H1_EV_END:
		CHECK(r->in_msg && r->have_head);
		/* a counted body ends exactly at its length, skipped bytes included */
		CHECK(r->expect_body == UINT64_MAX || e->body_bytes == r->expect_body);
		CHECK(tw_h1_phase(&r->f) == TW_H1_BETWEEN || tw_h1_phase(&r->f) == TW_H1_OPAQUE);
		r->in_msg = false;
		break;
	case TW_H1_EV_UNSYNC:
		CHECK(tw_h1_phase(&r->f) == TW_H1_UNSYNCED);
		CHECK(e->in_message == r->in_msg);
		if (e->head)
			check_head(r, e->head, false);
		r->in_msg = false;
		break;
	default:
		CHECK(!"unknown event");
	}
	return directives;
}

static void start(struct run *r, enum tw_h1_kind kind, uint8_t opts)
{
	r->kind = kind;
	r->opts = opts;
	r->in_msg = r->have_head = r->unsynced_once = false;
	r->last_begin = r->fed = 0;
	r->n = 0;
	tw_h1_init(&r->f, kind, on_event, r);
}

static void feed(struct run *r, const uint8_t *p, size_t cap, uint64_t len)
{
	r->fed += len < cap ? cap : len;
	tw_h1_feed(&r->f, p, cap, len);
	CHECK(tw_h1_stream_offset(&r->f) == r->fed);
	if (r->in_msg)
		CHECK(tw_h1_phase(&r->f) == TW_H1_IN_MESSAGE || tw_h1_phase(&r->f) == TW_H1_UNTIL_CLOSE);
	else
		CHECK(tw_h1_phase(&r->f) != TW_H1_IN_MESSAGE && tw_h1_phase(&r->f) != TW_H1_UNTIL_CLOSE);
}

/* Copies each feed into a buffer of exactly its size, so that ASan sees any
 * read past what the framer was given. */
static void feed_exact(struct run *r, const uint8_t *p, size_t cap, uint64_t len)
{
	uint8_t *copy = malloc(cap ? cap : 1);

	CHECK(copy);
	memcpy(copy, p, cap);
	feed(r, copy, cap, len);
	free(copy);
}

static void finish(struct run *r)
{
	tw_h1_eof(&r->f);
	(void)tw_h1_body_bytes(&r->f);
	tw_h1_release(&r->f); /* a head cut short holds its buffer */
}

static bool same_events(const struct run *a, const struct run *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct ev_rec *x = &a->ev[i], *y = &b->ev[i];

		if (x->type != y->type || x->offset != y->offset || x->body_bytes != y->body_bytes ||
		    x->has_head != y->has_head)
			return false;
		/* an UNSYNC's head is only what was read when sync was lost */
		if (x->type == TW_H1_EV_UNSYNC)
			continue;
		if (x->has_head &&
		    (x->status != y->status || x->minor != y->minor || x->body != y->body ||
		     x->n_tp != y->n_tp || x->content_length != y->content_length ||
		     strcmp(x->method, y->method) || strcmp(x->target, y->target) ||
		     strcmp(x->host, y->host) || strcmp(x->tp, y->tp)))
			return false;
	}
	return true;
}

static struct run whole, split, lossy;

static void one_direction(enum tw_h1_kind kind, uint8_t opts, uint64_t seed, const uint8_t *s,
			  size_t n)
{
	uint64_t rs = seed | 1;
	size_t off;

	/* 1. one feed */
	start(&whole, kind, opts);
	feed_exact(&whole, s, n, n);
	finish(&whole);

	/* 2. random splits, all captured: the same events */
	start(&split, kind, opts);
	for (off = 0; off < n;) {
		size_t k = 1 + rnd(&rs) % (opts & 1 ? 8 : 300);

		if (k > n - off)
			k = n - off;
		feed_exact(&split, s + off, k, k);
		off += k;
	}
	finish(&split);
	if (!same_events(&whole, &split)) {
		fprintf(stderr, "%s: split feeds gave other events than one feed (%zu vs %zu)\n",
			kind == TW_H1_REQUEST ? "request" : "response", split.n, whole.n);
		abort();
	}

	/* 3. capture limits, forced unsync and protocol switches */
	start(&lossy, kind, opts);
	for (off = 0; off < n;) {
		uint64_t r = rnd(&rs);
		size_t k = 1 + r % 200, cap;
		uint64_t len;

		if (k > n - off)
			k = n - off;
		cap = (r >> 16) % 4 ? k : (size_t)((r >> 20) % (k + 1));
		len = k + ((r >> 32) % 8 == 0 ? (r >> 40) % 5000 : 0);
		feed_exact(&lossy, s + off, cap, len);
		if ((r >> 48) % 64 == 0) {
			tw_h1_unsync(&lossy.f);
			lossy.in_msg = false;
		}
		if ((r >> 56) == 0x5a) {
			tw_h1_set_opaque(&lossy.f);
			lossy.in_msg = false;
		}
		off += k;
	}
	finish(&lossy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seed = 0;
	uint8_t opts;

	if (size < 5)
		return 0;
	opts = data[0];
	memcpy(&seed, data + 1, 4);
	data += 5;
	size -= 5;
	one_direction(TW_H1_REQUEST, opts, seed, data, size);
	one_direction(TW_H1_RESPONSE, opts, seed ^ 0x9e3779b97f4a7c15ull, data, size);

	/* the helpers a span is built with */
	if (size) {
		char target[TW_H1_START_KEEP + 1], path[64], query[64];
		size_t t = size < TW_H1_START_KEEP ? size : TW_H1_START_KEEP;

		memcpy(target, data, t);
		target[t] = '\0';
		tw_h1_split_target(target, path, sizeof(path), query, sizeof(query));
		bounded_strlen(path, sizeof(path));
		bounded_strlen(query, sizeof(query));
		(void)tw_h1_plausible_start(TW_H1_REQUEST, data, size);
		(void)tw_h1_plausible_start(TW_H1_RESPONSE, data, size);
	}
	return 0;
}
