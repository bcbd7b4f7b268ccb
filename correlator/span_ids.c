// SPDX-License-Identifier: BSD-2-Clause
/*
 * Which ids a request's span gets (correlator_int.h; the rules in
 * correlator.h and docs/propagation.md).
 *
 * Ids are chosen at a request's BEGIN (kept in the connection until its head
 * queues it), because what the kernel tells is tied to where the request
 * starts: the record it starts in (TW_CTX_SERVER, TW_CTX_THREAD) or its
 * stream offset (TW_EV_CTX, waiting in ctx_fifo.c). Ids the kernel did not
 * supply may still change at HEAD: the head's own traceparent is only known
 * then (corr_ids_from_header).
 */
#include "correlator_int.h"

#include <string.h>

#include "ids.h"
#include "tracectx.h"

bool corr_ctx_has_ids(const struct tw_trace_ctx *ctx)
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

/* A server head that took several reads: the kernel chooses the ids once it
 * has read the whole head (so it sees the traceparent wherever it is), and
 * they come with the record that completes it rather than the one that
 * began the request. */
void corr_server_ids_late(struct conn *conn, const struct tw_event_hdr *hdr)
{
	if (conn->role == TW_ROLE_SERVER && conn->req_head_open &&
	    conn->req_origin != IDS_KERNEL && hdr->ctx.kind == TW_CTX_SERVER &&
	    corr_ctx_has_ids(&hdr->ctx))
		ids_take(conn, &hdr->ctx);
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
void corr_ids_from_header(struct conn *conn, const struct tw_h1_head *h)
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

/*
 * A client request's start: the syscall's record is timed at its exit, and
 * a write on a fast path (loopback, a veth pair on 2 CPUs) can return after
 * the server has read, answered, and the answer has arrived: the CLIENT
 * span would begin after its SERVER child ended. sk_msg runs inside the
 * send before any byte leaves: its record's time, when earlier, is when the
 * request left.
 */
static void start_at_send(uint64_t *start_ts, uint64_t sent_ts)
{
	if (sent_ts && sent_ts < *start_ts)
		*start_ts = sent_ts;
}

void corr_choose_ids(struct conn *conn, const struct tw_event_hdr *hdr, uint64_t off)
{
	bool at_start = off == conn->rec_start;
	struct tw_trace_ctx injected;
	uint64_t sent_ts;

	if (conn->role == TW_ROLE_SERVER) {
		/* the kernel's context is that of the request starting the
		 * record; a pipelined successor in it is another request */
		if (at_start && hdr->ctx.kind == TW_CTX_SERVER && corr_ctx_has_ids(&hdr->ctx))
			ids_take(conn, &hdr->ctx);
		else
			ids_new_root(conn);
		return;
	}
	if (corr_ctx_claim(conn, off, at_start, &injected, &sent_ts)) {
		ids_take(conn, &injected);
		start_at_send(&conn->req_ts, sent_ts);
	} else if (hdr->ctx.kind == TW_CTX_THREAD && corr_ctx_has_ids(&hdr->ctx))
		ids_child_of_thread(conn, &hdr->ctx);
	else
		ids_new_root(conn);
}

/* An HTTP/2 stream at its first HEADERS frame: a client stream takes the ids
 * sk_msg put in that frame (TW_CTX_INJECTED_H2), else it is the child of the
 * writing thread's server request, if any. A server stream takes the ids the
 * Go probes chose if they came first (TW_CTX_SERVER_H2; mostly they come
 * later: corr_h2_server_ids), else starts a new trace until its traceparent
 * field is decoded (corr_h2_ids_from_field). */
void corr_choose_ids_h2(struct conn *conn, const struct tw_event_hdr *hdr, uint32_t sid,
			uint64_t *start_ts)
{
	struct tw_trace_ctx injected;
	uint64_t sent_ts;

	if (corr_ctx_claim_h2(conn, sid, &injected, &sent_ts)) {
		ids_take(conn, &injected);
		start_at_send(start_ts, sent_ts);
	} else if (conn->role == TW_ROLE_CLIENT && hdr->ctx.kind == TW_CTX_THREAD &&
		 corr_ctx_has_ids(&hdr->ctx))
		ids_child_of_thread(conn, &hdr->ctx);
	else
		ids_new_root(conn);
}

/* A stream's request header block carried exactly one traceparent field,
 * tp (HPACK-decoded): unless the kernel chose the span's ids, its parent is
 * the span that field names, as for an HTTP/1 head (corr_ids_from_header). */
void corr_h2_ids_from_field(struct pending *p, enum tw_role role,
			    const struct tw_traceparent_val *tp)
{
	struct tw_span *s = &p->span;

	if (p->id_origin != IDS_NEW && p->id_origin != IDS_THREAD)
		return;
	memcpy(s->trace_id, tp->trace_id, sizeof(s->trace_id));
	memcpy(s->parent_span_id, tp->parent_id, sizeof(s->parent_span_id));
	s->trace_flags = tp->flags;
	s->parent_source = tw_parent_source_str(role == TW_ROLE_SERVER ? TW_PSRC_HEADER
									: TW_PSRC_APPLICATION);
	p->id_origin = IDS_HEADER;
}

void corr_set_ids(struct pending *p, const struct conn *conn)
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
