// SPDX-License-Identifier: BSD-2-Clause
/*
 * OTLP protobuf encoder. The output is read back by a small protobuf reader
 * written here (varints, tags, lengths), which checks every field against the
 * schema of opentelemetry-proto (field number and wire type), insists on the
 * canonical form (minimal varints, fields in number order, nothing left over
 * in any message) and decodes into plain structs that the tests compare with
 * the spans they encoded. protoc checks the same encoder independently in
 * tests/integration/test_otlp_protoc.sh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "otlp_pb.h"
#include "span.h"
#include "span_fixtures.h"

/* ---- a minimal protobuf reader -------------------------------------------- */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct pb {
	const uint8_t *p, *end;
	uint32_t last_num; /* canonical order: field numbers never go down */
};

struct pb_field {
	uint32_t num;
	unsigned wt;
	uint64_t v;          /* WT_VARINT, WT_I64, WT_I32 */
	const uint8_t *data; /* WT_LEN */
	size_t len;
	size_t prefix_len;   /* bytes of the length prefix (WT_LEN) */
};

static struct pb pb_open(const uint8_t *data, size_t len)
{
	return (struct pb){ .p = data, .end = data + len };
}

static uint64_t pb_varint(struct pb *r, size_t *width)
{
	uint64_t v = 0;
	const uint8_t *start = r->p;

	for (unsigned shift = 0;; shift += 7) {
		uint8_t c;

		assert_true(r->p < r->end); /* truncated */
		assert_true(shift < 64);
		c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			/* minimal: a multi-byte varint never ends in a zero group */
			assert_true(shift == 0 || c != 0);
			if (width)
				*width = (size_t)(r->p - start);
			return v;
		}
	}
}

static uint64_t pb_fixed(struct pb *r, size_t n)
{
	uint64_t v = 0;

	assert_true((size_t)(r->end - r->p) >= n);
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	return v;
}

/* Next field, or false at the end of the message. */
static bool pb_next(struct pb *r, struct pb_field *f)
{
	uint64_t key;

	if (r->p == r->end)
		return false;
	memset(f, 0, sizeof(*f));
	key = pb_varint(r, NULL);
	f->num = (uint32_t)(key >> 3);
	f->wt = key & 7;
	assert_true(f->num > 0);
	assert_true(f->num >= r->last_num);
	r->last_num = f->num;
	switch (f->wt) {
	case WT_VARINT:
		f->v = pb_varint(r, NULL);
		break;
	case WT_I64:
		f->v = pb_fixed(r, 8);
		break;
	case WT_I32:
		f->v = pb_fixed(r, 4);
		break;
	case WT_LEN:
		f->len = (size_t)pb_varint(r, &f->prefix_len);
		assert_true(f->len <= (size_t)(r->end - r->p));
		f->data = r->p;
		r->p += f->len;
		break;
	default:
		print_error("field %u: unexpected wire type %u\n", f->num, f->wt);
		fail();
	}
	return true;
}

static void expect_wt(const struct pb_field *f, unsigned wt)
{
	if (f->wt != wt) {
		print_error("field %u: wire type %u, expected %u\n", f->num, f->wt, wt);
		fail();
	}
}

static void unexpected(const char *msg, const struct pb_field *f)
{
	print_error("%s: unexpected field %u (wire type %u)\n", msg, f->num, f->wt);
	fail();
}

/* ---- decoded messages ------------------------------------------------------ */

struct d_str {
	bool present;
	const uint8_t *p;
	size_t len;
};

struct d_attr {
	struct d_str key;
	bool has_value;
	int n_members; /* AnyValue oneof members seen: must be 1 */
	struct d_str str;
	bool has_int;
	int64_t num;
};

#define D_ATTRS_MAX 40

struct d_span {
	struct d_str trace_id, span_id, parent, name;
	bool has_kind, has_start, has_end, has_flags, has_status, has_code;
	uint64_t kind, start, end, code;
	uint32_t flags;
	struct d_attr attrs[D_ATTRS_MAX];
	size_t n_attrs;
	struct d_str status_msg;
	size_t prefix_len; /* of the Span's length */
};

#define D_RES_ATTRS_MAX 16

struct d_group {
	bool has_resource, has_scope;
	struct d_attr res[D_RES_ATTRS_MAX];
	size_t n_res;
	size_t n_scope_spans;
	struct d_str scope_name, scope_version;
	size_t first_span, n_spans;
	size_t len, prefix_len;       /* the ResourceSpans */
	size_t ss_len, ss_prefix_len; /* its ScopeSpans */
};

#define D_GROUPS_MAX 16

struct d_req {
	struct d_group g[D_GROUPS_MAX];
	size_t n_groups;
	struct d_span *spans;
	size_t n_spans, cap_spans;
};

static struct d_str d_str_of(const struct pb_field *f)
{
	expect_wt(f, WT_LEN);
	return (struct d_str){ .present = true, .p = f->data, .len = f->len };
}

/* Strict UTF-8 (RFC 3629: no overlongs, surrogates or code points above
 * U+10FFFF), written apart from the encoder's own check. */
static bool utf8_ok(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t k;

		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			k = 1;
			cp = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			k = 2;
			cp = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			k = 3;
			cp = p[i] & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* A protobuf `string` field: it must be valid UTF-8 (collectors refuse the
 * whole request otherwise). */
static struct d_str d_text_of(const struct pb_field *f)
{
	struct d_str s = d_str_of(f);

	if (!utf8_ok(s.p, s.len)) {
		print_error("field %u: not valid UTF-8: '%.*s'\n", f->num, (int)s.len,
			    (const char *)s.p);
		fail();
	}
	return s;
}

static void decode_any_value(const uint8_t *data, size_t len, struct d_attr *a)
{
	struct pb r = pb_open(data, len);
	struct pb_field f;

	while (pb_next(&r, &f)) {
		a->n_members++;
		switch (f.num) {
		case 1: /* string_value */
			a->str = d_text_of(&f);
			break;
		case 3: /* int_value */
			expect_wt(&f, WT_VARINT);
			a->has_int = true;
			a->num = (int64_t)f.v;
			break;
		default:
			unexpected("AnyValue", &f);
		}
	}
}

static void decode_kv(const uint8_t *data, size_t len, struct d_attr *a)
{
	struct pb r = pb_open(data, len);
	struct pb_field f;

	memset(a, 0, sizeof(*a));
	while (pb_next(&r, &f)) {
		switch (f.num) {
		case 1: /* key */
			assert_false(a->key.present);
			a->key = d_text_of(&f);
			break;
		case 2: /* value */
			expect_wt(&f, WT_LEN);
			assert_false(a->has_value);
			a->has_value = true;
			decode_any_value(f.data, f.len, a);
			break;
		default:
			unexpected("KeyValue", &f);
		}
	}
}

static void decode_status(const uint8_t *data, size_t len, struct d_span *s)
{
	struct pb r = pb_open(data, len);
	struct pb_field f;

	while (pb_next(&r, &f)) {
		switch (f.num) {
		case 2: /* message */
			s->status_msg = d_text_of(&f);
			break;
		case 3: /* code */
			expect_wt(&f, WT_VARINT);
			s->has_code = true;
			s->code = f.v;
			break;
		default:
			unexpected("Status", &f);
		}
	}
}

static void decode_span(const uint8_t *data, size_t len, struct d_span *s)
{
	struct pb r = pb_open(data, len);
	struct pb_field f;

	while (pb_next(&r, &f)) {
		switch (f.num) {
		case 1:
			s->trace_id = d_str_of(&f);
			break;
		case 2:
			s->span_id = d_str_of(&f);
			break;
		case 4:
			s->parent = d_str_of(&f);
			break;
		case 5:
			s->name = d_text_of(&f);
			break;
		case 6:
			expect_wt(&f, WT_VARINT);
			s->has_kind = true;
			s->kind = f.v;
			break;
		case 7:
			expect_wt(&f, WT_I64);
			s->has_start = true;
			s->start = f.v;
			break;
		case 8:
			expect_wt(&f, WT_I64);
			s->has_end = true;
			s->end = f.v;
			break;
		case 9:
			expect_wt(&f, WT_LEN);
			assert_true(s->n_attrs < D_ATTRS_MAX);
			decode_kv(f.data, f.len, &s->attrs[s->n_attrs++]);
			break;
		case 15:
			expect_wt(&f, WT_LEN);
			assert_false(s->has_status);
			s->has_status = true;
			decode_status(f.data, f.len, s);
			break;
		case 16:
			expect_wt(&f, WT_I32);
			s->has_flags = true;
			s->flags = (uint32_t)f.v;
			break;
		default:
			unexpected("Span", &f);
		}
	}
}

static void decode_scope(const uint8_t *data, size_t len, struct d_group *g)
{
	struct pb r = pb_open(data, len);
	struct pb_field f;

	while (pb_next(&r, &f)) {
		switch (f.num) {
		case 1:
			g->scope_name = d_text_of(&f);
			break;
		case 2:
			g->scope_version = d_text_of(&f);
			break;
		default:
			unexpected("InstrumentationScope", &f);
		}
	}
}

static struct d_span *new_span(struct d_req *q)
{
	if (q->n_spans == q->cap_spans) {
		q->cap_spans = q->cap_spans ? 2 * q->cap_spans : 64;
		q->spans = realloc(q->spans, q->cap_spans * sizeof(*q->spans));
		assert_non_null(q->spans);
	}
	memset(&q->spans[q->n_spans], 0, sizeof(q->spans[0]));
	return &q->spans[q->n_spans++];
}

static void decode_scope_spans(const uint8_t *data, size_t len, struct d_req *q, struct d_group *g)
{
	struct pb r = pb_open(data, len);
	struct pb_field f;

	while (pb_next(&r, &f)) {
		struct d_span *s;

		switch (f.num) {
		case 1:
			expect_wt(&f, WT_LEN);
			assert_false(g->has_scope);
			g->has_scope = true;
			decode_scope(f.data, f.len, g);
			break;
		case 2:
			expect_wt(&f, WT_LEN);
			s = new_span(q);
			s->prefix_len = f.prefix_len;
			decode_span(f.data, f.len, s);
			g->n_spans++;
			break;
		default:
			unexpected("ScopeSpans", &f);
		}
	}
}

static void decode_resource(const uint8_t *data, size_t len, struct d_group *g)
{
	struct pb r = pb_open(data, len);
	struct pb_field f;

	while (pb_next(&r, &f)) {
		if (f.num != 1)
			unexpected("Resource", &f);
		expect_wt(&f, WT_LEN);
		assert_true(g->n_res < D_RES_ATTRS_MAX);
		decode_kv(f.data, f.len, &g->res[g->n_res++]);
	}
}

static void decode_resource_spans(const uint8_t *data, size_t len, struct d_req *q,
				  struct d_group *g)
{
	struct pb r = pb_open(data, len);
	struct pb_field f;

	g->first_span = q->n_spans;
	while (pb_next(&r, &f)) {
		switch (f.num) {
		case 1:
			expect_wt(&f, WT_LEN);
			assert_false(g->has_resource);
			g->has_resource = true;
			decode_resource(f.data, f.len, g);
			break;
		case 2:
			expect_wt(&f, WT_LEN);
			g->n_scope_spans++;
			g->ss_len = f.len;
			g->ss_prefix_len = f.prefix_len;
			decode_scope_spans(f.data, f.len, q, g);
			break;
		default:
			unexpected("ResourceSpans", &f);
		}
	}
}

/* Decodes an ExportTraceServiceRequest; free with d_req_free(). */
static void decode_request(const uint8_t *data, size_t len, struct d_req *q)
{
	struct pb r = pb_open(data, len);
	struct pb_field f;

	memset(q, 0, sizeof(*q));
	while (pb_next(&r, &f)) {
		struct d_group *g;

		if (f.num != 1)
			unexpected("ExportTraceServiceRequest", &f);
		expect_wt(&f, WT_LEN);
		assert_true(q->n_groups < D_GROUPS_MAX);
		g = &q->g[q->n_groups++];
		g->len = f.len;
		g->prefix_len = f.prefix_len;
		decode_resource_spans(f.data, f.len, q, g);
	}
}

static void d_req_free(struct d_req *q)
{
	free(q->spans);
	q->spans = NULL;
}

/* ---- comparisons ------------------------------------------------------------ */

static void assert_dstr_n(const struct d_str *s, const void *want, size_t len)
{
	if (!s->present || s->len != len || (len && memcmp(s->p, want, len))) {
		print_error("got %s'%.*s' (%zu bytes), expected '%.*s' (%zu bytes)\n",
			    s->present ? "" : "(absent) ", (int)s->len, s->p ? (const char *)s->p : "",
			    s->len, (int)len, (const char *)want, len);
		fail();
	}
}

static void assert_dstr(const struct d_str *s, const char *want)
{
	assert_dstr_n(s, want, strlen(want));
}

/* One decoded KeyValue against the attribute it was encoded from. */
static void assert_attr(const struct d_attr *d, const struct tw_attr *a)
{
	assert_dstr(&d->key, a->key);
	assert_true(d->has_value);
	assert_int_equal(d->n_members, 1);
	if (a->type == TW_ATTR_INT) {
		assert_true(d->has_int);
		assert_false(d->str.present);
		assert_true(d->num == a->num);
	} else {
		assert_false(d->has_int);
		/* present even when empty */
		assert_dstr_n(&d->str, a->str, a->len);
	}
}

static const struct d_attr *find_dattr(const struct d_span *s, const char *key)
{
	for (size_t i = 0; i < s->n_attrs; i++) {
		if (s->attrs[i].key.len == strlen(key) && !memcmp(s->attrs[i].key.p, key, strlen(key)))
			return &s->attrs[i];
	}
	return NULL;
}

/* Everything a span's encoding must say, derived from the span itself. */
static void assert_span(const struct d_span *d, const struct tw_span *s)
{
	struct tw_span_attrs attrs;
	uint32_t kind = s->kind == TW_SPAN_SERVER ? 2 : s->kind == TW_SPAN_CLIENT ? 3 : 0;
	uint32_t flags = s->trace_flags;
	size_t elen = strnlen(s->error_type, sizeof(s->error_type));

	assert_dstr_n(&d->trace_id, s->trace_id, 16);
	assert_dstr_n(&d->span_id, s->span_id, 8);
	if (tw_span_is_root(s))
		assert_false(d->parent.present);
	else
		assert_dstr_n(&d->parent, s->parent_span_id, 8);
	assert_dstr(&d->name, tw_span_name(s));
	assert_int_equal(d->has_kind, kind != 0);
	if (kind)
		assert_int_equal(d->kind, kind);
	assert_int_equal(d->has_start, s->start_ns != 0);
	assert_true(d->start == s->start_ns);
	assert_int_equal(d->has_end, s->end_ns != 0);
	assert_true(d->end == s->end_ns);

	if (!s->parent_source || !strcmp(s->parent_source, "none"))
		flags |= 0x100;
	assert_int_equal(d->has_flags, flags != 0);
	assert_int_equal(d->flags, flags);
	assert_int_equal(d->flags & 0x200, 0);

	tw_span_attrs(s, &attrs);
	assert_int_equal(d->n_attrs, attrs.n);
	for (size_t i = 0; i < attrs.n; i++)
		assert_attr(&d->attrs[i], &attrs.a[i]);

	assert_int_equal(d->has_status, s->status == TW_STATUS_ERROR);
	if (s->status == TW_STATUS_ERROR) {
		assert_true(d->has_code);
		assert_int_equal(d->code, 2);
		if (elen)
			assert_dstr_n(&d->status_msg, s->error_type, elen);
		else
			assert_false(d->status_msg.present);
	}
}

static void assert_group(const struct d_req *q, size_t gi, const struct tw_otlp_resource_spans *rs,
			 const struct tw_otlp_scope *scope)
{
	const struct d_group *g = &q->g[gi];

	assert_true(g->has_resource);
	assert_int_equal(g->n_res, rs->n_attrs);
	for (size_t i = 0; i < rs->n_attrs; i++)
		assert_attr(&g->res[i], &rs->attrs[i]);
	assert_int_equal(g->n_scope_spans, 1);
	assert_true(g->has_scope);
	if (scope->name[0])
		assert_dstr(&g->scope_name, scope->name);
	else
		assert_false(g->scope_name.present);
	if (scope->version[0])
		assert_dstr(&g->scope_version, scope->version);
	else
		assert_false(g->scope_version.present);
	assert_int_equal(g->n_spans, rs->n_spans);
	for (size_t i = 0; i < rs->n_spans; i++)
		assert_span(&q->spans[g->first_span + i], rs->spans[i]);
}

/* Encodes rs[0..n) into a fresh buffer, decodes and checks it all. */
static void roundtrip(const struct tw_otlp_resource_spans *rs, size_t n,
		      const struct tw_otlp_scope *scope, struct tw_buf *b, struct d_req *q)
{
	memset(b, 0, sizeof(*b));
	assert_int_equal(tw_otlp_encode_request(b, rs, n, scope), 0);
	decode_request(b->data, b->len, q);
	assert_int_equal(q->n_groups, n);
	for (size_t i = 0; i < n; i++)
		assert_group(q, i, &rs[i], scope);
}

/* ---- fixtures ------------------------------------------------------------ */

static const struct tw_otlp_scope SCOPE = { .name = "tracewire", .version = "0.1.0" };

#define STR(k, v) { .key = (k), .type = TW_ATTR_STR, .str = (v), .len = sizeof(v) - 1 }
#define INT(k, v) { .key = (k), .type = TW_ATTR_INT, .num = (v) }

static const struct tw_attr RES[] = {
	STR("service.name", "frontend"),
	INT("process.pid", 100),
	STR("host.name", "node-a"),
};

/* CLIENT child of the root, no query */
static struct tw_span client_span(void)
{
	struct tw_span s = root_span();

	set_id(s.span_id, 8, 2);
	set_id(s.parent_span_id, 8, 1);
	s.kind = TW_SPAN_CLIENT;
	s.start_ns = T0 + 1000000;
	s.end_ns = T0 + 9000000;
	s.tid = 102;
	strcpy(s.method, "POST");
	strcpy(s.path, "/orders");
	s.query[0] = '\0';
	strcpy(s.host, "orders:9090");
	s.status_code = 201;
	s.request_body_bytes = 42;
	s.response_body_bytes = 0;
	set_ep(&s.local, AF_INET, "198.18.0.1", 51000);
	set_ep(&s.peer, AF_INET, "198.18.0.2", 9090);
	s.parent_source = "thread";
	return s;
}

/* failed SERVER span over IPv6, parent from a traceparent header */
static struct tw_span error_span(void)
{
	struct tw_span s = root_span();

	set_id(s.span_id, 8, 3);
	set_id(s.parent_span_id, 8, 2);
	s.start_ns = T0 + 2000000;
	s.end_ns = T0 + 8000000;
	s.pid = 200;
	s.tid = 200;
	strcpy(s.method, "DELETE");
	strcpy(s.path, "/orders/7");
	s.query[0] = '\0';
	s.status_code = 503;
	s.status = TW_STATUS_ERROR;
	strcpy(s.error_type, "503");
	set_ep(&s.local, AF_INET6, "fd00::2", 9090);
	set_ep(&s.peer, AF_INET6, "fd00::1:5", 5555);
	s.parent_source = "header";
	return s;
}

static size_t count_dattrs(const struct d_span *s, const char *key)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_attrs; i++)
		n += s->attrs[i].key.len == strlen(key) && !memcmp(s->attrs[i].key.p, key, strlen(key));
	return n;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_spans_fields(void **state)
{
	struct tw_span spans[3] = { root_span(), client_span(), error_span() };
	const struct tw_span *ptrs[3] = { &spans[0], &spans[1], &spans[2] };
	const struct tw_otlp_resource_spans rs = { RES, 3, ptrs, 3 };
	const struct d_attr *a;
	const struct d_span *d;
	struct tw_buf b;
	struct d_req q;

	(void)state;
	roundtrip(&rs, 1, &SCOPE, &b, &q);
	assert_int_equal(q.n_spans, 3);

	/* spelled out once, beyond what assert_span derives */
	d = &q.spans[0];
	assert_false(d->parent.present);
	assert_int_equal(d->kind, 2);
	assert_dstr(&d->name, "GET");
	assert_true(d->start == 1700000000000000000ULL);
	assert_true(d->end == 1700000000012345678ULL);
	assert_int_equal(d->flags, 0x101);
	assert_false(d->has_status);
	a = find_dattr(d, "url.query");
	assert_non_null(a);
	assert_dstr(&a->str, "id=7&x=y");
	a = find_dattr(d, "http.response.status_code");
	assert_non_null(a);
	assert_true(a->has_int && a->num == 200);
	a = find_dattr(d, "network.peer.address");
	assert_dstr(&a->str, "198.18.0.9");

	d = &q.spans[1];
	assert_dstr_n(&d->parent, (const uint8_t[8]){ 0xa0, 0, 0, 0, 0, 0, 0, 1 }, 8);
	assert_int_equal(d->kind, 3);
	assert_dstr(&d->name, "POST");
	assert_int_equal(d->flags, 0x01); /* parent known, remoteness not stated */
	assert_null(find_dattr(d, "url.query"));
	assert_dstr(&find_dattr(d, "url.full")->str, "http://orders:9090/orders");
	assert_false(d->has_status);

	d = &q.spans[2];
	assert_true(d->has_status);
	assert_dstr(&d->status_msg, "503");
	assert_int_equal(d->code, 2);
	assert_dstr(&d->name, "DELETE");
	assert_dstr(&find_dattr(d, "network.peer.address")->str, "fd00::1:5");
	assert_dstr(&find_dattr(d, "network.type")->str, "ipv6");
	assert_dstr(&find_dattr(d, "error.type")->str, "503");

	assert_dstr(&q.g[0].scope_name, "tracewire");
	assert_dstr(&q.g[0].scope_version, "0.1.0");
	d_req_free(&q);
	tw_buf_free(&b);
}

/* The very first bytes, by hand: request field 1, LEN; ResourceSpans field 1
 * (Resource), LEN; Resource field 1 (KeyValue), LEN; KeyValue key. */
static void test_wire_prefix(void **state)
{
	struct tw_span s = root_span();
	const struct tw_span *p = &s;
	const struct tw_otlp_resource_spans rs = { RES, 1, &p, 1 };
	static const uint8_t kv[] = { 0x0a, 0x0c, 's', 'e', 'r', 'v', 'i', 'c', 'e', '.', 'n', 'a',
				      'm', 'e', 0x12, 0x0a, 0x0a, 0x08, 'f', 'r', 'o', 'n', 't',
				      'e', 'n', 'd' };
	struct tw_buf b = { 0 };
	size_t off;

	(void)state;
	assert_int_equal(tw_otlp_encode_request(&b, &rs, 1, &SCOPE), 0);
	assert_int_equal(b.data[0], 0x0a);
	/* ResourceSpans length: 2 bytes (a span is more than 127) */
	assert_true(b.data[1] & 0x80);
	assert_false(b.data[2] & 0x80);
	assert_int_equal((b.data[1] & 0x7f) | b.data[2] << 7, b.len - 3);
	off = 3;
	assert_int_equal(b.data[off], 0x0a);             /* resource */
	assert_int_equal(b.data[off + 1], 2 + sizeof(kv)); /* one KeyValue */
	assert_int_equal(b.data[off + 2], 0x0a);         /* attributes */
	assert_int_equal(b.data[off + 3], sizeof(kv));
	assert_memory_equal(b.data + off + 4, kv, sizeof(kv));
	off += 4 + sizeof(kv);
	assert_int_equal(b.data[off], 0x12); /* scope_spans */
	/* scope: InstrumentationScope{name "tracewire", version "0.1.0"} */
	assert_int_equal(b.data[off + 3], 0x0a);
	assert_int_equal(b.data[off + 4], 2 + 9 + 2 + 5);
	assert_memory_equal(b.data + off + 5, "\x0a\x09tracewire\x12\x05" "0.1.0", 18);
	off += 5 + 18;
	/* first span: tag 0x12, two length bytes, then trace_id (field 1, LEN, 16) */
	assert_int_equal(b.data[off], 0x12);
	assert_memory_equal(b.data + off + 3, "\x0a\x10", 2);
	assert_memory_equal(b.data + off + 5, TRACE, 16);
	/* span_id (field 2, LEN, 8); no parent_span_id (field 4) for a root */
	assert_memory_equal(b.data + off + 21, "\x12\x08", 2);
	assert_int_equal(b.data[off + 31], 0x2a); /* name, field 5 LEN */
	/* last: flags, field 16 fixed32 = tag 0x85 0x01, 0x101 little-endian */
	assert_memory_equal(b.data + b.len - 6, "\x85\x01\x01\x01\x00\x00", 6);
	tw_buf_free(&b);
}

static void test_flags(void **state)
{
	static const struct {
		uint8_t trace_flags;
		const char *source;
		bool has;
		uint32_t flags;
	} cases[] = {
		{ 0x01, "none", true, 0x101 },
		{ 0x00, "none", true, 0x100 },
		{ 0x00, NULL, true, 0x100 }, /* unset reads as "none", as in the attributes */
		{ 0x01, "thread", true, 0x001 },
		{ 0x01, "header", true, 0x001 },
		{ 0x00, "header", false, 0 }, /* proto3: a zero fixed32 is omitted */
		{ 0xff, "none", true, 0x1ff },
		{ 0x80, "thread", true, 0x080 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tw_span s = client_span();
		const struct tw_span *p = &s;
		const struct tw_otlp_resource_spans rs = { NULL, 0, &p, 1 };
		struct tw_buf b;
		struct d_req q;

		s.trace_flags = cases[i].trace_flags;
		s.parent_source = cases[i].source;
		roundtrip(&rs, 1, &SCOPE, &b, &q);
		assert_int_equal(q.spans[0].has_flags, cases[i].has);
		assert_int_equal(q.spans[0].flags, cases[i].flags);
		d_req_free(&q);
		tw_buf_free(&b);
	}
}

static void test_kind_values(void **state)
{
	static const struct {
		uint8_t kind;
		bool has;
		uint64_t otlp;
	} cases[] = {
		{ TW_SPAN_SERVER, true, 2 },
		{ TW_SPAN_CLIENT, true, 3 },
		{ 0, false, 0 }, /* SPAN_KIND_UNSPECIFIED: omitted */
		{ 7, false, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tw_span s = root_span();
		const struct tw_span *p = &s;
		const struct tw_otlp_resource_spans rs = { RES, 3, &p, 1 };
		struct tw_buf b;
		struct d_req q;

		s.kind = cases[i].kind;
		roundtrip(&rs, 1, &SCOPE, &b, &q);
		assert_int_equal(q.spans[0].has_kind, cases[i].has);
		assert_int_equal(q.spans[0].kind, cases[i].otlp);
		d_req_free(&q);
		tw_buf_free(&b);
	}
}

static void test_status(void **state)
{
	struct tw_span spans[4] = { root_span(), error_span(), error_span(), error_span() };
	const struct tw_span *ptrs[4] = { &spans[0], &spans[1], &spans[2], &spans[3] };
	const struct tw_otlp_resource_spans rs = { RES, 3, ptrs, 4 };
	struct tw_buf b;
	struct d_req q;

	(void)state;
	/* an unterminated error_type, and none at all (a connection closed early) */
	memset(spans[2].error_type, 'E', sizeof(spans[2].error_type));
	spans[3].error_type[0] = '\0';
	spans[3].status_code = 0;
	/* a 5xx the correlator did not mark as an error stays UNSET */
	spans[0].status_code = 500;
	roundtrip(&rs, 1, &SCOPE, &b, &q);
	assert_false(q.spans[0].has_status);
	assert_true(q.spans[1].has_status);
	assert_dstr(&q.spans[1].status_msg, "503");
	assert_int_equal(q.spans[2].status_msg.len, TW_ERROR_TYPE_MAX);
	assert_true(q.spans[3].has_status);
	assert_false(q.spans[3].status_msg.present);
	assert_int_equal(q.spans[3].code, 2);
	assert_dstr(&find_dattr(&q.spans[3], "error.type")->str, "_OTHER");
	d_req_free(&q);
	tw_buf_free(&b);
}

/* Empty strings and zero ints are values: present in the AnyValue. */
static void test_empty_string_and_zero_int(void **state)
{
	struct tw_span s = root_span();
	const struct tw_span *p = &s;
	static const char not_terminated[] = { 'a', 'b', 'c', 'X', 'X' };
	const struct tw_attr res[] = {
		STR("service.name", "svc"),
		STR("deployment.environment.name", ""),
		{ .key = "empty.null", .type = TW_ATTR_STR, .str = NULL, .len = 0 },
		INT("zero", 0),
		INT("minus.one", -1),
		INT("max", INT64_MAX),
		INT("min", INT64_MIN),
		{ .key = "cut", .type = TW_ATTR_STR, .str = not_terminated, .len = 3 },
	};
	const struct tw_otlp_resource_spans rs = { res, sizeof(res) / sizeof(res[0]), &p, 1 };
	const struct d_attr *a;
	struct tw_buf b;
	struct d_req q;

	(void)state;
	s.path[0] = '\0'; /* url.path "" */
	s.tid = 0;        /* thread.id 0 */
	roundtrip(&rs, 1, &SCOPE, &b, &q);
	assert_true(q.g[0].res[1].str.present);
	assert_int_equal(q.g[0].res[1].str.len, 0);
	assert_true(q.g[0].res[2].str.present);
	assert_true(q.g[0].res[3].has_int && q.g[0].res[3].num == 0);
	assert_true(q.g[0].res[4].num == -1);
	assert_true(q.g[0].res[6].num == INT64_MIN);
	assert_dstr(&q.g[0].res[7].str, "abc");
	a = find_dattr(&q.spans[0], "url.path");
	assert_non_null(a);
	assert_true(a->str.present);
	assert_int_equal(a->str.len, 0);
	a = find_dattr(&q.spans[0], "thread.id");
	assert_non_null(a);
	assert_true(a->has_int);
	assert_int_equal(a->num, 0);
	assert_int_equal(count_dattrs(&q.spans[0], "thread.id"), 1);
	d_req_free(&q);
	tw_buf_free(&b);
}

/* Every string length from 0 to past 256 (one- and two-byte length
 * prefixes, and each size class of the encoder's copy), byte for byte. */
static void test_string_lengths(void **state)
{
	uint8_t src[300 + 4];
	struct tw_buf b = { 0 };
	struct d_req q;

	(void)state;
	/* printable ASCII: other bytes would be repaired (test_invalid_utf8) */
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(' ' + (i * 7 + 3) % 95);
	for (size_t len = 0; len <= 300; len++) {
		/* and at varying alignments */
		const struct tw_attr a = { .key = "k", .type = TW_ATTR_STR,
					   .str = (const char *)src + len % 5, .len = len };
		const struct tw_otlp_resource_spans rs = { &a, 1, NULL, 0 };

		tw_buf_reset(&b);
		assert_int_equal(tw_otlp_encode_request(&b, &rs, 1, &SCOPE), 0);
		decode_request(b.data, b.len, &q);
		assert_int_equal(q.n_groups, 1);
		assert_int_equal(q.g[0].n_res, 1);
		assert_attr(&q.g[0].res[0], &a);
		d_req_free(&q);
	}
	tw_buf_free(&b);
}

/* No spans, no resource attributes, an empty scope: still well formed. */
static void test_empty_group_and_scope(void **state)
{
	static const struct tw_otlp_scope bare = { .name = "", .version = "" };
	static const struct tw_otlp_scope noversion = { .name = "tracewire", .version = "" };
	const struct tw_otlp_resource_spans rs[2] = { { NULL, 0, NULL, 0 }, { RES, 3, NULL, 0 } };
	struct tw_buf b = { 0 };
	struct d_req q;

	(void)state;
	/* nothing to encode: nothing appended, no allocation needed */
	assert_int_equal(tw_otlp_encode_request(&b, NULL, 0, &SCOPE), 0);
	assert_int_equal(b.len, 0);
	tw_buf_free(&b);

	roundtrip(rs, 2, &bare, &b, &q);
	assert_int_equal(q.n_spans, 0);
	/* ResourceSpans{resource{}, scope_spans{scope{}}} */
	assert_memory_equal(b.data, "\x0a\x06\x0a\x00\x12\x02\x0a\x00", 8);
	d_req_free(&q);
	tw_buf_free(&b);

	roundtrip(rs, 2, &noversion, &b, &q);
	assert_false(q.g[1].scope_version.present);
	d_req_free(&q);
	tw_buf_free(&b);
}

/* Strings longer than 127 bytes: two-byte lengths inside KeyValue, AnyValue
 * and a span of several hundred bytes. */
static void test_long_strings(void **state)
{
	struct tw_span s = client_span();
	const struct tw_span *p = &s;
	const struct tw_otlp_resource_spans rs = { RES, 3, &p, 1 };
	const struct d_attr *a;
	struct tw_buf b;
	struct d_req q;

	(void)state;
	memset(s.path, 'p', sizeof(s.path)); /* unterminated, full */
	s.path[0] = '/';
	memset(s.query, 'q', sizeof(s.query) - 1);
	s.query[sizeof(s.query) - 1] = '\0';
	memset(s.host, 'h', sizeof(s.host) - 1);
	s.host[sizeof(s.host) - 1] = '\0';
	roundtrip(&rs, 1, &SCOPE, &b, &q);
	a = find_dattr(&q.spans[0], "url.path");
	assert_int_equal(a->str.len, TW_PATH_MAX);
	assert_memory_equal(a->str.p, s.path, TW_PATH_MAX);
	a = find_dattr(&q.spans[0], "url.query");
	assert_int_equal(a->str.len, TW_QUERY_MAX - 1);
	a = find_dattr(&q.spans[0], "url.full");
	assert_true(a->str.len > 600);
	assert_int_equal(q.spans[0].prefix_len, 2);
	d_req_free(&q);
	tw_buf_free(&b);
}

/*
 * Captured bytes that are not UTF-8 (a Latin-1 path, a cut multi-byte
 * character at the end of a full field, stray continuation bytes, an
 * overlong NUL, a surrogate) reach the wire as U+FFFD, one per maximal
 * invalid subpart; valid multi-byte characters pass unchanged. Before, they
 * were copied as they were and a collector refused the whole batch (400).
 */
static void test_invalid_utf8(void **state)
{
	struct tw_span s = client_span();
	const struct tw_span *p = &s;
	static const char bad_val[] = "ok\xc3(\xed\xa0\x80z";
	const struct tw_attr res[2] = {
		{ .key = "k\xff", .type = TW_ATTR_STR, .str = bad_val, .len = sizeof(bad_val) - 1 },
		{ .key = "deployment.environment", .type = TW_ATTR_STR, .str = "caf\xc3\xa9", .len = 5 },
	};
	const struct tw_otlp_resource_spans rs = { res, 2, &p, 1 };
	const struct d_attr *a;
	struct tw_buf b;
	struct d_req q;
	char want[TW_PATH_MAX + 8];

	(void)state;
	strcpy(s.query, "q=\xe9t\xe9");            /* Latin-1 */
	strcpy(s.host, "h\x80\xbf.example:8080");  /* two stray continuation bytes: two subparts */
	strcpy(s.method, "G\xc0\x80T");            /* overlong NUL */
	/* a full, unterminated path whose last character is cut after its first byte */
	memset(s.path, 'p', sizeof(s.path));
	s.path[0] = '/';
	s.path[TW_PATH_MAX - 1] = '\xc3';
	memset(&b, 0, sizeof(b));
	assert_int_equal(tw_otlp_encode_request(&b, &rs, 1, &SCOPE), 0);
	decode_request(b.data, b.len, &q); /* checks every string field is UTF-8 */
	assert_int_equal(q.n_spans, 1);
	assert_int_equal(q.g[0].n_res, 2);

	a = find_dattr(&q.spans[0], "url.query");
	assert_dstr(&a->str, "q=\xef\xbf\xbdt\xef\xbf\xbd");
	a = find_dattr(&q.spans[0], "server.address");
	assert_dstr(&a->str, "h\xef\xbf\xbd\xef\xbf\xbd.example");
	a = find_dattr(&q.spans[0], "http.request.method_original");
	assert_dstr(&a->str, "G\xef\xbf\xbd\xef\xbf\xbdT");
	a = find_dattr(&q.spans[0], "url.path");
	memcpy(want, s.path, TW_PATH_MAX - 1);
	memcpy(want + TW_PATH_MAX - 1, "\xef\xbf\xbd", 4);
	assert_dstr(&a->str, want);
	a = find_dattr(&q.spans[0], "url.full");
	assert_true(utf8_ok(a->str.p, a->str.len));
	assert_dstr_n(&q.g[0].res[0].key, "k\xef\xbf\xbd", 4);
	/* "\xc3(" is one subpart, "\xed\xa0\x80" (a surrogate) is three */
	assert_dstr(&q.g[0].res[0].str, "ok\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz");
	assert_dstr(&q.g[0].res[1].str, "caf\xc3\xa9");
	d_req_free(&q);
	tw_buf_free(&b);
}

static struct tw_span *span_array(size_t n, bool fat)
{
	struct tw_span *v = calloc(n + 1, sizeof(*v));

	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		v[i] = i % 3 == 0 ? root_span() : i % 3 == 1 ? client_span() : error_span();
		memcpy(v[i].span_id + 2, &i, sizeof(uint32_t));
		v[i].start_ns = T0 + i * 1000;
		v[i].end_ns = T0 + i * 1000 + 999;
		v[i].tid = (uint32_t)i;
		if (fat) {
			memset(v[i].path, 'x', TW_PATH_MAX - 1);
			v[i].path[TW_PATH_MAX - 1] = '\0';
			memset(v[i].query, 'y', TW_QUERY_MAX - 1);
			v[i].query[TW_QUERY_MAX - 1] = '\0';
		}
	}
	return v;
}

/*
 * Several resource groups whose lengths need 1, 2, 3 and 4 varint bytes, of
 * sizes around where the encoder's guess of a group's length-prefix width
 * is wrong in either direction (tiny spans in numbers that look big, and
 * few spans that are large), so both the shrinking and the widening fix-up
 * of a length prefix are exercised, and the spans after each stay intact.
 */
static void test_many_groups_multibyte_lengths(void **state)
{
	enum { G = 7 };
	static const size_t counts[G] = { 0, 1, 30, 20, 200, 3, 4000 };
	static const bool fat[G] = { false, false, false, true, false, true, false };
	struct tw_span *spans[G];
	const struct tw_span **ptrs[G];
	struct tw_otlp_resource_spans rs[G];
	struct tw_attr res[G][2];
	char names[G][16];
	size_t widths[6] = { 0 };
	struct tw_buf b;
	struct d_req q;

	(void)state;
	for (size_t g = 0; g < G; g++) {
		spans[g] = span_array(counts[g], fat[g]);
		ptrs[g] = calloc(counts[g] + 1, sizeof(*ptrs[g]));
		assert_non_null(ptrs[g]);
		for (size_t i = 0; i < counts[g]; i++)
			ptrs[g][i] = &spans[g][i];
		snprintf(names[g], sizeof(names[g]), "svc-%zu", g);
		res[g][0] = (struct tw_attr){ .key = "service.name", .type = TW_ATTR_STR,
					      .str = names[g], .len = strlen(names[g]) };
		res[g][1] = (struct tw_attr){ .key = "process.pid", .type = TW_ATTR_INT,
					      .num = (int64_t)(1000 + g) };
		rs[g] = (struct tw_otlp_resource_spans){ res[g], 2, ptrs[g], counts[g] };
	}
	roundtrip(rs, G, &SCOPE, &b, &q);
	for (size_t g = 0; g < G; g++) {
		assert_true(q.g[g].prefix_len < 6);
		widths[q.g[g].prefix_len]++;
		assert_int_equal(q.g[g].prefix_len, q.g[g].len < 128 ? 1 : q.g[g].len < 16384 ? 2 :
						      q.g[g].len < 2097152 ? 3 : 4);
	}
	/* the sizes above cover every width up to four bytes */
	for (size_t w = 1; w <= 4; w++)
		assert_true(widths[w] > 0);
	assert_true(b.len > 2097152);
	/* the span order within each group survives the fix-ups */
	assert_int_equal(q.spans[q.g[6].first_span + 3999].start, T0 + 3999 * 1000);
	d_req_free(&q);
	tw_buf_free(&b);
	for (size_t g = 0; g < G; g++) {
		free(spans[g]);
		free(ptrs[g]);
	}
}

/* The encoding is appended: what was in the buffer stays, and what follows
 * is the same request as encoded into an empty buffer. Two requests back to
 * back read as one with both groups (protobuf concatenation). */
static void test_appends(void **state)
{
	struct tw_span spans[3] = { root_span(), client_span(), error_span() };
	const struct tw_span *ptrs[3] = { &spans[0], &spans[1], &spans[2] };
	const struct tw_otlp_resource_spans rs[2] = { { RES, 3, ptrs, 2 }, { RES, 1, ptrs + 2, 1 } };
	struct tw_buf alone = { 0 }, b = { 0 };
	uint8_t *data;
	struct d_req q;
	size_t cap;

	(void)state;
	assert_int_equal(tw_otlp_encode_request(&alone, rs, 2, &SCOPE), 0);

	assert_int_equal(tw_otlp_encode_request(&b, rs, 1, &SCOPE), 0);
	tw_buf_reset(&b);
	assert_int_equal(b.len, 0);
	data = b.data;
	cap = b.cap;
	/* a prefix ending in bytes that look like a varint continuation */
	memcpy(b.data, "pre\x80\xff", 5);
	b.len = 5;
	assert_int_equal(tw_otlp_encode_request(&b, rs, 2, &SCOPE), 0);
	assert_memory_equal(b.data, "pre\x80\xff", 5);
	assert_int_equal(b.len, 5 + alone.len);
	assert_memory_equal(b.data + 5, alone.data, alone.len);
	/* reset kept the memory, and this still fitted */
	assert_ptr_equal(b.data, data);
	assert_int_equal(b.cap, cap);

	/* the second request appended to the first */
	assert_int_equal(tw_otlp_encode_request(&b, rs, 2, &SCOPE), 0);
	assert_int_equal(b.len, 5 + 2 * alone.len);
	decode_request(b.data + 5, b.len - 5, &q);
	assert_int_equal(q.n_groups, 4);
	for (size_t i = 0; i < 4; i++)
		assert_group(&q, i, &rs[i % 2], &SCOPE);
	d_req_free(&q);

	/* an append that has to grow a buffer that is not empty */
	tw_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(tw_otlp_encode_request(&b, rs, 2, &SCOPE), 0);
	assert_int_equal(b.len, 50 * alone.len);
	for (int i = 0; i < 50; i++)
		assert_memory_equal(b.data + i * alone.len, alone.data, alone.len);
	tw_buf_free(&b);
	tw_buf_free(&alone);
}

/* Encodings of equal input are equal: nothing uninitialised is written. */
static void test_deterministic(void **state)
{
	struct tw_span s1 = error_span(), s2 = error_span();
	const struct tw_span *p1 = &s1, *p2 = &s2;
	const struct tw_otlp_resource_spans rs1 = { RES, 3, &p1, 1 }, rs2 = { RES, 3, &p2, 1 };
	struct tw_buf a = { 0 }, b = { 0 };

	(void)state;
	/* garbage after the terminators must not leak into the output */
	memset(s2.path + strlen(s2.path) + 1, 'Z', 8);
	memset(s2.error_type + strlen(s2.error_type) + 1, 'Z', 8);
	assert_int_equal(tw_otlp_encode_request(&a, &rs1, 1, &SCOPE), 0);
	assert_int_equal(tw_otlp_encode_request(&b, &rs2, 1, &SCOPE), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	tw_buf_free(&a);
	tw_buf_free(&b);
}

static bool under_valgrind(void)
{
	const char *pre = getenv("LD_PRELOAD");

	return pre && strstr(pre, "vgpreload");
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(UNDER_ASAN)
#define UNDER_ASAN 1
#endif

static size_t vm_data_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmData: %zu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/*
 * -ENOMEM half way through a request leaves the buffer at its old length.
 * Memory is made short with RLIMIT_DATA (covers brk and private mmaps since
 * Linux 4.7); skipped under valgrind, whose allocator this would starve,
 * and under ASan, whose allocator aborts rather than return NULL.
 */
static void test_enomem_restores_length(void **state)
{
	enum { N = 40000 }; /* about 25 MB of encoding, the same span over and over */
	struct tw_span s = client_span();
	const struct tw_span **ptrs;
	struct tw_otlp_resource_spans rs[2];
	struct rlimit old = { 0 }, lim;
	struct tw_buf b = { 0 };
	size_t used = 0, before;
	int err;

	(void)state;
#ifdef UNDER_ASAN
	skip();
#endif
	if (under_valgrind() || getrlimit(RLIMIT_DATA, &old) || !(used = vm_data_bytes()))
		skip();
	lim = old;
	lim.rlim_cur = used + 8 * 1024 * 1024;
	if (old.rlim_max != RLIM_INFINITY && lim.rlim_cur > old.rlim_max)
		skip();
	ptrs = calloc(N, sizeof(*ptrs));
	assert_non_null(ptrs);
	for (size_t i = 0; i < N; i++)
		ptrs[i] = &s;
	rs[0] = (struct tw_otlp_resource_spans){ RES, 3, ptrs, 10 };
	rs[1] = (struct tw_otlp_resource_spans){ RES, 3, ptrs, N };
	assert_int_equal(tw_otlp_encode_request(&b, rs, 1, &SCOPE), 0);
	b.data[0] = 0x42;
	before = b.len;
	assert_int_equal(setrlimit(RLIMIT_DATA, &lim), 0);
	err = tw_otlp_encode_request(&b, rs, 2, &SCOPE);
	assert_int_equal(setrlimit(RLIMIT_DATA, &old), 0);

	assert_int_equal(err, -ENOMEM);
	assert_int_equal(b.len, before);
	assert_int_equal(b.data[0], 0x42);
	/* and the buffer still works */
	assert_int_equal(tw_otlp_encode_request(&b, rs, 1, &SCOPE), 0);
	assert_int_equal(b.len, 2 * before);
	tw_buf_free(&b);
	free(ptrs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spans_fields),
		cmocka_unit_test(test_wire_prefix),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_kind_values),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_empty_string_and_zero_int),
		cmocka_unit_test(test_string_lengths),
		cmocka_unit_test(test_empty_group_and_scope),
		cmocka_unit_test(test_long_strings),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_many_groups_multibyte_lengths),
		cmocka_unit_test(test_appends),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_enomem_restores_length),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
