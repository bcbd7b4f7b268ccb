// SPDX-License-Identifier: BSD-2-Clause
/* The metadata worker: list and watch this node's pods, resolve their owner
 * workloads (contract in k8s.h). */
#include "k8s.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8s_client.h"
#include "k8s_pods.h"
#include "k8s_select.h"
#include "log.h"

#define OWNER_SLOTS 256
#define BACKOFF_MAX_S 30

struct owner {
	char key[320]; /* ns/kind/name */
	char kind[16], name[128];
};

struct tw_k8s {
	struct tw_k8s_conn conn;
	struct tw_k8s_cache *cache;
	const struct tw_pod_filter *filter; /* NULL: none */
	char node[256];
	char selector[400];       /* fieldSelector, URL-encoded */
	char rv[64];              /* resourceVersion to watch from */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	volatile bool stop;
	bool relist;              /* the watch said 410 Gone */
	bool failing;             /* the last attempt failed (logged once) */
	bool owner_denied[2];     /* replicasets, jobs: 403 logged */
	unsigned next_owner;
	struct owner owners[OWNER_SLOTS];
};

/* Sleeps s seconds unless stopped. true when stopped. */
static bool pause_s(struct tw_k8s *k, unsigned s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += s;
	pthread_mutex_lock(&k->lock);
	while (!k->stop && pthread_cond_timedwait(&k->cond, &k->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&k->lock);
	return k->stop;
}

static void url_encode(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in && o + 4 < size; in++) {
		unsigned char ch = (unsigned char)*in;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, size - o, "%%%02X", ch);
	}
	out[o] = '\0';
}

/* A failed request, told once per change: 401/403 name the RBAC rule. */
static void report(struct tw_k8s *k, const char *what, long status, const char *err,
		   const char *rule)
{
	if (status == 401)
		log_warn("k8s: %s: 401 Unauthorized from %s: the token or client certificate of %s "
			 "is not accepted; retrying", what, k->conn.server, k->conn.source);
	else if (status == 403)
		log_warn("k8s: %s: 403 Forbidden: the service account needs a ClusterRole rule %s "
			 "(deploy/daemonset.yaml has it); retrying", what, rule);
	else if (!k->failing && status)
		log_warn("k8s: %s: API server %s answered %ld; tracing goes on without pod "
			 "metadata, retrying with backoff", what, k->conn.server, status);
	else if (!k->failing)
		log_warn("k8s: %s: API server %s unreachable (%s); tracing goes on without pod "
			 "metadata, retrying with backoff", what, k->conn.server, err);
	k->failing = true;
}

/* ---- owners: ReplicaSet -> Deployment, Job -> CronJob ---- */

static void owner_get(struct tw_k8s *k, struct tw_k8s_pod *p, int which)
{
	static const char *const api[] = { "/apis/apps/v1/namespaces/%s/replicasets/%s",
					   "/apis/batch/v1/namespaces/%s/jobs/%s" };
	static const char *const rule[] = { "get on replicasets (apiGroups: [apps])",
					    "get on jobs (apiGroups: [batch])" };
	struct json_object *obj, *refs;
	char path[512], err[256], *body = NULL;
	long status;

	snprintf(path, sizeof(path), api[which], p->ns, p->owner_name);
	if (tw_k8s_get(&k->conn, path, &body, &status, err, sizeof(err)) || status != 200) {
		if (status == 403 && !k->owner_denied[which]) {
			k->owner_denied[which] = true;
			log_warn("k8s: owner of pod %s/%s: 403 Forbidden: the service account needs a "
				 "ClusterRole rule %s; workload names are guessed meanwhile",
				 p->ns, p->name, rule[which]);
		}
		free(body);
		return;
	}
	obj = json_tokener_parse(body);
	free(body);
	if (json_object_object_get_ex(json_object_object_get(obj, "metadata"), "ownerReferences", &refs) &&
	    json_object_is_type(refs, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(refs); i++) {
			struct json_object *r = json_object_array_get_idx(refs, i);
			const char *kind = json_object_get_string(json_object_object_get(r, "kind"));
			const char *name = json_object_get_string(json_object_object_get(r, "name"));

			if (kind && name && (!strcmp(kind, "Deployment") || !strcmp(kind, "CronJob"))) {
				snprintf(p->top_kind, sizeof(p->top_kind), "%s", kind);
				snprintf(p->top_name, sizeof(p->top_name), "%s", name);
			}
		}
	}
	json_object_put(obj);
}

static void resolve_owner(struct tw_k8s *k, struct tw_k8s_pod *p)
{
	int which = !strcmp(p->owner_kind, "ReplicaSet") ? 0 : !strcmp(p->owner_kind, "Job") ? 1 : -1;
	char key[320];

	if (which < 0)
		return;
	snprintf(key, sizeof(key), "%s/%s/%s", p->ns, p->owner_kind, p->owner_name);
	for (unsigned i = 0; i < OWNER_SLOTS; i++)
		if (!strcmp(k->owners[i].key, key)) {
			memcpy(p->top_kind, k->owners[i].kind, sizeof(p->top_kind));
			memcpy(p->top_name, k->owners[i].name, sizeof(p->top_name));
			return;
		}
	owner_get(k, p, which);
	if (!strcmp(p->top_kind, p->owner_kind))
		return; /* not known (yet): asked again next time */
	struct owner *o = &k->owners[k->next_owner++ % OWNER_SLOTS];
	memcpy(o->key, key, sizeof(o->key));
	memcpy(o->kind, p->top_kind, sizeof(o->kind));
	memcpy(o->name, p->top_name, sizeof(o->name));
}

static const char *label_of(void *labels, const char *key)
{
	struct json_object *v;

	if (!labels || !json_object_object_get_ex(labels, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void put_pod(struct tw_k8s *k, struct json_object *obj)
{
	struct tw_k8s_pod p;

	if (tw_k8s_pod_parse(obj, &p))
		return;
	p.selected = k->filter &&
		     tw_pod_filter_match(k->filter, p.ns, label_of,
					 json_object_object_get(json_object_object_get(obj, "metadata"),
								"labels"));
	resolve_owner(k, &p);
	tw_k8s_cache_put(k->cache, &p);
}

/* ---- list and watch ---- */

static int list(struct tw_k8s *k)
{
	struct json_object *obj, *items, *md;
	char path[600], err[256], *body = NULL;
	long status;
	size_t n;

	snprintf(path, sizeof(path), "/api/v1/pods?fieldSelector=%s", k->selector);
	if (tw_k8s_get(&k->conn, path, &body, &status, err, sizeof(err)) || status != 200) {
		report(k, "listing pods", status, err, "get, list and watch on pods (apiGroups: [\"\"])");
		free(body);
		return -EIO;
	}
	obj = json_tokener_parse(body);
	free(body);
	if (!json_object_object_get_ex(obj, "items", &items) || !json_object_is_type(items, json_type_array)) {
		json_object_put(obj);
		report(k, "listing pods", 0, "the answer is not a PodList", "");
		return -EINVAL;
	}
	tw_k8s_cache_mark(k->cache);
	n = json_object_array_length(items);
	for (size_t i = 0; i < n; i++)
		put_pod(k, json_object_array_get_idx(items, i));
	tw_k8s_cache_sweep(k->cache);
	md = json_object_object_get(obj, "metadata");
	snprintf(k->rv, sizeof(k->rv), "%s",
		 json_object_get_string(json_object_object_get(md, "resourceVersion")) ?: "");
	json_object_put(obj);
	log_info("k8s: %zu pods on node %s (from %s)%s", n, k->node, k->conn.server,
		 k->failing ? "; pod metadata on again" : "");
	k->failing = false;
	return 0;
}

static int on_event(void *ctx, char *line, size_t len)
{
	struct tw_k8s *k = ctx;
	struct json_object *ev = json_tokener_parse(line), *obj;
	const char *type = json_object_get_string(json_object_object_get(ev, "type"));
	const char *rv;
	int rc = 0;

	(void)len;
	obj = json_object_object_get(ev, "object");
	rv = json_object_get_string(json_object_object_get(json_object_object_get(obj, "metadata"),
							   "resourceVersion"));
	if (!type) {
		rc = 1;
	} else if (!strcmp(type, "ERROR")) {
		k->relist = true; /* 410 Gone: the resourceVersion is too old */
		rc = 1;
	} else if (!strcmp(type, "DELETED")) {
		struct tw_k8s_pod p;

		if (!tw_k8s_pod_parse(obj, &p)) {
			tw_k8s_cache_del(k->cache, p.uid);
			log_debug("k8s: pod %s/%s deleted", p.ns, p.name);
		}
	} else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED")) {
		put_pod(k, obj);
	}
	if (!rc && rv)
		snprintf(k->rv, sizeof(k->rv), "%s", rv);
	json_object_put(ev);
	return rc;
}

static int watch(struct tw_k8s *k)
{
	char path[800], rv[200], err[256], *body = NULL;
	long status;
	int rc;

	url_encode(k->rv, rv, sizeof(rv));
	snprintf(path, sizeof(path), "/api/v1/pods?fieldSelector=%s&watch=1&resourceVersion=%s"
		 "&allowWatchBookmarks=true&timeoutSeconds=240", k->selector, rv);
	k->relist = false;
	rc = tw_k8s_watch(&k->conn, path, on_event, k, &k->stop, &status, &body, err, sizeof(err));
	free(body);
	if (rc == -EINTR)
		return rc;
	if (rc || status != 200) {
		report(k, "watching pods", status, err, "watch on pods (apiGroups: [\"\"])");
		return -EIO;
	}
	return k->relist ? -ESTALE : 0;
}

static void *worker(void *arg)
{
	struct tw_k8s *k = arg;
	unsigned backoff = 1;

	while (!k->stop) {
		int rc = list(k);

		/* 0: the server ended the watch (timeoutSeconds): watch on */
		while (!rc && !k->stop) {
			rc = watch(k);
			if (rc == 0 || rc == -ESTALE)
				backoff = 1; /* a watch worked: the server is fine */
		}
		if (k->stop || rc == -ESTALE)
			continue; /* -ESTALE: 410 Gone, list again at once */
		if (pause_s(k, backoff))
			break;
		backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
	}
	return NULL;
}

struct tw_k8s_cache *tw_k8s_cache_of(struct tw_k8s *k)
{
	return k ? k->cache : NULL;
}

struct tw_k8s *tw_k8s_start(const char *node, const struct tw_pod_filter *filter)
{
	struct tw_k8s *k = calloc(1, sizeof(*k));
	char err[512] = "", sel[300];
	int rc;

	if (!k)
		return NULL;
	rc = tw_k8s_conn_load(&k->conn, err, sizeof(err));
	if (rc) {
		if (rc == -ENOENT)
			log_info("k8s: pod metadata off (not in a cluster: no KUBERNETES_SERVICE_HOST, "
				 "no KUBECONFIG)");
		else
			log_warn("k8s: pod metadata off: %s", err);
		free(k);
		return NULL;
	}
	k->filter = filter;
	if (node && *node)
		snprintf(k->node, sizeof(k->node), "%s", node);
	else if (getenv("NODE_NAME") && *getenv("NODE_NAME"))
		snprintf(k->node, sizeof(k->node), "%s", getenv("NODE_NAME"));
	else if (gethostname(k->node, sizeof(k->node) - 1))
		snprintf(k->node, sizeof(k->node), "localhost");
	snprintf(sel, sizeof(sel), "spec.nodeName=%s", k->node);
	url_encode(sel, k->selector, sizeof(k->selector));
	k->cache = tw_k8s_cache_new(k->node, NULL);
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->cond, NULL);
	if (!k->cache) {
		tw_k8s_conn_free(&k->conn);
		free(k);
		return NULL;
	}
	log_info("k8s: pod metadata on: pods of node %s from %s (%s)", k->node, k->conn.server,
		 k->conn.source);
	tw_res_set_provider(tw_k8s_cache_lookup, k->cache);
	if (pthread_create(&k->thread, NULL, worker, k)) {
		log_warn("k8s: pod metadata off: cannot start its thread");
		tw_res_set_provider(NULL, NULL);
		tw_k8s_cache_free(k->cache);
		tw_k8s_conn_free(&k->conn);
		free(k);
		return NULL;
	}
	return k;
}

void tw_k8s_stop(struct tw_k8s *k)
{
	if (!k)
		return;
	tw_res_set_provider(NULL, NULL);
	pthread_mutex_lock(&k->lock);
	k->stop = true;
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->thread, NULL);
	tw_k8s_cache_free(k->cache);
	tw_k8s_conn_free(&k->conn);
	pthread_mutex_destroy(&k->lock);
	pthread_cond_destroy(&k->cond);
	free(k);
}
