// SPDX-License-Identifier: BSD-2-Clause
/* Command-line parsing: good options land in the config, bad ones are errors;
 * README's option tables and --help name the same options. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
	assert_int_equal(cfg.propagation, TW_PROP_HEADERS);
	assert_int_equal(cfg.n_propagate_to, 0);
	assert_int_equal(cfg.n_propagate_ports, 0);
	assert_true(cfg.sample_ratio == 1.0);
	assert_false(cfg.sample_ratio_given);
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

/*
 * Found by tests/fuzz/fuzz_config.c: strtoull() skips leading blanks and
 * then takes a sign, so " -1" was 2^64 - 1 and " 80" was 80. Numbers are
 * digits only now, on the command line and in OTEL_* variables alike.
 */
static void numbers_are_digits_only(void **state)
{
	struct tw_config cfg;
	uint64_t v = 7;

	(void)state;
	assert_int_equal(tw_parse_u64("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(tw_parse_u64(" -1", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(tw_parse_u64("\t-1", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(tw_parse_u64(" 42", 0, 100, &v), -EINVAL);
	assert_int_equal(tw_parse_u64("\n42", 0, 100, &v), -EINVAL);
	assert_int_equal(tw_parse_u64("+42", 0, 100, &v), -EINVAL);
	assert_int_equal(tw_parse_u64("42 ", 0, 100, &v), -EINVAL);
	assert_int_equal(tw_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -EINVAL);
	assert_int_equal(v, 42);
	assert_int_not_equal(PARSE(&cfg, "--max-conns", " 100"), 0);
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

static void propagation_modes(void **state)
{
	struct tw_config cfg;

	(void)state;
	assert_int_equal(PARSE(&cfg, "--propagation", "headers"), 0);
	assert_int_equal(cfg.propagation, TW_PROP_HEADERS);
	assert_int_equal(PARSE(&cfg, "--propagation", "none"), 0);
	assert_int_equal(cfg.propagation, TW_PROP_NONE);
	assert_int_equal(PARSE(&cfg, "--propagation", "headers,headers"), 0);
	assert_int_equal(cfg.propagation, TW_PROP_HEADERS);
	assert_int_equal(PARSE(&cfg, "--propagation", "none,none"), 0);
	assert_int_equal(cfg.propagation, TW_PROP_NONE);
	/* the last one given wins */
	assert_int_equal(PARSE(&cfg, "--propagation", "none", "--propagation", "headers"), 0);
	assert_int_equal(cfg.propagation, TW_PROP_HEADERS);

	assert_int_equal(PARSE(&cfg, "--propagation", "tcp"), 0);
	assert_int_equal(cfg.propagation, TW_PROP_TCP);
	assert_int_equal(PARSE(&cfg, "--propagation", "headers,tcp"), 0);
	assert_int_equal(cfg.propagation, TW_PROP_HEADERS | TW_PROP_TCP);
	/* ip needs the interfaces it is to be added on */
	assert_int_equal(PARSE(&cfg, "--propagation", "ip"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagation", "all"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagation", "ip", "--tc-iface", "veth*"), 0);
	assert_int_equal(cfg.propagation, TW_PROP_IP);
	assert_int_equal(cfg.n_tc_ifaces, 1);
	assert_string_equal(cfg.tc_ifaces[0], "veth*");
	assert_int_equal(PARSE(&cfg, "--propagation", "all", "--tc-iface", "cali*"), 0);
	assert_int_equal(cfg.propagation, TW_PROP_ALL);
	assert_int_equal(PARSE(&cfg, "--propagation", "tcp,none"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--tc-iface", ""), -EINVAL);
	/* option kinds: ours (default) and OBI's */
	assert_int_equal(PARSE(&cfg, "--propagation", "tcp"), 0);
	assert_int_equal(cfg.tcp_option_kind, 253);
	assert_int_equal(PARSE(&cfg, "--tcp-option-kind", "25"), 0);
	assert_int_equal(cfg.tcp_option_kind, 25);
	assert_int_equal(PARSE(&cfg, "--tcp-option-kind", "254"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--tcp-option-kind", "x"), -EINVAL);
	/* --trust-from defaults to the scope */
	assert_int_equal(PARSE(&cfg, "--propagation", "tcp", "--trust-from", "198.18.0.0/15"), 0);
	assert_int_equal(cfg.n_trust_from, 1);
	assert_int_equal(PARSE(&cfg, "--trust-from", "198.18.0.1/15"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagation", "none,headers"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagation", "headers,none"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagation", "Headers"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagation", "b3"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagation", ""), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagation", "headers,"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagation", ",headers"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagation", "headers,,headers"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagation", "--pid", "1"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagation"), -EINVAL);
}

static void propagate_to_and_ports(void **state)
{
	struct tw_config cfg;

	(void)state;
	assert_int_equal(PARSE(&cfg, "--propagate-to", "10.1.0.0/16", "--propagate-to", "192.0.2.7",
			       "--propagate-to", "2001:db8::/32", "--propagate-to", "2001:db8::1",
			       "--propagate-port", "80", "--propagate-port", "65535",
			       "--propagate-port", "1"), 0);
	assert_int_equal(cfg.n_propagate_to, 4);
	assert_int_equal(cfg.propagate_to[0].family, AF_INET);
	assert_int_equal(cfg.propagate_to[0].prefixlen, 16);
	assert_int_equal(cfg.propagate_to[1].prefixlen, 32);
	assert_int_equal(cfg.propagate_to[2].family, AF_INET6);
	assert_int_equal(cfg.propagate_to[2].prefixlen, 32);
	assert_int_equal(cfg.propagate_to[3].prefixlen, 128);
	assert_int_equal(cfg.n_propagate_ports, 3);
	assert_int_equal(cfg.propagate_ports[0], 80);
	assert_int_equal(cfg.propagate_ports[1], 65535);
	assert_int_equal(cfg.propagate_ports[2], 1);
}

static void propagate_to_and_ports_invalid(void **state)
{
	struct tw_config cfg;

	(void)state;
	assert_int_equal(PARSE(&cfg, "--propagate-to", "10.0.0/8"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagate-to", "10.0.0.0/33"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagate-to", "fc00::/129"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagate-to", "10.1.2.3/8"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagate-to", "fd00::/7"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagate-to", "localhost"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagate-to", ""), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagate-to", "--propagate-port", "80"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagate-port", "0"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagate-port", "65536"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagate-port", "-80"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagate-port", "http"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagate-port", "80x"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--propagate-port", ""), -EINVAL);
}

static void propagate_to_at_most_64(void **state)
{
	struct tw_config cfg;
	char *argv[2 + 2 * (TW_MAX_SCOPE + 1)];
	char nets[TW_MAX_SCOPE + 1][24], ports[TW_MAX_SCOPE + 1][8];
	int argc = 1;

	(void)state;
	argv[0] = "tracewire";
	for (int i = 0; i < TW_MAX_SCOPE; i++) {
		snprintf(nets[i], sizeof(nets[i]), "10.%d.0.0/16", i);
		argv[argc++] = "--propagate-to";
		argv[argc++] = nets[i];
	}
	argv[argc] = NULL;
	assert_int_equal(tw_config_parse(&cfg, argc, argv), 0);
	assert_int_equal(cfg.n_propagate_to, TW_MAX_SCOPE);
	snprintf(nets[TW_MAX_SCOPE], sizeof(nets[0]), "10.200.0.0/16");
	argv[argc++] = "--propagate-to";
	argv[argc++] = nets[TW_MAX_SCOPE];
	argv[argc] = NULL;
	assert_int_equal(tw_config_parse(&cfg, argc, argv), -EINVAL);

	argc = 1;
	for (int i = 0; i <= TW_MAX_SCOPE; i++) {
		snprintf(ports[i], sizeof(ports[i]), "%d", 8000 + i);
		argv[argc++] = "--propagate-port";
		argv[argc++] = ports[i];
	}
	argv[argc] = NULL;
	assert_int_equal(tw_config_parse(&cfg, argc, argv), -EINVAL);
	assert_int_equal(tw_config_parse(&cfg, argc - 2, argv), 0);
	assert_int_equal(cfg.n_propagate_ports, TW_MAX_SCOPE);
}

static void sample_ratio_option(void **state)
{
	struct tw_config cfg;

	(void)state;
	assert_int_equal(PARSE(&cfg, "--sample-ratio", "0.25"), 0);
	assert_true(cfg.sample_ratio == 0.25);
	assert_true(cfg.sample_ratio_given);
	assert_int_equal(PARSE(&cfg, "--sample-ratio", "0"), 0);
	assert_true(cfg.sample_ratio == 0.0);
	assert_int_equal(PARSE(&cfg, "--sample-ratio", "1"), 0);
	assert_true(cfg.sample_ratio == 1.0);
	assert_int_equal(PARSE(&cfg, "--sample-ratio", "1.0"), 0);
	assert_true(cfg.sample_ratio == 1.0);
	assert_int_equal(PARSE(&cfg, "--sample-ratio", "1.5"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--sample-ratio", "-0.1"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--sample-ratio", "abc"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--sample-ratio", ""), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--sample-ratio", "50%"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--sample-ratio", "--probe"), -EINVAL);
}

static void sample_ratio_from_environment(void **state)
{
	struct tw_config cfg;
	char *argv[] = { "tracewire", NULL };

	(void)state;
	setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", 1);
	setenv("OTEL_TRACES_SAMPLER_ARG", "0.5", 1);
	assert_int_equal(tw_config_parse(&cfg, 1, argv), 0);
	assert_true(cfg.sample_ratio == 0.5);
	setenv("OTEL_TRACES_SAMPLER", "traceidratio", 1);
	assert_int_equal(tw_config_parse(&cfg, 1, argv), 0);
	assert_true(cfg.sample_ratio == 0.5);
	/* the command line wins, even over a bad variable */
	assert_int_equal(PARSE(&cfg, "--sample-ratio", "0.25"), 0);
	assert_true(cfg.sample_ratio == 0.25);
	setenv("OTEL_TRACES_SAMPLER_ARG", "lots", 1);
	assert_int_equal(PARSE(&cfg, "--sample-ratio", "0.25"), 0);
	assert_true(cfg.sample_ratio == 0.25);
	assert_int_equal(tw_config_parse(&cfg, 1, argv), -EINVAL);
	/* the argument only means a ratio for the ratio samplers */
	setenv("OTEL_TRACES_SAMPLER", "always_on", 1);
	setenv("OTEL_TRACES_SAMPLER_ARG", "0.5", 1);
	assert_int_equal(tw_config_parse(&cfg, 1, argv), 0);
	assert_true(cfg.sample_ratio == 1.0);
	setenv("OTEL_TRACES_SAMPLER", "jaeger_remote", 1);
	assert_int_equal(tw_config_parse(&cfg, 1, argv), 0);
	assert_true(cfg.sample_ratio == 1.0);
	/* a ratio sampler without an argument: the specification's default 1 */
	setenv("OTEL_TRACES_SAMPLER", "traceidratio", 1);
	unsetenv("OTEL_TRACES_SAMPLER_ARG");
	assert_int_equal(tw_config_parse(&cfg, 1, argv), 0);
	assert_true(cfg.sample_ratio == 1.0);
	unsetenv("OTEL_TRACES_SAMPLER");
}

static void scope_keys(void **state)
{
	static const uint8_t loopback4[16] = { [10] = 0xff, [11] = 0xff, 127 };
	static const uint8_t loopback6[16] = { [15] = 1 };
	static const uint8_t ula[16] = { 0xfc };
	static const uint8_t net4[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 0 };
	static const uint8_t net6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	struct tw_scope_key keys[TW_MAX_SCOPE];
	struct tw_config cfg;
	char *argv[] = { "tracewire", NULL };

	(void)state;
	assert_int_equal(tw_config_parse(&cfg, 1, argv), 0);
	assert_int_equal(tw_scope_keys(&cfg, keys, TW_MAX_SCOPE), 8);
	assert_int_equal(keys[0].prefixlen, 8 + 96);
	assert_memory_equal(keys[0].addr, loopback4, 16);
	assert_int_equal(keys[1].prefixlen, 128);
	assert_memory_equal(keys[1].addr, loopback6, 16);
	assert_int_equal(keys[7].prefixlen, 7);
	assert_memory_equal(keys[7].addr, ula, 16);
	/* never more than max */
	assert_int_equal(tw_scope_keys(&cfg, keys, 3), 3);

	assert_int_equal(PARSE(&cfg, "--propagate-to", "192.0.2.0/24", "--propagate-to", "2001:db8::/32"), 0);
	assert_int_equal(tw_scope_keys(&cfg, keys, TW_MAX_SCOPE), 2);
	assert_int_equal(keys[0].prefixlen, 24 + 96);
	assert_memory_equal(keys[0].addr, net4, 16);
	assert_int_equal(keys[1].prefixlen, 32);
	assert_memory_equal(keys[1].addr, net6, 16);
}

static void describe_propagation(void **state)
{
	struct tw_config cfg;
	char desc[512], small[16];
	char *argv[] = { "tracewire", NULL };

	(void)state;
	assert_int_equal(tw_config_parse(&cfg, 1, argv), 0);
	tw_config_describe_propagation(&cfg, desc, sizeof(desc));
	assert_string_equal(desc, "headers to 127.0.0.0/8, ::1/128, 10.0.0.0/8, 172.16.0.0/12, "
				  "192.168.0.0/16, 198.18.0.0/15, 100.64.0.0/10, fc00::/7 (default scope); "
				  "ports any; sample ratio 1");
	assert_int_equal(PARSE(&cfg, "--propagate-to", "10.1.0.0/16", "--propagate-to", "2001:db8::1",
			       "--propagate-port", "80", "--propagate-port", "8080",
			       "--sample-ratio", "0.25"), 0);
	tw_config_describe_propagation(&cfg, desc, sizeof(desc));
	assert_string_equal(desc, "headers to 10.1.0.0/16, 2001:db8::1/128; ports 80, 8080; sample ratio 0.25");
	assert_int_equal(PARSE(&cfg, "--propagation", "none", "--sample-ratio", "0"), 0);
	tw_config_describe_propagation(&cfg, desc, sizeof(desc));
	assert_string_equal(desc, "off (--propagation none); sample ratio 0");
	/* a short buffer is cut, never overrun */
	assert_int_equal(tw_config_parse(&cfg, 1, argv), 0);
	tw_config_describe_propagation(&cfg, small, sizeof(small));
	assert_string_equal(small, "headers to 127.");
}

static void go_probes_option(void **state)
{
	struct tw_config cfg;
	char *argv[] = { "tracewire", NULL };

	(void)state;
	assert_int_equal(tw_config_parse(&cfg, 1, argv), 0);
	assert_true(cfg.go_probes); /* on unless turned off */
	assert_int_equal(PARSE(&cfg, "--go-probes", "off"), 0);
	assert_false(cfg.go_probes);
	assert_int_equal(PARSE(&cfg, "--go-probes", "on"), 0);
	assert_true(cfg.go_probes);
	assert_int_equal(PARSE(&cfg, "--go-probes", "yes"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--go-probes", ""), -EINVAL);
}

/* --version, like --help, only asks for output. */
static void version_option(void **state)
{
	struct tw_config cfg;

	(void)state;
	assert_int_equal(PARSE(&cfg, "--pid", "1"), 0);
	assert_false(cfg.version);
	assert_int_equal(PARSE(&cfg, "--version"), 0);
	assert_true(cfg.version);
}

/* ---- README's option tables, --help and getopt's table agree ---- */

#define MAX_NAMES 128
#define NAME_LEN 48

struct names {
	char name[MAX_NAMES][NAME_LEN];
	size_t n;
};

static bool names_has(const struct names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->name[i], name))
			return true;
	return false;
}

static void names_add(struct names *s, const char *name, size_t len)
{
	char buf[NAME_LEN];

	assert_true(len < NAME_LEN);
	memcpy(buf, name, len);
	buf[len] = '\0';
	if (names_has(s, buf))
		return;
	assert_true(s->n < MAX_NAMES);
	strcpy(s->name[s->n++], buf);
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Every "--name" in text[0..len) that does not continue a word. */
static void names_in(struct names *s, const char *text, size_t len)
{
	for (size_t i = 0; i + 2 < len; i++) {
		size_t j = i + 2;

		if (text[i] != '-' || text[i + 1] != '-' || text[j] < 'a' || text[j] > 'z')
			continue;
		if (i && (is_name_char(text[i - 1]) || (text[i - 1] >= 'A' && text[i - 1] <= 'Z')))
			continue;
		while (j < len && is_name_char(text[j]))
			j++;
		names_add(s, text + i + 2, j - i - 2);
		i = j;
	}
}

/* Prints what a has and b lacks; returns how many. */
static int missing_from(const struct names *a, const char *a_what, const struct names *b,
			const char *b_what)
{
	int n = 0;

	for (size_t i = 0; i < a->n; i++) {
		if (names_has(b, a->name[i]))
			continue;
		fprintf(stderr, "--%s is in %s but not in %s\n", a->name[i], a_what, b_what);
		n++;
	}
	return n;
}

/* README's tables: the options each row of an option table names in its
 * first cell (rows starting "| `-"), and every --name in any table. */
static void readme_options(struct names *rows, struct names *mentioned)
{
	const char *path = getenv("TW_README") ? getenv("TW_README") : "README.md";
	FILE *f = fopen(path, "r");
	char line[4096];

	if (!f)
		fail_msg("%s: %s (the unit tests run from the repository's top)", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		const char *cell_end;

		if (line[0] != '|')
			continue;
		names_in(mentioned, line, strlen(line));
		if (strncmp(line, "| `-", 4))
			continue;
		cell_end = strstr(line + 1, " |");
		assert_non_null(cell_end);
		names_in(rows, line, (size_t)(cell_end - line));
	}
	fclose(f);
}

/* --help: the options its option lines start with ("  -p, --pid PID",
 * "      --probe"), and every --name anywhere in it. */
static void usage_options(struct names *lines, struct names *mentioned)
{
	char *text = NULL, *line, *save = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	assert_non_null(f);
	tw_config_usage(f);
	fclose(f);
	names_in(mentioned, text, size);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *p = line + strspn(line, " ");

		if (p == line)
			continue;
		if (p[0] == '-' && p[1] != '-' && !strncmp(p + 2, ", ", 2))
			p += 4; /* "-p, " */
		if (!strncmp(p, "--", 2))
			names_in(lines, p, strcspn(p, " "));
	}
	free(text);
}

static void readme_and_help_name_the_same_options(void **state)
{
	static struct names getopt_names, help, help_mentions, readme, readme_mentions;
	int bad = 0;

	(void)state;
	for (const struct option *o = tw_config_options(); o->name; o++)
		names_add(&getopt_names, o->name, strlen(o->name));
	usage_options(&help, &help_mentions);
	readme_options(&readme, &readme_mentions);

	bad += missing_from(&getopt_names, "getopt's table", &help, "--help's option lines");
	bad += missing_from(&help, "--help's option lines", &getopt_names, "getopt's table");
	bad += missing_from(&help, "--help", &readme, "README's option tables");
	bad += missing_from(&readme, "README's option tables", &help, "--help");
	/* and no option named in passing that does not exist */
	bad += missing_from(&help_mentions, "--help's text", &getopt_names, "getopt's table");
	bad += missing_from(&readme_mentions, "README's tables", &getopt_names, "getopt's table");
	assert_int_equal(bad, 0);
	assert_true(getopt_names.n > 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_select_everything),
		cmocka_unit_test(repeatable_selectors),
		cmocka_unit_test(long_comm_is_cut_to_kernel_length),
		cmocka_unit_test(bad_numbers_are_usage_errors),
		cmocka_unit_test(numbers_are_digits_only),
		cmocka_unit_test(exporters_and_output),
		cmocka_unit_test(cgroup_must_be_a_cgroup2_directory),
		cmocka_unit_test(cgroup_resolves_id_and_level),
		cmocka_unit_test(propagation_modes),
		cmocka_unit_test(propagate_to_and_ports),
		cmocka_unit_test(propagate_to_and_ports_invalid),
		cmocka_unit_test(propagate_to_at_most_64),
		cmocka_unit_test(sample_ratio_option),
		cmocka_unit_test(sample_ratio_from_environment),
		cmocka_unit_test(scope_keys),
		cmocka_unit_test(describe_propagation),
		cmocka_unit_test(go_probes_option),
		cmocka_unit_test(version_option),
		cmocka_unit_test(readme_and_help_name_the_same_options),
	};

	/* the sampler variables of whoever runs the tests must not leak in */
	unsetenv("OTEL_TRACES_SAMPLER");
	unsetenv("OTEL_TRACES_SAMPLER_ARG");
	tw_log_set_level(TW_LOG_ERROR);
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
