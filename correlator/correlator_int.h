/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Inside the correlator (contract in correlator.h): the state each part
 * shares, one part a file:
 *
 *   correlator.c   records in (checked, dispatched), tick, flush, lifecycle
 *   conn_table.c   connections by sock_id: hash table and LRU
 *   pairing.c      the framers' events: requests queue, responses pair
 *   span_finish.c  a paired request becomes a span (status, times, stats)
 *   span_ids.c     which trace, span and parent ids a request gets
 *   ctx_fifo.c     the ids sk_msg put on the wire, waiting for their request
 *   http2*.c       HTTP/2 connections instead of the HTTP/1 framers (http2.h)
 *
 * Not part of any API: only the correlator's own files include it.
 */
#ifndef TW_CORRELATOR_INT_H
#define TW_CORRELATOR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "correlator.h"
#include "http1.h"
#include "tracewire_event.h"

/* Pipelining depth beyond any real client, the ceiling of cfg.max_pending;
 * past it requests are dropped (dropped_unanswered, pending_dropped_conn)
 * rather than growing memory without bound. */
#define MAX_PENDING 64
/* TW_EV_CTX records waiting for their request. A request claims its record
 * at once (same send), so more than a few waiting means records for
 * requests we will never frame: the oldest go first. */
#define CTX_FIFO_MAX 16     /* HTTP/1: the requests one send can start */
/* HTTP/2: one send can open as many streams as a connection may have live
 * (TW_H2_STREAMS_DEFAULT); the ring grows to this for TW_CTX_INJECTED_H2
 * records, while all rings' slots beyond CTX_FIFO_MAX stay within
 * cfg.max_pending_total (each waits for a request about to be pending) */
#define CTX_FIFO_H2_MAX 128

/* Where a request's ids came from (stats). */
enum id_origin {
	IDS_NEW = 0,   /* new trace, chosen here */
	IDS_KERNEL,    /* TW_CTX_SERVER or TW_EV_CTX: as the kernel chose them */
	IDS_THREAD,    /* child of the writing thread's server request */
	IDS_HEADER,    /* no kernel ids: the request head's own traceparent */
};

struct tw_h2;

struct injected {
	uint64_t off;            /* kernel stream offset of the request's first byte */
	uint64_t sent_ts;        /* CLOCK_MONOTONIC when sk_msg saw it leave */
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
	bool tls;                   /* its records are TLS plaintext: https */
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
	/* TW_EV_CTX records not claimed yet: a ring of ctx_cap (CTX_FIFO_MAX,
	 * up to CTX_FIFO_H2_MAX), oldest at ctx_first, allocated while one
	 * waits (NULL when ctx_n is 0) */
	struct injected *ctx_fifo;
	uint8_t ctx_first, ctx_n, ctx_cap;
	bool ctx_synced;             /* a match confirmed ctx_shift */
	bool ctx_exact;              /* this record's kernel offset fixed ctx_shift */
	uint64_t ctx_shift;          /* kernel offset = ours + ctx_shift */
	struct tw_tuple tuple;
	struct tw_h1 req, resp;
	struct tw_h2 *h2;            /* HTTP/2 (http2.h): the framers above unused */
	uint32_t h2_upgrade_at;      /* response record: bytes of a 101 to h2c head */
};

struct tw_correlator {
	struct tw_correlator_cfg cfg;
	struct tw_correlator_stats stats;
	size_t ctx_slots_extra;     /* ring slots beyond CTX_FIFO_MAX, all connections */
	struct conn **buckets;
	size_t nbuckets; /* power of two */
	struct conn *newest, *oldest;
	const struct tw_event_hdr *cur; /* record being handled, for callbacks */
	void *h2_mem;                /* HPACK allocator (http2_hpack.c) */
	size_t h2_hpack_bytes;       /* bytes it holds now */
};

/* ---- conn_table.c ---- */
struct conn *corr_conn_find(const struct tw_correlator *c, uint64_t sock_id);
/* A new connection (evicting the least recently active one at max_conns);
 * NULL when out of memory. */
struct conn *corr_conn_new(struct tw_correlator *c, uint64_t sock_id, uint8_t role);
/* Marks conn the most recently active (ts: the record's stamp). */
void corr_conn_touch(struct tw_correlator *c, struct conn *conn, uint64_t ts);
/* Drops the connection without emitting anything. */
void corr_conn_free(struct tw_correlator *c, struct conn *conn);
/* Frees the oldest pending request of conn. */
void corr_pending_pop(struct conn *conn);
/* pairing.c: a popped entry back to the thread's spare list (or free) */
void corr_pending_release(struct pending *p);
/* The bucket array for max_conns connections: 0 or -ENOMEM. */
int corr_table_init(struct tw_correlator *c, size_t max_conns);
/* Drops every connection (corr_conn_free) and the buckets. */
void corr_table_free(struct tw_correlator *c);

/* ---- pairing.c: the tw_h1 callbacks of each connection's framers ---- */
int corr_on_request_event(void *ctx, const struct tw_h1_event *ev);
int corr_on_response_event(void *ctx, const struct tw_h1_event *ev);
/* After a response-side record: bytes framing could not place still end
 * the response they belong to. */
void corr_note_unframed_bytes(struct conn *conn);

/* ---- span_finish.c ---- */
/* Emits and frees the oldest pending request of conn. */
void corr_finish_front(struct conn *conn, uint64_t end_ts, bool closed);
/* A span finished before its response's framing ended reports the body
 * bytes framed so far. */
void corr_note_partial_body(struct conn *conn);
/* Its response started and framing cannot tell where it ends. */
bool corr_open_ended(const struct pending *p);
void corr_finish_open_ended_front(struct conn *conn);
/* Eviction and flush: what has a response is reported, the rest dropped. */
void corr_conn_flush(struct tw_correlator *c, struct conn *conn);
/* The connection left HTTP: no framing from now on. */
void corr_conn_go_opaque(struct tw_correlator *c, struct conn *conn);

/* ---- span_ids.c ---- */
/* W3C: all-zero ids are invalid; a context without both is no context. */
bool corr_ctx_has_ids(const struct tw_trace_ctx *ctx);
/* At a request's BEGIN: off is its stream offset (ours). */
void corr_choose_ids(struct conn *conn, const struct tw_event_hdr *hdr, uint64_t off);
/* ... an HTTP/2 stream's; *start_ts may move earlier (see corr_choose_ids) */
void corr_choose_ids_h2(struct conn *conn, const struct tw_event_hdr *hdr, uint32_t sid,
			uint64_t *start_ts);
struct tw_traceparent_val;
void corr_h2_ids_from_field(struct pending *p, enum tw_role role,
			    const struct tw_traceparent_val *tp);
/* Before feeding a request-side record: kernel ids of a server head that
 * took several reads. */
void corr_server_ids_late(struct conn *conn, const struct tw_event_hdr *hdr);
/* At HEAD, for ids the kernel did not supply: the head's own traceparent. */
void corr_ids_from_header(struct conn *conn, const struct tw_h1_head *h);
/* The chosen ids into a queued request's span. */
void corr_set_ids(struct pending *p, const struct conn *conn);

/* ---- ctx_fifo.c ---- */
/* A TW_EV_CTX record waits for its request (the oldest goes when full). */
void corr_ctx_push(struct conn *conn, const struct tw_event_hdr *hdr);
void corr_ctx_free(struct conn *conn);
/* The waiting record of the request starting at our offset our_off, if any:
 * its ids into *out, the time sk_msg saw the request into *sent_ts; older
 * ones are dropped as stale. */
bool corr_ctx_claim_h2(struct conn *conn, uint32_t sid, struct tw_trace_ctx *out,
		       uint64_t *sent_ts);
bool corr_ctx_claim(struct conn *conn, uint64_t our_off, bool at_start,
		    struct tw_trace_ctx *out, uint64_t *sent_ts);

#endif
