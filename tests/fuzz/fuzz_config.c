// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the command line and the OTEL_* environment
 * (injector/config*.c, correlator/export/otlp_config.c, correlator/util/kvlist.c,
 * correlator/util/parse.c): what a
 * DaemonSet manifest or a fleet-wide environment hands to tracewire.
 *
 * Input: NUL-separated strings. The first ones, up to an empty string, are
 * environment entries: "NAME=VALUE", or a first byte below 0x20 that picks
 * one of the variables tracewire reads (the rest is its value), so that
 * the fuzzer need not spell the names. The strings after the empty one are
 * argv[1..]. Each input starts from an empty environment, parses, and on
 * success runs what the daemon does next with the config (descriptions,
 * BPF scope keys, the sampling threshold) and checks its invariants.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "kvlist.h"
#include "log.h"
#include "otlp_config.h"

#include "fuzz_check.h"

#define MAX_ARGS 64

static const char *const known_vars[] = {
	"OTEL_EXPORTER_OTLP_ENDPOINT",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_HEADERS",
	"OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_EXPORTER_OTLP_COMPRESSION",
	"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
	"OTEL_EXPORTER_OTLP_TIMEOUT",
	"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
	"OTEL_EXPORTER_OTLP_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_BSP_SCHEDULE_DELAY",
	"OTEL_BSP_MAX_QUEUE_SIZE",
	"OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
	"OTEL_BSP_EXPORT_TIMEOUT",
	"OTEL_TRACES_EXPORTER",
	"OTEL_TRACES_SAMPLER",
	"OTEL_TRACES_SAMPLER_ARG",
};

static struct tw_config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	tw_log_set_level(TW_LOG_ERROR);
	return 0;
}

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void check_config(const struct tw_config *c)
{
	struct tw_scope_key keys[TW_MAX_SCOPE];
	char buf[8192];
	size_t n;
	uint64_t th;

	CHECK(c->n_pids <= TW_MAX_SELECTORS && c->n_cgroups <= TW_MAX_SELECTORS &&
	      c->n_comms <= TW_MAX_SELECTORS);
	for (size_t i = 0; i < c->n_comms; i++)
		CHECK(terminated(c->comms[i], TW_COMM_LEN) && c->comms[i][0]);
	CHECK(c->n_propagate_to <= TW_MAX_SCOPE && c->n_propagate_ports <= TW_MAX_SCOPE &&
	      c->n_trust_from <= TW_MAX_SCOPE);
	CHECK(c->n_tc_ifaces <= TW_MAX_IFACE_PATTERNS &&
	      c->n_tc_edge_ifaces <= TW_MAX_IFACE_PATTERNS);
	for (size_t i = 0; i < c->n_tc_ifaces; i++)
		CHECK(terminated(c->tc_ifaces[i], TW_IFACE_PATTERN_LEN));
	CHECK(c->sample_ratio >= 0.0 && c->sample_ratio <= 1.0);
	/* max_conns 0: the memory budget decides (injector/budget.c) */
	CHECK(c->trace_window_ms >= 1 && c->idle_timeout_ms >= 1 &&
	      (c->max_conns == 0 || c->max_conns >= 16));
	CHECK(!(c->exporters & ~(unsigned)(TW_EXPORT_CONSOLE | TW_EXPORT_OTLP)));
	CHECK(!(c->exporters & TW_EXPORT_OTLP) || c->otlp.url[0]);
	CHECK(!(c->exporters & TW_EXPORT_OTLP) || c->otlp.max_batch <= c->otlp.max_queue);

	/* the OTLP settings as the exporter takes them */
	CHECK(terminated(c->otlp.url, sizeof(c->otlp.url)));
	CHECK(!c->otlp.url[0] || !strncmp(c->otlp.url, "http://", 7) ||
	      !strncmp(c->otlp.url, "https://", 8));
	CHECK(c->otlp.n_headers <= TW_OTLP_MAX_HEADERS);
	for (size_t i = 0; i < c->otlp.n_headers; i++) {
		CHECK(terminated(c->otlp.headers[i], TW_OTLP_HEADER_MAX));
		CHECK(!strpbrk(c->otlp.headers[i], "\r\n")); /* no header injection */
		CHECK(strstr(c->otlp.headers[i], ": "));
	}
	CHECK(c->otlp.n_resource <= TW_OTLP_MAX_RESOURCE_ATTRS);
	for (size_t i = 0; i < c->otlp.n_resource; i++)
		CHECK(terminated(c->otlp.resource[i].key, TW_OTLP_RESOURCE_KEY_MAX) &&
		      terminated(c->otlp.resource[i].value, TW_OTLP_RESOURCE_VALUE_MAX));
	CHECK(c->otlp.timeout_ms >= 1 && c->otlp.schedule_delay_ms >= 1);
	CHECK(c->otlp.max_queue >= 1 && c->otlp.max_batch >= 1);

	tw_config_describe_selection(c, buf, sizeof(buf));
	CHECK(terminated(buf, sizeof(buf)));
	tw_config_describe_selection(c, buf, 7); /* cut short */
	CHECK(terminated(buf, 7));
	tw_config_describe_propagation(c, buf, sizeof(buf));
	CHECK(terminated(buf, sizeof(buf)));
	tw_config_describe_propagation(c, buf, 9);
	CHECK(terminated(buf, 9));
	n = tw_scope_keys(c, keys, TW_MAX_SCOPE);
	CHECK(n >= 1 && n <= TW_MAX_SCOPE);
	n = tw_trust_keys(c, keys, TW_MAX_SCOPE);
	CHECK(n >= 1 && n <= TW_MAX_SCOPE);
	th = tw_sample_threshold(c->sample_ratio);
	CHECK(th <= (1ull << 32));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *p, *end;
	char *argv[MAX_ARGS + 2] = { "tracewire" };
	char *owned[MAX_ARGS];
	int argc = 1, n_owned = 0;
	bool in_env = true;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	clearenv();
	for (p = buf, end = buf + size; p <= end; p += strlen(p) + 1) {
		if (in_env) {
			char *eq;

			/* putenv(), not setenv(): glibc keeps every string setenv()
			 * ever made, and the fuzzer makes millions */
			if (!*p) {
				in_env = false;
			} else if ((unsigned char)*p < 0x20 && n_owned < MAX_ARGS) {
				const char *name = known_vars[(unsigned char)*p %
							      (sizeof(known_vars) / sizeof(known_vars[0]))];
				char *e = malloc(strlen(name) + strlen(p + 1) + 2);

				CHECK(e);
				sprintf(e, "%s=%s", name, p + 1);
				owned[n_owned++] = e;
				putenv(e);
			} else if ((eq = strchr(p, '=')) && eq != p) {
				putenv(p);
			}
			continue;
		}
		if (argc < MAX_ARGS + 1)
			argv[argc++] = p;
	}
	argv[argc] = NULL;

	if (tw_config_parse(&cfg, argc, argv) == 0)
		check_config(&cfg);

	/* the value parsers on their own, on every string of the input */
	for (p = buf; p <= end; p += strlen(p) + 1) {
		uint64_t v;
		double r;
		struct tw_cgroup_sel sel;

		if (!tw_parse_u64(p, 0, UINT64_MAX, &v))
			CHECK(*p >= '0' && *p <= '9');
		if (!tw_parse_ratio(p, &r))
			CHECK(r >= 0.0 && r <= 1.0);
		if (*p == '/' && !strncmp(p, "/sys/fs/cgroup", 14))
			(void)tw_cgroup_resolve(p, &sel);
	}
	clearenv();
	for (int i = 0; i < n_owned; i++)
		free(owned[i]);
	free(buf);
	return 0;
}
