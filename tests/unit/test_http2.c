// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of HTTP/2 and gRPC capture (correlator/http2*.c), through the
 * correlator's record interface: recorded gRPC connections (h2_recorded.h)
 * and frames built here, header blocks encoded with libnghttp2's deflater.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "correlator.h"
#include "span_attr.h"
#include "h2_recorded.h"
#include "tracewire_event.h"

#define MAX_SPANS 64
#define SOCK 0x1234
#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

struct sink {
	struct tw_span spans[MAX_SPANS];
	size_t n;
};

struct t {
	struct tw_correlator *c;
	struct sink sink;
	uint64_t ts;
	nghttp2_hd_deflater *def[2]; /* request side, response side */
	uint8_t buf[16384];          /* frames being built */
	size_t len;
};

static void on_span(void *ctx, struct tw_span *span)
{
	struct sink *s = ctx;

	if (s->n < MAX_SPANS)
		s->spans[s->n] = *span;
	s->n++;
}

static struct t *make_cfg(size_t max_streams, size_t hpack_bytes, size_t pending_total)
{
	struct t *t = calloc(1, sizeof(*t));
	struct tw_correlator_cfg cfg = {
		.max_conns = 16,
		.idle_ns = 1000000000ull,
		.on_span = on_span,
		.h2_max_streams = max_streams,
		.h2_hpack_bytes = hpack_bytes,
		.max_pending_total = pending_total,
	};

	assert_non_null(t);
	cfg.ctx = &t->sink;
	t->c = tw_correlator_new(&cfg);
	assert_non_null(t->c);
	assert_int_equal(nghttp2_hd_deflate_new(&t->def[0], 4096), 0);
	assert_int_equal(nghttp2_hd_deflate_new(&t->def[1], 4096), 0);
	t->ts = 1000;
	return t;
}

static struct t *make(void)
{
	return make_cfg(0, 0, 0);
}

static void destroy(struct t *t)
{
	tw_correlator_free(t->c);
	nghttp2_hd_deflate_del(t->def[0]);
	nghttp2_hd_deflate_del(t->def[1]);
	free(t);
}

static struct tw_correlator_stats stats(struct t *t)
{
	struct tw_correlator_stats st;

	tw_correlator_stats(t->c, &st);
	return st;
}

static uint64_t next_stream_off = UINT64_MAX; /* set: the next record carries it */
static uint32_t rec_flags; /* hdr_flags of every record */

/* One record: cap of its len bytes captured. */
static void rec(struct t *t, uint8_t role, uint8_t dir, const uint8_t *data, size_t cap,
		uint64_t len)
{
	uint8_t b[sizeof(struct tw_event_hdr) + TW_CAPTURE_MAX];
	struct tw_event_hdr h = { 0 };

	assert_true(cap <= TW_CAPTURE_MAX);
	h.type = TW_EV_DATA;
	h.sock_id = SOCK;
	h.role = role;
	h.dir = dir;
	h.ts_ns = t->ts++;
	h.len = len;
	h.cap = (uint32_t)cap;
	h.pid = 7;
	h.tid = 8;
	h.tuple.family = AF_INET;
	h.tuple.local_port = role == TW_ROLE_SERVER ? 50051 : 40000;
	h.tuple.peer_port = role == TW_ROLE_SERVER ? 40000 : 50051;
	memcpy(h.comm, "svc", 4);
	h.hdr_flags = rec_flags;
	if (next_stream_off != UINT64_MAX) {
		h.stream_off = next_stream_off;
		h.hdr_flags |= TW_HDR_STREAM_OFF;
		next_stream_off = UINT64_MAX;
	}
	memcpy(b, &h, sizeof(h));
	memcpy(b + sizeof(h), data, cap);
	assert_int_equal(tw_correlator_handle(t->c, b, sizeof(h) + cap), 0);
}

/* Bytes as records of at most TW_CAPTURE_MAX (as the kernel sends them). */
static void send_bytes(struct t *t, uint8_t role, uint8_t dir, const uint8_t *p, size_t n)
{
	while (n) {
		size_t k = n < TW_CAPTURE_MAX ? n : TW_CAPTURE_MAX;

		rec(t, role, dir, p, k, k);
		p += k;
		n -= k;
	}
}

/* Replays a recorded connection (h2_recorded.h). */
static void replay(struct t *t, const uint8_t *b, size_t n, uint8_t role)
{
	size_t i = 0;

	while (i + 7 <= n) {
		uint32_t len;
		uint16_t cap;

		memcpy(&len, b + i + 1, 4);
		memcpy(&cap, b + i + 5, 2);
		assert_true(i + 7 + cap <= n);
		rec(t, role, b[i], b + i + 7, cap, len);
		i += 7 + cap;
	}
}

/* ---- frames ---- */

static void frame(struct t *t, uint8_t type, uint8_t flags, uint32_t sid, const uint8_t *p,
		  size_t n)
{
	uint8_t *f = t->buf + t->len;

	assert_true(t->len + 9 + n <= sizeof(t->buf));
	f[0] = (uint8_t)(n >> 16), f[1] = (uint8_t)(n >> 8), f[2] = (uint8_t)n;
	f[3] = type, f[4] = flags;
	f[5] = (uint8_t)(sid >> 24), f[6] = (uint8_t)(sid >> 16), f[7] = (uint8_t)(sid >> 8);
	f[8] = (uint8_t)sid;
	if (n)
		memcpy(f + 9, p, n);
	t->len += 9 + n;
}

/* An HPACK block of the name/value pairs in nv (NULL-terminated) by side's
 * encoder into out; returns its length. */
static size_t block(struct t *t, int side, const char *const *nv, uint8_t *out, size_t size)
{
	nghttp2_nv v[16];
	size_t n = 0;
	ssize_t r;

	for (; nv[2 * n]; n++) {
		v[n] = (nghttp2_nv){ (uint8_t *)nv[2 * n], (uint8_t *)nv[2 * n + 1],
				     strlen(nv[2 * n]), strlen(nv[2 * n + 1]), NGHTTP2_NV_FLAG_NONE };
	}
	r = nghttp2_hd_deflate_hd(t->def[side], out, size, v, n);
	assert_true(r > 0);
	return (size_t)r;
}

static void headers(struct t *t, int side, uint32_t sid, uint8_t flags, const char *const *nv)
{
	uint8_t b[1024];
	size_t n = block(t, side, nv, b, sizeof(b));

	frame(t, 1, flags | 0x4, sid, b, n);
}

static void flush(struct t *t, uint8_t role, uint8_t dir)
{
	send_bytes(t, role, dir, t->buf, t->len);
	t->len = 0;
}

static const char *const grpc_req[] = {
	":method", "POST", ":scheme", "http", ":path", "/pkg.Echo/Say", ":authority",
	"echo:50051", "content-type", "application/grpc", "te", "trailers", NULL,
};
static const char *const resp_200[] = { ":status", "200", "content-type", "application/grpc", NULL };
static const char *const trailers_ok[] = { "grpc-status", "0", NULL };

static const uint8_t grpc_msg[] = { 0, 0, 0, 0, 3, 'a', 'b', 'c' };

/* The client's side of one unary call on stream sid (the preface first
 * when preface is set). */
static void client_call(struct t *t, uint8_t role, uint32_t sid, bool preface)
{
	uint8_t dir = role == TW_ROLE_SERVER ? TW_DIR_INGRESS : TW_DIR_EGRESS;

	if (preface) {
		memcpy(t->buf, PREFACE, 24);
		t->len = 24;
		frame(t, 4, 0, 0, NULL, 0); /* SETTINGS */
	}
	headers(t, 0, sid, 0, grpc_req);
	frame(t, 0, 0x1, sid, grpc_msg, sizeof(grpc_msg));
	flush(t, role, dir);
}

static void server_answer(struct t *t, uint8_t role, uint32_t sid, const char *const *trailers)
{
	uint8_t dir = role == TW_ROLE_SERVER ? TW_DIR_EGRESS : TW_DIR_INGRESS;

	headers(t, 1, sid, 0, resp_200);
	frame(t, 0, 0, sid, grpc_msg, sizeof(grpc_msg));
	headers(t, 1, sid, 0x1, trailers);
	flush(t, role, dir);
}

/* ---- tests ---- */

static void recorded_grpc_channel(void **state)
{
	struct t *t = make();
	size_t unary = 0, stream = 0;
	char b[64];

	(void)state;
	replay(t, h2_rec_channel, sizeof(h2_rec_channel), TW_ROLE_CLIENT);
	assert_int_equal(t->sink.n, 16);
	for (size_t i = 0; i < t->sink.n; i++) {
		const struct tw_span *s = &t->sink.spans[i];

		assert_int_equal(s->kind, TW_SPAN_CLIENT);
		assert_int_equal(s->status, TW_STATUS_UNSET);
		assert_int_equal(s->status_code, 200);
		assert_string_equal(s->method, "POST");
		assert_string_equal(attr(s, "rpc.system", b, sizeof(b)), "grpc");
		assert_string_equal(attr(s, "rpc.service", b, sizeof(b)), "tw.Echo");
		assert_string_equal(attr(s, "rpc.grpc.status_code", b, sizeof(b)), "0");
		assert_string_equal(attr(s, "network.protocol.version", b, sizeof(b)), "2");
		unary += !strcmp(tw_span_name(s), "tw.Echo/Unary");
		stream += !strcmp(tw_span_name(s), "tw.Echo/Stream");
	}
	assert_int_equal(unary, 12);
	assert_int_equal(stream, 4);
	assert_int_equal(stats(t).h2_hpack_errors, 0);
	assert_int_equal(stats(t).h2_unsynced, 0);
	destroy(t);
}

static void recorded_grpc_unimplemented(void **state)
{
	char b[64];

	(void)state;
	for (int side = 0; side < 2; side++) {
		struct t *t = make();

		if (side)
			replay(t, h2_rec_nope_srv, sizeof(h2_rec_nope_srv), TW_ROLE_SERVER);
		else
			replay(t, h2_rec_nope, sizeof(h2_rec_nope), TW_ROLE_CLIENT);
		assert_int_equal(t->sink.n, 3);
		for (size_t i = 0; i < 3; i++) {
			const struct tw_span *s = &t->sink.spans[i];

			assert_int_equal(s->kind, side ? TW_SPAN_SERVER : TW_SPAN_CLIENT);
			assert_string_equal(tw_span_name(s), "tw.Echo/Nope");
			/* UNIMPLEMENTED is an error on both sides */
			assert_int_equal(s->status, TW_STATUS_ERROR);
			assert_string_equal(s->error_type, "UNIMPLEMENTED");
			assert_string_equal(attr(s, "rpc.grpc.status_code", b, sizeof(b)), "12");
			assert_string_equal(attr(s, "rpc.method", b, sizeof(b)), "Nope");
		}
		destroy(t);
	}
}

static void server_unary_and_status_rules(void **state)
{
	static const char *const t_notfound[] = { "grpc-status", "5", "grpc-message", "no", NULL };
	struct t *t = make();
	char b[64];

	(void)state;
	client_call(t, TW_ROLE_SERVER, 1, true);
	server_answer(t, TW_ROLE_SERVER, 1, trailers_ok);
	client_call(t, TW_ROLE_SERVER, 3, false);
	server_answer(t, TW_ROLE_SERVER, 3, t_notfound);
	assert_int_equal(t->sink.n, 2);
	assert_int_equal(t->sink.spans[0].kind, TW_SPAN_SERVER);
	assert_string_equal(tw_span_name(&t->sink.spans[0]), "pkg.Echo/Say");
	assert_string_equal(t->sink.spans[0].host, "echo:50051");
	assert_string_equal(t->sink.spans[0].path, "/pkg.Echo/Say");
	assert_int_equal(t->sink.spans[0].status, TW_STATUS_UNSET);
	assert_int_equal(t->sink.spans[0].request_body_bytes, sizeof(grpc_msg));
	assert_int_equal(t->sink.spans[0].response_body_bytes, sizeof(grpc_msg));
	/* NOT_FOUND is the caller's doing: no error on the server */
	assert_int_equal(t->sink.spans[1].status, TW_STATUS_UNSET);
	assert_string_equal(attr(&t->sink.spans[1], "rpc.grpc.status_code", b, sizeof(b)), "5");
	assert_string_equal(attr(&t->sink.spans[1], "rpc.method", b, sizeof(b)), "Say");
	destroy(t);

	/* ... but on the client it is */
	t = make();
	client_call(t, TW_ROLE_CLIENT, 1, true);
	server_answer(t, TW_ROLE_CLIENT, 1, t_notfound);
	assert_int_equal(t->sink.n, 1);
	assert_int_equal(t->sink.spans[0].kind, TW_SPAN_CLIENT);
	assert_int_equal(t->sink.spans[0].status, TW_STATUS_ERROR);
	assert_string_equal(t->sink.spans[0].error_type, "NOT_FOUND");
	destroy(t);
}

/* HEADERS with PADDED and PRIORITY, its block continued in CONTINUATION,
 * everything fed one byte per record. */
static void continuation_padding_byte_by_byte(void **state)
{
	static const char *const plain_req[] = {
		":method", "GET", ":scheme", "http", ":path", "/a/b?x=1", ":authority", "h", NULL,
	};
	static const char *const plain_resp[] = { ":status", "503", NULL };
	struct t *t = make();
	uint8_t blk[512], pay[600];
	size_t n = block(t, 0, plain_req, blk, sizeof(blk)), k = 5;

	(void)state;
	memcpy(t->buf, PREFACE, 24);
	t->len = 24;
	/* pad length 3, priority (5 bytes), first k bytes of the block, padding */
	pay[0] = 3;
	memset(pay + 1, 0, 5);
	memcpy(pay + 6, blk, k);
	memset(pay + 6 + k, 0, 3);
	frame(t, 1, 0x8 | 0x20 | 0x1, 1, pay, 6 + k + 3); /* END_STREAM, no END_HEADERS */
	frame(t, 9, 0x4, 1, blk + k, n - k);              /* CONTINUATION, END_HEADERS */
	/* the preface comes whole: the kernel tells HTTP/2 by its first 8 bytes */
	rec(t, TW_ROLE_SERVER, TW_DIR_INGRESS, t->buf, 24, 24);
	for (size_t i = 24; i < t->len; i++)
		rec(t, TW_ROLE_SERVER, TW_DIR_INGRESS, t->buf + i, 1, 1);
	t->len = 0;
	headers(t, 1, 1, 0x1, plain_resp);
	flush(t, TW_ROLE_SERVER, TW_DIR_EGRESS);
	assert_int_equal(t->sink.n, 1);
	assert_string_equal(t->sink.spans[0].method, "GET");
	assert_string_equal(t->sink.spans[0].path, "/a/b");
	assert_string_equal(t->sink.spans[0].query, "x=1");
	assert_int_equal(t->sink.spans[0].status_code, 503);
	assert_int_equal(t->sink.spans[0].status, TW_STATUS_ERROR);
	assert_string_equal(tw_span_name(&t->sink.spans[0]), "GET");
	assert_int_equal(stats(t).h2_hpack_errors, 0);
	destroy(t);
}

/* A header block partly uncaptured: the next block starts on a fresh table,
 * so a reference to an entry only the lost block inserted fails (counted)
 * instead of decoding as something else; literals still decode. */
static void lost_block_means_fresh_table(void **state)
{
	static const char *const lit[] = { ":method", "POST", ":path", "/only/literal", NULL };
	struct t *t = make();
	uint8_t blk[512];
	size_t n;

	(void)state;
	client_call(t, TW_ROLE_SERVER, 1, true); /* inserts :path, :authority, ... */
	server_answer(t, TW_ROLE_SERVER, 1, trailers_ok);
	/* stream 3: its HEADERS frame's header captured, not its block */
	n = block(t, 0, grpc_req, blk, sizeof(blk));
	frame(t, 1, 0x4 | 0x1, 3, blk, n);
	rec(t, TW_ROLE_SERVER, TW_DIR_INGRESS, t->buf, 9, t->len);
	t->len = 0;
	server_answer(t, TW_ROLE_SERVER, 3, trailers_ok);
	/* stream 5: indexed references into the real table: undecodable now */
	client_call(t, TW_ROLE_SERVER, 5, false);
	server_answer(t, TW_ROLE_SERVER, 5, trailers_ok);
	assert_int_equal(t->sink.n, 3);
	assert_string_equal(t->sink.spans[1].path, "");
	/* stream 5: what decodes (literals, static entries) is right, the
	 * rest is missing, never another value */
	assert_true(!strcmp(t->sink.spans[2].path, "") ||
		    !strcmp(t->sink.spans[2].path, "/pkg.Echo/Say"));
	assert_true(!strcmp(t->sink.spans[2].host, "") ||
		    !strcmp(t->sink.spans[2].host, "echo:50051"));
	assert_true(strcmp(t->sink.spans[2].path, "") || strcmp(t->sink.spans[2].host, ""));
	assert_true(stats(t).h2_hpack_errors >= 1);
	/* stream 7: a block the encoder makes of literals only (a fresh
	 * encoder has nothing to refer to) decodes again */
	nghttp2_hd_deflate_del(t->def[0]);
	assert_int_equal(nghttp2_hd_deflate_new(&t->def[0], 4096), 0);
	n = block(t, 0, lit, blk, sizeof(blk));
	frame(t, 1, 0x4 | 0x1, 7, blk, n);
	flush(t, TW_ROLE_SERVER, TW_DIR_INGRESS);
	server_answer(t, TW_ROLE_SERVER, 7, trailers_ok);
	assert_int_equal(t->sink.n, 4);
	assert_string_equal(t->sink.spans[3].path, "/only/literal");
	destroy(t);
}

/* A frame header that was not captured costs sync; a record that begins
 * with plausible frames finds it again. */
static void lost_frame_header_resync(void **state)
{
	static const uint8_t garbage[40] = { 0xff, 0xff, 0xff, 0xff };
	struct t *t = make();

	(void)state;
	client_call(t, TW_ROLE_CLIENT, 1, true);
	/* 17 bytes captured of 200: the frame after the first 8-byte DATA
	 * payload is lost */
	headers(t, 1, 1, 0, resp_200);
	frame(t, 0, 0, 1, grpc_msg, sizeof(grpc_msg));
	rec(t, TW_ROLE_CLIENT, TW_DIR_INGRESS, t->buf, t->len, t->len + 200);
	t->len = 0;
	assert_int_equal(stats(t).h2_unsynced, 1);
	rec(t, TW_ROLE_CLIENT, TW_DIR_INGRESS, garbage, sizeof(garbage), sizeof(garbage));
	/* stream 3 after resync: its span has no headers (fresh table, the
	 * encoder refers to old entries) but ends right */
	client_call(t, TW_ROLE_CLIENT, 3, false);
	server_answer(t, TW_ROLE_CLIENT, 3, trailers_ok);
	assert_int_equal(t->sink.n, 1);
	assert_int_equal(t->sink.spans[0].status_code, 200);
	tw_correlator_flush(t->c);
	assert_int_equal(t->sink.n, 2); /* stream 1: answered, reported at flush */
	destroy(t);
}

/* Records lost on the way: the sender's stream offsets show the gap. */
static void lost_record_seen_by_offset(void **state)
{
	struct t *t = make();

	(void)state;
	next_stream_off = 0;
	client_call(t, TW_ROLE_CLIENT, 1, true); /* one record */
	server_answer(t, TW_ROLE_CLIENT, 1, trailers_ok);
	assert_int_equal(t->sink.n, 1);
	/* the next call's record says 100 bytes went out unseen before it */
	headers(t, 0, 3, 0, grpc_req);
	frame(t, 0, 0x1, 3, grpc_msg, sizeof(grpc_msg));
	next_stream_off = 24 + 9 + 1000; /* beyond what was recorded */
	flush(t, TW_ROLE_CLIENT, TW_DIR_EGRESS);
	assert_int_equal(stats(t).h2_unsynced, 1);
	/* it began at a frame boundary: framing goes on from it */
	server_answer(t, TW_ROLE_CLIENT, 3, trailers_ok);
	assert_int_equal(t->sink.n, 2);
	assert_int_equal(t->sink.spans[1].status_code, 200);
	destroy(t);
}

/* A connection the kernel knows as HTTP/2 but the correlator no longer
 * holds (evicted): its next frames are picked up, on fresh tables. */
static void midstream_after_eviction(void **state)
{
	static const char *const lit[] = { ":method", "POST", ":path", "/m/again", NULL };
	struct t *t = make();
	uint8_t blk[256];
	size_t n;

	(void)state;
	rec_flags = TW_HDR_H2;
	/* no preface: a DATA frame's tail (the middle of a frame), then a
	 * stream of literals only (a fresh encoder) */
	rec(t, TW_ROLE_SERVER, TW_DIR_INGRESS, grpc_msg, sizeof(grpc_msg), sizeof(grpc_msg));
	n = block(t, 0, lit, blk, sizeof(blk));
	frame(t, 1, 0x4, 9, blk, n);
	frame(t, 0, 0x1, 9, grpc_msg, sizeof(grpc_msg));
	flush(t, TW_ROLE_SERVER, TW_DIR_INGRESS);
	server_answer(t, TW_ROLE_SERVER, 9, trailers_ok);
	rec_flags = 0;
	assert_int_equal(stats(t).h2_midstream, 1);
	assert_int_equal(t->sink.n, 1);
	assert_string_equal(t->sink.spans[0].path, "/m/again");
	assert_int_equal(t->sink.spans[0].status_code, 200);
	destroy(t);
}

/* Large messages: a DATA frame above 16 KiB seen in sync teaches resync that
 * its sender sends such frames (the peer's SETTINGS is often not seen); a
 * response lost to us ends without error when the connection closes. */
static void large_frames_and_lost_responses(void **state)
{
	static uint8_t big[20000];
	struct t *t = make();
	uint8_t blk[256];
	size_t n;

	(void)state;
	/* stream 1: HEADERS + one 20000-byte DATA frame, 512 bytes captured */
	memcpy(t->buf, PREFACE, 24);
	t->len = 24;
	headers(t, 0, 1, 0, grpc_req);
	frame(t, 0, 0x1, 1, big, 300);
	t->buf[t->len - 300 - 9 + 0] = 0;
	t->buf[t->len - 300 - 9 + 1] = (uint8_t)(sizeof(big) >> 8);
	t->buf[t->len - 300 - 9 + 2] = (uint8_t)sizeof(big);
	next_stream_off = 0;
	rec(t, TW_ROLE_CLIENT, TW_DIR_EGRESS, t->buf, t->len, t->len - 300 + sizeof(big));
	t->len = 0;
	/* stream 3 after a lost record: its HEADERS and a 20000-byte DATA */
	n = block(t, 0, grpc_req, blk, sizeof(blk));
	frame(t, 1, 0x4, 3, blk, n);
	frame(t, 0, 0x1, 3, big, 100);
	t->buf[t->len - 100 - 9 + 1] = (uint8_t)(sizeof(big) >> 8);
	t->buf[t->len - 100 - 9 + 2] = (uint8_t)sizeof(big);
	next_stream_off = 1u << 20;
	rec(t, TW_ROLE_CLIENT, TW_DIR_EGRESS, t->buf, t->len, t->len - 100 + sizeof(big));
	t->len = 0;
	assert_int_equal(stats(t).h2_unsynced, 1);
	assert_int_equal(stats(t).pending_live, 2); /* stream 3 found */
	/* the response side loses sync: a record cut inside a frame header */
	headers(t, 1, 1, 0, resp_200);
	rec(t, TW_ROLE_CLIENT, TW_DIR_INGRESS, t->buf, 4, t->len + 50);
	t->len = 0;
	{
		uint8_t b[sizeof(struct tw_event_hdr)];
		struct tw_event_hdr h = { .type = TW_EV_CLOSE, .sock_id = SOCK, .ts_ns = 9000 };

		memcpy(b, &h, sizeof(h));
		assert_int_equal(tw_correlator_handle(t->c, b, sizeof(b)), 0);
	}
	assert_int_equal(t->sink.n, 2);
	assert_int_equal(t->sink.spans[0].status, TW_STATUS_UNSET);
	assert_int_equal(t->sink.spans[1].status, TW_STATUS_UNSET);
	assert_int_equal(stats(t).spans_error_closed, 0);
	destroy(t);
}

static void bounds_streams_table_memory(void **state)
{
	uint8_t settings[6] = { 0, 1, 0, 1, 0, 0 }; /* HEADER_TABLE_SIZE 65536 */
	struct t *t = make_cfg(2, 0, 0);

	(void)state;
	client_call(t, TW_ROLE_SERVER, 1, true);
	client_call(t, TW_ROLE_SERVER, 3, false);
	client_call(t, TW_ROLE_SERVER, 5, false); /* a third live stream */
	frame(t, 4, 0, 0, settings, sizeof(settings));
	flush(t, TW_ROLE_SERVER, TW_DIR_EGRESS);
	server_answer(t, TW_ROLE_SERVER, 1, trailers_ok);
	server_answer(t, TW_ROLE_SERVER, 3, trailers_ok);
	server_answer(t, TW_ROLE_SERVER, 5, trailers_ok);
	assert_int_equal(t->sink.n, 2);
	assert_int_equal(stats(t).h2_streams_dropped, 1);
	assert_int_equal(stats(t).h2_table_refused, 1);
	destroy(t);

	/* HPACK memory: 200 bytes for every table together */
	t = make_cfg(0, 200, 0);
	client_call(t, TW_ROLE_SERVER, 1, true);
	server_answer(t, TW_ROLE_SERVER, 1, trailers_ok);
	assert_int_equal(t->sink.n, 1);
	assert_true(stats(t).h2_hpack_nomem > 0);
	destroy(t);

	/* live streams count against the budget's bound on awaited requests */
	t = make_cfg(0, 0, 1);
	client_call(t, TW_ROLE_SERVER, 1, true);
	client_call(t, TW_ROLE_SERVER, 3, false);
	assert_int_equal(stats(t).pending_live, 1);
	assert_int_equal(stats(t).h2_streams_dropped, 1);
	server_answer(t, TW_ROLE_SERVER, 1, trailers_ok);
	assert_int_equal(stats(t).pending_live, 0);
	assert_int_equal(t->sink.n, 1);
	destroy(t);
}

static void reset_close_and_not_h2(void **state)
{
	static const uint8_t cancel[4] = { 0, 0, 0, 8 }, internal[4] = { 0, 0, 0, 2 };
	static const char h1[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct t *t = make();

	(void)state;
	client_call(t, TW_ROLE_CLIENT, 1, true);
	client_call(t, TW_ROLE_CLIENT, 3, false);
	frame(t, 3, 0, 1, cancel, sizeof(cancel)); /* RST_STREAM CANCEL */
	flush(t, TW_ROLE_CLIENT, TW_DIR_EGRESS);
	assert_int_equal(t->sink.n, 1);
	/* a gRPC call the client cancelled: CANCELLED, an error for it */
	assert_int_equal(t->sink.spans[0].status, TW_STATUS_ERROR);
	assert_string_equal(t->sink.spans[0].error_type, "CANCELLED");
	{
		uint8_t b[sizeof(struct tw_event_hdr)];
		struct tw_event_hdr h = { .type = TW_EV_CLOSE, .sock_id = SOCK, .ts_ns = 5000 };

		memcpy(b, &h, sizeof(h));
		assert_int_equal(tw_correlator_handle(t->c, b, sizeof(b)), 0);
	}
	assert_int_equal(t->sink.n, 2);
	assert_string_equal(t->sink.spans[1].error_type, "connection_closed");
	assert_int_equal(stats(t).h2_conns, 1);
	destroy(t);

	/* the server's view: a client's cancel is no server error, a reset
	 * by the server is */
	t = make();
	client_call(t, TW_ROLE_SERVER, 1, true);
	client_call(t, TW_ROLE_SERVER, 3, false);
	frame(t, 3, 0, 1, cancel, sizeof(cancel));
	flush(t, TW_ROLE_SERVER, TW_DIR_INGRESS);
	frame(t, 3, 0, 3, internal, sizeof(internal));
	flush(t, TW_ROLE_SERVER, TW_DIR_EGRESS);
	assert_int_equal(t->sink.n, 2);
	assert_int_equal(t->sink.spans[0].status, TW_STATUS_UNSET);
	assert_int_equal(t->sink.spans[0].grpc_status, 1);
	assert_int_equal(t->sink.spans[1].status, TW_STATUS_ERROR);
	assert_string_equal(t->sink.spans[1].error_type, "rst_stream");
	destroy(t);

	t = make();
	/* an HTTP/1 connection is no HTTP/2 one */
	rec(t, TW_ROLE_CLIENT, TW_DIR_EGRESS, (const uint8_t *)h1, sizeof(h1) - 1, sizeof(h1) - 1);
	assert_int_equal(stats(t).h2_conns, 0);
	destroy(t);
}

/* h2c upgrade: the request that asked for it is stream 1, answered in
 * HTTP/2 frames that follow the 101 in the same write. */
static void h2c_upgrade(void **state)
{
	static const char req[] = "GET /up?q=1 HTTP/1.1\r\nHost: srv\r\n"
				  "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
				  "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
	static const char head101[] = "HTTP/1.1 101 Switching Protocols\r\n"
				      "Connection: Upgrade\r\nUPGRADE:  H2C \r\n\r\n";
	static const char ws101[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
	static const char *const resp[] = { ":status", "200", NULL };
	struct t *t = make();
	uint8_t b[1024];
	size_t n = sizeof(head101) - 1;

	(void)state;
	rec(t, TW_ROLE_SERVER, TW_DIR_INGRESS, (const uint8_t *)req, sizeof(req) - 1, sizeof(req) - 1);
	memcpy(b, head101, n);
	frame(t, 4, 0, 0, NULL, 0);
	headers(t, 1, 1, 0, resp);
	frame(t, 0, 0x1, 1, grpc_msg, sizeof(grpc_msg));
	memcpy(b + n, t->buf, t->len);
	rec(t, TW_ROLE_SERVER, TW_DIR_EGRESS, b, n + t->len, n + t->len);
	t->len = 0;
	assert_int_equal(stats(t).h2_upgrades, 1);
	assert_int_equal(t->sink.n, 1);
	assert_string_equal(t->sink.spans[0].method, "GET");
	assert_string_equal(t->sink.spans[0].path, "/up");
	assert_int_equal(t->sink.spans[0].status_code, 200);
	assert_int_equal(t->sink.spans[0].h2, 1);
	assert_int_equal(t->sink.spans[0].response_body_bytes, sizeof(grpc_msg));
	/* then the client's preface and a stream of its own */
	client_call(t, TW_ROLE_SERVER, 3, true);
	server_answer(t, TW_ROLE_SERVER, 3, trailers_ok);
	assert_int_equal(t->sink.n, 2);
	assert_string_equal(tw_span_name(&t->sink.spans[1]), "pkg.Echo/Say");
	assert_int_equal(stats(t).conns_switched, 0);
	destroy(t);

	/* a 101 to anything else still leaves HTTP */
	t = make();
	rec(t, TW_ROLE_SERVER, TW_DIR_INGRESS, (const uint8_t *)req, sizeof(req) - 1, sizeof(req) - 1);
	rec(t, TW_ROLE_SERVER, TW_DIR_EGRESS, (const uint8_t *)ws101, sizeof(ws101) - 1,
	    sizeof(ws101) - 1);
	assert_int_equal(stats(t).h2_upgrades, 0);
	assert_int_equal(stats(t).conns_switched, 1);
	assert_int_equal(t->sink.n, 1);
	destroy(t);
}

/* ---- trace context ---- */

/* A TW_EV_CTX record of sk_msg for HTTP/2 stream sid: trace id, span id and
 * parent all bytes tb, sb, pb (0: none). */
static void ctx_record(struct t *t, uint32_t sid, int tb, int sb, int pb, uint8_t source)
{
	uint8_t b[sizeof(struct tw_event_hdr)];
	struct tw_event_hdr h = { 0 };

	h.type = TW_EV_CTX;
	h.ts_ns = 500 + sid; /* inside the send, before the DATA record's exit (1000 on) */
	h.sock_id = SOCK;
	h.dir = TW_DIR_EGRESS;
	h.role = TW_ROLE_CLIENT;
	h.len = sid;
	h.ctx.kind = TW_CTX_INJECTED_H2;
	h.ctx.source = source;
	memset(h.ctx.trace_id, tb, 16);
	memset(h.ctx.span_id, sb, 8);
	memset(h.ctx.parent_span_id, pb, 8);
	memcpy(b, &h, sizeof(h));
	assert_int_equal(tw_correlator_handle(t->c, b, sizeof(h)), 0);
}

/* The ids sk_msg put in a stream's first HEADERS frame (TW_EV_CTX,
 * TW_CTX_INJECTED_H2, len = the stream id) name that stream's CLIENT span;
 * a record of a stream never seen is dropped when a later one is claimed. */
static void client_stream_takes_injected_ids(void **state)
{
	struct t *t = make();

	(void)state;
	for (int i = 0; i < 3; i++)
		ctx_record(t, 2 * i + 1, 0x10 + i, 0x20 + i, 0x30 + i, TW_PSRC_THREAD);
	/* stream 1 is not seen (its records lost); 3 and 5 are */
	client_call(t, TW_ROLE_CLIENT, 3, true);
	server_answer(t, TW_ROLE_CLIENT, 3, trailers_ok);
	client_call(t, TW_ROLE_CLIENT, 5, false);
	server_answer(t, TW_ROLE_CLIENT, 5, trailers_ok);
	client_call(t, TW_ROLE_CLIENT, 7, false); /* no record for 7: a new root */
	server_answer(t, TW_ROLE_CLIENT, 7, trailers_ok);
	assert_int_equal(t->sink.n, 3);
	for (int i = 0; i < 2; i++) {
		const struct tw_span *s = &t->sink.spans[i];
		uint8_t want[16];

		memset(want, 0x11 + i, 16);
		assert_memory_equal(s->trace_id, want, 16);
		memset(want, 0x21 + i, 8);
		assert_memory_equal(s->span_id, want, 8);
		memset(want, 0x31 + i, 8);
		assert_memory_equal(s->parent_span_id, want, 8);
		assert_string_equal(s->parent_source, "thread");
	}
	assert_true(tw_span_is_root(&t->sink.spans[2]));
	/* a claimed stream starts when sk_msg saw its HEADERS leave; one
	 * without a record when its write returned (the records' clock; the
	 * unix offset is 0 here) */
	assert_int_equal(t->sink.spans[0].start_ns, 503);
	assert_int_equal(t->sink.spans[1].start_ns, 505);
	assert_true(t->sink.spans[2].start_ns >= 1000);
	assert_int_equal(stats(t).ctx_matched, 2);
	assert_int_equal(stats(t).ctx_unmatched, 1);
	destroy(t);
}

/* gRPC opens many streams in one send: their TW_EV_CTX records all come
 * before the send's DATA record, more than an HTTP/1 connection's ring of
 * 16 holds. Every stream still gets its own ids. */
static void many_streams_in_one_send(void **state)
{
	struct t *t = make();
	const uint32_t n = 40;

	(void)state;
	for (uint32_t i = 0; i < n; i++)
		ctx_record(t, 2 * i + 1, 0x40, 0x41 + (int)i, 0, TW_PSRC_NONE);
	memcpy(t->buf, PREFACE, 24);
	t->len = 24;
	frame(t, 4, 0, 0, NULL, 0);
	for (uint32_t i = 0; i < n; i++)
		headers(t, 0, 2 * i + 1, 0x1, grpc_req);
	flush(t, TW_ROLE_CLIENT, TW_DIR_EGRESS);
	for (uint32_t i = 0; i < n; i++)
		server_answer(t, TW_ROLE_CLIENT, 2 * i + 1, trailers_ok);
	assert_int_equal(t->sink.n, n);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t want[8];

		memset(want, 0x41 + (int)i, 8);
		assert_memory_equal(t->sink.spans[i].span_id, want, 8);
	}
	assert_int_equal(stats(t).ctx_matched, n);
	assert_int_equal(stats(t).ctx_unmatched, 0);
	destroy(t);
}

/* A server stream's traceparent field names its parent (one field only:
 * two are no context, W3C); trailers' fields are not the request's. */
static void server_stream_parent_from_field(void **state)
{
	static const char *const with_tp[] = {
		":method", "POST", ":scheme", "http", ":path", "/pkg.Echo/Say", "content-type",
		"application/grpc", "traceparent",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", NULL,
	};
	static const char *const two_tp[] = {
		":method", "POST", ":path", "/pkg.Echo/Say", "traceparent",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "traceparent",
		"00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01", NULL,
	};
	static const uint8_t trace[16] = { 0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
					   0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c };
	static const uint8_t parent[8] = { 0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31 };
	struct t *t = make();

	(void)state;
	memcpy(t->buf, PREFACE, 24);
	t->len = 24;
	frame(t, 4, 0, 0, NULL, 0);
	headers(t, 0, 1, 0x1, with_tp);
	headers(t, 0, 3, 0x1, two_tp);
	flush(t, TW_ROLE_SERVER, TW_DIR_INGRESS);
	server_answer(t, TW_ROLE_SERVER, 1, trailers_ok);
	server_answer(t, TW_ROLE_SERVER, 3, trailers_ok);
	assert_int_equal(t->sink.n, 2);
	assert_memory_equal(t->sink.spans[0].trace_id, trace, 16);
	assert_memory_equal(t->sink.spans[0].parent_span_id, parent, 8);
	assert_string_equal(t->sink.spans[0].parent_source, "header");
	assert_int_equal(t->sink.spans[0].trace_flags, 1);
	assert_true(tw_span_is_root(&t->sink.spans[1]));
	assert_string_equal(t->sink.spans[1].parent_source, "none");
	destroy(t);
}

/* The Go probes' ids for a server stream (TW_EV_CTX, TW_CTX_SERVER_H2,
 * ingress, len = the stream id): after the stream's HEADERS record (grpc-go
 * decodes the block after the read) they replace what the traceparent
 * field gave; before it, the stream claims them; a record for a stream not
 * followed goes unmatched; a record that breaks the rules is refused. */
static void server_stream_takes_go_ids(void **state)
{
	static const char *const with_tp[] = {
		":method", "POST", ":path", "/pkg.Echo/Say", "content-type", "application/grpc",
		"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", NULL,
	};
	uint8_t b[sizeof(struct tw_event_hdr)], want[16];
	struct tw_event_hdr h = { 0 };
	struct t *t = make();

	(void)state;
	h.type = TW_EV_CTX;
	h.sock_id = SOCK;
	h.dir = TW_DIR_INGRESS;
	h.role = TW_ROLE_SERVER;
	h.ctx.kind = TW_CTX_SERVER_H2;
	h.ctx.source = TW_PSRC_HEADER;
	h.ctx.flags = 1;
	memcpy(t->buf, PREFACE, 24);
	t->len = 24;
	frame(t, 4, 0, 0, NULL, 0);
	headers(t, 0, 1, 0x1, with_tp);
	flush(t, TW_ROLE_SERVER, TW_DIR_INGRESS);
	/* stream 1: the record after its HEADERS */
	h.len = 1;
	memset(h.ctx.trace_id, 0x51, 16);
	memset(h.ctx.span_id, 0x52, 8);
	memset(h.ctx.parent_span_id, 0x53, 8);
	memcpy(b, &h, sizeof(h));
	assert_int_equal(tw_correlator_handle(t->c, b, sizeof(h)), 0);
	/* stream 3: the record first (a new root: no parent, source none) */
	h.len = 3;
	h.ctx.source = TW_PSRC_NONE;
	memset(h.ctx.trace_id, 0x61, 16);
	memset(h.ctx.span_id, 0x62, 8);
	memset(h.ctx.parent_span_id, 0, 8);
	memcpy(b, &h, sizeof(h));
	assert_int_equal(tw_correlator_handle(t->c, b, sizeof(h)), 0);
	headers(t, 0, 3, 0x1, grpc_req);
	flush(t, TW_ROLE_SERVER, TW_DIR_INGRESS);
	/* stream 9 is never seen */
	h.len = 9;
	memcpy(b, &h, sizeof(h));
	assert_int_equal(tw_correlator_handle(t->c, b, sizeof(h)), 0);
	/* what sk_msg never sends: egress, client role */
	h.dir = TW_DIR_EGRESS;
	memcpy(b, &h, sizeof(h));
	assert_int_equal(tw_correlator_handle(t->c, b, sizeof(h)), -EINVAL);
	server_answer(t, TW_ROLE_SERVER, 1, trailers_ok);
	server_answer(t, TW_ROLE_SERVER, 3, trailers_ok);
	assert_int_equal(t->sink.n, 2);
	memset(want, 0x51, 16);
	assert_memory_equal(t->sink.spans[0].trace_id, want, 16);
	memset(want, 0x52, 8);
	assert_memory_equal(t->sink.spans[0].span_id, want, 8);
	memset(want, 0x53, 8);
	assert_memory_equal(t->sink.spans[0].parent_span_id, want, 8);
	assert_string_equal(t->sink.spans[0].parent_source, "header");
	memset(want, 0x61, 16);
	assert_memory_equal(t->sink.spans[1].trace_id, want, 16);
	memset(want, 0x62, 8);
	assert_memory_equal(t->sink.spans[1].span_id, want, 8);
	assert_true(tw_span_is_root(&t->sink.spans[1]));
	assert_string_equal(t->sink.spans[1].parent_source, "none");
	assert_int_equal(stats(t).ctx_matched, 2);
	destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(recorded_grpc_channel),
		cmocka_unit_test(recorded_grpc_unimplemented),
		cmocka_unit_test(server_unary_and_status_rules),
		cmocka_unit_test(continuation_padding_byte_by_byte),
		cmocka_unit_test(lost_block_means_fresh_table),
		cmocka_unit_test(lost_frame_header_resync),
		cmocka_unit_test(lost_record_seen_by_offset),
		cmocka_unit_test(midstream_after_eviction),
		cmocka_unit_test(large_frames_and_lost_responses),
		cmocka_unit_test(bounds_streams_table_memory),
		cmocka_unit_test(reset_close_and_not_h2),
		cmocka_unit_test(h2c_upgrade),
		cmocka_unit_test(client_stream_takes_injected_ids),
		cmocka_unit_test(many_streams_in_one_send),
		cmocka_unit_test(server_stream_parent_from_field),
		cmocka_unit_test(server_stream_takes_go_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
