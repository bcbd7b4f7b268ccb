/* SPDX-License-Identifier: BSD-2-Clause */
/* Shared by the files of the command-line configuration (config.h) only. */
#ifndef TW_CONFIG_INT_H
#define TW_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "otlp_config.h"

/* "tracewire: <message>" and "Try 'tracewire --help'." on stderr; returns
 * -EINVAL. */
__attribute__((format(printf, 1, 2)))
int tw_usage_error(const char *fmt, ...);

/* ---- config.c ---- */
/* --exporter LIST (or OTEL_TRACES_EXPORTER) into cfg->exporters: 0 or
 * -EINVAL. */
int tw_config_add_exporters(struct tw_config *cfg, const char *list);
/* The command-line flag (its name without "--") that sets what an
 * environment variable would, and so overrides it, or NULL when none was
 * given. */
const char *tw_config_flag_overriding(const struct tw_config *cfg, enum tw_otlp_setting env);

/* ---- config_propagation.c: the option values; 0 or -EINVAL (printed) ---- */
/* --propagation LIST into *out (enum tw_propagation) */
int tw_config_parse_propagation(const char *list, unsigned *out);
/* --propagate-to / --trust-from (opt) network into list[*n] */
int tw_config_add_cidr(const char *opt, struct tw_cidr *list, size_t *n, const char *arg);
/* --tc-iface / --tc-edge-iface (opt) pattern into list[*n] */
int tw_config_add_iface_pattern(const char *opt, char (*list)[TW_IFACE_PATTERN_LEN], size_t *n,
				const char *arg);

/* ---- config_env.c ---- */
/* The OTEL_* environment: read before the command line, judged after it,
 * since a flag overrides a variable and then a bad one costs a warning. */
struct tw_config_env {
	struct tw_otlp_env_errors errs; /* invalid variables, not applied */
	const char *exporters;          /* OTEL_TRACES_EXPORTER when invalid */
	bool exporters_bad;
};

/* The variables into cfg (its defaults set): 0, or -ENOMEM (printed). */
int tw_config_env_read(struct tw_config *cfg, struct tw_config_env *env);
/* After the command line: invalid variables it does not override stop
 * tracewire; then the sampler variables, unless --sample-ratio was given.
 * 0 or -EINVAL (printed). */
int tw_config_env_verdict(struct tw_config *cfg, const struct tw_config_env *env);

#endif
