// SPDX-License-Identifier: BSD-2-Clause
/*
 * OTLP protobuf encoder (see otlp_pb.h); field numbers from
 * opentelemetry-proto's trace.proto, common.proto, resource.proto and
 * trace_service.proto.
 *
 * A span's length is only known once its attributes are written, and sizing
 * every span in a first pass would build its attribute set (inet_ntop, the
 * url.full formatting) twice. So the length prefixes of spans and of the
 * per-resource containers are reserved at a guessed width and the body is
 * shifted only when the guess was wrong: a span is nearly always 128..16383
 * bytes (two length bytes), and a group's width is guessed from its span
 * count. The small messages inside a span (KeyValue, AnyValue, Status) are
 * sized exactly before they are written.
 *
 * Capacity is reserved once per span from a bound computed out of its
 * attribute lengths; the writers below it are unchecked.
 */
#include "otlp_pb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum wire_type {
	WT_VARINT = 0,
	WT_I64 = 1,
	WT_LEN = 2,
	WT_I32 = 5,
};

/* collector/trace/v1 ExportTraceServiceRequest */
#define F_REQ_RESOURCE_SPANS 1
/* trace/v1 ResourceSpans, ScopeSpans */
#define F_RS_RESOURCE 1
#define F_RS_SCOPE_SPANS 2
#define F_SS_SCOPE 1
#define F_SS_SPANS 2
/* resource/v1 Resource */
#define F_RESOURCE_ATTRIBUTES 1
/* common/v1 InstrumentationScope, KeyValue, AnyValue */
#define F_SCOPE_NAME 1
#define F_SCOPE_VERSION 2
#define F_KV_KEY 1
#define F_KV_VALUE 2
#define F_ANY_STRING 1
#define F_ANY_INT 3
/* trace/v1 Span, Status */
#define F_SPAN_TRACE_ID 1
#define F_SPAN_SPAN_ID 2
#define F_SPAN_PARENT_SPAN_ID 4
#define F_SPAN_NAME 5
#define F_SPAN_KIND 6
#define F_SPAN_START 7
#define F_SPAN_END 8
#define F_SPAN_ATTRIBUTES 9
#define F_SPAN_STATUS 15
#define F_SPAN_FLAGS 16
#define F_STATUS_MESSAGE 2
#define F_STATUS_CODE 3

/* Span.SpanKind, Status.StatusCode, SpanFlags */
#define SPAN_KIND_UNSPECIFIED 0
#define SPAN_KIND_SERVER 2
#define SPAN_KIND_CLIENT 3
#define STATUS_CODE_ERROR 2
#define SPAN_FLAGS_TRACE_FLAGS_MASK 0xffu
#define SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK 0x100u

#define VARINT_MAX 10
/*
 * Worst case of one KeyValue beyond its key and string bytes: four tags and
 * four varints (the KeyValue and AnyValue lengths, the key length, the string
 * length or the int value).
 */
#define KV_OVERHEAD_MAX (4 * (1 + VARINT_MAX))
/*
 * Worst case of a span beyond its name, status message and attributes: the
 * Span tag and a 5-byte length (room to widen a mis-guessed prefix in place),
 * the three ids, flags, kind, both times, the name's and the Status's tags
 * and lengths.
 */
#define SPAN_FIXED_MAX 128
/* A span's length prefix: two bytes cover 128..16383, nearly every span. */
#define SPAN_LEN_GUESS 2
/* Typical encoded span, only to guess a group's length-prefix width. */
#define SPAN_SIZE_GUESS 640
/* Widest length prefix we ever need: messages stay below 2^35 bytes. */
#define LEN_PREFIX_MAX 5
#define BUF_MIN_CAP 4096

void tw_buf_reset(struct tw_buf *b)
{
	b->len = 0;
}

void tw_buf_free(struct tw_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/* Room for extra more bytes; geometric growth keeps appends amortised O(1). */
static int buf_reserve(struct tw_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (b->cap - b->len >= extra)
		return 0;
	if (extra > SIZE_MAX - b->len)
		return -ENOMEM;
	need = b->len + extra;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* ---- unchecked writers: the caller has reserved the room ---------------- */

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static uint8_t *put_tag(uint8_t *p, uint32_t field, enum wire_type wt)
{
	return put_varint(p, (uint64_t)field << 3 | wt);
}

static uint8_t *put_fixed32(uint8_t *p, uint32_t field, uint32_t v)
{
	p = put_tag(p, field, WT_I32);
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static uint8_t *put_fixed64(uint8_t *p, uint32_t field, uint64_t v)
{
	p = put_tag(p, field, WT_I64);
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

/*
 * Most strings here are keys and values of a few to a few dozen bytes, where
 * a call into the general memcpy costs more than the copy itself: two
 * overlapping fixed-size moves, inlined, cover any length up to 32. Nothing
 * is read for len 0, so an empty value may come with a NULL pointer.
 */
static void copy_bytes(uint8_t *d, const uint8_t *s, size_t len)
{
	if (len > 32) {
		memcpy(d, s, len);
	} else if (len >= 16) {
		memcpy(d, s, 16);
		memcpy(d + len - 16, s + len - 16, 16);
	} else if (len >= 8) {
		memcpy(d, s, 8);
		memcpy(d + len - 8, s + len - 8, 8);
	} else if (len >= 4) {
		memcpy(d, s, 4);
		memcpy(d + len - 4, s + len - 4, 4);
	} else if (len) {
		d[0] = s[0];
		d[len / 2] = s[len / 2];
		d[len - 1] = s[len - 1];
	}
}

static uint8_t *put_len_field(uint8_t *p, uint32_t field, const void *data, size_t len)
{
	p = put_tag(p, field, WT_LEN);
	p = put_varint(p, len);
	copy_bytes(p, data, len);
	return p + len;
}

/* Size of a length-delimited field with a tag below 16 (one byte). */
static size_t len_field_size(size_t len)
{
	return 1 + varint_len(len) + len;
}

/* ---- KeyValue ------------------------------------------------------------ */

static size_t any_value_size(const struct tw_attr *a)
{
	/* oneof members are written even when zero or empty: a reader must see
	 * int_value 0 or string_value "", not an AnyValue with no value */
	if (a->type == TW_ATTR_INT)
		return 1 + varint_len((uint64_t)a->num);
	return len_field_size(a->len);
}

static size_t kv_size(size_t klen, size_t vlen)
{
	return (klen ? len_field_size(klen) : 0) + len_field_size(vlen);
}

/* Bound on the bytes put_kv() writes for a. */
static size_t kv_bound(size_t klen, const struct tw_attr *a)
{
	return KV_OVERHEAD_MAX + klen + (a->type == TW_ATTR_INT ? 0 : a->len);
}

static uint8_t *put_kv(uint8_t *p, uint32_t field, const char *key, size_t klen,
		       const struct tw_attr *a)
{
	size_t vlen = any_value_size(a);

	p = put_tag(p, field, WT_LEN);
	p = put_varint(p, kv_size(klen, vlen));
	if (klen)
		p = put_len_field(p, F_KV_KEY, key, klen);
	p = put_tag(p, F_KV_VALUE, WT_LEN);
	p = put_varint(p, vlen);
	if (a->type == TW_ATTR_INT) {
		p = put_tag(p, F_ANY_INT, WT_VARINT);
		return put_varint(p, (uint64_t)a->num); /* int64: negatives take 10 bytes */
	}
	return put_len_field(p, F_ANY_STRING, a->str, a->len);
}

/* ---- length prefixes reserved at a guessed width ------------------------- */

/*
 * Writes the length of the body that starts at body_off and runs to b->len
 * into the width bytes reserved before it, shifting the body when its length
 * needs another width. Widening needs room: the caller reserved it.
 */
static void fix_len(struct tw_buf *b, size_t body_off, size_t width)
{
	size_t len = b->len - body_off;
	size_t need = varint_len(len);
	size_t prefix_off = body_off - width;

	if (need != width) {
		memmove(b->data + prefix_off + need, b->data + body_off, len);
		b->len = prefix_off + need + len;
	}
	put_varint(b->data + prefix_off, len);
}

/* fix_len() for a prefix whose widening has not been provided for. */
static int fix_len_checked(struct tw_buf *b, size_t body_off, size_t width)
{
	size_t need = varint_len(b->len - body_off);
	int err;

	if (need > width) {
		err = buf_reserve(b, need - width);
		if (err)
			return err;
	}
	fix_len(b, body_off, width);
	return 0;
}

/* ---- Span ---------------------------------------------------------------- */

static uint32_t span_kind(const struct tw_span *s)
{
	switch (s->kind) {
	case TW_SPAN_SERVER:
		return SPAN_KIND_SERVER;
	case TW_SPAN_CLIENT:
		return SPAN_KIND_CLIENT;
	default:
		return SPAN_KIND_UNSPECIFIED;
	}
}

static uint32_t span_flags(const struct tw_span *s)
{
	uint32_t flags = s->trace_flags & SPAN_FLAGS_TRACE_FLAGS_MASK;

	/* With no parent, "is the parent remote" has a known answer: no. A
	 * parent found in a header or on a thread is left unknown (bits 8-9
	 * zero) until the correlator says which of those crossed a process. */
	if (!s->parent_source || !strcmp(s->parent_source, "none"))
		flags |= SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK;
	return flags;
}

static int put_span(struct tw_buf *b, const struct tw_span *s)
{
	struct tw_span_attrs attrs;
	size_t klen[TW_SPAN_ATTRS_MAX];
	const char *name = tw_span_name(s);
	size_t name_len = strlen(name);
	size_t elen = strnlen(s->error_type, sizeof(s->error_type));
	size_t bound = SPAN_FIXED_MAX + name_len + elen;
	uint32_t kind = span_kind(s), flags = span_flags(s);
	size_t body_off;
	uint8_t *p;
	int err;

	tw_span_attrs(s, &attrs);
	for (size_t i = 0; i < attrs.n; i++) {
		klen[i] = strlen(attrs.a[i].key);
		bound += kv_bound(klen[i], &attrs.a[i]);
	}
	err = buf_reserve(b, bound);
	if (err)
		return err;

	p = put_tag(b->data + b->len, F_SS_SPANS, WT_LEN);
	p += SPAN_LEN_GUESS;
	body_off = (size_t)(p - b->data);
	/* in field-number order, as protobuf serialisers emit them */
	p = put_len_field(p, F_SPAN_TRACE_ID, s->trace_id, sizeof(s->trace_id));
	p = put_len_field(p, F_SPAN_SPAN_ID, s->span_id, sizeof(s->span_id));
	if (!tw_id_is_zero(s->parent_span_id, sizeof(s->parent_span_id)))
		p = put_len_field(p, F_SPAN_PARENT_SPAN_ID, s->parent_span_id,
				  sizeof(s->parent_span_id));
	if (name_len)
		p = put_len_field(p, F_SPAN_NAME, name, name_len);
	if (kind) {
		p = put_tag(p, F_SPAN_KIND, WT_VARINT);
		p = put_varint(p, kind);
	}
	if (s->start_ns)
		p = put_fixed64(p, F_SPAN_START, s->start_ns);
	if (s->end_ns)
		p = put_fixed64(p, F_SPAN_END, s->end_ns);
	for (size_t i = 0; i < attrs.n; i++)
		p = put_kv(p, F_SPAN_ATTRIBUTES, attrs.a[i].key, klen[i], &attrs.a[i]);
	if (s->status == TW_STATUS_ERROR) {
		size_t slen = (elen ? len_field_size(elen) : 0) + 2;

		p = put_tag(p, F_SPAN_STATUS, WT_LEN);
		p = put_varint(p, slen);
		if (elen)
			p = put_len_field(p, F_STATUS_MESSAGE, s->error_type, elen);
		p = put_tag(p, F_STATUS_CODE, WT_VARINT);
		p = put_varint(p, STATUS_CODE_ERROR);
	}
	if (flags)
		p = put_fixed32(p, F_SPAN_FLAGS, flags);
	b->len = (size_t)(p - b->data);
	/* the bound left LEN_PREFIX_MAX - SPAN_LEN_GUESS bytes to widen into */
	fix_len(b, body_off, SPAN_LEN_GUESS);
	return 0;
}

/* ---- ResourceSpans --------------------------------------------------------- */

static size_t str_field_size(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	return len ? len_field_size(len) : 0;
}

static uint8_t *put_str_field(uint8_t *p, uint32_t field, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	return len ? put_len_field(p, field, s, len) : p;
}

static int put_resource(struct tw_buf *b, const struct tw_otlp_resource_spans *rs)
{
	size_t size = 0, klen;
	uint8_t *p;
	int err;

	for (size_t i = 0; i < rs->n_attrs; i++) {
		const struct tw_attr *a = &rs->attrs[i];

		size += len_field_size(kv_size(strlen(a->key), any_value_size(a)));
	}
	err = buf_reserve(b, 1 + VARINT_MAX);
	if (err)
		return err;
	p = put_tag(b->data + b->len, F_RS_RESOURCE, WT_LEN);
	p = put_varint(p, size);
	b->len = (size_t)(p - b->data);
	for (size_t i = 0; i < rs->n_attrs; i++) {
		const struct tw_attr *a = &rs->attrs[i];

		klen = strlen(a->key);
		err = buf_reserve(b, kv_bound(klen, a));
		if (err)
			return err;
		p = put_kv(b->data + b->len, F_RESOURCE_ATTRIBUTES, a->key, klen, a);
		b->len = (size_t)(p - b->data);
	}
	return 0;
}

/*
 * ResourceSpans{resource, scope_spans = [ScopeSpans{scope, spans}]}. Both
 * container lengths depend on every span, so both are guessed and fixed up,
 * inner first.
 */
static int put_resource_spans(struct tw_buf *b, const struct tw_otlp_resource_spans *rs,
			      const struct tw_otlp_scope *scope)
{
	size_t guess = rs->n_spans * SPAN_SIZE_GUESS + 64 * rs->n_attrs + 64;
	size_t width = varint_len(guess);
	size_t rs_off, ss_off, scope_size = 0;
	uint8_t *p;
	int err;

	if (width > LEN_PREFIX_MAX)
		width = LEN_PREFIX_MAX;
	if (scope)
		scope_size = str_field_size(scope->name) + str_field_size(scope->version);

	err = buf_reserve(b, 1 + width);
	if (err)
		return err;
	p = put_tag(b->data + b->len, F_REQ_RESOURCE_SPANS, WT_LEN);
	rs_off = (size_t)(p + width - b->data);
	b->len = rs_off;
	err = put_resource(b, rs);
	if (err)
		return err;

	err = buf_reserve(b, 1 + width + (scope ? 1 + VARINT_MAX + scope_size : 0));
	if (err)
		return err;
	p = put_tag(b->data + b->len, F_RS_SCOPE_SPANS, WT_LEN);
	p += width;
	ss_off = (size_t)(p - b->data);
	if (scope) {
		p = put_tag(p, F_SS_SCOPE, WT_LEN);
		p = put_varint(p, scope_size);
		p = put_str_field(p, F_SCOPE_NAME, scope->name);
		p = put_str_field(p, F_SCOPE_VERSION, scope->version);
	}
	b->len = (size_t)(p - b->data);

	for (size_t i = 0; i < rs->n_spans; i++) {
		err = put_span(b, rs->spans[i]);
		if (err)
			return err;
	}
	err = fix_len_checked(b, ss_off, width);
	if (err)
		return err;
	return fix_len_checked(b, rs_off, width);
}

int tw_otlp_encode_request(struct tw_buf *out, const struct tw_otlp_resource_spans *rs, size_t n,
			   const struct tw_otlp_scope *scope)
{
	size_t old_len = out->len;
	int err;

	for (size_t i = 0; i < n; i++) {
		err = put_resource_spans(out, &rs[i], scope);
		if (err) {
			out->len = old_len;
			return err;
		}
	}
	return 0;
}
