// SPDX-License-Identifier: BSD-2-Clause
/*
 * JSON lines exporter: one object per span, one span per line, written and
 * flushed a trace at a time so that a reader tailing the file only ever sees
 * whole lines. Attributes are the OpenTelemetry set from tw_span_attrs(), the
 * same the OTLP exporter sends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exporter.h"
#include "ids.h"
#include "json.h"
#include "resattr.h"

/*
 * Worst case per line: every string byte escaped to 6 bytes (\u00XX) across
 * service, method (twice), path and query (url.path/url.query and again in
 * url.full), host (server.address and url.full) and error_type: about 9 KiB,
 * plus keys and numbers. A line that still does not fit is dropped whole.
 */
#define LINE_MAX_BYTES (32 * 1024)
/* Lines are gathered here and handed to stdio only in whole lines: stdio
 * alone would write out a full buffer in the middle of a line. */
#define PENDING_BYTES (256 * 1024)

struct jsonl_exporter {
	struct tw_exporter base; /* first: the list holds &base */
	FILE *out;
	bool own_file;
	size_t pending_len;
	char pending[PENDING_BYTES];
	char line[LINE_MAX_BYTES];
};

static struct jsonl_exporter *jsonl_of(struct tw_exporter *e)
{
	return (struct jsonl_exporter *)e;
}

static void put_id(struct tw_json *j, const char *key, const uint8_t *id, size_t n)
{
	char hex[33];

	if (tw_id_is_zero(id, n)) {
		tw_json_kv_string(j, key, "");
		return;
	}
	tw_hex(id, n, hex);
	tw_json_kv_string(j, key, hex);
}

static void put_attrs(struct tw_json *j, const struct tw_span *s)
{
	struct tw_span_attrs attrs;

	tw_span_attrs(s, &attrs);
	tw_json_key(j, "attributes");
	tw_json_object_begin(j);
	for (size_t i = 0; i < attrs.n; i++) {
		const struct tw_attr *a = &attrs.a[i];

		if (a->type == TW_ATTR_INT)
			tw_json_kv_int(j, a->key, a->num);
		else
			tw_json_kv_string_n(j, a->key, a->str, a->len);
	}
	tw_json_object_end(j);
}

/* "resource": what the resource provider (e.g. the pod) adds; only when set */
static void put_resource(struct tw_json *j, const struct tw_span *s)
{
	struct tw_res r;
	const char *k, *v;
	size_t pos = 0;

	if (!tw_res_lookup(s->pid, &r) || !r.n)
		return;
	tw_json_key(j, "resource");
	tw_json_object_begin(j);
	while (tw_res_next(&r, &pos, &k, &v))
		tw_json_kv_string(j, k, v);
	tw_json_object_end(j);
}

static void format_span(struct tw_json *j, const struct tw_span *s)
{
	char hex[33];

	tw_json_reset(j);
	tw_json_object_begin(j);
	tw_hex(s->trace_id, sizeof(s->trace_id), hex);
	tw_json_kv_string(j, "trace_id", hex);
	tw_hex(s->span_id, sizeof(s->span_id), hex);
	tw_json_kv_string(j, "span_id", hex);
	put_id(j, "parent_span_id", s->parent_span_id, sizeof(s->parent_span_id));
	tw_json_kv_string(j, "kind", tw_span_kind_str(s));
	tw_json_kv_string(j, "name", tw_span_name(s));
	tw_json_kv_uint(j, "start_ns", s->start_ns);
	tw_json_kv_uint(j, "end_ns", s->end_ns);
	tw_json_kv_string_n(j, "service", s->service, strnlen(s->service, sizeof(s->service)));
	tw_json_kv_uint(j, "pid", s->pid);
	tw_json_kv_uint(j, "tid", s->tid);
	tw_json_kv_string(j, "status", s->status == TW_STATUS_ERROR ? "error" : "unset");
	tw_json_kv_uint(j, "trace_flags", s->trace_flags);
	put_attrs(j, s);
	put_resource(j, s);
	tw_json_object_end(j);
	tw_json_raw(j, "\n", 1);
}

static int write_pending(struct jsonl_exporter *x)
{
	size_t len = x->pending_len;

	x->pending_len = 0;
	if (len && fwrite(x->pending, 1, len, x->out) != len)
		return -EIO;
	return fflush(x->out) == EOF ? -EIO : 0;
}

static int jsonl_export(struct tw_exporter *e, const struct tw_span *const *spans, size_t n)
{
	struct jsonl_exporter *x = jsonl_of(e);
	struct tw_json j;
	int err = 0, r;

	tw_json_init(&j, x->line, sizeof(x->line));
	for (size_t i = 0; i < n; i++) {
		format_span(&j, spans[i]);
		if (j.overflow) {
			err = -EMSGSIZE;
			continue;
		}
		if (j.len > sizeof(x->pending) - x->pending_len) {
			r = write_pending(x);
			err = err ? err : r;
		}
		memcpy(x->pending + x->pending_len, j.buf, j.len);
		x->pending_len += j.len;
	}
	r = write_pending(x);
	return err ? err : r;
}

static int jsonl_flush(struct tw_exporter *e)
{
	return fflush(jsonl_of(e)->out) == EOF ? -EIO : 0;
}

static void jsonl_destroy(struct tw_exporter *e)
{
	struct jsonl_exporter *x = jsonl_of(e);

	if (x->own_file)
		fclose(x->out);
	else
		fflush(x->out);
	free(x);
}

static const struct tw_exporter_ops jsonl_ops = {
	.name = "jsonl",
	.export_trace = jsonl_export,
	.flush = jsonl_flush,
	.destroy = jsonl_destroy,
};

struct tw_exporter *tw_jsonl_exporter_new(const char *path)
{
	struct jsonl_exporter *x;

	if (!path || !path[0]) {
		errno = EINVAL;
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->base.ops = &jsonl_ops;
	if (!strcmp(path, "-")) {
		x->out = stdout;
		return &x->base;
	}
	x->out = fopen(path, "we");
	if (!x->out) {
		int saved = errno;

		free(x);
		errno = saved;
		return NULL;
	}
	x->own_file = true;
	return &x->base;
}
