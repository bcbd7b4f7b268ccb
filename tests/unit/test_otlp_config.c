// SPDX-License-Identifier: BSD-2-Clause
/* OTLP settings from OTEL_* variables and flags: values land, bad ones are errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "kvlist.h"
#include "otlp_config.h"

/* A fake environment for tw_otlp_apply_env(). */
static const char *const *fake_env;

static char *fake_getenv(const char *name)
{
	size_t n = strlen(name);

	for (const char *const *e = fake_env; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return (char *)*e + n + 1;
	return NULL;
}

static struct tw_otlp_cfg fresh(void)
{
	struct tw_otlp_cfg c;

	tw_otlp_cfg_defaults(&c);
	return c;
}

static void endpoint_gets_v1_traces(void **state)
{
	struct tw_otlp_cfg c = fresh();

	(void)state;
	assert_string_equal(c.url, "");
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_ENDPOINT, "http://tempo:4318", "x"), 0);
	assert_string_equal(c.url, "http://tempo:4318/v1/traces");
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_ENDPOINT, "https://h/otlp/", "x"), 0);
	assert_string_equal(c.url, "https://h/otlp/v1/traces");
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_TRACES_ENDPOINT, "http://h:1/custom", "x"), 0);
	assert_string_equal(c.url, "http://h:1/custom");
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_ENDPOINT, "tempo:4318", "x"), -EINVAL);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_ENDPOINT, "ftp://h", "x"), -EINVAL);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_ENDPOINT, "http://", "x"), -EINVAL);
}

static void headers_are_decoded_and_checked(void **state)
{
	struct tw_otlp_cfg c = fresh();

	(void)state;
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_HEADERS,
				       "Authorization=Basic%20dXNlcjpwYXNz , X-Scope-OrgID=team-a,", "x"),
			 0);
	assert_int_equal(c.n_headers, 2);
	assert_string_equal(c.headers[0], "Authorization: Basic dXNlcjpwYXNz");
	assert_string_equal(c.headers[1], "X-Scope-OrgID: team-a");
	/* --otlp-header adds; a HEADERS list replaces */
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_HEADER, "X-Extra=1", "x"), 0);
	assert_int_equal(c.n_headers, 3);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_HEADERS, "A=b", "x"), 0);
	assert_int_equal(c.n_headers, 1);
	/* no header injection, no invalid names, no items without '=' */
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_HEADER, "X-A=1%0d%0aHost: evil", "x"), -EINVAL);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_HEADER, "Bad Name=1", "x"), -EINVAL);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_HEADER, "novalue", "x"), -EINVAL);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_HEADERS, "A=b,oops", "x"), -EINVAL);
}

static void scalars_and_bounds(void **state)
{
	struct tw_otlp_cfg c = fresh();

	(void)state;
	assert_false(c.gzip);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_COMPRESSION, "gzip", "x"), 0);
	assert_true(c.gzip);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_COMPRESSION, "none", "x"), 0);
	assert_false(c.gzip);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_COMPRESSION, "zstd", "x"), -EINVAL);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_TIMEOUT, "2500", "x"), 0);
	assert_int_equal(c.timeout_ms, 2500);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_TIMEOUT, "0", "x"), -EINVAL);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_TIMEOUT, "10s", "x"), -EINVAL);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_PROTOCOL, "http/protobuf", "x"), 0);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_PROTOCOL, "grpc", "x"), -EINVAL);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_CERTIFICATE, "/nonexistent/ca.pem", "x"), -EINVAL);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_MAX_QUEUE_SIZE, "100", "x"), 0);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_MAX_EXPORT_BATCH_SIZE, "200", "x"), 0);
	assert_int_equal(tw_otlp_check(&c), -EINVAL); /* batch larger than the queue */
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_MAX_EXPORT_BATCH_SIZE, "100", "x"), 0);
	assert_int_equal(tw_otlp_check(&c), 0);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_MAX_QUEUE_SIZE, "-1", "x"), -EINVAL);
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_SCHEDULE_DELAY, "250", "x"), 0);
	assert_int_equal(c.schedule_delay_ms, 250);
}

static void resource_attributes_merge(void **state)
{
	struct tw_otlp_cfg c = fresh();

	(void)state;
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_RESOURCE_ATTRIBUTES,
				       "deployment.environment=prod,k8s.cluster.name=eu%2C1", "x"),
			 0);
	assert_int_equal(c.n_resource, 2);
	assert_string_equal(c.resource[1].key, "k8s.cluster.name");
	assert_string_equal(c.resource[1].value, "eu,1");
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_RESOURCE_ATTRIBUTES, "deployment.environment=dev", "x"), 0);
	assert_int_equal(c.n_resource, 2);
	assert_string_equal(c.resource[0].value, "dev");
	assert_int_equal(tw_otlp_apply(&c, TW_OTLP_RESOURCE_ATTRIBUTES, "=x", "x"), -EINVAL);
}

static void env_per_signal_wins(void **state)
{
	static const char *const env[] = {
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://tempo:4318/v1/traces",
		"OTEL_EXPORTER_OTLP_COMPRESSION=gzip",
		"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=none",
		"OTEL_EXPORTER_OTLP_HEADERS=A=1",
		"OTEL_BSP_SCHEDULE_DELAY=",  /* empty: as if unset */
		"OTEL_BSP_MAX_QUEUE_SIZE=4096",
		NULL,
	};
	static const char *const bad_env[] = { "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=lots", NULL };
	struct tw_otlp_cfg c = fresh();

	(void)state;
	fake_env = env;
	assert_int_equal(tw_otlp_apply_env(&c, fake_getenv), 0);
	assert_string_equal(c.url, "http://tempo:4318/v1/traces");
	assert_false(c.gzip);
	assert_int_equal(c.n_headers, 1);
	assert_int_equal(c.schedule_delay_ms, 5000);
	assert_int_equal(c.max_queue, 4096);
	fake_env = bad_env;
	assert_int_equal(tw_otlp_apply_env(&c, fake_getenv), -EINVAL);
	fake_env = NULL;
}

#define PARSE(cfg, ...)                                                        \
	({                                                                     \
		char *argv[] = { "tracewire", __VA_ARGS__, NULL };             \
		tw_config_parse(cfg, sizeof(argv) / sizeof(argv[0]) - 1, argv); \
	})

static void exporter_defaults_follow_the_endpoint(void **state)
{
	struct tw_config *cfg = malloc(sizeof(*cfg));

	(void)state;
	assert_non_null(cfg);
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	unsetenv("OTEL_TRACES_EXPORTER");
	assert_int_equal(PARSE(cfg, "--log-level", "info"), 0);
	assert_int_equal(cfg->exporters, TW_EXPORT_CONSOLE);
	assert_int_equal(PARSE(cfg, "--otlp-endpoint", "http://tempo:4318"), 0);
	assert_int_equal(cfg->exporters, TW_EXPORT_OTLP);
	assert_int_equal(PARSE(cfg, "--otlp-endpoint", "http://t:4318", "-e", "otlp,console"), 0);
	assert_int_equal(cfg->exporters, TW_EXPORT_OTLP | TW_EXPORT_CONSOLE);
	assert_int_not_equal(PARSE(cfg, "--exporter", "otlp"), 0);
	assert_int_not_equal(PARSE(cfg, "--otlp-endpoint", "http://t", "--bsp-max-queue-size", "10",
				   "--bsp-max-export-batch-size", "20"),
			     0);
	assert_int_not_equal(PARSE(cfg, "--otlp-compression", "brotli"), 0);

	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318", 1);
	assert_int_equal(PARSE(cfg, "--pid", "1"), 0);
	assert_int_equal(cfg->exporters, TW_EXPORT_OTLP);
	assert_string_equal(cfg->otlp.url, "http://env:4318/v1/traces");
	/* a flag overrides its variable */
	assert_int_equal(PARSE(cfg, "--otlp-endpoint", "http://flag:4318"), 0);
	assert_string_equal(cfg->otlp.url, "http://flag:4318/v1/traces");
	setenv("OTEL_TRACES_EXPORTER", "console", 1);
	assert_int_equal(PARSE(cfg, "--pid", "1"), 0);
	assert_int_equal(cfg->exporters, TW_EXPORT_CONSOLE);
	setenv("OTEL_TRACES_EXPORTER", "zipkin", 1);
	assert_int_not_equal(PARSE(cfg, "--pid", "1"), 0);
	unsetenv("OTEL_TRACES_EXPORTER");
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "not-a-url", 1);
	assert_int_not_equal(PARSE(cfg, "--pid", "1"), 0);
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	free(cfg);
}

/*
 * An invalid OTEL_* variable that the command line overrides is a warning,
 * not a reason to refuse to start: the daemon would use the flag's value
 * anyway. (Before, tw_config_parse() gave up on the variable before it had
 * read argv.) One that nothing overrides still stops it.
 */
static void bad_env_overridden_by_flag_warns(void **state)
{
	static const char *const vars[] = {
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_TRACES_EXPORTER",
		"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_RESOURCE_ATTRIBUTES",
	};
	struct tw_config *cfg = malloc(sizeof(*cfg));

	(void)state;
	assert_non_null(cfg);
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);

	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "tempo:4318", 1); /* no scheme */
	assert_int_equal(PARSE(cfg, "--pid", "1"), -EINVAL);
	assert_int_equal(PARSE(cfg, "--otlp-endpoint", "http://flag:4318"), 0);
	assert_string_equal(cfg->otlp.url, "http://flag:4318/v1/traces");
	assert_int_equal(cfg->exporters, TW_EXPORT_OTLP);
	assert_int_equal(PARSE(cfg, "--otlp-traces-endpoint", "http://flag:4318/t"), 0);
	assert_string_equal(cfg->otlp.url, "http://flag:4318/t");
	/* a valid per-signal variable overrides its generic form too */
	setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://env:4318/t", 1);
	assert_int_equal(PARSE(cfg, "--pid", "1"), 0);
	assert_string_equal(cfg->otlp.url, "http://env:4318/t");
	unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");

	/* a bad variable leaves nothing behind: no half-applied header list */
	setenv("OTEL_EXPORTER_OTLP_HEADERS", "good=1,bad header=2", 1);
	assert_int_equal(PARSE(cfg, "--pid", "1"), -EINVAL);
	assert_int_equal(PARSE(cfg, "--otlp-header", "x=1"), 0);
	assert_int_equal(cfg->otlp.n_headers, 1);
	assert_string_equal(cfg->otlp.headers[0], "x: 1");
	unsetenv("OTEL_EXPORTER_OTLP_HEADERS");

	setenv("OTEL_BSP_MAX_QUEUE_SIZE", "lots", 1);
	assert_int_equal(PARSE(cfg, "--pid", "1"), -EINVAL);
	/* another flag does not override it */
	assert_int_equal(PARSE(cfg, "--bsp-max-export-batch-size", "10"), -EINVAL);
	assert_int_equal(PARSE(cfg, "--bsp-max-queue-size", "100"), 0);
	assert_int_equal(cfg->otlp.max_queue, 100);
	unsetenv("OTEL_BSP_MAX_QUEUE_SIZE");

	setenv("OTEL_RESOURCE_ATTRIBUTES", "a=1,noequals", 1);
	assert_int_equal(PARSE(cfg, "--pid", "1"), -EINVAL);
	assert_int_equal(PARSE(cfg, "--resource-attributes", "b=2"), 0);
	assert_int_equal(cfg->otlp.n_resource, 1);
	assert_string_equal(cfg->otlp.resource[0].key, "b");
	unsetenv("OTEL_RESOURCE_ATTRIBUTES");

	setenv("OTEL_TRACES_EXPORTER", "zipkin", 1);
	assert_int_equal(PARSE(cfg, "--pid", "1"), -EINVAL);
	assert_int_equal(PARSE(cfg, "--exporter", "console"), 0);
	assert_int_equal(cfg->exporters, TW_EXPORT_CONSOLE);
	unsetenv("OTEL_TRACES_EXPORTER");

	setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli", 1);
	setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip", 1);
	assert_int_equal(PARSE(cfg, "--pid", "1"), 0);
	assert_true(cfg->otlp.gzip);
	setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd", 1);
	assert_int_equal(PARSE(cfg, "--pid", "1"), -EINVAL);
	assert_int_equal(PARSE(cfg, "--otlp-compression", "none"), 0);
	assert_false(cfg->otlp.gzip);
	unsetenv("OTEL_EXPORTER_OTLP_COMPRESSION");
	unsetenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION");

	/* no flag sets the protocol: nothing overrides it */
	setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1);
	assert_int_equal(PARSE(cfg, "--otlp-endpoint", "http://flag:4318"), -EINVAL);
	unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
	free(cfg);
}

static void env_deferred_keeps_cfg(void **state)
{
	static const char *const env[] = {
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://ok:4318",
		"OTEL_EXPORTER_OTLP_HEADERS=A=1",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS=A=1,B C=2",
		"OTEL_BSP_MAX_QUEUE_SIZE=0",
		NULL,
	};
	struct tw_otlp_env_errors errs;
	struct tw_otlp_cfg c = fresh();

	(void)state;
	fake_env = env;
	assert_int_equal(tw_otlp_apply_env_deferred(&c, fake_getenv, &errs), 0);
	assert_string_equal(c.url, "http://ok:4318/v1/traces");
	assert_int_equal(c.n_headers, 1); /* from the generic variable */
	assert_int_equal(c.max_queue, 2048);
	assert_int_equal(errs.n, 2);
	assert_string_equal(errs.e[0].name, "OTEL_EXPORTER_OTLP_TRACES_HEADERS");
	assert_int_equal(errs.e[0].what, TW_OTLP_HEADERS);
	assert_null(errs.e[0].superseded);
	assert_non_null(strstr(errs.e[0].msg, "'B C' is not a valid HTTP header"));
	assert_string_equal(errs.e[1].name, "OTEL_BSP_MAX_QUEUE_SIZE");
	assert_string_equal(errs.e[1].msg,
			    "OTEL_BSP_MAX_QUEUE_SIZE: expected a number of spans from 1 to 1048576, got '0'");
	fake_env = NULL;
}

struct kv_seen {
	char keys[4][32];
	char values[4][64];
	int n;
};

static int collect(void *ctx, const char *key, size_t key_len, const char *value)
{
	struct kv_seen *s = ctx;

	if (s->n == 4)
		return 7;
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%.*s", (int)key_len, key);
	snprintf(s->values[s->n], sizeof(s->values[0]), "%s", value);
	s->n++;
	return 0;
}

static void kvlist_edges(void **state)
{
	struct kv_seen s = { 0 };
	const char *l = " a = 1 ,,b=%41%zz%4,=skipped,c,d=";

	(void)state;
	assert_int_equal(tw_kvlist_parse(l, strlen(l), collect, &s), -EINVAL);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.keys[0], "a");
	assert_string_equal(s.values[0], "1");
	assert_string_equal(s.values[1], "A%zz%4"); /* bad escapes stay as they are */
	assert_string_equal(s.keys[2], "d");
	assert_string_equal(s.values[2], "");
	memset(&s, 0, sizeof(s));
	l = "a=1,b=2,c=3,d=4,e=5";
	assert_int_equal(tw_kvlist_parse(l, strlen(l), collect, &s), 7); /* the callback stopped it */
	assert_int_equal(tw_kvlist_parse("", 0, collect, &s), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(endpoint_gets_v1_traces),
		cmocka_unit_test(headers_are_decoded_and_checked),
		cmocka_unit_test(scalars_and_bounds),
		cmocka_unit_test(resource_attributes_merge),
		cmocka_unit_test(env_per_signal_wins),
		cmocka_unit_test(env_deferred_keeps_cfg),
		cmocka_unit_test(bad_env_overridden_by_flag_warns),
		cmocka_unit_test(exporter_defaults_follow_the_endpoint),
		cmocka_unit_test(kvlist_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
