// SPDX-License-Identifier: BSD-2-Clause
#include "config.h"
#include "feature_set.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "log.h"
#include "otlp_config.h"
#include "tracewire_wire.h"

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
	OPT_PROPAGATION,
	OPT_PROPAGATE_TO,
	OPT_PROPAGATE_PORT,
	OPT_SAMPLE_RATIO,
	OPT_TRUST_FROM,
	OPT_TCP_OPTION_KIND,
	OPT_TC_IFACE,
	OPT_TC_EDGE_IFACE,
	OPT_GO_PROBES,
	OPT_TLS_CAPTURE,
	OPT_REQUIRE,
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
	{ "propagation", required_argument, NULL, OPT_PROPAGATION },
	{ "propagate-to", required_argument, NULL, OPT_PROPAGATE_TO },
	{ "propagate-port", required_argument, NULL, OPT_PROPAGATE_PORT },
	{ "sample-ratio", required_argument, NULL, OPT_SAMPLE_RATIO },
	{ "trust-from", required_argument, NULL, OPT_TRUST_FROM },
	{ "tcp-option-kind", required_argument, NULL, OPT_TCP_OPTION_KIND },
	{ "tc-iface", required_argument, NULL, OPT_TC_IFACE },
	{ "tc-edge-iface", required_argument, NULL, OPT_TC_EDGE_IFACE },
	{ "go-probes", required_argument, NULL, OPT_GO_PROBES },
	{ "tls-capture", required_argument, NULL, OPT_TLS_CAPTURE },
	{ "require", required_argument, NULL, OPT_REQUIRE },
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
"TLS:\n"
"      --tls-capture on|off on (default): uprobes on the system's OpenSSL\n"
"                           (libssl.so.3 and libssl.so.1.1, where present)\n"
"                           read the plaintext of selected processes' TLS\n"
"                           connections, so HTTPS requests become spans too,\n"
"                           and --propagation tcp/ip carry their trace context.\n"
"                           Not seen: a static or private copy of OpenSSL,\n"
"                           other TLS libraries, memory-BIO users (asyncio)\n"
"      --require LIST       comma-separated features that must run, else\n"
"                           tracewire exits 1 at start instead of going on\n"
"                           without them: capture, tls, sockops, headers,\n"
"                           ip-option, go (default: none; a feature that\n"
"                           cannot load is off, logged, and the rest runs)\n"
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
"Trace-context propagation (W3C traceparent, so the next service's spans join\n"
"the same trace):\n"
"      --propagation LIST   comma-separated carriers, or none, or all:\n"
"                           headers (default): insert traceparent (and\n"
"                           tracestate) into the HTTP/1.x requests selected\n"
"                           processes send on connections opened after start;\n"
"                           tcp: trace id and span id in a TCP option on each\n"
"                           request's first segment (works for TLS and other\n"
"                           protocols; see --tcp-option-kind); ip: the same in\n"
"                           an IPv4 option added on pod interfaces (needs\n"
"                           --tc-iface; routers may drop IP options); none:\n"
"                           never modify traffic (spans are still linked\n"
"                           within each process). Incoming: header, then TCP\n"
"                           option, then IPv4 option\n"
"      --propagate-to CIDR  inject only towards this network: a.b.c.d/len,\n"
"                           x::y/len or a single address; repeatable (at most\n"
"                           64), replaces the default 127.0.0.0/8, ::1/128,\n"
"                           10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16,\n"
"                           198.18.0.0/15, 100.64.0.0/10, fc00::/7\n"
"      --propagate-port PORT  inject only towards this destination port;\n"
"                           repeatable (at most 64; default any port)\n"
"      --trust-from CIDR    read TCP/IPv4 options only from peers in this\n"
"                           network; repeatable (at most 64; default: the\n"
"                           --propagate-to scope). Others are ignored, counted\n"
"      --tcp-option-kind K  253 (default): RFC 6994 experimental option with\n"
"                           tracewire's ExID; 25: the layout OpenTelemetry eBPF\n"
"                           Instrumentation writes. Both are always read\n"
"      --tc-iface PATTERN   with --propagation ip: attach to interfaces whose\n"
"                           name matches PATTERN (shell glob, e.g. 'veth*',\n"
"                           'cali*', 'lxc*'), now and as they appear;\n"
"                           repeatable (at most 16). Packets leaving the pod\n"
"                           get the option, packets entering it lose it\n"
"      --tc-edge-iface PATTERN  strip tracewire's IPv4 option from packets\n"
"                           leaving through these interfaces (e.g. 'eth0')\n"
"                           towards destinations outside the scope;\n"
"                           repeatable (at most 16)\n"
"      --sample-ratio R     share of new traces (requests without a valid\n"
"                           incoming traceparent) that are sampled, 0 to 1\n"
"                           (default 1; OTEL_TRACES_SAMPLER_ARG when\n"
"                           OTEL_TRACES_SAMPLER is traceidratio or\n"
"                           parentbased_traceidratio). A request's incoming\n"
"                           sampled flag is kept; spans of unsampled traces\n"
"                           are not exported\n"
"      --go-probes on|off   on (default): selected processes running Go\n"
"                           executables (go1.17 or newer, x86-64, net/http)\n"
"                           get read-only uprobes, attached as they start, so\n"
"                           that a client request is parented by the server\n"
"                           request its goroutine (or the goroutine that\n"
"                           spawned it) handles, not by its thread's last\n"
"                           one; parent source \"goroutine\". Go binaries\n"
"                           it cannot probe are named in the log and keep\n"
"                           the thread rule\n"
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

static int usage_error(const char *fmt, ...);

/* --require capture,tls,...: names from feature_set.c, repeatable. */
static int parse_require(struct tw_config *cfg, const char *arg)
{
	char buf[256], *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		return usage_error("--require: list too long: '%s'", arg);
	strcpy(buf, arg);
	for (char *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		int f = tw_feature_parse(name);

		if (f < 0)
			return usage_error("--require: unknown feature '%s' (capture, tls, sockops, "
					   "headers, ip-option, go)", name);
		cfg->require |= 1u << f;
	}
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

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tracewire: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'tracewire --help'.\n");
	return -EINVAL;
}

uint64_t tw_sample_threshold(double ratio)
{
	const double span = 4294967296.0; /* 2^32: one more than any u32 */

	if (!(ratio > 0)) /* also NaN */
		return 0;
	if (ratio >= 1)
		return 1ull << 32;
	return (uint64_t)(ratio * span + 0.5);
}

/*
 * "headers", "none" or a comma-separated list of modes. A list so that
 * "headers,tcp" keeps working once more carriers exist. "none" never with a
 * mode, since "none,headers" says two contradicting things.
 */
static int parse_propagation(const char *list, unsigned *out)
{
	char buf[64], *save = NULL, *tok;
	bool none = false;
	unsigned modes = 0;

	if (strlen(list) >= sizeof(buf))
		return usage_error("--propagation: expected a list of headers, tcp, ip, or all, or none; got '%s'",
				   list);
	strcpy(buf, list);
	/* strtok_r would skip empty items: "headers,,": reject them instead */
	if (!*list || list[0] == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,"))
		return usage_error("--propagation: empty item in '%s'", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "headers"))
			modes |= TW_PROP_HEADERS;
		else if (!strcmp(tok, "tcp"))
			modes |= TW_PROP_TCP;
		else if (!strcmp(tok, "ip"))
			modes |= TW_PROP_IP;
		else if (!strcmp(tok, "all"))
			modes |= TW_PROP_ALL;
		else if (!strcmp(tok, "none"))
			none = true;
		else
			return usage_error("--propagation: expected a list of headers, tcp, ip, or all, or none; got '%s'",
					   tok);
	}
	if (none && modes)
		return usage_error("--propagation %s: none cannot be combined with other modes", list);
	*out = none ? TW_PROP_NONE : modes;
	return 0;
}

/* A --propagate-to / --trust-from network into list[*n]. */
static int add_cidr(const char *opt, struct tw_cidr *list, size_t *n, const char *arg)
{
	struct tw_cidr c;
	char net[TW_CIDR_STRLEN];
	int err;

	if (*n == TW_MAX_SCOPE)
		return usage_error("too many %s options (at most %d): %s", opt, TW_MAX_SCOPE, arg);
	err = tw_cidr_parse(arg, &c);
	if (err == -ERANGE)
		return usage_error("%s %s: prefix length above %d", opt, arg,
				   c.family == AF_INET ? 32 : 128);
	if (err == -EDOM) {
		/* Name the network they probably meant: masking it silently
		 * would change the scope from what was typed. */
		tw_cidr_network(&c);
		tw_cidr_format(&c, net, sizeof(net));
		return usage_error("%s %s: host bits set beyond the /%u prefix (the network is %s; for a single address leave out the /%u)",
				   opt, arg, c.prefixlen, net, c.prefixlen);
	}
	if (err)
		return usage_error("%s: expected a.b.c.d/len, x::y/len or an address, got '%s'", opt, arg);
	list[(*n)++] = c;
	return 0;
}

static int add_iface_pattern(const char *opt, char (*list)[TW_IFACE_PATTERN_LEN], size_t *n,
			     const char *arg)
{
	if (*n == TW_MAX_IFACE_PATTERNS)
		return usage_error("too many %s options (at most %d): %s", opt, TW_MAX_IFACE_PATTERNS,
				   arg);
	if (!*arg || strlen(arg) >= TW_IFACE_PATTERN_LEN)
		return usage_error("%s: expected an interface name pattern of 1 to %d characters, got '%s'",
				   opt, TW_IFACE_PATTERN_LEN - 1, arg);
	strcpy(list[(*n)++], arg);
	return 0;
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

/* The setting each --otlp-* / --bsp-* / --resource-attributes flag makes. */
static const enum tw_otlp_setting otlp_settings[] = {
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
		cfg->exporters_cli = true;
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
	case OPT_PROPAGATION:
		return parse_propagation(arg, &cfg->propagation);
	case OPT_PROPAGATE_TO:
		return add_cidr("--propagate-to", cfg->propagate_to, &cfg->n_propagate_to, arg);
	case OPT_TRUST_FROM:
		return add_cidr("--trust-from", cfg->trust_from, &cfg->n_trust_from, arg);
	case OPT_TCP_OPTION_KIND:
		if (tw_parse_u64(arg, 0, 255, &v) || (v != TW_TCPOPT_EXP && v != TW_TCPOPT_OBI))
			return usage_error("--tcp-option-kind: expected 253 or 25, got '%s'", arg);
		cfg->tcp_option_kind = (uint8_t)v;
		return 0;
	case OPT_TC_IFACE:
		return add_iface_pattern("--tc-iface", cfg->tc_ifaces, &cfg->n_tc_ifaces, arg);
	case OPT_REQUIRE:
		return parse_require(cfg, arg);
	case OPT_TLS_CAPTURE:
		if (strcmp(arg, "on") && strcmp(arg, "off"))
			return usage_error("--tls-capture: expected on or off, got '%s'", arg);
		cfg->tls_capture = !strcmp(arg, "on");
		return 0;
	case OPT_GO_PROBES:
		if (strcmp(arg, "on") && strcmp(arg, "off"))
			return usage_error("--go-probes: expected on or off, got '%s'", arg);
		cfg->go_probes = !strcmp(arg, "on");
		return 0;
	case OPT_TC_EDGE_IFACE:
		return add_iface_pattern("--tc-edge-iface", cfg->tc_edge_ifaces,
					 &cfg->n_tc_edge_ifaces, arg);
	case OPT_PROPAGATE_PORT:
		if (tw_parse_u64(arg, 1, 65535, &v))
			return usage_error("--propagate-port: expected a port from 1 to 65535, got '%s'", arg);
		if (cfg->n_propagate_ports == TW_MAX_SCOPE)
			return usage_error("too many --propagate-port options (at most %d): %s", TW_MAX_SCOPE, arg);
		cfg->propagate_ports[cfg->n_propagate_ports++] = (uint16_t)v;
		return 0;
	case OPT_SAMPLE_RATIO:
		if (tw_parse_ratio(arg, &cfg->sample_ratio))
			return usage_error("--sample-ratio: expected a decimal from 0 to 1 (e.g. 0.25), got '%s'", arg);
		cfg->sample_ratio_given = true;
		return 0;
	case OPT_OTLP_COMMAND_LINE:
		cfg->otlp.command_line = true;
		return 0;
	case OPT_OTLP_ENDPOINT ... OPT_BSP_EXPORT_TIMEOUT: {
		enum tw_otlp_setting what = otlp_settings[opt - OPT_OTLP_ENDPOINT];
		char source[64];

		snprintf(source, sizeof(source), "--%s", long_options[option_index_of(opt)].name);
		if (tw_otlp_apply(&cfg->otlp, what, arg, source)) {
			fprintf(stderr, "Try 'tracewire --help'.\n");
			return -EINVAL;
		}
		cfg->otlp_given |= 1u << what;
		return 0;
	}
	case OPT_HELP:
		cfg->help = true;
		return 0;
	}
	return -EINVAL; /* getopt already said what was wrong */
}

/*
 * OpenTelemetry's sampler variables, for users who set them for their SDKs
 * fleet-wide. Only the ratio samplers carry a ratio; tracewire always keeps
 * an incoming sampled flag (like parentbased_*), so traceidratio is taken as
 * parentbased_traceidratio. 0 or -EINVAL (message printed).
 */
static int sampler_from_env(struct tw_config *cfg)
{
	const char *sampler = getenv("OTEL_TRACES_SAMPLER"), *arg;

	if (!sampler || !*sampler)
		return 0;
	if (strcmp(sampler, "traceidratio") && strcmp(sampler, "parentbased_traceidratio")) {
		if (strcmp(sampler, "always_on") && strcmp(sampler, "parentbased_always_on"))
			log_warn("OTEL_TRACES_SAMPLER=%s is not supported: sampling ratio %g (--sample-ratio)",
				 sampler, cfg->sample_ratio);
		return 0;
	}
	arg = getenv("OTEL_TRACES_SAMPLER_ARG");
	if (!arg || !*arg)
		return 0; /* the specification's default for ratio samplers: 1 */
	if (tw_parse_ratio(arg, &cfg->sample_ratio))
		return usage_error("OTEL_TRACES_SAMPLER_ARG: expected a decimal from 0 to 1 (e.g. 0.25), got '%s'",
				   arg);
	cfg->sample_ratio_given = true;
	return 0;
}

/* The command-line flag that sets what an environment variable would (and
 * so overrides it), or NULL when none was given. */
static const char *flag_overriding(const struct tw_config *cfg, enum tw_otlp_setting env)
{
	for (size_t i = 0; i < sizeof(otlp_settings) / sizeof(otlp_settings[0]); i++) {
		enum tw_otlp_setting flag = otlp_settings[i];
		bool same = flag == env ||
			    /* either endpoint flag sets the URL either variable sets */
			    ((env == TW_OTLP_ENDPOINT || env == TW_OTLP_TRACES_ENDPOINT) &&
			     (flag == TW_OTLP_ENDPOINT || flag == TW_OTLP_TRACES_ENDPOINT)) ||
			    /* --otlp-header: the headers are the command line's */
			    (env == TW_OTLP_HEADERS && flag == TW_OTLP_HEADER);

		if (same && (cfg->otlp_given & (1u << flag)))
			return long_options[option_index_of(OPT_OTLP_ENDPOINT + (int)i)].name;
	}
	return NULL;
}

/*
 * Invalid OTEL_* variables, once the command line is known: one that a flag
 * (or a valid per-signal variable) overrides costs a warning, since what it
 * would have set is set anyway; any other stops tracewire. 0 or -EINVAL.
 */
static int env_errors_verdict(const struct tw_config *cfg, const struct tw_otlp_env_errors *errs)
{
	int err = 0;

	for (size_t i = 0; i < errs->n; i++) {
		const struct tw_otlp_env_error *e = &errs->e[i];
		const char *flag = flag_overriding(cfg, e->what);

		if (flag) {
			log_warn("%s; ignored: --%s overrides it", e->msg, flag);
		} else if (e->superseded) {
			log_warn("%s; ignored: %s overrides it", e->msg, e->superseded);
		} else {
			fprintf(stderr, "tracewire: %s\n", e->msg);
			err = -EINVAL;
		}
	}
	if (err)
		fprintf(stderr, "Try 'tracewire --help'.\n");
	return err;
}

int tw_config_parse(struct tw_config *cfg, int argc, char **argv)
{
	struct tw_otlp_env_errors env_errs;
	const char *env_exporters;
	bool env_exporters_bad = false;
	int opt, err;

	memset(cfg, 0, sizeof(*cfg));
	cfg->exporters = TW_EXPORT_CONSOLE;
	cfg->trace_window_ms = 1000;
	cfg->idle_timeout_ms = 2000;
	cfg->max_conns = 65536;
	cfg->stats_interval_s = 60;
	cfg->log_level = TW_LOG_INFO;
	cfg->propagation = TW_PROP_HEADERS;
	cfg->sample_ratio = 1.0;
	cfg->tcp_option_kind = TW_TCPOPT_EXP;
	cfg->go_probes = true;
	cfg->tls_capture = true;

	tw_otlp_cfg_defaults(&cfg->otlp);
	/* Invalid variables are judged after argv: see env_errors_verdict() */
	if (tw_otlp_apply_env_deferred(&cfg->otlp, getenv, &env_errs)) {
		fprintf(stderr, "tracewire: out of memory\n");
		return -ENOMEM;
	}
	env_exporters = getenv("OTEL_TRACES_EXPORTER");
	if (env_exporters && *env_exporters) {
		if (add_exporters(cfg, env_exporters)) {
			cfg->exporters = TW_EXPORT_CONSOLE;
			env_exporters_bad = true;
		} else {
			cfg->exporters_given = true;
		}
	}

	/* 0, not 1: glibc's getopt then forgets everything of an earlier
	 * parse, including a position inside an old argv's option cluster */
	optind = 0;
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
	if (env_exporters_bad) {
		if (!cfg->exporters_cli)
			return usage_error("OTEL_TRACES_EXPORTER: expected a comma-separated list of otlp, console, none; got '%s'",
					   env_exporters);
		log_warn("OTEL_TRACES_EXPORTER: expected a comma-separated list of otlp, console, none, got '%s'; ignored: --exporter overrides it",
			 env_exporters);
	}
	if (env_errors_verdict(cfg, &env_errs))
		return -EINVAL;
	/* After argv: --sample-ratio wins, and a bad variable the command
	 * line overrides does not stop tracewire. */
	if (!cfg->sample_ratio_given && sampler_from_env(cfg))
		return -EINVAL;
	if (cfg->propagation == TW_PROP_NONE && (cfg->n_propagate_to || cfg->n_propagate_ports))
		log_warn("--propagate-to and --propagate-port have no effect with --propagation none");
	if ((cfg->propagation & TW_PROP_IP) && !cfg->n_tc_ifaces)
		return usage_error("--propagation ip needs at least one --tc-iface PATTERN (the pods' host-side interfaces, e.g. 'veth*', 'cali*', 'lxc*')%s",
				   "");
	if (!(cfg->propagation & TW_PROP_IP) && (cfg->n_tc_ifaces || cfg->n_tc_edge_ifaces))
		log_warn("--tc-iface and --tc-edge-iface have no effect without --propagation ip");
	if (!(cfg->propagation & (TW_PROP_TCP | TW_PROP_IP)) && cfg->n_trust_from)
		log_warn("--trust-from has no effect without --propagation tcp or ip");
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

size_t tw_trust_keys(const struct tw_config *cfg, struct tw_scope_key *out, size_t max)
{
	size_t i;

	if (!cfg->n_trust_from)
		return tw_scope_keys(cfg, out, max);
	for (i = 0; i < cfg->n_trust_from && i < max; i++)
		tw_cidr_to_key(&cfg->trust_from[i], &out[i]);
	return i;
}

size_t tw_scope_keys(const struct tw_config *cfg, struct tw_scope_key *out, size_t max)
{
	const struct tw_cidr *scope = cfg->propagate_to;
	size_t n = cfg->n_propagate_to, i;

	if (!n)
		scope = tw_scope_default(&n);
	for (i = 0; i < n && i < max; i++)
		tw_cidr_to_key(&scope[i], &out[i]);
	return i;
}

void tw_config_describe_propagation(const struct tw_config *cfg, char *buf, size_t len)
{
	const struct tw_cidr *scope = cfg->propagate_to;
	size_t n = cfg->n_propagate_to, off = 0;
	char net[TW_CIDR_STRLEN];

	buf[0] = '\0';
#define APPEND(...)                                                          \
	do {                                                                 \
		if (off < len)                                               \
			off += snprintf(buf + off, len - off, __VA_ARGS__); \
	} while (0)
	if (cfg->propagation == TW_PROP_NONE) {
		/* Sampling still applies: new traces start in the kernel
		 * whether or not their context travels on. */
		APPEND("off (--propagation none); sample ratio %g", cfg->sample_ratio);
		return;
	}
	if (!n)
		scope = tw_scope_default(&n);
	APPEND("%s%s%s%s to ", cfg->propagation & TW_PROP_HEADERS ? "headers" : "",
	       cfg->propagation & TW_PROP_TCP ? (cfg->propagation & TW_PROP_HEADERS ? ",tcp" : "tcp") : "",
	       cfg->propagation & TW_PROP_TCP ? (cfg->tcp_option_kind == TW_TCPOPT_OBI ? " (option kind 25)" : " (option kind 253)") : "",
	       cfg->propagation & TW_PROP_IP ? ((cfg->propagation & (TW_PROP_HEADERS | TW_PROP_TCP)) ? ",ip" : "ip") : "");
	for (size_t i = 0; i < n; i++) {
		tw_cidr_format(&scope[i], net, sizeof(net));
		APPEND("%s%s", i ? ", " : "", net);
	}
	if (!cfg->n_propagate_to)
		APPEND(" (default scope)");
	APPEND("; ports ");
	if (!cfg->n_propagate_ports)
		APPEND("any");
	for (size_t i = 0; i < cfg->n_propagate_ports; i++)
		APPEND("%s%u", i ? ", " : "", cfg->propagate_ports[i]);
	APPEND("; sample ratio %g", cfg->sample_ratio);
	if (cfg->propagation & (TW_PROP_TCP | TW_PROP_IP)) {
		APPEND("; options trusted from ");
		if (!cfg->n_trust_from)
			APPEND("the scope");
		for (size_t i = 0; i < cfg->n_trust_from; i++) {
			tw_cidr_format(&cfg->trust_from[i], net, sizeof(net));
			APPEND("%s%s", i ? ", " : "", net);
		}
	}
	if (cfg->propagation & TW_PROP_IP) {
		APPEND("; tc on ");
		for (size_t i = 0; i < cfg->n_tc_ifaces; i++)
			APPEND("%s%s", i ? ", " : "", cfg->tc_ifaces[i]);
		for (size_t i = 0; i < cfg->n_tc_edge_ifaces; i++)
			APPEND("%s%s (edge)", ", ", cfg->tc_edge_ifaces[i]);
	}
#undef APPEND
}
