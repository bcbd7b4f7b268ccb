/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * OTLP exporter settings from the standard OpenTelemetry environment
 * variables and from tracewire's command line (which wins).
 *
 * Environment, generic then per-signal (the TRACES_ one wins):
 *   OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT     base URL (+ "/v1/traces"); the
 *                                            TRACES_ form is used as it is
 *   OTEL_EXPORTER_OTLP_[TRACES_]HEADERS      k=v,k2=v2 (values percent-encoded)
 *   OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION  gzip | none
 *   OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT      ms
 *   OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE  CA file (PEM) for https
 *   OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL     only http/protobuf is supported
 *   OTEL_RESOURCE_ATTRIBUTES                 k=v,... added to every Resource
 *   OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE,
 *   OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_EXPORT_TIMEOUT (exit flush bound)
 */
#ifndef TW_OTLP_CONFIG_H
#define TW_OTLP_CONFIG_H

#include "export_otlp.h"

enum tw_otlp_setting {
	TW_OTLP_ENDPOINT,        /* base URL: "/v1/traces" is appended */
	TW_OTLP_TRACES_ENDPOINT, /* full URL */
	TW_OTLP_HEADERS,         /* k=v list: replaces the headers set so far */
	TW_OTLP_HEADER,          /* one k=v: added (the CLI's repeatable --otlp-header) */
	TW_OTLP_COMPRESSION,
	TW_OTLP_TIMEOUT,
	TW_OTLP_CERTIFICATE,
	TW_OTLP_PROTOCOL,
	TW_OTLP_RESOURCE_ATTRIBUTES,
	TW_OTLP_SCHEDULE_DELAY,
	TW_OTLP_MAX_QUEUE_SIZE,
	TW_OTLP_MAX_EXPORT_BATCH_SIZE,
	TW_OTLP_EXPORT_TIMEOUT,
};

/*
 * Applies one setting. `source` names where it came from (an environment
 * variable or a --flag) for the message printed to stderr when the value is
 * invalid. Returns 0 or -EINVAL.
 */
int tw_otlp_apply(struct tw_otlp_cfg *cfg, enum tw_otlp_setting what, const char *value,
		  const char *source);

/* Applies every OTEL_* variable that is set and not empty, generic before
 * per-signal. getenv_fn is getenv in the daemon (tests pass their own).
 * Returns 0 or -EINVAL (the message is printed). */
int tw_otlp_apply_env(struct tw_otlp_cfg *cfg, char *(*getenv_fn)(const char *));

#define TW_OTLP_ENV_VARS 17 /* variables tw_otlp_apply_env() reads */

/* An OTEL_* variable whose value was invalid: not applied, not yet reported. */
struct tw_otlp_env_error {
	const char *name;          /* the variable */
	enum tw_otlp_setting what;
	size_t index;              /* private */
	const char *superseded;    /* a valid per-signal variable replaced it, or NULL */
	char msg[320];             /* what is wrong: "NAME: expected ..., got '...'" */
};

struct tw_otlp_env_errors {
	struct tw_otlp_env_error e[TW_OTLP_ENV_VARS];
	size_t n;
};

/*
 * tw_otlp_apply_env() for a caller that knows more later (the command line,
 * which overrides the environment): an invalid variable leaves cfg as it was
 * and is described in errs instead of printed, so that it can be a warning
 * when a flag sets the same thing and an error otherwise. 0 or -ENOMEM.
 */
int tw_otlp_apply_env_deferred(struct tw_otlp_cfg *cfg, char *(*getenv_fn)(const char *),
			       struct tw_otlp_env_errors *errs);

/* After all settings: batch size <= queue size etc. 0 or -EINVAL (printed). */
int tw_otlp_check(const struct tw_otlp_cfg *cfg);

#endif
