// SPDX-License-Identifier: BSD-2-Clause
/*
 * HTTP/2 streams (http2.h): each client-initiated stream is one span,
 * SERVER or CLIENT as the connection's role says; a streaming gRPC call is
 * one stream, so one span.
 *
 * A stream starts at its first request HEADERS frame (ids chosen then, as
 * for an HTTP/1 request: span_ids.c) and ends at the response's
 * END_STREAM (its end: the last response bytes), or at RST_STREAM (error
 * rst_stream), or with its connection. gRPC is told by content-type
 * application/grpc*; its status comes from grpc-status in the trailers (or
 * a trailers-only response) and sets the span's status as the RPC semantic
 * conventions say: a client span is an error for every code but OK, a
 * server span for UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
 * UNAVAILABLE and DATA_LOSS (the others are the caller's doing).
 *
 * At most cfg.h2_max_streams live streams per connection, and live streams
 * count with queued HTTP/1 requests against cfg.max_pending_total (the
 * memory budget's bound on requests awaiting their response): a stream
 * beyond either is not tracked (h2_streams_dropped), though its header
 * blocks are still decoded, which the table's sync needs.
 */
#include "correlator_int.h"
#include "http2.h"
#include "tracectx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct h2_stream {
	struct h2_stream *next;
	uint32_t id;
	bool resp_headers;  /* a final (non-1xx) response head was seen */
	bool req_block_done; /* the request's first header block ended */
	uint8_t n_tp;       /* traceparent fields in it */
	bool tp_ok;         /* the first one parsed */
	struct tw_traceparent_val tp;
	struct pending p;   /* span, times, id origin (as for HTTP/1) */
};

static const char *const grpc_codes[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
};

static struct h2_stream *find(const struct conn *conn, uint32_t sid)
{
	struct h2_stream *s = conn->h2->streams;

	while (s && s->id != sid)
		s = s->next;
	return s;
}

static void unlink_free(struct conn *conn, struct h2_stream *st)
{
	struct h2_stream **pp = &conn->h2->streams;

	while (*pp != st)
		pp = &(*pp)->next;
	*pp = st->next;
	conn->h2->nstreams--;
	conn->c->stats.pending_live--;
	free(st);
}

static bool grpc_server_error(unsigned code)
{
	return code == 2 || code == 4 || code == 12 || code == 13 || code == 14 || code == 15;
}

static void set_status(struct tw_span *s, const char *err)
{
	bool server = s->kind == TW_SPAN_SERVER;

	s->status = TW_STATUS_UNSET;
	if (err) {
		s->status = TW_STATUS_ERROR;
		snprintf(s->error_type, sizeof(s->error_type), "%s", err);
	} else if (s->grpc && s->grpc_status_set) {
		unsigned code = s->grpc_status;

		if (code && (!server || grpc_server_error(code))) {
			s->status = TW_STATUS_ERROR;
			if (code < sizeof(grpc_codes) / sizeof(grpc_codes[0]))
				snprintf(s->error_type, sizeof(s->error_type), "%s", grpc_codes[code]);
			else
				snprintf(s->error_type, sizeof(s->error_type), "%u", code);
		}
	} else if (s->status_code >= (server ? 500 : 400)) {
		s->status = TW_STATUS_ERROR;
		snprintf(s->error_type, sizeof(s->error_type), "%d", s->status_code);
	}
}

static void finish(struct conn *conn, struct h2_stream *st, uint64_t end_ts, const char *err)
{
	struct tw_correlator *c = conn->c;
	struct pending *p = &st->p;
	struct tw_span *s = &p->span;

	if (end_ts < p->start_ts)
		end_ts = p->start_ts;
	s->start_ns = p->start_ts + (uint64_t)c->cfg.mono_to_unix_ns;
	s->end_ns = end_ts + (uint64_t)c->cfg.mono_to_unix_ns;
	set_status(s, err);
	c->stats.spans++;
	c->stats.h2_spans++;
	if (err && !strcmp(err, "connection_closed"))
		c->stats.spans_error_closed++;
	if (p->id_origin == IDS_KERNEL)
		c->stats.spans_kernel_ids++;
	else if (p->id_origin == IDS_THREAD)
		c->stats.spans_thread_parent++;
	if (c->cfg.on_span)
		c->cfg.on_span(c->cfg.ctx, s);
	unlink_free(conn, st);
}

static void fill_endpoint(struct tw_endpoint *e, const uint8_t *addr, uint16_t port,
			  uint8_t family)
{
	memcpy(e->addr, addr, sizeof(e->addr));
	e->port = port;
	e->family = family;
}

static struct h2_stream *stream_new(struct conn *conn, uint32_t sid)
{
	struct tw_correlator *c = conn->c;
	const struct tw_event_hdr *hdr = c->cur;
	struct h2_stream *st;
	struct tw_span *s;

	/* client-initiated streams only; ids only grow (RFC 9113 5.1.1) */
	if (!(sid & 1) || sid <= conn->h2->last_sid)
		return NULL;
	conn->h2->last_sid = sid;
	if (conn->h2->nstreams >= c->cfg.h2_max_streams ||
	    (c->cfg.max_pending_total && c->stats.pending_live >= c->cfg.max_pending_total)) {
		c->stats.h2_streams_dropped++;
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		c->stats.h2_streams_dropped++;
		return NULL;
	}
	st->id = sid;
	st->p.start_ts = hdr->ts_ns;
	corr_choose_ids_h2(conn, hdr, sid, &st->p.start_ts);
	corr_set_ids(&st->p, conn);
	s = &st->p.span;
	s->kind = conn->role == TW_ROLE_SERVER ? TW_SPAN_SERVER : TW_SPAN_CLIENT;
	s->pid = hdr->pid;
	s->tid = hdr->tid;
	memcpy(s->service, hdr->comm, sizeof(hdr->comm));
	s->service[sizeof(hdr->comm) - 1] = '\0';
	s->h2 = 1;
	s->http_minor = 1;
	s->tls = conn->tls;
	fill_endpoint(&s->local, hdr->tuple.local_addr, hdr->tuple.local_port, hdr->tuple.family);
	fill_endpoint(&s->peer, hdr->tuple.peer_addr, hdr->tuple.peer_port, hdr->tuple.family);
	st->next = conn->h2->streams;
	conn->h2->streams = st;
	conn->h2->nstreams++;
	c->stats.pending_live++;
	return st;
}

/* A server stream's ids from the Go probes (TW_CTX_SERVER_H2: grpc-go's
 * reader goroutine chose them once it had decoded the stream's header
 * block, so they come after its HEADERS record): they replace what
 * stream_new and the traceparent field gave, since the stream's handler
 * parents its client streams by them. false when the stream is not (or no
 * longer) followed. */
bool corr_h2_server_ids(struct conn *conn, uint32_t sid, const struct tw_trace_ctx *ctx)
{
	struct h2_stream *st;
	struct tw_span *s;

	if (!conn->h2 || conn->role != TW_ROLE_SERVER || !(st = find(conn, sid)))
		return false;
	s = &st->p.span;
	memcpy(s->trace_id, ctx->trace_id, sizeof(s->trace_id));
	memcpy(s->span_id, ctx->span_id, sizeof(s->span_id));
	memcpy(s->parent_span_id, ctx->parent_span_id, sizeof(s->parent_span_id));
	s->trace_flags = ctx->flags;
	s->parent_source = tw_parent_source_str(ctx->source);
	st->p.id_origin = IDS_KERNEL;
	return true;
}

void corr_h2_adopt_upgrade_request(struct conn *conn)
{
	struct pending *p = conn->first;
	struct h2_stream *st;

	conn->h2->last_sid = 1;
	if (!p)
		return;
	st = calloc(1, sizeof(*st));
	if (st) {
		st->id = 1; /* RFC 9113 3.2: the upgrade request is stream 1 */
		st->p = *p;
		st->p.next = NULL;
		st->p.resp_started = false;
		st->p.span.h2 = 1;
		st->p.span.status_code = 0;
		st->next = conn->h2->streams;
		conn->h2->streams = st;
		conn->h2->nstreams++;
		conn->c->stats.pending_live++;
	} else {
		conn->c->stats.h2_streams_dropped++;
	}
	corr_pending_pop(conn);
}

void corr_h2_block_begin(struct conn *conn, enum h2_side side, uint32_t sid)
{
	struct h2_stream *st;

	if (!sid)
		return;
	st = find(conn, sid);
	if (side == H2_REQ) {
		if (!st)
			stream_new(conn, sid);
		return;
	}
	if (st) {
		st->p.resp_started = true;
		st->p.last_resp_ts = conn->resp_ts;
	}
}

static bool is(const uint8_t *name, size_t nlen, const char *lit)
{
	return nlen == strlen(lit) && !memcmp(name, lit, nlen);
}

static void copy_str(char *dst, size_t size, const uint8_t *src, size_t n)
{
	if (n > size - 1)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int parse_uint(const uint8_t *v, size_t n, unsigned max)
{
	unsigned x = 0;

	if (!n || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (unsigned)(v[i] - '0');
	}
	return x <= max ? (int)x : -1;
}

static bool is_grpc(const uint8_t *v, size_t n)
{
	/* application/grpc, application/grpc+proto, application/grpc-web... */
	return n >= 16 && !memcmp(v, "application/grpc", 16) &&
	       (n == 16 || v[16] == '+' || v[16] == ';' || v[16] == '-');
}

static void request_header(struct tw_span *s, const uint8_t *name, size_t nlen,
			   const uint8_t *value, size_t vlen)
{
	char target[TW_PATH_MAX + TW_QUERY_MAX];

	if (is(name, nlen, ":method")) {
		copy_str(s->method, sizeof(s->method), value, vlen);
	} else if (is(name, nlen, ":path")) {
		copy_str(target, sizeof(target), value, vlen);
		tw_h1_split_target(target, s->path, sizeof(s->path), s->query, sizeof(s->query));
	} else if (is(name, nlen, ":authority")) {
		copy_str(s->host, sizeof(s->host), value, vlen);
	} else if (is(name, nlen, "content-type")) {
		s->grpc = is_grpc(value, vlen);
	}
}

void corr_h2_header(struct conn *conn, enum h2_side side, const uint8_t *name, size_t nlen,
		    const uint8_t *value, size_t vlen)
{
	struct h2_stream *st = find(conn, conn->h2->d[side].block_sid);
	struct tw_span *s;
	int v;

	if (!st)
		return;
	s = &st->p.span;
	if (side == H2_REQ) {
		if (st->req_block_done)
			return; /* trailers */
		request_header(s, name, nlen, value, vlen);
		if (is(name, nlen, "traceparent") && st->n_tp++ == 0)
			st->tp_ok = tw_traceparent_parse_str((const char *)value, vlen, &st->tp) == 0;
		return;
	}
	if (is(name, nlen, ":status")) {
		v = parse_uint(value, vlen, 999);
		/* 1xx heads are interim: the final one follows */
		if (v >= 200 || v < 100) {
			st->resp_headers = true;
			if (v > 0)
				s->status_code = v;
		}
	} else if (is(name, nlen, "content-type") && is_grpc(value, vlen)) {
		s->grpc = 1;
	} else if (is(name, nlen, "grpc-status")) {
		v = parse_uint(value, vlen, 255);
		if (v >= 0) {
			s->grpc_status = (uint8_t)v;
			s->grpc_status_set = 1;
		}
	}
}

void corr_h2_block_end(struct conn *conn, enum h2_side side)
{
	struct h2_stream *st = find(conn, conn->h2->d[side].block_sid);

	if (st && side == H2_RESP)
		st->p.last_resp_ts = conn->resp_ts;
	if (!st || side != H2_REQ || st->req_block_done)
		return;
	st->req_block_done = true;
	/* more than one traceparent is no context (W3C) */
	if (st->n_tp == 1 && st->tp_ok)
		corr_h2_ids_from_field(&st->p, conn->role, &st->tp);
}

void corr_h2_data_bytes(struct conn *conn, enum h2_side side, uint32_t sid, uint64_t n)
{
	struct h2_stream *st = find(conn, sid);

	if (!st)
		return;
	if (side == H2_REQ) {
		st->p.span.request_body_bytes += n;
		return;
	}
	st->p.resp_started = true;
	st->p.last_resp_ts = conn->resp_ts;
	st->p.span.response_body_bytes += n;
}

void corr_h2_end_stream(struct conn *conn, enum h2_side side, uint32_t sid)
{
	struct h2_stream *st = find(conn, sid);

	/* the request's end changes nothing: the response ends the span */
	if (st && side == H2_RESP)
		finish(conn, st, st->p.last_resp_ts, NULL);
}

/* RST_STREAM ends a stream. A client that cancels (CANCEL) ends a gRPC
 * call as CANCELLED, which the RPC conventions count as an error on the
 * client and not on the server; any other reset by the client is no
 * server error either (the server was not at fault), while a reset by the
 * server is an error on both sides (rst_stream). */
void corr_h2_reset(struct conn *conn, enum h2_side side, uint32_t sid, uint32_t code)
{
	struct h2_stream *st = find(conn, sid);
	const struct tw_event_hdr *hdr = conn->c->cur;
	struct tw_span *s;
	const char *err = "rst_stream";

	if (!st)
		return;
	s = &st->p.span;
	if (side == H2_REQ && code == 0x8 && s->grpc && !s->grpc_status_set) {
		s->grpc_status = 1; /* CANCELLED */
		s->grpc_status_set = 1;
		err = NULL;
	} else if (side == H2_REQ && s->kind == TW_SPAN_SERVER) {
		err = NULL;
	}
	finish(conn, st, st->p.resp_started ? st->p.last_resp_ts : hdr->ts_ns, err);
}

void corr_h2_streams_lost(struct conn *conn)
{
	for (struct h2_stream *st = conn->h2->streams; st; st = st->next)
		st->p.resp_lost = true;
}

/* Close: a stream still open failed with its connection, unless its
 * response was lost to us (then its end is the last we saw of it). */
void corr_h2_close(struct conn *conn, uint64_t ts)
{
	while (conn->h2 && conn->h2->streams) {
		struct h2_stream *st = conn->h2->streams;

		if (st->p.resp_lost)
			finish(conn, st, st->p.resp_started ? st->p.last_resp_ts : ts, NULL);
		else
			finish(conn, st, st->p.resp_started ? st->p.last_resp_ts : ts,
			       "connection_closed");
	}
}

void corr_h2_flush(struct conn *conn)
{
	while (conn->h2 && conn->h2->streams) {
		struct h2_stream *st = conn->h2->streams;

		if (st->p.resp_started) {
			finish(conn, st, st->p.last_resp_ts, NULL);
		} else {
			conn->c->stats.dropped_unanswered++;
			unlink_free(conn, st);
		}
	}
}

void corr_h2_streams_free(struct conn *conn)
{
	while (conn->h2->streams)
		unlink_free(conn, conn->h2->streams);
}
