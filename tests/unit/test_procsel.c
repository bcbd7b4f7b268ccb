// SPDX-License-Identifier: BSD-2-Clause
/* /proc/PID/cgroup paths read inside a cgroup namespace: relative to its
 * root, climbing out of it with "..", joined to the namespace root's path. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "procsel.h"

static void expect_join(const char *base, const char *rel, const char *want)
{
	char out[256];

	assert_int_equal(tw_path_join_norm(base, rel, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void join_norm(void **state)
{
	(void)state;
	/* the host's namespace: the path as it is */
	expect_join("/sys/fs/cgroup", "/", "/sys/fs/cgroup");
	expect_join("/sys/fs/cgroup", "/kubepods/pod1/c", "/sys/fs/cgroup/kubepods/pod1/c");
	/* a namespace rooted at the agent's cgroup: siblings and the root */
	expect_join("/sys/fs/cgroup/lab/agent", "/../srv", "/sys/fs/cgroup/lab/srv");
	expect_join("/sys/fs/cgroup/lab/agent", "/../../init.scope", "/sys/fs/cgroup/init.scope");
	expect_join("/sys/fs/cgroup/lab/agent", "/sub/./x//y/", "/sys/fs/cgroup/lab/agent/sub/x/y");
	/* never above "/" */
	expect_join("/a", "/../../../..", "/");
	expect_join("/", "/", "/");
}

static void join_too_long(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(tw_path_join_norm("/sys/fs/cgroup", "/kubepods", out, sizeof(out)),
			 -ENAMETOOLONG);
	assert_int_equal(tw_path_join_norm("/a/b/c/d/e/f/g", "/../../../../..", out, sizeof(out)), 0);
	assert_string_equal(out, "/a/b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(join_norm),
		cmocka_unit_test(join_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
