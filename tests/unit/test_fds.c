// SPDX-License-Identifier: BSD-2-Clause
/* RLIMIT_NOFILE raised to the hard limit at start; open fds counted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fds.h"

static void raises_soft_to_hard(void **state)
{
	struct rlimit rl, low;
	struct tw_nofile n;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < 64)
		skip();
	low = (struct rlimit){ .rlim_cur = 32, .rlim_max = rl.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(tw_nofile_raise(&n), 0);
	assert_true(n.before == 32);
	assert_true(n.hard == rl.rlim_max);
	assert_true(n.now == rl.rlim_max);
	assert_true(tw_nofile_limit() == rl.rlim_max);
	/* already there: nothing to do, no error */
	assert_int_equal(tw_nofile_raise(&n), 0);
	assert_true(n.before == n.now && n.now == n.hard);
}

static void counts_open_fds(void **state)
{
	long before, after;
	int fds[5];

	(void)state;
	before = tw_open_fds();
	assert_true(before >= 3); /* stdin, stdout, stderr at least */
	for (int i = 0; i < 5; i++) {
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert_true(fds[i] >= 0);
	}
	after = tw_open_fds();
	for (int i = 0; i < 5; i++)
		close(fds[i]);
	assert_int_equal(after, before + 5);
	assert_int_equal(tw_open_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(raises_soft_to_hard),
		cmocka_unit_test(counts_open_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
