/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * HTTP/2 inside the correlator (correlator_int.h): a connection whose
 * request side begins with the HTTP/2 connection preface (h2c with prior
 * knowledge, or h2 over TLS seen as plaintext) is framed here instead of by
 * the HTTP/1 framers, one span per stream.
 *
 *   http2.c          frames, per direction: frame headers, padding, header
 *                    block fragments, SETTINGS; sync lost and found again
 *   http2_hpack.c    HPACK decoding (libnghttp2's inflater), one dynamic
 *                    table per direction, its memory counted and bounded
 *   http2_streams.c  streams: headers into spans, END_STREAM/RST_STREAM,
 *                    gRPC status from trailers
 *
 * Bounds: a connection's HTTP/2 state is one small struct plus its live
 * streams (at most cfg.h2_max_streams; more are dropped and counted) and
 * two HPACK inflaters, whose tables are at most 4096 bytes each (a larger
 * SETTINGS_HEADER_TABLE_SIZE is refused: the decoder keeps 4096, which
 * only costs the headers that refer to entries beyond it) and whose
 * allocations all count against cfg.h2_hpack_bytes (an allocation past it
 * fails: that header block is lost, counted).
 *
 * Records the kernel framed (TW_HDR_H2_FRAMED, bpf/lib/h2capture.h) leave
 * DATA payloads out of their captured bytes: their lengths are followed
 * from the frame headers; TW_HDR_H2_AT_FRAME (a frame begins at the
 * record's first byte) finds sync again, and where we thought we were
 * inside a frame, says that bytes were lost.
 *
 * Uncaptured bytes (len > cap): inside a frame's payload they are skipped;
 * a header block fragment that is not seen whole makes the HPACK state of
 * that direction unknown, so the next header block starts on a fresh table
 * (sound: a fresh table holds the newest entries at the same indexes as the
 * real one, and a reference beyond it fails rather than decoding wrong).
 * A frame header that is not seen costs sync; it is found again at a later
 * record that begins with plausible frame headers. Records lost on the way
 * (ring buffer full) are seen on the sending side, whose records carry the
 * kernel's stream offset: a gap costs sync the same way.
 */
#ifndef TW_HTTP2_H
#define TW_HTTP2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define TW_H2_PREFACE_LEN 24
#define TW_H2_TABLE_MAX 4096          /* HPACK dynamic table bytes, each direction */
/* live streams per connection: RFC 9113 5.1.2 recommends a peer allow at
 * least 100 concurrent streams, and they all count against the budget's
 * max_pending_total as well (32 dropped most streams of 64 gRPC calls in
 * flight on one channel: test_grpc_chain) */
#define TW_H2_STREAMS_DEFAULT 128
#define TW_H2_HPACK_BYTES_DEFAULT (8u << 20) /* all inflaters together */

struct conn;
struct tw_correlator;
struct tw_event_hdr;
struct h2_stream;
typedef struct nghttp2_hd_inflater nghttp2_hd_inflater;

/* Which side of the exchange a direction carries. */
enum h2_side {
	H2_REQ = 0, /* bytes the client sends */
	H2_RESP = 1,
};

struct h2_dir {
	uint8_t fh[9];           /* frame header being read */
	uint8_t fh_n;            /* bytes of it read */
	uint8_t type, flags;
	uint8_t pre;             /* payload bytes before the fragment (pad length, priority) */
	uint8_t pad;             /* padding at the end (known once its byte is read) */
	bool unsynced;
	bool hpack_fresh;        /* HPACK state unknown: next block on a fresh table */
	bool block_open;         /* a header block awaits CONTINUATION */
	bool block_lost;         /* bytes of the open block were not seen */
	bool block_skip;         /* the open block is not decoded (table unknown) */
	bool block_es;           /* its HEADERS frame had END_STREAM */
	uint8_t set[6], set_n;   /* SETTINGS entry (RST_STREAM error code) being read */
	uint32_t table_size;     /* peer's SETTINGS_HEADER_TABLE_SIZE (capped), 0: default */
	uint32_t max_frame;      /* peer's SETTINGS_MAX_FRAME_SIZE, 0: default (16384) */
	uint32_t sid;
	uint32_t len, pos;       /* current frame's payload length, bytes consumed */
	uint32_t block_sid;
	uint32_t preface_left;   /* request side: preface bytes still to skip */
	bool off_known;          /* next_off is set */
	uint64_t next_off;       /* egress: the kernel's stream offset of the next call */
	nghttp2_hd_inflater *inf;
};

struct tw_h2 {
	struct h2_dir d[2];      /* enum h2_side */
	struct h2_stream *streams;
	unsigned nstreams;
	uint32_t last_sid;       /* highest client stream id seen */
};

/* ---- http2.c ---- */
/* Does this request-side record begin the HTTP/2 preface? (A prefix, when
 * fewer than 24 bytes are captured.) */
bool corr_h2_is_preface(const uint8_t *data, size_t cap);
/* The connection is HTTP/2 from now on (its next request-side bytes are
 * the preface): 0 or -ENOMEM. */
int corr_h2_start(struct conn *conn);
/* The same for a connection met mid-stream (the kernel says HTTP/2, our
 * state of it is gone: evicted): both directions wait for plausible frames,
 * on fresh tables. */
int corr_h2_start_midstream(struct conn *conn);
/* A record of an HTTP/2 connection. */
void corr_h2_data(struct conn *conn, const struct tw_event_hdr *hdr, const uint8_t *data);
/* The part of a record from data (cap of its len bytes captured). */
void corr_h2_feed(struct conn *conn, const struct tw_event_hdr *hdr, const uint8_t *data,
		  size_t cap, uint64_t len);
/* h2c upgrade (RFC 7540 3.2): a response record that begins with a 101
 * head switching to h2c; returns the offset of the first byte after that
 * head (the server's first HTTP/2 frames may follow in the same record),
 * 0 if it is no such head or the head is not all captured. */
size_t corr_h2_upgrade_head(const uint8_t *data, size_t cap);
/* At that 101's end: the connection is HTTP/2 from now on (the client's
 * next bytes are the preface), the upgrade request continues as stream 1,
 * answered there. 0, or -ENOMEM (then it goes opaque as any 101). */
int corr_h2_upgrade(struct conn *conn);
/* Close: open streams end (answered ones at their last bytes, the others
 * as connection_closed errors). */
void corr_h2_close(struct conn *conn, uint64_t ts);
/* Eviction, flush: answered streams are reported, the rest dropped. */
void corr_h2_flush(struct conn *conn);
/* Frees the HTTP/2 state (no spans). */
void corr_h2_free(struct conn *conn);
/* Memory of an idle HTTP/2 connection's state (inflaters' tables apart). */
size_t corr_h2_conn_bytes(void);

/* ---- http2_hpack.c ---- */
/* A fresh inflater for d (the old one, if any, freed); false when out of
 * the HPACK budget (d->inf stays NULL, counted). */
bool corr_hpack_reset(struct tw_correlator *c, struct h2_dir *d);
void corr_hpack_free(struct h2_dir *d);
/* The peer's SETTINGS_HEADER_TABLE_SIZE for the decoder of d. */
void corr_hpack_table_size(struct tw_correlator *c, struct h2_dir *d, uint32_t size);
/* One fragment of a header block of stream sid (final: END_HEADERS). A
 * decoding error leaves the rest of the block unread and the next block
 * on a fresh table. */
void corr_hpack_feed(struct conn *conn, enum h2_side side, const uint8_t *in, size_t n,
		     bool final);

/* ---- http2_streams.c ---- */
/* The HTTP/1 request that asked for the upgrade becomes stream 1. */
void corr_h2_adopt_upgrade_request(struct conn *conn);
/* A header block begins on stream sid (side: who sent it; sid 0: a
 * PUSH_PROMISE's, decoded for the table's sake only). */
void corr_h2_block_begin(struct conn *conn, enum h2_side side, uint32_t sid);
/* One decoded header field of the open block (d[side].block_sid). */
void corr_h2_header(struct conn *conn, enum h2_side side, const uint8_t *name, size_t nlen,
		    const uint8_t *value, size_t vlen);
/* The block ended (END_HEADERS), decoded or not. */
void corr_h2_block_end(struct conn *conn, enum h2_side side);
/* DATA payload bytes (padding excluded) on sid. */
void corr_h2_data_bytes(struct conn *conn, enum h2_side side, uint32_t sid, uint64_t n);
/* END_STREAM on a frame of sid (side: who ended). */
void corr_h2_end_stream(struct conn *conn, enum h2_side side, uint32_t sid);
/* RST_STREAM on sid, sent by side, with its error code (~0u: not seen). */
void corr_h2_reset(struct conn *conn, enum h2_side side, uint32_t sid, uint32_t code);
/* Frees every stream (no spans). */
/* TW_CTX_SERVER_H2: the SERVER span ids of followed stream sid; false
 * when there is no such stream. */
bool corr_h2_server_ids(struct conn *conn, uint32_t sid, const struct tw_trace_ctx *ctx);
void corr_h2_streams_free(struct conn *conn);
/* The response side lost sync: the live streams' ends may never be seen,
 * so an end by close is no error of theirs. */
void corr_h2_streams_lost(struct conn *conn);
/* Frees the correlator's HPACK allocator (tw_correlator_free). */
void corr_hpack_global_free(struct tw_correlator *c);

#endif
