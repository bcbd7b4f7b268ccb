// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the kernel-side HTTP/1.x request gate
 * (bpf/lib/h1scan.h), the code the sk_msg program runs.
 *
 * Input: the bytes an application sends on one connection. Each input:
 *  - runs the request scan the way tw_msg_request does (up to TW_SCAN_WIN
 *    bytes, 8-byte words to tw_scan_word, nb < 8 for the tail, stale bytes
 *    past the end of the copy) and byte by byte through tw_scan_byte: the
 *    whole scan state, the stop index and the verdict must be identical;
 *  - checks the verdict against a reference written from RFC 9112 3 and 5
 *    (plus the gate's documented limits: method <= 24 bytes, target forms
 *    by their first byte, Content-Length <= 2^44): an accepted head must
 *    satisfy  token SP target SP "HTTP/1." [01] CRLF *(token ":" value CRLF)
 *    CRLF, a refused one must break it at the very byte the scan stopped at,
 *    with the reason the reference gives, an incomplete one must be a valid
 *    prefix;
 *  - walks the whole input as tw_sk_msg does (bodies skipped, heads and
 *    chunk lines continued across sends), in one send and in sends cut at
 *    points taken from the input, word-wise and byte-wise: the same
 *    requests, verdicts and insertion offsets; and every request given a
 *    header in the one-send walk is a valid head by the reference.
 *
 * Build: clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Ibpf \
 *          tests/fuzz/fuzz_h1gate.c -o fuzz_h1gate
 * Run:   ./fuzz_h1gate tests/fuzz/corpus/h1gate
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bpf/lib/h1scan.h"

#include "fuzz_check.h"

#define MSG_STEPS 64 /* TW_MSG_STEPS in bpf/lib/h1inject.h */

/* ---- harness: tw_msg_request and tw_sk_msg, without the writes -------- */

enum feed { FEED_WORD, FEED_BYTE };
enum verdict { V_INSERT, V_EXISTING, V_REFUSED, V_SPLIT, V_UNFRAMED, V_NOINSERT };

struct req {
	enum verdict v;
	uint8_t reject;
	uint32_t at, stop, used;
	bool tunnel, too_long;
};

static uint8_t scratch[2 * TW_SCAN_WIN];

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
	for (uint32_t i = 0; i < TW_SCAN_WIN / 8; i++) {
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
	if ((s->flags & TW_SF_HEAD_DONE) && (s->flags & TW_SF_SWITCH))
		r.tunnel = true;
	else if (s->phase == TW_SP_OPAQUE) {
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

static bool same_scan(const struct tw_h1scan *a, const struct tw_h1scan *b)
{
	/* past TW_HEAD_LIMIT a fast-path word counts 8 bytes at once */
	if (a->head_len > TW_HEAD_LIMIT || b->head_len > TW_HEAD_LIMIT)
		return a->phase == TW_SP_OPAQUE && b->phase == TW_SP_OPAQUE &&
		       a->flags == b->flags && a->reject == b->reject;
	return !memcmp(a, b, sizeof(*a));
}

#define MAX_EV 256

struct ev {
	enum verdict v;
	uint8_t reject;
	bool tunnel;
	uint64_t start, at;
};

struct conn {
	struct tw_h1scan s;
	uint64_t off;
	struct ev ev[MAX_EV];
	unsigned n_ev, unframed_later, steps_out;
};

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
		} else {
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

static void check_same_conn(const struct conn *a, const struct conn *b)
{
	CHECK(a->n_ev == b->n_ev);
	CHECK(a->off == b->off);
	CHECK(a->unframed_later == b->unframed_later);
	CHECK(a->steps_out == b->steps_out);
	CHECK(same_scan(&a->s, &b->s));
	for (unsigned i = 0; i < a->n_ev; i++) {
		CHECK(a->ev[i].v == b->ev[i].v);
		CHECK(a->ev[i].reject == b->ev[i].reject);
		CHECK(a->ev[i].tunnel == b->ev[i].tunnel);
		CHECK(a->ev[i].start == b->ev[i].start);
		CHECK(a->ev[i].at == b->ev[i].at);
	}
}

/* ---- reference: RFC 9112 request head, one plain pass ------------------ */

enum ref_kind {
	R_OK,       /* a complete, valid head */
	R_BAD,      /* byte pos breaks the grammar */
	R_UNFRAMED, /* byte pos makes the body length unknowable (Content-Length) */
	R_SHORT,    /* a valid prefix: the data ends first */
};

enum ref_body { B_NONE, B_LENGTH, B_CHUNKED, B_UNKNOWN };

struct ref {
	enum ref_kind kind;
	uint32_t pos;
	uint8_t reason;
	uint32_t reqline_end, head_end;
	bool connect, upgrade, te, cl;
	int te_last;       /* last Transfer-Encoding field: 1 chunked, 0 not, -1 not judged */
	uint64_t clv;
	unsigned n_tp;
	bool tp_empty;     /* the first traceparent value was empty */
	uint32_t tp_off, tp_len;
};

static bool ref_tchar(uint8_t c)
{
	static const char specials[] = "!#$%&'*+-.^_`|~";

	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && memchr(specials, c, sizeof(specials) - 1);
}

static bool ref_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ref_ieq(const uint8_t *a, size_t n, const char *lower)
{
	if (n != strlen(lower))
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = a[i] >= 'A' && a[i] <= 'Z' ? a[i] + 32 : a[i];

		if (c != (uint8_t)lower[i])
			return false;
	}
	return true;
}

static bool ref_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* Is the last element of a Transfer-Encoding list "chunked"? -1 where the
 * gate is deliberately simpler than the list rule (an empty last element,
 * OWS inside an element): not judged. */
static int ref_te_chunked(const uint8_t *v, uint32_t n)
{
	uint32_t s = 0, e;

	for (uint32_t i = 0; i < n; i++)
		if (v[i] == ',')
			s = i + 1;
	e = n;
	while (s < e && ref_ows(v[s]))
		s++;
	while (e > s && ref_ows(v[e - 1]))
		e--;
	if (s == e)
		return -1;
	for (uint32_t i = s; i < e; i++)
		if (ref_ows(v[i]))
			return -1;
	return ref_ieq(v + s, e - s, "chunked");
}

#define REF_END(k, p, why)            \
	do {                          \
		r->kind = (k);        \
		r->pos = (p);         \
		r->reason = (why);    \
		return;               \
	} while (0)
#define NEED(i)                                     \
	do {                                        \
		if ((i) >= n)                       \
			REF_END(R_SHORT, n, 0);     \
	} while (0)

static void ref_head(const uint8_t *d, uint32_t n, struct ref *r)
{
	static const char version[] = "HTTP/1.";
	uint32_t i = 0, mlen;
	bool options, pri, asterisk;

	memset(r, 0, sizeof(*r));
	r->te_last = -1;
	/* method = token, at most TW_METHOD_MAX bytes, then one SP */
	for (;; i++) {
		NEED(i);
		if (d[i] == ' ')
			break;
		if (!ref_tchar(d[i]))
			REF_END(R_BAD, i, i == 0 && d[i] == 0x16 ? TW_REJ_TLS : TW_REJ_METHOD);
		if (i == TW_METHOD_MAX)
			REF_END(R_BAD, i, TW_REJ_METHOD);
	}
	if (i == 0)
		REF_END(R_BAD, 0, TW_REJ_METHOD);
	mlen = i++;
	r->connect = mlen == 7 && !memcmp(d, "CONNECT", 7);
	options = mlen == 7 && !memcmp(d, "OPTIONS", 7);
	pri = mlen == 3 && !memcmp(d, "PRI", 3);

	/* request-target: its form by the first byte, then visible ASCII */
	NEED(i);
	if (r->connect) {
		if (!ref_alpha(d[i]) && !(d[i] >= '0' && d[i] <= '9') && d[i] != '[')
			REF_END(R_BAD, i, TW_REJ_TARGET);
	} else if (d[i] == '*') {
		if (!options)
			REF_END(R_BAD, i, pri ? TW_REJ_H2C : TW_REJ_TARGET);
	} else if (d[i] != '/' && !ref_alpha(d[i])) {
		REF_END(R_BAD, i, TW_REJ_TARGET);
	}
	asterisk = !r->connect && d[i] == '*';
	for (i++;; i++) {
		NEED(i);
		if (d[i] == ' ')
			break;
		if (d[i] == '\r' || d[i] == '\n')
			REF_END(R_BAD, i, TW_REJ_VERSION);
		if (d[i] < 0x21 || d[i] > 0x7e || asterisk)
			REF_END(R_BAD, i, TW_REJ_TARGET);
	}
	i++;

	/* "HTTP/1.0" or "HTTP/1.1", CRLF */
	for (uint32_t k = 0; k < 10; k++, i++) {
		bool ok;

		NEED(i);
		if (k < 7)
			ok = d[i] == (uint8_t)version[k];
		else if (k == 7)
			ok = d[i] == '0' || d[i] == '1';
		else
			ok = d[i] == (k == 8 ? '\r' : '\n');
		if (!ok)
			REF_END(R_BAD, i, k >= 8 ? TW_REJ_LINE_END : pri ? TW_REJ_H2C : TW_REJ_VERSION);
	}
	r->reqline_end = i;

	/* field lines, then CRLF */
	for (;;) {
		uint32_t name, name_len, val, first = UINT32_MAX, last = 0;
		bool is_cl, is_te, is_tp, digits = false, digits_end = false;
		uint64_t num = 0;

		NEED(i);
		if (d[i] == '\r') {
			NEED(i + 1);
			if (d[i + 1] != '\n')
				REF_END(R_BAD, i + 1, TW_REJ_LINE_END);
			r->head_end = i + 2;
			REF_END(R_OK, i + 1, 0);
		}
		if (d[i] == '\n')
			REF_END(R_BAD, i, TW_REJ_LINE_END);
		name = i;
		for (;; i++) {
			NEED(i);
			if (d[i] == ':' && i > name)
				break;
			if (!ref_tchar(d[i]))
				REF_END(R_BAD, i, TW_REJ_HEADER);
		}
		name_len = i - name;
		is_cl = ref_ieq(d + name, name_len, "content-length");
		is_te = ref_ieq(d + name, name_len, "transfer-encoding");
		is_tp = ref_ieq(d + name, name_len, "traceparent");
		if (ref_ieq(d + name, name_len, "upgrade"))
			r->upgrade = true;
		val = ++i;
		for (;; i++) {
			uint8_t c;

			NEED(i);
			c = d[i];
			if (c == '\r')
				break;
			if (c == '\n')
				REF_END(R_BAD, i, TW_REJ_LINE_END);
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				REF_END(R_BAD, i, TW_REJ_HEADER);
			if (!ref_ows(c)) {
				if (first == UINT32_MAX)
					first = i;
				last = i;
			}
			if (!is_cl)
				continue;
			/* Content-Length = OWS 1*DIGIT OWS, <= 2^44 */
			if (c >= '0' && c <= '9') {
				if (digits_end)
					REF_END(R_UNFRAMED, i, 0);
				num = num * 10 + (c - '0');
				if (num > (1ULL << 44))
					REF_END(R_UNFRAMED, i, 0);
				digits = true;
			} else if (ref_ows(c)) {
				digits_end = digits;
			} else {
				REF_END(R_UNFRAMED, i, 0);
			}
		}
		NEED(i + 1);
		if (d[i + 1] != '\n')
			REF_END(R_BAD, i + 1, TW_REJ_LINE_END);
		i++; /* the LF: the field is complete */
		if (is_cl) {
			if (!digits || (r->cl && r->clv != num))
				REF_END(R_UNFRAMED, i, 0);
			r->cl = true;
			r->clv = num;
		}
		if (is_te) {
			r->te = true;
			r->te_last = ref_te_chunked(d + val, i - 1 - val);
		}
		if (is_tp) {
			if (!r->n_tp) {
				r->tp_empty = first == UINT32_MAX;
				r->tp_off = first;
				r->tp_len = r->tp_empty ? 0 : last + 1 - first;
			}
			r->n_tp++;
		}
		i++;
	}
}

/* The gate's verdict on data[0, n) against the reference. */
static void check_reference(const uint8_t *data, uint32_t n, const struct req *q,
			    const struct tw_h1scan *s)
{
	uint32_t win = n < TW_SCAN_WIN ? n : TW_SCAN_WIN;
	struct ref r;

	ref_head(data, win, &r);
	switch (r.kind) {
	case R_BAD:
		CHECK(q->v == V_REFUSED);
		CHECK(q->stop == r.pos + 1);
		CHECK(q->reject == r.reason);
		return;
	case R_UNFRAMED:
		CHECK(q->v == V_UNFRAMED);
		CHECK(q->stop == r.pos + 1);
		CHECK(!(s->flags & TW_SF_HEAD_DONE));
		return;
	case R_SHORT:
		CHECK(q->v == V_SPLIT);
		CHECK(q->stop == win);
		CHECK(q->too_long == (n > TW_SCAN_WIN));
		return;
	case R_OK:
		break;
	}
	CHECK(s->flags & TW_SF_HEAD_DONE);
	CHECK(q->v != V_REFUSED && q->v != V_SPLIT && q->v != V_NOINSERT);
	CHECK(q->stop == r.head_end && s->head_end == r.head_end);
	CHECK(s->reqline_end == r.reqline_end);
	CHECK(s->reject == TW_REJ_NONE);
	CHECK(q->tunnel == (r.connect || r.upgrade));
	CHECK(s->n_tp == r.n_tp);
	CHECK((q->v == V_EXISTING) == (r.n_tp && !(q->v == V_UNFRAMED)));
	if (q->v == V_INSERT)
		CHECK(q->at == r.reqline_end);
	/* An empty first traceparent leaves tp_off/tp_len as they were (a
	 * tracestate value before it: tp_off 0, tp_len that value's end);
	 * harmless, the value is no traceparent either way. */
	if (r.n_tp && !r.tp_empty) {
		CHECK(s->tp_off == r.tp_off);
		CHECK(s->tp_len == r.tp_len);
	}
	/* what follows the head (RFC 9112 6.1, 6.3) */
	if (r.te) {
		if (r.te_last == 1)
			CHECK(s->phase == TW_SP_CHUNK_SIZE && s->remaining == 0);
		else if (r.te_last == 0)
			CHECK(s->phase == TW_SP_OPAQUE);
	} else if (r.cl && r.clv) {
		CHECK(s->phase == TW_SP_BODY_LEN && s->remaining == r.clv);
	} else if (r.connect || r.upgrade) {
		CHECK(s->phase == TW_SP_OPAQUE);
	} else {
		CHECK(s->phase == TW_SP_REQ_START);
	}
	if (q->v == V_UNFRAMED)
		CHECK(r.te && r.te_last != 1 && !r.connect && !r.upgrade);
}

/* ---- the target -------------------------------------------------------- */

static struct conn cw, cb;

static uint32_t hash(const uint8_t *d, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ d[i]) * 16777619u;
	return h;
}

static void walk(const uint8_t *data, uint32_t size, uint32_t seed, bool one_send)
{
	uint32_t p;

	memset(&cw, 0, sizeof(cw));
	memset(&cb, 0, sizeof(cb));
	for (p = 0; p < size;) {
		uint32_t sz = size - p;

		if (!one_send) {
			seed = seed * 1103515245u + 12345u;
			sz = 1 + (seed >> 8) % (sz < 300 ? sz : 300);
		}
		sim_send(&cw, data + p, sz, FEED_WORD, (uint8_t)(seed >> 24));
		sim_send(&cb, data + p, sz, FEED_BYTE, 0);
		p += sz;
	}
	check_same_conn(&cw, &cb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t stales[] = { 0xa5, '\n', 0x00, 0x7f };
	uint32_t n = size > (1u << 20) ? 1u << 20 : (uint32_t)size, h = hash(data, n);
	struct tw_h1scan sb, sw;
	struct req rb, rw;

	if (!n)
		return 0;
	rb = request(&sb, data, n, FEED_BYTE, 0);
	for (size_t k = 0; k < sizeof(stales); k++) {
		rw = request(&sw, data, n, FEED_WORD, stales[k]);
		CHECK(rw.v == rb.v && rw.reject == rb.reject && rw.at == rb.at);
		CHECK(rw.stop == rb.stop && rw.used == rb.used);
		CHECK(rw.tunnel == rb.tunnel && rw.too_long == rb.too_long);
		CHECK(!memcmp(&sw, &sb, sizeof(sw)));
	}
	CHECK(rb.v != V_NOINSERT);
	CHECK((rb.v == V_REFUSED) == (rb.reject != TW_REJ_NONE));
	CHECK(rb.reject < TW_REJ_MAX);
	check_reference(data, n, &rb, &sb);

	/* the whole stream in one send: every request given a header is a
	 * valid head where it starts */
	walk(data, n, h, true);
	for (unsigned i = 0; i < cw.n_ev; i++) {
		const struct ev *e = &cw.ev[i];
		struct ref r;

		if (e->v != V_INSERT)
			continue;
		ref_head(data + e->start, n - (uint32_t)e->start, &r);
		CHECK(r.kind == R_OK);
		CHECK(e->at == e->start + r.reqline_end);
	}
	/* and in sends cut where the input says */
	walk(data, n, h, false);
	return 0;
}
