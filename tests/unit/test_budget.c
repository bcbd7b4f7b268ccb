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

#include <bpf/libbpf.h>
#include <libgen.h>

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
	/* the reader's wakeup mark: an eighth of the ring, at most 1 MiB (a
	 * 64 KiB mark woke it ~1,000 times a second under load) */
	assert_int_equal(small.ringbuf_wakeup, small.ringbuf / 8);
	assert_int_equal(big.ringbuf, 8u << 20);
	assert_int_equal(big.ringbuf_wakeup, 1u << 20);
	assert_true(small.max_pending >= 1 && small.max_pending <= 64);
	/* the connections' share: connections in the middle of a head fit */
	assert_true(small.max_conns * tw_correlator_conn_bytes(true) <=
		    (small.limit - small.base_bytes) / 4 + 4096);
	tw_budget_describe(&small, line, sizeof(line));
	assert_non_null(strstr(line, "conns="));
	assert_non_null(strstr(line, "ringbuf="));
}


/* The Go probes' and TLS capture's maps are preallocated: 22 MiB at their
 * compiled sizes, charged to tracewire's cgroup on every node. They are
 * bounded by the budget too: at 64 MiB well below their compiled sizes, at
 * 200 MiB near them, and counted in the BPF estimate that must fit. */
static void test_go_tls_maps(void **state)
{
	struct tw_budget small = { 0 }, big = { 0 }, huge = { 0 };
	const char *const names[] = { "go_ctx", "go_sock_ctx", "go_pc", "go_writer", "go_spawn",
				      "go_pids", "go_tls_reads", "ssl_socks" };
	const uint32_t ceil[] = { 65536, 16384, 16384, 16384, 4096, 4096, 65536, 16384 };

	(void)state;
	assert_int_equal(tw_budget_derive(64ull << 20, &small), 0);
	assert_int_equal(tw_budget_derive(200ull << 20, &big), 0);
	assert_int_equal(tw_budget_derive(4ull << 30, &huge), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint32_t s = tw_budget_map_bound(&small, names[i]);
		uint32_t b = tw_budget_map_bound(&big, names[i]);

		print_message("%-13s 64M: %6u  200M: %6u  compiled: %6u\n", names[i], s, b, ceil[i]);
		assert_true(s >= 256);
		assert_true(s <= ceil[i] / 2); /* scaled down under a small limit */
		assert_true(b >= s && b <= ceil[i]);
		/* a big limit never grows a map past its compiled size */
		assert_int_equal(tw_budget_map_bound(&huge, names[i]), ceil[i]);
	}
	assert_int_equal(small.map_go_ctx, tw_budget_map_bound(&small, "go_ctx"));
	/* counted: within the BPF estimate, and the whole estimate fits */
	assert_true(small.go_tls_bytes > 0 && small.go_tls_bytes < small.bpf_bytes);
	assert_true(small.go_tls_bytes <= (small.limit - small.base_bytes) / 100 * 12 + (1u << 20));
	assert_true(small.base_bytes + small.user_bytes + small.bpf_bytes <= small.limit);
	assert_true(big.base_bytes + big.user_bytes + big.bpf_bytes <= big.limit);
	assert_true(huge.go_tls_bytes >= 20ull << 20); /* compiled sizes: ~22 MiB */
}

/* The request-line maps of the event-loop parent rule (bpf/lib/reqline.h,
 * 1.6 MiB at compiled sizes): derived from the limit like thread_ctx. */
static void test_line_maps(void **state)
{
	struct tw_budget small = { 0 }, huge = { 0 };

	(void)state;
	assert_int_equal(tw_budget_derive(64ull << 20, &small), 0);
	assert_int_equal(tw_budget_derive(4ull << 30, &huge), 0);
	print_message("line_ctx 64M: %u (of 1024), server_line %u (of 8192)\n", small.map_line_ctx,
		      small.map_server_line);
	assert_true(small.map_line_ctx >= 128 && small.map_line_ctx < 1024);
	assert_true(small.map_server_line >= 1024 && small.map_server_line < 8192);
	assert_int_equal(huge.map_line_ctx, 1024);
	assert_int_equal(huge.map_server_line, 8192);
	assert_int_equal(tw_budget_map_bound(&small, "line_ctx"), small.map_line_ctx);
	assert_int_equal(tw_budget_map_bound(&small, "server_line"), small.map_server_line);
	assert_true(small.base_bytes + small.user_bytes + small.bpf_bytes <= small.limit);
}

/* HTTP/2 header tables (correlator/http2_hpack.c) have a share of their own,
 * counted in the user-space estimate, which still fits the limit. */
static void test_hpack_share(void **state)
{
	struct tw_budget small = { 0 }, big = { 0 };

	(void)state;
	assert_int_equal(tw_budget_derive(64ull << 20, &small), 0);
	assert_int_equal(tw_budget_derive(200ull << 20, &big), 0);
	assert_true(small.h2_hpack_bytes > 0 && small.h2_hpack_bytes < big.h2_hpack_bytes);
	assert_true(big.h2_hpack_bytes <= (200ull << 20) / 50);
	assert_true(small.h2_hpack_bytes < small.user_bytes);
	assert_true(small.base_bytes + small.user_bytes + small.bpf_bytes <= small.limit);
	assert_true(big.base_bytes + big.user_bytes + big.bpf_bytes <= big.limit);
}

/* The tables of bpf/lib/maps.h, bpf/goprobes.bpf.c and TLS capture's
 * (bpf/lib/tls.h): each must be sized by the budget. */
static const char *const bounded_maps[] = {
	"conns", "events", "thread_ctx", "connect_ctx", "forwarded_ctx", "span_tracestate",
	"wire_out", "wire_in", "go_sock_ctx", "go_pids", "go_ctx", "go_pc", "go_writer",
	"go_spawn", "go_tls_reads", "ssl_socks", "line_ctx", "server_line", "go_grpc_hf",
	"go_h2_streams",
};

/* The BPF objects the build made (BUILD/bpf/, next to BUILD/tests/), opened
 * (not loaded): tw_budget_apply_maps gives each of those maps, in whichever
 * object creates it, the budget's size. Other hash maps keeping their
 * compiled size are named in the output. Skipped when the objects were not
 * built (the unit tests need no clang). */
static void test_apply_maps_objects(void **state)
{
	char self[4096], dir[4096], path[4200];
	struct tw_budget b = { 0 };
	const char *const objs[] = { "capture", "goprobes", "tls", "sockops", "headers",
				     "adopt", "ipopt" };
	const size_t n_bounded = sizeof(bounded_maps) / sizeof(bounded_maps[0]);
	bool seen[sizeof(bounded_maps) / sizeof(bounded_maps[0])] = { false };
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	unsigned checked = 0;

	(void)state;
	assert_true(n > 0);
	self[n] = '\0';
	snprintf(dir, sizeof(dir), "%s/../bpf", dirname(self));
	assert_int_equal(tw_budget_derive(64ull << 20, &b), 0);
	tw_budget_set(&b);
	assert_int_equal(tw_budget_wakeup_bytes(64 * 1024), b.ringbuf_wakeup);
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		struct bpf_object *obj;
		struct bpf_map *map;
		uint32_t bad = 0;

		snprintf(path, sizeof(path), "%s/%s.bpf.o", dir, objs[i]);
		if (access(path, R_OK))
			continue;
		obj = bpf_object__open_file(path, NULL);
		assert_non_null(obj);
		tw_budget_apply_maps(obj);
		bpf_object__for_each_map(map, obj) {
			const char *name = bpf_map__name(map);
			uint32_t want = tw_budget_map_bound(&b, name);
			enum bpf_map_type t = bpf_map__type(map);

			for (size_t k = 0; k < n_bounded; k++) {
				if (strcmp(name, bounded_maps[k]))
					continue;
				seen[k] = true;
				checked++;
				if (!want || bpf_map__max_entries(map) != want) {
					print_message("%s: %s: max_entries %u, budget %u\n", objs[i],
						      name, bpf_map__max_entries(map), want);
					bad++;
				}
			}
			if (!want && (t == BPF_MAP_TYPE_HASH || t == BPF_MAP_TYPE_LRU_HASH))
				print_message("note: %s: %s keeps its compiled size (%u)\n", objs[i],
					      name, bpf_map__max_entries(map));
		}
		bpf_object__close(obj);
		assert_int_equal(bad, 0);
	}
	if (!checked)
		skip();
	for (size_t k = 0; k < n_bounded; k++)
		if (!seen[k])
			fail_msg("map %s is in none of the BPF objects", bounded_maps[k]);
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
		cmocka_unit_test(test_go_tls_maps),
		cmocka_unit_test(test_line_maps),
		cmocka_unit_test(test_hpack_share),
		cmocka_unit_test(test_apply_maps_objects),
		cmocka_unit_test(test_idle_connection_cost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
