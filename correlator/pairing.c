// SPDX-License-Identifier: BSD-2-Clause
/*
 * Pairing (correlator_int.h): the events of each connection's two framers.
 *
 * Each connection has a request framer and a response framer; which syscall
 * direction feeds which depends on the role (SERVER reads requests, CLIENT
 * writes them). Requests queue in a FIFO once their head is read (or their
 * start line, when the head runs past the capture); responses pair with the
 * FIFO head. A request head still incomplete at close is not reported:
 * there is no method or path to report.
 *
 * Unsynced response bytes are attributed only to the request whose response
 * lost sync, so a pipelined successor is not ended by its predecessor's tail.
 */
#include "correlator_int.h"
#include "http2.h"

#include <stdlib.h>
#include <string.h>

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

/*
 * Entries of answered requests freed on this thread, for the next request:
 * every request took a 1 KiB calloc and gave it back to free. A few are
 * enough: entries are freed as fast as they are made once responses flow.
 */
#define PENDING_SPARE 32
static _Thread_local struct {
	struct pending *p[PENDING_SPARE];
	unsigned n;
} spare;

static struct pending *pending_new(void)
{
	struct pending *p;

	if (!spare.n)
		return calloc(1, sizeof(*p));
	p = spare.p[--spare.n];
	memset(p, 0, sizeof(*p));
	return p;
}

void corr_pending_release(struct pending *p)
{
	if (spare.n < PENDING_SPARE)
		spare.p[spare.n++] = p;
	else
		free(p);
}

static struct pending *queue_request(struct conn *conn, const struct tw_h1_head *h)
{
	struct tw_correlator *c = conn->c;
	struct pending *p;
	struct tw_span *s;

	if (conn->npending >= c->cfg.max_pending) {
		c->stats.pending_dropped_conn++;
		goto drop;
	}
	if (c->cfg.max_pending_total && c->stats.pending_live >= c->cfg.max_pending_total) {
		c->stats.pending_dropped_total++;
		goto drop;
	}
	p = pending_new();
	if (!p)
		goto drop;
	s = &p->span;
	p->start_ts = conn->req_ts;
	p->is_head = strcmp(h->method, "HEAD") == 0;
	p->is_connect = strcmp(h->method, "CONNECT") == 0;
	s->kind = conn->role == TW_ROLE_SERVER ? TW_SPAN_SERVER : TW_SPAN_CLIENT;
	corr_set_ids(p, conn);
	s->pid = conn->req_pid;
	s->tid = conn->req_tid;
	copy_str(s->service, sizeof(s->service), conn->req_comm,
		 strnlen(conn->req_comm, sizeof(conn->req_comm)));
	copy_str(s->method, sizeof(s->method), h->method, strlen(h->method));
	tw_h1_split_target(h->target, s->path, sizeof(s->path), s->query, sizeof(s->query));
	copy_str(s->host, sizeof(s->host), h->host, strlen(h->host));
	s->http_minor = h->minor;
	s->tls = conn->tls;
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
	c->stats.pending_live++;
	return p;
drop:
	c->stats.dropped_unanswered++;
	return NULL;
}

int corr_on_request_event(void *ctx, const struct tw_h1_event *ev)
{
	struct conn *conn = ctx;
	const struct tw_event_hdr *hdr = conn->c->cur;

	switch (ev->type) {
	case TW_H1_EV_BEGIN:
		corr_finish_open_ended_front(conn);
		conn->req_ts = hdr->ts_ns;
		conn->req_pid = hdr->pid;
		conn->req_tid = hdr->tid;
		memcpy(conn->req_comm, hdr->comm, sizeof(conn->req_comm));
		conn->tuple = hdr->tuple;
		corr_choose_ids(conn, hdr, ev->offset);
		conn->req_head_open = true;
		break;
	case TW_H1_EV_HEAD:
		conn->req_head_open = false;
		corr_ids_from_header(conn, ev->head);
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

	/* a 101 to h2c (http2.c): its request is answered as stream 1 */
	if (switched && conn->h2_upgrade_at && !conn->h2 && corr_h2_upgrade(conn) == 0)
		return;
	if (p && !is_interim(conn->resp_status)) {
		p->last_resp_ts = conn->resp_ts;
		p->span.response_body_bytes = body_bytes;
		corr_finish_front(conn, p->last_resp_ts, false);
	} else if (p) {
		p->last_resp_ts = conn->resp_ts;
	}
	if (switched)
		corr_conn_go_opaque(c, conn);
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

int corr_on_response_event(void *ctx, const struct tw_h1_event *ev)
{
	struct conn *conn = ctx;
	struct pending *p = conn->first;

	switch (ev->type) {
	case TW_H1_EV_BEGIN:
		/* a resynced response: the lost one before it is over */
		if (p && p->resp_lost) {
			corr_finish_front(conn, p->last_resp_ts, false);
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

/* Bytes framing could not place: an unsynced response (only the request it
 * was lost in) or one until close. */
void corr_note_unframed_bytes(struct conn *conn)
{
	struct pending *p = conn->first;
	enum tw_h1_phase phase = tw_h1_phase(&conn->resp);

	if (!p)
		return;
	if ((phase == TW_H1_UNSYNCED && p->resp_lost) ||
	    (phase == TW_H1_UNTIL_CLOSE && p->resp_open))
		p->last_resp_ts = conn->resp_ts;
}
