// SPDX-License-Identifier: BSD-2-Clause
/*
 * Writes to stdout the OTLP protobuf encoding of a fixed request: two
 * resource groups, five spans. tests/integration/test_otlp_protoc.sh decodes
 * it with protoc and compares against a hand-written expectation, so every
 * id, time and address here is fixed; change expected/otlp_sample.txt with it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "otlp_pb.h"

#define T0 1700000000000000000ULL

/* W3C trace-context example ids, and 01..10 */
static const uint8_t TRACE1[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
				    0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
static const uint8_t TRACE2[16] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				    0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10 };
static const uint8_t SPAN1[8] = { 0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7 };

static int set_ep(struct tw_endpoint *ep, int af, const char *addr, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = (uint8_t)af;
	ep->port = port;
	return inet_pton(af, addr, ep->addr) == 1 ? 0 : -1;
}

/* "SPAN" then n big-endian: readable in protoc's escaped output */
static void set_span_id(uint8_t *id, uint8_t n)
{
	memcpy(id, "SPAN\0\0\0", 7);
	id[7] = n;
}

static int build(struct tw_span *s)
{
	int err = 0;

	memset(s, 0, 5 * sizeof(*s));

	/* 1: frontend's root SERVER span, request with a query */
	memcpy(s[0].trace_id, TRACE1, 16);
	memcpy(s[0].span_id, SPAN1, 8);
	s[0].trace_flags = 1;
	s[0].kind = TW_SPAN_SERVER;
	s[0].start_ns = T0;
	s[0].end_ns = T0 + 12345678;
	s[0].pid = 100;
	s[0].tid = 101;
	strcpy(s[0].service, "frontend");
	strcpy(s[0].method, "GET");
	strcpy(s[0].path, "/api/orders");
	strcpy(s[0].query, "id=7");
	strcpy(s[0].host, "shop.example:8080");
	s[0].status_code = 200;
	s[0].http_minor = 1;
	s[0].response_body_bytes = 512;
	err |= set_ep(&s[0].local, AF_INET, "10.0.0.1", 8080);
	err |= set_ep(&s[0].peer, AF_INET, "10.0.0.9", 40000);
	s[0].parent_source = "none";

	/* 2: its CLIENT call to orders, empty query */
	memcpy(s[1].trace_id, TRACE1, 16);
	set_span_id(s[1].span_id, 2);
	memcpy(s[1].parent_span_id, SPAN1, 8);
	s[1].trace_flags = 1;
	s[1].kind = TW_SPAN_CLIENT;
	s[1].start_ns = T0 + 1000000;
	s[1].end_ns = T0 + 9000000;
	s[1].pid = 100;
	s[1].tid = 101;
	strcpy(s[1].service, "frontend");
	strcpy(s[1].method, "POST");
	strcpy(s[1].path, "/orders");
	strcpy(s[1].host, "orders:9090");
	s[1].status_code = 201;
	s[1].http_minor = 1;
	s[1].request_body_bytes = 42;
	err |= set_ep(&s[1].local, AF_INET, "10.0.0.1", 51000);
	err |= set_ep(&s[1].peer, AF_INET, "10.0.0.2", 9090);
	s[1].parent_source = "thread";

	/* 3: a failed CLIENT call, no Host header, IPv6 peer */
	memcpy(s[2].trace_id, TRACE1, 16);
	set_span_id(s[2].span_id, 3);
	memcpy(s[2].parent_span_id, SPAN1, 8);
	s[2].trace_flags = 1;
	s[2].kind = TW_SPAN_CLIENT;
	s[2].status = TW_STATUS_ERROR;
	strcpy(s[2].error_type, "503");
	s[2].start_ns = T0 + 9500000;
	s[2].end_ns = T0 + 11000000;
	s[2].pid = 100;
	s[2].tid = 101;
	strcpy(s[2].service, "frontend");
	strcpy(s[2].method, "GET");
	strcpy(s[2].path, "/inventory");
	strcpy(s[2].query, "sku=42&n=1");
	s[2].status_code = 503;
	s[2].http_minor = 1;
	err |= set_ep(&s[2].local, AF_INET6, "fd00::1", 41000);
	err |= set_ep(&s[2].peer, AF_INET6, "fd00::5", 8080);
	s[2].parent_source = "thread";

	/* 4: orders' SERVER span for call 2, on a dual-stack socket */
	memcpy(s[3].trace_id, TRACE1, 16);
	set_span_id(s[3].span_id, 4);
	set_span_id(s[3].parent_span_id, 2);
	s[3].trace_flags = 1;
	s[3].kind = TW_SPAN_SERVER;
	s[3].start_ns = T0 + 2000000;
	s[3].end_ns = T0 + 8000000;
	s[3].pid = 200;
	s[3].tid = 201;
	strcpy(s[3].service, "orders");
	strcpy(s[3].method, "POST");
	strcpy(s[3].path, "/orders");
	strcpy(s[3].host, "orders:9090");
	s[3].status_code = 201;
	s[3].http_minor = 0;
	s[3].request_body_bytes = 42;
	s[3].response_body_bytes = 17;
	err |= set_ep(&s[3].local, AF_INET6, "::ffff:10.0.0.2", 9090);
	err |= set_ep(&s[3].peer, AF_INET6, "::ffff:10.0.0.1", 51000);
	s[3].parent_source = "header";

	/* 5: an unsampled root with an unregistered method, an empty path, no
	 * response (error without error_type) and thread id 0 */
	memcpy(s[4].trace_id, TRACE2, 16);
	memset(s[4].span_id, 0xff, 8);
	s[4].trace_flags = 0;
	s[4].kind = TW_SPAN_SERVER;
	s[4].status = TW_STATUS_ERROR;
	s[4].start_ns = T0 + 20000000;
	s[4].end_ns = T0 + 20000001;
	s[4].pid = 200;
	s[4].tid = 0;
	strcpy(s[4].service, "orders");
	strcpy(s[4].method, "BREW");
	s[4].http_minor = 1;
	err |= set_ep(&s[4].local, AF_INET6, "fd00::2", 9090);
	err |= set_ep(&s[4].peer, AF_INET6, "fd00::1:5", 5555);
	s[4].parent_source = "none";
	return err;
}

#define STR(k, v) { .key = (k), .type = TW_ATTR_STR, .str = (v), .len = sizeof(v) - 1 }
#define INT(k, v) { .key = (k), .type = TW_ATTR_INT, .num = (v) }

int main(void)
{
	static const struct tw_attr res1[] = {
		STR("service.name", "frontend"),
		INT("process.pid", 100),
		STR("host.name", "node-a"),
	};
	static const struct tw_attr res2[] = {
		STR("service.name", "orders"),
		INT("process.pid", 200),
		STR("deployment.environment.name", ""),
	};
	static const struct tw_otlp_scope scope = { .name = "tracewire", .version = "0.1.0" };
	struct tw_span spans[5];
	const struct tw_span *g1[] = { &spans[0], &spans[1], &spans[2] };
	const struct tw_span *g2[] = { &spans[3], &spans[4] };
	const struct tw_otlp_resource_spans rs[] = {
		{ .attrs = res1, .n_attrs = 3, .spans = g1, .n_spans = 3 },
		{ .attrs = res2, .n_attrs = 3, .spans = g2, .n_spans = 2 },
	};
	struct tw_buf buf = { 0 };
	int err;

	if (build(spans)) {
		fprintf(stderr, "otlp_sample: bad address literal\n");
		return 1;
	}
	err = tw_otlp_encode_request(&buf, rs, 2, &scope);
	if (err) {
		fprintf(stderr, "otlp_sample: encode: %s\n", strerror(-err));
		return 1;
	}
	if (fwrite(buf.data, 1, buf.len, stdout) != buf.len || fflush(stdout)) {
		perror("otlp_sample: write");
		tw_buf_free(&buf);
		return 1;
	}
	tw_buf_free(&buf);
	return 0;
}
