/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A few helpers for the BPF program tests (tests/bpf/, in the style of the
 * kernel's tools/testing/selftests/bpf): each check prints what failed and
 * returns false from its bool test function, so cleanup stays linear; main
 * runs every test and counts the failures.
 */
#ifndef TW_BPF_TEST_H
#define TW_BPF_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define CHECK(cond, ...)                                                          \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                             \
			fprintf(stderr, "\n");                                    \
			return false;                                             \
		}                                                                 \
	} while (0)

struct bt_case {
	const char *name;
	bool (*fn)(void);
};

static inline int bt_run(const char *suite, const struct bt_case *cases, size_t n)
{
	int failed = 0;

	for (size_t i = 0; i < n; i++) {
		bool ok = cases[i].fn();

		printf("%s %s/%s\n", ok ? "ok  " : "FAIL", suite, cases[i].name);
		failed += !ok;
	}
	printf("%s: %zu tests, %d failed\n", suite, n, failed);
	return failed ? 1 : 0;
}

/* A per-CPU __u64 counter summed over the CPUs. */
static inline __u64 bt_pcount(int map_fd, __u32 idx)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 vals[ncpu > 0 ? ncpu : 1], sum = 0;

	if (ncpu <= 0 || bpf_map_lookup_elem(map_fd, &idx, vals))
		return ~0ULL;
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

/* Zeroes every per-CPU __u64 counter of the map. */
static inline bool bt_pcount_reset(int map_fd, __u32 n)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 zeros[ncpu > 0 ? ncpu : 1];

	memset(zeros, 0, sizeof(zeros));
	for (__u32 i = 0; i < n; i++)
		if (bpf_map_update_elem(map_fd, &i, zeros, BPF_ANY))
			return false;
	return true;
}

#endif
