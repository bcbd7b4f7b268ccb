/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Kubernetes API access: where the API server is and how to authenticate,
 * from the in-cluster service account (KUBERNETES_SERVICE_HOST/PORT and
 * /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt}) or else the
 * kubeconfig KUBECONFIG names (current-context -> cluster server, CA file or
 * data, insecure-skip-tls-verify; user token, token file or client
 * certificate and key, files or data). GET and streamed WATCH over libcurl.
 * Blocking: only the metadata worker (k8s_pods.c) calls these.
 */
#ifndef TW_K8S_CLIENT_H
#define TW_K8S_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct tw_k8s_blob {
	char *data;
	size_t len;
};

struct tw_k8s_conn {
	char server[512];          /* scheme://host:port, no trailing '/' */
	char source[600];          /* "in-cluster" or "kubeconfig PATH (context C)" */
	char *token;               /* bearer token; NULL: none */
	char *token_file;          /* re-read before each request (bound tokens rotate) */
	char *ca_file, *cert_file, *key_file;
	struct tw_k8s_blob ca, cert, key; /* *-data, base64-decoded PEM */
	bool insecure;
};

/* 0 and c filled; -ENOENT when neither in-cluster variables nor KUBECONFIG
 * are set (metadata off); other negative errno with a message in err. */
int tw_k8s_conn_load(struct tw_k8s_conn *c, char *err, size_t errlen);
/* The same from one kubeconfig file (tests). */
int tw_k8s_conn_from_kubeconfig(struct tw_k8s_conn *c, const char *path, char *err, size_t errlen);
void tw_k8s_conn_free(struct tw_k8s_conn *c);

/* GET server+path. *status: HTTP status (0: no answer; err then says why).
 * *body (malloc'ed, NUL-terminated) set on any answer; caller frees. */
int tw_k8s_get(const struct tw_k8s_conn *c, const char *path, char **body, long *status,
	       char *err, size_t errlen);

/* Streams server+path (a ?watch=1 URL): on_line per newline-ended line of
 * a 200 answer, until the server ends it, on_line returns nonzero, or *stop.
 * Returns like tw_k8s_get (a non-200 body is in *body when body != NULL). */
typedef int (*tw_k8s_line_fn)(void *ctx, char *line, size_t len);
int tw_k8s_watch(const struct tw_k8s_conn *c, const char *path, tw_k8s_line_fn on_line, void *ctx,
		 const volatile bool *stop, long *status, char **body, char *err, size_t errlen);

/* base64 (RFC 4648, padding optional, whitespace skipped) into a malloc'ed
 * buffer; -EINVAL for anything else. */
int tw_k8s_base64(const char *in, struct tw_k8s_blob *out);

#endif
