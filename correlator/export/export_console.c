// SPDX-License-Identifier: BSD-2-Clause
/*
 * Console exporter: one waterfall per trace, e.g.
 *
 * trace 4bf92f3577b34da6a3ce929d0e0e4736  3 spans  12.345 ms  1 error
 *   |========================================|    12.345 ms   SERVER frontend GET /api/orders?id=7 200  from 198.18.0.9:40000
 *   |   ===============================      |     9.345 ms     CLIENT frontend POST /orders 200  to 198.18.0.2:9090
 *   |      ======================            |     6.345 ms !     SERVER orders GET /orders 500  from 198.18.0.1:40002  error=500
 *
 * The bar comes first so that it lines up whatever the depth and path length;
 * depth shows as two spaces per level before the kind. Bytes from the network
 * (paths, hosts, service names) are printed with non-printables as \xNN: a
 * request must not be able to drive the operator's terminal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exporter.h"
#include "ids.h"

#define BAR_WIDTH 40
#define MAX_INDENT_DEPTH 32

struct console_exporter {
	struct tw_exporter base; /* first: the list holds &base */
	FILE *out;
	bool colour;
};

/* Per-trace tree, indices into the sorted spans array. */
struct tree {
	size_t n;
	long *parent;       /* -1: top level */
	long *first_child;  /* children linked latest-start first, see push_children() */
	long *next_sibling;
	long *stack;
	unsigned *depth;
	bool *visited;
};

struct id_index {
	uint8_t id[8];
	size_t i;
};

static struct console_exporter *console_of(struct tw_exporter *e)
{
	return (struct console_exporter *)e;
}

static void put_clean(FILE *out, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f)
			fputc(c, out);
		else
			fprintf(out, "\\x%02x", c);
	}
}

static uint64_t span_end(const struct tw_span *s)
{
	return s->end_ns > s->start_ns ? s->end_ns : s->start_ns;
}

static void put_ms(FILE *out, uint64_t ns, int width)
{
	fprintf(out, "%*" PRIu64 ".%03" PRIu64 " ms", width, ns / 1000000, ns / 1000 % 1000);
}

static void put_bar(FILE *out, const struct tw_span *s, uint64_t t0, uint64_t total)
{
	uint64_t off = 0, end = BAR_WIDTH;
	char bar[BAR_WIDTH + 1];

	if (total) {
		off = (s->start_ns - t0) * BAR_WIDTH / total;
		/* round the end up: a short span still gets a mark */
		end = ((span_end(s) - t0) * BAR_WIDTH + total - 1) / total;
	}
	if (off >= BAR_WIDTH)
		off = BAR_WIDTH - 1;
	if (end <= off)
		end = off + 1;
	if (end > BAR_WIDTH)
		end = BAR_WIDTH;
	memset(bar, ' ', BAR_WIDTH);
	memset(bar + off, '=', end - off);
	bar[BAR_WIDTH] = '\0';
	fprintf(out, "|%s|", bar);
}

static void put_endpoint(FILE *out, const struct tw_endpoint *ep)
{
	char addr[TW_ADDR_STR_MAX];

	tw_endpoint_addr_str(ep, addr, sizeof(addr));
	if (!addr[0])
		fputs("?", out);
	else if (strchr(addr, ':'))
		fprintf(out, "[%s]", addr);
	else
		fputs(addr, out);
	fprintf(out, ":%u", ep->port);
}

static void put_span(struct console_exporter *c, const struct tw_span *s, unsigned depth,
		     uint64_t t0, uint64_t total)
{
	bool err = s->status == TW_STATUS_ERROR;
	bool client = s->kind == TW_SPAN_CLIENT;
	FILE *out = c->out;

	if (depth > MAX_INDENT_DEPTH)
		depth = MAX_INDENT_DEPTH;
	fputs("  ", out);
	if (c->colour && err)
		fputs("\033[31m", out);
	put_bar(out, s, t0, total);
	put_ms(out, span_end(s) - s->start_ns, 6);
	fprintf(out, " %c %*s%s ", err ? '!' : ' ', (int)(2 * depth), "",
		client ? "CLIENT" : s->kind == TW_SPAN_SERVER ? "SERVER" : "SPAN");
	put_clean(out, s->service[0] ? s->service : "?", sizeof(s->service));
	fputc(' ', out);
	put_clean(out, s->method[0] ? s->method : "?", sizeof(s->method));
	fputc(' ', out);
	put_clean(out, s->path[0] ? s->path : "/", sizeof(s->path));
	if (s->query[0]) {
		fputc('?', out);
		put_clean(out, s->query, sizeof(s->query));
	}
	if (s->status_code > 0)
		fprintf(out, " %d", s->status_code);
	else
		fputs(" ---", out);
	fputs(client ? "  to " : "  from ", out);
	put_endpoint(out, &s->peer);
	if (err) {
		fputs("  error=", out);
		put_clean(out, s->error_type[0] ? s->error_type : "error", sizeof(s->error_type));
	}
	if (c->colour && err)
		fputs("\033[0m", out);
	fputc('\n', out);
}

static void put_header(FILE *out, const struct tw_span *const *spans, size_t n, uint64_t total)
{
	char hex[33];
	size_t errors = 0;

	for (size_t i = 0; i < n; i++)
		errors += spans[i]->status == TW_STATUS_ERROR;
	tw_hex(spans[0]->trace_id, sizeof(spans[0]->trace_id), hex);
	fprintf(out, "trace %s  %zu span%s  ", hex, n, n == 1 ? "" : "s");
	put_ms(out, total, 0);
	if (errors)
		fprintf(out, "  %zu error%s", errors, errors == 1 ? "" : "s");
	fputc('\n', out);
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(((const struct id_index *)a)->id, ((const struct id_index *)b)->id, 8);
}

static void tree_free(struct tree *t)
{
	free(t->parent);
	free(t->first_child);
	free(t->next_sibling);
	free(t->stack);
	free(t->depth);
	free(t->visited);
}

static int tree_alloc(struct tree *t, size_t n)
{
	*t = (struct tree){ .n = n };
	t->parent = calloc(n, sizeof(long));
	t->first_child = calloc(n, sizeof(long));
	t->next_sibling = calloc(n, sizeof(long));
	t->stack = calloc(n, sizeof(long));
	t->depth = calloc(n, sizeof(unsigned));
	t->visited = calloc(n, sizeof(bool));
	if (!t->parent || !t->first_child || !t->next_sibling || !t->stack || !t->depth ||
	    !t->visited) {
		tree_free(t);
		return -ENOMEM;
	}
	return 0;
}

/* parent[i]: the span in this trace whose span_id is i's parent_span_id. */
static int link_parents(struct tree *t, const struct tw_span *const *spans)
{
	struct id_index *ids = calloc(t->n, sizeof(*ids));

	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		memcpy(ids[i].id, spans[i]->span_id, 8);
		ids[i].i = i;
	}
	qsort(ids, t->n, sizeof(*ids), cmp_id);
	for (size_t i = 0; i < t->n; i++) {
		struct id_index key, *hit = NULL;

		t->parent[i] = -1;
		t->first_child[i] = -1;
		t->next_sibling[i] = -1;
		if (tw_span_is_root(spans[i]))
			continue;
		memcpy(key.id, spans[i]->parent_span_id, 8);
		hit = bsearch(&key, ids, t->n, sizeof(*ids), cmp_id);
		if (hit && hit->i != i)
			t->parent[i] = (long)hit->i;
	}
	free(ids);
	/* Prepending in start order leaves the latest child first, which is
	 * what the stack wants: the earliest child is popped first. */
	for (size_t i = 0; i < t->n; i++) {
		long p = t->parent[i];

		if (p >= 0) {
			t->next_sibling[i] = t->first_child[p];
			t->first_child[p] = (long)i;
		}
	}
	return 0;
}

/* Pre-order walk from top; each span printed once even if links form a cycle. */
static void walk(struct console_exporter *c, struct tree *t, const struct tw_span *const *spans,
		 size_t top, uint64_t t0, uint64_t total)
{
	size_t sp = 0;

	t->visited[top] = true;
	t->depth[top] = 0;
	t->stack[sp++] = (long)top;
	while (sp) {
		long i = t->stack[--sp];

		put_span(c, spans[i], t->depth[i], t0, total);
		for (long ch = t->first_child[i]; ch >= 0; ch = t->next_sibling[ch]) {
			if (t->visited[ch])
				continue;
			t->visited[ch] = true;
			t->depth[ch] = t->depth[i] + 1;
			t->stack[sp++] = ch;
		}
	}
}

static int console_export(struct tw_exporter *e, const struct tw_span *const *spans, size_t n)
{
	struct console_exporter *c = console_of(e);
	uint64_t t0, tend = 0;
	struct tree t;
	int err;

	if (!n)
		return 0;
	t0 = spans[0]->start_ns;
	for (size_t i = 0; i < n; i++) {
		if (spans[i]->start_ns < t0)
			t0 = spans[i]->start_ns;
		if (span_end(spans[i]) > tend)
			tend = span_end(spans[i]);
	}
	err = tree_alloc(&t, n);
	if (!err)
		err = link_parents(&t, spans);
	if (err) {
		tree_free(&t);
		return err;
	}
	put_header(c->out, spans, n, tend - t0);
	/* Spans whose parent is elsewhere are top level; then anything only
	 * reachable through a cycle of parent links. */
	for (size_t i = 0; i < n; i++)
		if (t.parent[i] < 0)
			walk(c, &t, spans, i, t0, tend - t0);
	for (size_t i = 0; i < n; i++)
		if (!t.visited[i])
			walk(c, &t, spans, i, t0, tend - t0);
	tree_free(&t);
	if (fflush(c->out) == EOF || ferror(c->out))
		return -EIO;
	return 0;
}

static int console_flush(struct tw_exporter *e)
{
	return fflush(console_of(e)->out) == EOF ? -errno : 0;
}

static void console_destroy(struct tw_exporter *e)
{
	fflush(console_of(e)->out);
	free(e);
}

static const struct tw_exporter_ops console_ops = {
	.name = "console",
	.export_trace = console_export,
	.flush = console_flush,
	.destroy = console_destroy,
};

struct tw_exporter *tw_console_exporter_new(FILE *out)
{
	struct console_exporter *c = calloc(1, sizeof(*c));
	int fd;

	if (!c)
		return NULL;
	c->base.ops = &console_ops;
	c->out = out;
	fd = fileno(out);
	c->colour = fd >= 0 && isatty(fd) && !getenv("NO_COLOR");
	return &c->base;
}
