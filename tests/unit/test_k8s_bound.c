// SPDX-License-Identifier: BSD-2-Clause
/* The pod metadata cache (injector/k8s_pods.c) is bounded by the memory
 * budget: at the bound the oldest pod no traced process was found in is
 * dropped (else the oldest), counted, and logged at most once a minute. */
#include <errno.h>
#include <fcntl.h>
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
#include "k8s_pods.h"
#include "resattr.h"

/* container ids: 64 hex digits, one per pod (the last two digits) */
static void container_id(unsigned i, char *id)
{
	snprintf(id, TW_CONTAINER_ID_LEN + 1,
		 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd%02x", i);
}

static void pod(unsigned i, struct tw_k8s_pod *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->uid, sizeof(p->uid), "uid-%u", i);
	snprintf(p->name, sizeof(p->name), "pod-%u", i);
	snprintf(p->ns, sizeof(p->ns), "default");
	p->n_containers = 1;
	snprintf(p->c[0].name, sizeof(p->c[0].name), "app");
	container_id(i, p->c[0].id);
}

/* Lines tracewire logged while fn ran (stderr to a file). */
static char logged[8192];

static void capture_start(int *saved, char *path)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	fflush(stderr);
	*saved = dup(2);
	dup2(fd, 2);
	close(fd);
}

static void capture_end(int saved, const char *path)
{
	FILE *f;
	size_t n;

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(logged, 1, sizeof(logged) - 1, f);
	logged[n] = '\0';
	fclose(f);
	unlink(path);
}

static unsigned count_lines(const char *text, const char *needle)
{
	unsigned n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_bound_drops_unmatched_oldest(void **state)
{
	char dir[] = "/tmp/tw-k8sbound-XXXXXX", path[512], logpath[] = "/tmp/tw-k8sbound-log-XXXXXX";
	char id[TW_CONTAINER_ID_LEN + 1];
	struct tw_k8s_cache *c;
	struct tw_k8s_pod p;
	struct tw_res r;
	FILE *f;
	int saved;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* a fake /proc: pid 100 runs in pod 0's container (the oldest pod) */
	snprintf(path, sizeof(path), "%s/100", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/100/cgroup", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	container_id(0, id);
	fprintf(f, "0::/kubepods/burstable/pod-uid-0/%s\n", id);
	fclose(f);

	c = tw_k8s_cache_new("node-a", dir);
	assert_non_null(c);
	tw_k8s_cache_set_max(c, 4);
	for (unsigned i = 0; i < 4; i++) {
		pod(i, &p);
		assert_int_equal(tw_k8s_cache_put(c, &p), 0);
	}
	assert_int_equal(tw_k8s_cache_count(c), 4);
	assert_int_equal(tw_k8s_cache_evicted(c), 0);
	/* pod 0 is the one a traced process runs in */
	tw_res_clear(&r);
	assert_true(tw_k8s_cache_lookup(c, 100, &r));
	/* an update of a cached pod adds none and drops none */
	pod(2, &p);
	assert_int_equal(tw_k8s_cache_put(c, &p), 0);
	assert_int_equal(tw_k8s_cache_count(c), 4);

	/* four more pods: the unmatched oldest (1, 2, 3, then 4) go, pod 0 stays */
	capture_start(&saved, logpath);
	for (unsigned i = 4; i < 8; i++) {
		pod(i, &p);
		assert_int_equal(tw_k8s_cache_put(c, &p), 0);
	}
	capture_end(saved, logpath);
	assert_int_equal(tw_k8s_cache_count(c), 4);
	assert_int_equal(tw_k8s_cache_evicted(c), 4);
	/* logged once for the four drops (at most once a minute) */
	assert_int_equal(count_lines(logged, "pod metadata cache at its bound"), 1);
	assert_non_null(strstr(logged, "(4 pods"));
	/* pod 0 is still there: its process still gets the pod's attributes */
	tw_res_clear(&r);
	assert_true(tw_k8s_cache_lookup(c, 100, &r));

	tw_k8s_cache_free(c);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

/* Every pod matched: the oldest goes. */
static void test_bound_all_matched(void **state)
{
	char dir[] = "/tmp/tw-k8sbound-XXXXXX", path[512], logpath[] = "/tmp/tw-k8sbound-log-XXXXXX";
	char id[TW_CONTAINER_ID_LEN + 1];
	struct tw_k8s_cache *c;
	struct tw_k8s_pod p;
	struct tw_res r;
	int saved;

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (unsigned i = 0; i < 3; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%u", dir, 200 + i);
		assert_int_equal(mkdir(path, 0755), 0);
		snprintf(path, sizeof(path), "%s/%u/cgroup", dir, 200 + i);
		f = fopen(path, "w");
		assert_non_null(f);
		container_id(i, id);
		fprintf(f, "0::/kubepods/pod-uid-%u/%s\n", i, id);
		fclose(f);
	}
	c = tw_k8s_cache_new("node-a", dir);
	tw_k8s_cache_set_max(c, 2);
	for (unsigned i = 0; i < 2; i++) {
		pod(i, &p);
		assert_int_equal(tw_k8s_cache_put(c, &p), 0);
		tw_res_clear(&r);
		assert_true(tw_k8s_cache_lookup(c, 200 + i, &r));
	}
	capture_start(&saved, logpath);
	pod(2, &p);
	assert_int_equal(tw_k8s_cache_put(c, &p), 0);
	capture_end(saved, logpath);
	assert_int_equal(tw_k8s_cache_count(c), 2);
	assert_int_equal(tw_k8s_cache_evicted(c), 1);
	tw_res_clear(&r);
	assert_false(tw_k8s_cache_lookup(c, 200, &r)); /* the oldest went */
	tw_res_clear(&r);
	assert_true(tw_k8s_cache_lookup(c, 201, &r));
	tw_res_clear(&r);
	assert_true(tw_k8s_cache_lookup(c, 202, &r));
	tw_k8s_cache_free(c);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

/* The bound comes from the memory budget: a smaller limit, fewer pods; a
 * cache made under a budget takes its bound. */
static void test_bound_from_budget(void **state)
{
	struct tw_budget small = { 0 }, big = { 0 };
	struct tw_k8s_cache *c;
	struct tw_k8s_pod p;

	(void)state;
	assert_int_equal(tw_budget_derive(48ull << 20, &small), 0);
	assert_int_equal(tw_budget_derive(1ull << 30, &big), 0);
	assert_true(small.k8s_pods >= 64);
	assert_true(big.k8s_pods > small.k8s_pods);
	/* what the pods may take is counted and fits the share */
	assert_true(small.k8s_pods * sizeof(struct tw_k8s_pod) <=
		    (small.limit - small.base_bytes) / 100 + 64 * sizeof(struct tw_k8s_pod));
	assert_true(sizeof(struct tw_k8s_pod) <= 3072); /* budget.c's K8S_POD_BYTES */
	tw_budget_set(&small);
	c = tw_k8s_cache_new("node-a", "/nonexistent");
	for (unsigned i = 0; i < small.k8s_pods + 10; i++) {
		pod(i % 250, &p);
		snprintf(p.uid, sizeof(p.uid), "uid-%u", i);
		assert_int_equal(tw_k8s_cache_put(c, &p), 0);
	}
	assert_int_equal(tw_k8s_cache_count(c), small.k8s_pods);
	assert_int_equal(tw_k8s_cache_evicted(c), 10);
	tw_k8s_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound_drops_unmatched_oldest),
		cmocka_unit_test(test_bound_all_matched),
		cmocka_unit_test(test_bound_from_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
