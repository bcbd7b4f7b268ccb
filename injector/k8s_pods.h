/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Pod metadata of this node: a cache of pods (from the API server's list and
 * watch, k8s_watch.c) by container id, and the lookup the exporters use
 * (resattr.h): pid -> /proc/PID/cgroup -> container id -> pod, container,
 * owner workload. One mutex guards the cache; the worker thread writes, the
 * event loop and the OTLP worker read. Pods deleted leave the cache.
 */
#ifndef TW_K8S_PODS_H
#define TW_K8S_PODS_H

#include <stdbool.h>
#include <stdint.h>

#include "k8s_cgroup.h"
#include "resattr.h"

#define TW_K8S_POD_CONTAINERS 16

struct json_object;

struct tw_k8s_container {
	char id[TW_CONTAINER_ID_LEN + 1];
	char name[64];
};

struct tw_k8s_pod {
	char uid[48];
	char name[128];
	char ns[64];
	char app_name[64];      /* label app.kubernetes.io/name */
	char owner_kind[16];    /* controller ownerReference: ReplicaSet, Job, StatefulSet, ... */
	char owner_name[128];
	char top_kind[16];      /* resolved: Deployment, CronJob, or owner_kind */
	char top_name[128];
	char rv[32];            /* resourceVersion */
	uint64_t added;         /* cache's insertion order (the oldest goes first) */
	bool matched;           /* a process was found in it (lookup) */
	unsigned n_containers;
	struct tw_k8s_container c[TW_K8S_POD_CONTAINERS];
	bool seen;              /* mark of the last list */
	bool selected;          /* by the pod filter (k8s_select.h), when there is one */
};

/* What selection by pod (podsel.c) needs to know of a pod. */
struct tw_k8s_pod_brief {
	char ns[64];
	bool selected;
};

struct tw_k8s_cache;

struct tw_k8s_cache *tw_k8s_cache_new(const char *node, const char *proc_root);
void tw_k8s_cache_free(struct tw_k8s_cache *c);

/* A pod object of the API (json-c) into p; 0 or -EINVAL (no uid/name). */
int tw_k8s_pod_parse(struct json_object *obj, struct tw_k8s_pod *p);
/* Insert or replace by uid / remove by uid. */
int tw_k8s_cache_put(struct tw_k8s_cache *c, const struct tw_k8s_pod *p);
void tw_k8s_cache_del(struct tw_k8s_cache *c, const char *uid);
/* Relist: mark all, put (marks seen), sweep the unseen. Returns pods removed. */
void tw_k8s_cache_mark(struct tw_k8s_cache *c);
unsigned tw_k8s_cache_sweep(struct tw_k8s_cache *c);
unsigned tw_k8s_cache_count(struct tw_k8s_cache *c);
/* The bound on cached pods (default: the memory budget's k8s_pods, else
 * TW_K8S_PODS_DEFAULT_MAX): a pod put beyond it drops the oldest pod no
 * process was found in, else the oldest; counted, logged at most once a
 * minute. */
#define TW_K8S_PODS_DEFAULT_MAX 4096
void tw_k8s_cache_set_max(struct tw_k8s_cache *c, size_t max);
uint64_t tw_k8s_cache_evicted(struct tw_k8s_cache *c);
/* Has a list of this node's pods succeeded (a sweep happened) yet? */
bool tw_k8s_cache_listed(struct tw_k8s_cache *c);
/* The pod of uid: true and *out filled, or false when it is not cached. */
bool tw_k8s_cache_brief(struct tw_k8s_cache *c, const char *uid, struct tw_k8s_pod_brief *out);

/* The resattr.h provider: k8s.* attributes and a service name suggestion. */
bool tw_k8s_cache_lookup(void *cache, uint32_t pid, struct tw_res *out);

#endif
