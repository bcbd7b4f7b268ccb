// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of HTTP/2 records the kernel frames (TW_HDR_H2_FRAMED,
 * bpf/lib/h2capture.h): DATA payloads left out of the captured bytes, len
 * counting them; TW_HDR_H2_AT_FRAME where a record begins at a frame
 * header. The kernel's walk is modelled here (kwalk) from the format's
 * description in include/tracewire_event.h, and gRPC calls with messages
 * far over a record's 512 bytes go through it to the correlator.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "correlator.h"
#include "span_attr.h"
#include "tracewire_event.h"

#define MAX_SPANS 16
#define SOCK 0x4242
#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

struct sink {
	struct tw_span spans[MAX_SPANS];
	size_t n;
};

/* The kernel's place in one direction (tw_h2_frames, modelled). */
struct kdir {
	uint32_t left;
	uint8_t fh[9], fh_n, preface;
	bool elide, lead;
};

struct t {
	struct tw_correlator *c;
	struct sink sink;
	uint64_t ts;
	nghttp2_hd_deflater *def[2];
	struct kdir k[2];  /* [0] the client's bytes, [1] the server's */
	unsigned records;  /* records sent */
	int drop_record;   /* this record (count from 1) is lost on the way */
	unsigned max_records; /* per call */
	uint8_t *buf;      /* bytes of one side being built */
	size_t len, size;
};

static void on_span(void *ctx, struct tw_span *span)
{
	struct sink *s = ctx;

	if (s->n < MAX_SPANS)
		s->spans[s->n] = *span;
	s->n++;
}

static struct t *make(size_t table)
{
	struct t *t = calloc(1, sizeof(*t));
	struct tw_correlator_cfg cfg = {
		.max_conns = 16,
		.idle_ns = 1000000000ull,
		.on_span = on_span,
	};

	assert_non_null(t);
	cfg.ctx = &t->sink;
	t->c = tw_correlator_new(&cfg);
	assert_non_null(t->c);
	assert_int_equal(nghttp2_hd_deflate_new(&t->def[0], table), 0);
	assert_int_equal(nghttp2_hd_deflate_new(&t->def[1], table), 0);
	t->ts = 1000;
	t->max_records = 32;
	t->size = 2 << 20;
	t->buf = malloc(t->size);
	assert_non_null(t->buf);
	t->k[0].preface = 24; /* the client's first bytes are the preface */
	return t;
}

static void destroy(struct t *t)
{
	tw_correlator_free(t->c);
	nghttp2_hd_deflate_del(t->def[0]);
	nghttp2_hd_deflate_del(t->def[1]);
	free(t->buf);
	free(t);
}

static struct tw_correlator_stats stats(struct t *t)
{
	struct tw_correlator_stats st;

	tw_correlator_stats(t->c, &st);
	return st;
}

static void rec(struct t *t, uint8_t dir, uint32_t flags, const uint8_t *data, size_t cap,
		uint64_t len)
{
	uint8_t b[sizeof(struct tw_event_hdr) + TW_CAPTURE_MAX];
	struct tw_event_hdr h = { 0 };

	t->records++;
	if ((int)t->records == t->drop_record)
		return;
	assert_true(cap <= TW_CAPTURE_MAX);
	h.type = TW_EV_DATA;
	h.sock_id = SOCK;
	h.role = TW_ROLE_SERVER;
	h.dir = dir;
	h.ts_ns = t->ts++;
	h.len = len;
	h.cap = (uint32_t)cap;
	h.pid = 7;
	h.tid = 8;
	h.tuple.family = AF_INET;
	h.tuple.local_port = 50051;
	h.tuple.peer_port = 40000;
	memcpy(h.comm, "svc", 4);
	h.hdr_flags = TW_HDR_H2 | flags;
	memcpy(b, &h, sizeof(h));
	memcpy(b + sizeof(h), data, cap);
	assert_int_equal(tw_correlator_handle(t->c, b, sizeof(h) + cap), 0);
}

static uint32_t kflags(const struct kdir *k)
{
	return TW_HDR_H2_FRAMED | (!k->preface && !k->fh_n ? TW_HDR_H2_AT_FRAME : 0);
}

/* One read (side 0, the client's bytes) or write (side 1) of the server,
 * as the kernel's walk makes it records. */
static void kcall(struct t *t, int side, const uint8_t *p, size_t n)
{
	struct kdir *k = &t->k[side];
	uint8_t dir = side ? TW_DIR_EGRESS : TW_DIR_INGRESS, cap[TW_CAPTURE_MAX];
	size_t ncap = 0, len = 0;
	unsigned records = 0;
	uint32_t flags = kflags(k);
	bool cut = false;

	for (size_t i = 0; i < n;) {
		size_t m = n - i;
		bool copy = true, hdr = false;

		if (k->preface) {
			m = m < k->preface ? m : k->preface;
		} else if (k->fh_n < 9) {
			m = m < 9u - k->fh_n ? m : 9u - k->fh_n;
			hdr = true;
		} else if (k->lead) {
			m = 1;
		} else {
			m = m < k->left ? m : k->left;
			copy = !k->elide;
		}
		if (copy && !cut && ncap == TW_CAPTURE_MAX) {
			if (records + 1 < t->max_records) {
				rec(t, dir, flags, cap, ncap, len);
				records++;
				ncap = len = 0;
				flags = kflags(k);
			} else {
				cut = true;
			}
		}
		if (copy && !cut) {
			m = m < TW_CAPTURE_MAX - ncap ? m : TW_CAPTURE_MAX - ncap;
			memcpy(cap + ncap, p + i, m);
			ncap += m;
		}
		if (hdr)
			memcpy(k->fh + k->fh_n, p + i, m);
		i += m;
		len += m;
		if (k->preface) {
			k->preface -= (uint8_t)m;
		} else if (hdr) {
			k->fh_n += (uint8_t)m;
			if (k->fh_n == 9) {
				k->left = (uint32_t)k->fh[0] << 16 | (uint32_t)k->fh[1] << 8 | k->fh[2];
				k->elide = k->fh[3] == 0 || k->fh[3] > 9;
				k->lead = k->fh[3] == 0 && (k->fh[4] & 0x8) && k->left;
				if (!k->left)
					k->fh_n = 0;
			}
		} else {
			k->left -= (uint32_t)m;
			k->lead = false;
			if (!k->left)
				k->fh_n = 0;
		}
	}
	if (len)
		rec(t, dir, flags, cap, ncap, len);
}

/* The side's bytes built so far, in calls of at most chunk bytes. */
static void flush(struct t *t, int side, size_t chunk)
{
	for (size_t i = 0; i < t->len; i += chunk)
		kcall(t, side, t->buf + i, t->len - i < chunk ? t->len - i : chunk);
	t->len = 0;
}

static void frame(struct t *t, uint8_t type, uint8_t flags, uint32_t sid, const uint8_t *p,
		  size_t n)
{
	uint8_t *f = t->buf + t->len;

	assert_true(t->len + 9 + n <= t->size);
	f[0] = (uint8_t)(n >> 16), f[1] = (uint8_t)(n >> 8), f[2] = (uint8_t)n;
	f[3] = type, f[4] = flags;
	f[5] = (uint8_t)(sid >> 24), f[6] = (uint8_t)(sid >> 16), f[7] = (uint8_t)(sid >> 8);
	f[8] = (uint8_t)sid;
	if (n)
		memcpy(f + 9, p, n);
	t->len += 9 + n;
}

static void headers(struct t *t, int side, uint32_t sid, uint8_t flags, const char *const *nv)
{
	nghttp2_nv v[16];
	uint8_t b[1024];
	size_t n = 0;
	ssize_t r;

	for (; nv[2 * n]; n++)
		v[n] = (nghttp2_nv){ (uint8_t *)nv[2 * n], (uint8_t *)nv[2 * n + 1],
				     strlen(nv[2 * n]), strlen(nv[2 * n + 1]), NGHTTP2_NV_FLAG_NONE };
	r = nghttp2_hd_deflate_hd(t->def[side], b, sizeof(b), v, n);
	assert_true(r > 0);
	frame(t, 1, flags | 0x4, sid, b, (size_t)r);
}

/* A gRPC message of size bytes as DATA frames of at most 16384 bytes
 * (pad: each padded with that many bytes); END_STREAM on the last when es.
 * Returns the body bytes (padding apart). */
static size_t message(struct t *t, uint32_t sid, size_t size, uint8_t pad, bool es)
{
	static uint8_t body[16384 + 256];
	size_t total = 5 + size, done = 0;

	while (done < total) {
		size_t n = total - done, room = 16384 - (pad ? 1u + pad : 0u), at = 0;
		bool last;

		n = n < room ? n : room;
		last = done + n == total;
		if (pad)
			body[at++] = pad;
		for (size_t i = 0; i < n; i++) {
			size_t o = done + i;

			/* the message prefix, then bytes that look like frame headers */
			body[at + i] = o == 4 ? (uint8_t)size : o < 5 ? 0 : (uint8_t)(o * 7 % 11);
		}
		memset(body + at + n, 0, pad);
		frame(t, 0, (uint8_t)((last && es ? 0x1 : 0) | (pad ? 0x8 : 0)), sid, body,
		      at + n + pad);
		done += n;
	}
	return total;
}

static const char *const grpc_req[] = {
	":method", "POST", ":scheme", "http", ":path", "/pkg.Echo/Say", ":authority",
	"echo:50051", "content-type", "application/grpc", "te", "trailers", NULL,
};
static const char *const resp_200[] = { ":status", "200", "content-type", "application/grpc", NULL };
static const char *const trailers_ok[] = { "grpc-status", "0", NULL };

/* One unary call on sid: the client's bytes in reads of rchunk, the
 * server's in writes of wchunk. Returns the request's body bytes; *resp
 * the response's. */
static size_t call(struct t *t, uint32_t sid, size_t req_size, size_t resp_size, uint8_t pad,
		   size_t rchunk, size_t wchunk, size_t *resp)
{
	size_t req;

	if (t->k[0].preface) {
		memcpy(t->buf, PREFACE, 24);
		t->len = 24;
		frame(t, 4, 0, 0, NULL, 0);
	}
	headers(t, 0, sid, 0, grpc_req);
	req = message(t, sid, req_size, pad, true);
	flush(t, 0, rchunk);
	if (sid == 1)
		frame(t, 4, 0, 0, NULL, 0);
	headers(t, 1, sid, 0, resp_200);
	*resp = message(t, sid, resp_size, pad, false);
	headers(t, 1, sid, 0x1, trailers_ok);
	flush(t, 1, wchunk);
	return req;
}

static void assert_grpc_span(const struct tw_span *s, size_t req, size_t resp)
{
	char b[64];

	assert_int_equal(s->kind, TW_SPAN_SERVER);
	assert_string_equal(tw_span_name(s), "pkg.Echo/Say");
	assert_int_equal(s->status, TW_STATUS_UNSET);
	assert_string_equal(attr(s, "rpc.system", b, sizeof(b)), "grpc");
	assert_string_equal(attr(s, "rpc.method", b, sizeof(b)), "Say");
	assert_string_equal(attr(s, "rpc.grpc.status_code", b, sizeof(b)), "0");
	assert_int_equal(s->request_body_bytes, req);
	assert_int_equal(s->response_body_bytes, resp);
}

/* ---- tests ---- */

/* Messages of 64 KiB and 1 MiB between small calls on one connection
 * whose HPACK tables index every header: each call a span with its
 * attributes and body sizes, read and written in calls that split frame
 * headers and payloads anywhere, in few records. */
static void large_messages_keep_the_tables(void **state)
{
	const size_t sizes[][2] = { { 3, 3 }, { 65536, 65536 }, { 1 << 20, 8 }, { 8, 1 << 20 },
				    { 3, 3 }, { 70000, 70000 }, { 3, 3 } };
	const size_t n = sizeof(sizes) / sizeof(sizes[0]);
	size_t req[7], resp[7], bytes = 0;
	struct t *t = make(4096);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		/* odd reads and writes: frame headers split between calls */
		req[i] = call(t, (uint32_t)(2 * i + 1), sizes[i][0], sizes[i][1], i == 5 ? 200 : 0,
			      4093 + 1000 * i, 65536 - 7 * i, &resp[i]);
		bytes += req[i] + resp[i];
	}
	assert_int_equal(t->sink.n, n);
	for (size_t i = 0; i < n; i++)
		assert_grpc_span(&t->sink.spans[i], req[i], resp[i]);
	assert_int_equal(stats(t).h2_unsynced, 0);
	assert_int_equal(stats(t).h2_hpack_errors, 0);
	/* headers and frame headers only: 2.3 MB of bodies in few records */
	assert_true(bytes > 2300000);
	assert_true(t->records < 2000);
	destroy(t);
}

/* A read lost on the way (ring buffer full) in the middle of a message:
 * the next record the kernel says begins at a frame header is believed
 * where we think we are still in a payload, so the stream's end and the
 * next calls are seen (tables that index nothing: the lost bytes held no
 * header block). */
static void lost_record_found_at_frame(void **state)
{
	struct t *t = make(0);
	size_t req, resp, f = 9 + 16384;

	(void)state;
	req = call(t, 1, 3, 3, 0, 1000, 1000, &resp);
	assert_int_equal(t->sink.n, 1);
	/* the second call's request: HEADERS, then 3 DATA frames of 16384
	 * read as [8000 bytes] [the rest of the first frame: lost] [the other
	 * two frames] */
	headers(t, 0, 3, 0, grpc_req);
	kcall(t, 0, t->buf, t->len);
	t->len = 0;
	message(t, 3, 3 * 16384 - 5, 0, true);
	kcall(t, 0, t->buf, 8000);
	t->drop_record = (int)t->records + 1;
	kcall(t, 0, t->buf + 8000, f - 8000);
	assert_int_equal(stats(t).h2_unsynced, 0);
	kcall(t, 0, t->buf + f, t->len - f);
	t->len = 0;
	assert_int_equal(stats(t).h2_unsynced, 1);
	headers(t, 1, 3, 0, resp_200);
	resp = message(t, 3, 8, 0, false);
	headers(t, 1, 3, 0x1, trailers_ok);
	flush(t, 1, 4096);
	assert_int_equal(t->sink.n, 2);
	/* the frame cut short is not counted, the rest of the stream is whole */
	assert_int_equal(t->sink.spans[1].request_body_bytes, 2 * 16384);
	assert_string_equal(tw_span_name(&t->sink.spans[1]), "pkg.Echo/Say");
	assert_int_equal(t->sink.spans[1].status, TW_STATUS_UNSET);
	req = call(t, 5, 3, 3, 0, 1000, 1000, &resp);
	assert_int_equal(t->sink.n, 3);
	assert_grpc_span(&t->sink.spans[2], req, resp);
	assert_int_equal(stats(t).h2_hpack_errors, 0);
	destroy(t);
}

/* A read with more header bytes than its records hold (the kernel's
 * records per call used up): the rest is counted, not seen; frames are
 * found again where the kernel says the next read begins at one. */
static void cut_call_then_found_again(void **state)
{
	static const char *const big_md[] = {
		":method", "POST", ":scheme", "http", ":path", "/pkg.Echo/Say", ":authority",
		"echo:50051", "content-type", "application/grpc",
		"x-a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"x-b", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		       "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		       "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		NULL,
	};
	struct t *t = make(0);
	size_t req, resp;

	(void)state;
	t->max_records = 1;
	req = call(t, 1, 3, 3, 0, 1 << 20, 1 << 20, &resp);
	assert_int_equal(t->sink.n, 1);
	/* two streams' header blocks of ~600 bytes in one read: the second
	 * one's frame header is past the one record */
	headers(t, 0, 3, 0, big_md);
	message(t, 3, 3, 0, true);
	headers(t, 0, 5, 0, big_md);
	message(t, 5, 3, 0, true);
	flush(t, 0, 1 << 20);
	assert_int_equal(stats(t).h2_unsynced, 1);
	req = call(t, 7, 3, 3, 0, 1 << 20, 1 << 20, &resp);
	assert_int_equal(t->sink.n, 2);
	assert_grpc_span(&t->sink.spans[1], req, resp);
	assert_int_equal(stats(t).h2_hpack_errors, 0);
	destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(large_messages_keep_the_tables),
		cmocka_unit_test(lost_record_found_at_frame),
		cmocka_unit_test(cut_call_then_found_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
