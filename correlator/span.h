/* SPDX-License-Identifier: BSD-2-Clause */
/* A finished span as the correlator hands it to trace assembly and exporters. */
#ifndef TW_SPAN_H
#define TW_SPAN_H

#include <stdbool.h>
#include <stdint.h>

#define TW_METHOD_MAX 16
#define TW_PATH_MAX 256
#define TW_QUERY_MAX 256
#define TW_HOST_MAX 128
#define TW_SERVICE_MAX 64
#define TW_ERROR_TYPE_MAX 32

enum tw_span_kind {
	TW_SPAN_SERVER = 1,
	TW_SPAN_CLIENT = 2,
};

enum tw_span_status {
	TW_STATUS_UNSET = 0,
	TW_STATUS_ERROR = 2, /* numbering as in OTLP Status.code */
};

struct tw_endpoint {
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
	uint16_t port;
	uint8_t family; /* AF_INET or AF_INET6 */
};

struct tw_span {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_span_id[8]; /* all zero: root span */
	uint8_t trace_flags;       /* W3C flags; bit 0 = sampled */
	uint8_t kind;              /* enum tw_span_kind */
	uint8_t status;            /* enum tw_span_status */
	uint64_t start_ns;         /* unix epoch ns */
	uint64_t end_ns;
	uint32_t pid;
	uint32_t tid;
	char service[TW_SERVICE_MAX];
	char method[TW_METHOD_MAX]; /* as sent; "" when unknown */
	char path[TW_PATH_MAX];     /* url.path, without query; truncated to fit */
	char query[TW_QUERY_MAX];   /* url.query without '?', "" when none */
	char host[TW_HOST_MAX];     /* Host header as sent, "" when not seen */
	int status_code;            /* 0: no response seen */
	char error_type[TW_ERROR_TYPE_MAX]; /* error.type when status is ERROR */
	uint8_t http_minor;         /* 0 or 1: HTTP/1.<minor> */
	uint8_t tls;                /* over TLS (OpenSSL plaintext): url.scheme https */
	uint8_t h2;                 /* an HTTP/2 stream: network.protocol.version 2 */
	uint8_t grpc;               /* content-type application/grpc: rpc.* attributes */
	uint8_t grpc_status_set;    /* grpc_status was in the trailers */
	uint8_t grpc_status;        /* rpc.grpc.status_code */
	uint64_t request_body_bytes;
	uint64_t response_body_bytes;
	struct tw_endpoint local;
	struct tw_endpoint peer;
	const char *parent_source; /* static string: tw_parent_source_str() */
};

/* Span name per OpenTelemetry HTTP conventions: "{method}" (no low-cardinality
 * route is known), "HTTP" for methods outside the registered set; for gRPC
 * per the RPC conventions "{rpc.service}/{rpc.method}" (the path without
 * its '/': a pointer into s, valid while s is). */
const char *tw_span_name(const struct tw_span *s);

/* ---- span helpers (correlator/span.c) ------------------------------------
 * Shared by the exporters so console, JSON lines and OTLP agree on names,
 * addresses and the OpenTelemetry attribute set of a span.
 */
#include <stddef.h>

#define TW_ADDR_STR_MAX 46 /* INET6_ADDRSTRLEN */
/* "https://" + [host] + ":65535" + path + "?" + query */
#define TW_URL_MAX (8 + TW_HOST_MAX + 2 + 6 + TW_PATH_MAX + 1 + TW_QUERY_MAX)
#define TW_SPAN_ATTRS_MAX 32

/* True for the methods registered by the HTTP semantic conventions (case-sensitive). */
bool tw_http_method_known(const char *method);
/* *dst = *src as every reader of a span sees it: string fields copied up to
 * their NUL, the bytes after it left as they were. A span is 900 bytes of
 * mostly empty arrays, held in memory far larger than the caches: copying
 * what is used halves the cache lines each copy touches. */
void tw_span_copy(struct tw_span *dst, const struct tw_span *src);
bool tw_id_is_zero(const uint8_t *id, size_t n);
bool tw_span_is_root(const struct tw_span *s); /* parent_span_id all zero */
const char *tw_span_kind_str(const struct tw_span *s); /* "server", "client", "unknown" */
/* The tracewire.parent.source value of enum tw_parent_source (a static
 * string): "none", "header", "thread", "forwarded_header",
 * "application_header"; "none" for values it does not know. */
const char *tw_parent_source_str(uint8_t source);

/* Address family as seen on the wire: AF_INET for IPv4-mapped IPv6 too;
 * 0 for an unknown family. */
int tw_endpoint_family(const struct tw_endpoint *ep);
/* inet_ntop of ep->addr into buf (>= TW_ADDR_STR_MAX); IPv4-mapped IPv6 in
 * dotted IPv4 form. "" for an unknown family. Returns buf. */
const char *tw_endpoint_addr_str(const struct tw_endpoint *ep, char *buf, size_t size);

/* Split a Host header value ("name", "name:8080", "[::1]:8080") into the host
 * (brackets removed) and port. *port is 0 when none or not a valid port.
 * Returns -EINVAL for an empty host, -ENAMETOOLONG if it did not fit. */
int tw_host_split(const char *hdr, char *host, size_t size, uint16_t *port);

enum tw_attr_type {
	TW_ATTR_STR = 1,
	TW_ATTR_INT = 2,
};

struct tw_attr {
	const char *key;  /* static semconv key */
	uint8_t type;     /* enum tw_attr_type */
	/* What the encoder need not check again, per span: 0 for "not known".
	 * key_len: the key's length, and the key is ASCII (a literal).
	 * str_ascii: str is ASCII (a literal or text tracewire formatted). */
	uint8_t key_len;
	uint8_t str_ascii;
	const char *str;  /* TW_ATTR_STR: not necessarily NUL-terminated */
	size_t len;
	int64_t num;      /* TW_ATTR_INT */
};

/* The span's OpenTelemetry attributes. Strings point into the span or into
 * this struct: valid while both live and are unchanged. */
struct tw_span_attrs {
	size_t n;
	struct tw_attr a[TW_SPAN_ATTRS_MAX];
	char peer_addr[TW_ADDR_STR_MAX];
	char local_addr[TW_ADDR_STR_MAX];
	char server_addr[TW_HOST_MAX];
	char url_full[TW_URL_MAX];
};

void tw_span_attrs(const struct tw_span *s, struct tw_span_attrs *out);

#endif
