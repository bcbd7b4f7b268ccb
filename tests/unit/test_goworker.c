// SPDX-License-Identifier: BSD-2-Clause
/*
 * The Go analysis worker (injector/golang/goworker.h, issue 16 item 3): a
 * slow binary (the test hook's delay, which checks the budget as the
 * analysis loops do) comes back within the time budget; stopping the
 * worker interrupts a running analysis; a thread stuck where no check runs
 * is not joined forever; executables over the size budget are not read;
 * the budget check trips the real analysis loops.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gobudget.h"
#include "goworker.h"

/* a worker left behind on purpose stays reachable (no leak report) */
struct tw_goworker *volatile test_goworker_left_behind;

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int open_exe(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

static const char *go_fixture(void)
{
	static char path[512];
	const char *d = getenv("TW_GOFIXTURES");

	snprintf(path, sizeof(path), "%s/mid_go119_plain", d && *d ? d : "build/gofixtures");
	return access(path, R_OK) ? NULL : path;
}

static void slow_binary_returns_within_budget(void **state)
{
	struct tw_goworker *w;
	struct tw_gojob *job;
	uint64_t t0;

	(void)state;
	assert_int_equal(tw_goworker_start(&w, &(struct tw_goworker_cfg){
		.budget_ms = 200, .test_delay_ms = 60000 }), 0);
	t0 = ms_now();
	assert_int_equal(tw_goworker_submit(w, tw_gojob_new(open_exe("/bin/sh"), &t0)), 0);
	assert_int_equal(tw_goworker_pending(w), 1);
	job = tw_goworker_wait(w, 5000);
	assert_non_null(job);
	/* 200 ms budget: back well within a second, not after the 60 s */
	assert_true(ms_now() - t0 < 1000);
	assert_true(job->took_ns >= 200 * 1000000ull);
	assert_ptr_equal(job->ctx, &t0);
	assert_int_equal(job->status, -ETIMEDOUT);
	assert_false(job->stopped);
	assert_non_null(strstr(job->plan.why, "over its time budget"));
	assert_int_equal(tw_goworker_pending(w), 0);
	tw_gojob_free(job);
	/* the worker goes on with the next binary */
	assert_int_equal(tw_goworker_submit(w, tw_gojob_new(open_exe("/bin/sh"), NULL)), 0);
	job = tw_goworker_wait(w, 5000);
	assert_non_null(job);
	assert_int_equal(job->status, -ETIMEDOUT);
	tw_gojob_free(job);
	assert_int_equal(tw_goworker_stop(w, 1000), 0);
}

static void analyses_off_the_caller(void **state)
{
	const char *go = go_fixture();
	struct tw_goworker *w;
	struct tw_gojob *job;
	int seen = 0;

	(void)state;
	/* a generous budget: valgrind makes the real analysis slow */
	assert_int_equal(tw_goworker_start(&w, &(struct tw_goworker_cfg){ .budget_ms = 120000 }), 0);
	assert_int_equal(tw_goworker_submit(w, tw_gojob_new(open_exe("/bin/sh"), "sh")), 0);
	if (go)
		assert_int_equal(tw_goworker_submit(w, tw_gojob_new(open_exe(go), "go")), 0);
	while (seen < (go ? 2 : 1)) {
		job = tw_goworker_wait(w, 120000);
		assert_non_null(job);
		if (!strcmp(job->ctx, "sh")) {
			assert_int_equal(job->status, -ENOTSUP);
			assert_string_equal(job->plan.why, "not a Go binary");
		} else {
			assert_int_equal(job->status, 0);
			assert_true(job->plan.n_sites > 0);
			assert_int_equal(strncmp(job->plan.version, "go1.19", 6), 0);
		}
		tw_gojob_free(job);
		seen++;
	}
	assert_null(tw_goworker_take(w));
	assert_int_equal(tw_goworker_stop(w, 1000), 0);
	if (!go)
		skip();
}

static void size_budget(void **state)
{
	struct tw_goworker *w;
	struct tw_gojob *job;

	(void)state;
	assert_int_equal(tw_goworker_start(&w, &(struct tw_goworker_cfg){ .max_bytes = 4096 }), 0);
	assert_int_equal(tw_goworker_submit(w, tw_gojob_new(open_exe("/bin/sh"), NULL)), 0);
	job = tw_goworker_wait(w, 5000);
	assert_non_null(job);
	assert_int_equal(job->status, -EFBIG);
	assert_non_null(strstr(job->plan.why, "over the analysis size budget"));
	tw_gojob_free(job);
	assert_int_equal(tw_goworker_stop(w, 1000), 0);
}

static void stop_interrupts_analysis(void **state)
{
	struct tw_goworker *w;
	uint64_t t0;

	(void)state;
	assert_int_equal(tw_goworker_start(&w, &(struct tw_goworker_cfg){
		.budget_ms = 60000, .test_delay_ms = 60000 }), 0);
	assert_int_equal(tw_goworker_submit(w, tw_gojob_new(open_exe("/bin/sh"), NULL)), 0);
	assert_int_equal(tw_goworker_submit(w, tw_gojob_new(open_exe("/bin/sh"), NULL)), 0);
	usleep(100 * 1000); /* the first is running */
	t0 = ms_now();
	assert_int_equal(tw_goworker_stop(w, 2000), 0);
	assert_true(ms_now() - t0 < 500);
}

static void stuck_thread_not_joined_forever(void **state)
{
	struct tw_goworker *w;
	uint64_t t0;

	(void)state;
	assert_int_equal(tw_goworker_start(&w, &(struct tw_goworker_cfg){
		.budget_ms = 100, .test_delay_ms = 1500, .test_delay_stuck = true }), 0);
	assert_int_equal(tw_goworker_submit(w, tw_gojob_new(open_exe("/bin/sh"), NULL)), 0);
	usleep(100 * 1000);
	t0 = ms_now();
	assert_int_equal(tw_goworker_stop(w, 200), -ETIMEDOUT);
	assert_true(ms_now() - t0 < 1000);
	test_goworker_left_behind = w;
	/* it returns once unstuck (and then stops) */
	usleep(2000 * 1000);
}

static void budget_trips_the_analysis_loops(void **state)
{
	const char *go = go_fixture();
	struct tw_gobudget b;
	struct tw_goplan plan;
	atomic_bool stop;
	int fd;

	(void)state;
	assert_false(tw_gobudget_over()); /* no budget on this thread */
	atomic_init(&stop, true);
	fd = open_exe(go ? go : "/bin/sh");
	tw_gobudget_begin(&b, 60000, 0, &stop);
	assert_int_equal(tw_goplan_build_fd(fd, &plan), -ETIMEDOUT);
	assert_non_null(strstr(plan.why, "over its time budget"));
	assert_true(b.tripped && b.stopped);
	tw_gobudget_end();
	/* a deadline passed: the same without a stop request */
	atomic_store(&stop, false);
	tw_gobudget_begin(&b, 1, 0, &stop);
	usleep(5000);
	assert_int_equal(tw_goplan_build_fd(fd, &plan), -ETIMEDOUT);
	assert_true(b.tripped && !b.stopped);
	tw_gobudget_end();
	/* and without a budget the file analyses as before */
	assert_int_not_equal(tw_goplan_build_fd(fd, &plan), -ETIMEDOUT);
	assert_false(tw_gobudget_tripped());
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(slow_binary_returns_within_budget),
		cmocka_unit_test(analyses_off_the_caller),
		cmocka_unit_test(size_budget),
		cmocka_unit_test(stop_interrupts_analysis),
		cmocka_unit_test(stuck_thread_not_joined_forever),
		cmocka_unit_test(budget_trips_the_analysis_loops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
