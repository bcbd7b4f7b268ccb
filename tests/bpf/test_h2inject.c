// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Tests of traceparent in HTTP/2 HEADERS frames (bpf/h2headers.bpf.c,
 * bpf/lib/h2inject.h), as test_h1inject does it: a loopback connection in a
 * network namespace of its own, its client socket in a SOCKHASH made here
 * with headers.bpf.c's sk_msg program attached, h2headers.bpf.c's program in
 * its tail-call slot (maps of their own). Frames are built here, header
 * blocks with libnghttp2's HPACK encoder; what the server gets is framed and
 * its header blocks decoded with libnghttp2's decoder (an independent HPACK
 * implementation): every byte not added must arrive as sent, every block
 * must decode, and the counters must say why a stream got a field or not.
 */
#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <nghttp2/nghttp2.h>

#include "bt_sockhash.h"
#include "tracewire_event.h"
#include "h2headers.skel.h"
#include "headers.skel.h"

#define FIELD_LEN 69 /* 0x00 0x0b "traceparent" 0x37 value(55) */
#define BUF_MAX (256 * 1024)

static struct headers_bpf *skel;
static struct h2headers_bpf *h2;
static int fd_socks, fd_cnt;

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* ---- building the client's stream ---------------------------------------- */

struct out {
	__u8 *p;
	size_t n;
};

static void put(struct out *o, const void *b, size_t n)
{
	memcpy(o->p + o->n, b, n);
	o->n += n;
}

static void frame(struct out *o, __u8 type, __u8 flags, __u32 sid, const void *payload,
		  size_t len)
{
	__u8 h[9] = { len >> 16, len >> 8, len, type, flags, sid >> 24, sid >> 16, sid >> 8, sid };

	put(o, h, 9);
	if (len)
		put(o, payload, len);
}

/* An HPACK block for a gRPC request (the encoder's table carries over). */
static size_t request_block(nghttp2_hd_deflater *d, __u8 *buf, size_t cap, const char *extra_name,
			    const char *extra_value)
{
	nghttp2_nv nv[6] = {
		{ (__u8 *)":method", (__u8 *)"POST", 7, 4, 0 },
		{ (__u8 *)":scheme", (__u8 *)"http", 7, 4, 0 },
		{ (__u8 *)":path", (__u8 *)"/tw.Echo/Unary", 5, 14, 0 },
		{ (__u8 *)":authority", (__u8 *)"198.18.0.1:50051", 10, 16, 0 },
		{ (__u8 *)"content-type", (__u8 *)"application/grpc", 12, 16, 0 },
	};
	size_t n = 5;

	if (extra_name) {
		nv[5] = (nghttp2_nv){ (__u8 *)extra_name, (__u8 *)extra_value, strlen(extra_name),
				      strlen(extra_value), 0 };
		n = 6;
	}
	return (size_t)nghttp2_hd_deflate_hd(d, buf, cap, nv, n);
}

/* ---- the connection (bt_sockhash.h) -------------------------------------- */

/* Sends each piece [cut[i], cut[i+1]) of o with one send() (one run of the
 * verdict program); got is everything the server read. */
static bool exchange(const struct out *o, const size_t *cuts, int ncuts, struct out *got)
{
	struct bt_conn c;
	size_t from = 0;
	ssize_t n;

	CHECK(bt_pcount_reset(fd_cnt, TW_PC_MAX), "counters");
	CHECK(bt_conn_open(&c, fd_socks), "connection");
	for (int i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : o->n;

		n = send(c.cli, o->p + from, to - from, 0);
		if (n != (ssize_t)(to - from)) {
			bt_conn_close(&c);
			CHECK(false, "send %d: %zd of %zu: %s", i, n, to - from, strerror(errno));
		}
		from = to;
	}
	got->n = 0;
	shutdown(c.cli, SHUT_WR);
	while ((n = recv(c.srv, got->p + got->n, BUF_MAX - got->n, 0)) > 0)
		got->n += n;
	bt_conn_close(&c);
	CHECK(n == 0, "recv: %s", strerror(errno));
	return true;
}

/* ---- what arrived -------------------------------------------------------- */

/* Per HEADERS frame that arrived: its stream, whether its block carries a
 * traceparent (decoded), and the field's value. */
struct seen {
	int nheaders;
	__u32 sid[16];
	int ntp[16];
	char tp[16][64];
	int nts[16];
	char ts[16][600];
};

static bool is_tp_value(const char *v)
{
	CHECK(strlen(v) == 55 && !strncmp(v, "00-", 3) && v[35] == '-' && v[52] == '-',
	      "value '%s'", v);
	for (int i = 3; i < 55; i++)
		if (i != 35 && i != 52)
			CHECK(isxdigit((unsigned char)v[i]) && !isupper((unsigned char)v[i]),
			      "value '%s'", v);
	return true;
}

/* Frames what the server got, decodes every header block (CONTINUATION
 * included) in order with one decoder, as the server would. */
static bool server_view(const struct out *got, struct seen *s)
{
	nghttp2_hd_inflater *inf;
	__u8 block[65536];
	size_t bn = 0, at = 24;
	__u32 block_sid = 0;
	bool ok = true;

	memset(s, 0, sizeof(*s));
	CHECK(got->n >= 24 && !memcmp(got->p, PREFACE, 24), "preface");
	CHECK(!nghttp2_hd_inflate_new(&inf), "inflater");
	while (ok && at < got->n) {
		const __u8 *f = got->p + at;
		__u32 len, sid, pre = 0, pad = 0;
		__u8 type, flags;

		if (got->n - at < 9) {
			ok = false;
			break;
		}
		len = (__u32)f[0] << 16 | f[1] << 8 | f[2];
		type = f[3];
		flags = f[4];
		sid = ((__u32)f[5] << 24 | f[6] << 16 | f[7] << 8 | f[8]) & 0x7fffffff;
		if (got->n - at - 9 < len) {
			ok = false;
			break;
		}
		if (type == 1 || type == 9) {
			if (type == 1) {
				if (flags & 0x8) {
					pad = f[9];
					pre = 1;
				}
				if (flags & 0x20)
					pre += 5;
				block_sid = sid;
				bn = 0;
			}
			if (pre + pad > len) {
				ok = false;
				break;
			}
			memcpy(block + bn, f + 9 + pre, len - pre - pad);
			bn += len - pre - pad;
			if (flags & 0x4) { /* END_HEADERS: decode the block */
				__u8 *in = block;
				size_t left = bn;
				int k = s->nheaders++;

				s->sid[k] = block_sid;
				for (;;) {
					nghttp2_nv nv;
					int fl = 0;
					ssize_t r = nghttp2_hd_inflate_hd2(inf, &nv, &fl, in, left, 1);

					if (r < 0) {
						ok = false;
						break;
					}
					in += r;
					left -= r;
					if (fl & NGHTTP2_HD_INFLATE_EMIT) {
						if (nv.namelen == 11 && !memcmp(nv.name, "traceparent", 11) &&
						    nv.valuelen < 64) {
							memcpy(s->tp[k], nv.value, nv.valuelen);
							s->tp[k][nv.valuelen] = 0;
							s->ntp[k]++;
						}
						if (nv.namelen == 10 && !memcmp(nv.name, "tracestate", 10) &&
						    nv.valuelen < sizeof(s->ts[k])) {
							memcpy(s->ts[k], nv.value, nv.valuelen);
							s->ts[k][nv.valuelen] = 0;
							s->nts[k]++;
						}
					}
					if (fl & NGHTTP2_HD_INFLATE_FINAL) {
						nghttp2_hd_inflate_end_headers(inf);
						break;
					}
					if (!r && !left)
						break;
				}
			}
		}
		at += 9 + len;
	}
	nghttp2_hd_inflate_del(inf);
	CHECK(ok, "what arrived does not frame or decode (at byte %zu)", at);
	return true;
}

/* got == sent with FIELD_LEN bytes more in each listed HEADERS frame (and
 * its length field), every other byte the same. */
static bool same_but_fields(const struct out *sent, const struct out *got, int nfields)
{
	size_t a = 24, b = 24;

	CHECK(got->n == sent->n + (size_t)nfields * FIELD_LEN, "got %zu bytes, sent %zu + %d fields",
	      got->n, sent->n, nfields);
	CHECK(!memcmp(sent->p, got->p, 24), "preface changed");
	while (a < sent->n && b < got->n) {
		const __u8 *fa = sent->p + a, *fb = got->p + b;
		__u32 la = (__u32)fa[0] << 16 | fa[1] << 8 | fa[2];
		__u32 lb = (__u32)fb[0] << 16 | fb[1] << 8 | fb[2];

		CHECK(!memcmp(fa + 3, fb + 3, 6), "frame header at %zu changed", a);
		if (lb == la) {
			CHECK(!memcmp(fa + 9, fb + 9, la), "payload of frame at %zu changed", a);
		} else {
			__u32 pad = 0, pre = 0;

			CHECK(fa[3] == 1 && lb == la + FIELD_LEN, "frame at %zu: %u -> %u bytes", a, la, lb);
			if (fa[4] & 0x8) {
				pad = fa[9];
				pre = 1;
			}
			if (fa[4] & 0x20)
				pre += 5;
			/* the block as it was, the field, then the padding */
			CHECK(!memcmp(fa + 9, fb + 9, la - pad), "block of frame at %zu changed", a);
			CHECK(!memcmp(fb + 9 + la - pad, "\x00\x0btraceparent\x37", 14),
			      "field of frame at %zu", a);
			CHECK(!memcmp(fa + 9 + la - pad, fb + 9 + lb - pad, pad), "padding");
			(void)pre;
		}
		a += 9 + la;
		b += 9 + lb;
	}
	return true;
}

/* Every counter 0 but these (index, value) pairs. */
static bool counts(int n, ...)
{
	__u64 want[TW_PC_MAX] = { 0 };
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		int idx = va_arg(ap, int);

		want[idx] = va_arg(ap, int);
	}
	va_end(ap);
	for (__u32 i = 0; i < TW_PC_MAX; i++) {
		__u64 got = bt_pcount(fd_cnt, i);

		CHECK(got == want[i], "prop_counters[%u] = %llu, want %llu", i,
		      (unsigned long long)got, (unsigned long long)want[i]);
	}
	return true;
}

/* ---- tests --------------------------------------------------------------- */

static __u8 sbuf[BUF_MAX], gbuf[BUF_MAX];

/* preface + the client's SETTINGS (+ its ACK of the server's) */
static void start(struct out *o, bool ack)
{
	static const __u8 settings[6] = { 0, 2, 0, 0, 0, 0 }; /* ENABLE_PUSH 0 */

	o->p = sbuf;
	o->n = 0;
	put(o, PREFACE, 24);
	frame(o, 4, 0, 0, settings, 6);
	if (ack)
		frame(o, 4, 1, 0, NULL, 0);
}

static void headers(struct out *o, nghttp2_hd_deflater *d, __u8 flags, __u32 sid,
		    const char *xn, const char *xv)
{
	__u8 blk[1024];
	size_t n = request_block(d, blk, sizeof(blk), xn, xv);

	frame(o, 1, flags, sid, blk, n);
}

static bool test_injected_after_ack(void)
{
	struct out o, got = { gbuf, 0 };
	nghttp2_hd_deflater *d;
	struct seen s;
	__u8 data[5] = { 0, 0, 0, 0, 0 };
	size_t cuts[2];

	CHECK(!nghttp2_hd_deflate_new(&d, 4096), "deflater");
	start(&o, true);
	cuts[0] = 24; /* the preface alone first, as grpc-go sends it */
	cuts[1] = o.n;
	/* two streams, each HEADERS + DATA, in one send */
	headers(&o, d, 0x4, 1, NULL, NULL);
	frame(&o, 0, 1, 1, data, 5);
	headers(&o, d, 0x4, 3, NULL, NULL);
	frame(&o, 0, 1, 3, data, 5);
	nghttp2_hd_deflate_del(d);
	CHECK(exchange(&o, cuts, 2, &got), "exchange");
	CHECK(same_but_fields(&o, &got, 2), "bytes");
	CHECK(server_view(&got, &s), "server");
	CHECK(s.nheaders == 2 && s.ntp[0] == 1 && s.ntp[1] == 1, "traceparent fields %d %d",
	      s.ntp[0], s.ntp[1]);
	CHECK(is_tp_value(s.tp[0]) && is_tp_value(s.tp[1]) && strcmp(s.tp[0], s.tp[1]), "values");
	CHECK(counts(2, TW_PC_H2_CONNS, 1, TW_PC_H2_INJECTED, 2), "counters");
	return true;
}

static bool test_no_ack_no_field(void)
{
	struct out o, got = { gbuf, 0 };
	nghttp2_hd_deflater *d;
	size_t cuts[1];

	CHECK(!nghttp2_hd_deflate_new(&d, 4096), "deflater");
	start(&o, false);
	headers(&o, d, 0x5, 1, NULL, NULL);
	cuts[0] = o.n;
	/* the ACK, then stream 3: that one gets it */
	frame(&o, 4, 1, 0, NULL, 0);
	headers(&o, d, 0x5, 3, NULL, NULL);
	nghttp2_hd_deflate_del(d);
	CHECK(exchange(&o, cuts, 1, &got), "exchange");
	CHECK(same_but_fields(&o, &got, 1), "bytes");
	CHECK(counts(3, TW_PC_H2_CONNS, 1, TW_PC_H2_SKIP_NO_ACK, 1, TW_PC_H2_INJECTED, 1),
	      "counters");
	return true;
}

/* The application's own traceparent (Huffman-coded, indexed by the encoder):
 * never a second one, on that stream or any later one of the connection. */
static bool test_app_traceparent(void)
{
	struct out o, got = { gbuf, 0 };
	nghttp2_hd_deflater *d;
	struct seen s;

	CHECK(!nghttp2_hd_deflate_new(&d, 4096), "deflater");
	start(&o, true);
	headers(&o, d, 0x5, 1, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	headers(&o, d, 0x5, 3, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	headers(&o, d, 0x5, 5, NULL, NULL);
	nghttp2_hd_deflate_del(d);
	CHECK(exchange(&o, NULL, 0, &got), "exchange");
	CHECK(got.n == o.n && !memcmp(got.p, o.p, o.n), "changed");
	CHECK(server_view(&got, &s) && s.ntp[0] == 1 && s.ntp[1] == 1 && s.ntp[2] == 0, "fields");
	CHECK(counts(2, TW_PC_H2_CONNS, 1, TW_PC_H2_KEPT_EXISTING, 3), "counters");
	return true;
}

/* A block that goes on in CONTINUATION is not walked field by field: the
 * connection is passed for good, untouched. */
static bool test_continuation(void)
{
	struct out o, got = { gbuf, 0 };
	nghttp2_hd_deflater *d;
	__u8 blk[1024];
	size_t n;
	struct seen s;

	CHECK(!nghttp2_hd_deflate_new(&d, 4096), "deflater");
	start(&o, true);
	n = request_block(d, blk, sizeof(blk), NULL, NULL);
	frame(&o, 1, 0x1, 1, blk, 10);           /* END_STREAM, no END_HEADERS */
	frame(&o, 9, 0x4, 1, blk + 10, n - 10); /* CONTINUATION, END_HEADERS */
	headers(&o, d, 0x5, 3, NULL, NULL);
	nghttp2_hd_deflate_del(d);
	CHECK(exchange(&o, NULL, 0, &got), "exchange");
	CHECK(got.n == o.n && !memcmp(got.p, o.p, o.n), "changed");
	CHECK(server_view(&got, &s) && s.nheaders == 2 && s.ntp[0] == 0 && s.ntp[1] == 0, "fields");
	CHECK(counts(2, TW_PC_H2_CONNS, 1, TW_PC_H2_OPAQUE_CONTINUATION, 1), "counters");
	return true;
}

/* PADDED and PRIORITY: the field goes after the block, before the padding. */
static bool test_padded_priority(void)
{
	struct out o, got = { gbuf, 0 };
	nghttp2_hd_deflater *d;
	__u8 blk[1024], payload[1100];
	size_t n;
	struct seen s;

	CHECK(!nghttp2_hd_deflate_new(&d, 4096), "deflater");
	start(&o, true);
	n = request_block(d, blk, sizeof(blk), NULL, NULL);
	payload[0] = 7;                                        /* pad length */
	memcpy(payload + 1, "\x00\x00\x00\x00\x10", 5);        /* priority */
	memcpy(payload + 6, blk, n);
	memset(payload + 6 + n, 0, 7);
	frame(&o, 1, 0x4 | 0x1 | 0x8 | 0x20, 1, payload, 6 + n + 7);
	nghttp2_hd_deflate_del(d);
	CHECK(exchange(&o, NULL, 0, &got), "exchange");
	CHECK(same_but_fields(&o, &got, 1), "bytes");
	CHECK(server_view(&got, &s) && s.ntp[0] == 1 && is_tp_value(s.tp[0]), "fields");
	CHECK(counts(2, TW_PC_H2_CONNS, 1, TW_PC_H2_INJECTED, 1), "counters");
	return true;
}

/* Frame headers cut between sends: put together, framing kept; a frame
 * whose header went out earlier is not given the field. A large DATA frame
 * across sends is passed by its length. */
static bool test_split_frames(void)
{
	struct out o, got = { gbuf, 0 };
	nghttp2_hd_deflater *d;
	static __u8 big[100000];
	size_t cuts[3];
	struct seen s;

	CHECK(!nghttp2_hd_deflate_new(&d, 4096), "deflater");
	start(&o, true);
	cuts[0] = o.n + 4; /* inside stream 1's frame header */
	headers(&o, d, 0x4, 1, NULL, NULL);
	memset(big, 'x', sizeof(big));
	frame(&o, 0, 0, 1, big, 16384);
	cuts[1] = o.n - 1000; /* inside a DATA payload */
	frame(&o, 0, 1, 1, big, 9000);
	cuts[2] = o.n;
	headers(&o, d, 0x5, 3, NULL, NULL);
	nghttp2_hd_deflate_del(d);
	CHECK(exchange(&o, cuts, 3, &got), "exchange");
	CHECK(same_but_fields(&o, &got, 1), "bytes");
	CHECK(server_view(&got, &s) && s.ntp[0] == 0 && s.ntp[1] == 1, "fields");
	CHECK(counts(3, TW_PC_H2_CONNS, 1, TW_PC_H2_SKIP_SPLIT_FRAME, 1, TW_PC_H2_INJECTED, 1),
	      "counters");
	return true;
}

/* A header block cut between sends cannot be walked: the connection is
 * passed for good (a later stream could refer to what it held). */
static bool test_split_block(void)
{
	struct out o, got = { gbuf, 0 };
	nghttp2_hd_deflater *d;
	size_t cuts[1];

	CHECK(!nghttp2_hd_deflate_new(&d, 4096), "deflater");
	start(&o, true);
	cuts[0] = o.n + 9 + 5;
	headers(&o, d, 0x5, 1, NULL, NULL);
	headers(&o, d, 0x5, 3, NULL, NULL);
	nghttp2_hd_deflate_del(d);
	CHECK(exchange(&o, cuts, 1, &got), "exchange");
	CHECK(got.n == o.n && !memcmp(got.p, o.p, o.n), "changed");
	CHECK(counts(2, TW_PC_H2_CONNS, 1, TW_PC_H2_OPAQUE_SPLIT_BLOCK, 1), "counters");
	return true;
}

/* Bytes that break HPACK (an integer that never ends), a PUSH_PROMISE from a
 * client, a CONTINUATION out of place: passed for good, untouched. */
static bool test_malformed(void)
{
	static const __u8 bad_int[] = { 0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct out o, got = { gbuf, 0 };
	nghttp2_hd_deflater *d;
	const struct {
		__u8 type, flags;
		const __u8 *p;
		size_t n;
	} bad[] = {
		{ 1, 0x5, bad_int, sizeof(bad_int) },
		{ 5, 0x4, bad_int, 4 },
		{ 9, 0x4, bad_int, 1 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(!nghttp2_hd_deflate_new(&d, 4096), "deflater");
		start(&o, true);
		frame(&o, bad[i].type, bad[i].flags, 1, bad[i].p, bad[i].n);
		headers(&o, d, 0x5, 3, NULL, NULL);
		nghttp2_hd_deflate_del(d);
		CHECK(exchange(&o, NULL, 0, &got), "exchange %zu", i);
		CHECK(got.n == o.n && !memcmp(got.p, o.p, o.n), "case %zu changed", i);
		CHECK(counts(2, TW_PC_H2_CONNS, 1, TW_PC_H2_OPAQUE_BAD, 1), "case %zu counters", i);
	}
	return true;
}

/* The thread's server request came with a tracestate: it goes along, as a
 * literal field after traceparent; a value of 200 bytes takes a two-byte
 * HPACK length. The stream is the server request's child. */
static bool test_tracestate_from_parent(void)
{
	struct out o, got = { gbuf, 0 };
	nghttp2_hd_deflater *d;
	struct seen s;
	__u8 tctx[40] = { 0 }, tstate[8 + 512] = { 0 };
	__u32 tid = (__u32)syscall(SYS_gettid), vlen;
	char ts[256];
	__u64 span;
	bool ok;

	memset(tctx, 0x5a, 16);       /* trace id */
	memset(tctx + 16, 0x6b, 8);   /* the SERVER span */
	tctx[32] = 1;                 /* sampled */
	tctx[34] = 1;                 /* live (bpf/lib/maps.h) */
	memcpy(&span, tctx + 16, 8);
	memset(ts, 0, sizeof(ts));
	strcpy(ts, "congo=t61rcWkgMzE,rojo=");
	memset(ts + strlen(ts), 'x', 200 - strlen(ts));
	vlen = (__u32)strlen(ts);
	memcpy(tstate, &vlen, 4);
	memcpy(tstate + 8, ts, vlen);
	CHECK(!bpf_map_update_elem(bpf_map__fd(skel->maps.thread_ctx), &tid, tctx, BPF_ANY) &&
		      !bpf_map_update_elem(bpf_map__fd(skel->maps.span_tracestate), &span, tstate,
					   BPF_ANY),
	      "maps: %s", strerror(errno));
	CHECK(!nghttp2_hd_deflate_new(&d, 4096), "deflater");
	start(&o, true);
	headers(&o, d, 0x5, 1, NULL, NULL);
	nghttp2_hd_deflate_del(d);
	ok = exchange(&o, NULL, 0, &got) && server_view(&got, &s);
	bpf_map_delete_elem(bpf_map__fd(skel->maps.thread_ctx), &tid);
	CHECK(ok, "exchange");
	CHECK(got.n == o.n + FIELD_LEN + 12 + 2 + vlen, "got %zu bytes, want %zu", got.n,
	      o.n + FIELD_LEN + 14 + vlen);
	CHECK(s.ntp[0] == 1 && is_tp_value(s.tp[0]), "traceparent");
	CHECK(!strncmp(s.tp[0], "00-5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a-", 36) &&
		      !strcmp(s.tp[0] + 52, "-01"),
	      "not the thread's trace: %s", s.tp[0]);
	CHECK(s.nts[0] == 1 && !strcmp(s.ts[0], ts), "tracestate '%s'", s.ts[0]);
	CHECK(counts(2, TW_PC_H2_CONNS, 1, TW_PC_H2_INJECTED, 1), "counters");
	return true;
}

/*
 * A non-blocking sender whose send buffer is full, as an event loop's:
 * tcp_bpf cuts a push that runs out of buffer, frees the rest and reports
 * that many bytes fewer, counting inserted bytes that did not leave as the
 * application's, which then sends again bytes that already left. So no
 * field goes into a send the buffer cannot take whole (skip_sndbuf): what
 * arrives must be what was sent, plus well-formed fields only where the
 * counters say one went. Here stream 3's HEADERS frame follows 192 KiB of
 * stream 1's DATA in one write into a 4 KiB window.
 */
static bool test_full_send_buffer(void)
{
	struct out o, got = { gbuf, 0 };
	nghttp2_hd_deflater *d;
	static __u8 chunk[16384];
	struct bt_conn c;
	struct seen s;
	size_t end[2];
	__u64 injected;
	ssize_t n;
	bool ok;

	CHECK(!nghttp2_hd_deflate_new(&d, 4096), "deflater");
	start(&o, true);
	headers(&o, d, 0x4, 1, NULL, NULL);
	memset(chunk, 'd', sizeof(chunk));
	for (int i = 0; i < 12; i++)
		frame(&o, 0, i == 11 ? 1 : 0, 1, chunk, sizeof(chunk));
	headers(&o, d, 0x5, 3, NULL, NULL);
	end[0] = o.n;
	headers(&o, d, 0x5, 5, NULL, NULL); /* sent once everything has left */
	end[1] = o.n;
	nghttp2_hd_deflate_del(d);

	CHECK(bt_pcount_reset(fd_cnt, TW_PC_MAX), "counters");
	CHECK(bt_conn_open_bufs(&c, fd_socks, 4096, 4096), "connection");
	ok = bt_send_nonblocking(&c, o.p, end[0], got.p, BUF_MAX, &got.n) &&
	     bt_drain_sent(&c, got.p, BUF_MAX, &got.n) &&
	     bt_send_nonblocking(&c, o.p + end[0], end[1] - end[0], got.p, BUF_MAX, &got.n);
	if (!ok) {
		bt_conn_close(&c);
		return false;
	}
	shutdown(c.cli, SHUT_WR);
	while ((n = recv(c.srv, got.p + got.n, BUF_MAX - got.n, 0)) > 0)
		got.n += n;
	bt_conn_close(&c);
	CHECK(n == 0, "recv: %s", strerror(errno));
	injected = bt_pcount(fd_cnt, TW_PC_H2_INJECTED);
	CHECK(same_but_fields(&o, &got, (int)injected), "bytes (%llu fields)",
	      (unsigned long long)injected);
	CHECK(server_view(&got, &s) && s.nheaders == 3 && s.ntp[1] == 0, "stream 3 got a field");
	CHECK(bt_pcount(fd_cnt, TW_PC_SKIP_SNDBUF) >= 1, "skip_sndbuf %llu",
	      (unsigned long long)bt_pcount(fd_cnt, TW_PC_SKIP_SNDBUF));
	return true;
}

/* A header block longer than the walk's buffer (2047 bytes) cannot be
 * walked: the connection is passed for good. */
static bool test_long_block(void)
{
	struct out o, got = { gbuf, 0 };
	nghttp2_hd_deflater *d;
	static char longv[3000];
	__u8 big[4096];
	nghttp2_nv nv[2] = {
		{ (__u8 *)":method", (__u8 *)"POST", 7, 4, 0 },
		{ (__u8 *)"x-big", (__u8 *)longv, 5, sizeof(longv), NGHTTP2_NV_FLAG_NO_INDEX },
	};
	size_t n;

	memset(longv, '~', sizeof(longv)); /* Huffman makes '~' longer, never shorter */
	CHECK(!nghttp2_hd_deflate_new(&d, 4096), "deflater");
	start(&o, true);
	n = (size_t)nghttp2_hd_deflate_hd(d, big, sizeof(big), nv, 2);
	CHECK(n > 2048 && n < sizeof(big), "block of %zu bytes", n);
	frame(&o, 1, 0x5, 1, big, n);
	headers(&o, d, 0x5, 3, NULL, NULL);
	nghttp2_hd_deflate_del(d);
	CHECK(exchange(&o, NULL, 0, &got), "exchange");
	CHECK(got.n == o.n && !memcmp(got.p, o.p, o.n), "changed");
	CHECK(counts(2, TW_PC_H2_CONNS, 1, TW_PC_H2_OPAQUE_LONG_BLOCK, 1), "counters");
	return true;
}

/* No preface first (a connection joined mid-stream, or a partial preface):
 * the HTTP/1 gate refuses it and nothing is framed as HTTP/2. */
static bool test_no_preface(void)
{
	struct out o, got = { gbuf, 0 };
	nghttp2_hd_deflater *d;
	size_t cuts[1] = { 16 };

	CHECK(!nghttp2_hd_deflate_new(&d, 4096), "deflater");
	start(&o, true);
	headers(&o, d, 0x5, 1, NULL, NULL);
	nghttp2_hd_deflate_del(d);
	CHECK(exchange(&o, cuts, 1, &got), "exchange");
	CHECK(got.n == o.n && !memcmp(got.p, o.p, o.n), "changed");
	CHECK(counts(2, TW_PC_SKIP_NOT_HTTP, 1, TW_PC_SKIP_NH_H2C, 1), "counters");
	return true;
}

/* ---- h2c by upgrade: a tunnel's first bytes ------------------------------ */

#define TP_LINE_LEN 70 /* "traceparent: " value(55) "\r\n" */

static const char UPGRADE_H2C[] = "GET /up HTTP/1.1\r\nHost: 198.18.0.1\r\n"
				  "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
				  "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";

/*
 * The HTTP/1 request req (head, and its body if it has one) in a send of its
 * own (or, without cut, in one send with what follows), then mid (if any) in
 * a send of its own, then the client's HTTP/2 start with its ACK and a
 * request on stream 3. The request gets its traceparent line as any HTTP/1
 * request; stream 3 gets the field only when want_field, else every byte
 * after the request's head arrives as sent.
 */
static bool tunnel(const char *req, const char *mid, bool cut, bool want_field)
{
	struct out o, got = { gbuf, 0 }, sent2, got2;
	size_t req_n = strlen(req), mid_n = mid ? strlen(mid) : 0, cuts[2], head_sent, head_got;
	nghttp2_hd_deflater *d;
	const char *end;
	struct seen s;
	int ncuts = 0;

	CHECK(!nghttp2_hd_deflate_new(&d, 4096), "deflater");
	start(&o, true);
	memmove(sbuf + req_n + mid_n, sbuf, o.n);
	memcpy(sbuf, req, req_n);
	memcpy(sbuf + req_n, mid, mid_n);
	o.n += req_n + mid_n;
	headers(&o, d, 0x5, 3, NULL, NULL);
	nghttp2_hd_deflate_del(d);
	if (cut)
		cuts[ncuts++] = req_n;
	if (mid_n)
		cuts[ncuts++] = req_n + mid_n;
	CHECK(exchange(&o, cuts, ncuts, &got), "exchange");

	end = memmem(req, req_n, "\r\n\r\n", 4);
	head_sent = end + 4 - req;
	head_got = head_sent + TP_LINE_LEN;
	CHECK(got.n > head_got && memmem(got.p, head_got, "\r\ntraceparent: 00-", 18) &&
		      !memcmp(got.p + head_got - 4, "\r\n\r\n", 4),
	      "the request's traceparent line");
	sent2 = (struct out){ o.p + head_sent, o.n - head_sent };
	got2 = (struct out){ got.p + head_got, got.n - head_got };
	if (!want_field) {
		CHECK(got2.n == sent2.n && !memcmp(got2.p, sent2.p, sent2.n), "tunnel bytes changed");
		return true;
	}
	/* the h2 part begins where the request ended */
	sent2 = (struct out){ o.p + req_n, o.n - req_n };
	got2 = (struct out){ got.p + req_n + TP_LINE_LEN, got.n - req_n - TP_LINE_LEN };
	CHECK(same_but_fields(&sent2, &got2, 1), "bytes");
	CHECK(server_view(&got2, &s), "server");
	CHECK(s.nheaders == 1 && s.sid[0] == 3 && s.ntp[0] == 1 && is_tp_value(s.tp[0]),
	      "stream 3's traceparent field");
	return true;
}

/* After "Upgrade: h2c" (the server's 101 not seen here: sk_msg sees only the
 * client's bytes), a send beginning with the preface: HTTP/2 from there on. */
static bool test_upgrade_h2c(void)
{
	CHECK(tunnel(UPGRADE_H2C, NULL, true, true), "h2c upgrade");
	CHECK(counts(4, TW_PC_INJECTED, 1, TW_PC_SKIP_TUNNEL, 1, TW_PC_H2_CONNS, 1,
		     TW_PC_H2_INJECTED, 1),
	      "counters");
	return true;
}

/* Tunnels whose first bytes cannot be known to be the preface stay opaque:
 * the preface in the request's own send (before any 101), after a request
 * body, or after the tunnel's first send (a WebSocket frame). */
static bool test_tunnel_not_h2c(void)
{
	static const char with_body[] = "POST /up HTTP/1.1\r\nHost: 198.18.0.1\r\n"
					"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
					"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
					"Content-Length: 3\r\n\r\nabc";
	static const char websocket[] = "GET /chat HTTP/1.1\r\nHost: 198.18.0.1\r\n"
					"Upgrade: websocket\r\nConnection: Upgrade\r\n"
					"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
					"Sec-WebSocket-Version: 13\r\n\r\n";
	static const char ws_frame[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";

	CHECK(tunnel(UPGRADE_H2C, NULL, false, false), "preface in the request's send");
	CHECK(counts(2, TW_PC_INJECTED, 1, TW_PC_SKIP_TUNNEL, 1), "counters, same send");
	CHECK(tunnel(with_body, NULL, true, false), "after a body");
	CHECK(counts(2, TW_PC_INJECTED, 1, TW_PC_SKIP_TUNNEL, 1), "counters, body");
	CHECK(tunnel(websocket, ws_frame, true, false), "after a WebSocket frame");
	CHECK(counts(2, TW_PC_INJECTED, 1, TW_PC_SKIP_TUNNEL, 1), "counters, WebSocket");
	return true;
}

/* ---- setup --------------------------------------------------------------- */


/* h2headers' maps are headers' (user space does the same: tw_share_maps). */
static int share_maps(void)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, h2->obj) {
		const struct bpf_map *src;

		if (bpf_map__is_internal(map))
			continue;
		src = bpf_object__find_map_by_name(skel->obj, bpf_map__name(map));
		if (src && bpf_map__reuse_fd(map, bpf_map__fd(src)))
			return -1;
	}
	return 0;
}

int main(void)
{
	static const struct bt_case cases[] = {
		{ "injected_after_ack", test_injected_after_ack },
		{ "no_ack_no_field", test_no_ack_no_field },
		{ "app_traceparent", test_app_traceparent },
		{ "continuation", test_continuation },
		{ "padded_priority", test_padded_priority },
		{ "split_frames", test_split_frames },
		{ "split_block", test_split_block },
		{ "malformed", test_malformed },
		{ "long_block", test_long_block },
		{ "tracestate_from_parent", test_tracestate_from_parent },
		{ "full_send_buffer", test_full_send_buffer },
		{ "no_preface", test_no_preface },
		{ "upgrade_h2c", test_upgrade_h2c },
		{ "tunnel_not_h2c", test_tunnel_not_h2c },
	};
	int rc = 1, prog, h2prog;
	__u32 slot = 0;

	if (geteuid() != 0) {
		fprintf(stderr, "test_h2inject: needs root (loads BPF programs)\n");
		return 1;
	}
	if (unshare(CLONE_NEWNET) || !bt_lo_up()) {
		fprintf(stderr, "test_h2inject: network namespace: %s\n", strerror(errno));
		return 1;
	}
	fd_socks = -1;
	skel = headers_bpf__open_and_load();
	h2 = h2headers_bpf__open();
	if (!skel || !h2 || share_maps() || h2headers_bpf__load(h2)) {
		fprintf(stderr, "test_h2inject: loading the objects: %s\n", strerror(errno));
		goto out;
	}
	fd_cnt = bpf_map__fd(skel->maps.prop_counters);
	prog = bpf_program__fd(skel->progs.tw_sk_msg);
	h2prog = bpf_program__fd(h2->progs.tw_sk_msg_h2);
	fd_socks = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, "bt_socks", sizeof(__u32), sizeof(__u32),
				  64, NULL);
	if (fd_socks < 0 || bpf_prog_attach(prog, fd_socks, BPF_SK_MSG_VERDICT, 0) ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.h2_prog), &slot, &h2prog, BPF_ANY)) {
		fprintf(stderr, "test_h2inject: sockhash: %s\n", strerror(errno));
		goto out;
	}
	rc = bt_run("test_h2inject", cases, sizeof(cases) / sizeof(cases[0]));
out:
	if (fd_socks >= 0)
		close(fd_socks);
	h2headers_bpf__destroy(h2);
	headers_bpf__destroy(skel);
	return rc;
}
