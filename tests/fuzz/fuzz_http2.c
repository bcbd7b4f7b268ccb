// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for HTTP/2 framing and HPACK decoding
 * (correlator/http2*.c): the bytes of an HTTP/2 connection as the kernel
 * hands them over, through the correlator's record interface.
 *
 * Input: byte 0 = options (bit 0: the connection's role is SERVER, else
 * CLIENT; bit 1: an HPACK memory bound of 300 bytes, so allocations fail;
 * bit 2: at most 2 live streams; bit 3: close the connection at the end
 * rather than flush; bit 4: egress records carry the kernel's stream
 * offset, the sum of earlier egress lengths plus 64 times bits 1-3 of their
 * dir byte, so gaps happen), then records: dir (odd: ingress, even: egress;
 * bit 4: the record is one the kernel framed, TW_HDR_H2_FRAMED, DATA
 * payloads left out; bit 5: with it, TW_HDR_H2_AT_FRAME),
 * len (u32 LE), cap (u16 LE, at most TW_CAPTURE_MAX and the bytes left),
 * cap bytes. A record whose len is below its cap is cut to its cap. Seeds
 * (tests/fuzz/corpus/http2/) are recorded gRPC connections, which begin
 * with the preface, so the HTTP/2 path is what gets fuzzed.
 *
 * Every span must be well-formed: strings terminated within their fields,
 * a kind, end not before start, a gRPC span named by its path; the
 * counters consistent. ASan and UBSan check the rest, and LeakSanitizer
 * that every stream and inflater is freed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "correlator.h"
#include "tracewire_event.h"

#include "fuzz_check.h"

static uint64_t n_spans;

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void on_span(void *ctx, struct tw_span *s)
{
	(void)ctx;
	n_spans++;
	CHECK(s->kind == TW_SPAN_SERVER || s->kind == TW_SPAN_CLIENT);
	CHECK(s->end_ns >= s->start_ns);
	CHECK(terminated(s->method, sizeof(s->method)));
	CHECK(terminated(s->path, sizeof(s->path)));
	CHECK(terminated(s->query, sizeof(s->query)));
	CHECK(terminated(s->host, sizeof(s->host)));
	CHECK(terminated(s->service, sizeof(s->service)));
	CHECK(terminated(s->error_type, sizeof(s->error_type)));
	CHECK(s->status != TW_STATUS_ERROR || s->error_type[0]);
	CHECK(tw_span_name(s)[0]);
	if (s->grpc && s->path[0] == '/' && s->path[1])
		CHECK(!strcmp(tw_span_name(s), s->path + 1));
	{
		struct tw_span_attrs a;

		tw_span_attrs(s, &a);
		CHECK(a.n <= TW_SPAN_ATTRS_MAX);
	}
}

static void record(struct tw_correlator *c, uint8_t role, uint8_t dir, uint8_t dir_byte,
		   const uint8_t *data, uint16_t cap, uint32_t len, uint64_t ts,
		   const uint64_t *stream_off)
{
	uint8_t b[sizeof(struct tw_event_hdr) + TW_CAPTURE_MAX];
	struct tw_event_hdr h = { 0 };

	if (stream_off && dir == TW_DIR_EGRESS) {
		h.stream_off = *stream_off;
		h.hdr_flags = TW_HDR_STREAM_OFF;
	}
	if (dir_byte & 16)
		h.hdr_flags |= TW_HDR_H2 | TW_HDR_H2_FRAMED | ((dir_byte & 32) ? TW_HDR_H2_AT_FRAME : 0);
	h.type = TW_EV_DATA;
	h.sock_id = 42;
	h.role = role;
	h.dir = dir;
	h.ts_ns = ts;
	h.len = len < cap ? cap : len;
	h.cap = cap;
	h.pid = 1;
	h.tid = 2;
	h.tuple.family = AF_INET;
	memcpy(b, &h, sizeof(h));
	memcpy(b + sizeof(h), data, cap);
	CHECK(tw_correlator_handle(c, b, sizeof(h) + cap) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tw_correlator_cfg cfg = { .max_conns = 4, .idle_ns = 1000, .on_span = on_span };
	struct tw_correlator_stats st;
	struct tw_correlator *c;
	uint8_t opts, role;
	uint64_t ts = 1, sent = 0, off;
	size_t i = 1;

	if (!size)
		return 0;
	opts = data[0];
	role = (opts & 1) ? TW_ROLE_SERVER : TW_ROLE_CLIENT;
	if (opts & 2)
		cfg.h2_hpack_bytes = 300;
	if (opts & 4)
		cfg.h2_max_streams = 2;
	c = tw_correlator_new(&cfg);
	CHECK(c);
	n_spans = 0;
	while (i + 7 <= size) {
		uint8_t dir = (data[i] & 1) ? TW_DIR_INGRESS : TW_DIR_EGRESS;
		uint32_t len;
		uint16_t cap;

		memcpy(&len, data + i + 1, 4);
		memcpy(&cap, data + i + 5, 2);
		i += 7;
		if (cap > TW_CAPTURE_MAX)
			cap = TW_CAPTURE_MAX;
		if (cap > size - i)
			cap = (uint16_t)(size - i);
		off = sent + 64 * ((data[i - 7] >> 1) & 7);
		record(c, role, dir, data[i - 7], data + i, cap, len, ts++, (opts & 16) ? &off : NULL);
		if (dir == TW_DIR_EGRESS)
			sent = off + (len < cap ? cap : len);
		i += cap;
	}
	if (opts & 8) {
		struct tw_event_hdr h = { .type = TW_EV_CLOSE, .sock_id = 42, .ts_ns = ts };

		CHECK(tw_correlator_handle(c, &h, sizeof(h)) == 0);
	}
	tw_correlator_flush(c);
	tw_correlator_stats(c, &st);
	CHECK(st.h2_spans <= st.spans);
	CHECK(st.spans == n_spans);
	CHECK(st.h2_conns <= 1);
	tw_correlator_free(c);
	return 0;
}
