// SPDX-License-Identifier: BSD-2-Clause
/*
 * The OpenTelemetry environment variables tracewire reads (config_int.h):
 * the OTLP exporter's (otlp_config.c), OTEL_TRACES_EXPORTER and the sampler.
 * A variable's flag overrides it, so what is wrong with a variable is
 * judged once the command line is known.
 */
#include "config_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int tw_config_env_read(struct tw_config *cfg, struct tw_config_env *env)
{
	const char *exporters;

	/* Invalid variables are judged after argv: tw_config_env_verdict() */
	if (tw_otlp_apply_env_deferred(&cfg->otlp, getenv, &env->errs)) {
		fprintf(stderr, "tracewire: out of memory\n");
		return -ENOMEM;
	}
	env->exporters = NULL;
	env->exporters_bad = false;
	exporters = getenv("OTEL_TRACES_EXPORTER");
	if (exporters && *exporters) {
		if (tw_config_add_exporters(cfg, exporters)) {
			cfg->exporters = TW_EXPORT_CONSOLE;
			env->exporters = exporters;
			env->exporters_bad = true;
		} else {
			cfg->exporters_given = true;
		}
	}
	return 0;
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
		return tw_usage_error("OTEL_TRACES_SAMPLER_ARG: expected a decimal from 0 to 1 (e.g. 0.25), got '%s'",
				      arg);
	cfg->sample_ratio_given = true;
	return 0;
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
		const char *flag = tw_config_flag_overriding(cfg, e->what);

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

int tw_config_env_verdict(struct tw_config *cfg, const struct tw_config_env *env)
{
	if (env->exporters_bad) {
		if (!cfg->exporters_cli)
			return tw_usage_error("OTEL_TRACES_EXPORTER: expected a comma-separated list of otlp, console, none; got '%s'",
					      env->exporters);
		log_warn("OTEL_TRACES_EXPORTER: expected a comma-separated list of otlp, console, none, got '%s'; ignored: --exporter overrides it",
			 env->exporters);
	}
	if (env_errors_verdict(cfg, &env->errs))
		return -EINVAL;
	/* After argv: --sample-ratio wins, and a bad variable the command
	 * line overrides does not stop tracewire. */
	if (!cfg->sample_ratio_given && sampler_from_env(cfg))
		return -EINVAL;
	return 0;
}
