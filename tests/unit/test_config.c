// SPDX-License-Identifier: BSD-2-Clause
/* Command-line parsing: good options land in the config, bad ones are errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define PARSE(cfg, ...)                                                        \
	({                                                                     \
		char *argv[] = { "tracewire", __VA_ARGS__, NULL };             \
		tw_config_parse(cfg, sizeof(argv) / sizeof(argv[0]) - 1, argv); \
	})

static void defaults_select_everything(void **state)
{
	struct tw_config cfg;
	char desc[128];
	char *argv[] = { "tracewire", NULL };

	(void)state;
	assert_int_equal(tw_config_parse(&cfg, 1, argv), 0);
	assert_int_equal(cfg.n_pids + cfg.n_cgroups + cfg.n_comms, 0);
	assert_int_equal(cfg.exporters, TW_EXPORT_CONSOLE);
	assert_null(cfg.jsonl_path);
	assert_int_equal(cfg.trace_window_ms, 1000);
	tw_config_describe_selection(&cfg, desc, sizeof(desc));
	assert_string_equal(desc, "every process except tracewire");
}

static void repeatable_selectors(void **state)
{
	struct tw_config cfg;
	char desc[256];

	(void)state;
	assert_int_equal(PARSE(&cfg, "--pid", "12", "-p", "34", "--comm", "nginx", "-n", "python3"), 0);
	assert_int_equal(cfg.n_pids, 2);
	assert_int_equal(cfg.pids[0], 12);
	assert_int_equal(cfg.pids[1], 34);
	assert_int_equal(cfg.n_comms, 2);
	assert_string_equal(cfg.comms[1], "python3");
	tw_config_describe_selection(&cfg, desc, sizeof(desc));
	assert_string_equal(desc, "pid 12, pid 34, comm nginx, comm python3");
}

static void long_comm_is_cut_to_kernel_length(void **state)
{
	struct tw_config cfg;

	(void)state;
	assert_int_equal(PARSE(&cfg, "--comm", "a-very-long-command-name"), 0);
	assert_string_equal(cfg.comms[0], "a-very-long-com");
}

static void bad_numbers_are_usage_errors(void **state)
{
	struct tw_config cfg;

	(void)state;
	assert_int_not_equal(PARSE(&cfg, "--pid", "notanumber"), 0);
	assert_int_not_equal(PARSE(&cfg, "--pid", "-3"), 0);
	assert_int_not_equal(PARSE(&cfg, "--pid", "0"), 0);
	assert_int_not_equal(PARSE(&cfg, "--pid", "12x"), 0);
	assert_int_not_equal(PARSE(&cfg, "--pid", ""), 0);
	assert_int_not_equal(PARSE(&cfg, "--trace-window", "0"), 0);
	assert_int_not_equal(PARSE(&cfg, "--max-conns", "99999999999999999999"), 0);
	assert_int_not_equal(PARSE(&cfg, "--log-level", "loud"), 0);
	assert_int_not_equal(PARSE(&cfg, "--exporter", "console,zipkin"), 0);
	assert_int_not_equal(PARSE(&cfg, "--bogus"), 0);
	assert_int_not_equal(PARSE(&cfg, "stray-argument"), 0);
	/* a missing value must not swallow the next option */
	assert_int_not_equal(PARSE(&cfg, "--comm", "--probe"), 0);
	assert_int_not_equal(PARSE(&cfg, "--jsonl", "--pid", "1"), 0);
	assert_int_not_equal(PARSE(&cfg, "--exporter", "--help"), 0);
	assert_int_not_equal(PARSE(&cfg, "--cgroup", "--comm", "x"), 0);
	assert_int_not_equal(PARSE(&cfg, "--pid"), 0);
}

static void exporters_and_output(void **state)
{
	struct tw_config cfg;

	(void)state;
	assert_int_equal(PARSE(&cfg, "--exporter", "none", "--jsonl", "/tmp/x.jsonl",
			       "--trace-window", "250", "--log-level", "debug"), 0);
	assert_int_equal(cfg.exporters, 0);
	assert_string_equal(cfg.jsonl_path, "/tmp/x.jsonl");
	assert_int_equal(cfg.trace_window_ms, 250);
	assert_int_equal(cfg.log_level, TW_LOG_DEBUG);
	assert_int_equal(PARSE(&cfg, "-e", "none,console"), 0);
	assert_int_equal(cfg.exporters, TW_EXPORT_CONSOLE);
}

static void cgroup_must_be_a_cgroup2_directory(void **state)
{
	struct tw_config cfg;

	(void)state;
	assert_int_not_equal(PARSE(&cfg, "--cgroup", "/nonexistent/cgroup"), 0);
	/* /tmp exists but is not on cgroup2 */
	assert_int_not_equal(PARSE(&cfg, "--cgroup", "/tmp"), 0);
}

/* Only where this machine has a cgroup2 mount: its root is level 0 and a
 * child directory is level 1, with an id equal to the directory's inode. */
static void cgroup_resolves_id_and_level(void **state)
{
	static const char *const mounts[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	struct tw_cgroup_sel sel;
	struct statfs sfs;
	struct stat st;
	const char *root = NULL;
	char child[256];

	(void)state;
	for (size_t i = 0; i < 2 && !root; i++)
		if (!statfs(mounts[i], &sfs) && sfs.f_type == 0x63677270)
			root = mounts[i];
	if (!root)
		skip();
	assert_int_equal(tw_cgroup_resolve(root, &sel), 0);
	assert_int_equal(sel.level, 0);
	snprintf(child, sizeof(child), "%s/tw-unit-%d", root, (int)getpid());
	if (mkdir(child, 0755))
		skip(); /* not root: the integration tests cover this */
	assert_int_equal(tw_cgroup_resolve(child, &sel), 0);
	assert_int_equal(stat(child, &st), 0);
	rmdir(child);
	assert_int_equal(sel.level, 1);
	assert_int_equal(sel.id, st.st_ino);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_select_everything),
		cmocka_unit_test(repeatable_selectors),
		cmocka_unit_test(long_comm_is_cut_to_kernel_length),
		cmocka_unit_test(bad_numbers_are_usage_errors),
		cmocka_unit_test(exporters_and_output),
		cmocka_unit_test(cgroup_must_be_a_cgroup2_directory),
		cmocka_unit_test(cgroup_resolves_id_and_level),
	};

	tw_log_set_level(TW_LOG_ERROR);
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
