/* SPDX-License-Identifier: BSD-2-Clause */
/* Spans for the exporter tests (JSON lines, OTLP): one root SERVER span that
 * each test varies. Include after cmocka.h. */
#ifndef TW_TEST_SPAN_FIXTURES_H
#define TW_TEST_SPAN_FIXTURES_H

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "span.h"

static const uint8_t TRACE[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
				   0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
#define TRACE_HEX "4bf92f3577b34da6a3ce929d0e0e4736"
#define T0 1700000000000000000ULL /* unix ns */

static inline void set_ep(struct tw_endpoint *ep, int af, const char *addr, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = (uint8_t)af;
	ep->port = port;
	assert_int_equal(inet_pton(af, addr, ep->addr), 1);
}

static inline void set_id(uint8_t *id, size_t n, uint8_t v)
{
	memset(id, 0, n);
	id[n - 1] = v;
	id[0] = 0xa0;
}

/* root SERVER on a dual-stack socket (peer is v4-mapped) */
static inline struct tw_span root_span(void)
{
	struct tw_span s;

	memset(&s, 0, sizeof(s));
	memcpy(s.trace_id, TRACE, 16);
	set_id(s.span_id, 8, 1);
	s.trace_flags = 1;
	s.kind = TW_SPAN_SERVER;
	s.start_ns = T0;
	s.end_ns = T0 + 12345678;
	s.pid = 100;
	s.tid = 101;
	strcpy(s.service, "frontend");
	strcpy(s.method, "GET");
	strcpy(s.path, "/api/orders");
	strcpy(s.query, "id=7&x=y");
	strcpy(s.host, "shop.example:8080");
	s.status_code = 200;
	s.http_minor = 1;
	s.response_body_bytes = 512;
	set_ep(&s.local, AF_INET6, "::ffff:198.18.0.1", 8080);
	set_ep(&s.peer, AF_INET6, "::ffff:198.18.0.9", 40000);
	s.parent_source = "none";
	return s;
}

#endif
