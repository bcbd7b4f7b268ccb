// SPDX-License-Identifier: BSD-2-Clause
/*
 * Finishing spans (correlator_int.h): a request and its response become a
 * span with times, status and the correlator's counts.
 *
 * Evicting a connection and flushing do the same thing to it: spans whose
 * response has started are finished (end = last response bytes seen), the
 * rest are dropped and counted in dropped_unanswered. Close is different:
 * the outcome is known, so unanswered requests end as connection_closed
 * errors (correlator.c). Idle connections with nothing pending are freed by
 * tick; a later byte starts them afresh.
 */
#include "correlator_int.h"
#include "http2.h"

#include <stdio.h>

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

void corr_finish_front(struct conn *conn, uint64_t end_ts, bool closed)
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
	corr_pending_pop(conn);
}

void corr_note_partial_body(struct conn *conn)
{
	struct pending *p = conn->first;
	enum tw_h1_phase phase = tw_h1_phase(&conn->resp);

	if (p && p->resp_started && !p->resp_lost &&
	    (phase == TW_H1_IN_MESSAGE || phase == TW_H1_UNTIL_CLOSE))
		p->span.response_body_bytes = tw_h1_body_bytes(&conn->resp);
}

bool corr_open_ended(const struct pending *p)
{
	return p->resp_started && (p->resp_lost || p->resp_open);
}

/* A response framing cannot end is over when the next request starts or
 * the connection goes idle. Called from request-side events and tick only:
 * it may reposition the response framer. */
void corr_finish_open_ended_front(struct conn *conn)
{
	struct pending *p = conn->first;

	if (!p || !corr_open_ended(p))
		return;
	corr_note_partial_body(conn);
	corr_finish_front(conn, p->last_resp_ts, false);
	/* a body "until close" that is not: later bytes are not its body */
	if (tw_h1_phase(&conn->resp) == TW_H1_UNTIL_CLOSE)
		tw_h1_unsync(&conn->resp);
}

/* Eviction and flush: what has a response is reported, the rest is not
 * known to have failed. */
void corr_conn_flush(struct tw_correlator *c, struct conn *conn)
{
	corr_h2_flush(conn);
	corr_note_partial_body(conn);
	while (conn->first) {
		if (conn->first->resp_started) {
			corr_finish_front(conn, conn->first->last_resp_ts, false);
		} else {
			c->stats.dropped_unanswered++;
			corr_pending_pop(conn);
		}
	}
}

/* Called from a response event: the response framer switched itself (or
 * is unsynced); handle_data stops feeding either framer from now on. */
void corr_conn_go_opaque(struct tw_correlator *c, struct conn *conn)
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
		corr_pending_pop(conn);
	}
}
