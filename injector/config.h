/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Command-line configuration of the daemon: config.c (getopt, defaults, the
 * checks across options), config_usage.c (--help), config_env.c (OTEL_*
 * variables), config_propagation.c (--propagation and its scope), cgroup.c
 * (--cgroup); numbers are parsed by util/parse.c.
 */
#ifndef TW_CONFIG_H
#define TW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cgroup.h"
#include "export_otlp.h"
#include "k8s_select.h"
#include "parse.h" /* tw_parse_u64(), tw_parse_ratio() */
#include "scope.h"
#include "tracewire_event.h"

#define TW_MAX_SELECTORS 64
#define TW_MAX_SCOPE 64 /* --propagate-to and --propagate-port, each */

enum tw_exit {
	TW_EXIT_OK = 0,
	TW_EXIT_FAILURE = 1, /* could not start or run (privileges, kernel, files) */
	TW_EXIT_USAGE = 2,   /* bad command line */
};

enum tw_exporter_mask {
	TW_EXPORT_CONSOLE = 1u << 0,
	TW_EXPORT_OTLP = 1u << 1,
};

/*
 * How trace context is carried to the next service (--propagation). A bit
 * mask so that further carriers (TCP options, IP options) can be combined
 * with headers once they exist; TW_PROP_NONE is the empty set.
 */
enum tw_propagation {
	TW_PROP_NONE = 0,
	TW_PROP_HEADERS = 1u << 0, /* traceparent/tracestate in HTTP/1.x requests */
	TW_PROP_TCP = 1u << 1,     /* TCP option via sock_ops (docs/wire-format.md) */
	TW_PROP_IP = 1u << 2,      /* IPv4 option via tc on --tc-iface interfaces */
	TW_PROP_ALL = TW_PROP_HEADERS | TW_PROP_TCP | TW_PROP_IP,
};

/* Selection by pod (podsel.h), decided at start. */
enum tw_pod_mode {
	TW_PODS_OFF,     /* not in a cluster, or other selectors given */
	TW_PODS_FILTER,  /* --k8s-namespace / --k8s-selector */
	TW_PODS_DEFAULT, /* in a cluster without any selection: every pod but kube-system's */
};
#define TW_POD_ROOTS 8
#define TW_POD_ROOT_LEN 512

#define TW_MAX_IFACE_PATTERNS 16
#define TW_IFACE_PATTERN_LEN 64

struct tw_config {
	uint32_t pids[TW_MAX_SELECTORS];
	size_t n_pids;
	struct tw_cgroup_sel cgroups[TW_MAX_SELECTORS];
	size_t n_cgroups;
	char comms[TW_MAX_SELECTORS][TW_COMM_LEN];
	size_t n_comms;

	unsigned exporters;      /* enum tw_exporter_mask; default: otlp with an endpoint, else console */
	bool exporters_given;    /* by --exporter or OTEL_TRACES_EXPORTER */
	bool exporters_cli;      /* by --exporter */
	struct tw_otlp_cfg otlp; /* OTEL_* environment, then --otlp-* / --bsp-* options */
	unsigned otlp_given;     /* bit 1 << enum tw_otlp_setting: set by a flag */
	const char *jsonl_path;  /* NULL: no JSON lines */
	uint64_t trace_window_ms;
	uint64_t idle_timeout_ms;
	uint64_t max_conns;       /* --max-conns; 0: the memory budget's bound */
	uint64_t memory_limit;    /* --memory-limit bytes; 0: from the cgroup (budget.h) */
	uint64_t stats_interval_s;

	unsigned propagation; /* enum tw_propagation; default TW_PROP_HEADERS */
	/* --propagate-to; none given: tw_scope_default() */
	struct tw_cidr propagate_to[TW_MAX_SCOPE];
	size_t n_propagate_to;
	/* --propagate-port, host byte order; none given: any port */
	uint16_t propagate_ports[TW_MAX_SCOPE];
	size_t n_propagate_ports;
	/* Probability that a new root trace is sampled, in [0, 1]; default 1.
	 * --sample-ratio, else OTEL_TRACES_SAMPLER_ARG with a ratio sampler. */
	double sample_ratio;
	bool sample_ratio_given; /* by --sample-ratio or OTEL_TRACES_SAMPLER_ARG */
	/* --trust-from: peers whose TCP/IPv4 options are believed; none given:
	 * the propagation scope */
	struct tw_cidr trust_from[TW_MAX_SCOPE];
	size_t n_trust_from;
	uint8_t tcp_option_kind; /* --tcp-option-kind: 253 (default) or 25 */
	/* --tc-iface / --tc-edge-iface: fnmatch(3) patterns of interface names */
	char tc_ifaces[TW_MAX_IFACE_PATTERNS][TW_IFACE_PATTERN_LEN];
	size_t n_tc_ifaces;
	char tc_edge_ifaces[TW_MAX_IFACE_PATTERNS][TW_IFACE_PATTERN_LEN];
	size_t n_tc_edge_ifaces;
	bool go_probes; /* --go-probes on|off (default on): docs/go.md */

	/* --tls-capture: uprobes on the system's libssl turn the plaintext of
	 * OpenSSL connections into spans (default on) */
	bool tls_capture;

	/* --require: bit f set = start fails unless feature f (enum tw_feature,
	 * feature_set.h) runs */
	unsigned require;

	const char *metrics_addr; /* --metrics-addr HOST:PORT (metrics.h); NULL: none */
	const char *k8s_node;     /* --k8s-node NAME (k8s.h); NULL: NODE_NAME, host name */
	struct tw_pod_filter pods; /* --k8s-namespace, --k8s-selector */
	/* set at start by tw_podsel_prepare(): the mode, the kubepods cgroups
	 * and the cgroup levels their pods sit at (bit n: level n) */
	enum tw_pod_mode pod_mode;
	char pod_roots[TW_POD_ROOTS][TW_POD_ROOT_LEN];
	unsigned n_pod_roots;
	uint32_t pod_levels;

	int log_level;
	int log_format; /* --log-format: enum tw_log_format (log.h) */
	bool probe_only;
	bool help;
	bool version; /* --version */
};

/*
 * Parses the OTEL_* environment and then argv into cfg. Returns 0, or -EINVAL
 * after printing what is wrong to stderr (exit with TW_EXIT_USAGE). Resolves
 * --cgroup paths to ids, so a cgroup that does not exist is a usage error,
 * reported at start.
 */
int tw_config_parse(struct tw_config *cfg, int argc, char **argv);
void tw_config_usage(FILE *out);
/* getopt_long's table of every option, ended by a zeroed entry (README's
 * option tables and --help must name the same: tests/unit/test_config.c). */
struct option;
const struct option *tw_config_options(void);
/* "pid 12, cgroup /x, comm nginx" or "every process except tracewire" */
void tw_config_describe_selection(const struct tw_config *cfg, char *buf, size_t len);

/* "headers to 127.0.0.0/8, ... (default scope); ports any; sample ratio 1"
 * or "off (--propagation none); sample ratio 1". */
void tw_config_describe_propagation(const struct tw_config *cfg, char *buf, size_t len);

/*
 * The "prop_scope" LPM trie keys for cfg's scope (--propagate-to, else the
 * default scope): writes at most max keys to out and returns how many it
 * wrote. TW_MAX_SCOPE keys are always enough.
 */
size_t tw_scope_keys(const struct tw_config *cfg, struct tw_scope_key *out, size_t max);
/* The same for the "trust_from" trie: --trust-from, else the scope. */
size_t tw_trust_keys(const struct tw_config *cfg, struct tw_scope_key *out, size_t max);

/*
 * Sampling threshold for the kernel: a new root trace is sampled iff
 * bpf_get_prandom_u32() < threshold. ratio * 2^32 rounded to the nearest
 * integer, so 1 gives 2^32 (every u32 is below it: always) and 0 gives 0
 * (never); hence a u64. ratio outside [0, 1] is clamped.
 */
uint64_t tw_sample_threshold(double ratio);

#endif
