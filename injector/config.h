/* SPDX-License-Identifier: BSD-2-Clause */
/* Command-line configuration of the daemon. */
#ifndef TW_CONFIG_H
#define TW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "export_otlp.h"
#include "tracewire_event.h"

#define TW_MAX_SELECTORS 64

enum tw_exit {
	TW_EXIT_OK = 0,
	TW_EXIT_FAILURE = 1, /* could not start or run (privileges, kernel, files) */
	TW_EXIT_USAGE = 2,   /* bad command line */
};

enum tw_exporter_mask {
	TW_EXPORT_CONSOLE = 1u << 0,
	TW_EXPORT_OTLP = 1u << 1,
};

struct tw_cgroup_sel {
	char path[256];
	uint64_t id;    /* cgroup v2 id (kernfs inode) */
	uint32_t level; /* depth below the cgroup2 root */
};

struct tw_config {
	uint32_t pids[TW_MAX_SELECTORS];
	size_t n_pids;
	struct tw_cgroup_sel cgroups[TW_MAX_SELECTORS];
	size_t n_cgroups;
	char comms[TW_MAX_SELECTORS][TW_COMM_LEN];
	size_t n_comms;

	unsigned exporters;      /* enum tw_exporter_mask; default: otlp with an endpoint, else console */
	bool exporters_given;    /* by --exporter or OTEL_TRACES_EXPORTER */
	struct tw_otlp_cfg otlp; /* OTEL_* environment, then --otlp-* / --bsp-* options */
	const char *jsonl_path;  /* NULL: no JSON lines */
	uint64_t trace_window_ms;
	uint64_t idle_timeout_ms;
	uint64_t max_conns;
	uint64_t stats_interval_s;
	int log_level;
	bool probe_only;
	bool help;
};

/*
 * Parses the OTEL_* environment and then argv into cfg. Returns 0, or -EINVAL
 * after printing what is wrong to stderr (exit with TW_EXIT_USAGE). Resolves
 * --cgroup paths to ids, so a cgroup that does not exist is a usage error,
 * reported at start.
 */
int tw_config_parse(struct tw_config *cfg, int argc, char **argv);
void tw_config_usage(FILE *out);
/* "pid 12, cgroup /x, comm nginx" or "every process except tracewire" */
void tw_config_describe_selection(const struct tw_config *cfg, char *buf, size_t len);

/* Whole-string unsigned decimal in [min, max]: 0 or -EINVAL. */
int tw_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Resolve a cgroup v2 directory; exposed for tests. 0 or negative errno. */
int tw_cgroup_resolve(const char *path, struct tw_cgroup_sel *out);

#endif
