// SPDX-License-Identifier: BSD-2-Clause
/* The pod cache and the lookup by pid (contract in k8s_pods.h). */
#include "k8s_pods.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "budget.h"
#include "log.h"

#define PID_SLOTS 1024
#define PID_REVALIDATE_NS 5000000000ull /* /proc/PID/cgroup read again after 5 s */
#define EVICT_LOG_NS 60000000000ull /* the bound is logged at most once a minute */

struct pid_slot {
	uint32_t pid;
	bool has_id;
	uint64_t at_ns;
	char id[TW_CONTAINER_ID_LEN + 1];
};

struct tw_k8s_cache {
	pthread_mutex_t lock;
	char node[256];
	char proc[256];
	struct tw_k8s_pod *pods;
	size_t n, cap;
	/* the memory budget's bound: an API server (or a node) with more pods
	 * than that cannot grow the cache (a pod is ~2.7 KiB) */
	size_t max;
	uint64_t next_added;
	uint64_t evicted;
	uint64_t next_evict_log_ns;
	struct pid_slot pids[PID_SLOTS];
	bool listed; /* a list succeeded */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct tw_k8s_cache *tw_k8s_cache_new(const char *node, const char *proc_root)
{
	struct tw_k8s_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	snprintf(c->node, sizeof(c->node), "%s", node);
	snprintf(c->proc, sizeof(c->proc), "%s", proc_root ? proc_root : "/proc");
	c->max = tw_budget_get() ? tw_budget_get()->k8s_pods : TW_K8S_PODS_DEFAULT_MAX;
	return c;
}

void tw_k8s_cache_free(struct tw_k8s_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->pods);
	free(c);
}

/* ---- pod objects ---- */

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void copy(char *dst, size_t size, const char *src)
{
	size_t n = src ? strnlen(src, size - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

static void add_containers(struct tw_k8s_pod *p, struct json_object *list)
{
	size_t n = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;

	for (size_t i = 0; i < n && p->n_containers < TW_K8S_POD_CONTAINERS; i++) {
		struct json_object *cs = json_object_array_get_idx(list, i);
		const char *cid = jstr(cs, "containerID");
		struct tw_k8s_container *c = &p->c[p->n_containers];

		if (!cid || tw_k8s_status_container_id(cid, c->id))
			continue;
		copy(c->name, sizeof(c->name), jstr(cs, "name"));
		p->n_containers++;
	}
}

int tw_k8s_pod_parse(struct json_object *obj, struct tw_k8s_pod *p)
{
	struct json_object *md = jget(obj, "metadata"), *st = jget(obj, "status");
	struct json_object *owners = jget(md, "ownerReferences");
	size_t no = owners && json_object_is_type(owners, json_type_array) ?
			    json_object_array_length(owners) : 0;

	memset(p, 0, sizeof(*p));
	if (!jstr(md, "uid") || !jstr(md, "name"))
		return -EINVAL;
	copy(p->uid, sizeof(p->uid), jstr(md, "uid"));
	copy(p->name, sizeof(p->name), jstr(md, "name"));
	copy(p->ns, sizeof(p->ns), jstr(md, "namespace"));
	copy(p->rv, sizeof(p->rv), jstr(md, "resourceVersion"));
	copy(p->app_name, sizeof(p->app_name), jstr(jget(md, "labels"), "app.kubernetes.io/name"));
	for (size_t i = 0; i < no; i++) {
		struct json_object *o = json_object_array_get_idx(owners, i);
		struct json_object *ctl = jget(o, "controller");

		if (i == 0 || (ctl && json_object_get_boolean(ctl))) {
			copy(p->owner_kind, sizeof(p->owner_kind), jstr(o, "kind"));
			copy(p->owner_name, sizeof(p->owner_name), jstr(o, "name"));
		}
	}
	memcpy(p->top_kind, p->owner_kind, sizeof(p->top_kind));
	memcpy(p->top_name, p->owner_name, sizeof(p->top_name));
	add_containers(p, jget(st, "containerStatuses"));
	add_containers(p, jget(st, "initContainerStatuses"));
	add_containers(p, jget(st, "ephemeralContainerStatuses"));
	return 0;
}

/* ---- the cache ---- */

static struct tw_k8s_pod *find_uid(struct tw_k8s_cache *c, const char *uid)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->pods[i].uid, uid))
			return &c->pods[i];
	return NULL;
}

static void remove_at(struct tw_k8s_cache *c, size_t i);

/* At the bound: the oldest pod no process was found in goes (a pod whose
 * processes run elsewhere, or not yet), else the oldest. */
static void make_room(struct tw_k8s_cache *c)
{
	size_t victim = SIZE_MAX;
	uint64_t now;

	if (c->n < c->max || !c->n)
		return;
	for (size_t i = 0; i < c->n; i++) {
		const struct tw_k8s_pod *p = &c->pods[i];

		if (victim == SIZE_MAX || p->matched < c->pods[victim].matched ||
		    (p->matched == c->pods[victim].matched && p->added < c->pods[victim].added))
			victim = i;
	}
	remove_at(c, victim);
	c->evicted++;
	now = mono_ns();
	if (now >= c->next_evict_log_ns) {
		log_warn("kubernetes: pod metadata cache at its bound (%zu pods, from the memory "
			 "budget): the oldest pods without a traced process are dropped (%llu so "
			 "far); their spans lack k8s.* attributes", c->max,
			 (unsigned long long)c->evicted);
		c->next_evict_log_ns = now + EVICT_LOG_NS;
	}
}

int tw_k8s_cache_put(struct tw_k8s_cache *c, const struct tw_k8s_pod *p)
{
	struct tw_k8s_pod *old;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	old = find_uid(c, p->uid);
	if (!old)
		make_room(c);
	if (!old && c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct tw_k8s_pod *np = realloc(c->pods, cap * sizeof(*np));

		if (np) {
			c->pods = np;
			c->cap = cap;
		}
	}
	if (old) {
		/* an update keeps the pod's age and whether it was matched */
		uint64_t added = old->added;
		bool matched = old->matched;

		*old = *p;
		old->added = added;
		old->matched = matched;
	} else if (c->n < c->cap) {
		c->pods[c->n] = *p;
		c->pods[c->n].added = c->next_added++;
		c->pods[c->n++].matched = false;
	} else {
		rc = -ENOMEM;
	}
	if (!rc)
		(old ? old : &c->pods[c->n - 1])->seen = true;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static void remove_at(struct tw_k8s_cache *c, size_t i)
{
	c->pods[i] = c->pods[--c->n];
}

void tw_k8s_cache_del(struct tw_k8s_cache *c, const char *uid)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->pods[i].uid, uid)) {
			remove_at(c, i);
			break;
		}
	pthread_mutex_unlock(&c->lock);
}

void tw_k8s_cache_mark(struct tw_k8s_cache *c)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n; i++)
		c->pods[i].seen = false;
	pthread_mutex_unlock(&c->lock);
}

unsigned tw_k8s_cache_sweep(struct tw_k8s_cache *c)
{
	unsigned removed = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = c->n; i-- > 0;)
		if (!c->pods[i].seen) {
			remove_at(c, i);
			removed++;
		}
	c->listed = true;
	pthread_mutex_unlock(&c->lock);
	return removed;
}

bool tw_k8s_cache_listed(struct tw_k8s_cache *c)
{
	bool listed;

	pthread_mutex_lock(&c->lock);
	listed = c->listed;
	pthread_mutex_unlock(&c->lock);
	return listed;
}

bool tw_k8s_cache_brief(struct tw_k8s_cache *c, const char *uid, struct tw_k8s_pod_brief *out)
{
	const struct tw_k8s_pod *p;

	pthread_mutex_lock(&c->lock);
	p = find_uid(c, uid);
	if (p) {
		memcpy(out->ns, p->ns, sizeof(out->ns));
		out->selected = p->selected;
	}
	pthread_mutex_unlock(&c->lock);
	return p != NULL;
}

void tw_k8s_cache_set_max(struct tw_k8s_cache *c, size_t max)
{
	pthread_mutex_lock(&c->lock);
	c->max = max ? max : 1;
	pthread_mutex_unlock(&c->lock);
}

uint64_t tw_k8s_cache_evicted(struct tw_k8s_cache *c)
{
	uint64_t n;

	pthread_mutex_lock(&c->lock);
	n = c->evicted;
	pthread_mutex_unlock(&c->lock);
	return n;
}

unsigned tw_k8s_cache_count(struct tw_k8s_cache *c)
{
	unsigned n;

	pthread_mutex_lock(&c->lock);
	n = (unsigned)c->n;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* ---- lookup ---- */

static const char *kind_key(const char *kind)
{
	static const char *const map[][2] = {
		{ "Deployment", "k8s.deployment.name" }, { "ReplicaSet", "k8s.replicaset.name" },
		{ "StatefulSet", "k8s.statefulset.name" }, { "DaemonSet", "k8s.daemonset.name" },
		{ "Job", "k8s.job.name" }, { "CronJob", "k8s.cronjob.name" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(kind, map[i][0]))
			return map[i][1];
	return NULL;
}

static void fill(const struct tw_k8s_cache *c, const struct tw_k8s_pod *p,
		 const struct tw_k8s_container *ct, struct tw_res *out)
{
	const char *k;

	tw_res_add(out, "k8s.namespace.name", p->ns);
	tw_res_add(out, "k8s.pod.name", p->name);
	tw_res_add(out, "k8s.pod.uid", p->uid);
	tw_res_add(out, "k8s.container.name", ct->name);
	tw_res_add(out, "k8s.node.name", c->node);
	if (p->owner_kind[0] && (k = kind_key(p->owner_kind)))
		tw_res_add(out, k, p->owner_name);
	if (strcmp(p->top_kind, p->owner_kind) && (k = kind_key(p->top_kind)))
		tw_res_add(out, k, p->top_name);
	tw_res_add(out, "container.id", ct->id);
	copy(out->service, sizeof(out->service), p->app_name[0] ? p->app_name : p->top_name);
}

static bool pid_container(struct tw_k8s_cache *c, uint32_t pid, char *id)
{
	struct pid_slot *s = &c->pids[pid % PID_SLOTS];
	uint64_t now = mono_ns();
	char fresh[TW_CONTAINER_ID_LEN + 1];
	int rc;

	if (s->pid != pid || s->at_ns == 0 || now - s->at_ns > PID_REVALIDATE_NS) {
		/* read without the lock: /proc may be slow */
		pthread_mutex_unlock(&c->lock);
		rc = tw_k8s_cgroup_pid_id(c->proc, pid, fresh);
		pthread_mutex_lock(&c->lock);
		if (rc == 0 || rc == -ENODATA || s->pid != pid) {
			/* a vanished process keeps what was known of its pid */
			s->pid = pid;
			s->has_id = rc == 0;
			if (!rc)
				memcpy(s->id, fresh, sizeof(s->id));
		}
		s->at_ns = now;
	}
	if (s->pid != pid || !s->has_id)
		return false;
	memcpy(id, s->id, TW_CONTAINER_ID_LEN + 1);
	return true;
}

bool tw_k8s_cache_lookup(void *arg, uint32_t pid, struct tw_res *out)
{
	struct tw_k8s_cache *c = arg;
	char id[TW_CONTAINER_ID_LEN + 1];
	bool found = false;

	pthread_mutex_lock(&c->lock);
	if (pid_container(c, pid, id))
		for (size_t i = 0; i < c->n && !found; i++)
			for (unsigned j = 0; j < c->pods[i].n_containers && !found; j++)
				if (!strcmp(c->pods[i].c[j].id, id)) {
					fill(c, &c->pods[i], &c->pods[i].c[j], out);
					c->pods[i].matched = true;
					found = true;
				}
	pthread_mutex_unlock(&c->lock);
	return found;
}
