// SPDX-License-Identifier: BSD-2-Clause
/* The memory budget (injector/budget.c): --memory-limit parsing, the
 * default from the cgroup, and the bounds derived from a limit. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "budget.h"
#include "correlator.h"

static void test_parse(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(tw_budget_parse("67108864", &v), 0);
	assert_int_equal(v, 64ull << 20);
	assert_int_equal(tw_budget_parse("64M", &v), 0);
	assert_int_equal(v, 64ull << 20);
	assert_int_equal(tw_budget_parse("64Mi", &v), 0);
	assert_int_equal(v, 64ull << 20);
	assert_int_equal(tw_budget_parse("512k", &v), 0);
	assert_int_equal(v, 512ull << 10);
	assert_int_equal(tw_budget_parse("1Gi", &v), 0);
	assert_int_equal(v, 1ull << 30);
	assert_int_equal(tw_budget_parse("", &v), -EINVAL);
	assert_int_equal(tw_budget_parse("-1M", &v), -EINVAL);
	assert_int_equal(tw_budget_parse("64X", &v), -EINVAL);
	assert_int_equal(tw_budget_parse("64Mx", &v), -EINVAL);
	assert_int_equal(tw_budget_parse("99999999999999999999", &v), -EINVAL);
	assert_int_equal(tw_budget_parse("18446744073709551615G", &v), -EINVAL);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A fake /proc and cgroup tree: the nearest memory.max up from the own
 * cgroup counts, "max" does not; hybrid layouts have cgroup2 at unified/. */
static void test_default_limit(void **state)
{
	char dir[] = "/tmp/tw-budget-XXXXXX", p[512], proc[512], cg[512], src[160];
	uint64_t v;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(proc, sizeof(proc), "%s/proc", dir);
	snprintf(cg, sizeof(cg), "%s/cg", dir);
	snprintf(p, sizeof(p), "%s/proc/self", dir);
	mkdir(proc, 0700);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/proc/self/cgroup", dir);
	write_file(p, "1:name=systemd:/x\n0::/pods/pod1/ctr\n");
	snprintf(p, sizeof(p), "%s/cg", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/cg/unified", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/cg/unified/pods", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/cg/unified/pods/pod1", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/cg/unified/pods/pod1/ctr", dir);
	mkdir(p, 0700);

	/* no memory.max anywhere: the default */
	v = tw_budget_default_limit(proc, cg, src, sizeof(src));
	assert_int_equal(v, TW_BUDGET_DEFAULT);

	/* the pod's limit (the container's says max): 80% of it */
	snprintf(p, sizeof(p), "%s/cg/unified/pods/pod1/ctr/memory.max", dir);
	write_file(p, "max\n");
	snprintf(p, sizeof(p), "%s/cg/unified/pods/pod1/memory.max", dir);
	write_file(p, "268435456\n");
	v = tw_budget_default_limit(proc, cg, src, sizeof(src));
	assert_int_equal(v, 268435456ull / 5 * 4);
	assert_non_null(strstr(src, "80%"));

	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	assert_int_equal(system(p), 0);
}

static void test_derive(void **state)
{
	struct tw_budget small = { 0 }, big = { 0 }, tiny = { 0 };
	char line[1024];

	(void)state;
	assert_int_equal(tw_budget_derive(TW_BUDGET_MIN - 1, &tiny), -EINVAL);
	assert_int_equal(tw_budget_derive(64ull << 20, &small), 0);
	assert_int_equal(tw_budget_derive(200ull << 20, &big), 0);
	/* what is estimated fits the limit */
	assert_true(small.base_bytes + small.user_bytes + small.bpf_bytes <= small.limit);
	assert_true(big.base_bytes + big.user_bytes + big.bpf_bytes <= big.limit);
	/* more memory, larger (or capped) tables */
	assert_true(big.max_conns > small.max_conns);
	assert_true(big.max_pending_total > small.max_pending_total);
	assert_true(big.map_conns >= small.map_conns);
	assert_true(big.ringbuf >= small.ringbuf);
	/* compiled sizes are ceilings; the ring buffer is a power of two */
	assert_true(big.map_conns <= 65536 && big.map_wire <= 65536 && big.map_sockhash <= 65536);
	assert_true(big.map_thread_ctx <= 16384 && big.ringbuf <= (8u << 20));
	assert_int_equal(small.ringbuf & (small.ringbuf - 1), 0);
	assert_true(small.max_pending >= 1 && small.max_pending <= 64);
	/* the connections' share: connections in the middle of a head fit */
	assert_true(small.max_conns * tw_correlator_conn_bytes(true) <=
		    (small.limit - small.base_bytes) / 4 + 4096);
	tw_budget_describe(&small, line, sizeof(line));
	assert_non_null(strstr(line, "conns="));
	assert_non_null(strstr(line, "ringbuf="));
}

/* The target: an idle tracked connection costs at most 1 KiB. */
static void test_idle_connection_cost(void **state)
{
	(void)state;
	assert_true(tw_correlator_conn_bytes(false) <= 1024);
	print_message("connection: %zu B idle, %zu B while a head is framed; request %zu B\n",
		      tw_correlator_conn_bytes(false), tw_correlator_conn_bytes(true),
		      tw_correlator_pending_bytes());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_default_limit),
		cmocka_unit_test(test_derive),
		cmocka_unit_test(test_idle_connection_cost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
