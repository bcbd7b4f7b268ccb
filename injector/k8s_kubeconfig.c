// SPDX-License-Identifier: BSD-2-Clause
/* Where the API server is: in-cluster service account or KUBECONFIG
 * (contract in k8s_client.h). */
#include "k8s_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

static int fail(char *err, size_t errlen, int rc, const char *fmt, const char *a, const char *b)
{
	snprintf(err, errlen, fmt, a, b);
	return rc;
}

int tw_k8s_base64(const char *in, struct tw_k8s_blob *out)
{
	size_t n = strlen(in), o = 0;
	unsigned acc = 0, bits = 0;
	char *buf = malloc(n / 4 * 3 + 4);

	if (!buf)
		return -ENOMEM;
	for (const char *p = in; *p && *p != '='; p++) {
		const char *set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *q;

		if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
			continue;
		q = strchr(set, *p);
		if (!q) {
			free(buf);
			return -EINVAL;
		}
		acc = acc << 6 | (unsigned)(q - set);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)(acc >> bits & 0xff);
		}
	}
	buf[o] = '\0';
	out->data = buf;
	out->len = o;
	return 0;
}

void tw_k8s_conn_free(struct tw_k8s_conn *c)
{
	free(c->token);
	free(c->token_file);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->ca.data);
	free(c->cert.data);
	free(c->key.data);
	memset(c, 0, sizeof(*c));
}

/* ---- a tiny walk over libyaml's document tree ---- */

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The "name: X" entry of a list of {name, <field>: {...}}: its <field>. */
static yaml_node_t *named(yaml_document_t *d, yaml_node_t *root, const char *list,
			  const char *field, const char *name)
{
	yaml_node_t *seq = map_get(d, root, list);

	if (!seq || seq->type != YAML_SEQUENCE_NODE || !name)
		return NULL;
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++) {
		yaml_node_t *e = yaml_document_get_node(d, *i);
		const char *n = scalar(map_get(d, e, "name"));

		if (n && !strcmp(n, name))
			return map_get(d, e, field);
	}
	return NULL;
}

/* A file named in a kubeconfig is relative to the kubeconfig's folder. */
static char *path_of(const char *kubeconfig, const char *file)
{
	const char *slash = strrchr(kubeconfig, '/');
	char *out;

	if (!file)
		return NULL;
	if (file[0] == '/' || !slash)
		return strdup(file);
	if (asprintf(&out, "%.*s/%s", (int)(slash - kubeconfig), kubeconfig, file) < 0)
		return NULL;
	return out;
}

static int data_field(yaml_node_t *n, struct tw_k8s_blob *b)
{
	const char *s = scalar(n);

	return s ? tw_k8s_base64(s, b) : 0;
}

int tw_k8s_conn_from_kubeconfig(struct tw_k8s_conn *c, const char *path, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *ctx, *cluster, *user;
	const char *cur, *server;
	FILE *f = fopen(path, "r");
	int rc = 0;

	memset(c, 0, sizeof(*c));
	if (!f)
		return fail(err, errlen, -errno, "KUBECONFIG %s: %s", path, strerror(errno));
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = fail(err, errlen, -EINVAL, "KUBECONFIG %s: not YAML (%s)", path,
			  parser.problem ? parser.problem : "?");
		yaml_parser_delete(&parser);
		fclose(f);
		return rc;
	}
	root = yaml_document_get_root_node(&doc);
	cur = scalar(map_get(&doc, root, "current-context"));
	ctx = named(&doc, root, "contexts", "context", cur);
	cluster = named(&doc, root, "clusters", "cluster", scalar(map_get(&doc, ctx, "cluster")));
	user = named(&doc, root, "users", "user", scalar(map_get(&doc, ctx, "user")));
	server = scalar(map_get(&doc, cluster, "server"));
	if (!ctx || !cluster || !server) {
		rc = fail(err, errlen, -EINVAL,
			  "KUBECONFIG %s: no current-context with a cluster server (context '%s')",
			  path, cur ? cur : "");
		goto out;
	}
	snprintf(c->server, sizeof(c->server), "%s", server);
	if (c->server[0] && c->server[strlen(c->server) - 1] == '/')
		c->server[strlen(c->server) - 1] = '\0';
	snprintf(c->source, sizeof(c->source), "kubeconfig %.400s (context %.100s)", path, cur);
	c->insecure = scalar(map_get(&doc, cluster, "insecure-skip-tls-verify")) &&
		      !strcmp(scalar(map_get(&doc, cluster, "insecure-skip-tls-verify")), "true");
	c->ca_file = path_of(path, scalar(map_get(&doc, cluster, "certificate-authority")));
	if (scalar(map_get(&doc, user, "token")))
		c->token = strdup(scalar(map_get(&doc, user, "token")));
	c->token_file = path_of(path, scalar(map_get(&doc, user, "tokenFile")));
	c->cert_file = path_of(path, scalar(map_get(&doc, user, "client-certificate")));
	c->key_file = path_of(path, scalar(map_get(&doc, user, "client-key")));
	if (data_field(map_get(&doc, cluster, "certificate-authority-data"), &c->ca) ||
	    data_field(map_get(&doc, user, "client-certificate-data"), &c->cert) ||
	    data_field(map_get(&doc, user, "client-key-data"), &c->key))
		rc = fail(err, errlen, -EINVAL, "KUBECONFIG %s: a *-data field is not base64%s", path, "");
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	if (rc)
		tw_k8s_conn_free(c);
	return rc;
}

int tw_k8s_conn_load(struct tw_k8s_conn *c, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *kc = getenv("KUBECONFIG");

	memset(c, 0, sizeof(*c));
	if (host && *host) {
		snprintf(c->server, sizeof(c->server), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
			 host, port && *port ? port : "443");
		snprintf(c->source, sizeof(c->source), "in-cluster service account");
		c->token_file = strdup(SA_DIR "/token");
		c->ca_file = strdup(SA_DIR "/ca.crt");
		return c->token_file && c->ca_file ? 0 : -ENOMEM;
	}
	if (kc && *kc) {
		char first[512];

		/* KUBECONFIG may list several files: the first is used */
		snprintf(first, sizeof(first), "%.*s", (int)strcspn(kc, ":"), kc);
		return tw_k8s_conn_from_kubeconfig(c, first, err, errlen);
	}
	return -ENOENT;
}
