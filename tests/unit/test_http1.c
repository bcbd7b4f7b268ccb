// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for the streaming HTTP/1.x framer (correlator/http1.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

#define MAX_EVENTS 64

struct rec_event {
	enum tw_h1_event_type type;
	bool has_head;
	bool in_message;
	bool truncated;
	char method[TW_H1_METHOD_MAX];
	char target[TW_H1_START_KEEP + 1];
	char host[TW_H1_HOST_MAX];
	char traceparent[TW_H1_TRACEPARENT_KEEP + 1];
	bool tp_truncated;
	unsigned n_traceparent;
	unsigned status;
	unsigned minor;
	enum tw_h1_body body;
	uint64_t content_length;
	uint64_t body_bytes;
	uint64_t offset;
};

struct recorder {
	struct rec_event ev[MAX_EVENTS];
	size_t n;          /* events recorded (capped at MAX_EVENTS) */
	size_t total;      /* events seen */
	int directives;    /* returned for every non-1xx response HEAD */
	bool in_message;   /* sequence check: BEGIN seen, no END/UNSYNC yet */
	bool have_head;
	size_t begins;        /* BEGIN events seen */
	uint64_t last_begin;  /* offset of the latest BEGIN */
};

static struct recorder *rec_new(void)
{
	struct recorder *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	return r;
}

/* Records the event and checks the grammar every framer must follow:
 * BEGIN (HEAD (END | UNSYNC) | UNSYNC) | UNSYNC. */
static int record(void *ctx, const struct tw_h1_event *ev)
{
	struct recorder *r = ctx;
	struct rec_event *e = r->n < MAX_EVENTS ? &r->ev[r->n++] : NULL;

	r->total++;
	switch (ev->type) {
	case TW_H1_EV_BEGIN:
		assert_false(r->in_message);
		/* every message starts past the previous one's first byte */
		if (r->begins++)
			assert_true(ev->offset > r->last_begin);
		r->last_begin = ev->offset;
		r->in_message = true;
		r->have_head = false;
		break;
	case TW_H1_EV_HEAD:
		assert_true(r->in_message);
		assert_false(r->have_head);
		assert_non_null(ev->head);
		r->have_head = true;
		break;
	case TW_H1_EV_END:
		assert_true(r->in_message);
		assert_true(r->have_head);
		r->in_message = false;
		break;
	case TW_H1_EV_UNSYNC:
		assert_int_equal(ev->in_message, r->in_message);
		if (ev->head)
			assert_true(r->in_message && !r->have_head);
		r->in_message = false;
		break;
	default:
		fail_msg("unknown event %d", ev->type);
	}
	if (e) {
		memset(e, 0, sizeof(*e));
		e->type = ev->type;
		e->in_message = ev->in_message;
		e->body_bytes = ev->body_bytes;
		e->offset = ev->offset;
		if (ev->head) {
			e->has_head = true;
			snprintf(e->method, sizeof(e->method), "%s", ev->head->method);
			snprintf(e->target, sizeof(e->target), "%s", ev->head->target);
			snprintf(e->host, sizeof(e->host), "%s", ev->head->host);
			assert_non_null(ev->head->traceparent);
			assert_true(strlen(ev->head->traceparent) <= TW_H1_TRACEPARENT_KEEP);
			snprintf(e->traceparent, sizeof(e->traceparent), "%s",
				 ev->head->traceparent);
			e->tp_truncated = ev->head->traceparent_truncated;
			e->n_traceparent = ev->head->n_traceparent;
			e->status = ev->head->status;
			e->minor = ev->head->minor;
			e->body = ev->head->body;
			e->content_length = ev->head->content_length;
			e->truncated = ev->head->target_truncated;
		}
	}
	if (ev->type == TW_H1_EV_HEAD && (ev->head->status >= 200 || ev->head->status == 0))
		return r->directives;
	return 0;
}

static void feed_str(struct tw_h1 *f, const char *s)
{
	tw_h1_feed(f, (const uint8_t *)s, strlen(s), strlen(s));
}

static void feed_part(struct tw_h1 *f, const char *s, size_t from, size_t to)
{
	tw_h1_feed(f, (const uint8_t *)s + from, to - from, to - from);
}

/* cap captured bytes of a syscall that moved len */
static void feed_capped(struct tw_h1 *f, const char *s, size_t cap, uint64_t len)
{
	tw_h1_feed(f, (const uint8_t *)s, cap, len);
}

static void expect_request(const struct recorder *r, size_t at, const char *method,
			   const char *target, uint64_t body_bytes)
{
	assert_true(r->n >= at + 3);
	assert_int_equal(r->ev[at].type, TW_H1_EV_BEGIN);
	assert_int_equal(r->ev[at + 1].type, TW_H1_EV_HEAD);
	assert_string_equal(r->ev[at + 1].method, method);
	assert_string_equal(r->ev[at + 1].target, target);
	assert_int_equal(r->ev[at + 2].type, TW_H1_EV_END);
	assert_int_equal(r->ev[at + 2].body_bytes, body_bytes);
}

static void expect_response(const struct recorder *r, size_t at, unsigned status,
			    uint64_t body_bytes)
{
	assert_true(r->n >= at + 3);
	assert_int_equal(r->ev[at].type, TW_H1_EV_BEGIN);
	assert_int_equal(r->ev[at + 1].type, TW_H1_EV_HEAD);
	assert_int_equal(r->ev[at + 1].status, status);
	assert_string_equal(r->ev[at + 1].method, "");
	assert_int_equal(r->ev[at + 2].type, TW_H1_EV_END);
	assert_int_equal(r->ev[at + 2].body_bytes, body_bytes);
}

static void test_request_get(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	feed_str(&f, "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n");
	assert_int_equal(r->n, 3);
	expect_request(r, 0, "GET", "/a/b?x=1&y=2", 0);
	assert_string_equal(r->ev[1].host, "example.com:8080");
	assert_int_equal(r->ev[1].minor, 1);
	assert_int_equal(r->ev[1].body, TW_H1_BODY_NONE);
	assert_int_equal(tw_h1_phase(&f), TW_H1_BETWEEN);
	free(r);
}

/* Memory budget: the head buffer exists only while a head is framed. */
static void test_head_buffer_lazy(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	assert_null(f.b);
	feed_str(&f, "GET /a HTTP/1.1\r\nHost: h\r\nX-Long: ");
	assert_non_null(f.b); /* mid-head */
	feed_str(&f, "v\r\nContent-Length: 3\r\n\r\nab");
	assert_null(f.b);     /* in the body */
	assert_string_equal(r->ev[1].host, "h");
	feed_str(&f, "c");
	assert_null(f.b);     /* between messages */
	feed_str(&f, "GET /b HTTP/1.1\r\n");
	assert_non_null(f.b);
	tw_h1_release(&f);    /* the owner drops it mid-head */
	assert_null(f.b);
	free(r);
}

static const char post_then_get[] =
	"POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
	"GET /next HTTP/1.0\r\n\r\n";

static void check_post_then_get(const struct recorder *r)
{
	assert_int_equal(r->n, 6);
	expect_request(r, 0, "POST", "/submit", 5);
	assert_int_equal(r->ev[1].body, TW_H1_BODY_LENGTH);
	assert_int_equal(r->ev[1].content_length, 5);
	expect_request(r, 3, "GET", "/next", 0);
	assert_int_equal(r->ev[4].minor, 0);
}

static void test_request_every_split(void **state)
{
	size_t len = strlen(post_then_get);

	(void)state;
	for (size_t i = 0; i <= len; i++) {
		struct recorder *r = rec_new();
		struct tw_h1 f;

		tw_h1_init(&f, TW_H1_REQUEST, record, r);
		feed_part(&f, post_then_get, 0, i);
		feed_part(&f, post_then_get, i, len);
		check_post_then_get(r);
		free(r);
	}
}

static void test_request_byte_at_a_time(void **state)
{
	struct recorder *r = rec_new();
	size_t len = strlen(post_then_get);
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	for (size_t i = 0; i < len; i++)
		feed_part(&f, post_then_get, i, i + 1);
	check_post_then_get(r);
	free(r);
}

static void test_request_chunked(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	feed_str(&f, "PUT /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n");
	assert_int_equal(r->n, 3);
	expect_request(r, 0, "PUT", "/u", 15);
	assert_int_equal(r->ev[1].body, TW_H1_BODY_CHUNKED);
	free(r);
}

static void test_pipelined_requests_one_feed(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	feed_str(&f, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
		     "POST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
		     "DELETE /3 HTTP/1.1\r\n\r\n");
	assert_int_equal(r->n, 9);
	expect_request(r, 0, "GET", "/1", 0);
	expect_request(r, 3, "POST", "/2", 3);
	expect_request(r, 6, "DELETE", "/3", 0);
	free(r);
}

/* BEGIN offsets: the kernel names client requests by stream offset, so the
 * framer's count must be that of the stream, whatever it captured. */
static void test_begin_offset_keepalive(void **state)
{
	static const char r1[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char r2[] = "POST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz";
	static const char r3[] = "\r\nGET /3 HTTP/1.1\r\n\r\n"; /* tolerated empty line first */
	struct recorder *r = rec_new();
	size_t l1 = strlen(r1), l2 = strlen(r2);
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	assert_int_equal(tw_h1_stream_offset(&f), 0);
	feed_str(&f, r1);
	assert_int_equal(tw_h1_stream_offset(&f), l1);
	/* the second request's body arrives in its own write */
	feed_part(&f, r2, 0, l2 - 3);
	feed_part(&f, r2, l2 - 3, l2);
	feed_str(&f, r3);
	assert_int_equal(r->n, 9);
	expect_request(r, 0, "GET", "/1", 0);
	expect_request(r, 3, "POST", "/2", 3);
	expect_request(r, 6, "GET", "/3", 0);
	assert_int_equal(r->ev[0].offset, 0);
	assert_int_equal(r->ev[3].offset, l1);
	assert_int_equal(r->ev[6].offset, l1 + l2 + 2);
	/* only BEGIN carries an offset */
	assert_int_equal(r->ev[1].offset, 0);
	assert_int_equal(r->ev[5].offset, 0);
	assert_int_equal(tw_h1_stream_offset(&f), l1 + l2 + strlen(r3));
	free(r);
}

static void test_begin_offset_pipelined_one_feed(void **state)
{
	static const char r1[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char r2[] = "POST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz";
	static const char r3[] = "DELETE /3 HTTP/1.1\r\n\r\n";
	char all[256];
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	snprintf(all, sizeof(all), "%s%s%s", r1, r2, r3);
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	feed_str(&f, "GET /0 HTTP/1.1\r\n\r\n");
	feed_str(&f, all);
	assert_int_equal(r->n, 12);
	expect_request(r, 3, "GET", "/1", 0);
	expect_request(r, 6, "POST", "/2", 3);
	expect_request(r, 9, "DELETE", "/3", 0);
	assert_int_equal(r->ev[3].offset, 19);
	assert_int_equal(r->ev[6].offset, 19 + strlen(r1));
	assert_int_equal(r->ev[9].offset, 19 + strlen(r1) + strlen(r2));
	free(r);
}

static void test_begin_offset_after_uncaptured(void **state)
{
	static const char post[] = "POST /up HTTP/1.1\r\nContent-Length: 2000\r\n\r\n";
	char buf[512];
	struct recorder *r = rec_new();
	size_t hl = strlen(post);
	struct tw_h1 f;

	(void)state;
	memset(buf, 'b', sizeof(buf));
	memcpy(buf, post, hl);
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	/* head + 2000 body bytes, only the first 512 captured */
	feed_capped(&f, buf, sizeof(buf), hl + 2000);
	feed_str(&f, "GET /next HTTP/1.1\r\n\r\n");
	assert_int_equal(r->n, 6);
	expect_request(r, 0, "POST", "/up", 2000);
	expect_request(r, 3, "GET", "/next", 0);
	assert_int_equal(r->ev[3].offset, hl + 2000);

	/* bytes an unsynced framer ignores still count */
	feed_capped(&f, "GET /x HTTP/1.1\r\nCookie: ", 25, 5000); /* head beyond capture */
	assert_int_equal(tw_h1_phase(&f), TW_H1_UNSYNCED);
	feed_str(&f, "ignored tail\r\n\r\n");
	feed_str(&f, "GET /back HTTP/1.1\r\n\r\n");
	assert_int_equal(r->n, 11);
	assert_int_equal(r->ev[6].type, TW_H1_EV_BEGIN);
	assert_int_equal(r->ev[6].offset, hl + 2000 + 22);
	expect_request(r, 8, "GET", "/back", 0);
	assert_int_equal(r->ev[8].offset, hl + 2000 + 22 + 5000 + 16);
	free(r);
}

static const char two_responses[] =
	"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: t\r\n\r\nabc"
	"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";

static void test_response_every_split(void **state)
{
	size_t len = strlen(two_responses);

	(void)state;
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i; j <= len; j++) {
			struct recorder *r = rec_new();
			struct tw_h1 f;

			tw_h1_init(&f, TW_H1_RESPONSE, record, r);
			feed_part(&f, two_responses, 0, i);
			feed_part(&f, two_responses, i, j);
			feed_part(&f, two_responses, j, len);
			assert_int_equal(r->n, 6);
			expect_response(r, 0, 200, 3);
			expect_response(r, 3, 404, 0);
			free(r);
		}
	}
}

static const char chunked_response[] =
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
	"4;name=value;q=\"x;y\"\r\nWiki\r\n"
	"5\r\npedia\r\n"
	"e \r\n in\r\n\r\nchunks.\r\n"
	"0;last\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n"
	"HTTP/1.1 204 No Content\r\n\r\n";

static void test_chunked_response_every_split(void **state)
{
	size_t len = strlen(chunked_response);

	(void)state;
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i; j <= len; j += 3) {
			struct recorder *r = rec_new();
			struct tw_h1 f;

			tw_h1_init(&f, TW_H1_RESPONSE, record, r);
			feed_part(&f, chunked_response, 0, i);
			feed_part(&f, chunked_response, i, j);
			feed_part(&f, chunked_response, j, len);
			assert_int_equal(r->n, 6);
			expect_response(r, 0, 200, 4 + 5 + 14);
			assert_int_equal(r->ev[1].body, TW_H1_BODY_CHUNKED);
			expect_response(r, 3, 204, 0);
			free(r);
		}
	}
}

static void test_lf_only_and_empty_lines(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	feed_str(&f, "\r\n\nGET / HTTP/1.1\nHost: x\nContent-Length: 2\n\nok\r\n"
		     "HEAD /h HTTP/1.1\n\n");
	assert_int_equal(r->n, 6);
	expect_request(r, 0, "GET", "/", 2);
	assert_string_equal(r->ev[1].host, "x");
	expect_request(r, 3, "HEAD", "/h", 0);
	free(r);
}

static void test_header_names_case_insensitive(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	feed_str(&f, "HTTP/1.1 200 OK\r\nCONTENT-length:\t4 \r\n\r\nbodyHTTP/1.1 200 OK\r\n"
		     "tRaNsFeR-eNcOdInG: CHUNKED\r\n\r\n1\r\nx\r\n0\r\n\r\n");
	assert_int_equal(r->n, 6);
	expect_response(r, 0, 200, 4);
	expect_response(r, 3, 200, 1);

	free(r);
	r = rec_new();
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	feed_str(&f, "GET / HTTP/1.1\r\nHOST:  Upper.Example \r\nhost: second\r\n\r\n");
	assert_string_equal(r->ev[1].host, "Upper.Example");
	free(r);
}

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
/* Fields that are not read (their names do not start like content-length,
 * transfer-encoding, host or traceparent: passed over unscanned) never set
 * what the read ones set, whether a line comes whole in one feed (read in
 * place) or cut across feeds (kept in the framer's buffer). */
static void test_untracked_fields_ignored(void **state)
{
	static const char head[] =
		"GET /a HTTP/1.1\r\nX-Host: evil\r\nAccept: content-length: 9\r\n"
		"User-Agent: host: x\r\ncOnTeNt-LeNgTh: 3\r\nhOsT: good\r\n"
		"Xtraceparent: " TP "\r\nContent-Type: text/plain\r\n\r\nabc";
	size_t len = strlen(head);

	(void)state;
	/* lines cut in every way, then the whole head in one feed */
	for (size_t k = 0; k < 4; k++) {
		size_t feed = k < 3 ? k + 1 : len;
		struct recorder *r = rec_new();
		struct tw_h1 f;

		tw_h1_init(&f, TW_H1_REQUEST, record, r);
		for (size_t i = 0; i < len; i += feed)
			feed_part(&f, head, i, i + feed < len ? i + feed : len);
		assert_int_equal(r->n, 3);
		expect_request(r, 0, "GET", "/a", 3);
		assert_int_equal(r->ev[1].body, TW_H1_BODY_LENGTH);
		assert_string_equal(r->ev[1].host, "good");
		assert_int_equal(r->ev[1].n_traceparent, 0);
		free(r);
	}
}


static void expect_tp(const struct rec_event *e, const char *value, unsigned n, bool truncated)
{
	assert_true(e->has_head);
	assert_string_equal(e->traceparent, value);
	assert_int_equal(e->n_traceparent, n);
	assert_int_equal(e->tp_truncated, truncated);
}

/* The first traceparent of a head, OWS trimmed, whatever the name's case;
 * every one counted; nothing carried over to the next message. */
static void test_traceparent_captured(void **state)
{
	static const char reqs[] =
		"GET /1 HTTP/1.1\r\nHost: h\r\ntraceparent: " TP "\r\n\r\n"
		"GET /2 HTTP/1.1\r\nTRACEPARENT:\t " TP " \t\r\nTraceParent: second\r\n"
		"traceparent:third\r\n\r\n"
		"GET /3 HTTP/1.1\r\nHost: h\r\n\r\n"
		"GET /4 HTTP/1.1\r\ntraceparent:\r\ntraceparent: " TP "\r\n\r\n"
		"GET /5 HTTP/1.1\r\ntraceparent-x: a\r\nx-traceparent: b\r\ntraceparen: c\r\n\r\n";
	size_t len = strlen(reqs);

	(void)state;
	for (size_t i = 0; i <= len; i++) {
		struct recorder *r = rec_new();
		struct tw_h1 f;

		tw_h1_init(&f, TW_H1_REQUEST, record, r);
		feed_part(&f, reqs, 0, i);
		feed_part(&f, reqs, i, len);
		assert_int_equal(r->n, 15);
		expect_request(r, 0, "GET", "/1", 0);
		expect_tp(&r->ev[1], TP, 1, false);
		assert_string_equal(r->ev[1].host, "h");
		expect_tp(&r->ev[4], TP, 3, false);
		expect_tp(&r->ev[7], "", 0, false);
		/* an empty one is one: the first, and counted */
		expect_tp(&r->ev[10], "", 2, false);
		/* only the exact name */
		expect_tp(&r->ev[13], "", 0, false);
		free(r);
	}

	/* responses are heads too */
	{
		struct recorder *r = rec_new();
		struct tw_h1 f;

		tw_h1_init(&f, TW_H1_RESPONSE, record, r);
		feed_str(&f, "HTTP/1.1 200 OK\r\ntraceparent: x\r\nContent-Length: 0\r\n\r\n");
		assert_int_equal(r->n, 3);
		expect_tp(&r->ev[1], "x", 1, false);
		free(r);
	}
}

/* Up to 64 bytes are kept; a longer value, or one whose header line runs
 * past what the framer keeps, is flagged. */
static void test_traceparent_long(void **state)
{
	char head[1024], value[TW_H1_LINE_KEEP + 64];

	(void)state;
	for (size_t vlen = 60; vlen <= 70; vlen++) {
		struct recorder *r = rec_new();
		struct tw_h1 f;

		memset(value, 'a', vlen);
		value[vlen] = '\0';
		snprintf(head, sizeof(head), "GET / HTTP/1.1\r\ntraceparent: %s  \r\n\r\n", value);
		tw_h1_init(&f, TW_H1_REQUEST, record, r);
		feed_str(&f, head);
		assert_int_equal(r->n, 3);
		value[vlen < TW_H1_TRACEPARENT_KEEP ? vlen : TW_H1_TRACEPARENT_KEEP] = '\0';
		expect_tp(&r->ev[1], value, 1, vlen > TW_H1_TRACEPARENT_KEEP);
		free(r);
	}

	/* a valid value behind OWS that pushes the line past its kept prefix:
	 * what follows the kept bytes is unknown */
	for (size_t pad = TW_H1_LINE_KEEP - 70; pad < TW_H1_LINE_KEEP; pad++) {
		struct recorder *r = rec_new();
		struct tw_h1 f;
		size_t name_ows = strlen("traceparent:") + pad;
		size_t line_len = name_ows + strlen(TP);
		/* value bytes inside the kept prefix: none when it ends in OWS */
		size_t kept = name_ows < TW_H1_LINE_KEEP ? TW_H1_LINE_KEEP - name_ows : 0;

		memset(value, ' ', pad);
		value[pad] = '\0';
		snprintf(head, sizeof(head), "GET / HTTP/1.1\r\ntraceparent:%s" TP "\r\n\r\n", value);
		tw_h1_init(&f, TW_H1_REQUEST, record, r);
		feed_str(&f, head);
		assert_int_equal(r->n, 3);
		if (line_len + 1 <= TW_H1_LINE_KEEP) { /* the CR fits too: whole */
			expect_tp(&r->ev[1], TP, 1, false);
		} else {
			snprintf(value, sizeof(value), "%.*s", (int)kept, TP);
			expect_tp(&r->ev[1], value, 1, true);
		}
		free(r);
	}
}

static void test_transfer_encoding_rules(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	/* chunked not last: the body runs until close; TE beats Content-Length */
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	feed_str(&f, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n"
		     "Content-Length: 3\r\n\r\nabcdef");
	assert_int_equal(r->n, 2);
	assert_int_equal(r->ev[1].body, TW_H1_BODY_CLOSE);
	assert_int_equal(tw_h1_phase(&f), TW_H1_UNTIL_CLOSE);

	/* a request with a non-chunked final coding cannot be framed */
	free(r);
	r = rec_new();
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	feed_str(&f, "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc");
	assert_int_equal(r->n, 2);
	assert_int_equal(r->ev[1].type, TW_H1_EV_UNSYNC);
	assert_true(r->ev[1].has_head);
	assert_string_equal(r->ev[1].method, "POST");
	assert_int_equal(tw_h1_phase(&f), TW_H1_UNSYNCED);

	/* TE and CL: TE wins for requests too */
	free(r);
	r = rec_new();
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	feed_str(&f, "POST /x HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "2\r\nab\r\n0\r\n\r\nGET /y HTTP/1.1\r\n\r\n");
	assert_int_equal(r->n, 6);
	expect_request(r, 0, "POST", "/x", 2);
	expect_request(r, 3, "GET", "/y", 0);
	free(r);
}

static void test_content_length_lists(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	feed_str(&f, "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok"
		     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc");
	assert_int_equal(r->n, 5);
	expect_response(r, 0, 200, 2);
	assert_int_equal(r->ev[3].type, TW_H1_EV_BEGIN);
	assert_int_equal(r->ev[4].type, TW_H1_EV_UNSYNC);
	assert_int_equal(r->ev[4].status, 200);
	free(r);
}

static void test_uncaptured_length_body_exact(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
	char buf[600];
	struct recorder *r = rec_new();
	size_t hl = strlen(head);
	struct tw_h1 f;

	(void)state;
	memset(buf, 'b', sizeof(buf));
	memcpy(buf, head, hl);
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	/* one write: head + 1000 body bytes, 512 captured */
	feed_capped(&f, buf, 512, hl + 1000);
	assert_int_equal(r->n, 3);
	expect_response(r, 0, 200, 1000);
	assert_int_equal(tw_h1_phase(&f), TW_H1_BETWEEN);

	/* body over three writes, middle one barely captured */
	feed_capped(&f, buf, hl, hl);
	feed_capped(&f, buf + 100, 10, 700);
	assert_int_equal(r->n, 5);
	feed_capped(&f, buf + 100, 0, 299);
	assert_int_equal(r->n, 5);
	assert_int_equal(tw_h1_phase(&f), TW_H1_IN_MESSAGE);
	feed_capped(&f, buf + 100, 1, 1);
	assert_int_equal(r->n, 6);
	expect_response(r, 3, 200, 1000);

	/* still in sync: the next response parses */
	feed_str(&f, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
	expect_response(r, 6, 500, 0);
	free(r);
}

static void test_uncaptured_past_body_loses_sync(void **state)
{
	static const char msg[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	/* 50 more bytes moved than the body holds: a next message we cannot see */
	feed_capped(&f, msg, strlen(msg) - 5, strlen(msg) + 50);
	assert_int_equal(r->n, 4);
	expect_response(r, 0, 200, 10);
	assert_int_equal(r->ev[3].type, TW_H1_EV_UNSYNC);
	assert_false(r->ev[3].in_message);
	assert_int_equal(tw_h1_phase(&f), TW_H1_UNSYNCED);

	/* resync needs a syscall that begins like a status line */
	feed_str(&f, "tail of something\r\n\r\n");
	feed_str(&f, "xHTTP/1.1 200 OK\r\n\r\n");
	assert_int_equal(r->n, 4);
	feed_str(&f, "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\n!");
	expect_response(r, 4, 201, 1);
	free(r);
}

static void test_uncaptured_chunk_data(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n";
	struct recorder *r = rec_new();
	size_t hl = strlen(head);
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	/* head + size line + all 1024 chunk bytes, only 10 of them captured */
	feed_capped(&f, head, hl, hl + 1024);
	assert_int_equal(r->n, 2);
	feed_str(&f, "\r\n3\r\nabc\r\n0\r\n\r\n");
	assert_int_equal(r->n, 3);
	expect_response(r, 0, 200, 1027);

	/* uncaptured bytes beyond the chunk hide the next size line */
	feed_capped(&f, head, hl, hl + 1025);
	assert_int_equal(r->n, 6);
	assert_int_equal(r->ev[5].type, TW_H1_EV_UNSYNC);
	assert_true(r->ev[5].in_message);
	free(r);
}

static void test_uncaptured_head_keeps_start_line(void **state)
{
	static const char part[] = "HTTP/1.1 503 Busy\r\nX-Long: aaaaaaaa";
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	feed_capped(&f, part, strlen(part), 2000);
	assert_int_equal(r->n, 2);
	assert_int_equal(r->ev[1].type, TW_H1_EV_UNSYNC);
	assert_true(r->ev[1].has_head);
	assert_int_equal(r->ev[1].status, 503);

	/* cut inside the start line: nothing to tell */
	free(r);
	r = rec_new();
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	feed_capped(&f, "GET /very", 9, 600);
	assert_int_equal(r->n, 2);
	assert_int_equal(r->ev[1].type, TW_H1_EV_UNSYNC);
	assert_false(r->ev[1].has_head);

	/* uncaptured bytes between messages */
	free(r);
	r = rec_new();
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	feed_capped(&f, "", 0, 100);
	assert_int_equal(r->n, 1);
	assert_false(r->ev[0].in_message);
	free(r);
}

static void test_interim_100_continue(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	feed_str(&f, "HTTP/1.1 100 Continue\r\n\r\n");
	feed_str(&f, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	assert_int_equal(r->n, 6);
	expect_response(r, 0, 100, 0);
	expect_response(r, 3, 200, 2);

	/* both in one write, 103 Early Hints with headers too */
	feed_str(&f, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
		     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(r->n, 15);
	expect_response(r, 6, 103, 0);
	expect_response(r, 9, 100, 0);
	expect_response(r, 12, 201, 0);
	free(r);
}

static void test_101_switches_to_opaque(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	feed_str(&f, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\n\r\n\x81\x05hello");
	assert_int_equal(r->n, 3);
	expect_response(r, 0, 101, 0);
	assert_int_equal(tw_h1_phase(&f), TW_H1_OPAQUE);
	feed_str(&f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	feed_capped(&f, "HTTP/1.1", 8, 100000);
	tw_h1_eof(&f);
	assert_int_equal(r->total, 3);
	free(r);
}

static void test_no_body_statuses(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	feed_str(&f, "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
		     "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\nETag: \"x\"\r\n\r\n"
		     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
	assert_int_equal(r->n, 9);
	expect_response(r, 0, 204, 0);
	assert_int_equal(r->ev[1].body, TW_H1_BODY_NONE);
	expect_response(r, 3, 304, 0);
	expect_response(r, 6, 200, 2);
	free(r);
}

static void test_head_response_directive(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	r->directives = TW_H1_NO_BODY;
	feed_str(&f, "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
	assert_int_equal(r->n, 3);
	expect_response(r, 0, 200, 0);
	assert_int_equal(r->ev[1].body, TW_H1_BODY_LENGTH);
	assert_int_equal(r->ev[1].content_length, 5000);
	/* no Content-Length either: still no body, not until close */
	feed_str(&f, "HTTP/1.1 200 OK\r\n\r\n");
	assert_int_equal(r->n, 6);
	r->directives = 0;
	feed_str(&f, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
	expect_response(r, 6, 200, 1);
	free(r);
}

static void test_connect_tunnel_directive(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	r->directives = TW_H1_TUNNEL;
	feed_str(&f, "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01");
	assert_int_equal(r->n, 3);
	expect_response(r, 0, 200, 0);
	assert_int_equal(tw_h1_phase(&f), TW_H1_OPAQUE);
	free(r);
}

static void test_body_until_close(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	feed_str(&f, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nabc");
	feed_capped(&f, "HTTP/1.1 200 OK\r\n", 5, 100);
	assert_int_equal(r->n, 2);
	assert_int_equal(r->ev[1].body, TW_H1_BODY_CLOSE);
	assert_int_equal(r->ev[1].minor, 0);
	assert_int_equal(tw_h1_phase(&f), TW_H1_UNTIL_CLOSE);
	tw_h1_eof(&f);
	assert_int_equal(r->n, 3);
	expect_response(r, 0, 200, 103);
	free(r);
}

static void test_eof_mid_message_is_silent(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_RESPONSE, record, r);
	feed_str(&f, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
	tw_h1_eof(&f);
	assert_int_equal(r->n, 2);
	assert_int_equal(tw_h1_phase(&f), TW_H1_IN_MESSAGE);
	free(r);
}

static void expect_unsync(enum tw_h1_kind kind, const char *input)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	tw_h1_init(&f, kind, record, r);
	feed_str(&f, input);
	assert_true(r->n >= 1);
	if (r->ev[r->n - 1].type != TW_H1_EV_UNSYNC)
		fail_msg("no unsync for: %s", input);
	assert_int_equal(tw_h1_phase(&f), TW_H1_UNSYNCED);
	/* and stays there for bytes that do not look like a start */
	feed_str(&f, "0\r\n\r\n");
	feed_capped(&f, "garbage", 7, 1 << 20);
	assert_int_equal(tw_h1_phase(&f), TW_H1_UNSYNCED);
	free(r);
}

/* Appends n copies of c, then tail, to the string in buf. */
static void fill_and_append(char *buf, char c, size_t n, const char *tail)
{
	size_t at = strlen(buf);

	memset(buf + at, c, n);
	strcpy(buf + at + n, tail);
}

static void test_invalid_inputs_lose_sync(void **state)
{
	char *big;

	(void)state;
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n");
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n");
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n");
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n");
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n");
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				      "FFFFFFFFFFFFFFFFFF\r\n");
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				      "10000000000000000\r\n");
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n");
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				      "5\r\nhelloXX");
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				      "5\rX");
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 20 OK\r\n\r\n");
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 2000 OK\r\n\r\n");
	expect_unsync(TW_H1_RESPONSE, "HTTP/1.1 099 OK\r\n\r\n");
	expect_unsync(TW_H1_RESPONSE, "HTTP/2 200 OK\r\n\r\n");
	expect_unsync(TW_H1_RESPONSE, "\x16\x03\x01\x02");
	expect_unsync(TW_H1_REQUEST, "GET / HTTP/2.0\r\n\r\n");
	expect_unsync(TW_H1_REQUEST, "GET /a b HTTP/1.1\r\n\r\n");
	expect_unsync(TW_H1_REQUEST, "GET  HTTP/1.1\r\n\r\n");
	expect_unsync(TW_H1_REQUEST, "GET /HTTP/1.1\r\n\r\n");
	expect_unsync(TW_H1_REQUEST, "VERYLONGMETHODNAME / HTTP/1.1\r\n\r\n");
	expect_unsync(TW_H1_REQUEST, "G(T / HTTP/1.1\r\n\r\n");
	expect_unsync(TW_H1_REQUEST, "\x01\x02\x03");
	expect_unsync(TW_H1_REQUEST, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

	/* over-long head: 9000 bytes of one header */
	big = malloc(10000);
	assert_non_null(big);
	strcpy(big, "GET / HTTP/1.1\r\nCookie: ");
	fill_and_append(big, 'c', 9000, "\r\n\r\n");
	expect_unsync(TW_H1_REQUEST, big);
	/* over-long start line */
	strcpy(big, "GET /");
	fill_and_append(big, 'p', 9000, " HTTP/1.1\r\n\r\n");
	expect_unsync(TW_H1_REQUEST, big);
	/* over-long trailers */
	strcpy(big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: ");
	fill_and_append(big, 't', 9000, "\r\n\r\n");
	expect_unsync(TW_H1_RESPONSE, big);
	/* over-long chunk extension */
	strcpy(big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;");
	fill_and_append(big, 'e', 2000, "\r\nhello\r\n0\r\n\r\n");
	expect_unsync(TW_H1_RESPONSE, big);
	free(big);
}

static void test_head_bound_is_exact(void **state)
{
	static const char start[] = "GET / HTTP/1.1\r\nX: ";
	char *buf = malloc(TW_H1_HEAD_MAX + 16);
	size_t fill = TW_H1_HEAD_MAX - strlen(start) - 4;
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	assert_non_null(buf);
	strcpy(buf, start);
	memset(buf + strlen(start), 'v', fill);
	strcpy(buf + strlen(start) + fill, "\r\n\r\n");
	assert_int_equal(strlen(buf), TW_H1_HEAD_MAX);
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	feed_str(&f, buf);
	assert_int_equal(r->n, 3);
	expect_request(r, 0, "GET", "/", 0);

	/* one byte more */
	memset(buf + strlen(start), 'v', fill + 1);
	strcpy(buf + strlen(start) + fill + 1, "\r\n\r\n");
	feed_str(&f, buf);
	assert_int_equal(r->n, 5);
	assert_int_equal(r->ev[4].type, TW_H1_EV_UNSYNC);
	free(buf);
	free(r);
}

static void test_long_targets(void **state)
{
	char *line = malloc(4096);

	(void)state;
	assert_non_null(line);
	/* around the kept-prefix boundary, where the version comes from the tail */
	for (size_t tlen = TW_H1_START_KEEP - 20; tlen < TW_H1_START_KEEP + 20; tlen++) {
		struct recorder *r = rec_new();
		struct tw_h1 f;
		size_t kept;

		line[0] = '/';
		memset(line + 1, 'a', tlen - 1);
		line[tlen] = '\0';
		kept = tlen < TW_H1_START_KEEP - 4 ? tlen : TW_H1_START_KEEP - 4;
		tw_h1_init(&f, TW_H1_REQUEST, record, r);
		feed_str(&f, "GET ");
		feed_str(&f, line);
		feed_str(&f, " HTTP/1.1\r");
		feed_str(&f, "\nHost: h\r\n\r\n");
		assert_int_equal(r->n, 3);
		assert_int_equal(r->ev[1].type, TW_H1_EV_HEAD);
		assert_int_equal(strlen(r->ev[1].target), kept);
		assert_int_equal(r->ev[1].truncated, tlen > kept);
		assert_int_equal(r->ev[1].minor, 1);
		assert_string_equal(r->ev[1].host, "h");
		free(r);
	}
	free(line);
}

static void test_resync_rules(void **state)
{
	struct recorder *r = rec_new();
	struct tw_h1 f;

	(void)state;
	tw_h1_init(&f, TW_H1_REQUEST, record, r);
	feed_str(&f, "\x01garbage");
	assert_int_equal(r->n, 1);
	/* a body that happens to contain a request is not a start */
	feed_str(&f, "xx GET / HTTP/1.1\r\n\r\n");
	feed_str(&f, "get / HTTP/1.1\r\n\r\n");
	feed_str(&f, "GET");
	assert_int_equal(r->n, 1);
	feed_str(&f, "OPTIONS * HTTP/1.1\r\n\r\n");
	assert_int_equal(r->n, 4);
	expect_request(r, 1, "OPTIONS", "*", 0);

	/* tw_h1_unsync: later body bytes are ignored until a start */
	tw_h1_unsync(&f);
	feed_str(&f, "body body");
	assert_int_equal(r->n, 4);
	feed_str(&f, "M-SEARCH * HTTP/1.1\r\n\r\n");
	expect_request(r, 4, "M-SEARCH", "*", 0);
	free(r);
}

static void test_plausible_start(void **state)
{
	(void)state;
	assert_true(tw_h1_plausible_start(TW_H1_REQUEST, (const uint8_t *)"GET /", 5));
	assert_true(tw_h1_plausible_start(TW_H1_REQUEST, (const uint8_t *)"X ", 2));
	assert_false(tw_h1_plausible_start(TW_H1_REQUEST, (const uint8_t *)"GET", 3));
	assert_false(tw_h1_plausible_start(TW_H1_REQUEST, (const uint8_t *)" GET /", 6));
	assert_false(tw_h1_plausible_start(TW_H1_REQUEST, (const uint8_t *)"Get /", 5));
	assert_false(tw_h1_plausible_start(TW_H1_REQUEST, (const uint8_t *)"ABCDEFGHIJKLMNOP /", 18));
	assert_false(tw_h1_plausible_start(TW_H1_REQUEST, (const uint8_t *)"", 0));
	assert_true(tw_h1_plausible_start(TW_H1_RESPONSE, (const uint8_t *)"HTTP/1.0 200", 12));
	assert_false(tw_h1_plausible_start(TW_H1_RESPONSE, (const uint8_t *)"HTTP/1", 6));
	assert_false(tw_h1_plausible_start(TW_H1_RESPONSE, (const uint8_t *)"HTTP/2 200", 10));
}

static void check_split(const char *target, const char *path, const char *query)
{
	char p[16], q[8];

	tw_h1_split_target(target, p, sizeof(p), q, sizeof(q));
	assert_string_equal(p, path);
	assert_string_equal(q, query);
}

static void test_split_target(void **state)
{
	(void)state;
	check_split("/", "/", "");
	check_split("/a/b?x=1", "/a/b", "x=1");
	check_split("/a?", "/a", "");
	check_split("/?a?b", "/", "a?b");
	check_split("http://example.com/p/q?z", "/p/q", "z");
	check_split("HTTP://example.com", "/", "");
	check_split("http://example.com?k=v", "/", "k=v");
	check_split("svc+x.y://h:1/p", "/p", "");
	check_split("example.com:443", "", "");
	check_split("*", "*", "");
	check_split("", "", "");
	/* truncated to fit, still terminated */
	check_split("/0123456789abcdefghij?0123456789", "/0123456789abcd", "0123456");
}

static uint32_t rng = 12345;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static const char *const request_seeds[] = {
	"GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /p HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody",
	"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\nT: 1\r\n\r\n",
	"PUT /big HTTP/1.1\r\nContent-Length: 3000\r\n\r\nxyz",
	"HEAD / HTTP/1.0\r\n\r\n",
};

static const char *const response_seeds[] = {
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n800\r\nabc",
	"HTTP/1.0 200 OK\r\n\r\nuntil close",
	"HTTP/1.1 101 Switching Protocols\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* One "syscall worth" of fuzz input: 1..3 seeds (mostly intact, sometimes
 * mutated) or noise, concatenated. */
static size_t fuzz_element(enum tw_h1_kind kind, uint8_t *buf)
{
	size_t n = 0;

	for (int parts = 1 + next_rand() % 3; parts > 0; parts--) {
		uint32_t pick = next_rand() % 10;

		if (pick < 8) {
			const char *s = kind == TW_H1_REQUEST ?
				request_seeds[next_rand() % COUNT(request_seeds)] :
				response_seeds[next_rand() % COUNT(response_seeds)];
			size_t l = strlen(s);

			memcpy(buf + n, s, l);
			for (int m = next_rand() % 8 < 6 ? 0 : next_rand() % 3 + 1; m > 0; m--)
				buf[n + next_rand() % l] = (uint8_t)next_rand();
			n += l;
		} else {
			static const char alphabet[] = "\r\n :0a;HTTP/1.1 ";

			for (int k = next_rand() % 64; k > 0; k--) {
				uint32_t x = next_rand();

				buf[n++] = pick == 9 ? (uint8_t)x : (uint8_t)alphabet[x % 16];
			}
		}
	}
	return n;
}

/* Random bytes, mutated messages, random splits and uncaptured tails:
 * the framer must never crash, read out of bounds (valgrind/ASan), or break
 * the event grammar (checked in record()). */
static void test_fuzz(void **state)
{
	uint8_t buf[512];
	size_t fuzz_events = 0;

	(void)state;
	for (int iter = 0; iter < 4000; iter++) {
		enum tw_h1_kind kind = iter & 1 ? TW_H1_RESPONSE : TW_H1_REQUEST;
		struct recorder *r = rec_new();
		struct tw_h1 f;

		r->directives = next_rand() % 4 ? 0 : (int)(next_rand() % 4);
		tw_h1_init(&f, kind, record, r);
		for (int e = 0; e < 40; e++) {
			size_t n = fuzz_element(kind, buf);

			/* whole, or cut at random points; sometimes bytes go uncaptured */
			for (size_t off = 0; off < n;) {
				size_t len = next_rand() % 2 ? n - off : 1 + next_rand() % (n - off);
				size_t cap = next_rand() % 6 ? len : next_rand() % (len + 1);
				uint64_t extra = next_rand() % 10 ? 0 : next_rand() % 5000;

				tw_h1_feed(&f, buf + off, cap, len + extra);
				off += len;
			}
		}
		tw_h1_eof(&f);
		assert_true(tw_h1_phase(&f) <= TW_H1_OPAQUE);
		tw_h1_release(&f); /* a head cut short holds its buffer */
		fuzz_events += r->total;
		free(r);
	}
	/* the streams must get well past their first message to test anything */
	assert_true(fuzz_events > 4000 * 20);
	print_message("fuzz: %zu events\n", fuzz_events);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_get),
		cmocka_unit_test(test_request_every_split),
		cmocka_unit_test(test_request_byte_at_a_time),
		cmocka_unit_test(test_request_chunked),
		cmocka_unit_test(test_pipelined_requests_one_feed),
		cmocka_unit_test(test_begin_offset_keepalive),
		cmocka_unit_test(test_begin_offset_pipelined_one_feed),
		cmocka_unit_test(test_begin_offset_after_uncaptured),
		cmocka_unit_test(test_response_every_split),
		cmocka_unit_test(test_chunked_response_every_split),
		cmocka_unit_test(test_lf_only_and_empty_lines),
		cmocka_unit_test(test_header_names_case_insensitive),
		cmocka_unit_test(test_untracked_fields_ignored),
		cmocka_unit_test(test_traceparent_captured),
		cmocka_unit_test(test_traceparent_long),
		cmocka_unit_test(test_transfer_encoding_rules),
		cmocka_unit_test(test_content_length_lists),
		cmocka_unit_test(test_uncaptured_length_body_exact),
		cmocka_unit_test(test_uncaptured_past_body_loses_sync),
		cmocka_unit_test(test_uncaptured_chunk_data),
		cmocka_unit_test(test_uncaptured_head_keeps_start_line),
		cmocka_unit_test(test_interim_100_continue),
		cmocka_unit_test(test_101_switches_to_opaque),
		cmocka_unit_test(test_no_body_statuses),
		cmocka_unit_test(test_head_response_directive),
		cmocka_unit_test(test_connect_tunnel_directive),
		cmocka_unit_test(test_body_until_close),
		cmocka_unit_test(test_eof_mid_message_is_silent),
		cmocka_unit_test(test_invalid_inputs_lose_sync),
		cmocka_unit_test(test_head_bound_is_exact),
		cmocka_unit_test(test_long_targets),
		cmocka_unit_test(test_resync_rules),
		cmocka_unit_test(test_plausible_start),
		cmocka_unit_test(test_split_target),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_head_buffer_lazy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
