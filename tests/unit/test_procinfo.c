// SPDX-License-Identifier: BSD-2-Clause
/* Service names from a fake /proc tree: environment, resource attributes,
 * exe, comm; cache, pid reuse, exec, vanished processes. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "procinfo.h"

#define SEC 1000000000ULL

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

struct fx {
	char root[64];
	struct tw_procinfo *p;
};

static void put_file(const char *root, uint32_t pid, const char *name, const void *data,
		     size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%u/%s", root, pid, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void put_stat(const char *root, uint32_t pid, const char *comm, uint64_t start)
{
	char stat[512];
	int n = snprintf(stat, sizeof(stat),
			 "%u (%s) S 1 %u %u 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %llu "
			 "12345 678 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0\n",
			 pid, comm, pid, pid, (unsigned long long)start);

	put_file(root, pid, "stat", stat, (size_t)n);
}

static void put_exe(const char *root, uint32_t pid, const char *target)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%u/exe", root, pid);
	unlink(path);
	assert_int_equal(symlink(target, path), 0);
}

/* A process directory; env and cmdline are NUL-separated (length given). */
static void make_proc(struct fx *f, uint32_t pid, const char *comm, uint64_t start,
		      const char *env, size_t env_len, const char *exe)
{
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/%u", f->root, pid);
	assert_true(mkdir(dir, 0700) == 0 || errno == EEXIST);
	put_stat(f->root, pid, comm, start);
	if (env)
		put_file(f->root, pid, "environ", env, env_len);
	if (exe)
		put_exe(f->root, pid, exe);
}

static void remove_proc(struct fx *f, uint32_t pid)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/%u'", f->root, pid);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct tw_procinfo_cfg cfg = { .revalidate_ns = SEC, .now_ns = fake_clock };

	if (!f)
		return -1;
	strcpy(f->root, "/tmp/tw_proc_XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	cfg.proc_root = f->root;
	fake_now = 1000 * SEC;
	f->p = tw_procinfo_new_cfg(&cfg);
	if (!f->p)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	tw_procinfo_free(f->p);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

#define ENV(s) s, sizeof(s) - 1

static struct tw_proc lookup_ok(struct fx *f, uint32_t pid, const char *comm)
{
	struct tw_proc proc;

	assert_int_equal(tw_procinfo_lookup(f->p, pid, comm, &proc), 0);
	assert_int_equal(proc.pid, pid);
	return proc;
}

static struct tw_procinfo_stats stats(struct fx *f)
{
	struct tw_procinfo_stats st;

	tw_procinfo_stats(f->p, &st);
	return st;
}

static void test_service_from_env(void **state)
{
	static const char cmdline[] = "python3\0app.py\0--port\0" "8080\0";
	struct fx *f = *state;
	struct tw_proc proc;

	make_proc(f, 1234, "python3", 555,
		  ENV("PATH=/bin\0OTEL_SERVICE_NAME=checkout\0HOME=/\0"), "/usr/bin/python3.11");
	put_file(f->root, 1234, "cmdline", cmdline, sizeof(cmdline) - 1);
	proc = lookup_ok(f, 1234, "python3");
	assert_string_equal(proc.service, "checkout");
	assert_int_equal(proc.service_source, TW_SERVICE_FROM_ENV);
	assert_string_equal(proc.exe, "python3.11");
	assert_string_equal(proc.comm, "python3");
	assert_string_equal(proc.cmdline, "python3 app.py --port 8080");
	assert_int_equal(proc.start_time, 555);
}

static void test_empty_env_falls_back_to_exe(void **state)
{
	struct fx *f = *state;
	struct tw_proc proc;

	make_proc(f, 10, "python3", 1, ENV("OTEL_SERVICE_NAME=\0X=1\0"), "/usr/bin/python3.11");
	proc = lookup_ok(f, 10, "python3");
	assert_string_equal(proc.service, "python3.11");
	assert_int_equal(proc.service_source, TW_SERVICE_FROM_EXE);
	/* no cmdline file: empty, not an error */
	assert_string_equal(proc.cmdline, "");
}

static void test_service_from_resource_attributes(void **state)
{
	struct fx *f = *state;
	struct tw_proc proc;

	make_proc(f, 11, "node", 1,
		  ENV("OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod, service.name = "
		      "my%20svc%2Cv2 ,k=v\0"),
		  "/usr/bin/node");
	proc = lookup_ok(f, 11, "node");
	assert_string_equal(proc.service, "my svc,v2");
	assert_int_equal(proc.service_source, TW_SERVICE_FROM_RESOURCE);

	/* the attributes are kept as set, for the Resource */
	assert_string_equal(proc.resource, "deployment.environment=prod, service.name = "
					   "my%20svc%2Cv2 ,k=v");

	/* OTEL_SERVICE_NAME wins wherever it is */
	make_proc(f, 12, "node", 1,
		  ENV("OTEL_RESOURCE_ATTRIBUTES=service.name=res\0OTEL_SERVICE_NAME=env\0"),
		  "/usr/bin/node");
	assert_string_equal(lookup_ok(f, 12, "node").service, "env");
	/* ... and the attributes after it are read too */
	make_proc(f, 14, "node", 1,
		  ENV("OTEL_SERVICE_NAME=env\0OTEL_RESOURCE_ATTRIBUTES=team=a\0"), "/usr/bin/node");
	assert_string_equal(lookup_ok(f, 14, "node").resource, "team=a");

	/* resource attributes without service.name: exe */
	make_proc(f, 13, "node", 1, ENV("OTEL_RESOURCE_ATTRIBUTES=a=b,service.namespace=x\0"),
		  "/usr/bin/node");
	assert_string_equal(lookup_ok(f, 13, "node").service, "node");
}

static void test_comm_fallback(void **state)
{
	struct fx *f = *state;
	struct tw_proc proc;

	/* no environ, no exe (e.g. a kernel thread or no permission) */
	make_proc(f, 20, "kworker/0:1", 1, NULL, 0, NULL);
	proc = lookup_ok(f, 20, "worker-thread");
	assert_string_equal(proc.service, "worker-thread");
	assert_int_equal(proc.service_source, TW_SERVICE_FROM_COMM);
	assert_string_equal(proc.exe, "");

	make_proc(f, 21, "kworker/0:2", 1, NULL, 0, NULL);
	assert_string_equal(lookup_ok(f, 21, NULL).service, "kworker/0:2");
	make_proc(f, 22, "kworker/0:3", 1, NULL, 0, NULL);
	assert_string_equal(lookup_ok(f, 22, "").service, "kworker/0:3");
}

static void test_deleted_exe_and_odd_comm(void **state)
{
	struct fx *f = *state;
	struct tw_proc proc;

	make_proc(f, 30, "my) (app", 777, NULL, 0, "/opt/app/orders-svc (deleted)");
	proc = lookup_ok(f, 30, "my) (app");
	assert_string_equal(proc.exe, "orders-svc");
	assert_string_equal(proc.service, "orders-svc");
	assert_string_equal(proc.comm, "my) (app");
	assert_int_equal(proc.start_time, 777);
}

static void test_missing_process(void **state)
{
	struct fx *f = *state;
	struct tw_proc proc;
	char buf[TW_PROC_SERVICE_MAX] = "curl";

	assert_int_equal(tw_procinfo_lookup(f->p, 4242, "curl", &proc), -ESRCH);
	assert_string_equal(proc.service, "curl");
	assert_int_equal(proc.pid, 4242);
	assert_int_equal(tw_procinfo_lookup(f->p, 4294967295u, NULL, &proc), -ESRCH);
	assert_string_equal(proc.service, "");
	/* out aliasing comm, as callers pass span->service for both */
	assert_int_equal(tw_procinfo_service(f->p, 4242, buf, buf, sizeof(buf)), -ESRCH);
	assert_string_equal(buf, "curl");
	assert_int_equal(stats(f).gone, 3);
}

static void test_malformed_stat_is_gone(void **state)
{
	struct fx *f = *state;
	struct tw_proc proc;

	make_proc(f, 40, "x", 1, NULL, 0, "/bin/x");
	put_file(f->root, 40, "stat", "40 (x S 1 2", 11);
	assert_int_equal(tw_procinfo_lookup(f->p, 40, "x", &proc), -ESRCH);
	put_file(f->root, 40, "stat", "40 (x) S 1 2 3", 14); /* too few fields */
	assert_int_equal(tw_procinfo_lookup(f->p, 40, "x", &proc), -ESRCH);
	put_file(f->root, 40, "stat", "", 0);
	assert_int_equal(tw_procinfo_lookup(f->p, 40, "x", &proc), -ESRCH);
}

static void test_pid_reuse(void **state)
{
	struct fx *f = *state;

	make_proc(f, 500, "app", 1000, ENV("OTEL_SERVICE_NAME=first\0"), "/bin/app");
	assert_string_equal(lookup_ok(f, 500, "app").service, "first");

	/* the process exits, a new one gets pid 500 */
	make_proc(f, 500, "app", 2000, ENV("OTEL_SERVICE_NAME=second\0"), "/bin/app");
	/* within revalidate_ns the cache is trusted */
	fake_now += SEC / 2;
	assert_string_equal(lookup_ok(f, 500, "app").service, "first");
	fake_now += SEC;
	assert_string_equal(lookup_ok(f, 500, "app").service, "second");
	assert_int_equal(stats(f).pid_reuse, 1);
	assert_int_equal(stats(f).builds, 2);
}

static void test_revalidation_keeps_entry(void **state)
{
	struct fx *f = *state;

	make_proc(f, 501, "app", 1000, ENV("OTEL_SERVICE_NAME=svc\0"), "/bin/app");
	assert_string_equal(lookup_ok(f, 501, "app").service, "svc");
	/* environ changed in place but same process: not re-read */
	put_file(f->root, 501, "environ", ENV("OTEL_SERVICE_NAME=other\0"));
	for (int i = 0; i < 5; i++) {
		fake_now += 2 * SEC;
		assert_string_equal(lookup_ok(f, 501, "app").service, "svc");
	}
	assert_int_equal(stats(f).builds, 1);
	assert_int_equal(stats(f).hits, 5);
}

static void test_exec_rebuilds(void **state)
{
	struct fx *f = *state;

	make_proc(f, 502, "sh", 1000, ENV("X=1\0"), "/bin/sh");
	assert_string_equal(lookup_ok(f, 502, "sh").service, "sh");
	/* exec: same pid and start time, new comm and exe */
	make_proc(f, 502, "orders", 1000, ENV("OTEL_SERVICE_NAME=orders\0"), "/srv/orders");
	fake_now += 2 * SEC;
	assert_string_equal(lookup_ok(f, 502, "orders").service, "orders");
	assert_int_equal(stats(f).execs, 1);
}

static void test_gone_process_served_from_cache(void **state)
{
	struct fx *f = *state;
	struct tw_proc proc;

	make_proc(f, 600, "java", 1000, ENV("OTEL_SERVICE_NAME=billing\0"), "/usr/bin/java");
	assert_string_equal(lookup_ok(f, 600, "java").service, "billing");
	remove_proc(f, 600);
	fake_now += 2 * SEC;
	/* a thread comm, but seen alive 2 s ago */
	assert_string_equal(lookup_ok(f, 600, "http-nio-8080-e").service, "billing");
	/* same comm: trusted however old */
	fake_now += 3600 * SEC;
	assert_string_equal(lookup_ok(f, 600, "java").service, "billing");
	/* another program that briefly had the pid, long after */
	assert_int_equal(tw_procinfo_lookup(f->p, 600, "curl", &proc), -ESRCH);
	assert_string_equal(proc.service, "curl");
	assert_int_equal(stats(f).gone_cached, 2);
}

/* environ is streamed: a huge environment, an entry longer than the scanner
 * keeps, and the wanted variable straddling a read boundary. */
static void test_large_environ(void **state)
{
	struct fx *f = *state;
	size_t cap = 400 * 1024, len = 0, pad;
	char *env = malloc(cap);
	static const char want[] = "OTEL_SERVICE_NAME=far-away";

	assert_non_null(env);
	/* a 10 KiB variable that starts like the one we want */
	len += (size_t)sprintf(env + len, "OTEL_SERVICE_NAMEX=");
	memset(env + len, 'y', 10000);
	len += 10000;
	env[len++] = '\0';
	while (len < 300 * 1024) {
		len += (size_t)sprintf(env + len, "K8S_SVC_%zu_SERVICE_HOST=10.0.0.1", len);
		env[len++] = '\0';
	}
	/* pad so the wanted entry starts 6 bytes before a 4096-byte read boundary */
	pad = (4090 + 4096 - len % 4096) % 4096;
	if (pad < 3)
		pad += 4096;
	memcpy(env + len, "P=", 2);
	memset(env + len + 2, 'x', pad - 3);
	env[len + pad - 1] = '\0';
	len += pad;
	assert_int_equal(len % 4096, 4090);
	memcpy(env + len, want, sizeof(want)); /* with its NUL */
	len += sizeof(want);
	make_proc(f, 700, "srv", 1, env, len, "/bin/srv");
	assert_string_equal(lookup_ok(f, 700, "srv").service, "far-away");

	/* last entry without a terminating NUL still counts */
	make_proc(f, 701, "srv", 1, ENV("A=1\0OTEL_SERVICE_NAME=last"), "/bin/srv");
	assert_string_equal(lookup_ok(f, 701, "srv").service, "last");
	free(env);
}

static void test_long_values_cut_cleanly(void **state)
{
	struct fx *f = *state;
	char env[512] = "OTEL_SERVICE_NAME=";
	char cmdline[2048];
	struct tw_proc proc;
	size_t len = strlen(env);

	for (int i = 0; i < 100; i++) {
		memcpy(env + len, "\xc3\xa9", 2); /* é */
		len += 2;
	}
	env[len++] = '\0';
	for (size_t i = 0; i < sizeof(cmdline); i++)
		cmdline[i] = i % 10 == 9 ? '\0' : 'a';
	make_proc(f, 800, "x", 1, env, len, "/bin/x");
	put_file(f->root, 800, "cmdline", cmdline, sizeof(cmdline));
	proc = lookup_ok(f, 800, "x");
	/* 63 bytes available: 31 whole é, never half of one */
	assert_int_equal(strlen(proc.service), 62);
	assert_int_equal((unsigned char)proc.service[61], 0xa9);
	assert_true(strlen(proc.cmdline) <= TW_PROC_CMDLINE_MAX - 1);
	assert_true(strlen(proc.cmdline) >= TW_PROC_CMDLINE_MAX - 2);
	assert_true(!strncmp(proc.cmdline, "aaaaaaaaa aaaaaaaaa ", 20));
}

static void test_service_convenience(void **state)
{
	struct fx *f = *state;
	char buf[TW_PROC_SERVICE_MAX] = "python3";
	char small[4];

	make_proc(f, 900, "python3", 1, ENV("OTEL_SERVICE_NAME=inventory\0"), "/usr/bin/python3");
	assert_int_equal(tw_procinfo_service(f->p, 900, buf, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "inventory");
	assert_int_equal(tw_procinfo_service(f->p, 900, "python3", small, sizeof(small)), 0);
	assert_string_equal(small, "inv");
}

static void test_small_cache_collisions(void **state)
{
	struct fx *f = *state;
	struct tw_procinfo_cfg cfg = {
		.proc_root = f->root, .max_entries = 2, .now_ns = fake_clock,
	};
	struct tw_procinfo *p = tw_procinfo_new_cfg(&cfg);
	struct tw_proc proc;
	char want[16];

	assert_non_null(p);
	for (uint32_t pid = 1000; pid < 1006; pid++) {
		char env[64];
		int n = snprintf(env, sizeof(env), "OTEL_SERVICE_NAME=svc%u", pid);

		make_proc(f, pid, "x", pid, env, (size_t)n + 1, "/bin/x");
	}
	for (int round = 0; round < 3; round++) {
		for (uint32_t pid = 1000; pid < 1006; pid++) {
			assert_int_equal(tw_procinfo_lookup(p, pid, "x", &proc), 0);
			snprintf(want, sizeof(want), "svc%u", pid);
			assert_string_equal(proc.service, want);
		}
	}
	tw_procinfo_free(p);
}

static void test_missing_root(void **state)
{
	(void)state;
	errno = 0;
	assert_null(tw_procinfo_new("/nonexistent-tw-proc-root"));
	assert_int_equal(errno, ENOENT);
}

static void test_real_proc_self(void **state)
{
	struct tw_procinfo *p = tw_procinfo_new(NULL);
	const char *env = getenv("OTEL_SERVICE_NAME");
	struct tw_proc proc;

	(void)state;
	assert_non_null(p);
	assert_int_equal(tw_procinfo_lookup(p, (uint32_t)getpid(), program_invocation_short_name,
					    &proc), 0);
	assert_true(proc.start_time > 0);
	assert_true(proc.exe[0] != '\0'); /* test_procinfo, or valgrind's tool */
	assert_non_null(strstr(proc.cmdline, program_invocation_short_name));
	if (env && env[0])
		assert_string_equal(proc.service, env);
	else if (!getenv("OTEL_RESOURCE_ATTRIBUTES"))
		assert_string_equal(proc.service, proc.exe);
	tw_procinfo_free(p);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_service_from_env),
		T(test_empty_env_falls_back_to_exe),
		T(test_service_from_resource_attributes),
		T(test_comm_fallback),
		T(test_deleted_exe_and_odd_comm),
		T(test_missing_process),
		T(test_malformed_stat_is_gone),
		T(test_pid_reuse),
		T(test_revalidation_keeps_entry),
		T(test_exec_rebuilds),
		T(test_gone_process_served_from_cache),
		T(test_large_environ),
		T(test_long_values_cut_cleanly),
		T(test_service_convenience),
		T(test_small_cache_collisions),
		cmocka_unit_test(test_missing_root),
		cmocka_unit_test(test_real_proc_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
