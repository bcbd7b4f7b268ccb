// SPDX-License-Identifier: BSD-2-Clause
/* One OTLP export batch (contract in otlp_batch.h). */
#include "otlp_batch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "kvlist.h"

/* attributes taken from a process's OTEL_RESOURCE_ATTRIBUTES, at most */
#define TW_PROC_RESOURCE_ATTRS 32

struct tw_otlp_resource_scratch {
	struct tw_attr attrs[16 + TW_PROC_RESOURCE_ATTRS + TW_RES_MAX + TW_OTLP_MAX_RESOURCE_ATTRS];
	char instance_id[320];
	char own[TW_PROC_RESOURCE_MAX * 2]; /* the process's own attributes, decoded */
	size_t own_used;
};

/* a process's service name (procinfo) fits a span's, and the other way */
_Static_assert(TW_PROC_SERVICE_MAX == TW_SERVICE_MAX, "TW_PROC_SERVICE_MAX");

const struct tw_otlp_scope tw_otlp_scope = { .name = "tracewire", .version = TW_VERSION };

int tw_otlp_batch_init(struct tw_otlp_batch *b, const struct tw_otlp_cfg *cfg, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->cfg = cfg;
	b->max = max;
	b->items = calloc(max, sizeof(*b->items));
	b->order = calloc(max, sizeof(*b->order));
	b->groups = calloc(max, sizeof(*b->groups));
	b->scratch = calloc(max, sizeof(*b->scratch));
	b->spans = calloc(max, sizeof(*b->spans));
	if (!b->items || !b->order || !b->groups || !b->scratch || !b->spans) {
		tw_otlp_batch_free(b);
		return -ENOMEM;
	}
	return 0;
}

void tw_otlp_batch_free(struct tw_otlp_batch *b)
{
	if (!b)
		return;
	tw_buf_free(&b->body);
	tw_buf_free(&b->gz);
	free(b->items);
	free(b->order);
	free(b->groups);
	free(b->scratch);
	free(b->spans);
	memset(b, 0, sizeof(*b));
}

/* The string in src, not the whole array: these are read as C strings, and
 * most are far shorter than their arrays (per span, on the event loop). */
static void copy_str(char *dst, const char *src, size_t size)
{
	size_t len = strnlen(src, size - 1);

	memcpy(dst, src, len);
	dst[len] = '\0';
}

void tw_otlp_item_fill(struct tw_otlp_item *it, const struct tw_span *s, struct tw_procinfo *pi,
		       bool command_line)
{
	const struct tw_proc *proc;
	int err;

	tw_span_copy(&it->span, s);
	it->proc_start = 0;
	it->exe[0] = it->cmdline[0] = it->resource[0] = '\0';
	tw_res_lookup(s->pid, &it->res);
	if (!pi)
		return;
	proc = tw_procinfo_get(pi, s->pid, s->service, &err);
	if (err)
		return;
	it->proc_start = proc->start_time;
	copy_str(it->exe, proc->exe, sizeof(it->exe));
	copy_str(it->resource, proc->resource, sizeof(it->resource));
	if (command_line)
		copy_str(it->cmdline, proc->cmdline, sizeof(it->cmdline));
}

static int cmp_resource(const struct tw_otlp_item *a, const struct tw_otlp_item *b)
{
	if (a->span.pid != b->span.pid)
		return a->span.pid < b->span.pid ? -1 : 1;
	if (a->proc_start != b->proc_start)
		return a->proc_start < b->proc_start ? -1 : 1;
	return strcmp(a->span.service, b->span.service);
}

static int cmp_order(const void *pa, const void *pb, void *ctx)
{
	const struct tw_otlp_item *items = ctx;
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	int c = cmp_resource(&items[a], &items[b]);

	return c ? c : (a < b ? -1 : a > b);
}

static void add_str(struct tw_attr *a, size_t *n, const char *key, const char *val)
{
	a[*n] = (struct tw_attr){ .key = key, .type = TW_ATTR_STR, .str = val, .len = strlen(val) };
	(*n)++;
}

static bool has_key(const struct tw_attr *a, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(a[i].key, key))
			return true;
	return false;
}

struct own_ctx {
	struct tw_otlp_resource_scratch *r;
	size_t *n, max;
};

/* One item of the process's OTEL_RESOURCE_ATTRIBUTES (service.name is
 * already chosen; a key seen first wins). */
static int take_own(void *arg, const char *key, size_t key_len, const char *value)
{
	struct own_ctx *o = arg;
	struct tw_otlp_resource_scratch *r = o->r;
	size_t vl = strlen(value), room = sizeof(r->own) - r->own_used;
	char *k = r->own + r->own_used;

	if (*o->n >= o->max || key_len + vl + 2 > room)
		return 1;
	memcpy(k, key, key_len);
	k[key_len] = '\0';
	memcpy(k + key_len + 1, value, vl + 1);
	if (!strcmp(k, "service.name") || has_key(r->attrs, *o->n, k))
		return 0;
	r->own_used += key_len + vl + 2;
	add_str(r->attrs, o->n, k, k + key_len + 1);
	return 0;
}

/* Resource of one process. Its own attributes win over OTEL_RESOURCE_ATTRIBUTES
 * (which applies to every process on the node, e.g. deployment.environment). */
static size_t build_resource(const struct tw_otlp_cfg *cfg, const struct tw_otlp_item *it,
			     struct tw_otlp_resource_scratch *r)
{
	struct tw_attr *a = r->attrs;
	size_t n = 0;

	snprintf(r->instance_id, sizeof(r->instance_id), "%s-%u-%llu", cfg->host_name,
		 it->span.pid, (unsigned long long)it->proc_start);
	add_str(a, &n, "service.name", it->span.service);
	add_str(a, &n, "service.instance.id", r->instance_id);
	a[n++] = (struct tw_attr){ .key = "process.pid", .type = TW_ATTR_INT, .num = it->span.pid };
	if (it->exe[0])
		add_str(a, &n, "process.executable.name", it->exe);
	if (cfg->command_line && it->cmdline[0])
		add_str(a, &n, "process.command_line", it->cmdline);
	add_str(a, &n, "host.name", cfg->host_name);
	add_str(a, &n, "telemetry.sdk.name", "tracewire");
	add_str(a, &n, "telemetry.sdk.language", "c");
	add_str(a, &n, "telemetry.sdk.version", TW_VERSION);
	if (it->resource[0]) {
		struct own_ctx o = { r, &n, n + TW_PROC_RESOURCE_ATTRS };

		r->own_used = 0;
		tw_kvlist_parse(it->resource, strlen(it->resource), take_own, &o);
	}
	for (size_t pos = 0, i = 0; i < TW_RES_MAX; i++) {
		const char *k, *v;

		if (!tw_res_next(&it->res, &pos, &k, &v))
			break;
		if (!has_key(a, n, k))
			add_str(a, &n, k, v);
	}
	for (size_t i = 0; i < cfg->n_resource; i++)
		if (!has_key(a, n, cfg->resource[i].key))
			add_str(a, &n, cfg->resource[i].key, cfg->resource[i].value);
	return n;
}

int tw_otlp_batch_encode(struct tw_otlp_batch *b, size_t n)
{
	size_t ngroups = 0;

	if (n > b->max)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		b->order[i] = i;
	qsort_r(b->order, n, sizeof(*b->order), cmp_order, b->items);
	for (size_t i = 0; i < n; i++) {
		const struct tw_otlp_item *it = &b->items[b->order[i]];

		b->spans[i] = &it->span;
		if (i && !cmp_resource(&b->items[b->order[i - 1]], it)) {
			b->groups[ngroups - 1].n_spans++;
			continue;
		}
		b->groups[ngroups].attrs = b->scratch[ngroups].attrs;
		b->groups[ngroups].n_attrs = build_resource(b->cfg, it, &b->scratch[ngroups]);
		b->groups[ngroups].spans = &b->spans[i];
		b->groups[ngroups].n_spans = 1;
		ngroups++;
	}
	b->ngroups = ngroups;
	tw_buf_reset(&b->body);
	return tw_otlp_encode_request(&b->body, b->groups, ngroups, &tw_otlp_scope);
}

int tw_otlp_batch_gzip(struct tw_otlp_batch *b)
{
	z_stream z = { 0 };
	size_t bound;
	int rc;

	if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, b->body.len);
	if (b->gz.cap < bound) {
		uint8_t *p = realloc(b->gz.data, bound);

		if (!p) {
			deflateEnd(&z);
			return -ENOMEM;
		}
		b->gz.data = p;
		b->gz.cap = bound;
	}
	z.next_in = b->body.data;
	z.avail_in = b->body.len;
	z.next_out = b->gz.data;
	z.avail_out = b->gz.cap;
	rc = deflate(&z, Z_FINISH);
	b->gz.len = z.total_out;
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -EIO;
}
