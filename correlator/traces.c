// SPDX-License-Identifier: BSD-2-Clause
#include "traces.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"

#define MIN_BUCKETS 64
#define MAX_BUCKETS (1u << 20)
/* Most traces a node sees hold one or two spans: room for one, doubled as
 * needed, keeps memory at what max_spans (which counts spans) suggests. */
#define FIRST_SPAN_CAP 1
/* Emitted groups kept for reuse, with their span arrays of up to
 * SPARE_SPAN_CAP: a busy node makes and ends tens of thousands of traces a
 * second (a tick emits thousands at once), and malloc/free of each group and
 * its array took a fifth of tracewire's CPU (perf, wrk -> nginx). Arrays of
 * up to 4 keep a request through three services (cap 1 -> 2 -> 4) from
 * paying two reallocs of its spans and a free per trace (6% of bench/replay's
 * pipeline). The spare arrays hold at most max_spans / SPARE_SHARE spans:
 * room for a quarter as many spans as the trace buffer holds (budget.c). */
#define SPARE_SHARE 4
#define SPARE_SPAN_CAP 4
/* up to this many spans a trace is sorted by insertion */
#define SMALL_TRACE 16

/* Circular doubly linked list with a sentinel head. */
struct dlist {
	struct dlist *prev, *next;
};

struct group {
	uint8_t trace_id[16];
	uint64_t first_ns;   /* caller clock at the first span of this part */
	uint64_t last_ns;    /* caller clock at the latest span */
	struct group *hash_next;
	struct dlist by_activity; /* in traces.by_activity, least recently active first */
	struct dlist by_age;      /* in traces.by_age, oldest first */
	struct tw_span *spans;
	size_t n, cap;
};

struct tw_traces {
	struct tw_traces_cfg cfg;
	struct group **buckets;
	size_t nbuckets; /* power of two */
	uint64_t seed[2];
	struct dlist by_activity;
	struct dlist by_age;
	const struct tw_span **sorted; /* scratch for emitting, max_spans_per_trace long */
	struct group *spare;           /* emitted groups for reuse, linked by hash_next */
	size_t spare_spans;            /* span capacity of the spare groups */
	struct tw_traces_stats stats;
};

#define group_of(ptr, member) \
	((struct group *)((char *)(ptr) - offsetof(struct group, member)))

static void dlist_init(struct dlist *l)
{
	l->prev = l->next = l;
}

static bool dlist_empty(const struct dlist *l)
{
	return l->next == l;
}

static void dlist_del(struct dlist *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	dlist_init(e);
}

static void dlist_add_tail(struct dlist *head, struct dlist *e)
{
	e->prev = head->prev;
	e->next = head;
	head->prev->next = e;
	head->prev = e;
}

static uint64_t mix64(uint64_t x)
{
	/* splitmix64 finaliser */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static size_t bucket_of(const struct tw_traces *t, const uint8_t *trace_id)
{
	uint64_t lo, hi;

	memcpy(&lo, trace_id, 8);
	memcpy(&hi, trace_id + 8, 8);
	/* Keyed: remote peers choose trace ids, they must not choose our chains. */
	return (size_t)(mix64(lo ^ t->seed[0]) ^ mix64(hi ^ t->seed[1])) & (t->nbuckets - 1);
}

static struct group *lookup(const struct tw_traces *t, const uint8_t *trace_id)
{
	struct group *g = t->buckets[bucket_of(t, trace_id)];

	while (g && memcmp(g->trace_id, trace_id, sizeof(g->trace_id)))
		g = g->hash_next;
	return g;
}

static void unhash(struct tw_traces *t, struct group *g)
{
	struct group **pp = &t->buckets[bucket_of(t, g->trace_id)];

	while (*pp != g)
		pp = &(*pp)->hash_next;
	*pp = g->hash_next;
}

static void free_group(struct tw_traces *t, struct group *g)
{
	unhash(t, g);
	dlist_del(&g->by_activity);
	dlist_del(&g->by_age);
	t->stats.spans_buffered -= g->n;
	t->stats.traces_buffered--;
	if (g->cap <= SPARE_SPAN_CAP && t->spare_spans + g->cap <= t->cfg.max_spans / SPARE_SHARE) {
		g->hash_next = t->spare;
		t->spare = g;
		t->spare_spans += g->cap;
		return;
	}
	free(g->spans);
	free(g);
}

static int by_start(const void *a, const void *b)
{
	const struct tw_span *x = *(const struct tw_span *const *)a;
	const struct tw_span *y = *(const struct tw_span *const *)b;

	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	/* Spans sit in one array in arrival order: the address breaks ties
	 * stably, whatever qsort does. */
	return x < y ? -1 : x > y;
}

/*
 * Traces mostly leave in activity order (tick, or make_room on a full
 * buffer), each from memory far larger than the caches, and exporting one
 * touches every line of its spans. So while g leaves, the next to leave has
 * its spans and hash bucket loaded, and the one after it its header (read
 * here next time).
 */
static void prefetch_next(const struct tw_traces *t, const struct group *g)
{
	const struct dlist *n = g->by_activity.next;
	const struct group *next;

	if (n == &t->by_activity)
		return;
	next = group_of(n, by_activity);
	/* its bucket too: unhashing it walks from there */
	__builtin_prefetch(&t->buckets[bucket_of(t, next->trace_id)]);
	if (next->by_activity.next != &t->by_activity)
		__builtin_prefetch(group_of(next->by_activity.next, by_activity));
	for (size_t i = 0; i < next->n; i++)
		for (size_t off = 0; off < sizeof(struct tw_span); off += 64)
			__builtin_prefetch((const char *)&next->spans[i] + off);
}

static void emit(struct tw_traces *t, struct group *g)
{
	prefetch_next(t, g);
	for (size_t i = 0; i < g->n; i++)
		t->sorted[i] = &g->spans[i];
	if (g->n > SMALL_TRACE) {
		qsort(t->sorted, g->n, sizeof(t->sorted[0]), by_start);
	} else {
		/* most traces hold a few spans, mostly in order already: an
		 * insertion sort without qsort's calls through a pointer */
		for (size_t i = 1; i < g->n; i++) {
			const struct tw_span *x = t->sorted[i];
			size_t j = i;

			while (j > 0 && by_start(&t->sorted[j - 1], &x) > 0) {
				t->sorted[j] = t->sorted[j - 1];
				j--;
			}
			t->sorted[j] = x;
		}
	}
	t->stats.export_errors += (uint64_t)tw_exporters_export(t->cfg.exporters,
			(const struct tw_span *const *)t->sorted, g->n);
	t->stats.traces_out++;
	t->stats.spans_out += g->n;
	free_group(t, g);
}

static size_t pow2_at_least(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

struct tw_traces *tw_traces_new(const struct tw_traces_cfg *cfg)
{
	struct tw_traces *t = calloc(1, sizeof(*t));
	size_t want;

	if (!t)
		return NULL;
	if (cfg)
		t->cfg = *cfg;
	dlist_init(&t->by_activity);
	dlist_init(&t->by_age);
	if (!t->cfg.max_spans)
		t->cfg.max_spans = TW_TRACES_DEFAULT_MAX_SPANS;
	if (!t->cfg.max_spans_per_trace)
		t->cfg.max_spans_per_trace = TW_TRACES_DEFAULT_MAX_PER_TRACE;
	if (t->cfg.max_spans_per_trace > t->cfg.max_spans)
		t->cfg.max_spans_per_trace = t->cfg.max_spans;

	/* Never more traces than spans. */
	want = t->cfg.max_spans < MIN_BUCKETS ? MIN_BUCKETS : t->cfg.max_spans;
	t->nbuckets = pow2_at_least(want > MAX_BUCKETS ? MAX_BUCKETS : want);
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->sorted = calloc(t->cfg.max_spans_per_trace, sizeof(*t->sorted));
	if (!t->buckets || !t->sorted) {
		tw_traces_free(t);
		errno = ENOMEM;
		return NULL;
	}
	tw_random_id((uint8_t *)t->seed, sizeof(t->seed));
	return t;
}

void tw_traces_free(struct tw_traces *t)
{
	if (!t)
		return;
	while (!dlist_empty(&t->by_activity))
		free_group(t, group_of(t->by_activity.next, by_activity));
	while (t->spare) {
		struct group *g = t->spare;

		t->spare = g->hash_next;
		free(g->spans);
		free(g);
	}
	free(t->buckets);
	free(t->sorted);
	free(t);
}

static struct group *new_group(struct tw_traces *t, const uint8_t *trace_id, uint64_t now_ns)
{
	struct group *g = t->spare;
	size_t b;

	if (g) {
		struct tw_span *spans = g->spans;
		size_t cap = g->cap;

		t->spare = g->hash_next;
		t->spare_spans -= cap;
		t->stats.groups_reused++;
		memset(g, 0, sizeof(*g));
		g->spans = spans;
		g->cap = cap;
	} else {
		g = calloc(1, sizeof(*g));
	}
	if (!g)
		return NULL;
	memcpy(g->trace_id, trace_id, sizeof(g->trace_id));
	g->first_ns = g->last_ns = now_ns;
	b = bucket_of(t, trace_id);
	g->hash_next = t->buckets[b];
	t->buckets[b] = g;
	dlist_add_tail(&t->by_activity, &g->by_activity);
	dlist_add_tail(&t->by_age, &g->by_age);
	t->stats.traces_buffered++;
	return g;
}

static int reserve_span(struct tw_traces *t, struct group *g)
{
	size_t cap;
	struct tw_span *spans;

	if (g->n < g->cap)
		return 0;
	cap = g->cap ? g->cap * 2 : FIRST_SPAN_CAP;
	if (cap > t->cfg.max_spans_per_trace)
		cap = t->cfg.max_spans_per_trace;
	spans = realloc(g->spans, cap * sizeof(*spans));
	if (!spans)
		return -ENOMEM;
	g->spans = spans;
	g->cap = cap;
	return 0;
}

/* Make room for one more span; may emit the group the span belongs to. */
static struct group *make_room(struct tw_traces *t, struct group *g)
{
	if (g && g->n >= t->cfg.max_spans_per_trace) {
		t->stats.traces_split++;
		emit(t, g);
		g = NULL;
	}
	while (t->stats.spans_buffered >= t->cfg.max_spans) {
		struct group *oldest = group_of(t->by_activity.next, by_activity);

		if (oldest == g)
			g = NULL;
		t->stats.traces_forced_early++;
		emit(t, oldest);
	}
	return g;
}

static int drop(struct tw_traces *t, int err)
{
	t->stats.spans_dropped++;
	return err;
}

int tw_traces_add(struct tw_traces *t, const struct tw_span *span, uint64_t now_ns)
{
	struct group *g;

	if (tw_id_is_zero(span->trace_id, sizeof(span->trace_id)))
		return drop(t, -EINVAL);

	g = make_room(t, lookup(t, span->trace_id));
	if (!g) {
		g = new_group(t, span->trace_id, now_ns);
		if (!g)
			return drop(t, -ENOMEM);
	}
	if (reserve_span(t, g) < 0) {
		if (!g->n)
			free_group(t, g);
		return drop(t, -ENOMEM);
	}
	tw_span_copy(&g->spans[g->n++], span);
	t->stats.spans_buffered++;
	t->stats.spans_in++;
	if (now_ns > g->last_ns)
		g->last_ns = now_ns;
	dlist_del(&g->by_activity);
	dlist_add_tail(&t->by_activity, &g->by_activity);
	return 0;
}

static bool elapsed(uint64_t since, uint64_t now, uint64_t span)
{
	return now >= since && now - since >= span;
}

void tw_traces_tick(struct tw_traces *t, uint64_t now_ns)
{
	while (!dlist_empty(&t->by_activity)) {
		struct group *g = group_of(t->by_activity.next, by_activity);

		if (!elapsed(g->last_ns, now_ns, t->cfg.window_ns))
			break;
		emit(t, g);
	}
	if (!t->cfg.max_age_ns)
		return;
	while (!dlist_empty(&t->by_age)) {
		struct group *g = group_of(t->by_age.next, by_age);

		if (!elapsed(g->first_ns, now_ns, t->cfg.max_age_ns))
			break;
		t->stats.traces_aged++;
		emit(t, g);
	}
}

int tw_traces_flush(struct tw_traces *t)
{
	if (!t)
		return 0;
	while (!dlist_empty(&t->by_activity))
		emit(t, group_of(t->by_activity.next, by_activity));
	return tw_exporters_flush(t->cfg.exporters);
}

void tw_traces_stats(const struct tw_traces *t, struct tw_traces_stats *out)
{
	if (!t) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = t->stats;
}
