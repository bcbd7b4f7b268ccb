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
 *
 * Every string field is valid UTF-8, whatever the bytes it came from (a
 * request target, a Host header, a command line): protobuf requires it of
 * `string` fields and a collector refuses the whole request (HTTP 400) for
 * one that is not. Invalid sequences become U+FFFD (struct text), after one
 * check that costs little for the ASCII strings nearly everything is.
 */
#include "otlp_pb.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

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

/* Inlined with a one-byte fast path: nearly every tag, length and small
 * int is below 128, and a span writes some sixty of them. */
static inline __attribute__((always_inline)) uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	if (v < 0x80) {
		*p = (uint8_t)v;
		return p + 1;
	}
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline __attribute__((always_inline)) uint8_t *put_tag(uint8_t *p, uint32_t field,
								  enum wire_type wt)
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

static inline __attribute__((always_inline)) uint8_t *put_len_field(uint8_t *p, uint32_t field,
									const void *data, size_t len)
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

/* A string field's source bytes and the length it has on the wire: len when
 * they are valid UTF-8, else the length after repair. */
struct text {
	const char *s;
	size_t len;
	size_t wire;
	bool repair;
};

static struct text text_of(const char *s, size_t len)
{
	struct text t = { .s = s, .len = len, .wire = len };

	if (len && !tw_utf8_valid(s, len)) {
		t.repair = true;
		t.wire = tw_utf8_repaired_len(s, len);
	}
	return t;
}

static struct text text_cstr(const char *s)
{
	return text_of(s, s ? strlen(s) : 0);
}

static uint8_t *put_text(uint8_t *p, uint32_t field, const struct text *t)
{
	if (!t->repair)
		return put_len_field(p, field, t->s, t->len);
	p = put_tag(p, field, WT_LEN);
	p = put_varint(p, t->wire);
	return p + tw_utf8_repair((char *)p, t->s, t->len);
}

/* ---- KeyValue ------------------------------------------------------------ */

/* A KeyValue's key and string value as they go on the wire. */
struct kv_text {
	struct text key, val;
};

/*
 * text_of() in place, with no check for text the producer vouches is ASCII
 * (struct tw_attr). Per attribute of every span: filling the caller's struct
 * field by field avoids a struct built on the stack and copied, whose wide
 * reloads of narrow stores stalled (a third of the encoder's time).
 */
static void text_set(struct text *t, const char *s, size_t len, bool ascii)
{
	t->s = s;
	t->len = len;
	t->wire = len;
	t->repair = false;
	if (!ascii && len && !tw_utf8_valid(s, len)) {
		t->repair = true;
		t->wire = tw_utf8_repaired_len(s, len);
	}
}

static void kv_text_set(struct kv_text *t, const struct tw_attr *a)
{
	if (a->key_len)
		text_set(&t->key, a->key, a->key_len, true);
	else
		text_set(&t->key, a->key, a->key ? strlen(a->key) : 0, false);
	if (a->type == TW_ATTR_INT)
		text_set(&t->val, NULL, 0, true);
	else
		text_set(&t->val, a->str, a->len, a->str_ascii);
}

static size_t any_value_size(const struct tw_attr *a, const struct kv_text *t)
{
	/* oneof members are written even when zero or empty: a reader must see
	 * int_value 0 or string_value "", not an AnyValue with no value */
	if (a->type == TW_ATTR_INT)
		return 1 + varint_len((uint64_t)a->num);
	return len_field_size(t->val.wire);
}

static size_t kv_size(size_t klen, size_t vlen)
{
	return (klen ? len_field_size(klen) : 0) + len_field_size(vlen);
}

/* Bound on the bytes put_kv() writes for a. */
static size_t kv_bound(const struct tw_attr *a, const struct kv_text *t)
{
	return KV_OVERHEAD_MAX + t->key.wire + (a->type == TW_ATTR_INT ? 0 : t->val.wire);
}

/* Exact size of the KeyValue message (without its own tag and length). */
static size_t kv_msg_size(const struct tw_attr *a, const struct kv_text *t)
{
	return kv_size(t->key.wire, any_value_size(a, t));
}

static uint8_t *put_kv(uint8_t *p, uint32_t field, const struct tw_attr *a,
		       const struct kv_text *t)
{
	size_t vlen = any_value_size(a, t);

	p = put_tag(p, field, WT_LEN);
	p = put_varint(p, kv_size(t->key.wire, vlen));
	if (t->key.wire)
		p = put_text(p, F_KV_KEY, &t->key);
	p = put_tag(p, F_KV_VALUE, WT_LEN);
	p = put_varint(p, vlen);
	if (a->type == TW_ATTR_INT) {
		p = put_tag(p, F_ANY_INT, WT_VARINT);
		return put_varint(p, (uint64_t)a->num); /* int64: negatives take 10 bytes */
	}
	return put_text(p, F_ANY_STRING, &t->val);
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
	struct kv_text kt[TW_SPAN_ATTRS_MAX];
	struct text name = text_cstr(tw_span_name(s));
	struct text err_type = text_of(s->error_type, strnlen(s->error_type, sizeof(s->error_type)));
	size_t bound = SPAN_FIXED_MAX + name.wire + err_type.wire;
	uint32_t kind = span_kind(s), flags = span_flags(s);
	size_t body_off;
	uint8_t *p;
	int err;

	tw_span_attrs(s, &attrs);
	for (size_t i = 0; i < attrs.n; i++) {
		kv_text_set(&kt[i], &attrs.a[i]);
		bound += kv_bound(&attrs.a[i], &kt[i]);
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
	if (name.wire)
		p = put_text(p, F_SPAN_NAME, &name);
	if (kind) {
		p = put_tag(p, F_SPAN_KIND, WT_VARINT);
		p = put_varint(p, kind);
	}
	if (s->start_ns)
		p = put_fixed64(p, F_SPAN_START, s->start_ns);
	if (s->end_ns)
		p = put_fixed64(p, F_SPAN_END, s->end_ns);
	for (size_t i = 0; i < attrs.n; i++)
		p = put_kv(p, F_SPAN_ATTRIBUTES, &attrs.a[i], &kt[i]);
	if (s->status == TW_STATUS_ERROR) {
		size_t slen = (err_type.wire ? len_field_size(err_type.wire) : 0) + 2;

		p = put_tag(p, F_SPAN_STATUS, WT_LEN);
		p = put_varint(p, slen);
		if (err_type.wire)
			p = put_text(p, F_STATUS_MESSAGE, &err_type);
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

/* An optional string field: omitted when empty. */
static size_t opt_text_size(const struct text *t)
{
	return t->wire ? len_field_size(t->wire) : 0;
}

static uint8_t *put_opt_text(uint8_t *p, uint32_t field, const struct text *t)
{
	return t->wire ? put_text(p, field, t) : p;
}

static int put_resource(struct tw_buf *b, const struct tw_otlp_resource_spans *rs)
{
	size_t size = 0;
	uint8_t *p;
	int err;

	for (size_t i = 0; i < rs->n_attrs; i++) {
		const struct tw_attr *a = &rs->attrs[i];
		struct kv_text t;

		kv_text_set(&t, a);
		size += len_field_size(kv_msg_size(a, &t));
	}
	err = buf_reserve(b, 1 + VARINT_MAX);
	if (err)
		return err;
	p = put_tag(b->data + b->len, F_RS_RESOURCE, WT_LEN);
	p = put_varint(p, size);
	b->len = (size_t)(p - b->data);
	for (size_t i = 0; i < rs->n_attrs; i++) {
		const struct tw_attr *a = &rs->attrs[i];
		struct kv_text t;

		kv_text_set(&t, a);

		err = buf_reserve(b, kv_bound(a, &t));
		if (err)
			return err;
		p = put_kv(b->data + b->len, F_RESOURCE_ATTRIBUTES, a, &t);
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
	struct text scope_name = { 0 }, scope_version = { 0 };
	uint8_t *p;
	int err;

	if (width > LEN_PREFIX_MAX)
		width = LEN_PREFIX_MAX;
	if (scope) {
		scope_name = text_cstr(scope->name);
		scope_version = text_cstr(scope->version);
		scope_size = opt_text_size(&scope_name) + opt_text_size(&scope_version);
	}

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
		p = put_opt_text(p, F_SCOPE_NAME, &scope_name);
		p = put_opt_text(p, F_SCOPE_VERSION, &scope_version);
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
