/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Pod metadata on spans (README "Kubernetes"): when in-cluster variables or
 * KUBECONFIG are set, a worker thread lists and watches the pods of this
 * node and installs the resource provider (resattr.h) that puts k8s.*
 * attributes on each span of a pod's process. Never blocks the caller: an
 * API server that is down, slow or refusing only delays the metadata
 * (retried with backoff, 1 s doubling to 30 s).
 */
#ifndef TW_K8S_H
#define TW_K8S_H

struct tw_k8s;
struct tw_k8s_cache;
struct tw_pod_filter;

/* node: --k8s-node, NULL: NODE_NAME, then the host name. filter: marks each
 * cached pod selected or not (NULL: none). NULL when metadata is off
 * (logged: not in a cluster, or the kubeconfig is unusable). */
struct tw_k8s *tw_k8s_start(const char *node, const struct tw_pod_filter *filter);
struct tw_k8s_cache *tw_k8s_cache_of(struct tw_k8s *k);
void tw_k8s_stop(struct tw_k8s *k);

#endif
