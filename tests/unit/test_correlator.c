// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for connection tracking and span pairing (correlator.c and its parts, see correlator_int.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "correlator.h"
#include "http1.h"
#include "tracewire_event.h"

#define OFFSET 1700000000000000000LL /* mono -> unix */
#define IDLE_NS 5000000000ULL
#define MAX_SPANS 512

struct sink {
	struct tw_span spans[MAX_SPANS];
	size_t n;
	uint64_t switched[4]; /* sock ids reported by on_switched */
	size_t nswitched;
};

struct ctx {
	struct tw_correlator *c;
	struct sink *sink;
};

static void on_span(void *ctx, struct tw_span *span)
{
	struct sink *s = ctx;

	if (s->n < MAX_SPANS)
		s->spans[s->n] = *span;
	s->n++;
}

static void on_switched(void *ctx, uint64_t sock_id)
{
	struct sink *s = ctx;

	if (s->nswitched < 4)
		s->switched[s->nswitched] = sock_id;
	s->nswitched++;
}

static struct ctx make(size_t max_conns)
{
	struct ctx t = { .sink = calloc(1, sizeof(struct sink)) };
	struct tw_correlator_cfg cfg = {
		.max_conns = max_conns,
		.idle_ns = IDLE_NS,
		.mono_to_unix_ns = OFFSET,
		.on_span = on_span,
		.on_switched = on_switched,
	};

	assert_non_null(t.sink);
	cfg.ctx = t.sink;
	t.c = tw_correlator_new(&cfg);
	assert_non_null(t.c);
	return t;
}

static void destroy(struct ctx *t)
{
	tw_correlator_free(t->c);
	free(t->sink);
}

static struct tw_correlator_stats stats(const struct ctx *t)
{
	struct tw_correlator_stats st;

	tw_correlator_stats(t->c, &st);
	return st;
}

static void fill_hdr(struct tw_event_hdr *h, uint8_t type, uint64_t sock, uint8_t role,
		     uint8_t dir, uint64_t ts)
{
	memset(h, 0, sizeof(*h));
	h->type = type;
	h->sock_id = sock;
	h->role = role;
	h->dir = dir;
	h->ts_ns = ts;
	h->pid = 100;
	h->tid = 1000 + (uint32_t)(ts % 1000);
	h->syscall = dir == TW_DIR_INGRESS ? TW_SC_READ : TW_SC_WRITE;
	h->tuple.family = AF_INET;
	memcpy(h->tuple.local_addr, "\x0a\x00\x00\x01", 4);
	memcpy(h->tuple.peer_addr, "\x0a\x00\x00\x02", 4);
	h->tuple.local_port = 8080;
	h->tuple.peer_port = (uint16_t)(40000 + sock % 1000);
	memcpy(h->comm, "svc", 4);
}

/* One syscall on sock that moved len bytes (0: all of s); the first 512 of
 * them (at most) are captured. tc: the trace context the kernel attached
 * (NULL: none). */
static int data_rec(struct ctx *t, uint64_t sock, uint8_t role, uint8_t dir, uint64_t ts,
		    const char *s, size_t n, uint64_t len, const struct tw_trace_ctx *tc)
{
	uint8_t buf[sizeof(struct tw_event_hdr) + TW_CAPTURE_MAX];
	struct tw_event_hdr h;
	size_t cap = n < TW_CAPTURE_MAX ? n : TW_CAPTURE_MAX;

	fill_hdr(&h, TW_EV_DATA, sock, role, dir, ts);
	if (tc)
		h.ctx = *tc;
	h.cap = (uint32_t)cap;
	h.len = len ? len : n;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), s, cap);
	return tw_correlator_handle(t->c, buf, sizeof(h) + cap);
}

static int data_len(struct ctx *t, uint64_t sock, uint8_t role, uint8_t dir, uint64_t ts,
		    const char *s, size_t n, uint64_t len)
{
	return data_rec(t, sock, role, dir, ts, s, n, len, NULL);
}

static int data(struct ctx *t, uint64_t sock, uint8_t role, uint8_t dir, uint64_t ts,
		const char *s)
{
	return data_len(t, sock, role, dir, ts, s, strlen(s), 0);
}

#define srv_in(t, sock, ts, s) data(t, sock, TW_ROLE_SERVER, TW_DIR_INGRESS, ts, s)
#define srv_out(t, sock, ts, s) data(t, sock, TW_ROLE_SERVER, TW_DIR_EGRESS, ts, s)
#define cli_out(t, sock, ts, s) data(t, sock, TW_ROLE_CLIENT, TW_DIR_EGRESS, ts, s)
#define cli_in(t, sock, ts, s) data(t, sock, TW_ROLE_CLIENT, TW_DIR_INGRESS, ts, s)

static int close_ev(struct ctx *t, uint64_t sock, uint64_t ts)
{
	struct tw_event_hdr h;

	fill_hdr(&h, TW_EV_CLOSE, sock, TW_ROLE_UNKNOWN, 0, ts);
	h.syscall = TW_SC_CLOSE;
	return tw_correlator_handle(t->c, &h, sizeof(h));
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void expect_span(const struct tw_span *s, const char *method, const char *path,
			int code, uint64_t start, uint64_t end)
{
	assert_string_equal(s->method, method);
	assert_string_equal(s->path, path);
	assert_int_equal(s->status_code, code);
	assert_int_equal(s->start_ns, start + OFFSET);
	assert_int_equal(s->end_ns, end + OFFSET);
}

/* A response whose head goes past the capture: status known, end unknown. */
static void write_big_head_response(struct ctx *t, uint64_t sock, uint8_t role, uint8_t dir,
				    uint64_t ts, const char *status_line)
{
	char buf[TW_CAPTURE_MAX];

	memset(buf, 'h', sizeof(buf));
	memcpy(buf, status_line, strlen(status_line));
	memcpy(buf + strlen(status_line), "Set-Cookie: ", 12);
	data_len(t, sock, role, dir, ts, buf, sizeof(buf), 3000);
}

static const char get_req[] = "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: svc.local\r\n\r\n";
static const char ok_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

static void test_server_get(void **state)
{
	struct ctx t = make(16);
	const struct tw_span *s = &t.sink->spans[0];
	struct tw_correlator_stats st;

	(void)state;
	assert_int_equal(srv_in(&t, 1, 1007, get_req), 0);
	assert_int_equal(t.sink->n, 0);
	assert_int_equal(srv_out(&t, 1, 2000, ok_resp), 0);
	assert_int_equal(t.sink->n, 1);
	expect_span(s, "GET", "/a/b", 200, 1007, 2000);
	assert_int_equal(s->kind, TW_SPAN_SERVER);
	assert_int_equal(s->status, TW_STATUS_UNSET);
	assert_string_equal(s->error_type, "");
	assert_string_equal(s->query, "x=1&y=2");
	assert_string_equal(s->host, "svc.local");
	assert_string_equal(s->service, "svc");
	assert_int_equal(s->pid, 100);
	assert_int_equal(s->tid, 1007);
	assert_int_equal(s->http_minor, 1);
	assert_int_equal(s->request_body_bytes, 0);
	assert_int_equal(s->response_body_bytes, 5);
	/* no kernel context: a new, sampled trace with random ids */
	assert_int_equal(s->trace_flags, TW_FLAG_SAMPLED | TW_FLAG_RANDOM);
	assert_false(all_zero(s->trace_id, sizeof(s->trace_id)));
	assert_false(all_zero(s->span_id, sizeof(s->span_id)));
	assert_true(all_zero(s->parent_span_id, sizeof(s->parent_span_id)));
	assert_string_equal(s->parent_source, "none");
	assert_int_equal(s->local.family, AF_INET);
	assert_memory_equal(s->local.addr, "\x0a\x00\x00\x01", 4);
	assert_int_equal(s->local.port, 8080);
	assert_memory_equal(s->peer.addr, "\x0a\x00\x00\x02", 4);
	assert_int_equal(s->peer.port, 40001);
	st = stats(&t);
	assert_int_equal(st.events, 2);
	assert_int_equal(st.spans, 1);
	assert_int_equal(st.conns_live, 1);
	assert_int_equal(st.bad_records, 0);
	assert_int_equal(st.unsynced, 0);
	assert_int_equal(st.spans_kernel_ids, 0);
	assert_int_equal(st.spans_thread_parent, 0);
	assert_int_equal(st.spans_header_fallback, 0);
	destroy(&t);
}

/* A wall-clock step applies to spans finished after it, start and end alike. */
static void test_clock_offset_update(void **state)
{
	struct ctx t = make(16);

	(void)state;
	assert_int_equal(srv_in(&t, 1, 1007, get_req), 0);
	assert_int_equal(srv_out(&t, 1, 2000, ok_resp), 0);
	tw_correlator_set_clock_offset(t.c, OFFSET + 5000);
	assert_int_equal(srv_in(&t, 1, 3000, get_req), 0);
	assert_int_equal(srv_out(&t, 1, 4000, ok_resp), 0);
	assert_int_equal(t.sink->n, 2);
	expect_span(&t.sink->spans[0], "GET", "/a/b", 200, 1007, 2000);
	assert_int_equal(t.sink->spans[1].start_ns, 3000 + OFFSET + 5000);
	assert_int_equal(t.sink->spans[1].end_ns, 4000 + OFFSET + 5000);
	destroy(&t);
}

static void test_client_get(void **state)
{
	struct ctx t = make(16);
	const struct tw_span *s = &t.sink->spans[0];

	(void)state;
	cli_out(&t, 2, 5003, "POST /api HTTP/1.0\r\nHost: backend\r\nContent-Length: 3\r\n\r\nabc");
	cli_in(&t, 2, 5500, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n");
	assert_int_equal(t.sink->n, 0);
	cli_in(&t, 2, 5600, "{}");
	assert_int_equal(t.sink->n, 1);
	expect_span(s, "POST", "/api", 201, 5003, 5600);
	assert_int_equal(s->kind, TW_SPAN_CLIENT);
	assert_int_equal(s->status, TW_STATUS_UNSET);
	assert_int_equal(s->tid, 1003);
	assert_int_equal(s->http_minor, 0);
	assert_int_equal(s->request_body_bytes, 3);
	assert_int_equal(s->response_body_bytes, 2);
	assert_string_equal(s->host, "backend");
	destroy(&t);
}

static void test_keepalive_many(void **state)
{
	struct ctx t = make(16);
	char req[64];

	(void)state;
	for (int i = 0; i < 300; i++) {
		snprintf(req, sizeof(req), "GET /item/%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
		srv_in(&t, 7, 10000 + i * 10, req);
		srv_out(&t, 7, 10000 + i * 10 + 5, ok_resp);
	}
	assert_int_equal(t.sink->n, 300);
	for (int i = 0; i < 300; i++) {
		snprintf(req, sizeof(req), "/item/%d", i);
		expect_span(&t.sink->spans[i], "GET", req, 200, 10000 + i * 10, 10000 + i * 10 + 5);
		for (int j = 0; j < i; j++)
			assert_memory_not_equal(t.sink->spans[i].span_id, t.sink->spans[j].span_id, 8);
	}
	assert_int_equal(stats(&t).conns_live, 1);
	destroy(&t);
}

static void test_pipelined_server(void **state)
{
	struct ctx t = make(16);

	(void)state;
	srv_in(&t, 3, 100, "GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
			   "GET /3 HTTP/1.1\r\n\r\n");
	srv_out(&t, 3, 200, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	srv_out(&t, 3, 300, "HTTP/1.1 503 Busy\r\nContent-Length: 1\r\n\r\nx"
			    "HTTP/1.1 404 Nope\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(t.sink->n, 3);
	expect_span(&t.sink->spans[0], "GET", "/1", 200, 100, 200);
	expect_span(&t.sink->spans[1], "POST", "/2", 503, 100, 300);
	assert_int_equal(t.sink->spans[1].request_body_bytes, 2);
	assert_int_equal(t.sink->spans[1].status, TW_STATUS_ERROR);
	expect_span(&t.sink->spans[2], "GET", "/3", 404, 100, 300);
	assert_int_equal(t.sink->spans[2].status, TW_STATUS_UNSET);
	destroy(&t);
}

/* Memory budget: queued requests are bounded per connection and in all; a
 * request past a bound is not queued (the queued ones pair first). */
static void test_pending_bounds(void **state)
{
	struct ctx t = make(16);
	struct tw_correlator_cfg cfg = {
		.max_conns = 16, .idle_ns = IDLE_NS, .mono_to_unix_ns = OFFSET,
		.on_span = on_span, .ctx = t.sink, .max_pending = 2, .max_pending_total = 3,
	};

	(void)state;
	tw_correlator_free(t.c);
	t.c = tw_correlator_new(&cfg);
	assert_non_null(t.c);
	srv_in(&t, 3, 100, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
	assert_int_equal(stats(&t).pending_live, 2);
	assert_int_equal(stats(&t).pending_dropped_conn, 1);
	srv_in(&t, 4, 110, "GET /4 HTTP/1.1\r\n\r\nGET /5 HTTP/1.1\r\n\r\n");
	assert_int_equal(stats(&t).pending_live, 3);
	assert_int_equal(stats(&t).pending_dropped_total, 1);
	srv_out(&t, 3, 200, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
			    "HTTP/1.1 201 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(t.sink->n, 2);
	expect_span(&t.sink->spans[0], "GET", "/1", 200, 100, 200);
	expect_span(&t.sink->spans[1], "GET", "/2", 201, 100, 200);
	assert_int_equal(stats(&t).pending_live, 1);
	destroy(&t);
}

static void test_pipelined_client(void **state)
{
	struct ctx t = make(16);

	(void)state;
	cli_out(&t, 4, 10, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
	cli_in(&t, 4, 20, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
			  "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n");
	assert_int_equal(t.sink->n, 1);
	cli_in(&t, 4, 30, "B");
	assert_int_equal(t.sink->n, 2);
	expect_span(&t.sink->spans[0], "GET", "/a", 200, 10, 20);
	expect_span(&t.sink->spans[1], "GET", "/b", 200, 10, 30);
	destroy(&t);
}

static void test_response_split_every_position(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX: y\r\n\r\nbody";
	size_t len = strlen(resp);

	(void)state;
	for (size_t i = 1; i < len; i++) {
		for (size_t j = i; j < len; j++) {
			struct ctx t = make(4);

			srv_in(&t, 9, 100, get_req);
			data_len(&t, 9, TW_ROLE_SERVER, TW_DIR_EGRESS, 200, resp, i, 0);
			if (j > i)
				data_len(&t, 9, TW_ROLE_SERVER, TW_DIR_EGRESS, 300, resp + i, j - i, 0);
			assert_int_equal(t.sink->n, 0);
			data_len(&t, 9, TW_ROLE_SERVER, TW_DIR_EGRESS, 400, resp + j, len - j, 0);
			assert_int_equal(t.sink->n, 1);
			expect_span(&t.sink->spans[0], "GET", "/a/b", 200, 100, 400);
			assert_int_equal(t.sink->spans[0].response_body_bytes, 4);
			destroy(&t);
		}
	}
}

static void test_chunked_split_across_writes(void **state)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "6;lang=en;q=\"a;b\"\r\nhello \r\n"
				   "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
				   "0\r\nServer-Timing: db;dur=53\r\n\r\n";
	size_t len = strlen(resp);

	(void)state;
	for (size_t i = 1; i < len; i++) {
		struct ctx t = make(4);

		cli_out(&t, 5, 100, "GET /c HTTP/1.1\r\n\r\n");
		data_len(&t, 5, TW_ROLE_CLIENT, TW_DIR_INGRESS, 200, resp, i, 0);
		assert_int_equal(t.sink->n, 0);
		data_len(&t, 5, TW_ROLE_CLIENT, TW_DIR_INGRESS, 300, resp + i, len - i, 0);
		assert_int_equal(t.sink->n, 1);
		expect_span(&t.sink->spans[0], "GET", "/c", 200, 100, 300);
		assert_int_equal(t.sink->spans[0].response_body_bytes, 6 + 26);
		assert_int_equal(stats(&t).unsynced, 0);
		destroy(&t);
	}
}

static void test_uncaptured_bodies_skipped_exactly(void **state)
{
	static const char post[] = "POST /upload HTTP/1.1\r\nContent-Length: 2000\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n";
	char buf[TW_CAPTURE_MAX];
	struct ctx t = make(4);

	(void)state;
	/* request head and body in one read: 512 captured of 2000 + head */
	memset(buf, 'p', sizeof(buf));
	memcpy(buf, post, strlen(post));
	data_len(&t, 6, TW_ROLE_SERVER, TW_DIR_INGRESS, 100, buf, sizeof(buf), strlen(post) + 2000);
	/* response: head + 10000 bytes over three writes, each capped */
	memset(buf, 'r', sizeof(buf));
	memcpy(buf, resp, strlen(resp));
	data_len(&t, 6, TW_ROLE_SERVER, TW_DIR_EGRESS, 200, buf, sizeof(buf), strlen(resp) + 4000);
	data_len(&t, 6, TW_ROLE_SERVER, TW_DIR_EGRESS, 300, buf + 100, 400, 5000);
	assert_int_equal(t.sink->n, 0);
	data_len(&t, 6, TW_ROLE_SERVER, TW_DIR_EGRESS, 400, buf + 100, 400, 1000);
	assert_int_equal(t.sink->n, 1);
	expect_span(&t.sink->spans[0], "POST", "/upload", 200, 100, 400);
	assert_int_equal(t.sink->spans[0].request_body_bytes, 2000);
	assert_int_equal(t.sink->spans[0].response_body_bytes, 10000);
	/* still in sync on both sides */
	srv_in(&t, 6, 500, get_req);
	srv_out(&t, 6, 600, ok_resp);
	assert_int_equal(t.sink->n, 2);
	expect_span(&t.sink->spans[1], "GET", "/a/b", 200, 500, 600);
	assert_int_equal(stats(&t).unsynced, 0);
	destroy(&t);
}

static void test_100_continue(void **state)
{
	struct ctx t = make(4);
	const struct tw_span *s = &t.sink->spans[0];

	(void)state;
	srv_in(&t, 8, 100, "PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
	srv_out(&t, 8, 200, "HTTP/1.1 100 Continue\r\n\r\n");
	assert_int_equal(t.sink->n, 0);
	srv_in(&t, 8, 300, "data");
	srv_out(&t, 8, 400, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(t.sink->n, 1);
	expect_span(s, "PUT", "/f", 200, 100, 400);
	assert_int_equal(s->request_body_bytes, 4);
	assert_int_equal(t.sink->nswitched, 0); /* 100 is interim, not a switch */
	destroy(&t);
}

static void test_101_upgrade(void **state)
{
	struct ctx t = make(4);

	(void)state;
	srv_in(&t, 10, 100, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
	srv_out(&t, 10, 200, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi");
	assert_int_equal(t.sink->n, 1);
	expect_span(&t.sink->spans[0], "GET", "/ws", 101, 100, 200);
	assert_int_equal(t.sink->spans[0].status, TW_STATUS_UNSET);
	/* frames that look like HTTP are not HTTP any more */
	srv_in(&t, 10, 300, "GET / HTTP/1.1\r\n\r\n");
	srv_out(&t, 10, 400, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	tw_correlator_tick(t.c, 400 + 10 * IDLE_NS);
	assert_int_equal(stats(&t).conns_live, 1);
	/* the capture side is told once, so it can stop copying this socket */
	assert_int_equal(t.sink->nswitched, 1);
	assert_int_equal(t.sink->switched[0], 10);
	assert_int_equal(stats(&t).conns_switched, 1);
	close_ev(&t, 10, 500);
	assert_int_equal(t.sink->n, 1);
	assert_int_equal(stats(&t).conns_live, 0);
	destroy(&t);
}

static void test_101_head_beyond_capture(void **state)
{
	struct ctx t = make(4);

	(void)state;
	srv_in(&t, 24, 100, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
	write_big_head_response(&t, 24, TW_ROLE_SERVER, TW_DIR_EGRESS, 200,
				"HTTP/1.1 101 Switching Protocols\r\n");
	assert_int_equal(t.sink->n, 1);
	expect_span(&t.sink->spans[0], "GET", "/ws", 101, 100, 200);
	srv_in(&t, 24, 300, "GET / HTTP/1.1\r\n\r\n");
	srv_out(&t, 24, 400, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	close_ev(&t, 24, 500);
	assert_int_equal(t.sink->n, 1);
	destroy(&t);
}

static void test_connect_tunnel(void **state)
{
	struct ctx t = make(4);

	(void)state;
	cli_out(&t, 11, 100, "CONNECT db.example:443 HTTP/1.1\r\nHost: db.example:443\r\n\r\n");
	cli_in(&t, 11, 200, "HTTP/1.1 200 Connection established\r\n\r\n");
	assert_int_equal(t.sink->n, 1);
	expect_span(&t.sink->spans[0], "CONNECT", "", 200, 100, 200);
	cli_out(&t, 11, 300, "GET / HTTP/1.1\r\n\r\n");
	cli_in(&t, 11, 400, "HTTP/1.1 200 OK\r\n\r\n");
	close_ev(&t, 11, 500);
	assert_int_equal(t.sink->n, 1);
	assert_int_equal(t.sink->nswitched, 1);
	assert_int_equal(t.sink->switched[0], 11);
	destroy(&t);
}

static void test_204_304_head(void **state)
{
	struct ctx t = make(4);

	(void)state;
	srv_in(&t, 12, 100, "DELETE /x HTTP/1.1\r\n\r\n");
	srv_out(&t, 12, 110, "HTTP/1.1 204 No Content\r\n\r\n");
	srv_in(&t, 12, 200, "GET /y HTTP/1.1\r\nIf-None-Match: \"e\"\r\n\r\n");
	srv_out(&t, 12, 210, "HTTP/1.1 304 Not Modified\r\nContent-Length: 77\r\n\r\n");
	srv_in(&t, 12, 300, "HEAD /z HTTP/1.1\r\n\r\n");
	srv_out(&t, 12, 310, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
	srv_in(&t, 12, 400, "HEAD /w HTTP/1.1\r\n\r\n");
	srv_out(&t, 12, 410, "HTTP/1.1 200 OK\r\n\r\n");
	srv_in(&t, 12, 500, "GET /v HTTP/1.1\r\n\r\n");
	srv_out(&t, 12, 510, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	assert_int_equal(t.sink->n, 5);
	expect_span(&t.sink->spans[0], "DELETE", "/x", 204, 100, 110);
	expect_span(&t.sink->spans[1], "GET", "/y", 304, 200, 210);
	expect_span(&t.sink->spans[2], "HEAD", "/z", 200, 300, 310);
	expect_span(&t.sink->spans[3], "HEAD", "/w", 200, 400, 410);
	expect_span(&t.sink->spans[4], "GET", "/v", 200, 500, 510);
	for (int i = 0; i < 4; i++)
		assert_int_equal(t.sink->spans[i].response_body_bytes, 0);
	assert_int_equal(t.sink->spans[4].response_body_bytes, 2);
	destroy(&t);
}

static void test_body_until_close(void **state)
{
	struct ctx t = make(4);
	const struct tw_span *s = &t.sink->spans[0];

	(void)state;
	cli_out(&t, 13, 100, "GET /old HTTP/1.0\r\n\r\n");
	cli_in(&t, 13, 200, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome");
	data_len(&t, 13, TW_ROLE_CLIENT, TW_DIR_INGRESS, 300, " more", 5, 1000);
	assert_int_equal(t.sink->n, 0);
	close_ev(&t, 13, 900);
	assert_int_equal(t.sink->n, 1);
	expect_span(s, "GET", "/old", 200, 100, 300);
	assert_int_equal(s->status, TW_STATUS_UNSET);
	assert_int_equal(s->response_body_bytes, 1004);
	assert_int_equal(stats(&t).spans_error_closed, 0);
	assert_int_equal(stats(&t).conns_live, 0);
	destroy(&t);
}

static void test_close_mid_request(void **state)
{
	struct ctx t = make(4);
	struct tw_correlator_stats st;

	(void)state;
	/* no response at all */
	srv_in(&t, 14, 100, "POST /slow HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial");
	close_ev(&t, 14, 500);
	assert_int_equal(t.sink->n, 1);
	expect_span(&t.sink->spans[0], "POST", "/slow", 0, 100, 500);
	assert_int_equal(t.sink->spans[0].status, TW_STATUS_ERROR);
	assert_string_equal(t.sink->spans[0].error_type, "connection_closed");

	/* response cut inside its Content-Length body */
	cli_out(&t, 15, 1000, "GET /cut HTTP/1.1\r\n\r\n");
	cli_in(&t, 15, 1100, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
	close_ev(&t, 15, 1200);
	assert_int_equal(t.sink->n, 2);
	expect_span(&t.sink->spans[1], "GET", "/cut", 200, 1000, 1200);
	assert_int_equal(t.sink->spans[1].status, TW_STATUS_ERROR);
	assert_string_equal(t.sink->spans[1].error_type, "connection_closed");

	/* only 100 Continue: not a response */
	srv_in(&t, 16, 2000, "PUT /c HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
	srv_out(&t, 16, 2100, "HTTP/1.1 100 Continue\r\n\r\n");
	close_ev(&t, 16, 2200);
	assert_int_equal(t.sink->n, 3);
	assert_string_equal(t.sink->spans[2].error_type, "connection_closed");

	/* a head that never completed is not a request */
	srv_in(&t, 17, 3000, "GET /never HTTP/1.1\r\nHost: x\r\n");
	close_ev(&t, 17, 3100);
	assert_int_equal(t.sink->n, 3);

	/* close of a socket never seen */
	assert_int_equal(close_ev(&t, 999, 4000), 0);
	st = stats(&t);
	assert_int_equal(st.spans, 3);
	assert_int_equal(st.spans_error_closed, 3);
	assert_int_equal(st.conns_live, 0);
	destroy(&t);
}

static void test_idle_tick_finishes_unsynced(void **state)
{
	struct ctx t = make(4);
	struct tw_correlator_stats st;

	(void)state;
	srv_in(&t, 18, 100, get_req);
	write_big_head_response(&t, 18, TW_ROLE_SERVER, TW_DIR_EGRESS, 200, "HTTP/1.1 502 Bad Gateway\r\n");
	data_len(&t, 18, TW_ROLE_SERVER, TW_DIR_EGRESS, 300, "more body", 9, 0);
	assert_int_equal(stats(&t).unsynced, 1);
	tw_correlator_tick(t.c, 300 + IDLE_NS - 1);
	assert_int_equal(t.sink->n, 0);
	tw_correlator_tick(t.c, 300 + IDLE_NS);
	assert_int_equal(t.sink->n, 1);
	expect_span(&t.sink->spans[0], "GET", "/a/b", 502, 100, 300);
	assert_int_equal(t.sink->spans[0].status, TW_STATUS_ERROR);
	assert_string_equal(t.sink->spans[0].error_type, "502");
	/* nothing left to remember: the connection is gone */
	st = stats(&t);
	assert_int_equal(st.conns_live, 0);
	/* and comes back fresh */
	srv_in(&t, 18, 20 * IDLE_NS, get_req);
	srv_out(&t, 18, 20 * IDLE_NS + 1, ok_resp);
	assert_int_equal(t.sink->n, 2);
	destroy(&t);
}

static void test_idle_tick_until_close(void **state)
{
	struct ctx t = make(4);

	(void)state;
	cli_out(&t, 19, 100, "GET /stream HTTP/1.1\r\n\r\n");
	cli_in(&t, 19, 200, "HTTP/1.1 200 OK\r\n\r\nevent: 1\n\n");
	cli_in(&t, 19, 300, "event: 2\n\n");
	tw_correlator_tick(t.c, 250 + IDLE_NS);
	assert_int_equal(t.sink->n, 0);
	tw_correlator_tick(t.c, 300 + IDLE_NS);
	assert_int_equal(t.sink->n, 1);
	expect_span(&t.sink->spans[0], "GET", "/stream", 200, 100, 300);
	assert_int_equal(t.sink->spans[0].response_body_bytes, 20);
	/* an idle connection with an unanswered request is kept */
	cli_out(&t, 20, 400, "GET /long-poll HTTP/1.1\r\n\r\n");
	tw_correlator_tick(t.c, 400 + 2 * IDLE_NS);
	assert_int_equal(stats(&t).conns_live, 1);
	cli_in(&t, 20, 500 + 2 * IDLE_NS, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(t.sink->n, 2);
	destroy(&t);
}

static void test_next_request_finishes_unsynced(void **state)
{
	struct ctx t = make(4);

	(void)state;
	srv_in(&t, 21, 100, "GET /1 HTTP/1.1\r\n\r\n");
	write_big_head_response(&t, 21, TW_ROLE_SERVER, TW_DIR_EGRESS, 200, "HTTP/1.1 200 OK\r\n");
	data_len(&t, 21, TW_ROLE_SERVER, TW_DIR_EGRESS, 250, "tail", 4, 0);
	srv_in(&t, 21, 300, "GET /2 HTTP/1.1\r\n\r\n");
	assert_int_equal(t.sink->n, 1);
	expect_span(&t.sink->spans[0], "GET", "/1", 200, 100, 250);
	srv_out(&t, 21, 400, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(t.sink->n, 2);
	expect_span(&t.sink->spans[1], "GET", "/2", 404, 300, 400);
	destroy(&t);
}

static void test_resynced_response_finishes_lost_one(void **state)
{
	struct ctx t = make(4);

	(void)state;
	/* pipelined: the first response is lost mid-head, the second resyncs */
	cli_out(&t, 22, 100, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
	write_big_head_response(&t, 22, TW_ROLE_CLIENT, TW_DIR_INGRESS, 200, "HTTP/1.1 200 OK\r\n");
	cli_in(&t, 22, 300, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(t.sink->n, 2);
	expect_span(&t.sink->spans[0], "GET", "/1", 200, 100, 200);
	expect_span(&t.sink->spans[1], "GET", "/2", 500, 100, 300);
	assert_int_equal(t.sink->spans[1].status, TW_STATUS_ERROR);
	assert_string_equal(t.sink->spans[1].error_type, "500");
	destroy(&t);
}

static void test_request_head_beyond_capture(void **state)
{
	char buf[TW_CAPTURE_MAX];
	static const char start[] = "GET /big?q=1 HTTP/1.1\r\nHost: h1\r\nCookie: ";
	struct ctx t = make(4);

	(void)state;
	memset(buf, 'c', sizeof(buf));
	memcpy(buf, start, strlen(start));
	data_len(&t, 23, TW_ROLE_SERVER, TW_DIR_INGRESS, 100, buf, sizeof(buf), 1500);
	srv_out(&t, 23, 200, ok_resp);
	assert_int_equal(t.sink->n, 1);
	expect_span(&t.sink->spans[0], "GET", "/big", 200, 100, 200);
	assert_string_equal(t.sink->spans[0].query, "q=1");
	assert_string_equal(t.sink->spans[0].host, "h1");
	srv_in(&t, 23, 300, get_req);
	srv_out(&t, 23, 400, ok_resp);
	assert_int_equal(t.sink->n, 2);
	destroy(&t);
}

static void test_role_inferred(void **state)
{
	struct ctx t = make(8);

	(void)state;
	/* request read: server */
	data(&t, 30, TW_ROLE_UNKNOWN, TW_DIR_INGRESS, 100, get_req);
	data(&t, 30, TW_ROLE_UNKNOWN, TW_DIR_EGRESS, 200, ok_resp);
	/* request written: client */
	data(&t, 31, TW_ROLE_UNKNOWN, TW_DIR_EGRESS, 300, get_req);
	data(&t, 31, TW_ROLE_UNKNOWN, TW_DIR_INGRESS, 400, ok_resp);
	assert_int_equal(t.sink->n, 2);
	assert_int_equal(t.sink->spans[0].kind, TW_SPAN_SERVER);
	assert_int_equal(t.sink->spans[1].kind, TW_SPAN_CLIENT);

	/* a response read first: client (the request was before our time) */
	data(&t, 32, TW_ROLE_UNKNOWN, TW_DIR_INGRESS, 500, ok_resp);
	data(&t, 32, TW_ROLE_UNKNOWN, TW_DIR_EGRESS, 600, get_req);
	data(&t, 32, TW_ROLE_UNKNOWN, TW_DIR_INGRESS, 700, ok_resp);
	/* a response written first: server */
	data(&t, 33, TW_ROLE_UNKNOWN, TW_DIR_EGRESS, 800, ok_resp);
	data(&t, 33, TW_ROLE_UNKNOWN, TW_DIR_INGRESS, 900, get_req);
	data(&t, 33, TW_ROLE_UNKNOWN, TW_DIR_EGRESS, 1000, ok_resp);
	assert_int_equal(t.sink->n, 4);
	assert_int_equal(t.sink->spans[2].kind, TW_SPAN_CLIENT);
	expect_span(&t.sink->spans[2], "GET", "/a/b", 200, 600, 700);
	assert_int_equal(t.sink->spans[3].kind, TW_SPAN_SERVER);
	expect_span(&t.sink->spans[3], "GET", "/a/b", 200, 900, 1000);

	/* bytes that tell nothing create nothing */
	data(&t, 34, TW_ROLE_UNKNOWN, TW_DIR_INGRESS, 1100, "\x16\x03\x01\x00\x10");
	data(&t, 34, TW_ROLE_UNKNOWN, TW_DIR_INGRESS, 1100, "hello world");
	assert_int_equal(stats(&t).conns_live, 4);
	destroy(&t);
}

static void test_interleaved_connections(void **state)
{
	enum { N = 40 };
	struct ctx t = make(64);
	char buf[128];

	(void)state;
	/* request heads split in two, all interleaved */
	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof(buf), "GET /conn/%d HTTP/1.1\r\n", i);
		srv_in(&t, 100 + i, 1000 + i, buf);
	}
	for (int i = N - 1; i >= 0; i--)
		srv_in(&t, 100 + i, 2000 + i, "Host: x\r\n\r\n");
	for (int i = 0; i < N; i += 2) {
		snprintf(buf, sizeof(buf), "HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n", 210 + i, i);
		srv_out(&t, 100 + i, 3000 + i, buf);
		srv_out(&t, 100 + i + 1, 3000 + i, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	}
	/* odd ones and conn 0 (empty body) are complete */
	assert_int_equal(t.sink->n, N / 2 + 1);
	for (int i = N - 2; i > 0; i -= 2) {
		char body[64];

		memset(body, 'b', sizeof(body));
		data_len(&t, 100 + i, TW_ROLE_SERVER, TW_DIR_EGRESS, 4000 + i, body, (size_t)i, 0);
	}
	assert_int_equal(t.sink->n, N);
	for (size_t k = 0; k < N; k++) {
		const struct tw_span *s = &t.sink->spans[k];
		int i;

		assert_int_equal(sscanf(s->path, "/conn/%d", &i), 1);
		assert_int_equal(s->start_ns, (uint64_t)(1000 + i) + OFFSET);
		assert_int_equal(s->peer.port, 40000 + (100 + i) % 1000);
		if (i % 2) {
			assert_int_equal(s->status_code, 200);
			assert_int_equal(s->end_ns, (uint64_t)(3000 + i - 1) + OFFSET);
		} else {
			assert_int_equal(s->status_code, 210 + i);
			assert_int_equal(s->response_body_bytes, i);
			assert_int_equal(s->end_ns, (uint64_t)(i ? 4000 + i : 3000) + OFFSET);
		}
	}
	assert_int_equal(stats(&t).conns_live, N);
	destroy(&t);
}

static void test_eviction_bound(void **state)
{
	struct ctx t = make(4);
	struct tw_correlator_stats st;

	(void)state;
	for (int i = 0; i < 10; i++)
		srv_in(&t, 200 + i, 100 + i, get_req);
	st = stats(&t);
	assert_int_equal(st.conns_live, 4);
	assert_int_equal(st.conns_evicted, 6);
	assert_int_equal(st.dropped_unanswered, 6);
	assert_int_equal(t.sink->n, 0);
	/* evicted: an answer finds nothing; kept ones still pair */
	srv_out(&t, 200, 300, ok_resp);
	assert_int_equal(t.sink->n, 0);
	srv_out(&t, 209, 300, ok_resp);
	assert_int_equal(t.sink->n, 1);
	destroy(&t);
}

static void test_eviction_is_lru(void **state)
{
	struct ctx t = make(4);
	struct tw_correlator_stats st;

	(void)state;
	for (int i = 0; i < 4; i++)
		cli_out(&t, 300 + i, 100 + i, "GET /lru HTTP/1.1\r\n\r\n");
	/* 300 gets a body-until-close response: most recently active now, and
	 * on eviction its span is finished rather than dropped */
	cli_in(&t, 300, 200, "HTTP/1.1 200 OK\r\n\r\nabc");
	cli_out(&t, 304, 300, "GET /new HTTP/1.1\r\n\r\n"); /* evicts 301 */
	st = stats(&t);
	assert_int_equal(st.conns_evicted, 1);
	assert_int_equal(st.dropped_unanswered, 1);
	cli_out(&t, 305, 500, "GET /new HTTP/1.1\r\n\r\n"); /* evicts 302 */
	cli_out(&t, 306, 600, "GET /new HTTP/1.1\r\n\r\n"); /* evicts 303 */
	assert_int_equal(t.sink->n, 0);
	cli_out(&t, 307, 700, "GET /new HTTP/1.1\r\n\r\n"); /* evicts 300 */
	assert_int_equal(t.sink->n, 1);
	expect_span(&t.sink->spans[0], "GET", "/lru", 200, 100, 200);
	assert_int_equal(t.sink->spans[0].status, TW_STATUS_UNSET);
	assert_int_equal(t.sink->spans[0].response_body_bytes, 3);
	st = stats(&t);
	assert_int_equal(st.conns_evicted, 4);
	assert_int_equal(st.dropped_unanswered, 3);
	assert_int_equal(st.conns_live, 4);
	/* an evicted connection comes back empty: its answer pairs with nothing */
	cli_in(&t, 301, 800, ok_resp);
	assert_int_equal(t.sink->n, 1);
	assert_int_equal(stats(&t).conns_evicted, 5);
	destroy(&t);
}

static void test_pending_bound(void **state)
{
	struct ctx t = make(4);
	char buf[64];

	(void)state;
	for (int i = 0; i < 100; i++) {
		snprintf(buf, sizeof(buf), "GET /%d HTTP/1.1\r\n\r\n", i);
		srv_in(&t, 40, 100 + i, buf);
	}
	assert_int_equal(stats(&t).dropped_unanswered, 36);
	for (int i = 0; i < 64; i++)
		srv_out(&t, 40, 1000 + i, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(t.sink->n, 64);
	expect_span(&t.sink->spans[63], "GET", "/63", 200, 163, 1063);
	destroy(&t);
}

static void test_status_mapping(void **state)
{
	static const struct {
		uint8_t role;
		const char *status_line;
		int code;
		bool error;
	} cases[] = {
		{ TW_ROLE_SERVER, "HTTP/1.1 500 Internal Server Error\r\n", 500, true },
		{ TW_ROLE_SERVER, "HTTP/1.1 503 Service Unavailable\r\n", 503, true },
		{ TW_ROLE_SERVER, "HTTP/1.1 404 Not Found\r\n", 404, false },
		{ TW_ROLE_SERVER, "HTTP/1.1 499 Client Closed\r\n", 499, false },
		{ TW_ROLE_SERVER, "HTTP/1.1 302 Found\r\n", 302, false },
		{ TW_ROLE_CLIENT, "HTTP/1.1 404 Not Found\r\n", 404, true },
		{ TW_ROLE_CLIENT, "HTTP/1.1 400 Bad Request\r\n", 400, true },
		{ TW_ROLE_CLIENT, "HTTP/1.1 502 Bad Gateway\r\n", 502, true },
		{ TW_ROLE_CLIENT, "HTTP/1.1 399 Odd\r\n", 399, false },
		{ TW_ROLE_CLIENT, "HTTP/1.1 200 OK\r\n", 200, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ctx t = make(4);
		bool server = cases[i].role == TW_ROLE_SERVER;
		uint8_t req_dir = server ? TW_DIR_INGRESS : TW_DIR_EGRESS;
		uint8_t resp_dir = server ? TW_DIR_EGRESS : TW_DIR_INGRESS;
		char resp[128];
		char code[8];
		const struct tw_span *s = &t.sink->spans[0];

		snprintf(resp, sizeof(resp), "%sContent-Length: 0\r\n\r\n", cases[i].status_line);
		data(&t, 50, cases[i].role, req_dir, 100, get_req);
		data(&t, 50, cases[i].role, resp_dir, 200, resp);
		assert_int_equal(t.sink->n, 1);
		assert_int_equal(s->status_code, cases[i].code);
		snprintf(code, sizeof(code), "%d", cases[i].code);
		if (cases[i].error) {
			assert_int_equal(s->status, TW_STATUS_ERROR);
			assert_string_equal(s->error_type, code);
		} else {
			assert_int_equal(s->status, TW_STATUS_UNSET);
			assert_string_equal(s->error_type, "");
		}
		destroy(&t);
	}
}

static void test_absolute_form_and_fields(void **state)
{
	struct ctx t = make(4);
	const struct tw_span *s = &t.sink->spans[0];
	uint8_t buf[sizeof(struct tw_event_hdr) + 64];
	struct tw_event_hdr h;
	static const char req[] = "GET http://api.example.com/v1/items?id=3 HTTP/1.1\r\n\r\n";

	(void)state;
	/* comm filling all 16 bytes, IPv6 tuple */
	fill_hdr(&h, TW_EV_DATA, 60, TW_ROLE_CLIENT, TW_DIR_EGRESS, 100);
	memcpy(h.comm, "0123456789abcdef", 16);
	h.tuple.family = AF_INET6;
	memset(h.tuple.local_addr, 0xfd, 16);
	memset(h.tuple.peer_addr, 0x11, 16);
	h.tuple.local_port = 51000;
	h.tuple.peer_port = 3128;
	h.cap = h.len = strlen(req);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), req, strlen(req));
	assert_int_equal(tw_correlator_handle(t.c, buf, sizeof(h) + h.cap), 0);
	cli_in(&t, 60, 200, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(t.sink->n, 1);
	assert_string_equal(s->path, "/v1/items");
	assert_string_equal(s->query, "id=3");
	assert_string_equal(s->host, "");
	assert_string_equal(s->service, "0123456789abcdef");
	assert_int_equal(s->local.family, AF_INET6);
	assert_int_equal(s->local.port, 51000);
	assert_int_equal(s->peer.port, 3128);
	assert_int_equal(s->local.addr[15], 0xfd);
	assert_int_equal(s->peer.addr[0], 0x11);
	destroy(&t);
}

static void test_flush(void **state)
{
	struct ctx t = make(8);
	struct tw_correlator_stats st;

	(void)state;
	cli_out(&t, 70, 100, "GET /stream HTTP/1.1\r\n\r\n");
	cli_in(&t, 70, 200, "HTTP/1.1 200 OK\r\n\r\nabc");
	cli_out(&t, 71, 300, "GET /waiting HTTP/1.1\r\n\r\n");
	srv_in(&t, 72, 400, "GET /half HTTP/1.1\r\n\r\n");
	srv_out(&t, 72, 500, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
	tw_correlator_flush(t.c);
	assert_int_equal(t.sink->n, 2);
	expect_span(&t.sink->spans[0], "GET", "/stream", 200, 100, 200);
	expect_span(&t.sink->spans[1], "GET", "/half", 200, 400, 500);
	assert_int_equal(t.sink->spans[1].status, TW_STATUS_UNSET);
	st = stats(&t);
	assert_int_equal(st.dropped_unanswered, 1);
	assert_int_equal(st.conns_live, 0);
	assert_int_equal(st.spans_error_closed, 0);
	destroy(&t);
}

static void test_free_with_pending(void **state)
{
	struct ctx t = make(8);

	(void)state;
	srv_in(&t, 80, 100, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
	srv_in(&t, 81, 100, "POST /x HTTP/1.1\r\nContent-Length: 9\r\n\r\n");
	tw_correlator_free(t.c); /* valgrind checks nothing leaks */
	assert_int_equal(t.sink->n, 0);
	free(t.sink);
}

static void test_bad_config(void **state)
{
	struct tw_correlator_cfg cfg = { .max_conns = 0 };
	struct tw_correlator_stats st;

	(void)state;
	assert_null(tw_correlator_new(NULL));
	assert_null(tw_correlator_new(&cfg));
	assert_int_equal(tw_correlator_handle(NULL, "", 0), -EINVAL);
	tw_correlator_tick(NULL, 0);
	tw_correlator_flush(NULL);
	tw_correlator_free(NULL);
	tw_correlator_stats(NULL, &st);
	assert_int_equal(st.events, 0);
}

static void test_malformed_records(void **state)
{
	uint8_t buf[sizeof(struct tw_event_hdr) + TW_CAPTURE_MAX + 8];
	struct tw_event_hdr h;
	struct ctx t = make(4);
	uint64_t bad = 0;

	(void)state;
	memset(buf, 'x', sizeof(buf));
#define EXPECT_BAD(size)                                                           \
	do {                                                                       \
		memcpy(buf, &h, sizeof(h));                                        \
		assert_int_equal(tw_correlator_handle(t.c, buf, (size)), -EINVAL); \
		assert_int_equal(stats(&t).bad_records, ++bad);                    \
	} while (0)

	fill_hdr(&h, TW_EV_DATA, 90, TW_ROLE_SERVER, TW_DIR_INGRESS, 100);
	h.cap = 10;
	h.len = 10;
	/* every truncation of a valid record */
	for (size_t size = 0; size < sizeof(h) + 10; size++)
		EXPECT_BAD(size);
	assert_int_equal(tw_correlator_handle(t.c, NULL, 200), -EINVAL);
	assert_int_equal(stats(&t).bad_records, ++bad);
	/* cap beyond the capture size, even when the record is long enough */
	h.cap = TW_CAPTURE_MAX + 1;
	h.len = 100000;
	EXPECT_BAD(sizeof(buf));
	h.cap = UINT32_MAX;
	EXPECT_BAD(sizeof(buf));
	/* cap > len */
	h.cap = 20;
	h.len = 10;
	EXPECT_BAD(sizeof(buf));
	/* unknown type, direction, role */
	h.len = 20;
	h.type = 0;
	EXPECT_BAD(sizeof(buf));
	h.type = 77;
	EXPECT_BAD(sizeof(buf));
	h.type = TW_EV_DATA;
	h.dir = 0;
	EXPECT_BAD(sizeof(buf));
	h.dir = 3;
	EXPECT_BAD(sizeof(buf));
	h.dir = TW_DIR_INGRESS;
	h.role = 9;
	EXPECT_BAD(sizeof(buf));
	/* close with a cap it does not carry */
	fill_hdr(&h, TW_EV_CLOSE, 90, 0, 0, 100);
	h.cap = 4;
	EXPECT_BAD(sizeof(h) + 3);
	assert_int_equal(stats(&t).events, 0);
	assert_int_equal(stats(&t).conns_live, 0);

	/* padding after the payload is fine (ring buffer records are 8-aligned) */
	fill_hdr(&h, TW_EV_DATA, 90, TW_ROLE_SERVER, TW_DIR_INGRESS, 100);
	h.cap = h.len = strlen(get_req);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), get_req, h.cap);
	assert_int_equal(tw_correlator_handle(t.c, buf, sizeof(h) + h.cap + 5), 0);
	/* unaligned record */
	memmove(buf + 1, buf, sizeof(h) + h.cap);
	fill_hdr(&h, TW_EV_DATA, 90, TW_ROLE_SERVER, TW_DIR_EGRESS, 200);
	h.cap = h.len = strlen(ok_resp);
	memcpy(buf + 1, &h, sizeof(h));
	memcpy(buf + 1 + sizeof(h), ok_resp, h.cap);
	assert_int_equal(tw_correlator_handle(t.c, buf + 1, sizeof(h) + h.cap), 0);
	assert_int_equal(t.sink->n, 1);
	assert_int_equal(stats(&t).events, 2);
	destroy(&t);
#undef EXPECT_BAD
}

static void test_hostile_framing(void **state)
{
	struct ctx t = make(8);
	char *big = malloc(TW_CAPTURE_MAX);

	(void)state;
	assert_non_null(big);
	/* huge and overflowing lengths */
	srv_in(&t, 95, 100, "POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n");
	srv_out(&t, 95, 110, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(t.sink->n, 1);
	expect_span(&t.sink->spans[0], "POST", "/x", 400, 100, 110);
	srv_in(&t, 95, 200, "POST /y HTTP/1.1\r\nContent-Length: 4611686018427387904\r\n\r\nab");
	data_len(&t, 95, TW_ROLE_SERVER, TW_DIR_INGRESS, 210, "x", 1, UINT64_MAX / 2);
	srv_out(&t, 95, 220, "HTTP/1.1 413 Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(t.sink->n, 2);
	/* negative and overflowing chunk sizes */
	cli_out(&t, 96, 300, "GET /c HTTP/1.1\r\n\r\n");
	cli_in(&t, 96, 310, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n");
	cli_out(&t, 96, 320, "GET /d HTTP/1.1\r\n\r\n");
	cli_in(&t, 96, 330, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "fffffffffffffffffffff\r\n");
	close_ev(&t, 96, 400);
	assert_int_equal(t.sink->n, 4);
	expect_span(&t.sink->spans[2], "GET", "/c", 200, 300, 310);
	expect_span(&t.sink->spans[3], "GET", "/d", 200, 320, 330);
	assert_int_equal(t.sink->spans[3].status, TW_STATUS_UNSET);
	/* an over-long head in many reads */
	srv_in(&t, 97, 500, "GET /long HTTP/1.1\r\n");
	memset(big, 'a', TW_CAPTURE_MAX);
	for (int i = 0; i < 40; i++)
		data_len(&t, 97, TW_ROLE_SERVER, TW_DIR_INGRESS, 501 + i, big, TW_CAPTURE_MAX, 0);
	srv_out(&t, 97, 600, "HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(t.sink->n, 5);
	expect_span(&t.sink->spans[4], "GET", "/long", 431, 500, 600);
	assert_true(stats(&t).unsynced >= 4);
	free(big);
	destroy(&t);
}

/* ---- ids the kernel chose ------------------------------------------------ */

/* Distinct, recognisable ids; flags without the sampled bit so a copy is
 * told from the default (sampled | random). */
static struct tw_trace_ctx kctx(uint8_t kind, uint8_t seed, uint8_t source)
{
	struct tw_trace_ctx c;

	memset(&c, 0, sizeof(c));
	memset(c.trace_id, seed, sizeof(c.trace_id));
	memset(c.span_id, seed ^ 0x55, sizeof(c.span_id));
	if (source != TW_PSRC_NONE)
		memset(c.parent_span_id, seed ^ 0xaa, sizeof(c.parent_span_id));
	c.kind = kind;
	c.flags = TW_FLAG_RANDOM;
	c.source = source;
	return c;
}

/* A TW_EV_CTX record: sk_msg wrote tc into the request at stream offset off. */
static int ctx_rec(struct ctx *t, uint64_t sock, uint64_t ts, uint64_t off,
		   const struct tw_trace_ctx *tc)
{
	struct tw_event_hdr h;

	fill_hdr(&h, TW_EV_CTX, sock, TW_ROLE_CLIENT, TW_DIR_EGRESS, ts);
	h.len = off;
	h.ctx = *tc;
	return tw_correlator_handle(t->c, &h, sizeof(h));
}

#define srv_in_ctx(t, sock, ts, s, tc) \
	data_rec(t, sock, TW_ROLE_SERVER, TW_DIR_INGRESS, ts, s, strlen(s), 0, tc)
#define cli_out_ctx(t, sock, ts, s, tc) \
	data_rec(t, sock, TW_ROLE_CLIENT, TW_DIR_EGRESS, ts, s, strlen(s), 0, tc)

/* The span carries exactly the ids the kernel chose. */
static void expect_ids(const struct tw_span *s, const struct tw_trace_ctx *tc, const char *source)
{
	assert_memory_equal(s->trace_id, tc->trace_id, sizeof(s->trace_id));
	assert_memory_equal(s->span_id, tc->span_id, sizeof(s->span_id));
	assert_memory_equal(s->parent_span_id, tc->parent_span_id, sizeof(s->parent_span_id));
	assert_int_equal(s->trace_flags, tc->flags);
	assert_string_equal(s->parent_source, source);
}

/* A new trace chosen here: random ids none of the kernel's. */
static void expect_new_root(const struct tw_span *s, const struct tw_trace_ctx *not_this)
{
	assert_false(all_zero(s->trace_id, sizeof(s->trace_id)));
	assert_false(all_zero(s->span_id, sizeof(s->span_id)));
	assert_true(all_zero(s->parent_span_id, sizeof(s->parent_span_id)));
	assert_int_equal(s->trace_flags, TW_FLAG_SAMPLED | TW_FLAG_RANDOM);
	assert_string_equal(s->parent_source, "none");
	if (not_this) {
		assert_memory_not_equal(s->trace_id, not_this->trace_id, sizeof(s->trace_id));
		assert_memory_not_equal(s->span_id, not_this->span_id, sizeof(s->span_id));
	}
}

/* Child of the thread's server span, with a span id of its own. */
static void expect_thread_child(const struct tw_span *s, const struct tw_trace_ctx *thread)
{
	assert_memory_equal(s->trace_id, thread->trace_id, sizeof(s->trace_id));
	assert_memory_equal(s->parent_span_id, thread->span_id, sizeof(s->parent_span_id));
	assert_memory_not_equal(s->span_id, thread->span_id, sizeof(s->span_id));
	assert_false(all_zero(s->span_id, sizeof(s->span_id)));
	assert_int_equal(s->trace_flags, thread->flags);
	assert_string_equal(s->parent_source, "thread");
}

static const char ok0_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

static void test_server_ctx_from_record(void **state)
{
	struct ctx t = make(16);
	struct tw_trace_ctx sc = kctx(TW_CTX_SERVER, 0x11, TW_PSRC_HEADER);
	struct tw_trace_ctx root = kctx(TW_CTX_SERVER, 0x22, TW_PSRC_NONE);
	struct tw_trace_ctx thread = kctx(TW_CTX_THREAD, 0x33, TW_PSRC_NONE);
	struct tw_trace_ctx zero = { .kind = TW_CTX_SERVER };
	struct tw_correlator_stats st;

	(void)state;
	/* a caller's traceparent continued: parent and flags as parsed */
	srv_in_ctx(&t, 1, 100, get_req, &sc);
	srv_out(&t, 1, 200, ok_resp);
	/* a new trace the kernel started: its ids, no parent */
	root.flags = TW_FLAG_SAMPLED | TW_FLAG_RANDOM;
	srv_in_ctx(&t, 1, 300, get_req, &root);
	srv_out(&t, 1, 400, ok_resp);
	/* a context of the wrong kind, or without ids, is no server context */
	srv_in_ctx(&t, 1, 500, get_req, &thread);
	srv_out(&t, 1, 600, ok_resp);
	srv_in_ctx(&t, 1, 700, get_req, &zero);
	srv_out(&t, 1, 800, ok_resp);
	/* a head that took two reads: the kernel decides once it has the whole
	 * head, so the ids come with the record that completes it */
	srv_in(&t, 1, 900, "GET /split HT");
	srv_in_ctx(&t, 1, 910, "TP/1.1\r\n\r\n", &sc);
	srv_out(&t, 1, 1000, ok_resp);
	/* ... but not into a body: a request already queued keeps its ids */
	srv_in(&t, 1, 1100, "POST /b HTTP/1.1\r\nContent-Length: 4\r\n\r\n");
	srv_in_ctx(&t, 1, 1110, "abcd", &sc);
	srv_out(&t, 1, 1200, ok_resp);
	assert_int_equal(t.sink->n, 6);
	expect_ids(&t.sink->spans[0], &sc, "header");
	assert_int_equal(t.sink->spans[0].kind, TW_SPAN_SERVER);
	expect_ids(&t.sink->spans[1], &root, "none");
	expect_new_root(&t.sink->spans[2], &thread);
	expect_new_root(&t.sink->spans[3], NULL);
	expect_ids(&t.sink->spans[4], &sc, "header");
	expect_new_root(&t.sink->spans[5], &sc);
	st = stats(&t);
	assert_int_equal(st.spans_kernel_ids, 3);
	assert_int_equal(st.spans_thread_parent, 0);
	destroy(&t);
}

/* The record's context is the first request's: a pipelined successor in the
 * same record, and the request after it, get ids of their own. */
static void test_server_pipelined_own_ids(void **state)
{
	struct ctx t = make(16);
	struct tw_trace_ctx sc = kctx(TW_CTX_SERVER, 0x44, TW_PSRC_HEADER);
	const struct tw_span *sp = t.sink->spans;

	(void)state;
	srv_in_ctx(&t, 2, 100, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", &sc);
	srv_in(&t, 2, 150, "GET /3 HTTP/1.1\r\n\r\n");
	srv_out(&t, 2, 200, ok0_resp);
	srv_out(&t, 2, 300, ok0_resp);
	srv_out(&t, 2, 400, ok0_resp);
	assert_int_equal(t.sink->n, 3);
	expect_span(&sp[0], "GET", "/1", 200, 100, 200);
	expect_ids(&sp[0], &sc, "header");
	expect_span(&sp[1], "GET", "/2", 200, 100, 300);
	expect_new_root(&sp[1], &sc);
	expect_new_root(&sp[2], &sc);
	assert_memory_not_equal(sp[1].trace_id, sp[2].trace_id, sizeof(sp[1].trace_id));
	assert_memory_not_equal(sp[1].span_id, sp[2].span_id, sizeof(sp[1].span_id));
	assert_int_equal(stats(&t).spans_kernel_ids, 1);
	destroy(&t);
}

static const char creq1[] = "GET /1 HTTP/1.1\r\nHost: b\r\n\r\n";
static const char creq2[] = "POST /2 HTTP/1.1\r\nHost: b\r\nContent-Length: 4\r\n\r\nbody";
static const char creq3[] = "GET /3 HTTP/1.1\r\nHost: b\r\n\r\n";

/* Keep-alive: the TW_EV_CTX record naming a request's stream offset gives
 * its ids; a request with none falls back to the writing thread's server
 * request, else starts a trace. */
static void test_client_ctx_matched_by_offset(void **state)
{
	struct ctx t = make(16);
	size_t l1 = strlen(creq1), l2 = strlen(creq2);
	struct tw_trace_ctx a = kctx(TW_CTX_INJECTED, 0x51, TW_PSRC_THREAD);
	struct tw_trace_ctx c = kctx(TW_CTX_INJECTED, 0x53, TW_PSRC_APPLICATION);
	struct tw_trace_ctx thread = kctx(TW_CTX_THREAD, 0x60, TW_PSRC_NONE);
	const struct tw_span *sp = t.sink->spans;
	struct tw_correlator_stats st;

	(void)state;
	thread.flags = TW_FLAG_SAMPLED;
	ctx_rec(&t, 3, 100, 0, &a);
	cli_out_ctx(&t, 3, 101, creq1, &thread);
	cli_in(&t, 3, 150, ok_resp);
	/* injected nothing (say, head split over two sends) */
	cli_out_ctx(&t, 3, 200, creq2, &thread);
	cli_in(&t, 3, 250, ok_resp);
	ctx_rec(&t, 3, 300, l1 + l2, &c);
	cli_out_ctx(&t, 3, 301, creq3, &thread);
	cli_in(&t, 3, 350, ok_resp);
	/* no context at all: a new trace */
	cli_out(&t, 3, 400, creq1);
	cli_in(&t, 3, 450, ok_resp);
	assert_int_equal(t.sink->n, 4);
	/* a request sk_msg saw starts when it saw it leave (the ctx record's
	 * time), not when the write returned: the server may have answered
	 * before that */
	expect_span(&sp[0], "GET", "/1", 200, 100, 150);
	assert_int_equal(sp[0].kind, TW_SPAN_CLIENT);
	expect_ids(&sp[0], &a, "thread");
	expect_span(&sp[1], "POST", "/2", 200, 200, 250);
	expect_thread_child(&sp[1], &thread);
	expect_span(&sp[2], "GET", "/3", 200, 300, 350);
	expect_ids(&sp[2], &c, "application_header");
	expect_new_root(&sp[3], &thread);
	st = stats(&t);
	assert_int_equal(st.ctx_records, 2);
	assert_int_equal(st.ctx_matched, 2);
	assert_int_equal(st.ctx_unmatched, 0);
	assert_int_equal(st.ctx_resynced, 0);
	assert_int_equal(st.spans_kernel_ids, 2);
	assert_int_equal(st.spans_thread_parent, 1);
	assert_int_equal(st.events, 10);
	destroy(&t);
}

/* A record whose request never began where it says is stale once a later
 * request begins: dropped and counted, never given to that request. */
static void test_client_ctx_stale_discarded(void **state)
{
	struct ctx t = make(16);
	size_t l1 = strlen(creq1), l2 = strlen(creq2);
	struct tw_trace_ctx a = kctx(TW_CTX_INJECTED, 0x71, TW_PSRC_THREAD);
	struct tw_trace_ctx b = kctx(TW_CTX_INJECTED, 0x72, TW_PSRC_THREAD);
	struct tw_trace_ctx c = kctx(TW_CTX_INJECTED, 0x73, TW_PSRC_FORWARDED);
	const struct tw_span *sp = t.sink->spans;
	struct tw_correlator_stats st;

	(void)state;
	ctx_rec(&t, 4, 100, 0, &a);
	ctx_rec(&t, 4, 100, 5, &b); /* no request starts at 5 */
	cli_out(&t, 4, 101, creq1);
	cli_in(&t, 4, 150, ok_resp);
	assert_int_equal(stats(&t).ctx_unmatched, 0); /* could still be pipelined */
	cli_out(&t, 4, 200, creq2);
	assert_int_equal(stats(&t).ctx_unmatched, 1);
	cli_in(&t, 4, 250, ok_resp);
	ctx_rec(&t, 4, 300, l1 + l2, &c);
	cli_out(&t, 4, 301, creq3);
	cli_in(&t, 4, 350, ok_resp);
	assert_int_equal(t.sink->n, 3);
	expect_ids(&sp[0], &a, "thread");
	expect_new_root(&sp[1], &b);
	expect_ids(&sp[2], &c, "forwarded_header");
	st = stats(&t);
	assert_int_equal(st.ctx_records, 3);
	assert_int_equal(st.ctx_matched, 2);
	assert_int_equal(st.ctx_unmatched, 1);
	destroy(&t);
}

/* sk_msg runs inside the send: its record precedes the first DATA record
 * of a new client socket, and must create the connection. */
static void test_ctx_record_creates_client_conn(void **state)
{
	struct ctx t = make(16);
	struct tw_trace_ctx a = kctx(TW_CTX_INJECTED, 0x81, TW_PSRC_NONE);
	struct tw_correlator_stats st;

	(void)state;
	assert_int_equal(ctx_rec(&t, 5, 100, 0, &a), 0);
	st = stats(&t);
	assert_int_equal(st.conns_live, 1);
	assert_int_equal(st.events, 1);
	/* the DATA record tells no role: the connection's (client) holds */
	data(&t, 5, TW_ROLE_UNKNOWN, TW_DIR_EGRESS, 101, creq1);
	data(&t, 5, TW_ROLE_UNKNOWN, TW_DIR_INGRESS, 150, ok_resp);
	assert_int_equal(t.sink->n, 1);
	assert_int_equal(t.sink->spans[0].kind, TW_SPAN_CLIENT);
	expect_ids(&t.sink->spans[0], &a, "none");
	assert_int_equal(stats(&t).ctx_matched, 1);

	/* a record alone is no reason to keep a connection: idle, it goes */
	ctx_rec(&t, 6, 200, 0, &a);
	assert_int_equal(stats(&t).conns_live, 2);
	tw_correlator_tick(t.c, 200 + IDLE_NS);
	st = stats(&t);
	assert_int_equal(st.conns_live, 0);
	assert_int_equal(st.ctx_unmatched, 1);
	assert_int_equal(st.ctx_records, st.ctx_matched + st.ctx_unmatched);

	/* a server connection never claims one */
	srv_in(&t, 7, 300, get_req);
	ctx_rec(&t, 7, 301, 0, &a);
	srv_out(&t, 7, 350, ok_resp);
	assert_int_equal(t.sink->n, 2);
	expect_new_root(&t.sink->spans[1], &a);
	assert_int_equal(stats(&t).ctx_unmatched, 2);
	destroy(&t);
}

/* At most 16 records wait per connection: the oldest go (counted) and their
 * requests fall back; the others still match. */
static void test_ctx_fifo_bound(void **state)
{
	enum { N = 20 };
	struct ctx t = make(16);
	struct tw_trace_ctx a = kctx(TW_CTX_INJECTED, 0x90, TW_PSRC_NONE);
	struct tw_trace_ctx ids[N];
	char all[N * 32], req[32];
	size_t l1 = strlen(creq1), lr, n = 0;
	struct tw_correlator_stats st;

	(void)state;
	ctx_rec(&t, 8, 100, 0, &a);
	cli_out(&t, 8, 101, creq1);
	cli_in(&t, 8, 150, ok_resp);
	for (int i = 0; i < N; i++) {
		lr = (size_t)snprintf(req, sizeof(req), "GET /p%02d HTTP/1.1\r\n\r\n", i);
		memcpy(all + n, req, lr + 1);
		ids[i] = kctx(TW_CTX_INJECTED, (uint8_t)(0xa0 + i), TW_PSRC_THREAD);
		ctx_rec(&t, 8, 200, l1 + n, &ids[i]);
		n += lr;
	}
	st = stats(&t);
	assert_int_equal(st.ctx_unmatched, N - 16);
	cli_out(&t, 8, 201, all);
	for (int i = 0; i < N; i++)
		cli_in(&t, 8, 300 + i, ok0_resp);
	assert_int_equal(t.sink->n, 1 + N);
	expect_ids(&t.sink->spans[0], &a, "none");
	for (int i = 0; i < N; i++) {
		const struct tw_span *s = &t.sink->spans[1 + i];

		snprintf(req, sizeof(req), "/p%02d", i);
		assert_string_equal(s->path, req);
		if (i < N - 16)
			expect_new_root(s, &ids[i]);
		else
			expect_ids(s, &ids[i], "thread");
	}
	st = stats(&t);
	assert_int_equal(st.ctx_records, 1 + N);
	assert_int_equal(st.ctx_matched, 1 + 16);
	assert_int_equal(st.ctx_unmatched, N - 16);
	assert_int_equal(st.ctx_resynced, 0);
	destroy(&t);
}

/* The kernel counts from the socket's first byte, a connection tracked
 * from mid-stream from zero: the first request starting a record realigns
 * the two (a connection freed by tick while keep-alive, here). */
static void test_ctx_resync_after_idle_free(void **state)
{
	struct ctx t = make(16);
	size_t l1 = strlen(creq1), l2 = strlen(creq2), l3 = strlen(creq3);
	struct tw_trace_ctx a = kctx(TW_CTX_INJECTED, 0xc1, TW_PSRC_NONE);
	struct tw_trace_ctx b = kctx(TW_CTX_INJECTED, 0xc2, TW_PSRC_NONE);
	struct tw_trace_ctx c = kctx(TW_CTX_INJECTED, 0xc3, TW_PSRC_NONE);
	struct tw_trace_ctx d = kctx(TW_CTX_INJECTED, 0xc4, TW_PSRC_NONE);
	struct tw_trace_ctx e = kctx(TW_CTX_INJECTED, 0xc5, TW_PSRC_NONE);
	const struct tw_span *sp = t.sink->spans;
	uint64_t ts = 1000;

	(void)state;
	ctx_rec(&t, 9, ts, 0, &a);
	cli_out(&t, 9, ts + 1, creq1);
	cli_in(&t, 9, ts + 2, ok_resp);
	ts += 2 * IDLE_NS;
	tw_correlator_tick(t.c, ts);
	assert_int_equal(stats(&t).conns_live, 0);
	/* same socket, fresh connection: our offsets restart at 0 */
	ctx_rec(&t, 9, ts, l1, &b);
	cli_out(&t, 9, ts + 1, creq2);
	cli_in(&t, 9, ts + 2, ok_resp);
	ctx_rec(&t, 9, ts + 3, l1 + l2, &c);
	cli_out(&t, 9, ts + 4, creq3);
	cli_in(&t, 9, ts + 5, ok_resp);
	assert_int_equal(t.sink->n, 3);
	expect_ids(&sp[0], &a, "none");
	expect_ids(&sp[1], &b, "none");
	expect_ids(&sp[2], &c, "none");
	assert_int_equal(stats(&t).ctx_resynced, 1);

	/* once aligned, only a record beyond the bytes of this send proves a
	 * lag (a send we never saw, its record lost too) */
	ctx_rec(&t, 9, ts + 6, l1 + l2 + l3 + 100, &d);
	cli_out(&t, 9, ts + 7, creq1); /* l1 < 100: d lies beyond it */
	cli_in(&t, 9, ts + 8, ok_resp);
	expect_ids(&sp[3], &d, "none");
	assert_int_equal(stats(&t).ctx_resynced, 2);
	/* but a record inside this send belongs to a later request in it */
	ctx_rec(&t, 9, ts + 9, l1 + l2 + l3 + 100 + l1 + 19, &e);
	cli_out(&t, 9, ts + 10, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
	cli_in(&t, 9, ts + 11, ok0_resp);
	cli_in(&t, 9, ts + 12, ok0_resp);
	assert_int_equal(t.sink->n, 6);
	expect_new_root(&sp[4], &e);
	expect_ids(&sp[5], &e, "none");
	assert_int_equal(stats(&t).ctx_resynced, 2);
	assert_int_equal(stats(&t).ctx_matched, 5);
	destroy(&t);
}

/* An egress record with the kernel's stream offset (TW_HDR_STREAM_OFF). */
static int cli_out_at(struct ctx *t, uint64_t sock, uint64_t ts, const char *s, uint64_t off)
{
	uint8_t buf[sizeof(struct tw_event_hdr) + TW_CAPTURE_MAX];
	struct tw_event_hdr h;
	size_t n = strlen(s);

	fill_hdr(&h, TW_EV_DATA, sock, TW_ROLE_CLIENT, TW_DIR_EGRESS, ts);
	h.cap = (uint32_t)n;
	h.len = n;
	h.stream_off = off;
	h.hdr_flags = TW_HDR_STREAM_OFF;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), s, n);
	return tw_correlator_handle(t->c, buf, sizeof(h) + n);
}

/* The kernel's offset aligns the two counts exactly. A request whose head
 * began with a short write ("POS", then the rest) produced no record (the
 * socket did not look like HTTP yet) though sk_msg injected into it: its
 * TW_EV_CTX waits in vain. Trusting the oldest waiting record would hand
 * its ids to the next request; the kernel's offset does not. */
static void test_ctx_exact_stream_offset(void **state)
{
	struct ctx t = make(16);
	size_t l1 = strlen(creq1);
	const uint64_t x = 100; /* bytes of the unrecorded request */
	struct tw_trace_ctx a = kctx(TW_CTX_INJECTED, 0xd1, TW_PSRC_NONE);
	struct tw_trace_ctx b = kctx(TW_CTX_INJECTED, 0xd2, TW_PSRC_NONE);
	struct tw_trace_ctx c = kctx(TW_CTX_INJECTED, 0xd3, TW_PSRC_NONE);
	const struct tw_span *sp = t.sink->spans;

	(void)state;
	ctx_rec(&t, 7, 100, 0, &a);
	ctx_rec(&t, 7, 101, x, &b);
	cli_out_at(&t, 7, 102, creq1, x);
	cli_in(&t, 7, 103, ok_resp);
	ctx_rec(&t, 7, 104, x + l1, &c);
	cli_out_at(&t, 7, 105, creq2, x + l1);
	cli_in(&t, 7, 106, ok_resp);
	assert_int_equal(t.sink->n, 2);
	expect_ids(&sp[0], &b, "none");
	expect_ids(&sp[1], &c, "none");
	assert_int_equal(stats(&t).ctx_resynced, 0);
	assert_int_equal(stats(&t).ctx_unmatched, 1); /* a */
	destroy(&t);
}

/* A trace started in user space follows --sample-ratio like the kernel's:
 * 0 samples none, 1 all, 0.5 about half (bounds far outside 5 sigma). */
static void test_user_roots_sampled_by_ratio(void **state)
{
	const double ratios[] = { 0.0, 1.0, 0.5 };

	(void)state;
	for (size_t r = 0; r < 3; r++) {
		struct ctx t = make(16);
		struct tw_correlator_cfg cfg = {
			.max_conns = 16, .idle_ns = IDLE_NS, .mono_to_unix_ns = OFFSET,
			.on_span = on_span, .ctx = t.sink,
			.sample_ratio = ratios[r], .sample_ratio_set = true,
		};
		size_t sampled = 0;

		tw_correlator_free(t.c);
		t.c = tw_correlator_new(&cfg);
		assert_non_null(t.c);
		for (int i = 0; i < 400; i++) {
			cli_out(&t, 1, 100 + 10 * i, creq1);
			cli_in(&t, 1, 105 + 10 * i, ok_resp);
		}
		assert_int_equal(t.sink->n, 400);
		for (size_t i = 0; i < t.sink->n; i++) {
			assert_true(t.sink->spans[i].trace_flags & TW_FLAG_RANDOM);
			sampled += t.sink->spans[i].trace_flags & TW_FLAG_SAMPLED;
		}
		if (r == 0)
			assert_int_equal(sampled, 0);
		else if (r == 1)
			assert_int_equal(sampled, 400);
		else
			assert_true(sampled > 150 && sampled < 250);
		destroy(&t);
	}
}

static void test_ctx_malformed(void **state)
{
	struct ctx t = make(4);
	struct tw_trace_ctx a = kctx(TW_CTX_INJECTED, 0xd1, TW_PSRC_NONE);
	uint8_t buf[sizeof(struct tw_event_hdr) + 16];
	struct tw_event_hdr h, good;
	uint64_t bad = 0;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	fill_hdr(&good, TW_EV_CTX, 11, TW_ROLE_CLIENT, TW_DIR_EGRESS, 100);
	good.ctx = a;
#define EXPECT_BAD_CTX(mutate, size)                                               \
	do {                                                                       \
		h = good;                                                          \
		mutate;                                                            \
		memcpy(buf, &h, sizeof(h));                                        \
		assert_int_equal(tw_correlator_handle(t.c, buf, (size)), -EINVAL); \
		assert_int_equal(stats(&t).bad_records, ++bad);                    \
	} while (0)
	EXPECT_BAD_CTX((void)0, sizeof(h) - 1);
	EXPECT_BAD_CTX(h.cap = 4, sizeof(h) + 4); /* no payload */
	EXPECT_BAD_CTX(h.dir = TW_DIR_INGRESS, sizeof(h));
	EXPECT_BAD_CTX(h.dir = 0, sizeof(h));
	EXPECT_BAD_CTX(h.role = 7, sizeof(h));
	EXPECT_BAD_CTX(h.ctx.kind = TW_CTX_NONE, sizeof(h));
	EXPECT_BAD_CTX(h.ctx.kind = TW_CTX_THREAD, sizeof(h));
	EXPECT_BAD_CTX(h.ctx.kind = TW_CTX_SERVER, sizeof(h));
	EXPECT_BAD_CTX(h.ctx.kind = 9, sizeof(h));
	EXPECT_BAD_CTX(memset(h.ctx.trace_id, 0, 16), sizeof(h));
	EXPECT_BAD_CTX(memset(h.ctx.span_id, 0, 8), sizeof(h));
#undef EXPECT_BAD_CTX
	assert_int_equal(stats(&t).events, 0);
	assert_int_equal(stats(&t).ctx_records, 0);
	assert_int_equal(stats(&t).conns_live, 0);
	/* the good one, with ring-buffer padding after it */
	memcpy(buf, &good, sizeof(good));
	assert_int_equal(tw_correlator_handle(t.c, buf, sizeof(good) + 8), 0);
	assert_int_equal(stats(&t).ctx_records, 1);
	destroy(&t);
}

static void test_parent_source_strings(void **state)
{
	(void)state;
	assert_string_equal(tw_parent_source_str(TW_PSRC_NONE), "none");
	assert_string_equal(tw_parent_source_str(TW_PSRC_HEADER), "header");
	assert_string_equal(tw_parent_source_str(TW_PSRC_THREAD), "thread");
	assert_string_equal(tw_parent_source_str(TW_PSRC_FORWARDED), "forwarded_header");
	assert_string_equal(tw_parent_source_str(TW_PSRC_APPLICATION), "application_header");
	assert_string_equal(tw_parent_source_str(TW_PSRC_MAX), "none");
	assert_string_equal(tw_parent_source_str(255), "none");
	/* static strings: spans outlive nothing they point to */
	assert_ptr_equal(tw_parent_source_str(TW_PSRC_THREAD), tw_parent_source_str(TW_PSRC_THREAD));
}

/* A source value the kernel should never send reads as "none". */
static void test_unknown_source_from_kernel(void **state)
{
	struct ctx t = make(4);
	struct tw_trace_ctx sc = kctx(TW_CTX_SERVER, 0xe1, TW_PSRC_HEADER);

	(void)state;
	sc.source = 200;
	srv_in_ctx(&t, 12, 100, get_req, &sc);
	srv_out(&t, 12, 200, ok_resp);
	assert_int_equal(t.sink->n, 1);
	expect_ids(&t.sink->spans[0], &sc, "none");
	destroy(&t);
}

/* ---- the request's own traceparent, when the kernel supplied no ids ----- */

#define HDR_TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define HDR_PARENT "00f067aa0ba902b7"
#define HDR_TP(flags) "00-" HDR_TRACE "-" HDR_PARENT "-" flags
#define TP_REQ(path, tp) "GET " path " HTTP/1.1\r\nHost: b\r\ntraceparent: " tp "\r\n\r\n"

static const uint8_t hdr_trace[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
				       0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
static const uint8_t hdr_parent[8] = { 0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7 };

/* Trace, parent and flags as the header named them; a span id of its own. */
static void expect_header_ids(const struct tw_span *s, uint8_t flags, const char *source)
{
	assert_memory_equal(s->trace_id, hdr_trace, sizeof(hdr_trace));
	assert_memory_equal(s->parent_span_id, hdr_parent, sizeof(hdr_parent));
	assert_false(all_zero(s->span_id, sizeof(s->span_id)));
	assert_memory_not_equal(s->span_id, hdr_parent, sizeof(hdr_parent));
	assert_int_equal(s->trace_flags, flags);
	assert_string_equal(s->parent_source, source);
}

/* No server context from the kernel (its scan did not see the request
 * start: a head split across reads, a connection tracked late): a valid
 * traceparent in the head continues that trace. */
static void test_server_header_fallback(void **state)
{
	struct ctx t = make(16);
	const struct tw_span *sp = t.sink->spans;
	struct tw_trace_ctx sc = kctx(TW_CTX_SERVER, 0x11, TW_PSRC_NONE);
	struct tw_correlator_stats st;

	(void)state;
	srv_in(&t, 20, 100, TP_REQ("/a", HDR_TP("01")));
	srv_out(&t, 20, 200, ok_resp);
	/* the kernel's context belongs to the request starting the record; a
	 * pipelined successor in it has none (its header split over reads) */
	srv_in_ctx(&t, 20, 300, "GET /x HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\ntrace", &sc);
	srv_in(&t, 20, 310, "parent:\t" HDR_TP("00") " \r\n\r\n");
	srv_out(&t, 20, 400, ok0_resp);
	srv_out(&t, 20, 410, ok_resp);
	/* flags are the caller's, unknown bits included */
	srv_in(&t, 20, 500, TP_REQ("/c", HDR_TP("03")));
	srv_out(&t, 20, 600, ok_resp);
	/* a later version, read by its version-00 prefix, longer than kept */
	srv_in(&t, 20, 700, TP_REQ("/d", "01-" HDR_TRACE "-" HDR_PARENT "-01-"
				   "future-fields-past-the-kept-bytes"));
	srv_out(&t, 20, 800, ok_resp);
	/* nothing carried over to the next request on the connection */
	srv_in(&t, 20, 900, get_req);
	srv_out(&t, 20, 1000, ok_resp);
	assert_int_equal(t.sink->n, 6);
	expect_span(&sp[0], "GET", "/a", 200, 100, 200);
	assert_int_equal(sp[0].kind, TW_SPAN_SERVER);
	expect_header_ids(&sp[0], TW_FLAG_SAMPLED, "header");
	expect_ids(&sp[1], &sc, "none");
	expect_span(&sp[2], "GET", "/b", 200, 300, 410);
	expect_header_ids(&sp[2], 0x00, "header");
	assert_memory_not_equal(sp[2].span_id, sc.span_id, sizeof(sc.span_id));
	expect_header_ids(&sp[3], 0x03, "header");
	assert_memory_not_equal(sp[0].span_id, sp[3].span_id, sizeof(sp[0].span_id));
	expect_span(&sp[4], "GET", "/d", 200, 700, 800);
	expect_header_ids(&sp[4], TW_FLAG_SAMPLED, "header");
	expect_new_root(&sp[5], NULL);
	assert_memory_not_equal(sp[5].trace_id, hdr_trace, sizeof(hdr_trace));
	st = stats(&t);
	assert_int_equal(st.spans_header_fallback, 4);
	assert_int_equal(st.spans_kernel_ids, 1);
	assert_int_equal(st.spans_thread_parent, 0);
	destroy(&t);
}

/* A header the kernel would reject is no context here either: a new trace. */
static void test_server_invalid_header_root(void **state)
{
	static const char *const bad[] = {
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-" HDR_PARENT "-01", /* uppercase */
		"ff-" HDR_TRACE "-" HDR_PARENT "-01",                    /* version ff */
		HDR_TP("01") "-abc",                                     /* 00 is exact */
		HDR_TP("1"),                                             /* short */
		"00-00000000000000000000000000000000-" HDR_PARENT "-01",
		"00-" HDR_TRACE "-0000000000000000-01",
		"00-" HDR_TRACE "_" HDR_PARENT "-01",
		"01-" HDR_TRACE "-" HDR_PARENT "-01abc",
		"00-" HDR_TRACE "-" HDR_PARENT "-0g",
		"",
	};
	enum { N = sizeof(bad) / sizeof(bad[0]) };
	struct ctx t = make(16);
	char req[512], pad[200];
	size_t i;

	(void)state;
	for (i = 0; i < N; i++) {
		snprintf(req, sizeof(req), "GET /%zu HTTP/1.1\r\ntraceparent: %s\r\n\r\n", i,
			 bad[i]);
		srv_in(&t, 21, 100 * i + 1, req);
		srv_out(&t, 21, 100 * i + 50, ok_resp);
	}
	/* a valid value cut short where the header line stops being kept: its
	 * end is unknown (a 00 value may go on and be invalid) */
	memset(pad, ' ', 150);
	pad[150] = '\0';
	snprintf(req, sizeof(req), "GET /cut HTTP/1.1\r\ntraceparent:%s" HDR_TP("01") "\r\n\r\n",
		 pad);
	srv_in(&t, 21, 100 * i + 1, req);
	srv_out(&t, 21, 100 * i + 50, ok_resp);
	/* ... even when exactly a valid 00 value is kept: here the line goes
	 * on with "-more", which makes the whole invalid */
	memset(pad, ' ', TW_H1_LINE_KEEP - 12 - 55);
	pad[TW_H1_LINE_KEEP - 12 - 55] = '\0';
	snprintf(req, sizeof(req),
		 "GET /cut55 HTTP/1.1\r\ntraceparent:%s" HDR_TP("01") "-more\r\n\r\n", pad);
	srv_in(&t, 21, 100 * i + 55, req);
	srv_out(&t, 21, 100 * i + 58, ok_resp);
	/* control: the same connection honours a valid one */
	srv_in(&t, 21, 100 * i + 60, TP_REQ("/ok", HDR_TP("01")));
	srv_out(&t, 21, 100 * i + 70, ok_resp);
	assert_int_equal(t.sink->n, N + 3);
	for (i = 0; i < N + 2; i++) {
		expect_new_root(&t.sink->spans[i], NULL);
		assert_memory_not_equal(t.sink->spans[i].trace_id, hdr_trace, sizeof(hdr_trace));
	}
	assert_string_equal(t.sink->spans[N].path, "/cut");
	assert_string_equal(t.sink->spans[N + 1].path, "/cut55");
	expect_header_ids(&t.sink->spans[N + 2], TW_FLAG_SAMPLED, "header");
	assert_int_equal(stats(&t).spans_header_fallback, 1);
	destroy(&t);
}

/* Nothing injected nor reported for a client request (its head split over
 * two sends, say): the application's own traceparent names its parent. */
static void test_client_app_header_fallback(void **state)
{
	struct ctx t = make(16);
	const struct tw_span *sp = t.sink->spans;
	struct tw_trace_ctx thread = kctx(TW_CTX_THREAD, 0x61, TW_PSRC_NONE);
	struct tw_correlator_stats st;

	(void)state;
	cli_out_ctx(&t, 22, 100, "GET /split HTTP/1.1\r\nHost: b\r\ntracepa", &thread);
	cli_out_ctx(&t, 22, 101, "rent: " HDR_TP("01") "\r\n\r\n", &thread);
	cli_in(&t, 22, 150, ok_resp);
	/* without any kernel context too */
	cli_out(&t, 22, 200, TP_REQ("/b", HDR_TP("00")));
	cli_in(&t, 22, 250, ok_resp);
	/* no header: the thread rule as before */
	cli_out_ctx(&t, 22, 300, creq1, &thread);
	cli_in(&t, 22, 350, ok_resp);
	assert_int_equal(t.sink->n, 3);
	expect_span(&sp[0], "GET", "/split", 200, 100, 150);
	assert_int_equal(sp[0].kind, TW_SPAN_CLIENT);
	expect_header_ids(&sp[0], TW_FLAG_SAMPLED, "application_header");
	assert_memory_not_equal(sp[0].span_id, thread.span_id, sizeof(thread.span_id));
	expect_header_ids(&sp[1], 0x00, "application_header");
	assert_memory_not_equal(sp[0].span_id, sp[1].span_id, sizeof(sp[0].span_id));
	expect_thread_child(&sp[2], &thread);
	st = stats(&t);
	assert_int_equal(st.spans_header_fallback, 2);
	assert_int_equal(st.spans_thread_parent, 1);
	assert_int_equal(st.spans_kernel_ids, 0);
	destroy(&t);
}

/* Ids the kernel supplied are what it acted on: the header never replaces
 * them, on either side. */
static void test_kernel_ctx_wins_over_header(void **state)
{
	struct ctx t = make(16);
	const struct tw_span *sp = t.sink->spans;
	struct tw_trace_ctx sc = kctx(TW_CTX_SERVER, 0x12, TW_PSRC_NONE);
	struct tw_trace_ctx inj = kctx(TW_CTX_INJECTED, 0x13, TW_PSRC_FORWARDED);
	struct tw_trace_ctx thread = kctx(TW_CTX_THREAD, 0x14, TW_PSRC_NONE);
	struct tw_correlator_stats st;

	(void)state;
	/* the kernel found the header invalid, or not at all: its new trace */
	srv_in_ctx(&t, 23, 100, TP_REQ("/s", HDR_TP("01")), &sc);
	srv_out(&t, 23, 200, ok_resp);
	/* sk_msg rewrote the forwarded header: its record names the ids */
	ctx_rec(&t, 24, 300, 0, &inj);
	cli_out_ctx(&t, 24, 301, TP_REQ("/c", HDR_TP("01")), &thread);
	cli_in(&t, 24, 350, ok_resp);
	/* control: without them, the same requests take the header */
	srv_in(&t, 23, 400, TP_REQ("/s", HDR_TP("01")));
	srv_out(&t, 23, 450, ok_resp);
	cli_out_ctx(&t, 24, 500, TP_REQ("/c", HDR_TP("01")), &thread);
	cli_in(&t, 24, 550, ok_resp);
	assert_int_equal(t.sink->n, 4);
	expect_ids(&sp[0], &sc, "none");
	expect_ids(&sp[1], &inj, "forwarded_header");
	expect_header_ids(&sp[2], TW_FLAG_SAMPLED, "header");
	expect_header_ids(&sp[3], TW_FLAG_SAMPLED, "application_header");
	st = stats(&t);
	assert_int_equal(st.spans_kernel_ids, 2);
	assert_int_equal(st.spans_header_fallback, 2);
	destroy(&t);
}

/* W3C: more than one traceparent is no context; the kernel ignores them
 * too. Server: a new trace; client: the thread rule. */
static void test_two_traceparents_no_fallback(void **state)
{
	static const char two[] = "GET /two HTTP/1.1\r\ntraceparent: " HDR_TP("01") "\r\n"
				  "Traceparent: " HDR_TP("01") "\r\n\r\n";
	struct ctx t = make(16);
	const struct tw_span *sp = t.sink->spans;
	struct tw_trace_ctx thread = kctx(TW_CTX_THREAD, 0x15, TW_PSRC_NONE);
	struct tw_correlator_stats st;

	(void)state;
	srv_in(&t, 25, 100, two);
	srv_out(&t, 25, 200, ok_resp);
	cli_out_ctx(&t, 26, 300, two, &thread);
	cli_in(&t, 26, 350, ok_resp);
	/* control: one of them alone is taken */
	cli_out_ctx(&t, 26, 400, TP_REQ("/one", HDR_TP("01")), &thread);
	cli_in(&t, 26, 450, ok_resp);
	assert_int_equal(t.sink->n, 3);
	expect_new_root(&sp[0], NULL);
	assert_memory_not_equal(sp[0].trace_id, hdr_trace, sizeof(hdr_trace));
	expect_thread_child(&sp[1], &thread);
	expect_header_ids(&sp[2], TW_FLAG_SAMPLED, "application_header");
	st = stats(&t);
	assert_int_equal(st.spans_header_fallback, 1);
	assert_int_equal(st.spans_thread_parent, 1);
	destroy(&t);
}

static uint32_t rng = 2463534242u;

static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static const char *const fuzz_seeds[] = {
	"GET /f?q HTTP/1.1\r\nHost: f\r\n\r\n",
	"POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
	"HEAD / HTTP/1.1\r\n\r\n",
	"CONNECT h:1 HTTP/1.1\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 100 Continue\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
	"HTTP/1.0 500 Err\r\n\r\nbody",
	"\r\n",
	"GET /t HTTP/1.1\r\ntraceparent: " HDR_TP("01") "\r\n\r\n",
};
#define N_FUZZ_SEEDS (sizeof(fuzz_seeds) / sizeof(fuzz_seeds[0]))

/* Kernel ids on some records: TW_EV_CTX at offsets near where requests
 * start, server and thread contexts on DATA records. */
static void fuzz_trace_ctx(struct tw_event_hdr *h)
{
	static const uint8_t kinds[] = { TW_CTX_SERVER, TW_CTX_THREAD };
	uint8_t seed = (uint8_t)(1 + next_rand() % 255);

	if (h->type == TW_EV_DATA && next_rand() % 4)
		return;
	h->ctx = kctx(h->type == TW_EV_CTX ? TW_CTX_INJECTED : kinds[next_rand() % 2], seed,
		      (uint8_t)(next_rand() % (TW_PSRC_MAX + 1)));
	if (h->type == TW_EV_CTX) {
		h->dir = TW_DIR_EGRESS;
		h->len = (next_rand() % 64) * 19;
	}
}

/* Random records: sizes, headers and payloads from seeds and noise, with
 * ticks in between. Nothing may crash or leak; the books must balance. */
static void test_fuzz_records(void **state)
{
	uint8_t buf[sizeof(struct tw_event_hdr) + TW_CAPTURE_MAX + 16];
	struct ctx t = make(16);
	uint64_t now = 0, handled = 0;
	struct tw_correlator_stats st;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		struct tw_event_hdr h;
		size_t n = 0, size;
		uint32_t r = next_rand();

		uint8_t type = r % 50 == 0 ? TW_EV_CLOSE : r % 50 < 4 ? TW_EV_CTX : TW_EV_DATA;

		fill_hdr(&h, type, next_rand() % 40, (uint8_t)(next_rand() % 3),
			 (uint8_t)(1 + next_rand() % 2), now);
		fuzz_trace_ctx(&h);
		now += next_rand() % 1000000000u;
		while (type == TW_EV_DATA && n < 200 && next_rand() % 3) {
			if (next_rand() % 5) {
				const char *s = fuzz_seeds[next_rand() % N_FUZZ_SEEDS];

				memcpy(buf + sizeof(h) + n, s, strlen(s));
				n += strlen(s);
			} else {
				for (int k = next_rand() % 16; k > 0; k--)
					buf[sizeof(h) + n++] = (uint8_t)next_rand();
			}
		}
		h.cap = (uint32_t)n;
		if (type == TW_EV_DATA)
			h.len = n + (next_rand() % 8 ? 0 : next_rand() % 3000);
		size = sizeof(h) + n;
		if (next_rand() % 20 == 0) {
			/* corrupt the header itself */
			uint8_t *raw = (uint8_t *)&h;

			raw[next_rand() % sizeof(h)] = (uint8_t)next_rand();
			size = next_rand() % sizeof(buf);
		}
		memcpy(buf, &h, sizeof(h));
		tw_correlator_handle(t.c, buf, size);
		handled++;
		if (next_rand() % 100 == 0)
			tw_correlator_tick(t.c, now);
	}
	st = stats(&t);
	assert_int_equal(st.events + st.bad_records, handled);
	assert_true(st.conns_live <= 16);
	assert_true(st.spans > 1000);
	assert_int_equal(st.spans, t.sink->n);
	assert_true(st.spans_kernel_ids + st.spans_thread_parent + st.spans_header_fallback <=
		    st.spans);
	tw_correlator_flush(t.c);
	st = stats(&t);
	assert_int_equal(st.conns_live, 0);
	/* every TW_EV_CTX record claimed or counted as not */
	assert_int_equal(st.ctx_records, st.ctx_matched + st.ctx_unmatched);
	assert_true(st.ctx_matched > 0);
	print_message("fuzz: %llu spans, %llu unsynced, %llu bad, %llu evicted, "
		      "ctx %llu/%llu matched, %llu kernel ids, %llu thread parents, "
		      "%llu header fallbacks\n",
		      (unsigned long long)st.spans, (unsigned long long)st.unsynced,
		      (unsigned long long)st.bad_records, (unsigned long long)st.conns_evicted,
		      (unsigned long long)st.ctx_matched, (unsigned long long)st.ctx_records,
		      (unsigned long long)st.spans_kernel_ids,
		      (unsigned long long)st.spans_thread_parent,
		      (unsigned long long)st.spans_header_fallback);
	destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_get),
		cmocka_unit_test(test_clock_offset_update),
		cmocka_unit_test(test_client_get),
		cmocka_unit_test(test_keepalive_many),
		cmocka_unit_test(test_pipelined_server),
		cmocka_unit_test(test_pipelined_client),
		cmocka_unit_test(test_pending_bounds),
		cmocka_unit_test(test_response_split_every_position),
		cmocka_unit_test(test_chunked_split_across_writes),
		cmocka_unit_test(test_uncaptured_bodies_skipped_exactly),
		cmocka_unit_test(test_100_continue),
		cmocka_unit_test(test_101_upgrade),
		cmocka_unit_test(test_101_head_beyond_capture),
		cmocka_unit_test(test_connect_tunnel),
		cmocka_unit_test(test_204_304_head),
		cmocka_unit_test(test_body_until_close),
		cmocka_unit_test(test_close_mid_request),
		cmocka_unit_test(test_idle_tick_finishes_unsynced),
		cmocka_unit_test(test_idle_tick_until_close),
		cmocka_unit_test(test_next_request_finishes_unsynced),
		cmocka_unit_test(test_resynced_response_finishes_lost_one),
		cmocka_unit_test(test_request_head_beyond_capture),
		cmocka_unit_test(test_role_inferred),
		cmocka_unit_test(test_interleaved_connections),
		cmocka_unit_test(test_eviction_bound),
		cmocka_unit_test(test_eviction_is_lru),
		cmocka_unit_test(test_pending_bound),
		cmocka_unit_test(test_status_mapping),
		cmocka_unit_test(test_absolute_form_and_fields),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_free_with_pending),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_malformed_records),
		cmocka_unit_test(test_hostile_framing),
		cmocka_unit_test(test_server_ctx_from_record),
		cmocka_unit_test(test_server_pipelined_own_ids),
		cmocka_unit_test(test_client_ctx_matched_by_offset),
		cmocka_unit_test(test_client_ctx_stale_discarded),
		cmocka_unit_test(test_ctx_record_creates_client_conn),
		cmocka_unit_test(test_ctx_fifo_bound),
		cmocka_unit_test(test_ctx_resync_after_idle_free),
		cmocka_unit_test(test_ctx_exact_stream_offset),
		cmocka_unit_test(test_user_roots_sampled_by_ratio),
		cmocka_unit_test(test_ctx_malformed),
		cmocka_unit_test(test_parent_source_strings),
		cmocka_unit_test(test_unknown_source_from_kernel),
		cmocka_unit_test(test_server_header_fallback),
		cmocka_unit_test(test_server_invalid_header_root),
		cmocka_unit_test(test_client_app_header_fallback),
		cmocka_unit_test(test_kernel_ctx_wins_over_header),
		cmocka_unit_test(test_two_traceparents_no_fallback),
		cmocka_unit_test(test_fuzz_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
