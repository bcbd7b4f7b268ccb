// SPDX-License-Identifier: BSD-2-Clause
#include "otlp_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kvlist.h"
#include "parse.h"

#define MAX_QUEUE_LIMIT (1u << 20)

/* Where a complaint about a value goes: stderr, or (msg != NULL) a buffer
 * for a caller that decides later whether it is an error. */
struct report {
	char *msg;
	size_t size;
};

__attribute__((format(printf, 2, 3)))
static int complain(struct report *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (r->msg) {
		if (!r->msg[0]) /* the first complaint says what went wrong */
			vsnprintf(r->msg, r->size, fmt, ap);
	} else {
		fputs("tracewire: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
	return -EINVAL;
}

#define bad(source, value, expected) \
	complain(r, "%s: expected %s, got '%s'", (source), (expected), (value))

static bool is_http_url(const char *s)
{
	return (!strncmp(s, "http://", 7) && s[7]) || (!strncmp(s, "https://", 8) && s[8]);
}

static int set_url(struct tw_otlp_cfg *cfg, const char *value, bool append, const char *source,
		   struct report *r)
{
	size_t len = strlen(value);
	int n;

	if (!is_http_url(value))
		return bad(source, value, "an http:// or https:// URL");
	/* The spec appends "v1/traces" to the base URL's path, slash-separated. */
	if (append)
		n = snprintf(cfg->url, sizeof(cfg->url), "%s%sv1/traces", value,
			     len && value[len - 1] == '/' ? "" : "/");
	else
		n = snprintf(cfg->url, sizeof(cfg->url), "%s", value);
	if (n < 0 || (size_t)n >= sizeof(cfg->url))
		return bad(source, value, "a URL shorter than 2000 bytes");
	return 0;
}

/* HTTP field name: RFC 9110 token characters. */
static bool is_token(const char *s, size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", c)))
			return false;
	}
	return true;
}

struct kv_ctx {
	struct tw_otlp_cfg *cfg;
	const char *source;
	struct report *r;
	int err;
};

static int add_header(void *ctx, const char *key, size_t key_len, const char *value)
{
	struct kv_ctx *k = ctx;
	struct tw_otlp_cfg *cfg = k->cfg;
	int n;

	if (!is_token(key, key_len) || strpbrk(value, "\r\n"))
		return k->err = complain(k->r, "%s: '%.*s' is not a valid HTTP header", k->source,
					 (int)key_len, key);
	if (cfg->n_headers == TW_OTLP_MAX_HEADERS)
		return k->err = complain(k->r, "%s: more than %d headers", k->source,
					 TW_OTLP_MAX_HEADERS);
	n = snprintf(cfg->headers[cfg->n_headers], TW_OTLP_HEADER_MAX, "%.*s: %s", (int)key_len, key,
		     value);
	if (n < 0 || n >= TW_OTLP_HEADER_MAX)
		return k->err = complain(k->r, "%s: header %.*s is longer than %d bytes", k->source,
					 (int)key_len, key, TW_OTLP_HEADER_MAX - 1);
	cfg->n_headers++;
	return 0;
}

static int add_resource(void *ctx, const char *key, size_t key_len, const char *value)
{
	struct kv_ctx *k = ctx;
	struct tw_otlp_cfg *cfg = k->cfg;
	struct tw_otlp_kv *kv;

	if (key_len >= TW_OTLP_RESOURCE_KEY_MAX || strlen(value) >= TW_OTLP_RESOURCE_VALUE_MAX)
		return k->err = complain(k->r, "%s: %.*s: key or value too long (%d/%d bytes at most)",
					 k->source, (int)key_len, key, TW_OTLP_RESOURCE_KEY_MAX - 1,
					 TW_OTLP_RESOURCE_VALUE_MAX - 1);
	for (size_t i = 0; i < cfg->n_resource; i++) {
		if (strlen(cfg->resource[i].key) == key_len && !memcmp(cfg->resource[i].key, key, key_len)) {
			snprintf(cfg->resource[i].value, TW_OTLP_RESOURCE_VALUE_MAX, "%s", value);
			return 0;
		}
	}
	if (cfg->n_resource == TW_OTLP_MAX_RESOURCE_ATTRS)
		return k->err = complain(k->r, "%s: more than %d attributes", k->source,
					 TW_OTLP_MAX_RESOURCE_ATTRS);
	kv = &cfg->resource[cfg->n_resource++];
	snprintf(kv->key, sizeof(kv->key), "%.*s", (int)key_len, key);
	snprintf(kv->value, sizeof(kv->value), "%s", value);
	return 0;
}

static int apply_list(struct tw_otlp_cfg *cfg, const char *value, const char *source, tw_kv_fn fn,
		      struct report *r)
{
	struct kv_ctx k = { .cfg = cfg, .source = source, .r = r };
	int rc = tw_kvlist_parse(value, strlen(value), fn, &k);

	if (k.err)
		return k.err;
	if (rc)
		return bad(source, value, "a list of key=value pairs separated by commas");
	return 0;
}

static int apply(struct tw_otlp_cfg *cfg, enum tw_otlp_setting what, const char *value,
		 const char *source, struct report *r)
{
	uint64_t v;

	switch (what) {
	case TW_OTLP_ENDPOINT:
		return set_url(cfg, value, true, source, r);
	case TW_OTLP_TRACES_ENDPOINT:
		return set_url(cfg, value, false, source, r);
	case TW_OTLP_HEADERS:
		cfg->n_headers = 0;
		return apply_list(cfg, value, source, add_header, r);
	case TW_OTLP_HEADER:
		if (!strchr(value, '='))
			return bad(source, value, "NAME=VALUE");
		return apply_list(cfg, value, source, add_header, r);
	case TW_OTLP_COMPRESSION:
		if (!strcmp(value, "gzip"))
			cfg->gzip = true;
		else if (!strcmp(value, "none"))
			cfg->gzip = false;
		else
			return bad(source, value, "gzip or none");
		return 0;
	case TW_OTLP_TIMEOUT:
		if (tw_parse_u64(value, 1, 600000, &cfg->timeout_ms))
			return bad(source, value, "milliseconds from 1 to 600000");
		return 0;
	case TW_OTLP_CERTIFICATE:
		if (access(value, R_OK))
			return bad(source, value, "a readable CA certificate file (PEM)");
		if (strlen(value) >= sizeof(cfg->ca_file))
			return bad(source, value, "a shorter path");
		strcpy(cfg->ca_file, value);
		return 0;
	case TW_OTLP_PROTOCOL:
		if (strcmp(value, "http/protobuf"))
			return bad(source, value, "http/protobuf (the only OTLP protocol tracewire sends)");
		return 0;
	case TW_OTLP_RESOURCE_ATTRIBUTES:
		return apply_list(cfg, value, source, add_resource, r);
	case TW_OTLP_SCHEDULE_DELAY:
		if (tw_parse_u64(value, 1, 3600000, &cfg->schedule_delay_ms))
			return bad(source, value, "milliseconds from 1 to 3600000");
		return 0;
	case TW_OTLP_MAX_QUEUE_SIZE:
		if (tw_parse_u64(value, 1, MAX_QUEUE_LIMIT, &v))
			return bad(source, value, "a number of spans from 1 to 1048576");
		cfg->max_queue = v;
		return 0;
	case TW_OTLP_MAX_EXPORT_BATCH_SIZE:
		if (tw_parse_u64(value, 1, MAX_QUEUE_LIMIT, &v))
			return bad(source, value, "a number of spans from 1 to 1048576");
		cfg->max_batch = v;
		return 0;
	case TW_OTLP_EXPORT_TIMEOUT:
		if (tw_parse_u64(value, 1, 600000, &cfg->shutdown_ms))
			return bad(source, value, "milliseconds from 1 to 600000");
		return 0;
	}
	return -EINVAL;
}

int tw_otlp_apply(struct tw_otlp_cfg *cfg, enum tw_otlp_setting what, const char *value,
		  const char *source)
{
	struct report to_stderr = { 0 };

	return apply(cfg, what, value, source, &to_stderr);
}

static const struct {
	const char *name;
	enum tw_otlp_setting what;
} env_vars[] = {
		{ "OTEL_EXPORTER_OTLP_ENDPOINT", TW_OTLP_ENDPOINT },
		{ "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", TW_OTLP_TRACES_ENDPOINT },
		{ "OTEL_EXPORTER_OTLP_HEADERS", TW_OTLP_HEADERS },
		{ "OTEL_EXPORTER_OTLP_TRACES_HEADERS", TW_OTLP_HEADERS },
		{ "OTEL_EXPORTER_OTLP_COMPRESSION", TW_OTLP_COMPRESSION },
		{ "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", TW_OTLP_COMPRESSION },
		{ "OTEL_EXPORTER_OTLP_TIMEOUT", TW_OTLP_TIMEOUT },
		{ "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", TW_OTLP_TIMEOUT },
		{ "OTEL_EXPORTER_OTLP_CERTIFICATE", TW_OTLP_CERTIFICATE },
		{ "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", TW_OTLP_CERTIFICATE },
		{ "OTEL_EXPORTER_OTLP_PROTOCOL", TW_OTLP_PROTOCOL },
		{ "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", TW_OTLP_PROTOCOL },
		{ "OTEL_RESOURCE_ATTRIBUTES", TW_OTLP_RESOURCE_ATTRIBUTES },
		{ "OTEL_BSP_SCHEDULE_DELAY", TW_OTLP_SCHEDULE_DELAY },
		{ "OTEL_BSP_MAX_QUEUE_SIZE", TW_OTLP_MAX_QUEUE_SIZE },
		{ "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", TW_OTLP_MAX_EXPORT_BATCH_SIZE },
		{ "OTEL_BSP_EXPORT_TIMEOUT", TW_OTLP_EXPORT_TIMEOUT },
};

_Static_assert(sizeof(env_vars) / sizeof(env_vars[0]) == TW_OTLP_ENV_VARS, "TW_OTLP_ENV_VARS");

int tw_otlp_apply_env(struct tw_otlp_cfg *cfg, char *(*getenv_fn)(const char *))
{
	for (size_t i = 0; i < TW_OTLP_ENV_VARS; i++) {
		const char *v = getenv_fn(env_vars[i].name);

		if (v && *v && tw_otlp_apply(cfg, env_vars[i].what, v, env_vars[i].name))
			return -EINVAL;
	}
	return 0;
}

/* The per-signal variable (OTEL_EXPORTER_OTLP_TRACES_*) is the next one in
 * env_vars after its generic form, and replaces what that one set. */
static bool per_signal_of(size_t generic, size_t i)
{
	return i == generic + 1 && !strncmp(env_vars[generic].name, "OTEL_EXPORTER_OTLP_", 19) &&
	       !strncmp(env_vars[i].name, "OTEL_EXPORTER_OTLP_TRACES_", 26);
}

int tw_otlp_apply_env_deferred(struct tw_otlp_cfg *cfg, char *(*getenv_fn)(const char *),
			       struct tw_otlp_env_errors *errs)
{
	struct tw_otlp_cfg *before = malloc(sizeof(*before));

	errs->n = 0;
	if (!before)
		return -ENOMEM;
	for (size_t i = 0; i < TW_OTLP_ENV_VARS; i++) {
		const char *v = getenv_fn(env_vars[i].name);
		struct tw_otlp_env_error *e = &errs->e[errs->n];
		struct report r = { .msg = e->msg, .size = sizeof(e->msg) };

		if (!v || !*v)
			continue;
		memcpy(before, cfg, sizeof(*cfg));
		e->msg[0] = '\0';
		if (!apply(cfg, env_vars[i].what, v, env_vars[i].name, &r)) {
			/* a valid per-signal variable replaces its generic form,
			 * whatever was wrong with that one */
			if (errs->n && per_signal_of(errs->e[errs->n - 1].index, i))
				errs->e[errs->n - 1].superseded = env_vars[i].name;
			continue;
		}
		memcpy(cfg, before, sizeof(*cfg)); /* as if it were not set */
		e->name = env_vars[i].name;
		e->what = env_vars[i].what;
		e->index = i;
		e->superseded = NULL;
		errs->n++;
	}
	free(before);
	return 0;
}

int tw_otlp_check(const struct tw_otlp_cfg *cfg)
{
	if (cfg->max_batch > cfg->max_queue) {
		fprintf(stderr,
			"tracewire: the export batch size (%zu) is larger than the queue (%zu): "
			"OTEL_BSP_MAX_EXPORT_BATCH_SIZE must not exceed OTEL_BSP_MAX_QUEUE_SIZE\n",
			cfg->max_batch, cfg->max_queue);
		return -EINVAL;
	}
	return 0;
}
