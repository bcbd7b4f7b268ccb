// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests for the kernel-side HTTP/1.x request gate (bpf/lib/h1scan.h),
 * compiled in user space: the very code the sk_msg program runs.
 *
 * request() mimics tw_msg_request (bpf/lib/h1inject.h): up to TW_SCAN_WIN
 * bytes of a request copied into a scratch buffer whose other bytes are
 * stale, fed 8 bytes at a time to tw_scan_word (nb < 8 for the tail) until
 * it returns non-zero, then the verdict the program takes from the state:
 * refused (TW_SF_NOT_HTTP, with the reason), unframed (TW_SP_OPAQUE), split
 * head (no TW_SF_HEAD_DONE), a traceparent already there, or a header
 * inserted at reqline_end. sim_send() mimics tw_sk_msg's walk over one send
 * (bodies skipped, tw_msg_continue for heads and chunk lines, at most
 * TW_MSG_STEPS steps).
 *
 * Every case also runs byte by byte through tw_scan_byte: the word-wise
 * fast paths (tw_word_visible in a request-target, tw_word_plain_value in a
 * value nobody reads) must leave the very same state, stop and verdict.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bpf/lib/h1scan.h"

#define MSG_STEPS 64 /* TW_MSG_STEPS in bpf/lib/h1inject.h */

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the gate reads words little-endian, as the BPF target does on x86");

/* ---- harness: tw_msg_request and tw_sk_msg, without the writes -------- */

enum feed { FEED_WORD, FEED_BYTE };

enum verdict {
	V_INSERT,   /* head complete: traceparent inserted at reqline_end */
	V_EXISTING, /* head complete with a traceparent of its own */
	V_REFUSED,  /* TW_SF_NOT_HTTP: passed for good, s->reject says why */
	V_SPLIT,    /* no TW_SF_HEAD_DONE in the window: no insertion */
	V_UNFRAMED, /* TW_SP_OPAQUE without NOT_HTTP: passed */
	V_NOINSERT, /* head done but reqline_end unusable: must never happen */
};

static const char *const verdict_names[] = {
	"insert", "existing", "refused", "split", "unframed", "no-insert",
};

struct req {
	enum verdict v;
	uint8_t reject;
	uint32_t at;   /* V_INSERT: where the header goes, from the request's first byte */
	uint32_t stop; /* index after the byte that stopped the scan, or n */
	uint32_t used; /* what tw_msg_request returns (less what it inserts) */
	bool tunnel;   /* Upgrade or CONNECT head */
	bool too_long; /* split because the head is longer than the window */
};

/* The per-CPU scratch buffer: past the n copied bytes it holds whatever an
 * earlier scan left there, which the tail word (nb < 8) reads. */
static uint8_t scratch[2 * TW_SCAN_WIN];

/* tw_msg_scan: bytes p[0, n), n <= TW_SCAN_WIN. Returns the stop index. */
static uint32_t scan(struct tw_h1scan *s, const uint8_t *p, uint32_t n, enum feed f, uint8_t stale)
{
	if (f == FEED_BYTE) {
		for (uint32_t i = 0; i < n; i++)
			if (tw_scan_byte(s, p[i], i))
				return i + 1;
		return n;
	}
	memset(scratch, stale, sizeof(scratch));
	memcpy(scratch, p, n);
	for (uint32_t i = 0; i < TW_SCAN_WIN / 8; i++) { /* tw_win_scan_cb */
		uint32_t pos = i * 8, nb;
		uint64_t w;
		int r;

		if (pos >= n)
			break;
		nb = n - pos < 8 ? n - pos : 8;
		memcpy(&w, scratch + (pos & (TW_SCAN_WIN - 1)), 8);
		r = tw_scan_word(s, w, nb, pos);
		if (r)
			return pos + r;
	}
	return n;
}

/* tw_msg_request on avail bytes at p; s is the connection's scan state. */
static struct req request(struct tw_h1scan *s, const uint8_t *p, uint32_t avail, enum feed f,
			  uint8_t stale)
{
	uint32_t n = avail < TW_SCAN_WIN ? avail : TW_SCAN_WIN;
	struct req r;

	memset(&r, 0, sizeof(r));
	tw_scan_begin_request(s);
	r.stop = r.used = scan(s, p, n, f, stale);
	if (s->flags & TW_SF_NOT_HTTP) {
		r.v = V_REFUSED;
		r.reject = s->reject;
		r.used = avail;
		return r;
	}
	if ((s->flags & TW_SF_HEAD_DONE) && (s->flags & TW_SF_SWITCH)) {
		r.tunnel = true;
	} else if (s->phase == TW_SP_OPAQUE) {
		r.v = V_UNFRAMED;
		r.used = avail;
		return r;
	}
	if (!(s->flags & TW_SF_HEAD_DONE)) {
		r.v = V_SPLIT;
		r.too_long = n < avail;
		return r;
	}
	if (s->n_tp) {
		r.v = V_EXISTING;
		return r;
	}
	if (!s->reqline_end || s->reqline_end > r.used) {
		r.v = V_NOINSERT;
		return r;
	}
	r.v = V_INSERT;
	r.at = s->reqline_end;
	return r;
}

static bool same_req(const struct req *a, const struct req *b)
{
	return a->v == b->v && a->reject == b->reject && a->at == b->at && a->stop == b->stop &&
	       a->used == b->used && a->tunnel == b->tunnel && a->too_long == b->too_long;
}

/* The whole scan state, padding included (tw_scan_begin_request zeroes it).
 * One exception: past TW_HEAD_LIMIT a word on the fast path counts its eight
 * bytes at once, so head_len (and where the scan stopped) may differ there;
 * the stream is TW_SP_OPAQUE either way. */
static bool same_scan(const struct tw_h1scan *a, const struct tw_h1scan *b)
{
	if (a->head_len > TW_HEAD_LIMIT || b->head_len > TW_HEAD_LIMIT)
		return a->phase == TW_SP_OPAQUE && b->phase == TW_SP_OPAQUE &&
		       a->flags == b->flags && a->reject == b->reject;
	return !memcmp(a, b, sizeof(*a));
}

#define MAX_EV 160

struct ev {
	enum verdict v;
	uint8_t reject;
	bool tunnel;
	uint64_t start; /* stream offset of the request */
	uint64_t at;    /* V_INSERT: stream offset of the inserted header */
};

struct conn {
	struct tw_h1scan s;
	uint64_t off; /* stream offset of the next send */
	struct ev ev[MAX_EV];
	unsigned n_ev;
	unsigned unframed_later; /* tw_msg_continue left the stream opaque */
	unsigned steps_out;      /* sends not walked to their end in MSG_STEPS */
};

/* tw_sk_msg on one send of size bytes (no short writes, no resync). */
static void sim_send(struct conn *c, const uint8_t *p, uint32_t size, enum feed f, uint8_t stale)
{
	uint32_t pos = 0;

	for (int step = 0; step < MSG_STEPS; step++) {
		uint8_t phase = c->s.phase;
		uint32_t left, used;

		if (pos >= size || phase == TW_SP_OPAQUE)
			break;
		left = size - pos;
		if (phase == TW_SP_BODY_LEN || phase == TW_SP_CHUNK_DATA) {
			uint64_t skip = c->s.remaining < left ? c->s.remaining : left;

			pos += skip;
			c->s.remaining -= skip;
			if (!c->s.remaining) {
				if (phase == TW_SP_CHUNK_DATA)
					c->s.phase = TW_SP_CHUNK_DATA_END;
				else
					tw_scan_message_done(&c->s);
			}
			continue;
		}
		if (phase == TW_SP_REQ_START) {
			struct req r = request(&c->s, p + pos, left, f, stale);

			if (c->n_ev < MAX_EV)
				c->ev[c->n_ev++] = (struct ev){
					.v = r.v, .reject = r.reject, .tunnel = r.tunnel,
					.start = c->off + pos,
					.at = r.v == V_INSERT ? c->off + pos + r.at : 0,
				};
			used = r.used;
		} else { /* tw_msg_continue */
			uint32_t n = left < TW_SCAN_WIN ? left : TW_SCAN_WIN;

			c->s.flags &= ~TW_SF_HEAD_DONE;
			used = scan(&c->s, p + pos, n, f, stale);
			if (c->s.phase == TW_SP_OPAQUE)
				c->unframed_later++;
		}
		if (!used) {
			c->s.phase = TW_SP_OPAQUE;
			break;
		}
		pos += used;
	}
	if (pos < size && c->s.phase != TW_SP_OPAQUE) {
		c->s.phase = TW_SP_OPAQUE;
		c->steps_out++;
	}
	c->off += size;
}

static bool same_conn(const struct conn *a, const struct conn *b)
{
	if (a->n_ev != b->n_ev || a->off != b->off || a->unframed_later != b->unframed_later ||
	    a->steps_out != b->steps_out || !same_scan(&a->s, &b->s))
		return false;
	for (unsigned i = 0; i < a->n_ev; i++)
		if (a->ev[i].v != b->ev[i].v || a->ev[i].reject != b->ev[i].reject ||
		    a->ev[i].tunnel != b->ev[i].tunnel || a->ev[i].start != b->ev[i].start ||
		    a->ev[i].at != b->ev[i].at)
			return false;
	return true;
}

static const uint8_t stales[] = { 0xa5, 0x00, '\r', '\n', ' ', 'a', 0x7f, 0xff };

/* Runs a request word-wise (with every stale filling) and byte-wise: all
 * must agree. On agreement *out is the verdict and *st the state. */
static bool request_both(const uint8_t *p, uint32_t len, struct req *out, struct tw_h1scan *st,
			 char *why, size_t whylen)
{
	struct tw_h1scan sb, sw;
	struct req rb, rw;

	rb = request(&sb, p, len, FEED_BYTE, 0);
	for (size_t k = 0; k < sizeof(stales); k++) {
		rw = request(&sw, p, len, FEED_WORD, stales[k]);
		if (!same_req(&rw, &rb) || !same_scan(&sw, &sb)) {
			snprintf(why, whylen,
				 "word-wise (stale 0x%02x) %s reject %u at %u stop %u phase %u flags 0x%x"
				 " != byte-wise %s reject %u at %u stop %u phase %u flags 0x%x",
				 stales[k], verdict_names[rw.v], rw.reject, rw.at, rw.stop, sw.phase,
				 sw.flags, verdict_names[rb.v], rb.reject, rb.at, rb.stop, sb.phase,
				 sb.flags);
			return false;
		}
	}
	*out = rb;
	if (st)
		*st = sb;
	return true;
}

/* Runs sends through two connections, word-wise and byte-wise; they must agree. */
static bool stream_both(const uint8_t *const *sends, const uint32_t *sizes, unsigned n,
			struct conn *cw, struct conn *cb)
{
	memset(cw, 0, sizeof(*cw));
	memset(cb, 0, sizeof(*cb));
	for (unsigned i = 0; i < n; i++) {
		sim_send(cw, sends[i], sizes[i], FEED_WORD, stales[i % sizeof(stales)]);
		sim_send(cb, sends[i], sizes[i], FEED_BYTE, 0);
	}
	return same_conn(cw, cb);
}

/* ---- the table -------------------------------------------------------- */

struct gate_case {
	const char *name;
	const char *in;
	uint32_t len;
	enum verdict v;
	unsigned arg;       /* V_INSERT: header offset; V_REFUSED: enum tw_gate_reject */
	int phase;          /* phase after the scan, -1: not checked */
	uint64_t remaining; /* checked with TW_SP_BODY_LEN */
	bool tunnel;
};

#define IN(s) (s), (uint32_t)(sizeof(s) - 1)
#define INSERT(n, s, at, ph, rem) { n, IN(s), V_INSERT, at, ph, rem, false }
#define TUNNEL(n, s, at) { n, IN(s), V_INSERT, at, TW_SP_OPAQUE, 0, true }
#define EXISTING(n, s) { n, IN(s), V_EXISTING, 0, TW_SP_REQ_START, 0, false }
#define REFUSE(n, s, why) { n, IN(s), V_REFUSED, why, TW_SP_OPAQUE, 0, false }
#define SPLIT(n, s) { n, IN(s), V_SPLIT, 0, -1, 0, false }
#define UNFRAMED(n, s) { n, IN(s), V_UNFRAMED, 0, TW_SP_OPAQUE, 0, false }

#define RS TW_SP_REQ_START
#define BODY TW_SP_BODY_LEN
#define CHUNKS TW_SP_CHUNK_SIZE

#define TP "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static const struct gate_case cases[] = {
	/* ---- valid heads: a header at the end of the request line ---- */
	INSERT("GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 16, RS, 0),
	INSERT("GET minimal", "GET / HTTP/1.1\r\n\r\n", 16, RS, 0),
	INSERT("HEAD", "HEAD /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n", 27, RS, 0),
	INSERT("POST CL body", "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
	       23, BODY, 5),
	INSERT("PUT CL body elsewhere", "PUT /r/1 HTTP/1.1\r\nContent-Length: 12\r\n\r\n", 19, BODY,
	       12),
	INSERT("DELETE", "DELETE /r/1 HTTP/1.1\r\nHost: a\r\n\r\n", 22, RS, 0),
	INSERT("PATCH", "PATCH /r/1 HTTP/1.1\r\nContent-Type: application/json\r\n"
			"Content-Length: 2\r\n\r\n{}", 21, BODY, 2),
	INSERT("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 20, RS, 0),
	INSERT("OPTIONS origin", "OPTIONS /x HTTP/1.1\r\n\r\n", 21, RS, 0),
	INSERT("TRACE", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 18, RS, 0),
	TUNNEL("CONNECT host:port",
	       "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 34),
	TUNNEL("CONNECT [v6]:port", "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n", 37),
	TUNNEL("CONNECT v4 HTTP/1.0", "CONNECT 10.0.0.1:443 HTTP/1.0\r\n\r\n", 31),
	INSERT("M-SEARCH", "M-SEARCH / HTTP/1.1\r\nST: ssdp:all\r\n\r\n", 21, RS, 0),
	INSERT("PROPFIND", "PROPFIND /dav/ HTTP/1.1\r\nDepth: 1\r\n\r\n", 25, RS, 0),
	INSERT("lowercase token method", "get / HTTP/1.1\r\n\r\n", 16, RS, 0),
	INSERT("lowercase connect is no CONNECT", "connect example.com:443 HTTP/1.1\r\n\r\n", 34,
	       RS, 0),
	INSERT("every tchar in a method", "X!#$%&'*+-.^_`|~9 / HTTP/1.1\r\n\r\n", 30, RS, 0),
	INSERT("method of 24", "ABCDEFGHIJKLMNOPQRSTUVWX / HTTP/1.1\r\n\r\n", 37, RS, 0),
	INSERT("PRI with origin-form, HTTP/1.1", "PRI / HTTP/1.1\r\n\r\n", 16, RS, 0),
	INSERT("origin-form with query", "GET /search?q=a+b&lang=en&x=%20[1] HTTP/1.1\r\nHost: a\r\n\r\n",
	       45, RS, 0),
	INSERT("absolute-form", "GET http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
	       44, RS, 0),
	INSERT("absolute-form uppercase scheme", "GET HTTPS://x/ HTTP/1.1\r\n\r\n", 25, RS, 0),
	INSERT("HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", 16, RS, 0),
	INSERT("HTTP/1.0 with headers", "GET /old HTTP/1.0\r\nUser-Agent: x/1\r\nAccept: */*\r\n\r\n",
	       19, RS, 0),
	INSERT("HTAB and OWS in values",
	       "GET / HTTP/1.1\r\nHost:\t a \t\r\nX-Empty:\r\nAccept:  */*\t\r\nX-Tab: a\tb\r\n\r\n", 16,
	       RS, 0),
	INSERT("obs-text in values", "GET / HTTP/1.1\r\nX-Name: caf\xc3\xa9 \x80\xff\r\nX-All: "
				 "\x80\x81\xfe\xff\x80\x81\xfe\xff\x80\r\n\r\n", 16, RS, 0),
	INSERT("header name of every tchar", "GET / HTTP/1.1\r\nX!#$%&'*+-.^_`|~0: v\r\n\r\n", 16, RS,
	       0),
	INSERT("long header value", "GET / HTTP/1.1\r\nCookie: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
				"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc=1\r\n\r\n",
	       16, RS, 0),
	INSERT("Content-Length: 0", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 17, RS, 0),
	INSERT("Content-Length with OWS", "POST / HTTP/1.1\r\nContent-Length:  7 \t\r\n\r\n", 17,
	       BODY, 7),
	INSERT("CONTENT-LENGTH uppercase", "POST / HTTP/1.1\r\nCONTENT-LENGTH: 3\r\n\r\nabc", 17,
	       BODY, 3),
	INSERT("Content-Length twice, equal", "POST / HTTP/1.1\r\nContent-Length: 5\r\n"
					      "Content-Length: 5\r\n\r\n", 17, BODY, 5),
	INSERT("Content-Length large", "POST / HTTP/1.1\r\nContent-Length: 17592186044416\r\n\r\n",
	       17, BODY, 17592186044416ULL),
	INSERT("chunked", "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	       18, CHUNKS, 0),
	INSERT("gzip, chunked", "POST /u HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 18,
	       CHUNKS, 0),
	INSERT("CHUNKED, Transfer-Encoding twice", "POST /u HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
						   "transfer-encoding: CHUNKED\r\n\r\n", 18, CHUNKS, 0),
	INSERT("chunked wins over Content-Length", "POST /u HTTP/1.1\r\nContent-Length: 9\r\n"
						   "Transfer-Encoding: chunked\r\n\r\n", 18, CHUNKS, 0),
	TUNNEL("Upgrade: websocket", "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
				     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				     "Sec-WebSocket-Version: 13\r\n\r\n", 20),
	TUNNEL("Upgrade: h2c", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
			       "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n", 16),
	INSERT("tracestate alone", "GET / HTTP/1.1\r\ntracestate: a=b\r\n\r\n", 16, RS, 0),
	INSERT("names close to the ones it reads", "GET / HTTP/1.1\r\nContent-Lengths: x\r\n"
						   "Content-Lengt: y\r\nTraceparent-X: z\r\nUpgrades: w\r\n"
						   "Transfer-Encodings: gzip\r\n\r\n", 16, RS, 0),
	INSERT("HTTP/1.0 then bytes of the next request", "GET / HTTP/1.0\r\n\r\nGET /2 HTT", 16,
	       RS, 0),
	EXISTING("traceparent present", "GET / HTTP/1.1\r\ntraceparent: " TP "\r\n\r\n"),
	EXISTING("empty traceparent after a tracestate",
		 "GET / HTTP/1.1\r\ntracestate: abcdefgh\r\ntraceparent:  \r\n\r\n"),
	EXISTING("TraceParent mixed case", "GET / HTTP/1.1\r\nHost: a\r\nTraceParent:" TP "\r\n\r\n"),

	/* ---- heads the window does not end ---- */
	SPLIT("no end of head", "GET / HTTP/1.1\r\nHost: a\r\n"),
	SPLIT("in the version", "GET / HTT"),
	SPLIT("one byte", "G"),
	SPLIT("head CR without LF yet", "GET / HTTP/1.1\r\n\r"),
	SPLIT("value CR without LF yet", "GET / HTTP/1.1\r\nHost: a\r"),
	SPLIT("method only", "OPTIONS"),

	/* ---- HTTP/1.x heads the framer cannot follow ---- */
	UNFRAMED("Transfer-Encoding: gzip", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
	UNFRAMED("chunked, gzip", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
	UNFRAMED("chunkedx", "POST / HTTP/1.1\r\nTransfer-Encoding: chunkedx\r\n\r\n"),
	UNFRAMED("Content-Length: abc", "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
	UNFRAMED("Content-Length: -1", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
	UNFRAMED("Content-Length: 1 2", "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"),
	UNFRAMED("Content-Length: 5, 5", "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"),
	UNFRAMED("Content-Length empty", "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n"),
	UNFRAMED("Content-Length conflicting", "POST / HTTP/1.1\r\nContent-Length: 5\r\n"
					       "Content-Length: 6\r\n\r\n"),
	UNFRAMED("Content-Length over 2^44", "POST / HTTP/1.1\r\nContent-Length: 17592186044417\r\n\r\n"),
	UNFRAMED("Content-Length huge", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"),

	/* ---- refused: not an HTTP/1.x request ---- */
	REFUSE("h2c preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", TW_REJ_H2C),
	REFUSE("PRI * HTTP/1.1", "PRI * HTTP/1.1\r\n\r\n", TW_REJ_H2C),
	REFUSE("PRI / HTTP/2.0", "PRI / HTTP/2.0\r\n\r\n", TW_REJ_H2C),
	REFUSE("TLS 1.2 ClientHello",
	       "\x16\x03\x01\x00\xc4\x01\x00\x00\xc0\x03\x03\x5b\x1e\x2a\x8f\x00\x11\x22\x33"
	       "\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x00\x11\x22\x33\x44\x55",
	       TW_REJ_TLS),
	REFUSE("TLS record, one byte", "\x16", TW_REJ_TLS),
	REFUSE("SSLv2 hello", "\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10", TW_REJ_METHOD),
	REFUSE("RTSP/1.0", "OPTIONS rtsp://cam.example/stream RTSP/1.0\r\nCSeq: 1\r\n\r\n",
	       TW_REJ_VERSION),
	REFUSE("RTSP DESCRIBE", "DESCRIBE rtsp://cam/s RTSP/1.0\r\nCSeq: 2\r\n\r\n", TW_REJ_VERSION),
	REFUSE("SIP/2.0", "INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/TCP x\r\n\r\n",
	       TW_REJ_VERSION),
	REFUSE("SIP REGISTER", "REGISTER sip:registrar.example SIP/2.0\r\n\r\n", TW_REJ_VERSION),
	REFUSE("ICAP/1.0", "REQMOD icap://icap.example.net/filter ICAP/1.0\r\nHost: x\r\n\r\n",
	       TW_REJ_VERSION),
	REFUSE("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", TW_REJ_VERSION),
	REFUSE("HTTP/3.0", "GET / HTTP/3.0\r\n\r\n", TW_REJ_VERSION),
	REFUSE("HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", TW_REJ_VERSION),
	REFUSE("HTTP/1.x", "GET / HTTP/1.x\r\n\r\n", TW_REJ_VERSION),
	REFUSE("http/1.1 lowercase", "GET / http/1.1\r\n\r\n", TW_REJ_VERSION),
	REFUSE("HTTP/0.9: no version", "GET /\r\n", TW_REJ_VERSION),
	REFUSE("no version, bare LF", "GET /index.html\n", TW_REJ_VERSION),
	/* the eight version bytes matched: anything but CRLF is a line end fault */
	REFUSE("HTTP/1.10", "GET / HTTP/1.10\r\n\r\n", TW_REJ_LINE_END),
	REFUSE("SP after the version", "GET / HTTP/1.1 \r\n\r\n", TW_REJ_LINE_END),
	REFUSE("two spaces after the method", "GET  / HTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("two spaces before the version", "GET /  HTTP/1.1\r\n\r\n", TW_REJ_VERSION),
	REFUSE("tab after the method", "GET\t/ HTTP/1.1\r\n\r\n", TW_REJ_METHOD),
	REFUSE("tab after the target", "GET /\tHTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("leading SP", " GET / HTTP/1.1\r\n\r\n", TW_REJ_METHOD),
	REFUSE("leading CRLF", "\r\nGET / HTTP/1.1\r\n\r\n", TW_REJ_METHOD),
	REFUSE("bare LF after the request line", "GET / HTTP/1.1\nHost: a\n\n", TW_REJ_LINE_END),
	REFUSE("bare LF after a field", "GET / HTTP/1.1\r\nHost: a\n\r\n", TW_REJ_LINE_END),
	REFUSE("bare LF ending the head", "GET / HTTP/1.1\r\nHost: a\r\n\n", TW_REJ_LINE_END),
	REFUSE("bare LF in a value", "GET / HTTP/1.1\r\nX: a\nb\r\n\r\n", TW_REJ_LINE_END),
	REFUSE("bare CR after the request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", TW_REJ_LINE_END),
	REFUSE("CR CR LF after the request line", "GET / HTTP/1.1\r\r\n\r\n", TW_REJ_LINE_END),
	REFUSE("CR not followed by LF in a value", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
	       TW_REJ_LINE_END),
	REFUSE("CR then a name at the head end", "GET / HTTP/1.1\r\n\rX: a\r\n\r\n", TW_REJ_LINE_END),
	REFUSE("CR CR LF ending the head", "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", TW_REJ_LINE_END),
	REFUSE("CR in the target", "GET /a\rb HTTP/1.1\r\n\r\n", TW_REJ_VERSION),
	REFUSE("NUL in the target", "GET /a\0b HTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("DEL in the target", "GET /a\x7f" "b HTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("ESC in the target", "GET /a\x1b[0m HTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("UTF-8 in the target", "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("0x80 in a long target", "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x80 HTTP/1.1\r\n\r\n",
	       TW_REJ_TARGET),
	REFUSE("NUL in a name", "GET / HTTP/1.1\r\nX\0Y: a\r\n\r\n", TW_REJ_HEADER),
	REFUSE("NUL in a value", "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", TW_REJ_HEADER),
	REFUSE("DEL in a value", "GET / HTTP/1.1\r\nX: a\x7f" "b\r\n\r\n", TW_REJ_HEADER),
	REFUSE("SOH in a value", "GET / HTTP/1.1\r\nX: \x01\r\n\r\n", TW_REJ_HEADER),
	REFUSE("US in a long value", "GET / HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaa\x1f\r\n\r\n",
	       TW_REJ_HEADER),
	REFUSE("NUL in a traceparent value", "GET / HTTP/1.1\r\ntraceparent: 00-\0\r\n\r\n",
	       TW_REJ_HEADER),
	REFUSE("DEL in a Content-Length value", "POST / HTTP/1.1\r\nContent-Length: \x7f\r\n\r\n",
	       TW_REJ_HEADER),
	REFUSE("SP before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", TW_REJ_HEADER),
	REFUSE("HTAB before the colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", TW_REJ_HEADER),
	REFUSE("obs-fold SP", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", TW_REJ_HEADER),
	REFUSE("obs-fold HTAB", "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", TW_REJ_HEADER),
	REFUSE("empty name", "GET / HTTP/1.1\r\n: a\r\n\r\n", TW_REJ_HEADER),
	REFUSE("name without colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", TW_REJ_HEADER),
	REFUSE("non-tchar in a name", "GET / HTTP/1.1\r\nX(Y): a\r\n\r\n", TW_REJ_HEADER),
	REFUSE("UTF-8 in a name", "GET / HTTP/1.1\r\nX\xc3\xa9: a\r\n\r\n", TW_REJ_HEADER),
	REFUSE("* for GET", "GET * HTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("* for M-SEARCH", "M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n", TW_REJ_TARGET),
	REFUSE("* for lowercase options", "options * HTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("OPTIONS *x", "OPTIONS *x HTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("CONNECT with origin-form", "CONNECT / HTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("CONNECT *", "CONNECT * HTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("CONNECT with no target", "CONNECT  HTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("target from a digit", "GET 1.2.3.4/ HTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("target from ?", "GET ?q=1 HTTP/1.1\r\n\r\n", TW_REJ_TARGET),
	REFUSE("method of 25", "ABCDEFGHIJKLMNOPQRSTUVWXY / HTTP/1.1\r\n\r\n", TW_REJ_METHOD),
	REFUSE("method with /", "HTTP/1.1 200 OK\r\n\r\n", TW_REJ_METHOD),
	REFUSE("binary garbage", "\x00\x01\x02\x03\xff\xfe\xfd", TW_REJ_METHOD),
	REFUSE("high bytes", "\xde\xad\xbe\xef\xca\xfe\xba\xbe", TW_REJ_METHOD),
	REFUSE("Redis RESP PING", "*1\r\n$4\r\nPING\r\n", TW_REJ_METHOD),
	REFUSE("Redis inline PING", "PING\r\n", TW_REJ_METHOD),
	REFUSE("SMTP EHLO", "EHLO x\r\n", TW_REJ_VERSION),
	REFUSE("SMTP HELO", "HELO mail.example.com\r\n", TW_REJ_VERSION),
	REFUSE("PostgreSQL SSLRequest", "\x00\x00\x00\x08\x04\xd2\x16\x2f", TW_REJ_METHOD),
	REFUSE("PostgreSQL startup", "\x00\x00\x00\x29\x00\x03\x00\x00user\0app\0database\0app\0\0",
	       TW_REJ_METHOD),
	REFUSE("MQTT CONNECT", "\x10\x17\x00\x04MQTT\x04\x02\x00\x3c\x00\x0b" "client-id-1",
	       TW_REJ_METHOD),
	REFUSE("memcached text", "get key1 key2\r\n", TW_REJ_VERSION),
	REFUSE("empty line", "\r\n", TW_REJ_METHOD),
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static bool check_case(const struct gate_case *tc, char *why, size_t whylen)
{
	const uint8_t *in = (const uint8_t *)tc->in;
	struct tw_h1scan s;
	struct req r, rp;

	if (!request_both(in, tc->len, &r, &s, why, whylen))
		return false;
	if (r.v != tc->v || (tc->v == V_REFUSED && r.reject != tc->arg) ||
	    (tc->v == V_INSERT && r.at != tc->arg)) {
		snprintf(why, whylen, "verdict %s (reject %u, at %u), expected %s %u",
			 verdict_names[r.v], r.reject, r.at, verdict_names[tc->v], tc->arg);
		return false;
	}
	if (r.v != V_REFUSED && s.reject != TW_REJ_NONE) {
		snprintf(why, whylen, "reject %u without NOT_HTTP", s.reject);
		return false;
	}
	if (tc->phase >= 0 && s.phase != tc->phase) {
		snprintf(why, whylen, "phase %u, expected %d", s.phase, tc->phase);
		return false;
	}
	if (tc->phase == TW_SP_BODY_LEN && s.remaining != tc->remaining) {
		snprintf(why, whylen, "remaining %llu, expected %llu",
			 (unsigned long long)s.remaining, (unsigned long long)tc->remaining);
		return false;
	}
	if (r.tunnel != tc->tunnel) {
		snprintf(why, whylen, "tunnel %d, expected %d", r.tunnel, tc->tunnel);
		return false;
	}
	if ((r.v == V_INSERT || r.v == V_EXISTING) &&
	    (r.stop != s.head_end || memcmp(in + s.head_end - 4, "\r\n\r\n", 4))) {
		snprintf(why, whylen, "stopped at %u, head_end %u", r.stop, s.head_end);
		return false;
	}
	/* The scan reads no byte ahead: every prefix that ends before the byte
	 * that stopped it is a split head, every longer one the same verdict. */
	for (uint32_t l = 1; l < tc->len; l++) {
		if (!request_both(in, l, &rp, NULL, why, whylen)) {
			size_t k = strlen(why);

			snprintf(why + k, whylen - k, " (prefix of %u)", l);
			return false;
		}
		if (l < r.stop ? rp.v != V_SPLIT
			       : (rp.v != r.v || rp.reject != r.reject || rp.at != r.at ||
				  rp.stop != r.stop)) {
			snprintf(why, whylen, "prefix of %u: %s (reject %u), full input: %s", l,
				 verdict_names[rp.v], rp.reject, verdict_names[r.v]);
			return false;
		}
	}
	return true;
}

static void test_table(void **state)
{
	unsigned failed = 0, n[V_NOINSERT + 1] = { 0 };
	char why[512];

	(void)state;
	assert_true(N_CASES >= 60);
	for (size_t i = 0; i < N_CASES; i++) {
		n[cases[i].v]++;
		if (!check_case(&cases[i], why, sizeof(why))) {
			print_error("case %zu \"%s\": %s\n", i, cases[i].name, why);
			failed++;
		}
	}
	print_message("%zu cases: %u insert, %u existing, %u refused, %u split, %u unframed\n",
		      N_CASES, n[V_INSERT], n[V_EXISTING], n[V_REFUSED], n[V_SPLIT], n[V_UNFRAMED]);
	assert_int_equal(failed, 0);
}

/* Every reason the gate gives is in the table. */
static void test_table_covers_reasons(void **state)
{
	bool seen[TW_REJ_MAX] = { false };

	(void)state;
	for (size_t i = 0; i < N_CASES; i++)
		if (cases[i].v == V_REFUSED && cases[i].arg < TW_REJ_MAX)
			seen[cases[i].arg] = true;
	for (unsigned r = TW_REJ_TLS; r < TW_REJ_MAX; r++)
		assert_true(seen[r]);
}

/* ---- where a traceparent / tracestate value sits ---------------------- */

#ifdef TW_TS_FIELDS /* every tracestate field's value kept */
#define TS_OFF0(s) ((s)->ts_off[0])
#define TS_LEN0(s) ((s)->ts_len[0])
#else
#define TS_OFF0(s) ((s)->ts_off)
#define TS_LEN0(s) ((s)->ts_len)
#endif

static void test_trace_fields(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\ntraceparent: \t" TP " \t\r\n"
				 "traceparent: 00-second\r\ntracestate:  k=v , x=y \r\n"
				 "TRACESTATE: z=1\r\n\r\n";
	const char *tp = strstr(in, TP), *ts = strstr(in, "k=v");
	struct tw_h1scan s;
	struct req r;
	char why[512];

	(void)state;
	assert_true(request_both((const uint8_t *)in, sizeof(in) - 1, &r, &s, why, sizeof(why)));
	assert_int_equal(r.v, V_EXISTING);
	assert_int_equal(s.n_tp, 2);
	assert_int_equal(s.tp_off, tp - in);
	assert_int_equal(s.tp_len, strlen(TP));
	assert_int_equal(s.n_ts, 2);
	assert_int_equal(TS_OFF0(&s), ts - in);
	assert_int_equal(TS_LEN0(&s), strlen("k=v , x=y"));
	assert_int_equal(s.reqline_end, 16);
	assert_int_equal(s.head_end, sizeof(in) - 1);
}

/* ---- one window: TW_SCAN_WIN bytes of head ---------------------------- */

/* "GET /aaa... HTTP/1.1\r\nX-Long: bbb...\r\n\r\n" of exactly len bytes. */
static uint32_t make_head(uint8_t *buf, uint32_t len, uint32_t target_len)
{
	uint32_t o = 0, fixed;

	o += sprintf((char *)buf, "GET /");
	memset(buf + o, 'a', target_len);
	o += target_len;
	o += sprintf((char *)buf + o, " HTTP/1.1\r\nX-Long: ");
	fixed = o + 4;
	assert_true(len >= fixed);
	memset(buf + o, 'b', len - fixed);
	o += len - fixed;
	memcpy(buf + o, "\r\n\r\n", 4);
	return o + 4;
}

static void test_window_bounds(void **state)
{
	static uint8_t buf[TW_SCAN_WIN + 64];
	char why[512];
	struct req r;

	(void)state;
	for (uint32_t t = 0; t < 600; t += 37) {
		uint32_t rl = 5 + t + 11;

		/* a head filling the window exactly */
		assert_int_equal(make_head(buf, TW_SCAN_WIN, t), TW_SCAN_WIN);
		assert_true(request_both(buf, TW_SCAN_WIN, &r, NULL, why, sizeof(why)));
		assert_int_equal(r.v, V_INSERT);
		assert_int_equal(r.at, rl);
		assert_int_equal(r.used, TW_SCAN_WIN);
		/* ... with more bytes after it */
		memcpy(buf + TW_SCAN_WIN, "GET / HTTP/1.1\r\n\r\n", 18);
		assert_true(request_both(buf, TW_SCAN_WIN + 18, &r, NULL, why, sizeof(why)));
		assert_int_equal(r.v, V_INSERT);
		assert_int_equal(r.used, TW_SCAN_WIN);
		/* one byte more than the window: a split head, too long */
		assert_int_equal(make_head(buf, TW_SCAN_WIN + 1, t), TW_SCAN_WIN + 1);
		assert_true(request_both(buf, TW_SCAN_WIN + 1, &r, NULL, why, sizeof(why)));
		assert_int_equal(r.v, V_SPLIT);
		assert_true(r.too_long);
		assert_int_equal(r.used, TW_SCAN_WIN);
	}
}

/* ---- heads longer than TW_HEAD_LIMIT ---------------------------------- */

#define BIG (TW_HEAD_LIMIT + 256)

/* A head of exactly len bytes of fields (or a long target when in_target),
 * then "GET /next HTTP/1.1\r\n\r\n", sent in pieces of `piece` bytes. */
static void run_long_head(uint32_t len, bool in_target, uint32_t piece, struct conn *cw,
			  struct conn *cb, uint32_t *next_at)
{
	static uint8_t buf[BIG + 64];
	const uint8_t *sends[BIG / 64 + 2];
	uint32_t sizes[BIG / 64 + 2], o, n = 0;

	if (in_target) {
		/* "GET /aaa... HTTP/1.1\r\n\r\n" */
		o = (uint32_t)sprintf((char *)buf, "GET /");
		memset(buf + o, 'a', len - 18);
		o += len - 18;
		memcpy(buf + o, " HTTP/1.1\r\n\r\n", 13);
		o += 13;
	} else {
		/* "GET / HTTP/1.1\r\n" then "X: vvv...\r\n" lines of 200 bytes
		 * and one of 200 to 399 */
		o = (uint32_t)sprintf((char *)buf, "GET / HTTP/1.1\r\n");
		for (;;) {
			uint32_t line = len - o - 2 >= 400 ? 200 : len - o - 2;

			memcpy(buf + o, "X: ", 3);
			memset(buf + o + 3, 'v', line - 5);
			memcpy(buf + o + line - 2, "\r\n", 2);
			o += line;
			if (o == len - 2)
				break;
		}
		memcpy(buf + o, "\r\n", 2);
		o += 2;
	}
	assert_int_equal(o, len);
	*next_at = o + 20;
	o += (uint32_t)sprintf((char *)buf + o, "GET /next HTTP/1.1\r\n\r\n");
	for (uint32_t p = 0; p < o; p += piece) {
		sends[n] = buf + p;
		sizes[n++] = o - p < piece ? o - p : piece;
	}
	assert_true(stream_both(sends, sizes, n, cw, cb));
}

static void test_head_limit(void **state)
{
	static const uint32_t pieces[] = { 4096, 1000, 65536 + 100, 8191 };
	/* past the limit in the last CRLFs, in " HTTP/1.1", in a value or target */
	static const uint32_t extras[] = { 1, 2, 3, 5, 9, 13, 14, 15, 16, 17, 21, 64, 203 };
	static struct conn cw, cb;
	uint32_t next_at;

	(void)state;
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		for (int tgt = 0; tgt < 2; tgt++) {
			/* a head of exactly TW_HEAD_LIMIT bytes is followed */
			run_long_head(TW_HEAD_LIMIT, tgt, pieces[i], &cw, &cb, &next_at);
			if (pieces[i] > TW_HEAD_LIMIT) {
				/* one send: the walk stops after TW_MSG_STEPS windows */
				assert_int_equal(cw.n_ev, 1);
				assert_int_equal(cw.steps_out, 1);
				continue;
			}
			assert_int_equal(cw.n_ev, 2);
			assert_int_equal(cw.ev[0].v, V_SPLIT);
			assert_int_equal(cw.ev[1].v, V_INSERT);
			assert_int_equal(cw.ev[1].at, next_at);
			assert_int_equal(cw.s.phase, TW_SP_REQ_START);
			assert_int_equal(cw.unframed_later, 0);
			/* one byte more is not: unframed, and not refused */
			for (size_t e = 0; e < sizeof(extras) / sizeof(extras[0]); e++) {
				uint32_t extra = extras[e];

				run_long_head(TW_HEAD_LIMIT + extra, tgt, pieces[i], &cw, &cb, &next_at);
				assert_int_equal(cw.n_ev, 1);
				assert_int_equal(cw.ev[0].v, V_SPLIT);
				assert_int_equal(cw.s.phase, TW_SP_OPAQUE);
				assert_int_equal(cw.s.flags & TW_SF_NOT_HTTP, 0);
				assert_int_equal(cw.s.reject, TW_REJ_NONE);
				assert_int_equal(cw.unframed_later, 1);
				assert_int_equal(cb.s.head_len, TW_HEAD_LIMIT + 1);
			}
		}
	}
}

/* ---- several requests: tw_sk_msg's walk -------------------------------- */

struct stream_case {
	const char *name;
	const char *sends[4];
	uint32_t lens[4];
	unsigned n_sends;
	unsigned n_ev;
	struct {
		enum verdict v;
		unsigned arg; /* V_INSERT: stream offset of the header; V_REFUSED: reason */
		bool tunnel;
	} ev[4];
	int phase; /* at the end */
};

#define INS(at) { V_INSERT, at, false }
#define TUN(at) { V_INSERT, at, true }
#define REF(why) { V_REFUSED, why, false }
#define SPL { V_SPLIT, 0, false }
#define EXI { V_EXISTING, 0, false }
#define UNF { V_UNFRAMED, 0, false }
#define SEND1(a) { a }, { sizeof(a) - 1 }, 1
#define SEND2(a, b) { a, b }, { sizeof(a) - 1, sizeof(b) - 1 }, 2
#define SEND3(a, b, c) { a, b, c }, { sizeof(a) - 1, sizeof(b) - 1, sizeof(c) - 1 }, 3

static const struct stream_case streams[] = {
	{ "Content-Length body, then two requests, one send",
	  SEND1("POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
		"GET /b HTTP/1.1\r\nHost: a\r\n\r\n" /* at 44 */
		"GET /c HTTP/1.0\r\n\r\n"),         /* at 72 */
	  3, { INS(18), INS(44 + 17), INS(72 + 17) }, TW_SP_REQ_START },
	{ "chunked body with extension and trailer, then a request",
	  SEND1("POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\n"
		"GET /n HTTP/1.1\r\n\r\n"),
	  2, { INS(18), INS(105 + 17) }, TW_SP_REQ_START },
	{ "body across sends",
	  SEND2("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nhello",
		"worldGET /x HTTP/1.1\r\n\r\n"),
	  2, { INS(17), INS(49 + 17) }, TW_SP_REQ_START },
	{ "chunks across sends",
	  SEND3("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nabc",
		"defgh\r\n", "0\r\n\r\nGET /x HTTP/1.1\r\n\r\n"),
	  2, { INS(17), INS(65 + 17) }, TW_SP_REQ_START },
	{ "head across sends: no header for it, the next one has",
	  SEND2("GET / HTTP/1.1\r\nHo", "st: a\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"),
	  2, { SPL, INS(27 + 17) }, TW_SP_REQ_START },
	{ "a request, then TLS",
	  SEND1("GET / HTTP/1.1\r\n\r\n\x16\x03\x01\x00\x10"),
	  2, { INS(16), REF(TW_REJ_TLS) }, TW_SP_OPAQUE },
	{ "a request, then a bare LF request",
	  SEND2("GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\n\n"),
	  2, { INS(16), REF(TW_REJ_LINE_END) }, TW_SP_OPAQUE },
	{ "Upgrade: the rest is a tunnel",
	  SEND2("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
		"GET / HTTP/1.1\r\n\r\n"),
	  1, { TUN(18) }, TW_SP_OPAQUE },
	{ "CONNECT, then TLS in the tunnel",
	  SEND1("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
		"\x16\x03\x01\x00\xc4\x01\x00\x00\xc0"),
	  1, { TUN(34) }, TW_SP_OPAQUE },
	{ "CONNECT with a body: a tunnel after it",
	  SEND1("CONNECT h:1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET / HTTP/1.1\r\n\r\n"),
	  1, { TUN(22) }, TW_SP_OPAQUE },
	{ "Upgrade with chunked body: a tunnel after it",
	  SEND2("POST / HTTP/1.1\r\nUpgrade: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n",
		"a\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
	  1, { TUN(17) }, TW_SP_OPAQUE },
	{ "traceparent already there, then one without",
	  SEND1("GET / HTTP/1.1\r\ntraceparent: " TP "\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
	  2, { EXI, INS(88 + 16) }, TW_SP_REQ_START },
	{ "unframed body: the next request is not looked at",
	  SEND1("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxxGET / HTTP/1.1\r\n\r\n"),
	  1, { UNF }, TW_SP_OPAQUE },
	{ "bad chunk size line: unframed later",
	  SEND1("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
	  1, { INS(17) }, TW_SP_OPAQUE },
	{ "chunk data not ended by CRLF: unframed later",
	  SEND1("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY"),
	  1, { INS(17) }, TW_SP_OPAQUE },
	/* the next send goes on in the middle of a head (tw_msg_continue): its
	 * first word may be on the fast path */
	{ "OPTIONS * then more target in the next send",
	  SEND2("OPTIONS *", "abcdefgh HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
	  1, { SPL }, TW_SP_OPAQUE },
	{ "OPTIONS * then SP in the next send",
	  SEND2("OPTIONS *", " HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
	  2, { SPL, INS(22 + 16) }, TW_SP_REQ_START },
	{ "target across sends",
	  SEND2("GET /ab", "cdefghijklmnopqr HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
	  2, { SPL, INS(36 + 16) }, TW_SP_REQ_START },
	{ "target across sends, DEL in the next",
	  SEND2("GET /ab", "cdefghi\x7fjklmnopq HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
	  1, { SPL }, TW_SP_OPAQUE },
	{ "CONNECT target across sends",
	  SEND2("CONNECT ", "example.com:443 HTTP/1.1\r\n\r\n"),
	  1, { SPL }, TW_SP_OPAQUE },
	{ "value across sends",
	  SEND2("GET / HTTP/1.1\r\nCookie: a", "bcdefghijklmnopq\x80\xff\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
	  2, { SPL, INS(47 + 16) }, TW_SP_REQ_START },
	{ "value across sends, SOH in the next",
	  SEND2("GET / HTTP/1.1\r\nCookie: a", "bcdefgh\x01ijklmnopq\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
	  1, { SPL }, TW_SP_OPAQUE },
	{ "method across sends",
	  SEND2("GE", "T / HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET / HTTP/1.1\r\n\r\n"),
	  2, { SPL, INS(39 + 16) }, TW_SP_REQ_START },
	{ "NUL in a value in the send after a split head: passed",
	  SEND2("GET / HTTP/1.1\r\nX: a", "\0\r\n\r\n"),
	  1, { SPL }, TW_SP_OPAQUE },
};

#define N_STREAMS (sizeof(streams) / sizeof(streams[0]))

static void test_streams(void **state)
{
	static struct conn cw, cb;
	unsigned failed = 0;

	(void)state;
	for (size_t i = 0; i < N_STREAMS; i++) {
		const struct stream_case *sc = &streams[i];
		const uint8_t *sends[4];
		bool ok;

		for (unsigned k = 0; k < sc->n_sends; k++)
			sends[k] = (const uint8_t *)sc->sends[k];
		ok = stream_both(sends, sc->lens, sc->n_sends, &cw, &cb) && cw.n_ev == sc->n_ev &&
		     cw.s.phase == sc->phase && !cw.steps_out;
		for (unsigned k = 0; ok && k < sc->n_ev; k++) {
			const struct ev *e = &cw.ev[k];

			ok = e->v == sc->ev[k].v && e->tunnel == sc->ev[k].tunnel &&
			     (e->v != V_INSERT || e->at == sc->ev[k].arg) &&
			     (e->v != V_REFUSED || e->reject == sc->ev[k].arg);
		}
		if (!ok) {
			print_error("stream %zu \"%s\": %u events (byte-wise %u), phase %u:\n", i,
				    sc->name, cw.n_ev, cb.n_ev, cw.s.phase);
			for (unsigned k = 0; k < cw.n_ev; k++)
				print_error("  %s reject %u tunnel %d start %llu at %llu\n",
					    verdict_names[cw.ev[k].v], cw.ev[k].reject, cw.ev[k].tunnel,
					    (unsigned long long)cw.ev[k].start,
					    (unsigned long long)cw.ev[k].at);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* More requests in one send than TW_MSG_STEPS: the rest is passed. */
static void test_steps_bound(void **state)
{
	static uint8_t buf[80 * 18];
	static struct conn cw, cb;
	const uint8_t *sends[1] = { buf };
	uint32_t sizes[1];

	(void)state;
	for (unsigned i = 0; i < 80; i++)
		memcpy(buf + i * 18, "GET / HTTP/1.1\r\n\r\n", 18);
	for (unsigned n = MSG_STEPS - 1; n <= MSG_STEPS + 1; n++) {
		sizes[0] = n * 18;
		assert_true(stream_both(sends, sizes, 1, &cw, &cb));
		assert_int_equal(cw.n_ev, n < MSG_STEPS ? n : MSG_STEPS);
		assert_int_equal(cw.ev[cw.n_ev - 1].at, (cw.n_ev - 1) * 18 + 16);
		assert_int_equal(cw.steps_out, n > MSG_STEPS);
	}
}

/* ---- the SWAR fast paths ---------------------------------------------- */

static bool ref_visible(uint64_t w)
{
	for (int k = 0; k < 8; k++) {
		uint8_t b = w >> (8 * k);

		if (b < 0x21 || b > 0x7e)
			return false;
	}
	return true;
}

static bool ref_plain(uint64_t w)
{
	for (int k = 0; k < 8; k++) {
		uint8_t b = w >> (8 * k);

		if (b < 0x20 || b == 0x7f)
			return false;
	}
	return true;
}

static bool ref_has(uint64_t w, uint8_t c)
{
	for (int k = 0; k < 8; k++)
		if ((uint8_t)(w >> (8 * k)) == c)
			return true;
	return false;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void) /* xorshift64* */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Bytes where a per-byte class changes, and their neighbours. */
static const uint8_t edges[] = {
	0x00, 0x01, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x1f, 0x20, 0x21, 0x22, 0x2f, 0x3a,
	0x40, 0x41, 0x5a, 0x5b, 0x60, 0x61, 0x7a, 0x7e, 0x7f, 0x80, 0x81, 0x9f, 0xa0, 0xc0, 0xdf,
	0xe0, 0xfe, 0xff,
};

static uint64_t put_byte(uint64_t w, int k, uint8_t b)
{
	return (w & ~(0xffULL << (8 * k))) | ((uint64_t)b << (8 * k));
}

static void check_word(uint64_t w)
{
	if (tw_word_visible(w) != ref_visible(w) || tw_word_plain_value(w) != ref_plain(w) ||
	    tw_word_has(w, 0x7f) != ref_has(w, 0x7f) || tw_word_has(w, '\r') != ref_has(w, '\r'))
		fail_msg("word 0x%016llx: visible %d/%d plain %d/%d", (unsigned long long)w,
			 tw_word_visible(w), ref_visible(w), tw_word_plain_value(w), ref_plain(w));
}

/* The word predicates against byte loops: every byte value in every lane,
 * every pair of byte values in every two lanes, edge bytes in all lanes. */
static void test_word_predicates(void **state)
{
	static const uint8_t backs[] = { 'a', 0x21, 0x7e, 0x20, 0x80, 0xff, 0x00, 0x7f };

	(void)state;
	for (size_t bi = 0; bi < sizeof(backs); bi++) {
		uint64_t back = 0x0101010101010101ULL * backs[bi];

		for (int p = 0; p < 8; p++)
			for (unsigned x = 0; x < 256; x++)
				check_word(put_byte(back, p, x));
	}
	for (size_t bi = 0; bi < 2; bi++) {
		uint64_t back = 0x0101010101010101ULL * backs[bi];

		for (int p = 0; p < 8; p++)
			for (int q = p + 1; q < 8; q++)
				for (unsigned x = 0; x < 256; x++)
					for (unsigned y = 0; y < 256; y++)
						check_word(put_byte(put_byte(back, p, x), q, y));
	}
	for (int i = 0; i < 1000000; i++) {
		uint64_t r = rnd(), w = 0;

		for (int k = 0; k < 8; k++)
			w = put_byte(w, k, edges[(r >> (8 * k)) % sizeof(edges)]);
		check_word(w);
		check_word(rnd());
	}
}

static bool is_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Expected verdict of a head whose only odd byte is x. */
static void expect_target_byte(uint8_t x, enum verdict *v, unsigned *why)
{
	*why = TW_REJ_NONE;
	*v = V_INSERT;
	if (x < 0x21 || x > 0x7e) {
		*v = V_REFUSED;
		/* SP ends the target: "qrs..." is no version; CR, LF: no version */
		*why = x == ' ' || x == '\r' || x == '\n' ? TW_REJ_VERSION : TW_REJ_TARGET;
	}
}

static void expect_value_byte(uint8_t x, bool tp, enum verdict *v, unsigned *why)
{
	*why = TW_REJ_NONE;
	*v = tp ? V_EXISTING : V_INSERT;
	if (x == '\r' || x == '\n') {
		*v = V_REFUSED;
		*why = TW_REJ_LINE_END; /* CR then 'q', or a bare LF */
	} else if ((x < 0x20 && x != '\t') || x == 0x7f) {
		*v = V_REFUSED;
		*why = TW_REJ_HEADER;
	}
}

#define TAIL "qrstuvwxyz0123456"

/* Byte x at every lane of a request-target of each form, and of a field
 * value read by nobody, by traceparent and by Content-Length. */
static void test_every_byte_every_lane(void **state)
{
	static const char *const tprefix[] = { "GET /", "GET http://h/", "CONNECT h:",
					       "OPTIONS /", "M-SEARCH p" };
	static const char *const vprefix[] = { "X-Pad: ", "traceparent: ", "X-Pad:\t" };
	uint8_t buf[256];
	unsigned failed = 0, runs = 0;
	char why[512];

	(void)state;
	for (size_t f = 0; f < sizeof(tprefix) / sizeof(tprefix[0]); f++) {
		for (uint32_t pad = 0; pad < 16; pad++) {
			for (unsigned x = 0; x < 256; x++) {
				uint32_t o = (uint32_t)sprintf((char *)buf, "%s", tprefix[f]), at;
				enum verdict v;
				unsigned rj;
				struct req r;

				memset(buf + o, 'p', pad);
				o += pad;
				buf[o++] = x;
				at = o + (uint32_t)sprintf((char *)buf + o, TAIL " HTTP/1.1\r\n");
				o = at + (uint32_t)sprintf((char *)buf + at, "Host: h\r\n\r\n");
				expect_target_byte(x, &v, &rj);
				runs++;
				if (!request_both(buf, o, &r, NULL, why, sizeof(why)) || r.v != v ||
				    r.reject != rj || (v == V_INSERT && r.at != at) ||
				    r.tunnel != (v == V_INSERT && f == 2)) {
					print_error("target %s pad %u byte 0x%02x: %s reject %u at %u %s\n",
						    tprefix[f], pad, x, verdict_names[r.v], r.reject,
						    r.at, why);
					failed++;
				}
			}
		}
	}
	for (size_t f = 0; f < sizeof(vprefix) / sizeof(vprefix[0]); f++) {
		bool tp = vprefix[f][0] == 't';

		for (uint32_t pad = 0; pad < 16; pad++) {
			for (unsigned x = 0; x < 256; x++) {
				uint32_t o = (uint32_t)sprintf((char *)buf, "GET / HTTP/1.1\r\n%s",
							       vprefix[f]), vstart = o;
				struct tw_h1scan s;
				enum verdict v;
				unsigned rj;
				struct req r;

				memset(buf + o, 'v', pad);
				o += pad;
				buf[o++] = x;
				o += (uint32_t)sprintf((char *)buf + o, TAIL "\r\n\r\n");
				expect_value_byte(x, tp, &v, &rj);
				runs++;
				if (!request_both(buf, o, &r, &s, why, sizeof(why)) || r.v != v ||
				    r.reject != rj || (v == V_INSERT && r.at != 16) ||
				    (v == V_EXISTING &&
				     (s.tp_off != vstart + (!pad && (x == ' ' || x == '\t')) ||
				      s.tp_len != o - 4 - s.tp_off))) {
					print_error("value %s pad %u byte 0x%02x: %s reject %u %s\n",
						    vprefix[f], pad, x, verdict_names[r.v], r.reject,
						    why);
					failed++;
				}
			}
		}
	}
	/* Content-Length: only word-wise == byte-wise */
	for (uint32_t pad = 0; pad < 16; pad++) {
		for (unsigned x = 0; x < 256; x++) {
			uint32_t o = (uint32_t)sprintf((char *)buf, "POST / HTTP/1.1\r\nContent-Length: ");
			struct req r;

			memset(buf + o, '1', pad);
			o += pad;
			buf[o++] = x;
			o += (uint32_t)sprintf((char *)buf + o, "0\r\n\r\n");
			runs++;
			if (!request_both(buf, o, &r, NULL, why, sizeof(why))) {
				print_error("Content-Length pad %u byte 0x%02x: %s\n", pad, x, why);
				failed++;
			}
		}
	}
	/* a method: a tchar is part of it, 0x16 first is TLS, SP ends it */
	for (uint32_t pad = 0; pad < 16; pad++) {
		for (unsigned x = 0; x < 256; x++) {
			uint32_t o;
			enum verdict v = V_INSERT;
			unsigned rj = TW_REJ_NONE;
			struct req r;

			memset(buf, 'M', pad);
			o = pad;
			buf[o++] = x;
			o += (uint32_t)sprintf((char *)buf + o, "N / HTTP/1.1\r\n\r\n");
			if (!is_tchar(x) && x != ' ') {
				v = V_REFUSED;
				rj = !pad && x == 0x16 ? TW_REJ_TLS : TW_REJ_METHOD;
			}
			runs++;
			if (!request_both(buf, o, &r, NULL, why, sizeof(why)) ||
			    (x != ' ' && (r.v != v || r.reject != rj))) {
				print_error("method pad %u byte 0x%02x: %s reject %u %s\n", pad, x,
					    verdict_names[r.v], r.reject, why);
				failed++;
			}
		}
	}
	print_message("%u heads with one odd byte\n", runs);
	assert_int_equal(failed, 0);
}

/* Two edge bytes anywhere in one aligned word of a target and of a value:
 * word-wise == byte-wise, and the expected verdict when both are harmless
 * or the first odd one decides alone. */
static void test_two_bytes_one_word(void **state)
{
	uint8_t buf[128];
	unsigned failed = 0, runs = 0;
	char why[512];

	(void)state;
	for (int kind = 0; kind < 2; kind++) {
		for (int p = 0; p < 8; p++) {
			for (int q = p + 1; q < 8; q++) {
				for (size_t xi = 0; xi < sizeof(edges); xi++) {
					for (size_t yi = 0; yi < sizeof(edges); yi++) {
						uint8_t x = edges[xi], y = edges[yi];
						uint32_t o, w0 = kind ? 32 : 16;
						enum verdict vx, vy;
						unsigned rx, ry;
						struct req r;
						bool ok;

						if (kind) {
							o = (uint32_t)sprintf((char *)buf,
									      "GET / HTTP/1.1\r\nX-Pad: ");
						} else {
							o = (uint32_t)sprintf((char *)buf, "GET /");
						}
						memset(buf + o, 'p', w0 + 8 - o);
						buf[w0 + p] = x;
						buf[w0 + q] = y;
						o = w0 + 8;
						o += (uint32_t)sprintf((char *)buf + o, kind ? TAIL "\r\n\r\n"
										: TAIL " HTTP/1.1\r\n\r\n");
						if (kind) {
							expect_value_byte(x, false, &vx, &rx);
							expect_value_byte(y, false, &vy, &ry);
						} else {
							expect_target_byte(x, &vx, &rx);
							expect_target_byte(y, &vy, &ry);
						}
						runs++;
						ok = request_both(buf, o, &r, NULL, why, sizeof(why));
						/* x odd and not a line end: it decides */
						if (ok && vx == V_REFUSED && x != '\r' && x != '\n' && x != ' ')
							ok = r.v == vx && r.reject == rx;
						else if (ok && vx == V_INSERT)
							ok = vy == V_INSERT ? r.v == V_INSERT && r.at == (kind ? 16u : w0 + 8 + 17 + 11)
									    : r.v != V_INSERT;
						if (!ok) {
							print_error("%s lanes %d,%d bytes 0x%02x 0x%02x: %s reject %u %s\n",
								    kind ? "value" : "target", p, q, x, y,
								    verdict_names[r.v], r.reject, why);
							failed++;
						}
					}
				}
			}
		}
	}
	print_message("%u heads with two edge bytes in one word\n", runs);
	assert_int_equal(failed, 0);
}

/* ---- random heads ------------------------------------------------------ */

/* The first R_VALID entries of each list make a valid request. */
#define R_VALID 4
static const char *const r_methods[] = { "GET", "POST", "OPTIONS", "M-SEARCH", "CONNECT", "PRI",
					 "get", "" };
static const char *const r_targets[] = { "/", "/a/b?c=d&e=%20", "http://h:1/p",
					 "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "*", "h:443",
					 "[::1]:80", "" };
static const char *const r_versions[] = { "HTTP/1.1", "HTTP/1.0", "HTTP/1.1", "HTTP/1.1",
					  "HTTP/2.0", "RTSP/1.0", "" };
static const char *const r_fields[] = {
	"Host: h", "Content-Length: 5", "Content-Length: 0", "Transfer-Encoding: chunked",
	"Transfer-Encoding: gzip", "Upgrade: websocket", "traceparent: " TP, "tracestate: a=b",
	"X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "X:\t v \t",
	"Cookie: \x80\x81\xff\xfe" "abcdefgh\x80", "",
};
static const char *const r_bodies[] = { "hello", "5\r\nhello\r\n0\r\n\r\n", "", "0\r\n\r\n" };

#define PICK(list)                                                                        \
	(list)[rnd() % 4 ? rnd() % R_VALID : rnd() % (sizeof(list) / sizeof((list)[0]))]

static uint32_t random_request(uint8_t *buf, uint32_t cap)
{
	char tmp[1024];
	int n = snprintf(tmp, sizeof(tmp), "%s %s %s\r\n", PICK(r_methods), PICK(r_targets),
			 PICK(r_versions));
	uint32_t len;

	for (unsigned f = rnd() % 5; f; f--)
		n += snprintf(tmp + n, sizeof(tmp) - n, "%s\r\n",
			      r_fields[rnd() % (sizeof(r_fields) / sizeof(r_fields[0]))]);
	n += snprintf(tmp + n, sizeof(tmp) - n, "\r\n%s",
		      r_bodies[rnd() % (sizeof(r_bodies) / sizeof(r_bodies[0]))]);
	len = (uint32_t)n < cap ? (uint32_t)n : cap;
	memcpy(buf, tmp, len);
	/* a few bytes changed, dropped or doubled */
	for (unsigned m = rnd() % 2 ? rnd() % 4 : 0; m && len > 1; m--) {
		uint32_t at = rnd() % len;
		uint8_t b = rnd() & 1 ? edges[rnd() % sizeof(edges)] : (uint8_t)rnd();

		switch (rnd() % 3) {
		case 0:
			buf[at] = b;
			break;
		case 1:
			memmove(buf + at, buf + at + 1, len - at - 1);
			len--;
			break;
		default:
			if (len < cap) {
				memmove(buf + at + 1, buf + at, len - at);
				len++;
			}
		}
	}
	return len;
}

static void test_random(void **state)
{
	static uint8_t buf[4 * 1024];
	static struct conn cw, cb;
	const char *env = getenv("H1GATE_RANDOM");
	unsigned rounds = env ? (unsigned)strtoul(env, NULL, 0) : 4000, failed = 0;
	unsigned nv[V_NOINSERT + 1] = { 0 };
	char why[512];

	(void)state;
	for (unsigned i = 0; i < rounds; i++) {
		const uint8_t *sends[8];
		uint32_t sizes[8], len = 0, n = 0, p = 0;
		struct req r;

		for (unsigned k = 1 + rnd() % 4; k; k--)
			len += random_request(buf + len, sizeof(buf) - len);
		if (!request_both(buf, len, &r, NULL, why, sizeof(why))) {
			print_error("random %u: %s\n", i, why);
			failed++;
		}
		nv[r.v]++;
		while (p < len && n < 8) {
			uint32_t sz = n == 7 ? len - p : 1 + rnd() % (len - p);

			sends[n] = buf + p;
			sizes[n++] = sz;
			p += sz;
		}
		if (!stream_both(sends, sizes, n, &cw, &cb)) {
			print_error("random %u: word-wise and byte-wise streams differ\n", i);
			failed++;
		}
	}
	print_message("%u random inputs: %u insert, %u existing, %u refused, %u split, %u unframed\n",
		      rounds, nv[V_INSERT], nv[V_EXISTING], nv[V_REFUSED], nv[V_SPLIT],
		      nv[V_UNFRAMED]);
	assert_int_equal(nv[V_NOINSERT], 0);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_covers_reasons),
		cmocka_unit_test(test_trace_fields),
		cmocka_unit_test(test_window_bounds),
		cmocka_unit_test(test_head_limit),
		cmocka_unit_test(test_streams),
		cmocka_unit_test(test_steps_bound),
		cmocka_unit_test(test_word_predicates),
		cmocka_unit_test(test_every_byte_every_lane),
		cmocka_unit_test(test_two_bytes_one_word),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
