// SPDX-License-Identifier: BSD-2-Clause
/*
 * Connection tracker and span pairing (contract in correlator.h).
 *
 * Keys: connections are keyed by sock_id alone. A socket shared across
 * fork() carries one byte stream whichever process touches it, so adding the
 * pid would split one stream into two framers; the kernel deletes the key
 * with the socket (TW_EV_CLOSE), so address reuse starts a fresh connection.
 *
 * Each connection has a request framer and a response framer; which syscall
 * direction feeds which depends on the role (SERVER reads requests, CLIENT
 * writes them). The role is fixed by the first record that creates the
 * connection: the kernel's, else inferred from a plausible start line; bytes
 * that tell neither create nothing. Requests queue in a FIFO once their head
 * is read (or their start line, when the head runs past the capture);
 * responses pair with the FIFO head. A request head still incomplete at
 * close is not reported: there is no method or path to report.
 *
 * Unsynced response bytes are attributed only to the request whose response
 * lost sync, so a pipelined successor is not ended by its predecessor's tail.
 *
 * Memory: a hash table of max_conns connections (chained, power-of-two
 * buckets) plus an intrusive LRU list, newest first, used both to evict the
 * least recently active connection and to find idle ones in tick. Pending
 * requests are heap entries, at most MAX_PENDING per connection.
 *
 * Evicting a connection and flushing do the same thing to it: spans whose
 * response has started are finished (end = last response bytes seen), the
 * rest are dropped and counted in dropped_unanswered. Close is different:
 * the outcome is known, so unanswered requests end as connection_closed
 * errors. Idle connections with nothing pending are freed by tick; a later
 * byte starts them afresh.
 *
 * Ids: chosen at a request's BEGIN (kept in the connection until its head
 * queues it), because what the kernel tells is tied to where the request
 * starts: the record it starts in (TW_CTX_SERVER, TW_CTX_THREAD) or its
 * stream offset (TW_EV_CTX). TW_EV_CTX records come before the DATA record
 * of the same send (sk_msg runs inside the syscall), so they wait in a small
 * per-connection FIFO, oldest offset first, for the request they name.
 * Ids the kernel did not supply may still change at HEAD: the head's own
 * traceparent is only known then (ids_from_header).
 *
 * Offsets: the request framer counts from the first byte this connection
 * saw, the kernel from the socket's first byte. Egress records of sockets
 * the kernel tracked from connect() carry the kernel's offset
 * (TW_HDR_STREAM_OFF), which fixes ctx_shift exactly. Without it (records
 * from before, tests), a connection tracked from mid-stream (re-created
 * after tick freed it or eviction, records lost) lags by a constant;
 * ctx_shift holds it once a match establishes it.
 *
 * stats.events counts well-formed records; bad_records the others.
 */
#include "correlator.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"
#include "ids.h"
#include "tracectx.h"
#include "tracewire_event.h"

/* Pipelining depth beyond any real client; past it requests are dropped
 * (dropped_unanswered) rather than growing memory without bound. */
#define MAX_PENDING 64
#define BUCKETS_MAX (1u << 22)
/* TW_EV_CTX records waiting for their request. A request claims its record
 * at once (same send), so more than a few waiting means records for
 * requests we will never frame: the oldest go first. */
#define CTX_FIFO_MAX 16

/* Where a request's ids came from (stats). */
enum id_origin {
	IDS_NEW = 0,   /* new trace, chosen here */
	IDS_KERNEL,    /* TW_CTX_SERVER or TW_EV_CTX: as the kernel chose them */
	IDS_THREAD,    /* child of the writing thread's server request */
	IDS_HEADER,    /* no kernel ids: the request head's own traceparent */
};

struct injected {
	uint64_t off;            /* kernel stream offset of the request's first byte */
	struct tw_trace_ctx ctx; /* ids sk_msg put on the wire */
};

struct pending {
	struct pending *next;
	uint64_t start_ts;     /* CLOCK_MONOTONIC, first request bytes */
	uint64_t last_resp_ts; /* last response bytes attributed to it */
	bool resp_started;     /* response bytes seen (interim ones included) */
	bool resp_lost;        /* the response framer lost sync inside it */
	bool resp_open;        /* its body runs until the connection closes */
	bool is_head;          /* HEAD: the response has no body */
	bool is_connect;       /* CONNECT: a 2xx turns the stream into a tunnel */
	uint8_t id_origin;     /* enum id_origin */
	struct tw_span span;
};

struct conn {
	struct conn *hash_next;
	struct conn *newer, *older; /* LRU */
	struct tw_correlator *c;
	uint64_t sock_id;
	uint64_t last_ts;           /* newest record stamp */
	uint8_t role;               /* TW_ROLE_SERVER or TW_ROLE_CLIENT */
	bool opaque;                /* protocol switched (101, CONNECT) */
	uint16_t resp_status;       /* of the response head being framed */
	unsigned npending;
	struct pending *first, *last;
	struct pending *req_in_body; /* request whose body is being framed */
	uint64_t resp_ts;           /* stamp of the latest response-side record */
	/* the request whose head is being framed: who read/wrote its first bytes */
	uint64_t req_ts;
	uint32_t req_pid, req_tid;
	char req_comm[TW_COMM_LEN];
	struct tw_trace_ctx req_ids; /* its ids (kind unused) */
	uint8_t req_origin;          /* enum id_origin of req_ids */
	bool req_head_open;          /* BEGIN seen, HEAD not yet */
	/* request-side stream offsets (ours) of the record being fed */
	uint64_t rec_start, rec_end;
	/* TW_EV_CTX records not claimed yet: a ring, oldest at ctx_first */
	struct injected ctx_fifo[CTX_FIFO_MAX];
	uint8_t ctx_first, ctx_n;
	bool ctx_synced;             /* a match confirmed ctx_shift */
	bool ctx_exact;              /* this record's kernel offset fixed ctx_shift */
	uint64_t ctx_shift;          /* kernel offset = ours + ctx_shift */
	struct tw_tuple tuple;
	struct tw_h1 req, resp;
};

struct tw_correlator {
	struct tw_correlator_cfg cfg;
	struct tw_correlator_stats stats;
	struct conn **buckets;
	size_t nbuckets; /* power of two */
	struct conn *newest, *oldest;
	const struct tw_event_hdr *cur; /* record being handled, for callbacks */
};

/* ---- connection table and LRU -------------------------------------- */

static size_t bucket_of(const struct tw_correlator *c, uint64_t sock_id)
{
	/* splitmix64 finalizer: kernel pointers share their low and high bits */
	uint64_t x = sock_id;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (size_t)x & (c->nbuckets - 1);
}

static struct conn *conn_find(const struct tw_correlator *c, uint64_t sock_id)
{
	struct conn *conn = c->buckets[bucket_of(c, sock_id)];

	while (conn && conn->sock_id != sock_id)
		conn = conn->hash_next;
	return conn;
}

static void lru_unlink(struct tw_correlator *c, struct conn *conn)
{
	if (conn->newer)
		conn->newer->older = conn->older;
	else
		c->newest = conn->older;
	if (conn->older)
		conn->older->newer = conn->newer;
	else
		c->oldest = conn->newer;
	conn->newer = conn->older = NULL;
}

static void lru_push_newest(struct tw_correlator *c, struct conn *conn)
{
	conn->older = c->newest;
	conn->newer = NULL;
	if (c->newest)
		c->newest->newer = conn;
	else
		c->oldest = conn;
	c->newest = conn;
}

static void conn_touch(struct tw_correlator *c, struct conn *conn, uint64_t ts)
{
	if (ts > conn->last_ts)
		conn->last_ts = ts;
	if (c->newest == conn)
		return;
	lru_unlink(c, conn);
	lru_push_newest(c, conn);
}

static void pending_pop(struct conn *conn)
{
	struct pending *p = conn->first;

	conn->first = p->next;
	if (!conn->first)
		conn->last = NULL;
	if (conn->req_in_body == p)
		conn->req_in_body = NULL;
	conn->npending--;
	free(p);
}

/* Drops the connection without emitting anything. */
static void conn_free(struct tw_correlator *c, struct conn *conn)
{
	struct conn **pp = &c->buckets[bucket_of(c, conn->sock_id)];

	while (*pp != conn)
		pp = &(*pp)->hash_next;
	*pp = conn->hash_next;
	lru_unlink(c, conn);
	while (conn->first)
		pending_pop(conn);
	c->stats.ctx_unmatched += conn->ctx_n;
	c->stats.conns_live--;
	free(conn);
}

/* ---- finishing spans ------------------------------------------------- */

static void set_status(struct tw_span *s, bool closed)
{
	int code = s->status_code;
	bool error = s->kind == TW_SPAN_SERVER ? code >= 500 : code >= 400;

	if (closed) {
		s->status = TW_STATUS_ERROR;
		snprintf(s->error_type, sizeof(s->error_type), "connection_closed");
	} else if (error) {
		s->status = TW_STATUS_ERROR;
		snprintf(s->error_type, sizeof(s->error_type), "%d", code);
	} else {
		s->status = TW_STATUS_UNSET;
	}
}

/* Emits and frees the oldest pending request of conn. */
static void finish_front(struct conn *conn, uint64_t end_ts, bool closed)
{
	struct tw_correlator *c = conn->c;
	struct pending *p = conn->first;
	struct tw_span *s = &p->span;

	/* stamps from different CPUs can disagree by a little */
	if (end_ts < p->start_ts)
		end_ts = p->start_ts;
	s->start_ns = p->start_ts + (uint64_t)c->cfg.mono_to_unix_ns;
	s->end_ns = end_ts + (uint64_t)c->cfg.mono_to_unix_ns;
	set_status(s, closed);
	c->stats.spans++;
	if (closed)
		c->stats.spans_error_closed++;
	if (p->id_origin == IDS_KERNEL)
		c->stats.spans_kernel_ids++;
	else if (p->id_origin == IDS_THREAD)
		c->stats.spans_thread_parent++;
	else if (p->id_origin == IDS_HEADER)
		c->stats.spans_header_fallback++;
	if (c->cfg.on_span)
		c->cfg.on_span(c->cfg.ctx, s);
	pending_pop(conn);
}

/* A span finished before its response's framing ended reports the body
 * bytes framed so far. */
static void note_partial_body(struct conn *conn)
{
	struct pending *p = conn->first;
	enum tw_h1_phase phase = tw_h1_phase(&conn->resp);

	if (p && p->resp_started && !p->resp_lost &&
	    (phase == TW_H1_IN_MESSAGE || phase == TW_H1_UNTIL_CLOSE))
		p->span.response_body_bytes = tw_h1_body_bytes(&conn->resp);
}

static bool open_ended(const struct pending *p)
{
	return p->resp_started && (p->resp_lost || p->resp_open);
}

/* A response framing cannot end is over when the next request starts or
 * the connection goes idle. Called from request-side events and tick only:
 * it may reposition the response framer. */
static void finish_open_ended_front(struct conn *conn)
{
	struct pending *p = conn->first;

	if (!p || !open_ended(p))
		return;
	note_partial_body(conn);
	finish_front(conn, p->last_resp_ts, false);
	/* a body "until close" that is not: later bytes are not its body */
	if (tw_h1_phase(&conn->resp) == TW_H1_UNTIL_CLOSE)
		tw_h1_unsync(&conn->resp);
}

/* Eviction and flush: what has a response is reported, the rest is not
 * known to have failed. */
static void conn_flush(struct tw_correlator *c, struct conn *conn)
{
	note_partial_body(conn);
	while (conn->first) {
		if (conn->first->resp_started) {
			finish_front(conn, conn->first->last_resp_ts, false);
		} else {
			c->stats.dropped_unanswered++;
			pending_pop(conn);
		}
	}
}

/* Called from a response event: the response framer switched itself (or
 * is unsynced); handle_data stops feeding either framer from now on. */
static void conn_go_opaque(struct tw_correlator *c, struct conn *conn)
{
	if (!conn->opaque) {
		c->stats.conns_switched++;
		if (c->cfg.on_switched)
			c->cfg.on_switched(c->cfg.ctx, conn->sock_id);
	}
	conn->opaque = true;
	tw_h1_set_opaque(&conn->req);
	while (conn->first) {
		c->stats.dropped_unanswered++;
		pending_pop(conn);
	}
}

/* ---- ids ----------------------------------------------------------------- */

static void ids_take(struct conn *conn, const struct tw_trace_ctx *ctx);
static bool ctx_has_ids(const struct tw_trace_ctx *ctx);

/* A server head that took several reads: the kernel chooses the ids once it
 * has read the whole head (so it sees the traceparent wherever it is), and
 * they come with the record that completes it rather than the one that
 * began the request. */
static void server_ids_late(struct conn *conn, const struct tw_event_hdr *hdr)
{
	if (conn->role == TW_ROLE_SERVER && conn->req_head_open &&
	    conn->req_origin != IDS_KERNEL && hdr->ctx.kind == TW_CTX_SERVER &&
	    ctx_has_ids(&hdr->ctx))
		ids_take(conn, &hdr->ctx);
}

/* W3C: all-zero ids are invalid; a context without both is no context. */
static bool ctx_has_ids(const struct tw_trace_ctx *ctx)
{
	return !tw_id_is_zero(ctx->trace_id, sizeof(ctx->trace_id)) &&
	       !tw_id_is_zero(ctx->span_id, sizeof(ctx->span_id));
}

static bool root_sampled(const struct tw_correlator_cfg *cfg)
{
	uint32_t r;

	if (!cfg->sample_ratio_set || cfg->sample_ratio >= 1.0)
		return true;
	tw_random_id((uint8_t *)&r, sizeof(r));
	return (double)r < cfg->sample_ratio * 4294967296.0;
}

static void ids_new_root(struct conn *conn)
{
	struct tw_trace_ctx *ids = &conn->req_ids;

	memset(ids, 0, sizeof(*ids));
	tw_random_id(ids->trace_id, sizeof(ids->trace_id));
	tw_random_id(ids->span_id, sizeof(ids->span_id));
	/* a trace starts here: --sample-ratio decides, as in the kernel */
	ids->flags = TW_FLAG_RANDOM;
	if (root_sampled(&conn->c->cfg))
		ids->flags |= TW_FLAG_SAMPLED;
	ids->source = TW_PSRC_NONE;
	conn->req_origin = IDS_NEW;
}

static void ids_take(struct conn *conn, const struct tw_trace_ctx *ctx)
{
	conn->req_ids = *ctx;
	conn->req_origin = IDS_KERNEL;
}

/* The thread's context names its SERVER span: this request is a child of
 * it, with a span id of its own (nothing went on the wire for it). */
static void ids_child_of_thread(struct conn *conn, const struct tw_trace_ctx *thread)
{
	struct tw_trace_ctx *ids = &conn->req_ids;

	memset(ids, 0, sizeof(*ids));
	memcpy(ids->trace_id, thread->trace_id, sizeof(ids->trace_id));
	memcpy(ids->parent_span_id, thread->span_id, sizeof(ids->parent_span_id));
	tw_random_id(ids->span_id, sizeof(ids->span_id));
	ids->flags = thread->flags;
	ids->source = TW_PSRC_THREAD;
	conn->req_origin = IDS_THREAD;
}

/*
 * At HEAD, for ids the kernel did not supply: the kernel's server scan
 * missed the header (a request not starting a read, the header past its
 * window, a socket tracked late) or sk_msg did not see the client head
 * whole (split across sends, head too long). The request's own traceparent
 * then tells what the kernel would have: W3C level 2, exactly one header
 * (more than one is no context), parsed as the kernel parses it.
 */
static void ids_from_header(struct conn *conn, const struct tw_h1_head *h)
{
	struct tw_trace_ctx *ids = &conn->req_ids;
	struct tw_traceparent_val tp;
	size_t len = strlen(h->traceparent);

	/* kernel ids win: the kernel read this header itself (SERVER) or
	 * they are what sk_msg put on the wire (CLIENT) */
	if (conn->req_origin != IDS_NEW && conn->req_origin != IDS_THREAD)
		return;
	if (h->n_traceparent != 1)
		return;
	/* a cut value parses as the whole only when the cut lies past the
	 * version-00 prefix: its length then decides the same way */
	if (h->traceparent_truncated && len <= TW_TRACEPARENT_LEN)
		return;
	if (tw_traceparent_parse_str(h->traceparent, len, &tp) < 0)
		return;
	memcpy(ids->trace_id, tp.trace_id, sizeof(ids->trace_id));
	memcpy(ids->parent_span_id, tp.parent_id, sizeof(ids->parent_span_id));
	ids->flags = tp.flags;
	/* span_id stays the fresh one drawn at BEGIN (never the thread's):
	 * nothing on the wire names this span, the header names its parent */
	ids->source = conn->role == TW_ROLE_SERVER ? TW_PSRC_HEADER : TW_PSRC_APPLICATION;
	conn->req_origin = IDS_HEADER;
}

static struct injected *ctx_front(struct conn *conn)
{
	return &conn->ctx_fifo[conn->ctx_first];
}

static void ctx_pop(struct conn *conn)
{
	conn->ctx_first = (uint8_t)((conn->ctx_first + 1) % CTX_FIFO_MAX);
	conn->ctx_n--;
}

static void ctx_push(struct conn *conn, const struct tw_event_hdr *hdr)
{
	struct injected *e;

	if (conn->ctx_n == CTX_FIFO_MAX) {
		conn->c->stats.ctx_unmatched++;
		ctx_pop(conn);
	}
	e = &conn->ctx_fifo[(conn->ctx_first + conn->ctx_n) % CTX_FIFO_MAX];
	conn->ctx_n++;
	e->off = hdr->len;
	e->ctx = hdr->ctx;
}

/*
 * Whether the oldest waiting record, at kernel offset off > ours, is still
 * this request's: our count lags the kernel's (see "Offsets" above). Only
 * for a request starting a record, which is where sk_msg saw a request start
 * too. Certain when the record lies beyond the bytes of this send (records
 * of later sends cannot be here yet); otherwise taken on trust while no
 * match has fixed the shift: a fresh connection, or one whose framing was
 * lost.
 */
static bool ctx_lagging(const struct conn *conn, uint64_t off, bool at_start)
{
	if (!at_start || conn->ctx_exact)
		return false;
	return !conn->ctx_synced || off >= conn->rec_end + conn->ctx_shift;
}

/* The waiting TW_EV_CTX record of the request starting at our offset
 * our_off, if any, into *out. Older ones are stale: their requests were
 * never framed (lost records, heads not captured). */
static bool ctx_claim(struct conn *conn, uint64_t our_off, bool at_start,
		      struct tw_trace_ctx *out)
{
	struct tw_correlator_stats *st = &conn->c->stats;
	uint64_t off = our_off + conn->ctx_shift;
	struct injected *e;

	while (conn->ctx_n && ctx_front(conn)->off < off) {
		st->ctx_unmatched++;
		ctx_pop(conn);
	}
	if (!conn->ctx_n)
		return false;
	e = ctx_front(conn);
	if (e->off != off) {
		if (!ctx_lagging(conn, e->off, at_start))
			return false;
		conn->ctx_shift += e->off - off;
		st->ctx_resynced++;
	}
	*out = e->ctx;
	ctx_pop(conn);
	conn->ctx_synced = true;
	st->ctx_matched++;
	return true;
}

/* At BEGIN: off is the request's stream offset (ours). */
static void choose_ids(struct conn *conn, const struct tw_event_hdr *hdr, uint64_t off)
{
	bool at_start = off == conn->rec_start;
	struct tw_trace_ctx injected;

	if (conn->role == TW_ROLE_SERVER) {
		/* the kernel's context is that of the request starting the
		 * record; a pipelined successor in it is another request */
		if (at_start && hdr->ctx.kind == TW_CTX_SERVER && ctx_has_ids(&hdr->ctx))
			ids_take(conn, &hdr->ctx);
		else
			ids_new_root(conn);
		return;
	}
	if (ctx_claim(conn, off, at_start, &injected))
		ids_take(conn, &injected);
	else if (hdr->ctx.kind == TW_CTX_THREAD && ctx_has_ids(&hdr->ctx))
		ids_child_of_thread(conn, &hdr->ctx);
	else
		ids_new_root(conn);
}

static void set_ids(struct pending *p, const struct conn *conn)
{
	const struct tw_trace_ctx *ids = &conn->req_ids;
	struct tw_span *s = &p->span;

	memcpy(s->trace_id, ids->trace_id, sizeof(s->trace_id));
	memcpy(s->span_id, ids->span_id, sizeof(s->span_id));
	memcpy(s->parent_span_id, ids->parent_span_id, sizeof(s->parent_span_id));
	s->trace_flags = ids->flags;
	s->parent_source = tw_parent_source_str(ids->source);
	p->id_origin = conn->req_origin;
}

/* ---- request side ------------------------------------------------------ */

static void copy_str(char *dst, size_t size, const char *src, size_t n)
{
	if (n > size - 1)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void fill_endpoint(struct tw_endpoint *e, const uint8_t *addr, uint16_t port,
			  uint8_t family)
{
	memcpy(e->addr, addr, sizeof(e->addr));
	e->port = port;
	e->family = family;
}

static struct pending *queue_request(struct conn *conn, const struct tw_h1_head *h)
{
	struct tw_correlator *c = conn->c;
	struct pending *p;
	struct tw_span *s;

	if (conn->npending >= MAX_PENDING)
		goto drop;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto drop;
	s = &p->span;
	p->start_ts = conn->req_ts;
	p->is_head = strcmp(h->method, "HEAD") == 0;
	p->is_connect = strcmp(h->method, "CONNECT") == 0;
	s->kind = conn->role == TW_ROLE_SERVER ? TW_SPAN_SERVER : TW_SPAN_CLIENT;
	set_ids(p, conn);
	s->pid = conn->req_pid;
	s->tid = conn->req_tid;
	copy_str(s->service, sizeof(s->service), conn->req_comm,
		 strnlen(conn->req_comm, sizeof(conn->req_comm)));
	copy_str(s->method, sizeof(s->method), h->method, strlen(h->method));
	tw_h1_split_target(h->target, s->path, sizeof(s->path), s->query, sizeof(s->query));
	copy_str(s->host, sizeof(s->host), h->host, strlen(h->host));
	s->http_minor = h->minor;
	fill_endpoint(&s->local, conn->tuple.local_addr, conn->tuple.local_port,
		      conn->tuple.family);
	fill_endpoint(&s->peer, conn->tuple.peer_addr, conn->tuple.peer_port,
		      conn->tuple.family);
	if (conn->last)
		conn->last->next = p;
	else
		conn->first = p;
	conn->last = p;
	conn->npending++;
	return p;
drop:
	c->stats.dropped_unanswered++;
	return NULL;
}

static int on_request_event(void *ctx, const struct tw_h1_event *ev)
{
	struct conn *conn = ctx;
	const struct tw_event_hdr *hdr = conn->c->cur;

	switch (ev->type) {
	case TW_H1_EV_BEGIN:
		finish_open_ended_front(conn);
		conn->req_ts = hdr->ts_ns;
		conn->req_pid = hdr->pid;
		conn->req_tid = hdr->tid;
		memcpy(conn->req_comm, hdr->comm, sizeof(conn->req_comm));
		conn->tuple = hdr->tuple;
		choose_ids(conn, hdr, ev->offset);
		conn->req_head_open = true;
		break;
	case TW_H1_EV_HEAD:
		conn->req_head_open = false;
		ids_from_header(conn, ev->head);
		conn->req_in_body = queue_request(conn, ev->head);
		break;
	case TW_H1_EV_END:
		if (conn->req_in_body)
			conn->req_in_body->span.request_body_bytes = ev->body_bytes;
		conn->req_in_body = NULL;
		break;
	case TW_H1_EV_UNSYNC:
		conn->req_head_open = false;
		conn->c->stats.unsynced++;
		/* bytes we could not frame may hide lost records: let the next
		 * request starting a record re-fix ctx_shift */
		conn->ctx_synced = false;
		/* a head beyond the capture: the request is real, its end unknown */
		if (ev->head)
			queue_request(conn, ev->head);
		conn->req_in_body = NULL;
		break;
	}
	return 0;
}

/* ---- response side ----------------------------------------------------- */

static bool is_interim(unsigned status)
{
	return status >= 100 && status < 200 && status != 101;
}

static bool switches_protocol(const struct pending *p, unsigned status)
{
	return status == 101 || (p && p->is_connect && status / 100 == 2);
}

static int on_response_head(struct conn *conn, const struct tw_h1_head *h)
{
	struct pending *p = conn->first;
	int directives = 0;

	conn->resp_status = h->status;
	if (!p)
		return 0;
	p->last_resp_ts = conn->resp_ts;
	if (is_interim(h->status))
		return 0;
	p->span.status_code = h->status;
	if (p->is_head)
		directives |= TW_H1_NO_BODY;
	if (p->is_connect && h->status / 100 == 2)
		directives |= TW_H1_TUNNEL;
	if (!directives && h->body == TW_H1_BODY_CLOSE)
		p->resp_open = true;
	return directives;
}

static void on_response_end(struct conn *conn, uint64_t body_bytes)
{
	struct tw_correlator *c = conn->c;
	struct pending *p = conn->first;
	bool switched = switches_protocol(p, conn->resp_status);

	if (p && !is_interim(conn->resp_status)) {
		p->last_resp_ts = conn->resp_ts;
		p->span.response_body_bytes = body_bytes;
		finish_front(conn, p->last_resp_ts, false);
	} else if (p) {
		p->last_resp_ts = conn->resp_ts;
	}
	if (switched)
		conn_go_opaque(c, conn);
}

static void on_response_unsync(struct conn *conn, const struct tw_h1_head *h,
			       bool in_message, uint64_t body_bytes)
{
	struct pending *p = conn->first;

	conn->c->stats.unsynced++;
	if (h && switches_protocol(p, h->status)) {
		/* the rest of a 101 head went uncaptured: still switched */
		conn->resp_status = h->status;
		if (p)
			p->span.status_code = h->status;
		on_response_end(conn, 0);
		return;
	}
	if (!p)
		return;
	p->resp_started = true;
	p->resp_lost = true;
	p->last_resp_ts = conn->resp_ts;
	if (h && !is_interim(h->status))
		p->span.status_code = h->status;
	if (in_message)
		p->span.response_body_bytes = body_bytes; /* what was framed */
}

static int on_response_event(void *ctx, const struct tw_h1_event *ev)
{
	struct conn *conn = ctx;
	struct pending *p = conn->first;

	switch (ev->type) {
	case TW_H1_EV_BEGIN:
		/* a resynced response: the lost one before it is over */
		if (p && p->resp_lost) {
			finish_front(conn, p->last_resp_ts, false);
			p = conn->first;
		}
		conn->resp_status = 0;
		if (p) {
			p->resp_started = true;
			p->last_resp_ts = conn->resp_ts;
		}
		return 0;
	case TW_H1_EV_HEAD:
		return on_response_head(conn, ev->head);
	case TW_H1_EV_END:
		on_response_end(conn, ev->body_bytes);
		return 0;
	case TW_H1_EV_UNSYNC:
		on_response_unsync(conn, ev->head, ev->in_message, ev->body_bytes);
		return 0;
	}
	return 0;
}

/* Bytes framing could not place still end the response they belong to:
 * an unsynced one (only the request it was lost in) or one until close. */
static void note_unframed_bytes(struct conn *conn)
{
	struct pending *p = conn->first;
	enum tw_h1_phase phase = tw_h1_phase(&conn->resp);

	if (!p)
		return;
	if ((phase == TW_H1_UNSYNCED && p->resp_lost) ||
	    (phase == TW_H1_UNTIL_CLOSE && p->resp_open))
		p->last_resp_ts = conn->resp_ts;
}

/* ---- records ----------------------------------------------------------- */

static uint8_t infer_role(const struct tw_event_hdr *hdr, const uint8_t *data)
{
	bool ingress = hdr->dir == TW_DIR_INGRESS;

	if (tw_h1_plausible_start(TW_H1_REQUEST, data, hdr->cap))
		return ingress ? TW_ROLE_SERVER : TW_ROLE_CLIENT;
	if (tw_h1_plausible_start(TW_H1_RESPONSE, data, hdr->cap))
		return ingress ? TW_ROLE_CLIENT : TW_ROLE_SERVER;
	return TW_ROLE_UNKNOWN;
}

static struct conn *conn_new(struct tw_correlator *c, uint64_t sock_id, uint8_t role)
{
	struct conn *conn;
	size_t b;

	if (c->stats.conns_live >= c->cfg.max_conns && c->oldest) {
		conn_flush(c, c->oldest);
		conn_free(c, c->oldest);
		c->stats.conns_evicted++;
	}
	conn = calloc(1, sizeof(*conn));
	if (!conn)
		return NULL;
	conn->c = c;
	conn->sock_id = sock_id;
	conn->role = role;
	tw_h1_init(&conn->req, TW_H1_REQUEST, on_request_event, conn);
	tw_h1_init(&conn->resp, TW_H1_RESPONSE, on_response_event, conn);
	b = bucket_of(c, sock_id);
	conn->hash_next = c->buckets[b];
	c->buckets[b] = conn;
	lru_push_newest(c, conn);
	c->stats.conns_live++;
	return conn;
}

static void handle_data(struct tw_correlator *c, const struct tw_event_hdr *hdr,
			const uint8_t *data)
{
	struct conn *conn = conn_find(c, hdr->sock_id);
	bool request_side;

	if (!conn) {
		uint8_t role = hdr->role != TW_ROLE_UNKNOWN ? hdr->role : infer_role(hdr, data);

		if (role == TW_ROLE_UNKNOWN)
			return; /* wait for bytes that tell */
		conn = conn_new(c, hdr->sock_id, role);
		if (!conn)
			return;
	}
	conn_touch(c, conn, hdr->ts_ns);
	if (conn->opaque)
		return;
	request_side = (conn->role == TW_ROLE_SERVER) == (hdr->dir == TW_DIR_INGRESS);
	c->cur = hdr;
	if (request_side) {
		conn->rec_start = tw_h1_stream_offset(&conn->req);
		conn->rec_end = conn->rec_start + hdr->len;
		conn->ctx_exact = hdr->dir == TW_DIR_EGRESS && (hdr->hdr_flags & TW_HDR_STREAM_OFF);
		server_ids_late(conn, hdr);
		if (conn->ctx_exact) {
			conn->ctx_shift = hdr->stream_off - conn->rec_start;
			conn->ctx_synced = true;
		}
		tw_h1_feed(&conn->req, data, hdr->cap, hdr->len);
	} else {
		conn->resp_ts = hdr->ts_ns;
		tw_h1_feed(&conn->resp, data, hdr->cap, hdr->len);
		note_unframed_bytes(conn);
	}
	c->cur = NULL;
}

static void handle_close(struct tw_correlator *c, const struct tw_event_hdr *hdr)
{
	struct conn *conn = conn_find(c, hdr->sock_id);

	if (!conn)
		return;
	c->cur = hdr;
	/* a body delimited by close ends at its last bytes (conn->resp_ts) */
	tw_h1_eof(&conn->resp);
	note_partial_body(conn);
	while (conn->first) {
		struct pending *p = conn->first;

		if (open_ended(p))
			finish_front(conn, p->last_resp_ts, false);
		else
			finish_front(conn, hdr->ts_ns, true);
	}
	c->cur = NULL;
	conn_free(c, conn);
}

/* sk_msg emitted it: a client socket's send, ids and no payload. */
static void handle_ctx(struct tw_correlator *c, const struct tw_event_hdr *hdr)
{
	struct conn *conn = conn_find(c, hdr->sock_id);

	c->stats.ctx_records++;
	/* emitted inside the send: it may precede every DATA record we see of
	 * the socket, and only client sockets get one */
	if (!conn)
		conn = conn_new(c, hdr->sock_id, TW_ROLE_CLIENT);
	if (!conn) {
		c->stats.ctx_unmatched++;
		return;
	}
	conn_touch(c, conn, hdr->ts_ns);
	/* no client request of this connection will ever claim it */
	if (conn->role != TW_ROLE_CLIENT || conn->opaque) {
		c->stats.ctx_unmatched++;
		return;
	}
	ctx_push(conn, hdr);
}

static int check_ctx_record(const struct tw_event_hdr *hdr)
{
	if (hdr->cap || hdr->dir != TW_DIR_EGRESS || hdr->role > TW_ROLE_CLIENT)
		return -EINVAL;
	if (hdr->ctx.kind != TW_CTX_INJECTED || !ctx_has_ids(&hdr->ctx))
		return -EINVAL;
	return 0;
}

static int check_record(const struct tw_event_hdr *hdr, size_t size)
{
	if (hdr->cap > TW_CAPTURE_MAX || hdr->cap > size - sizeof(*hdr))
		return -EINVAL;
	if (hdr->type == TW_EV_CLOSE)
		return 0;
	if (hdr->type == TW_EV_CTX)
		return check_ctx_record(hdr);
	if (hdr->type != TW_EV_DATA || hdr->cap > hdr->len)
		return -EINVAL;
	if (hdr->dir != TW_DIR_INGRESS && hdr->dir != TW_DIR_EGRESS)
		return -EINVAL;
	if (hdr->role > TW_ROLE_CLIENT)
		return -EINVAL;
	return 0;
}

int tw_correlator_handle(struct tw_correlator *c, const void *rec, size_t size)
{
	struct tw_event_hdr hdr;

	if (!c)
		return -EINVAL;
	if (!rec || size < sizeof(hdr))
		goto bad;
	/* records need not be aligned for us: copy the header out */
	memcpy(&hdr, rec, sizeof(hdr));
	if (check_record(&hdr, size) < 0)
		goto bad;
	c->stats.events++;
	if (hdr.type == TW_EV_DATA)
		handle_data(c, &hdr, (const uint8_t *)rec + sizeof(hdr));
	else if (hdr.type == TW_EV_CTX)
		handle_ctx(c, &hdr);
	else
		handle_close(c, &hdr);
	return 0;
bad:
	c->stats.bad_records++;
	return -EINVAL;
}

/* ---- lifecycle ------------------------------------------------------------ */

static bool framer_quiet(const struct tw_h1 *f)
{
	enum tw_h1_phase phase = tw_h1_phase(f);

	return phase == TW_H1_BETWEEN || phase == TW_H1_UNSYNCED;
}

/* Stops at the first connection that is not idle: the LRU is ordered by
 * activity, so the rest are newer (give or take per-CPU stamp skew, which
 * only delays them to a later tick). */
void tw_correlator_tick(struct tw_correlator *c, uint64_t now_mono_ns)
{
	struct conn *conn = c ? c->oldest : NULL;

	while (conn) {
		struct conn *newer = conn->newer;

		if (now_mono_ns < conn->last_ts || now_mono_ns - conn->last_ts < c->cfg.idle_ns)
			break;
		finish_open_ended_front(conn);
		/* nothing to remember: a later message starts a fresh connection
		 * (unclaimed TW_EV_CTX records go with it: their requests would
		 * have claimed them long ago) */
		if (!conn->first && !conn->opaque && framer_quiet(&conn->req) &&
		    framer_quiet(&conn->resp))
			conn_free(c, conn);
		conn = newer;
	}
}

void tw_correlator_flush(struct tw_correlator *c)
{
	if (!c)
		return;
	while (c->oldest) {
		struct conn *conn = c->oldest;

		conn_flush(c, conn);
		conn_free(c, conn);
	}
}

struct tw_correlator *tw_correlator_new(const struct tw_correlator_cfg *cfg)
{
	struct tw_correlator *c;
	size_t n = 16;

	if (!cfg || !cfg->max_conns) {
		errno = EINVAL;
		return NULL;
	}
	while (n < cfg->max_conns && n < BUCKETS_MAX)
		n <<= 1;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->buckets = calloc(n, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	c->nbuckets = n;
	c->cfg = *cfg;
	return c;
}

void tw_correlator_free(struct tw_correlator *c)
{
	if (!c)
		return;
	while (c->oldest)
		conn_free(c, c->oldest);
	free(c->buckets);
	free(c);
}

void tw_correlator_set_clock_offset(struct tw_correlator *c, int64_t mono_to_unix_ns)
{
	if (c)
		c->cfg.mono_to_unix_ns = mono_to_unix_ns;
}

void tw_correlator_stats(const struct tw_correlator *c, struct tw_correlator_stats *out)
{
	if (!out)
		return;
	if (!c) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = c->stats;
}
