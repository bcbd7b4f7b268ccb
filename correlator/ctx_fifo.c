// SPDX-License-Identifier: BSD-2-Clause
/*
 * The ids sk_msg put on the wire, waiting for their request
 * (correlator_int.h). TW_EV_CTX records come before the DATA record of the
 * same send (sk_msg runs inside the syscall), so they wait in a small
 * per-connection FIFO, oldest offset first, for the request they name.
 *
 * Offsets: the request framer counts from the first byte this connection
 * saw, the kernel from the socket's first byte. Egress records of sockets
 * the kernel tracked from connect() carry the kernel's offset
 * (TW_HDR_STREAM_OFF), which fixes ctx_shift exactly (correlator.c).
 * Without it (records from before, tests), a connection tracked from
 * mid-stream (re-created after tick freed it or eviction, records lost)
 * lags by a constant; ctx_shift holds it once a match establishes it.
 */
#include "correlator_int.h"

#include <stdlib.h>

static struct injected *ctx_front(struct conn *conn)
{
	return &conn->ctx_fifo[conn->ctx_first];
}

void corr_ctx_free(struct conn *conn)
{
	if (conn->ctx_cap > CTX_FIFO_MAX)
		conn->c->ctx_slots_extra -= conn->ctx_cap - CTX_FIFO_MAX;
	free(conn->ctx_fifo);
	conn->ctx_fifo = NULL;
	conn->ctx_first = conn->ctx_n = conn->ctx_cap = 0;
}

/* An empty ring is freed: an idle connection holds none (memory budget). */
static void ctx_pop(struct conn *conn)
{
	conn->ctx_first = (uint8_t)((conn->ctx_first + 1) % conn->ctx_cap);
	conn->ctx_n--;
	if (!conn->ctx_n)
		corr_ctx_free(conn);
}

/* A full ring of HTTP/2 records doubles, up to CTX_FIFO_H2_MAX and while
 * every ring's extra slots stay within the bound on pending requests. */
static bool ctx_grow(struct conn *conn)
{
	struct tw_correlator *c = conn->c;
	unsigned cap = conn->ctx_cap * 2u, extra = cap - conn->ctx_cap;
	struct injected *e;

	if (cap > CTX_FIFO_H2_MAX ||
	    (c->cfg.max_pending_total && c->ctx_slots_extra + extra > c->cfg.max_pending_total))
		return false;
	e = malloc(cap * sizeof(*e));
	if (!e)
		return false;
	for (unsigned i = 0; i < conn->ctx_n; i++)
		e[i] = conn->ctx_fifo[(conn->ctx_first + i) % conn->ctx_cap];
	free(conn->ctx_fifo);
	conn->ctx_fifo = e;
	conn->ctx_first = 0;
	conn->ctx_cap = (uint8_t)cap;
	c->ctx_slots_extra += extra;
	return true;
}

void corr_ctx_push(struct conn *conn, const struct tw_event_hdr *hdr)
{
	struct injected *e;

	if (!conn->ctx_fifo) {
		conn->ctx_fifo = malloc(CTX_FIFO_MAX * sizeof(*conn->ctx_fifo));
		if (!conn->ctx_fifo) {
			conn->c->stats.ctx_unmatched++;
			return;
		}
		conn->ctx_first = 0;
		conn->ctx_n = 0;
		conn->ctx_cap = CTX_FIFO_MAX;
	}
	if (conn->ctx_n == conn->ctx_cap &&
	    !(hdr->ctx.kind == TW_CTX_INJECTED_H2 && ctx_grow(conn))) {
		conn->c->stats.ctx_unmatched++;
		ctx_pop(conn); /* leaves ctx_cap - 1 >= 15: the ring stays */
	}
	e = &conn->ctx_fifo[(conn->ctx_first + conn->ctx_n) % conn->ctx_cap];
	conn->ctx_n++;
	e->off = hdr->len;
	e->sent_ts = hdr->ts_ns;
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

/* Records older than the request's are stale: their requests were never
 * framed (lost records, heads not captured). */
bool corr_ctx_claim(struct conn *conn, uint64_t our_off, bool at_start,
		    struct tw_trace_ctx *out, uint64_t *sent_ts)
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
	*sent_ts = e->sent_ts;
	ctx_pop(conn);
	conn->ctx_synced = true;
	st->ctx_matched++;
	return true;
}

/* An HTTP/2 stream's ids (TW_CTX_INJECTED_H2: off is its stream id). Stream
 * ids only grow on a connection, in the order sk_msg saw them: records of
 * lower ids were streams not followed here. */
bool corr_ctx_claim_h2(struct conn *conn, uint32_t sid, struct tw_trace_ctx *out,
		       uint64_t *sent_ts)
{
	struct tw_correlator_stats *st = &conn->c->stats;

	while (conn->ctx_n && ctx_front(conn)->off < sid) {
		st->ctx_unmatched++;
		ctx_pop(conn);
	}
	if (!conn->ctx_n || ctx_front(conn)->off != sid)
		return false;
	*out = ctx_front(conn)->ctx;
	*sent_ts = ctx_front(conn)->sent_ts;
	ctx_pop(conn);
	st->ctx_matched++;
	return true;
}

/* At BEGIN: off is the request's stream offset (ours). */
