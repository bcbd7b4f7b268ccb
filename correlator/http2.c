// SPDX-License-Identifier: BSD-2-Clause
/*
 * HTTP/2 framing (http2.h): each direction of a connection is a sequence of
 * frames (RFC 9113 section 4.1: 9-byte header, payload). Frames are
 * followed byte by byte across records, so a frame split over reads and
 * reads holding many frames are alike; only what a stream's span needs is
 * looked at: header blocks (HEADERS, CONTINUATION and, for the table's
 * sake, PUSH_PROMISE), END_STREAM, RST_STREAM, DATA lengths and
 * SETTINGS_HEADER_TABLE_SIZE.
 */
#include "correlator_int.h"
#include "http2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	F_DATA = 0,
	F_HEADERS = 1,
	F_PRIORITY = 2,
	F_RST_STREAM = 3,
	F_SETTINGS = 4,
	F_PUSH_PROMISE = 5,
	F_PING = 6,
	F_GOAWAY = 7,
	F_WINDOW_UPDATE = 8,
	F_CONTINUATION = 9,
};

#define FL_END_STREAM 0x1
#define FL_ACK 0x1
#define FL_END_HEADERS 0x4
#define FL_PADDED 0x8
#define FL_PRIORITY 0x20

/* RFC 9113's default SETTINGS_MAX_FRAME_SIZE: resync believes no bigger
 * frame unless the receiver allowed more (grpc-core allows 4 MiB and sends
 * a message of 20 KB as one DATA frame) */
#define FRAME_MAX_DEFAULT 16384
#define FRAME_MAX_LIMIT ((1u << 24) - 1)

#define SETTINGS_HEADER_TABLE_SIZE 0x1
#define SETTINGS_MAX_FRAME_SIZE 0x5

bool corr_h2_is_preface(const uint8_t *data, size_t cap)
{
	size_t n = cap < TW_H2_PREFACE_LEN ? cap : TW_H2_PREFACE_LEN;

	/* "PRI * HTTP/2.0" at least: no HTTP/1 request starts so */
	return n >= 14 && !memcmp(data, TW_H2_PREFACE, n);
}

int corr_h2_start(struct conn *conn)
{
	struct tw_h2 *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->d[H2_REQ].preface_left = TW_H2_PREFACE_LEN;
	h->d[H2_REQ].hpack_fresh = true;
	h->d[H2_RESP].hpack_fresh = true;
	conn->h2 = h;
	conn->c->stats.h2_conns++;
	return 0;
}

int corr_h2_start_midstream(struct conn *conn)
{
	if (corr_h2_start(conn) < 0)
		return -ENOMEM;
	conn->h2->d[H2_REQ].preface_left = 0;
	conn->h2->d[H2_REQ].unsynced = true;
	conn->h2->d[H2_RESP].unsynced = true;
	conn->c->stats.h2_midstream++;
	return 0;
}

size_t corr_h2_conn_bytes(void)
{
	return sizeof(struct tw_h2);
}

static bool is_block_frame(uint8_t type)
{
	return type == F_HEADERS || type == F_CONTINUATION || type == F_PUSH_PROMISE;
}

static void block_close(struct conn *conn, enum h2_side side)
{
	struct h2_dir *d = &conn->h2->d[side];

	if (!d->block_open)
		return;
	d->block_open = false;
	/* bytes of it unseen or undecodable: the table may miss entries */
	if (d->block_lost || d->block_skip)
		d->hpack_fresh = true;
	corr_h2_block_end(conn, side);
	if (d->block_es)
		corr_h2_end_stream(conn, side, d->block_sid);
}

static void lose_sync(struct conn *conn, enum h2_side side)
{
	struct h2_dir *d = &conn->h2->d[side];

	if (d->unsynced)
		return;
	conn->c->stats.h2_unsynced++;
	if (side == H2_RESP)
		corr_h2_streams_lost(conn);
	d->block_lost = true;
	block_close(conn, side);
	d->unsynced = true;
	d->hpack_fresh = true;
	d->fh_n = 0;
	d->preface_left = 0;
}

/* A header block starts (HEADERS, PUSH_PROMISE): on a fresh table if the
 * last one's state is unknown. */
static void block_open(struct conn *conn, enum h2_side side, uint32_t sid, bool es)
{
	struct h2_dir *d = &conn->h2->d[side];

	d->block_open = true;
	d->block_lost = false;
	d->block_skip = false;
	d->block_es = es;
	d->block_sid = sid;
	if (d->hpack_fresh || !d->inf) {
		d->hpack_fresh = false;
		if (!corr_hpack_reset(conn->c, d))
			d->block_skip = true;
	}
	corr_h2_block_begin(conn, side, sid);
}

static void frame_begin(struct conn *conn, enum h2_side side)
{
	struct h2_dir *d = &conn->h2->d[side];
	const uint8_t *b = d->fh;

	d->len = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
	d->type = b[3];
	d->flags = b[4];
	d->sid = ((uint32_t)b[5] << 24 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 8 | b[8]) &
		 0x7fffffff;
	d->pos = 0;
	d->pad = 0;
	d->set_n = 0;
	d->pre = 0;
	/* a frame followed in sync is real: its sender may send frames this
	 * big (the peer's SETTINGS_MAX_FRAME_SIZE is often not seen: a server
	 * sends its SETTINGS before the preface tells the kernel what the
	 * socket is), so resync believes frames up to it */
	if (d->len > FRAME_MAX_DEFAULT && d->len > d->max_frame)
		d->max_frame = d->len;
	if ((d->type == F_DATA || d->type == F_HEADERS || d->type == F_PUSH_PROMISE) &&
	    (d->flags & FL_PADDED))
		d->pre = 1;
	if (d->type == F_HEADERS && (d->flags & FL_PRIORITY))
		d->pre += 5;
	if (d->type == F_PUSH_PROMISE)
		d->pre += 4;
	/* a header block is one run of frames (RFC 9113 6.10): anything else
	 * in it means we are not where we think */
	if (d->block_open != (d->type == F_CONTINUATION) ||
	    (d->type == F_CONTINUATION && d->sid != d->block_sid) || d->pre > d->len) {
		lose_sync(conn, side);
		return;
	}
	if (d->type == F_HEADERS)
		block_open(conn, side, d->sid, d->flags & FL_END_STREAM);
	else if (d->type == F_PUSH_PROMISE)
		block_open(conn, side, 0, false); /* decoded, for the table only */
}

static void frame_end(struct conn *conn, enum h2_side side)
{
	struct h2_dir *d = &conn->h2->d[side];

	d->fh_n = 0;
	switch (d->type) {
	case F_DATA:
		corr_h2_data_bytes(conn, side, d->sid, d->len - d->pre - d->pad);
		if (d->flags & FL_END_STREAM)
			corr_h2_end_stream(conn, side, d->sid);
		break;
	case F_HEADERS:
	case F_CONTINUATION:
	case F_PUSH_PROMISE:
		if (!(d->flags & FL_END_HEADERS))
			break;
		if (!d->block_lost && !d->block_skip)
			corr_hpack_feed(conn, side, NULL, 0, true);
		block_close(conn, side);
		break;
	case F_RST_STREAM:
		if (d->len == 4)
			corr_h2_reset(conn, side, d->sid,
				      d->set_n == 4 ? (uint32_t)d->set[0] << 24 | (uint32_t)d->set[1] << 16 |
						      (uint32_t)d->set[2] << 8 | d->set[3]
						    : ~0u);
		break;
	}
}

static void settings_byte(struct conn *conn, enum h2_side side, uint8_t byte)
{
	struct h2_dir *d = &conn->h2->d[side];

	d->set[d->set_n++] = byte;
	if (d->set_n < sizeof(d->set))
		return;
	d->set_n = 0;
	{
		unsigned id = (unsigned)d->set[0] << 8 | d->set[1];
		uint32_t v = (uint32_t)d->set[2] << 24 | (uint32_t)d->set[3] << 16 |
			     (uint32_t)d->set[4] << 8 | d->set[5];

		/* this endpoint's limits bind what the other side sends */
		if (id == SETTINGS_HEADER_TABLE_SIZE)
			corr_hpack_table_size(conn->c, &conn->h2->d[!side], v);
		else if (id == SETTINGS_MAX_FRAME_SIZE && v >= FRAME_MAX_DEFAULT && v <= FRAME_MAX_LIMIT)
			conn->h2->d[!side].max_frame = v;
	}
}

/* k payload bytes at p, at payload position d->pos. */
static void payload(struct conn *conn, enum h2_side side, const uint8_t *p, uint32_t k)
{
	struct h2_dir *d = &conn->h2->d[side];
	uint32_t lo = d->pos, hi = d->pos + k, flo, fhi;

	if (d->type == F_SETTINGS && !(d->flags & FL_ACK) && !d->sid) {
		for (uint32_t i = 0; i < k; i++)
			settings_byte(conn, side, p[i]);
		return;
	}
	if (d->type == F_RST_STREAM) {
		/* its error code: who reset, and why, decides the status */
		for (uint32_t i = 0; i < k && d->set_n < 4; i++)
			d->set[d->set_n++] = p[i];
		return;
	}
	if (d->pre && (d->flags & FL_PADDED) && lo == 0 && k) {
		d->pad = p[0];
		if ((uint32_t)d->pre + d->pad > d->len) {
			lose_sync(conn, side);
			return;
		}
	}
	if (!is_block_frame(d->type) || d->block_lost || d->block_skip)
		return;
	flo = lo > d->pre ? lo : d->pre;
	fhi = hi < d->len - d->pad ? hi : d->len - d->pad;
	if (fhi > flo)
		corr_hpack_feed(conn, side, p + (flo - lo), fhi - flo, false);
}

static void feed(struct conn *conn, enum h2_side side, const uint8_t *p, size_t n)
{
	struct h2_dir *d = &conn->h2->d[side];

	while (n && !d->unsynced) {
		uint32_t k;

		if (d->preface_left) {
			k = n < d->preface_left ? (uint32_t)n : d->preface_left;
			if (memcmp(p, &TW_H2_PREFACE[TW_H2_PREFACE_LEN - d->preface_left], k)) {
				lose_sync(conn, side);
				return;
			}
			d->preface_left -= k;
		} else if (d->fh_n < sizeof(d->fh)) {
			k = sizeof(d->fh) - d->fh_n;
			if (k > n)
				k = (uint32_t)n;
			memcpy(d->fh + d->fh_n, p, k);
			d->fh_n += k;
			if (d->fh_n == sizeof(d->fh)) {
				frame_begin(conn, side);
				if (!d->unsynced && d->len == 0)
					frame_end(conn, side);
			}
		} else {
			k = d->len - d->pos;
			if (k > n)
				k = (uint32_t)n;
			payload(conn, side, p, k);
			d->pos += k;
			if (!d->unsynced && d->pos == d->len)
				frame_end(conn, side);
		}
		p += k;
		n -= k;
	}
}

/* n bytes the kernel did not copy: skipped inside payloads, else sync is
 * lost. */
static void skip(struct conn *conn, enum h2_side side, uint64_t n)
{
	struct h2_dir *d = &conn->h2->d[side];

	while (n && !d->unsynced) {
		uint32_t k;

		if (d->preface_left || d->fh_n < sizeof(d->fh)) {
			lose_sync(conn, side);
			return;
		}
		k = d->len - d->pos;
		if (k > n)
			k = (uint32_t)n;
		if (is_block_frame(d->type))
			d->block_lost = true;
		d->pos += k;
		n -= k;
		if (d->pos == d->len)
			frame_end(conn, side);
	}
}

static bool plausible_frame(const uint8_t *b, uint32_t max, uint32_t *len)
{
	uint32_t sid = ((uint32_t)b[5] << 24 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 8 | b[8]);

	*len = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
	if (*len > max || (sid & 0x80000000u))
		return false;
	switch (b[3]) {
	case F_DATA:
	case F_HEADERS:
		return sid != 0;
	case F_PRIORITY:
		return sid != 0 && *len == 5;
	case F_RST_STREAM:
		return sid != 0 && *len == 4;
	case F_SETTINGS:
		return sid == 0 && *len % 6 == 0 && (!(b[4] & FL_ACK) || *len == 0);
	case F_PING:
		return sid == 0 && *len == 8;
	case F_GOAWAY:
		return sid == 0 && *len >= 8;
	case F_WINDOW_UPDATE:
		return *len == 4;
	}
	/* CONTINUATION and PUSH_PROMISE need what came before them */
	return false;
}

/* Writes (and mostly reads) begin at frame boundaries: a record whose
 * captured frame headers all look right is taken as one. */
static bool resync_at(const uint8_t *data, size_t cap, uint32_t max)
{
	size_t off = 0;
	uint32_t len;

	if (cap < 9)
		return false;
	while (off + 9 <= cap) {
		if (!plausible_frame(data + off, max, &len))
			return false;
		off += 9 + (size_t)len;
	}
	return true;
}

/* Where in a record sync is found again: its start, if every captured frame
 * header there looks right (writes begin at frames); else, for a read cut
 * anywhere, the first offset from which at least two chained frame headers
 * look right, or one whose frame ends exactly where the record does. -1:
 * nowhere in this record. */
static long resync_point(const uint8_t *data, size_t cap, uint64_t len, uint32_t max)
{
	if (resync_at(data, cap, max))
		return 0;
	for (size_t o = 1; o + 9 <= cap; o++) {
		size_t off = o;
		unsigned n = 0;
		uint32_t flen;

		while (off + 9 <= cap && plausible_frame(data + off, max, &flen)) {
			n++;
			off += 9 + (size_t)flen;
		}
		if (off + 9 <= cap && n)
			continue; /* the chain broke inside the captured bytes */
		if (n >= 2 || (n == 1 && off == len))
			return (long)o;
	}
	return -1;
}

void corr_h2_feed(struct conn *conn, const struct tw_event_hdr *hdr, const uint8_t *data,
		  size_t cap, uint64_t len)
{
	struct tw_h2 *h = conn->h2;
	bool request_side = (conn->role == TW_ROLE_SERVER) == (hdr->dir == TW_DIR_INGRESS);
	enum h2_side side = request_side ? H2_REQ : H2_RESP;
	struct h2_dir *d = &h->d[side];

	conn->c->cur = hdr;
	if (!request_side)
		conn->resp_ts = hdr->ts_ns;
	if (d->unsynced) {
		long at = resync_point(data, cap, len, d->max_frame ? d->max_frame : FRAME_MAX_DEFAULT);

		if (at < 0)
			goto out;
		d->unsynced = false;
		d->fh_n = 0;
		data += at;
		cap -= (size_t)at;
		len -= (uint64_t)at;
	}
	feed(conn, side, data, cap);
	if (len > cap)
		skip(conn, side, len - cap);
out:
	conn->c->cur = NULL;
}

/* Where in the current frame's payload the kernel stops copying
 * (TW_HDR_H2_FRAMED): DATA and unknown types are left out, but for a
 * padded DATA frame's pad length. */
static uint32_t copied_end(const struct h2_dir *d)
{
	if (d->type == F_DATA)
		return (d->flags & FL_PADDED) && d->len ? 1 : 0;
	if (d->type > F_CONTINUATION)
		return 0;
	return d->len;
}

/* A record of a direction whose frames the kernel follows: len bytes of
 * the stream, of which those in the captured bytes are all but the
 * payloads the kernel leaves out (copied_end). Captured bytes that run out
 * early (the call's records were all used) leave the rest unseen. */
static void feed_framed(struct conn *conn, enum h2_side side, const uint8_t *p, size_t cap,
			uint64_t len)
{
	struct h2_dir *d = &conn->h2->d[side];

	while (len && !d->unsynced) {
		uint64_t k;

		if (!d->preface_left && d->fh_n == sizeof(d->fh) && d->pos >= copied_end(d)) {
			/* left out: only its length counts */
			k = d->len - d->pos;
			if (k > len)
				k = len;
			d->pos += (uint32_t)k;
			len -= k;
			if (d->pos == d->len)
				frame_end(conn, side);
			continue;
		}
		if (!cap) {
			skip(conn, side, len);
			return;
		}
		if (d->preface_left)
			k = d->preface_left;
		else if (d->fh_n < sizeof(d->fh))
			k = sizeof(d->fh) - d->fh_n;
		else
			k = copied_end(d) - d->pos;
		if (k > cap)
			k = cap;
		if (k > len)
			k = len;
		feed(conn, side, p, (size_t)k);
		p += k;
		cap -= (size_t)k;
		len -= k;
	}
}

/* A TW_HDR_H2_FRAMED record. TW_HDR_H2_AT_FRAME: the kernel, which saw
 * every byte, has a frame begin at its first byte; where we think
 * otherwise, we lost bytes (records lost on the way) and take its word. */
static void corr_h2_feed_framed(struct conn *conn, const struct tw_event_hdr *hdr,
				const uint8_t *data, enum h2_side side)
{
	struct h2_dir *d = &conn->h2->d[side];

	conn->c->cur = hdr;
	if (side == H2_RESP)
		conn->resp_ts = hdr->ts_ns;
	if (hdr->hdr_flags & TW_HDR_H2_AT_FRAME) {
		if (!d->unsynced && (d->preface_left || d->fh_n))
			lose_sync(conn, side);
		if (d->unsynced) {
			d->unsynced = false;
			d->fh_n = 0;
			d->preface_left = 0;
		}
	}
	feed_framed(conn, side, data, hdr->cap, hdr->len);
	conn->c->cur = NULL;
}

void corr_h2_data(struct conn *conn, const struct tw_event_hdr *hdr, const uint8_t *data)
{
	bool request_side = (conn->role == TW_ROLE_SERVER) == (hdr->dir == TW_DIR_INGRESS);
	struct h2_dir *d = &conn->h2->d[request_side ? H2_REQ : H2_RESP];

	/* sent bytes we never got (lost records): we are not where we think */
	if (hdr->dir == TW_DIR_EGRESS && (hdr->hdr_flags & TW_HDR_STREAM_OFF)) {
		if (d->off_known && hdr->stream_off != d->next_off) {
			conn->c->cur = hdr;
			lose_sync(conn, request_side ? H2_REQ : H2_RESP);
			conn->c->cur = NULL;
		}
		d->next_off = hdr->stream_off + hdr->len;
		d->off_known = true;
	}
	if (hdr->hdr_flags & TW_HDR_H2_FRAMED)
		corr_h2_feed_framed(conn, hdr, data, request_side ? H2_REQ : H2_RESP);
	else
		corr_h2_feed(conn, hdr, data, hdr->cap, hdr->len);
}

/* A header line "upgrade: h2c" (any case, optional whitespace). */
static bool upgrade_h2c_line(const uint8_t *l, size_t n)
{
	static const char name[] = "upgrade:";
	size_t i = sizeof(name) - 1;

	if (n < i || strncasecmp((const char *)l, name, i))
		return false;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	while (n > i && (l[n - 1] == ' ' || l[n - 1] == '\t'))
		n--;
	return n - i == 3 && !strncasecmp((const char *)l + i, "h2c", 3);
}

size_t corr_h2_upgrade_head(const uint8_t *data, size_t cap)
{
	bool h2c = false;
	size_t i = 0;

	if (cap < 13 || memcmp(data, "HTTP/1.1 101 ", 13))
		return 0;
	while (i < cap) {
		const uint8_t *eol = memchr(data + i, '\n', cap - i);
		size_t n;

		if (!eol)
			return 0;
		n = (size_t)(eol - (data + i));
		if (n && data[i + n - 1] == '\r')
			n--;
		if (!n)
			return h2c ? (size_t)(eol - data) + 1 : 0;
		h2c = h2c || upgrade_h2c_line(data + i, n);
		i = (size_t)(eol - data) + 1;
	}
	return 0;
}

int corr_h2_upgrade(struct conn *conn)
{
	if (corr_h2_start(conn) < 0)
		return -ENOMEM;
	corr_h2_adopt_upgrade_request(conn);
	/* its request framer hears no more HTTP/1 (the response framer
	 * called us: it stops by itself after a 101) */
	tw_h1_set_opaque(&conn->req);
	conn->c->stats.h2_upgrades++;
	if (conn->c->cfg.on_h2)
		conn->c->cfg.on_h2(conn->c->cfg.ctx, conn->sock_id);
	return 0;
}

void corr_h2_free(struct conn *conn)
{
	if (!conn->h2)
		return;
	corr_h2_streams_free(conn);
	corr_hpack_free(&conn->h2->d[H2_REQ]);
	corr_hpack_free(&conn->h2->d[H2_RESP]);
	free(conn->h2);
	conn->h2 = NULL;
}
