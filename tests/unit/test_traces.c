// SPDX-License-Identifier: BSD-2-Clause
/* Trace assembly: grouping, windowing, bounds, ordering, exporter fan-out. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exporter.h"
#include "traces.h"

#define MS 1000000ULL

/* ---- capture exporter: keeps copies of every trace it is given ---------- */

struct captured_trace {
	size_t n;
	struct tw_span *spans;
};

struct capture {
	struct tw_exporter base;
	size_t ntraces, cap;
	struct captured_trace *traces;
	int flushes;
	int fail; /* export_trace returns -EIO */
};

static int capture_export(struct tw_exporter *e, const struct tw_span *const *spans, size_t n)
{
	struct capture *c = (struct capture *)e;
	struct captured_trace *t;

	if (c->fail)
		return -EIO;
	if (c->ntraces == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->traces = realloc(c->traces, c->cap * sizeof(*c->traces));
		assert_non_null(c->traces);
	}
	t = &c->traces[c->ntraces++];
	t->n = n;
	t->spans = malloc(n * sizeof(*t->spans));
	assert_non_null(t->spans);
	for (size_t i = 0; i < n; i++)
		t->spans[i] = *spans[i];
	return 0;
}

static int capture_flush(struct tw_exporter *e)
{
	((struct capture *)e)->flushes++;
	return 0;
}

static void capture_reset(struct capture *c)
{
	for (size_t i = 0; i < c->ntraces; i++)
		free(c->traces[i].spans);
	c->ntraces = 0;
}

static void capture_destroy(struct tw_exporter *e)
{
	struct capture *c = (struct capture *)e;

	capture_reset(c);
	free(c->traces);
	free(c);
}

static const struct tw_exporter_ops capture_ops = {
	.name = "capture",
	.export_trace = capture_export,
	.flush = capture_flush,
	.destroy = capture_destroy,
};

static struct capture *capture_new(void)
{
	struct capture *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->base.ops = &capture_ops;
	return c;
}

/* ---- helpers ------------------------------------------------------------ */

static struct tw_span mk_span(uint32_t trace, uint32_t span, uint64_t start)
{
	struct tw_span s;

	memset(&s, 0, sizeof(s));
	memcpy(s.trace_id, &trace, sizeof(trace));
	s.trace_id[15] = 0x77;
	memcpy(s.span_id, &span, sizeof(span));
	s.span_id[7] = 0x55;
	s.kind = TW_SPAN_SERVER;
	s.start_ns = start;
	s.end_ns = start + 1000;
	s.pid = 42;
	strcpy(s.method, "GET");
	strcpy(s.path, "/");
	return s;
}

static uint32_t span_no(const struct tw_span *s)
{
	uint32_t v;

	memcpy(&v, s->span_id, sizeof(v));
	return v;
}

static uint32_t trace_no(const struct tw_span *s)
{
	uint32_t v;

	memcpy(&v, s->trace_id, sizeof(v));
	return v;
}

struct fixture {
	struct capture *cap;
	struct tw_traces *t;
};

static struct fixture setup(uint64_t window, size_t max_spans, size_t per_trace, uint64_t max_age)
{
	struct fixture f;
	struct tw_traces_cfg cfg = {
		.window_ns = window,
		.max_spans = max_spans,
		.max_spans_per_trace = per_trace,
		.max_age_ns = max_age,
	};

	f.cap = capture_new();
	cfg.exporters = &f.cap->base;
	f.t = tw_traces_new(&cfg);
	assert_non_null(f.t);
	return f;
}

static void teardown(struct fixture *f)
{
	tw_traces_free(f->t);
	tw_exporters_destroy(&f->cap->base);
}

static void add(struct fixture *f, uint32_t trace, uint32_t span, uint64_t start, uint64_t now)
{
	struct tw_span s = mk_span(trace, span, start);

	assert_int_equal(tw_traces_add(f->t, &s, now), 0);
}

static struct tw_traces_stats stats(struct fixture *f)
{
	struct tw_traces_stats st;

	tw_traces_stats(f->t, &st);
	return st;
}

static void assert_one_trace_id(const struct captured_trace *t)
{
	for (size_t i = 1; i < t->n; i++)
		assert_memory_equal(t->spans[i].trace_id, t->spans[0].trace_id, 16);
}

static void assert_sorted(const struct captured_trace *t)
{
	for (size_t i = 1; i < t->n; i++)
		assert_true(t->spans[i - 1].start_ns <= t->spans[i].start_ns);
}

/* ---- tests -------------------------------------------------------------- */

static void test_groups_by_trace_id(void **state)
{
	struct fixture f = setup(100 * MS, 0, 0, 0);

	(void)state;
	add(&f, 1, 1, 10, 0);
	add(&f, 2, 1, 10, 0);
	add(&f, 1, 2, 20, 1 * MS);
	add(&f, 2, 2, 20, 2 * MS);
	add(&f, 1, 3, 30, 3 * MS);

	tw_traces_tick(f.t, 50 * MS);
	assert_int_equal(f.cap->ntraces, 0);
	assert_int_equal(stats(&f).traces_buffered, 2);
	assert_int_equal(stats(&f).spans_buffered, 5);

	tw_traces_tick(f.t, 200 * MS);
	assert_int_equal(f.cap->ntraces, 2);
	for (size_t i = 0; i < 2; i++) {
		struct captured_trace *t = &f.cap->traces[i];

		assert_one_trace_id(t);
		assert_int_equal(t->n, trace_no(&t->spans[0]) == 1 ? 3 : 2);
	}
	assert_int_equal(stats(&f).traces_out, 2);
	assert_int_equal(stats(&f).spans_out, 5);
	assert_int_equal(stats(&f).spans_in, 5);
	assert_int_equal(stats(&f).spans_buffered, 0);
	assert_int_equal(stats(&f).traces_buffered, 0);
	teardown(&f);
}

/* Emitted traces' memory serves the next ones: no malloc/free per trace on a
 * busy node; the spans of a reused group are the new trace's only. */
static void test_emitted_groups_are_reused(void **state)
{
	struct fixture f = setup(100 * MS, 0, 0, 0);

	(void)state;
	for (uint32_t i = 1; i <= 3; i++) {
		add(&f, i, 1, 10, i * 200 * MS);
		add(&f, i, 2, 20, i * 200 * MS);
		tw_traces_tick(f.t, i * 200 * MS + 150 * MS);
	}
	assert_int_equal(f.cap->ntraces, 3);
	assert_int_equal(stats(&f).groups_reused, 2);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(f.cap->traces[i].n, 2);
		assert_one_trace_id(&f.cap->traces[i]);
	}
	teardown(&f);
}

/* A request through three services is a trace of 3 spans (arrays grown to
 * 4): its memory is reused too, not freed and allocated again per trace. */
static void test_three_span_groups_are_reused(void **state)
{
	struct fixture f = setup(100 * MS, 0, 0, 0);

	(void)state;
	for (uint32_t i = 1; i <= 3; i++) {
		for (uint32_t k = 1; k <= 3; k++)
			add(&f, i, k, 10 * k, i * 200 * MS);
		tw_traces_tick(f.t, i * 200 * MS + 150 * MS);
	}
	assert_int_equal(f.cap->ntraces, 3);
	assert_int_equal(stats(&f).groups_reused, 2);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(f.cap->traces[i].n, 3);
		assert_one_trace_id(&f.cap->traces[i]);
	}
	teardown(&f);
}

static void test_sorted_by_start_stable(void **state)
{
	struct fixture f = setup(MS, 0, 0, 0);
	const uint64_t starts[] = { 500, 100, 300, 100, 200, 500 };

	(void)state;
	for (uint32_t i = 0; i < 6; i++)
		add(&f, 9, i, starts[i], 0);
	tw_traces_tick(f.t, MS);
	assert_int_equal(f.cap->ntraces, 1);
	assert_int_equal(f.cap->traces[0].n, 6);
	assert_sorted(&f.cap->traces[0]);
	/* equal starts keep arrival order: 1 before 3, 0 before 5 */
	assert_int_equal(span_no(&f.cap->traces[0].spans[0]), 1);
	assert_int_equal(span_no(&f.cap->traces[0].spans[1]), 3);
	assert_int_equal(span_no(&f.cap->traces[0].spans[4]), 0);
	assert_int_equal(span_no(&f.cap->traces[0].spans[5]), 5);
	teardown(&f);
}

static void test_window_restarts_on_each_span(void **state)
{
	struct fixture f = setup(100 * MS, 0, 0, 0);

	(void)state;
	add(&f, 1, 1, 0, 0);
	add(&f, 1, 2, 0, 90 * MS);
	tw_traces_tick(f.t, 150 * MS);
	assert_int_equal(f.cap->ntraces, 0);
	tw_traces_tick(f.t, 189 * MS);
	assert_int_equal(f.cap->ntraces, 0);
	tw_traces_tick(f.t, 190 * MS);
	assert_int_equal(f.cap->ntraces, 1);
	assert_int_equal(f.cap->traces[0].n, 2);
	teardown(&f);
}

static void test_tick_emits_only_quiet_traces(void **state)
{
	struct fixture f = setup(100 * MS, 0, 0, 0);

	(void)state;
	add(&f, 1, 1, 0, 0);
	add(&f, 2, 1, 0, 50 * MS);
	add(&f, 3, 1, 0, 80 * MS);
	add(&f, 1, 2, 0, 90 * MS); /* trace 1 active again: now the newest */
	tw_traces_tick(f.t, 160 * MS);
	assert_int_equal(f.cap->ntraces, 1);
	assert_int_equal(trace_no(&f.cap->traces[0].spans[0]), 2);
	tw_traces_tick(f.t, 185 * MS);
	assert_int_equal(f.cap->ntraces, 2);
	assert_int_equal(trace_no(&f.cap->traces[1].spans[0]), 3);
	tw_traces_tick(f.t, 190 * MS);
	assert_int_equal(f.cap->ntraces, 3);
	assert_int_equal(trace_no(&f.cap->traces[2].spans[0]), 1);
	assert_int_equal(f.cap->traces[2].n, 2);
	teardown(&f);
}

static void test_zero_window_emits_on_next_tick(void **state)
{
	struct fixture f = setup(0, 0, 0, 0);

	(void)state;
	add(&f, 1, 1, 0, 5);
	tw_traces_tick(f.t, 5);
	assert_int_equal(f.cap->ntraces, 1);
	teardown(&f);
}

static void test_clock_going_backwards_is_harmless(void **state)
{
	struct fixture f = setup(100, 0, 0, 1000);

	(void)state;
	add(&f, 1, 1, 0, 5000);
	tw_traces_tick(f.t, 10);
	assert_int_equal(f.cap->ntraces, 0);
	tw_traces_tick(f.t, 5100);
	assert_int_equal(f.cap->ntraces, 1);
	teardown(&f);
}

static void test_max_spans_forces_least_recent_early(void **state)
{
	struct fixture f = setup(1000 * MS, 4, 0, 0);

	(void)state;
	add(&f, 1, 1, 0, 0); /* trace 1 created first ... */
	add(&f, 2, 1, 0, 1);
	add(&f, 2, 2, 0, 2);
	add(&f, 1, 2, 0, 3); /* ... but active last: trace 2 is least recent */
	assert_int_equal(f.cap->ntraces, 0);
	add(&f, 3, 1, 0, 4);
	assert_int_equal(f.cap->ntraces, 1);
	assert_int_equal(trace_no(&f.cap->traces[0].spans[0]), 2);
	assert_int_equal(f.cap->traces[0].n, 2);
	assert_int_equal(stats(&f).traces_forced_early, 1);
	assert_int_equal(stats(&f).spans_buffered, 3);
	assert_int_equal(stats(&f).spans_dropped, 0);
	teardown(&f);
}

static void test_max_spans_when_only_own_trace_buffered(void **state)
{
	struct fixture f = setup(1000 * MS, 3, 10, 0);

	(void)state;
	for (uint32_t i = 0; i < 7; i++)
		add(&f, 1, i, i, i);
	/* per-trace cap clamped to 3: parts of 3, 3, then 1 buffered */
	assert_int_equal(f.cap->ntraces, 2);
	assert_int_equal(f.cap->traces[0].n, 3);
	assert_int_equal(f.cap->traces[1].n, 3);
	assert_int_equal(stats(&f).spans_buffered, 1);
	tw_traces_flush(f.t);
	assert_int_equal(f.cap->ntraces, 3);
	assert_int_equal(stats(&f).spans_out, 7);
	teardown(&f);
}

static void test_per_trace_cap_splits(void **state)
{
	struct fixture f = setup(1000 * MS, 100, 3, 0);

	(void)state;
	for (uint32_t i = 0; i < 5; i++)
		add(&f, 7, i, 100 - i, i);
	assert_int_equal(f.cap->ntraces, 1);
	assert_int_equal(f.cap->traces[0].n, 3);
	assert_sorted(&f.cap->traces[0]);
	assert_int_equal(stats(&f).traces_split, 1);
	assert_int_equal(stats(&f).traces_forced_early, 0);
	tw_traces_tick(f.t, 2000 * MS);
	assert_int_equal(f.cap->ntraces, 2);
	assert_int_equal(f.cap->traces[1].n, 2);
	assert_memory_equal(f.cap->traces[0].spans[0].trace_id, f.cap->traces[1].spans[0].trace_id, 16);
	teardown(&f);
}

static void test_max_age_emits_active_trace(void **state)
{
	struct fixture f = setup(100 * MS, 0, 0, 1000 * MS);
	uint64_t now;

	(void)state;
	add(&f, 1, 0, 0, 0);
	add(&f, 2, 0, 0, 500 * MS);
	/* trace 1 stays busy: never quiet for 100 ms */
	for (now = 50 * MS; now < 1000 * MS; now += 50 * MS) {
		add(&f, 1, (uint32_t)now, now, now);
		add(&f, 2, (uint32_t)now, now, now);
		tw_traces_tick(f.t, now);
	}
	assert_int_equal(f.cap->ntraces, 0);
	tw_traces_tick(f.t, 1000 * MS);
	assert_int_equal(f.cap->ntraces, 1);
	assert_int_equal(trace_no(&f.cap->traces[0].spans[0]), 1);
	assert_int_equal(f.cap->traces[0].n, 20);
	assert_int_equal(stats(&f).traces_aged, 1);
	/* the next span starts a new part with its own age */
	add(&f, 1, 999, 0, 1000 * MS);
	tw_traces_tick(f.t, 1050 * MS); /* trace 2 quiet since 950 ms */
	assert_int_equal(f.cap->ntraces, 2);
	assert_int_equal(trace_no(&f.cap->traces[1].spans[0]), 2);
	tw_traces_tick(f.t, 1500 * MS);
	assert_int_equal(f.cap->ntraces, 3);
	teardown(&f);
}

static void test_flush_emits_all_and_flushes_exporters(void **state)
{
	struct fixture f = setup(1000 * MS, 0, 0, 0);

	(void)state;
	add(&f, 1, 1, 0, 0);
	add(&f, 2, 1, 0, 0);
	add(&f, 3, 1, 0, 0);
	assert_int_equal(tw_traces_flush(f.t), 0);
	assert_int_equal(f.cap->ntraces, 3);
	assert_int_equal(f.cap->flushes, 1);
	assert_int_equal(stats(&f).traces_buffered, 0);
	teardown(&f);
}

static void test_zero_trace_id_dropped(void **state)
{
	struct fixture f = setup(MS, 0, 0, 0);
	struct tw_span s = mk_span(0, 1, 0);

	(void)state;
	memset(s.trace_id, 0, sizeof(s.trace_id));
	assert_int_equal(tw_traces_add(f.t, &s, 0), -EINVAL);
	assert_int_equal(stats(&f).spans_dropped, 1);
	assert_int_equal(stats(&f).spans_in, 0);
	tw_traces_flush(f.t);
	assert_int_equal(f.cap->ntraces, 0);
	teardown(&f);
}

static void test_span_is_copied(void **state)
{
	struct fixture f = setup(MS, 0, 0, 0);
	struct tw_span s = mk_span(1, 1, 0);

	(void)state;
	strcpy(s.path, "/before");
	assert_int_equal(tw_traces_add(f.t, &s, 0), 0);
	strcpy(s.path, "/after");
	tw_traces_flush(f.t);
	assert_string_equal(f.cap->traces[0].spans[0].path, "/before");
	teardown(&f);
}

static void test_every_exporter_gets_trace_despite_failure(void **state)
{
	struct capture *bad = capture_new(), *good = capture_new();
	struct tw_exporter *list = NULL;
	struct tw_traces_cfg cfg = { .window_ns = MS };
	struct tw_traces *t;
	struct tw_span s = mk_span(1, 1, 0);
	struct tw_traces_stats st;

	(void)state;
	bad->fail = 1;
	tw_exporter_append(&list, &bad->base);
	tw_exporter_append(&list, &good->base);
	cfg.exporters = list;
	t = tw_traces_new(&cfg);
	assert_non_null(t);
	assert_int_equal(tw_traces_add(t, &s, 0), 0);
	tw_traces_flush(t);
	assert_int_equal(good->ntraces, 1);
	assert_int_equal(good->flushes, 1);
	assert_int_equal(bad->flushes, 1);
	tw_traces_stats(t, &st);
	assert_int_equal(st.export_errors, 1);
	assert_int_equal(st.traces_out, 1);
	tw_traces_free(t);
	tw_exporters_destroy(list);
}

static void test_no_exporters(void **state)
{
	struct tw_traces_cfg cfg = { .window_ns = 0 };
	struct tw_traces *t = tw_traces_new(&cfg);
	struct tw_span s = mk_span(1, 1, 0);
	struct tw_traces_stats st;

	(void)state;
	assert_non_null(t);
	assert_int_equal(tw_traces_add(t, &s, 0), 0);
	assert_int_equal(tw_traces_flush(t), 0);
	tw_traces_stats(t, &st);
	assert_int_equal(st.traces_out, 1);
	tw_traces_free(t);
}

static void test_free_with_buffered_spans(void **state)
{
	struct fixture f = setup(MS, 0, 0, 0);

	(void)state;
	for (uint32_t i = 0; i < 50; i++)
		add(&f, i % 7 + 1, i, i, 0);
	teardown(&f); /* valgrind: nothing leaks */
}

/* Ids sharing most bytes, many traces, tiny bounds: every span comes out
 * exactly once, grouped and sorted, and the bounds hold throughout. */
static void test_stress_bounds_and_conservation(void **state)
{
	struct fixture f = setup(30, 64, 8, 200);
	uint64_t seen = 0, now = 0;
	unsigned seed = 12345;

	(void)state;
	for (uint32_t i = 0; i < 20000; i++) {
		uint32_t trace = (uint32_t)(rand_r(&seed) % 300) + 1;

		now += (uint64_t)(rand_r(&seed) % 3);
		add(&f, trace, i, (uint64_t)(rand_r(&seed) % 1000), now);
		assert_true(stats(&f).spans_buffered <= 64);
		if (i % 16 == 0)
			tw_traces_tick(f.t, now);
	}
	tw_traces_flush(f.t);
	for (size_t i = 0; i < f.cap->ntraces; i++) {
		assert_true(f.cap->traces[i].n >= 1 && f.cap->traces[i].n <= 8);
		assert_one_trace_id(&f.cap->traces[i]);
		assert_sorted(&f.cap->traces[i]);
		seen += f.cap->traces[i].n;
	}
	assert_int_equal(seen, 20000);
	assert_int_equal(stats(&f).spans_out, 20000);
	assert_int_equal(stats(&f).traces_out, f.cap->ntraces);
	assert_int_equal(stats(&f).spans_buffered, 0);
	teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups_by_trace_id),
		cmocka_unit_test(test_emitted_groups_are_reused),
		cmocka_unit_test(test_three_span_groups_are_reused),
		cmocka_unit_test(test_sorted_by_start_stable),
		cmocka_unit_test(test_window_restarts_on_each_span),
		cmocka_unit_test(test_tick_emits_only_quiet_traces),
		cmocka_unit_test(test_zero_window_emits_on_next_tick),
		cmocka_unit_test(test_clock_going_backwards_is_harmless),
		cmocka_unit_test(test_max_spans_forces_least_recent_early),
		cmocka_unit_test(test_max_spans_when_only_own_trace_buffered),
		cmocka_unit_test(test_per_trace_cap_splits),
		cmocka_unit_test(test_max_age_emits_active_trace),
		cmocka_unit_test(test_flush_emits_all_and_flushes_exporters),
		cmocka_unit_test(test_zero_trace_id_dropped),
		cmocka_unit_test(test_span_is_copied),
		cmocka_unit_test(test_every_exporter_gets_trace_despite_failure),
		cmocka_unit_test(test_no_exporters),
		cmocka_unit_test(test_free_with_buffered_spans),
		cmocka_unit_test(test_stress_bounds_and_conservation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
