// SPDX-License-Identifier: BSD-2-Clause
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "log.h"
#include "otlp_config.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

enum {
	OPT_PID = 'p',
	OPT_CGROUP = 'c',
	OPT_COMM = 'n',
	OPT_EXPORTER = 'e',
	OPT_JSONL = 'j',
	OPT_HELP = 'h',
	OPT_TRACE_WINDOW = 1000,
	OPT_OTLP_ENDPOINT,
	OPT_OTLP_TRACES_ENDPOINT,
	OPT_OTLP_HEADER,
	OPT_OTLP_COMPRESSION,
	OPT_OTLP_TIMEOUT,
	OPT_OTLP_CERTIFICATE,
	OPT_RESOURCE_ATTRIBUTES,
	OPT_BSP_SCHEDULE_DELAY,
	OPT_BSP_MAX_QUEUE_SIZE,
	OPT_BSP_MAX_EXPORT_BATCH_SIZE,
	OPT_BSP_EXPORT_TIMEOUT, /* last of the settings tw_otlp_apply() takes */
	OPT_OTLP_COMMAND_LINE,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_CONNS,
	OPT_STATS_INTERVAL,
	OPT_LOG_LEVEL,
	OPT_PROBE,
};

static const struct option long_options[] = {
	{ "pid", required_argument, NULL, OPT_PID },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "comm", required_argument, NULL, OPT_COMM },
	{ "exporter", required_argument, NULL, OPT_EXPORTER },
	{ "jsonl", required_argument, NULL, OPT_JSONL },
	{ "trace-window", required_argument, NULL, OPT_TRACE_WINDOW },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "stats-interval", required_argument, NULL, OPT_STATS_INTERVAL },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "probe", no_argument, NULL, OPT_PROBE },
	{ "otlp-endpoint", required_argument, NULL, OPT_OTLP_ENDPOINT },
	{ "otlp-traces-endpoint", required_argument, NULL, OPT_OTLP_TRACES_ENDPOINT },
	{ "otlp-header", required_argument, NULL, OPT_OTLP_HEADER },
	{ "otlp-compression", required_argument, NULL, OPT_OTLP_COMPRESSION },
	{ "otlp-timeout", required_argument, NULL, OPT_OTLP_TIMEOUT },
	{ "otlp-certificate", required_argument, NULL, OPT_OTLP_CERTIFICATE },
	{ "otlp-command-line", no_argument, NULL, OPT_OTLP_COMMAND_LINE },
	{ "resource-attributes", required_argument, NULL, OPT_RESOURCE_ATTRIBUTES },
	{ "bsp-schedule-delay", required_argument, NULL, OPT_BSP_SCHEDULE_DELAY },
	{ "bsp-max-queue-size", required_argument, NULL, OPT_BSP_MAX_QUEUE_SIZE },
	{ "bsp-max-export-batch-size", required_argument, NULL, OPT_BSP_MAX_EXPORT_BATCH_SIZE },
	{ "bsp-export-timeout", required_argument, NULL, OPT_BSP_EXPORT_TIMEOUT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ 0 },
};

void tw_config_usage(FILE *out)
{
	fputs(
"Usage: tracewire [OPTIONS]\n"
"\n"
"Node-level eBPF daemon: turns the HTTP/1.x requests that selected processes\n"
"serve (SERVER spans) and make (CLIENT spans) into traces, without any code in\n"
"those processes. Needs root, or CAP_BPF + CAP_PERFMON (CAP_SYS_PTRACE too to\n"
"read OTEL_SERVICE_NAME of other users' processes).\n"
"\n"
"Selection (repeatable, combined with OR; with none, every process except\n"
"tracewire itself is traced):\n"
"  -p, --pid PID            trace the process PID (all its threads)\n"
"  -c, --cgroup PATH        trace processes in this cgroup v2 directory and below\n"
"  -n, --comm NAME          trace processes whose command name is NAME\n"
"                           (the kernel keeps 15 characters; longer is cut)\n"
"\n"
"Output:\n"
"  -e, --exporter LIST      comma-separated: otlp, console, none (default: otlp\n"
"                           when an OTLP endpoint is set, else console);\n"
"                           console prints each finished trace as a waterfall\n"
"  -j, --jsonl PATH         also write one JSON object per finished span to\n"
"                           PATH ('-' for standard output)\n"
"      --trace-window MS    a trace is exported after MS ms without new spans\n"
"                           (default 1000)\n"
"\n"
"OTLP/HTTP export (protobuf to <endpoint>/v1/traces; each option overrides the\n"
"OpenTelemetry environment variable named after it):\n"
"      --otlp-endpoint URL  base URL, e.g. http://tempo:4318\n"
"                           (OTEL_EXPORTER_OTLP_ENDPOINT)\n"
"      --otlp-traces-endpoint URL  full traces URL, used as it is\n"
"                           (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)\n"
"      --otlp-header K=V    request header, repeatable (OTEL_EXPORTER_OTLP_HEADERS)\n"
"      --otlp-compression C gzip or none (default none)\n"
"                           (OTEL_EXPORTER_OTLP_COMPRESSION)\n"
"      --otlp-timeout MS    per request (default 10000) (OTEL_EXPORTER_OTLP_TIMEOUT)\n"
"      --otlp-certificate F CA file (PEM) for https (OTEL_EXPORTER_OTLP_CERTIFICATE)\n"
"      --otlp-command-line  add process.command_line to resources (may hold\n"
"                           secrets, hence off by default)\n"
"      --resource-attributes K=V,...  added to every resource\n"
"                           (OTEL_RESOURCE_ATTRIBUTES)\n"
"      --bsp-schedule-delay MS       send at least this often (default 5000)\n"
"                           (OTEL_BSP_SCHEDULE_DELAY)\n"
"      --bsp-max-queue-size N        spans held for export; whole traces that\n"
"                           do not fit are dropped (default 2048)\n"
"                           (OTEL_BSP_MAX_QUEUE_SIZE)\n"
"      --bsp-max-export-batch-size N spans per request (default 512)\n"
"                           (OTEL_BSP_MAX_EXPORT_BATCH_SIZE)\n"
"      --bsp-export-timeout MS       bound on sending what is queued at exit\n"
"                           (default 5000) (OTEL_BSP_EXPORT_TIMEOUT)\n"
"\n"
"Limits and diagnostics:\n"
"      --idle-timeout MS    finish spans of connections idle for MS ms when the\n"
"                           response length was not knowable (default 2000)\n"
"      --max-conns N        connections tracked in user space (default 65536)\n"
"      --stats-interval S   log counters every S seconds, 0 = only at exit\n"
"                           (default 60)\n"
"      --log-level LEVEL    error, warn, info or debug (default info)\n"
"      --probe              print which kernel hooks exist here and which\n"
"                           tracewire uses, then exit\n"
"  -h, --help               this text\n"
"\n"
"Exit status: 0 clean stop (SIGINT/SIGTERM) or --help/--probe; 1 could not\n"
"start or failed while running; 2 bad command line.\n", out);
}

int tw_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int path_depth(const char *p)
{
	int depth = 0;

	for (; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			depth++;
	return depth;
}

/*
 * Depth of a cgroup2 directory as the kernel counts it (the root is 0): the
 * mount's own root within the hierarchy plus the path below the mount point.
 */
static int cgroup_level(const char *real, uint32_t *level)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096], best_mnt[PATH_MAX] = "", best_root[PATH_MAX] = "";
	size_t best_len = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char root[PATH_MAX], mnt[PATH_MAX], *sep = strstr(line, " - ");
		size_t len;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2)
			continue;
		len = strlen(mnt);
		if (strncmp(real, mnt, len) || (real[len] != '/' && real[len] != '\0' && len > 1))
			continue;
		if (len >= best_len) {
			best_len = len;
			strcpy(best_mnt, mnt);
			strcpy(best_root, root);
		}
	}
	fclose(f);
	if (!best_len)
		return -ENOENT;
	*level = path_depth(best_root) + path_depth(best_len > 1 ? real + best_len : real);
	return 0;
}

int tw_cgroup_resolve(const char *path, struct tw_cgroup_sel *out)
{
	char real[PATH_MAX];
	struct statfs sfs;
	struct stat st;
	struct {
		struct file_handle fh;
		uint64_t id;
	} handle = { .fh.handle_bytes = sizeof(uint64_t) };
	int mount_id, err;

	if (!realpath(path, real))
		return -errno;
	if (stat(real, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (statfs(real, &sfs))
		return -errno;
	if (sfs.f_type != CGROUP2_SUPER_MAGIC)
		return -EMEDIUMTYPE;
	if (strlen(real) >= sizeof(out->path))
		return -ENAMETOOLONG;
	strcpy(out->path, real);
	/* The file handle of a cgroup2 directory is its 64-bit cgroup id. */
	if (name_to_handle_at(AT_FDCWD, real, &handle.fh, &mount_id, 0) == 0 &&
	    handle.fh.handle_bytes == sizeof(uint64_t))
		memcpy(&out->id, handle.fh.f_handle, sizeof(out->id));
	else
		out->id = st.st_ino;
	err = cgroup_level(real, &out->level);
	return err;
}

static int add_exporters(struct tw_config *cfg, const char *list)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	cfg->exporters = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "console"))
			cfg->exporters |= TW_EXPORT_CONSOLE;
		else if (!strcmp(tok, "otlp"))
			cfg->exporters |= TW_EXPORT_OTLP;
		else if (strcmp(tok, "none"))
			return -EINVAL;
	}
	return 0;
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "tracewire: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'tracewire --help'.\n");
	return -EINVAL;
}

static int add_cgroup(struct tw_config *cfg, const char *path)
{
	struct tw_cgroup_sel *sel;
	int err;

	if (cfg->n_cgroups == TW_MAX_SELECTORS)
		return usage_error("too many --cgroup options (at most 64): %s", path);
	sel = &cfg->cgroups[cfg->n_cgroups];
	err = tw_cgroup_resolve(path, sel);
	if (err == -EMEDIUMTYPE)
		return usage_error("--cgroup %s: not a cgroup v2 directory", path);
	if (err) {
		fprintf(stderr, "tracewire: --cgroup %s: %s\nTry 'tracewire --help'.\n", path,
			strerror(-err));
		return -EINVAL;
	}
	cfg->n_cgroups++;
	return 0;
}

static int option_index_of(int val)
{
	int i = 0;

	while (long_options[i].name && long_options[i].val != val)
		i++;
	return i;
}

/* "--comm --probe" would otherwise trace a process named "--probe". */
static bool looks_like_option(const char *arg)
{
	return !strncmp(arg, "--", 2);
}

static int handle_option(struct tw_config *cfg, int opt, const char *arg)
{
	uint64_t v;

	if (arg && looks_like_option(arg) && opt != OPT_PID)
		return usage_error("'%s' looks like an option, not a value: is a value missing?", arg);
	switch (opt) {
	case OPT_PID:
		if (tw_parse_u64(arg, 1, INT32_MAX, &v))
			return usage_error("--pid: not a process id: '%s'", arg);
		if (cfg->n_pids == TW_MAX_SELECTORS)
			return usage_error("too many --pid options (at most 64): %s", arg);
		if (kill((pid_t)v, 0) && errno == ESRCH)
			log_warn("--pid %s: no process has this id now", arg);
		cfg->pids[cfg->n_pids++] = v;
		return 0;
	case OPT_CGROUP:
		return add_cgroup(cfg, arg);
	case OPT_COMM:
		if (!*arg)
			return usage_error("--comm: empty name%s", "");
		if (cfg->n_comms == TW_MAX_SELECTORS)
			return usage_error("too many --comm options (at most 64): %s", arg);
		if (strlen(arg) >= TW_COMM_LEN)
			log_warn("--comm %s: the kernel keeps 15 characters, matching '%.15s'", arg, arg);
		memset(cfg->comms[cfg->n_comms], 0, TW_COMM_LEN);
		strncpy(cfg->comms[cfg->n_comms], arg, TW_COMM_LEN - 1);
		cfg->n_comms++;
		return 0;
	case OPT_EXPORTER:
		if (add_exporters(cfg, arg))
			return usage_error("--exporter: expected a comma-separated list of otlp, console, none; got '%s'", arg);
		cfg->exporters_given = true;
		return 0;
	case OPT_JSONL:
		if (!*arg)
			return usage_error("--jsonl: empty path%s", "");
		cfg->jsonl_path = arg;
		return 0;
	case OPT_TRACE_WINDOW:
		if (tw_parse_u64(arg, 1, 3600 * 1000, &cfg->trace_window_ms))
			return usage_error("--trace-window: expected milliseconds from 1 to 3600000, got '%s'", arg);
		return 0;
	case OPT_IDLE_TIMEOUT:
		if (tw_parse_u64(arg, 1, 3600 * 1000, &cfg->idle_timeout_ms))
			return usage_error("--idle-timeout: expected milliseconds from 1 to 3600000, got '%s'", arg);
		return 0;
	case OPT_MAX_CONNS:
		if (tw_parse_u64(arg, 16, 1 << 24, &cfg->max_conns))
			return usage_error("--max-conns: expected a number from 16 to 16777216, got '%s'", arg);
		return 0;
	case OPT_STATS_INTERVAL:
		if (tw_parse_u64(arg, 0, 86400, &cfg->stats_interval_s))
			return usage_error("--stats-interval: expected seconds from 0 to 86400, got '%s'", arg);
		return 0;
	case OPT_LOG_LEVEL:
		cfg->log_level = tw_log_parse_level(arg);
		if (cfg->log_level < 0)
			return usage_error("--log-level: expected error, warn, info or debug, got '%s'", arg);
		return 0;
	case OPT_PROBE:
		cfg->probe_only = true;
		return 0;
	case OPT_OTLP_COMMAND_LINE:
		cfg->otlp.command_line = true;
		return 0;
	case OPT_OTLP_ENDPOINT ... OPT_BSP_EXPORT_TIMEOUT: {
		static const enum tw_otlp_setting settings[] = {
			[OPT_OTLP_ENDPOINT - OPT_OTLP_ENDPOINT] = TW_OTLP_ENDPOINT,
			[OPT_OTLP_TRACES_ENDPOINT - OPT_OTLP_ENDPOINT] = TW_OTLP_TRACES_ENDPOINT,
			[OPT_OTLP_HEADER - OPT_OTLP_ENDPOINT] = TW_OTLP_HEADER,
			[OPT_OTLP_COMPRESSION - OPT_OTLP_ENDPOINT] = TW_OTLP_COMPRESSION,
			[OPT_OTLP_TIMEOUT - OPT_OTLP_ENDPOINT] = TW_OTLP_TIMEOUT,
			[OPT_OTLP_CERTIFICATE - OPT_OTLP_ENDPOINT] = TW_OTLP_CERTIFICATE,
			[OPT_RESOURCE_ATTRIBUTES - OPT_OTLP_ENDPOINT] = TW_OTLP_RESOURCE_ATTRIBUTES,
			[OPT_BSP_SCHEDULE_DELAY - OPT_OTLP_ENDPOINT] = TW_OTLP_SCHEDULE_DELAY,
			[OPT_BSP_MAX_QUEUE_SIZE - OPT_OTLP_ENDPOINT] = TW_OTLP_MAX_QUEUE_SIZE,
			[OPT_BSP_MAX_EXPORT_BATCH_SIZE - OPT_OTLP_ENDPOINT] = TW_OTLP_MAX_EXPORT_BATCH_SIZE,
			[OPT_BSP_EXPORT_TIMEOUT - OPT_OTLP_ENDPOINT] = TW_OTLP_EXPORT_TIMEOUT,
		};
		char source[64];

		snprintf(source, sizeof(source), "--%s", long_options[option_index_of(opt)].name);
		if (tw_otlp_apply(&cfg->otlp, settings[opt - OPT_OTLP_ENDPOINT], arg, source)) {
			fprintf(stderr, "Try 'tracewire --help'.\n");
			return -EINVAL;
		}
		return 0;
	}
	case OPT_HELP:
		cfg->help = true;
		return 0;
	}
	return -EINVAL; /* getopt already said what was wrong */
}

int tw_config_parse(struct tw_config *cfg, int argc, char **argv)
{
	const char *env_exporters;
	int opt, err;

	memset(cfg, 0, sizeof(*cfg));
	cfg->exporters = TW_EXPORT_CONSOLE;
	cfg->trace_window_ms = 1000;
	cfg->idle_timeout_ms = 2000;
	cfg->max_conns = 65536;
	cfg->stats_interval_s = 60;
	cfg->log_level = TW_LOG_INFO;

	tw_otlp_cfg_defaults(&cfg->otlp);
	if (tw_otlp_apply_env(&cfg->otlp, getenv))
		return -EINVAL;
	env_exporters = getenv("OTEL_TRACES_EXPORTER");
	if (env_exporters && *env_exporters) {
		if (add_exporters(cfg, env_exporters))
			return usage_error("OTEL_TRACES_EXPORTER: expected a comma-separated list of otlp, console, none; got '%s'",
					   env_exporters);
		cfg->exporters_given = true;
	}

	optind = 1;
	while ((opt = getopt_long(argc, argv, "p:c:n:e:j:h", long_options, NULL)) != -1) {
		if (opt == '?' || opt == ':') {
			fprintf(stderr, "Try 'tracewire --help'.\n");
			return -EINVAL;
		}
		err = handle_option(cfg, opt, optarg);
		if (err)
			return err;
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!cfg->exporters_given)
		cfg->exporters = cfg->otlp.url[0] ? TW_EXPORT_OTLP : TW_EXPORT_CONSOLE;
	if ((cfg->exporters & TW_EXPORT_OTLP) && !cfg->otlp.url[0])
		return usage_error("the otlp exporter needs an endpoint: --otlp-endpoint URL or OTEL_EXPORTER_OTLP_ENDPOINT%s", "");
	if (cfg->exporters & TW_EXPORT_OTLP && tw_otlp_check(&cfg->otlp))
		return -EINVAL;
	return 0;
}

void tw_config_describe_selection(const struct tw_config *cfg, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (!cfg->n_pids && !cfg->n_cgroups && !cfg->n_comms) {
		snprintf(buf, len, "every process except tracewire");
		return;
	}
#define APPEND(...)                                                          \
	do {                                                                 \
		if (off < len)                                               \
			off += snprintf(buf + off, len - off, __VA_ARGS__); \
	} while (0)
	for (size_t i = 0; i < cfg->n_pids; i++)
		APPEND("%spid %u", off ? ", " : "", cfg->pids[i]);
	for (size_t i = 0; i < cfg->n_cgroups; i++)
		APPEND("%scgroup %s", off ? ", " : "", cfg->cgroups[i].path);
	for (size_t i = 0; i < cfg->n_comms; i++)
		APPEND("%scomm %s", off ? ", " : "", cfg->comms[i]);
#undef APPEND
}
