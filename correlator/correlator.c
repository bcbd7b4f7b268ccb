// SPDX-License-Identifier: BSD-2-Clause
/*
 * Connection tracker and span pairing (contract in correlator.h; its parts
 * are listed in correlator_int.h): records in, tick, flush and lifecycle.
 *
 * The role of a connection is fixed by the first record that creates it:
 * the kernel's, else inferred from a plausible start line; bytes that tell
 * neither create nothing. Close ends what is pending: a response delimited
 * by close at its last bytes, unanswered requests as connection_closed
 * errors.
 *
 * stats.events counts well-formed records; bad_records the others.
 */
#include "correlator_int.h"
#include "http2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

static void handle_data(struct tw_correlator *c, const struct tw_event_hdr *hdr,
			const uint8_t *data)
{
	struct conn *conn = corr_conn_find(c, hdr->sock_id);
	bool request_side;

	if (!conn) {
		uint8_t role = hdr->role != TW_ROLE_UNKNOWN ? hdr->role : infer_role(hdr, data);

		if (role == TW_ROLE_UNKNOWN)
			return; /* wait for bytes that tell */
		conn = corr_conn_new(c, hdr->sock_id, role);
		if (!conn)
			return;
	}
	corr_conn_touch(c, conn, hdr->ts_ns);
	if (conn->opaque)
		return;
	/* plaintext from the OpenSSL uprobes: the connection is HTTPS */
	if (hdr->syscall == TW_SC_SSL_READ || hdr->syscall == TW_SC_SSL_WRITE)
		conn->tls = true;
	request_side = (conn->role == TW_ROLE_SERVER) == (hdr->dir == TW_DIR_INGRESS);
	/* HTTP/2 is told by its preface, the connection's first request bytes */
	if (!conn->h2 && request_side && tw_h1_stream_offset(&conn->req) == 0 &&
	    corr_h2_is_preface(data, hdr->cap) && corr_h2_start(conn) < 0)
		return; /* out of memory: neither framer can follow it */
	/* the kernel knows it as HTTP/2 and we hold nothing of it: picked up
	 * again mid-stream (not its preface) after an eviction */
	if (!conn->h2 && (hdr->hdr_flags & TW_HDR_H2) && tw_h1_stream_offset(&conn->req) == 0 &&
	    tw_h1_stream_offset(&conn->resp) == 0 && corr_h2_start_midstream(conn) < 0)
		return;
	if (conn->h2) {
		corr_h2_data(conn, hdr, data);
		return;
	}
	c->cur = hdr;
	if (request_side) {
		conn->rec_start = tw_h1_stream_offset(&conn->req);
		conn->rec_end = conn->rec_start + hdr->len;
		conn->ctx_exact = hdr->dir == TW_DIR_EGRESS && (hdr->hdr_flags & TW_HDR_STREAM_OFF);
		corr_server_ids_late(conn, hdr);
		if (conn->ctx_exact) {
			conn->ctx_shift = hdr->stream_off - conn->rec_start;
			conn->ctx_synced = true;
		}
		tw_h1_feed(&conn->req, data, hdr->cap, hdr->len);
	} else {
		conn->resp_ts = hdr->ts_ns;
		conn->h2_upgrade_at = (uint32_t)corr_h2_upgrade_head(data, hdr->cap);
		tw_h1_feed(&conn->resp, data, hdr->cap, hdr->len);
		/* upgraded to h2c by that head: the rest of the record is
		 * the server's first HTTP/2 frames */
		if (conn->h2 && conn->h2_upgrade_at)
			corr_h2_feed(conn, hdr, data + conn->h2_upgrade_at,
				     hdr->cap - conn->h2_upgrade_at, hdr->len - conn->h2_upgrade_at);
		else
			corr_note_unframed_bytes(conn);
		conn->h2_upgrade_at = 0;
	}
	c->cur = NULL;
}

static void handle_close(struct tw_correlator *c, const struct tw_event_hdr *hdr)
{
	struct conn *conn = corr_conn_find(c, hdr->sock_id);

	if (!conn)
		return;
	c->cur = hdr;
	if (conn->h2)
		corr_h2_close(conn, hdr->ts_ns);
	/* a body delimited by close ends at its last bytes (conn->resp_ts) */
	tw_h1_eof(&conn->resp);
	corr_note_partial_body(conn);
	while (conn->first) {
		struct pending *p = conn->first;

		if (corr_open_ended(p))
			corr_finish_front(conn, p->last_resp_ts, false);
		else
			corr_finish_front(conn, hdr->ts_ns, true);
	}
	c->cur = NULL;
	corr_conn_free(c, conn);
}

/* The Go probes' ids for a server stream (TW_CTX_SERVER_H2): its stream
 * was mostly framed already; else it waits for it like sk_msg's. */
static void handle_server_ctx(struct tw_correlator *c, struct conn *conn,
			      const struct tw_event_hdr *hdr)
{
	if (!conn || conn->role != TW_ROLE_SERVER || conn->opaque) {
		c->stats.ctx_unmatched++;
		return;
	}
	corr_conn_touch(c, conn, hdr->ts_ns);
	if (corr_h2_server_ids(conn, (uint32_t)hdr->len, &hdr->ctx))
		c->stats.ctx_matched++;
	else
		corr_ctx_push(conn, hdr);
}

/* sk_msg emitted it: a client socket's send, ids and no payload. */
static void handle_ctx(struct tw_correlator *c, const struct tw_event_hdr *hdr)
{
	struct conn *conn = corr_conn_find(c, hdr->sock_id);

	c->stats.ctx_records++;
	if (hdr->ctx.kind == TW_CTX_SERVER_H2) {
		handle_server_ctx(c, conn, hdr);
		return;
	}
	/* emitted inside the send: it may precede every DATA record we see of
	 * the socket, and only client sockets get one */
	if (!conn)
		conn = corr_conn_new(c, hdr->sock_id, TW_ROLE_CLIENT);
	if (!conn) {
		c->stats.ctx_unmatched++;
		return;
	}
	corr_conn_touch(c, conn, hdr->ts_ns);
	/* no client request of this connection will ever claim it */
	if (conn->role != TW_ROLE_CLIENT || conn->opaque) {
		c->stats.ctx_unmatched++;
		return;
	}
	corr_ctx_push(conn, hdr);
}

static int check_ctx_record(const struct tw_event_hdr *hdr)
{
	if (hdr->ctx.kind == TW_CTX_SERVER_H2)
		return hdr->cap || hdr->dir != TW_DIR_INGRESS || hdr->role != TW_ROLE_SERVER ||
		       hdr->len > 0x7fffffff || !corr_ctx_has_ids(&hdr->ctx) ? -EINVAL : 0;
	if (hdr->cap || hdr->dir != TW_DIR_EGRESS || hdr->role > TW_ROLE_CLIENT)
		return -EINVAL;
	if ((hdr->ctx.kind != TW_CTX_INJECTED && hdr->ctx.kind != TW_CTX_INJECTED_H2) ||
	    !corr_ctx_has_ids(&hdr->ctx))
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
		corr_finish_open_ended_front(conn);
		/* nothing to remember: a later message starts a fresh connection
		 * (unclaimed TW_EV_CTX records go with it: their requests would
		 * have claimed them long ago) */
		/* HTTP/2 state (HPACK tables) cannot be had again mid-stream */
		if (!conn->first && !conn->opaque && !conn->h2 && framer_quiet(&conn->req) &&
		    framer_quiet(&conn->resp))
			corr_conn_free(c, conn);
		conn = newer;
	}
}

void tw_correlator_flush(struct tw_correlator *c)
{
	if (!c)
		return;
	while (c->oldest) {
		struct conn *conn = c->oldest;

		corr_conn_flush(c, conn);
		corr_conn_free(c, conn);
	}
}

struct tw_correlator *tw_correlator_new(const struct tw_correlator_cfg *cfg)
{
	struct tw_correlator *c;

	if (!cfg || !cfg->max_conns) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (corr_table_init(c, cfg->max_conns)) {
		free(c);
		return NULL;
	}
	c->cfg = *cfg;
	if (!c->cfg.max_pending || c->cfg.max_pending > MAX_PENDING)
		c->cfg.max_pending = MAX_PENDING;
	if (!c->cfg.h2_max_streams)
		c->cfg.h2_max_streams = TW_H2_STREAMS_DEFAULT;
	if (!c->cfg.h2_hpack_bytes)
		c->cfg.h2_hpack_bytes = TW_H2_HPACK_BYTES_DEFAULT;
	return c;
}

void tw_correlator_free(struct tw_correlator *c)
{
	if (!c)
		return;
	corr_table_free(c);
	corr_hpack_global_free(c);
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
