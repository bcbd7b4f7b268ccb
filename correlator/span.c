// SPDX-License-Identifier: BSD-2-Clause
#include "span.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "tracewire_event.h"

/* The registered set of the HTTP semantic conventions (plus QUERY, which the
 * conventions accept as known). Anything else is "_OTHER"/"HTTP". */
static const char *const known_methods[] = {
	"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE",
};

static const char *known_method(const char *method, size_t len)
{
	for (size_t i = 0; i < sizeof(known_methods) / sizeof(known_methods[0]); i++) {
		if (strlen(known_methods[i]) == len && !memcmp(known_methods[i], method, len))
			return known_methods[i];
	}
	return NULL;
}

/* Span fields are fixed arrays; never trust them to be terminated. */
#define FIELD_LEN(s, field) strnlen((s)->field, sizeof((s)->field))

bool tw_http_method_known(const char *method)
{
	return known_method(method, strnlen(method, TW_METHOD_MAX)) != NULL;
}

const char *tw_span_name(const struct tw_span *s)
{
	const char *m = known_method(s->method, FIELD_LEN(s, method));

	if (s->grpc && s->path[0] == '/' && s->path[1] && FIELD_LEN(s, path) < sizeof(s->path))
		return s->path + 1;
	/* A static string: the name outlives the span it came from. */
	return m ? m : "HTTP";
}

/*
 * One string field, in one pass of 8-byte words up to the one holding its
 * NUL (all of them when unterminated): no strnlen and memcpy calls per
 * field (two copies per span). The bytes after the NUL in that word come
 * along; readers stop at the NUL. Fields are whole words (asserted below).
 */
static void copy_field(char *d, const char *s, size_t size)
{
	for (size_t i = 0; i < size; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		memcpy(d + i, &w, 8);
		/* nonzero exactly when w holds a zero byte */
		if ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull)
			return;
	}
}

#define COPY_FIELD(d, s, field)                                              \
	do {                                                                 \
		_Static_assert(sizeof((d)->field) % 8 == 0, #field " in words"); \
		copy_field((d)->field, (s)->field, sizeof((d)->field));      \
	} while (0)

/* tw_span_copy's regions cover the whole span: the strings service..host
 * sit between the ids and status_code, error_type before http_minor. */
#define SPAN_END_OF(f) (offsetof(struct tw_span, f) + sizeof(((struct tw_span *)0)->f))
_Static_assert(SPAN_END_OF(service) == offsetof(struct tw_span, method) &&
		       SPAN_END_OF(method) == offsetof(struct tw_span, path) &&
		       SPAN_END_OF(path) == offsetof(struct tw_span, query) &&
		       SPAN_END_OF(query) == offsetof(struct tw_span, host) &&
		       SPAN_END_OF(host) <= offsetof(struct tw_span, status_code) &&
		       SPAN_END_OF(status_code) <= offsetof(struct tw_span, error_type) &&
		       SPAN_END_OF(error_type) <= offsetof(struct tw_span, http_minor),
	       "struct tw_span's layout as tw_span_copy expects");

void tw_span_copy(struct tw_span *dst, const struct tw_span *src)
{
	/* the fixed-size fields around the strings, then each string */
	memcpy(dst, src, offsetof(struct tw_span, service));
	dst->status_code = src->status_code;
	memcpy(&dst->http_minor, &src->http_minor,
	       sizeof(*dst) - offsetof(struct tw_span, http_minor));
	COPY_FIELD(dst, src, service);
	COPY_FIELD(dst, src, method);
	COPY_FIELD(dst, src, path);
	COPY_FIELD(dst, src, query);
	COPY_FIELD(dst, src, host);
	COPY_FIELD(dst, src, error_type);
}

bool tw_id_is_zero(const uint8_t *id, size_t n)
{
	uint8_t any = 0;

	for (size_t i = 0; i < n; i++)
		any |= id[i];
	return !any;
}

bool tw_span_is_root(const struct tw_span *s)
{
	return tw_id_is_zero(s->parent_span_id, sizeof(s->parent_span_id));
}

const char *tw_span_kind_str(const struct tw_span *s)
{
	switch (s->kind) {
	case TW_SPAN_SERVER:
		return "server";
	case TW_SPAN_CLIENT:
		return "client";
	default:
		return "unknown";
	}
}

const char *tw_parent_source_str(uint8_t source)
{
	/* the value comes from the kernel: never index with it unchecked */
	static const char *const names[TW_PSRC_MAX] = {
		[TW_PSRC_NONE] = "none",
		[TW_PSRC_HEADER] = "header",
		[TW_PSRC_THREAD] = "thread",
		[TW_PSRC_FORWARDED] = "forwarded_header",
		[TW_PSRC_APPLICATION] = "application_header",
		[TW_PSRC_CONNECT] = "connect",
		[TW_PSRC_TCP_OPTION] = "tcp_option",
		[TW_PSRC_IP_OPTION] = "ip_option",
		[TW_PSRC_GOROUTINE] = "goroutine",
		[TW_PSRC_REQUEST_LINE] = "request_line",
	};

	return source < TW_PSRC_MAX && names[source] ? names[source] : "none";
}

static bool is_v4_mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, prefix, sizeof(prefix));
}

int tw_endpoint_family(const struct tw_endpoint *ep)
{
	if (ep->family == AF_INET)
		return AF_INET;
	if (ep->family == AF_INET6)
		return is_v4_mapped(ep->addr) ? AF_INET : AF_INET6;
	return 0;
}

/* inet_ntop's dotted form, without the sprintf glibc's inet_ntop runs for
 * each byte: every span formats two addresses. buf holds >= 16 bytes. */
static size_t ipv4_str(const uint8_t *a, char *buf)
{
	char *p = buf;

	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];

		if (i)
			*p++ = '.';
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
	}
	*p = '\0';
	return (size_t)(p - buf);
}

const char *tw_endpoint_addr_str(const struct tw_endpoint *ep, char *buf, size_t size)
{
	const uint8_t *src = ep->addr;
	int af = tw_endpoint_family(ep);

	if (!size)
		return buf;
	buf[0] = '\0';
	/* Users know 10.0.0.1, not ::ffff:10.0.0.1 from a dual-stack socket. */
	if (af == AF_INET && ep->family == AF_INET6)
		src = ep->addr + 12;
	if (af == AF_INET && size >= 16)
		ipv4_str(src, buf);
	else if (!af || !inet_ntop(af, src, buf, size))
		buf[0] = '\0';
	return buf;
}

static void trim_ows(const char **start, const char **end)
{
	while (*start < *end && (**start == ' ' || **start == '\t'))
		(*start)++;
	while (*end > *start && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
		(*end)--;
}

/* 1..65535 from a run of 1..5 digits, else 0. */
static uint16_t parse_port(const char *p, const char *end)
{
	uint32_t v = 0;

	if (p == end || end - p > 5)
		return 0;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (uint32_t)(*p - '0');
	}
	return v <= 65535 ? (uint16_t)v : 0;
}

int tw_host_split(const char *hdr, char *host, size_t size, uint16_t *port)
{
	const char *start = hdr, *end = hdr + strlen(hdr);
	const char *hstart, *hend;

	*port = 0;
	if (size)
		host[0] = '\0';
	trim_ows(&start, &end);
	if (start < end && *start == '[') {
		const char *close = memchr(start, ']', (size_t)(end - start));

		if (!close)
			return -EINVAL;
		hstart = start + 1;
		hend = close;
		if (close + 1 < end && close[1] == ':')
			*port = parse_port(close + 2, end);
	} else {
		const char *colon = memchr(start, ':', (size_t)(end - start));

		hstart = start;
		hend = end;
		/* More than one colon: a bare IPv6 literal, no port to split off. */
		if (colon && !memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
			hend = colon;
			*port = parse_port(colon + 1, end);
		}
	}
	if (hend == hstart)
		return -EINVAL;
	if ((size_t)(hend - hstart) >= size)
		return -ENAMETOOLONG;
	memcpy(host, hstart, (size_t)(hend - hstart));
	host[hend - hstart] = '\0';
	return 0;
}

/* A semconv key: always a literal here, so its length is known at compile
 * time and it is ASCII; the encoder need not measure nor check it per span. */
struct key {
	const char *s;
	uint8_t len;
};
#define K(lit) ((struct key){ "" lit, sizeof(lit) - 1 })

static void add_attr_str(struct tw_span_attrs *o, struct key k, const char *str, size_t len,
			 bool ascii)
{
	if (o->n >= TW_SPAN_ATTRS_MAX)
		return;
	o->a[o->n++] = (struct tw_attr){ .key = k.s, .key_len = k.len, .type = TW_ATTR_STR,
					 .str = str, .len = len, .str_ascii = ascii };
}

/* A value from captured bytes: the encoder checks it is UTF-8. */
static void add_strn(struct tw_span_attrs *o, struct key k, const char *str, size_t len)
{
	add_attr_str(o, k, str, len, false);
}

/* A value tracewire wrote itself (a literal, an address it formatted). */
static void add_str(struct tw_span_attrs *o, struct key k, const char *str)
{
	add_attr_str(o, k, str, strlen(str), true);
}

static void add_int(struct tw_span_attrs *o, struct key k, uint64_t v)
{
	if (o->n >= TW_SPAN_ATTRS_MAX)
		return;
	if (v > INT64_MAX)
		v = INT64_MAX;
	o->a[o->n++] = (struct tw_attr){ .key = k.s, .key_len = k.len, .type = TW_ATTR_INT,
					 .num = (int64_t)v };
}

static void add_method(struct tw_span_attrs *o, const struct tw_span *s)
{
	size_t len = FIELD_LEN(s, method);
	const char *known = known_method(s->method, len);

	if (known) {
		add_str(o, K("http.request.method"), known);
		return;
	}
	add_str(o, K("http.request.method"), "_OTHER");
	if (len)
		add_strn(o, K("http.request.method_original"), s->method, len);
}

/*
 * Client spans: the origin the client asked for is in the Host header; the
 * peer address may be a proxy or a load-balanced backend. Fills server_addr
 * with the host part, or the peer address when no usable Host was sent.
 * Returns the port to show in url.full (0: none).
 */
static uint16_t client_origin(const struct tw_span *s, struct tw_span_attrs *o)
{
	char hdr[TW_HOST_MAX];
	uint16_t port;

	memcpy(hdr, s->host, sizeof(hdr));
	hdr[sizeof(hdr) - 1] = '\0';
	if (hdr[0] && !tw_host_split(hdr, o->server_addr, sizeof(o->server_addr), &port))
		return port;
	_Static_assert(sizeof(o->server_addr) >= sizeof(o->peer_addr), "peer_addr fits");
	memcpy(o->server_addr, o->peer_addr, sizeof(o->peer_addr));
	return s->peer.port;
}

/* Appends to a fixed buffer, cutting at its end as snprintf would: a span
 * built with memcpy instead of a format string per span. */
struct cursor {
	char *p, *end; /* end: the last byte, kept for the NUL */
};

static void put(struct cursor *c, const char *s, size_t len)
{
	size_t room = (size_t)(c->end - c->p);

	if (len > room)
		len = room;
	memcpy(c->p, s, len);
	c->p += len;
}

/* Returns the length of url_full. */
static size_t build_url_full(const struct tw_span *s, struct tw_span_attrs *o, uint16_t port)
{
	size_t alen = strlen(o->server_addr);
	bool v6 = memchr(o->server_addr, ':', alen) != NULL;
	size_t qlen = FIELD_LEN(s, query);
	struct cursor c = { o->url_full, o->url_full + sizeof(o->url_full) - 1 };

	if (s->tls)
		put(&c, "https://", 8);
	else
		put(&c, "http://", 7);
	if (v6)
		put(&c, "[", 1);
	put(&c, o->server_addr, alen);
	if (v6)
		put(&c, "]", 1);
	if (port && port != (s->tls ? 443 : 80)) {
		char num[6], *d = num + sizeof(num);

		do
			*--d = (char)('0' + port % 10);
		while (port /= 10);
		*--d = ':';
		put(&c, d, (size_t)(num + sizeof(num) - d));
	}
	put(&c, s->path, FIELD_LEN(s, path));
	if (qlen) {
		put(&c, "?", 1);
		put(&c, s->query, qlen);
	}
	*c.p = '\0';
	return (size_t)(c.p - o->url_full);
}

/* addr_ascii: an address tracewire formatted, not one from a Host header. */
static void add_endpoint(struct tw_span_attrs *o, struct key addr_key, struct key port_key,
			 const char *addr, bool addr_ascii, uint16_t port)
{
	if (addr[0])
		add_attr_str(o, addr_key, addr, strlen(addr), addr_ascii);
	if (port)
		add_int(o, port_key, port);
}

/* RPC conventions for gRPC: the path is "/{package.Service}/{Method}". */
static void add_rpc(struct tw_span_attrs *o, const struct tw_span *s)
{
	size_t len = FIELD_LEN(s, path);
	const char *slash = len > 1 ? memchr(s->path + 1, '/', len - 1) : NULL;

	add_str(o, K("rpc.system"), "grpc");
	if (slash && slash > s->path + 1 && slash + 1 < s->path + len) {
		add_strn(o, K("rpc.service"), s->path + 1, (size_t)(slash - s->path - 1));
		add_strn(o, K("rpc.method"), slash + 1, (size_t)(s->path + len - slash - 1));
	}
	if (s->grpc_status_set)
		add_int(o, K("rpc.grpc.status_code"), s->grpc_status);
}

void tw_span_attrs(const struct tw_span *s, struct tw_span_attrs *o)
{
	int af = tw_endpoint_family(&s->peer);
	bool client = s->kind == TW_SPAN_CLIENT;
	size_t url_len = 0;

	o->n = 0;
	tw_endpoint_addr_str(&s->peer, o->peer_addr, sizeof(o->peer_addr));
	tw_endpoint_addr_str(&s->local, o->local_addr, sizeof(o->local_addr));
	o->server_addr[0] = '\0';
	o->url_full[0] = '\0';
	if (client) {
		url_len = build_url_full(s, o, client_origin(s, o));
	}

	add_method(o, s);
	add_strn(o, K("url.path"), s->path, FIELD_LEN(s, path));
	if (FIELD_LEN(s, query))
		add_strn(o, K("url.query"), s->query, FIELD_LEN(s, query));
	add_str(o, K("url.scheme"), s->tls ? "https" : "http");
	if (client)
		add_strn(o, K("url.full"), o->url_full, url_len);
	if (s->status_code > 0)
		add_int(o, K("http.response.status_code"), (uint64_t)s->status_code);
	add_str(o, K("network.protocol.version"), s->h2 ? "2" : s->http_minor ? "1.1" : "1.0");
	add_str(o, K("network.transport"), "tcp");
	if (af)
		add_str(o, K("network.type"), af == AF_INET ? "ipv4" : "ipv6");
	add_endpoint(o, K("network.peer.address"), K("network.peer.port"), o->peer_addr, true,
		     s->peer.port);
	/* semconv opt-in; pairs a client span with its server span by 4-tuple */
	add_endpoint(o, K("network.local.address"), K("network.local.port"), o->local_addr, true,
		     s->local.port);
	if (client) {
		add_endpoint(o, K("server.address"), K("server.port"), o->server_addr, false,
			     s->peer.port);
	} else {
		add_endpoint(o, K("server.address"), K("server.port"), o->local_addr, true,
			     s->local.port);
		add_endpoint(o, K("client.address"), K("client.port"), o->peer_addr, true,
			     s->peer.port);
	}
	if (s->request_body_bytes)
		add_int(o, K("http.request.body.size"), s->request_body_bytes);
	if (s->response_body_bytes)
		add_int(o, K("http.response.body.size"), s->response_body_bytes);
	if (s->grpc)
		add_rpc(o, s);
	add_int(o, K("thread.id"), s->tid);
	add_int(o, K("process.pid"), s->pid);
	add_str(o, K("tracewire.parent.source"), s->parent_source ? s->parent_source : "none");
	if (s->status == TW_STATUS_ERROR) {
		size_t len = FIELD_LEN(s, error_type);

		/* semconv: "_OTHER" when the error has no better name */
		if (len)
			add_strn(o, K("error.type"), s->error_type, len);
		else
			add_str(o, K("error.type"), "_OTHER");
	}
}
