// SPDX-License-Identifier: BSD-2-Clause
/* Label selectors and the pod filter (contract in k8s_select.h). */
#include "k8s_select.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A label name or value: [A-Za-z0-9] at both ends, [-_.A-Za-z0-9] between,
 * at most 63 characters (values may also be empty). */
static bool label_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > 63 || !alnum(s[0]) || !alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* A key's prefix: a DNS subdomain (lowercase labels joined by '.'), <= 253. */
static bool dns_subdomain_valid(const char *s, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (!label || s[i - 1] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && label)) {
			label++;
		} else {
			return false;
		}
	}
	return label && s[n - 1] != '-';
}

static bool key_valid(const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);

	if (!slash)
		return label_name_valid(s, n);
	return dns_subdomain_valid(s, (size_t)(slash - s)) &&
	       label_name_valid(slash + 1, n - (size_t)(slash - s) - 1);
}

bool tw_k8s_configured(void)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *kc = getenv("KUBECONFIG");

	return (host && *host) || (kc && *kc);
}

bool tw_namespace_valid(const char *ns)
{
	size_t n = strlen(ns);

	if (n == 0 || n > 63 || !alnum(ns[0]) || !alnum(ns[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((ns[i] >= 'a' && ns[i] <= 'z') || (ns[i] >= '0' && ns[i] <= '9') || ns[i] == '-'))
			return false;
	return true;
}

struct parser {
	const char *s, *p;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct parser *ps, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "%s at offset %zu", what, (size_t)(ps->p - ps->s));
	return -EINVAL;
}

static void skip_space(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t')
		ps->p++;
}

/* A run of key/value characters; its length (0: none). */
static size_t word(struct parser *ps, const char **start)
{
	const char *q;

	skip_space(ps);
	q = *start = ps->p;
	while (alnum(*q) || *q == '-' || *q == '_' || *q == '.' || *q == '/')
		q++;
	ps->p = q;
	return (size_t)(q - *start);
}

static int value(struct parser *ps, struct tw_label_req *r, bool allow_empty)
{
	const char *v;
	size_t n = word(ps, &v);

	if (r->n_values == TW_LABEL_VALUES)
		return fail(ps, "more than %d values", TW_LABEL_VALUES);
	if (n == 0 && !allow_empty)
		return fail(ps, "expected a value");
	if (n && (memchr(v, '/', n) || !label_name_valid(v, n)))
		return fail(ps, "invalid label value '%.*s'", (int)n, v);
	memcpy(r->values[r->n_values], v, n);
	r->values[r->n_values++][n] = '\0';
	return 0;
}

static int value_set(struct parser *ps, struct tw_label_req *r)
{
	skip_space(ps);
	if (*ps->p != '(')
		return fail(ps, "expected '('");
	ps->p++;
	for (;;) {
		int rc = value(ps, r, false);

		if (rc)
			return rc;
		skip_space(ps);
		if (*ps->p == ')') {
			ps->p++;
			return 0;
		}
		if (*ps->p != ',')
			return fail(ps, "expected ',' or ')'");
		ps->p++;
	}
}

static int requirement(struct parser *ps, struct tw_label_req *r)
{
	const char *k, *op;
	size_t n;
	bool negated;

	skip_space(ps);
	negated = *ps->p == '!';
	if (negated)
		ps->p++;
	n = word(ps, &k);
	if (!n)
		return fail(ps, "expected a label key");
	if (!key_valid(k, n))
		return fail(ps, "invalid label key '%.*s'", (int)n, k);
	memcpy(r->key, k, n);
	r->key[n] = '\0';
	skip_space(ps);
	op = ps->p;
	if (negated || *op == ',' || *op == '\0') {
		r->op = negated ? TW_LABEL_ABSENT : TW_LABEL_EXISTS;
		return 0;
	}
	if (op[0] == '!' && op[1] == '=') {
		r->op = TW_LABEL_NE;
		ps->p += 2;
	} else if (op[0] == '=') {
		r->op = TW_LABEL_EQ;
		ps->p += op[1] == '=' ? 2 : 1;
	} else if (!strncmp(op, "in", 2) && !alnum(op[2])) {
		r->op = TW_LABEL_IN;
		ps->p += 2;
		return value_set(ps, r);
	} else if (!strncmp(op, "notin", 5) && !alnum(op[5])) {
		r->op = TW_LABEL_NOTIN;
		ps->p += 5;
		return value_set(ps, r);
	} else {
		return fail(ps, "expected =, ==, !=, in or notin after '%s'", r->key);
	}
	return value(ps, r, true);
}

int tw_label_selector_parse(const char *s, struct tw_label_selector *out, char *err, size_t errlen)
{
	struct parser ps = { .s = s, .p = s, .err = err, .errlen = errlen };

	memset(out, 0, sizeof(*out));
	for (;;) {
		int rc;

		if (out->n == TW_LABEL_REQS)
			return fail(&ps, "more than %d requirements", TW_LABEL_REQS);
		rc = requirement(&ps, &out->reqs[out->n]);
		if (rc)
			return rc;
		out->n++;
		skip_space(&ps);
		if (*ps.p == '\0')
			return 0;
		if (*ps.p != ',')
			return fail(&ps, "expected ',' between requirements");
		ps.p++;
	}
}

static bool in_values(const struct tw_label_req *r, const char *v)
{
	for (unsigned i = 0; i < r->n_values; i++)
		if (!strcmp(r->values[i], v))
			return true;
	return false;
}

bool tw_label_selector_match(const struct tw_label_selector *s, tw_label_get_fn get, void *ctx)
{
	for (unsigned i = 0; i < s->n; i++) {
		const struct tw_label_req *r = &s->reqs[i];
		const char *v = get(ctx, r->key);
		bool ok;

		switch (r->op) {
		case TW_LABEL_EQ:
		case TW_LABEL_IN:
			ok = v && in_values(r, v);
			break;
		case TW_LABEL_NE:
		case TW_LABEL_NOTIN:
			ok = !v || !in_values(r, v);
			break;
		case TW_LABEL_EXISTS:
			ok = v != NULL;
			break;
		default:
			ok = v == NULL;
			break;
		}
		if (!ok)
			return false;
	}
	return true;
}

void tw_label_selector_format(const struct tw_label_selector *s, char *buf, size_t len)
{
	static const char *const ops[] = { "=", "!=", " in ", " notin " };
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < s->n && off < len; i++) {
		const struct tw_label_req *r = &s->reqs[i];
		const char *sep = i ? "," : "";

		if (r->op == TW_LABEL_EXISTS || r->op == TW_LABEL_ABSENT) {
			off += (size_t)snprintf(buf + off, len - off, "%s%s%s", sep,
						r->op == TW_LABEL_ABSENT ? "!" : "", r->key);
			continue;
		}
		off += (size_t)snprintf(buf + off, len - off, "%s%s%s%s", sep, r->key, ops[r->op],
					r->op >= TW_LABEL_IN ? "(" : "");
		for (unsigned j = 0; j < r->n_values && off < len; j++)
			off += (size_t)snprintf(buf + off, len - off, "%s%s", j ? "," : "", r->values[j]);
		if (r->op >= TW_LABEL_IN && off < len)
			off += (size_t)snprintf(buf + off, len - off, ")");
	}
}

bool tw_pod_filter_given(const struct tw_pod_filter *f)
{
	return f->n_namespaces || f->has_selector;
}

bool tw_pod_filter_match(const struct tw_pod_filter *f, const char *ns, tw_label_get_fn get,
			 void *ctx)
{
	bool ns_ok = !f->n_namespaces;

	for (unsigned i = 0; i < f->n_namespaces && !ns_ok; i++)
		ns_ok = !strcmp(f->namespaces[i], ns);
	return ns_ok && (!f->has_selector || tw_label_selector_match(&f->selector, get, ctx));
}
