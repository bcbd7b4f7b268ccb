/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Which pods are traced, as the user says it (--k8s-namespace, --k8s-selector):
 * a namespace list and a Kubernetes label selector in the syntax `kubectl -l`
 * takes -- requirements joined by ',' (all must hold):
 *   key=value  key==value  key!=value  key in (a,b)  key notin (a,b)  key  !key
 * As in Kubernetes, `!=` and `notin` also hold for a pod without the label.
 * Pure functions: the pod cache (k8s_pods.c) evaluates them per pod; podsel.c
 * turns the selected pods into cgroups for the kernel.
 */
#ifndef TW_K8S_SELECT_H
#define TW_K8S_SELECT_H

#include <stdbool.h>
#include <stddef.h>

#define TW_LABEL_REQS 16
#define TW_LABEL_VALUES 8
#define TW_LABEL_KEY_LEN 317  /* prefix (DNS subdomain, 253) '/' name (63), NUL */
#define TW_LABEL_VALUE_LEN 64 /* 63 and NUL */
#define TW_POD_NAMESPACES 16
#define TW_NAMESPACE_LEN 64   /* a DNS label (63) and NUL */

enum tw_label_op {
	TW_LABEL_EQ,
	TW_LABEL_NE,
	TW_LABEL_IN,
	TW_LABEL_NOTIN,
	TW_LABEL_EXISTS,
	TW_LABEL_ABSENT,
};

struct tw_label_req {
	enum tw_label_op op;
	unsigned n_values;
	char key[TW_LABEL_KEY_LEN];
	char values[TW_LABEL_VALUES][TW_LABEL_VALUE_LEN];
};

struct tw_label_selector {
	unsigned n;
	struct tw_label_req reqs[TW_LABEL_REQS];
};

/* The value of label key of the pod at hand, NULL when it has none. */
typedef const char *(*tw_label_get_fn)(void *ctx, const char *key);

/* 0, or -EINVAL with what is wrong (and where) in err. */
int tw_label_selector_parse(const char *s, struct tw_label_selector *out, char *err, size_t errlen);
bool tw_label_selector_match(const struct tw_label_selector *s, tw_label_get_fn get, void *ctx);
/* The selector back in canonical text ("app=web,tier in (a,b)"). */
void tw_label_selector_format(const struct tw_label_selector *s, char *buf, size_t len);

/* Is there a source of pod metadata: in-cluster variables or KUBECONFIG
 * (k8s_client.c reads the same)? */
bool tw_k8s_configured(void);

/* A namespace name as Kubernetes allows it (RFC 1123 label). */
bool tw_namespace_valid(const char *ns);

struct tw_pod_filter {
	char namespaces[TW_POD_NAMESPACES][TW_NAMESPACE_LEN];
	unsigned n_namespaces; /* 0: any namespace */
	bool has_selector;     /* false: any labels */
	struct tw_label_selector selector;
};

/* Was any --k8s-namespace or --k8s-selector given? */
bool tw_pod_filter_given(const struct tw_pod_filter *f);
bool tw_pod_filter_match(const struct tw_pod_filter *f, const char *ns, tw_label_get_fn get,
			 void *ctx);

#endif
