// SPDX-License-Identifier: BSD-2-Clause
/*
 * The command line (config.h): getopt, each option's value, the defaults and
 * the checks across options. --help is config_usage.c, the OTEL_* variables
 * config_env.c, the propagation options config_propagation.c.
 */
#include "config_int.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "feature_set.h"
#include "log.h"
#include "metrics.h"
#include "tracewire_wire.h"

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
	OPT_MEMORY_LIMIT,
	OPT_STATS_INTERVAL,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
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
	OPT_METRICS_ADDR,
	OPT_K8S_NODE,
	OPT_K8S_NAMESPACE,
	OPT_K8S_SELECTOR,
	OPT_VERSION,
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
	{ "memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT },
	{ "stats-interval", required_argument, NULL, OPT_STATS_INTERVAL },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
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
	{ "metrics-addr", required_argument, NULL, OPT_METRICS_ADDR },
	{ "k8s-node", required_argument, NULL, OPT_K8S_NODE },
	{ "k8s-namespace", required_argument, NULL, OPT_K8S_NAMESPACE },
	{ "k8s-selector", required_argument, NULL, OPT_K8S_SELECTOR },
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
	{ "version", no_argument, NULL, OPT_VERSION },
	{ 0 },
};

const struct option *tw_config_options(void)
{
	return long_options;
}

int tw_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tracewire: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'tracewire --help'.\n");
	return -EINVAL;
}

/* --require capture,tls,...: names from feature_set.c, repeatable. */
static int add_k8s_namespace(struct tw_pod_filter *f, const char *arg)
{
	if (!tw_namespace_valid(arg))
		return tw_usage_error("--k8s-namespace: '%s' is no namespace name (lowercase letters, "
				      "digits and '-', at most 63)", arg);
	if (f->n_namespaces == TW_POD_NAMESPACES)
		return tw_usage_error("--k8s-namespace: at most %d namespaces", TW_POD_NAMESPACES);
	strcpy(f->namespaces[f->n_namespaces++], arg);
	return 0;
}

static int add_k8s_selector(struct tw_pod_filter *f, const char *arg)
{
	char err[256];

	if (f->has_selector)
		return tw_usage_error("--k8s-selector: given twice; join the requirements with ','");
	if (tw_label_selector_parse(arg, &f->selector, err, sizeof(err)))
		return tw_usage_error("--k8s-selector '%s': %s", arg, err);
	f->has_selector = true;
	return 0;
}

static int parse_require(struct tw_config *cfg, const char *arg)
{
	char buf[256], *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		return tw_usage_error("--require: list too long: '%s'", arg);
	strcpy(buf, arg);
	for (char *name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		int f = tw_feature_parse(name);

		if (f < 0)
			return tw_usage_error("--require: unknown feature '%s' (capture, tls, sockops, "
					      "headers, ip-option, go, h2-headers)", name);
		cfg->require |= 1u << f;
	}
	return 0;
}

int tw_config_add_exporters(struct tw_config *cfg, const char *list)
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

static int add_cgroup(struct tw_config *cfg, const char *path)
{
	struct tw_cgroup_sel *sel;
	int err;

	if (cfg->n_cgroups == TW_MAX_SELECTORS)
		return tw_usage_error("too many --cgroup options (at most 64): %s", path);
	sel = &cfg->cgroups[cfg->n_cgroups];
	err = tw_cgroup_resolve(path, sel);
	if (err == -EMEDIUMTYPE)
		return tw_usage_error("--cgroup %s: not a cgroup v2 directory", path);
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
		return tw_usage_error("'%s' looks like an option, not a value: is a value missing?", arg);
	switch (opt) {
	case OPT_PID:
		if (tw_parse_u64(arg, 1, INT32_MAX, &v))
			return tw_usage_error("--pid: not a process id: '%s'", arg);
		if (cfg->n_pids == TW_MAX_SELECTORS)
			return tw_usage_error("too many --pid options (at most 64): %s", arg);
		if (kill((pid_t)v, 0) && errno == ESRCH)
			log_warn("--pid %s: no process has this id now", arg);
		cfg->pids[cfg->n_pids++] = v;
		return 0;
	case OPT_CGROUP:
		return add_cgroup(cfg, arg);
	case OPT_COMM:
		if (!*arg)
			return tw_usage_error("--comm: empty name%s", "");
		if (cfg->n_comms == TW_MAX_SELECTORS)
			return tw_usage_error("too many --comm options (at most 64): %s", arg);
		if (strlen(arg) >= TW_COMM_LEN)
			log_warn("--comm %s: the kernel keeps 15 characters, matching '%.15s'", arg, arg);
		memset(cfg->comms[cfg->n_comms], 0, TW_COMM_LEN);
		strncpy(cfg->comms[cfg->n_comms], arg, TW_COMM_LEN - 1);
		cfg->n_comms++;
		return 0;
	case OPT_EXPORTER:
		if (tw_config_add_exporters(cfg, arg))
			return tw_usage_error("--exporter: expected a comma-separated list of otlp, console, none; got '%s'", arg);
		cfg->exporters_given = true;
		cfg->exporters_cli = true;
		return 0;
	case OPT_JSONL:
		if (!*arg)
			return tw_usage_error("--jsonl: empty path%s", "");
		cfg->jsonl_path = arg;
		return 0;
	case OPT_TRACE_WINDOW:
		if (tw_parse_u64(arg, 1, 3600 * 1000, &cfg->trace_window_ms))
			return tw_usage_error("--trace-window: expected milliseconds from 1 to 3600000, got '%s'", arg);
		return 0;
	case OPT_IDLE_TIMEOUT:
		if (tw_parse_u64(arg, 1, 3600 * 1000, &cfg->idle_timeout_ms))
			return tw_usage_error("--idle-timeout: expected milliseconds from 1 to 3600000, got '%s'", arg);
		return 0;
	case OPT_MAX_CONNS:
		if (tw_parse_u64(arg, 16, 1 << 24, &cfg->max_conns))
			return tw_usage_error("--max-conns: expected a number from 16 to 16777216, got '%s'", arg);
		return 0;
	case OPT_MEMORY_LIMIT:
		if (tw_budget_parse(arg, &cfg->memory_limit) || cfg->memory_limit < TW_BUDGET_MIN ||
		    cfg->memory_limit > (1ull << 40))
			return tw_usage_error("--memory-limit: expected bytes from 48M to 1T (suffix K, M "
					      "or G, powers of 1024), got '%s'", arg);
		return 0;
	case OPT_STATS_INTERVAL:
		if (tw_parse_u64(arg, 0, 86400, &cfg->stats_interval_s))
			return tw_usage_error("--stats-interval: expected seconds from 0 to 86400, got '%s'", arg);
		return 0;
	case OPT_LOG_LEVEL:
		cfg->log_level = tw_log_parse_level(arg);
		if (cfg->log_level < 0)
			return tw_usage_error("--log-level: expected error, warn, info or debug, got '%s'", arg);
		return 0;
	case OPT_LOG_FORMAT:
		cfg->log_format = tw_log_parse_format(arg);
		if (cfg->log_format < 0)
			return tw_usage_error("--log-format: expected text or json, got '%s'", arg);
		tw_log_set_format((enum tw_log_format)cfg->log_format);
		return 0;
	case OPT_PROBE:
		cfg->probe_only = true;
		return 0;
	case OPT_PROPAGATION:
		return tw_config_parse_propagation(arg, &cfg->propagation);
	case OPT_PROPAGATE_TO:
		return tw_config_add_cidr("--propagate-to", cfg->propagate_to, &cfg->n_propagate_to, arg);
	case OPT_TRUST_FROM:
		return tw_config_add_cidr("--trust-from", cfg->trust_from, &cfg->n_trust_from, arg);
	case OPT_TCP_OPTION_KIND:
		if (tw_parse_u64(arg, 0, 255, &v) || (v != TW_TCPOPT_EXP && v != TW_TCPOPT_OBI))
			return tw_usage_error("--tcp-option-kind: expected 253 or 25, got '%s'", arg);
		cfg->tcp_option_kind = (uint8_t)v;
		return 0;
	case OPT_TC_IFACE:
		return tw_config_add_iface_pattern("--tc-iface", cfg->tc_ifaces, &cfg->n_tc_ifaces, arg);
	case OPT_METRICS_ADDR:
		return tw_metrics_option(arg, &cfg->metrics_addr);
	case OPT_K8S_NODE:
		if (!*arg || strlen(arg) > 253)
			return tw_usage_error("--k8s-node: expected a node name, got '%s'", arg);
		cfg->k8s_node = arg;
		return 0;
	case OPT_K8S_NAMESPACE:
		return add_k8s_namespace(&cfg->pods, arg);
	case OPT_K8S_SELECTOR:
		return add_k8s_selector(&cfg->pods, arg);
	case OPT_REQUIRE:
		return parse_require(cfg, arg);
	case OPT_TLS_CAPTURE:
		if (strcmp(arg, "on") && strcmp(arg, "off"))
			return tw_usage_error("--tls-capture: expected on or off, got '%s'", arg);
		cfg->tls_capture = !strcmp(arg, "on");
		return 0;
	case OPT_GO_PROBES:
		if (strcmp(arg, "on") && strcmp(arg, "off"))
			return tw_usage_error("--go-probes: expected on or off, got '%s'", arg);
		cfg->go_probes = !strcmp(arg, "on");
		return 0;
	case OPT_TC_EDGE_IFACE:
		return tw_config_add_iface_pattern("--tc-edge-iface", cfg->tc_edge_ifaces,
						   &cfg->n_tc_edge_ifaces, arg);
	case OPT_PROPAGATE_PORT:
		if (tw_parse_u64(arg, 1, 65535, &v))
			return tw_usage_error("--propagate-port: expected a port from 1 to 65535, got '%s'", arg);
		if (cfg->n_propagate_ports == TW_MAX_SCOPE)
			return tw_usage_error("too many --propagate-port options (at most %d): %s", TW_MAX_SCOPE, arg);
		cfg->propagate_ports[cfg->n_propagate_ports++] = (uint16_t)v;
		return 0;
	case OPT_SAMPLE_RATIO:
		if (tw_parse_ratio(arg, &cfg->sample_ratio))
			return tw_usage_error("--sample-ratio: expected a decimal from 0 to 1 (e.g. 0.25), got '%s'", arg);
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
	case OPT_VERSION:
		cfg->version = true;
		return 0;
	}
	return -EINVAL; /* getopt already said what was wrong */
}

const char *tw_config_flag_overriding(const struct tw_config *cfg, enum tw_otlp_setting env)
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
 * --log-format before anything else, so that the warnings of the other
 * options are lines of the chosen format too, wherever it stands in argv.
 * Its bad values are the main pass's to report.
 */
static void log_format_first(int argc, char **argv)
{
	int saved = opterr, opt, f;

	tw_log_set_format(TW_LOG_TEXT);
	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "p:c:n:e:j:h", long_options, NULL)) != -1) {
		if (opt == OPT_LOG_FORMAT && (f = tw_log_parse_format(optarg)) >= 0)
			tw_log_set_format((enum tw_log_format)f);
	}
	opterr = saved;
}

int tw_config_parse(struct tw_config *cfg, int argc, char **argv)
{
	struct tw_config_env env;
	int opt, err;

	memset(cfg, 0, sizeof(*cfg));
	cfg->exporters = TW_EXPORT_CONSOLE;
	cfg->trace_window_ms = 1000;
	cfg->idle_timeout_ms = 2000;
	cfg->max_conns = 0; /* --max-conns, else the memory budget's */
	cfg->stats_interval_s = 60;
	cfg->log_level = TW_LOG_INFO;
	cfg->propagation = TW_PROP_HEADERS;
	cfg->sample_ratio = 1.0;
	cfg->tcp_option_kind = TW_TCPOPT_EXP;
	cfg->go_probes = true;
	cfg->tls_capture = true;

	tw_otlp_cfg_defaults(&cfg->otlp);
	err = tw_config_env_read(cfg, &env);
	if (err)
		return err;

	log_format_first(argc, argv);
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
		return tw_usage_error("unexpected argument '%s'", argv[optind]);
	if (tw_config_env_verdict(cfg, &env))
		return -EINVAL;
	if (cfg->propagation == TW_PROP_NONE && (cfg->n_propagate_to || cfg->n_propagate_ports))
		log_warn("--propagate-to and --propagate-port have no effect with --propagation none");
	if ((cfg->propagation & TW_PROP_IP) && !cfg->n_tc_ifaces)
		return tw_usage_error("--propagation ip needs at least one --tc-iface PATTERN (the pods' host-side interfaces, e.g. 'veth*', 'cali*', 'lxc*')%s",
				      "");
	if (!(cfg->propagation & TW_PROP_IP) && (cfg->n_tc_ifaces || cfg->n_tc_edge_ifaces))
		log_warn("--tc-iface and --tc-edge-iface have no effect without --propagation ip");
	if (!(cfg->propagation & (TW_PROP_TCP | TW_PROP_IP)) && cfg->n_trust_from)
		log_warn("--trust-from has no effect without --propagation tcp or ip");
	if (!cfg->exporters_given)
		cfg->exporters = cfg->otlp.url[0] ? TW_EXPORT_OTLP : TW_EXPORT_CONSOLE;
	if ((cfg->exporters & TW_EXPORT_OTLP) && !cfg->otlp.url[0])
		return tw_usage_error("the otlp exporter needs an endpoint: --otlp-endpoint URL or OTEL_EXPORTER_OTLP_ENDPOINT%s", "");
	if (cfg->exporters & TW_EXPORT_OTLP && tw_otlp_check(&cfg->otlp))
		return -EINVAL;
	if (tw_pod_filter_given(&cfg->pods) && !tw_k8s_configured())
		return tw_usage_error("--k8s-namespace and --k8s-selector select pods by what the API "
				      "server says: run in a cluster or set KUBECONFIG%s", "");
	return 0;
}

void tw_config_describe_selection(const struct tw_config *cfg, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (cfg->pod_mode == TW_PODS_DEFAULT) {
		snprintf(buf, len, "every pod except kube-system's and tracewire's own");
		return;
	}
	if (!cfg->n_pids && !cfg->n_cgroups && !cfg->n_comms && cfg->pod_mode == TW_PODS_OFF) {
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
	if (cfg->pod_mode == TW_PODS_FILTER) {
		char sel[512];

		APPEND("%spods", off ? ", " : "");
		for (unsigned i = 0; i < cfg->pods.n_namespaces; i++)
			APPEND("%s%s", i ? "," : " in namespace ", cfg->pods.namespaces[i]);
		if (cfg->pods.has_selector) {
			tw_label_selector_format(&cfg->pods.selector, sel, sizeof(sel));
			APPEND(" with labels %s", sel);
		}
	}
#undef APPEND
}

