// SPDX-License-Identifier: BSD-2-Clause
/* Pod cgroups into the kernel's selection (contract in podsel.h). */
#include "podsel.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8s.h"
#include "k8s_pods.h"
#include "log.h"
#include "procsel.h"

#define ROOT_SEARCH_DEPTH 6      /* kubepods below the cgroup2 root */
#define ROOT_SEARCH_DIRS 100000  /* directories looked at, at most */
#define POD_SEARCH_DEPTH 2       /* pod cgroups below kubepods: <qos>/pod<uid> */
#define POD_CGROUPS 1024         /* = selected_cgroups' max_entries (select.h) */
#define TICK_NS 1000000000ull

struct pod_cgroup {
	uint64_t id;
	char uid[37];
	char name[96]; /* the directory's name, as /proc/PID/cgroup shows it */
};

struct tw_podsel {
	const struct tw_config *cfg;
	struct tw_k8s *k8s;
	int map_fd;
	uint64_t next_ns;
	pthread_mutex_t lock; /* sel, n_sel: read by tw_podsel_pid_selected() */
	struct pod_cgroup sel[POD_CGROUPS];
	unsigned n_sel;
	/* scratch of one rescan */
	struct pod_cgroup found[POD_CGROUPS];
	unsigned n_found;
	bool over_logged;
	bool listed_logged;
};

static struct tw_podsel *the_podsel; /* for tw_podsel_pid_selected() */

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool tw_pod_cgroup_uid(const char *name, char uid[37])
{
	const char *p;
	char dash;

	if (!strncmp(name, "pod", 3)) { /* cgroupfs driver */
		p = name + 3;
		dash = '-';
		if (strlen(p) != 36)
			return false;
	} else if ((p = strstr(name, "-pod"))) { /* systemd driver: '-' is its separator */
		p += 4;
		dash = '_';
		if (strlen(p) != 42 || strcmp(p + 36, ".slice"))
			return false;
	} else {
		return false;
	}
	for (int i = 0; i < 36; i++) {
		bool sep = i == 8 || i == 13 || i == 18 || i == 23;

		if (sep ? p[i] != dash : !is_hex(p[i]))
			return false;
		uid[i] = sep ? '-' : p[i];
	}
	uid[36] = '\0';
	return true;
}

static bool is_kubepods(const char *name)
{
	size_t n = strlen(name);

	return !strcmp(name, "kubepods") ||
	       (n >= 14 && !strcmp(name + n - 14, "kubepods.slice") &&
		(n == 14 || name[n - 15] == '-'));
}

static uint32_t path_level(const char *root, const char *path)
{
	uint32_t level = 0;

	for (const char *p = path + strlen(root); *p; p++)
		if (*p == '/' && p[1])
			level++;
	return level;
}

struct root_search {
	struct tw_config *cfg;
	const char *cg2;
	unsigned dirs;
};

static void find_roots(struct root_search *rs, const char *dir, int depth)
{
	DIR *d;
	struct dirent *e;

	if (depth > ROOT_SEARCH_DEPTH || !(d = opendir(dir)))
		return;
	while ((e = readdir(d)) && rs->dirs < ROOT_SEARCH_DIRS) {
		char path[TW_POD_ROOT_LEN];

		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		rs->dirs++;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
			continue;
		if (is_kubepods(e->d_name)) {
			struct tw_config *cfg = rs->cfg;
			uint32_t level = path_level(rs->cg2, path);

			if (cfg->n_pod_roots < TW_POD_ROOTS && level + 2 < 32) {
				strcpy(cfg->pod_roots[cfg->n_pod_roots++], path);
				/* Guaranteed pods sit right below it, the others below their QoS class */
				cfg->pod_levels |= 1u << (level + 1) | 1u << (level + 2);
			}
			continue;
		}
		find_roots(rs, path, depth + 1);
	}
	closedir(d);
}

int tw_podsel_prepare(struct tw_config *cfg)
{
	char cg2[256];
	bool given = tw_pod_filter_given(&cfg->pods);
	bool others = cfg->n_pids || cfg->n_cgroups || cfg->n_comms;

	cfg->pod_mode = TW_PODS_OFF;
	if (!given && (others || !tw_k8s_configured()))
		return 0;
	if (tw_cgroup2_root(cg2, sizeof(cg2))) {
		if (!given) {
			log_info("k8s: no cgroup2 hierarchy: selection by pod off, tracing every process");
			return 0;
		}
		log_error("--k8s-namespace/--k8s-selector: no cgroup2 hierarchy is mounted");
		return -ENOENT;
	}
	find_roots(&(struct root_search){ .cfg = cfg, .cg2 = cg2 }, cg2, 0);
	if (!cfg->n_pod_roots) {
		if (!given) {
			log_info("k8s: no kubepods cgroup below %s: this is no kubelet's node, tracing "
				 "every process", cg2);
			return 0;
		}
		log_error("--k8s-namespace/--k8s-selector: no kubepods cgroup below %s (searched %d "
			  "levels deep): this is no kubelet's node", cg2, ROOT_SEARCH_DEPTH);
		return -ENOENT;
	}
	cfg->pod_mode = given ? TW_PODS_FILTER : TW_PODS_DEFAULT;
	for (unsigned i = 0; i < cfg->n_pod_roots; i++)
		log_info("k8s: pod cgroups below %s", cfg->pod_roots[i]);
	return 0;
}

/* ---- run time ---- */

static void add_found(struct tw_podsel *ps, const char *name, const char *uid, uint64_t id)
{
	struct pod_cgroup *p;

	if (ps->n_found == POD_CGROUPS) {
		if (!ps->over_logged)
			log_warn("k8s: more than %d pod cgroups: the others are not selected",
				 POD_CGROUPS);
		ps->over_logged = true;
		return;
	}
	p = &ps->found[ps->n_found++];
	p->id = id;
	memcpy(p->uid, uid, sizeof(p->uid));
	snprintf(p->name, sizeof(p->name), "%s", name);
}

static void scan_pods(struct tw_podsel *ps, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[TW_POD_ROOT_LEN + 128], uid[37];
		struct stat st;

		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
			continue;
		if (tw_pod_cgroup_uid(e->d_name, uid)) {
			/* a cgroup's id is its directory's inode number */
			if (!stat(path, &st) && strlen(e->d_name) < sizeof(ps->found[0].name))
				add_found(ps, e->d_name, uid, st.st_ino);
		} else if (depth < POD_SEARCH_DEPTH) {
			scan_pods(ps, path, depth + 1);
		}
	}
	closedir(d);
}

/* Is the pod of uid selected, from what the pod cache knows? */
static bool pod_wanted(struct tw_podsel *ps, struct tw_k8s_cache *cache, const char *uid)
{
	struct tw_k8s_pod_brief b;
	bool known = cache && tw_k8s_cache_brief(cache, uid, &b);
	const char *own = getenv("POD_UID");

	if (own && !strcmp(own, uid))
		return false;
	if (ps->cfg->pod_mode == TW_PODS_FILTER)
		return known && b.selected;
	return !(known && !strcmp(b.ns, "kube-system"));
}

static bool has_id(const struct pod_cgroup *set, unsigned n, uint64_t id)
{
	for (unsigned i = 0; i < n; i++)
		if (set[i].id == id)
			return true;
	return false;
}

static bool given_cgroup(const struct tw_config *cfg, uint64_t id)
{
	for (size_t i = 0; i < cfg->n_cgroups; i++)
		if (cfg->cgroups[i].id == id)
			return true;
	return false;
}

void (*tw_podsel_changed_hook)(void);

static void apply(struct tw_podsel *ps, struct pod_cgroup *want, unsigned n_want)
{
	unsigned added = 0, removed = 0;
	__u8 one = 1;

	for (unsigned i = 0; i < ps->n_sel; i++)
		if (!has_id(want, n_want, ps->sel[i].id) && !given_cgroup(ps->cfg, ps->sel[i].id)) {
			bpf_map_delete_elem(ps->map_fd, &ps->sel[i].id);
			removed++;
		}
	for (unsigned i = 0; i < n_want; i++)
		if (!has_id(ps->sel, ps->n_sel, want[i].id)) {
			if (bpf_map_update_elem(ps->map_fd, &want[i].id, &one, BPF_ANY))
				log_warn("k8s: selecting pod %s failed: %s", want[i].uid, strerror(errno));
			else
				log_debug("k8s: pod %s selected (cgroup %s)", want[i].uid, want[i].name);
			added++;
		}
	if (!added && !removed)
		return;
	if (tw_podsel_changed_hook)
		tw_podsel_changed_hook();
	pthread_mutex_lock(&ps->lock);
	memcpy(ps->sel, want, n_want * sizeof(*want));
	ps->n_sel = n_want;
	pthread_mutex_unlock(&ps->lock);
	log_info("k8s: tracing %u pods (%u selected, %u no longer)", n_want, added, removed);
}

void tw_podsel_tick(struct tw_podsel *ps, uint64_t now_ns)
{
	struct tw_k8s_cache *cache;
	unsigned n_want = 0;

	if (!ps || now_ns < ps->next_ns)
		return;
	ps->next_ns = now_ns + TICK_NS;
	cache = ps->k8s ? tw_k8s_cache_of(ps->k8s) : NULL;
	if (ps->cfg->pod_mode == TW_PODS_FILTER && !(cache && tw_k8s_cache_listed(cache))) {
		if (!ps->listed_logged)
			log_info("k8s: no pod selected until the API server lists this node's pods");
		ps->listed_logged = true;
		return;
	}
	ps->n_found = 0;
	for (unsigned i = 0; i < ps->cfg->n_pod_roots; i++)
		scan_pods(ps, ps->cfg->pod_roots[i], 0);
	/* the wanted ones, compacted in place: found[] is scratch */
	for (unsigned i = 0; i < ps->n_found; i++)
		if (pod_wanted(ps, cache, ps->found[i].uid))
			ps->found[n_want++] = ps->found[i];
	apply(ps, ps->found, n_want);
}

struct tw_podsel *tw_podsel_new(const struct tw_config *cfg, struct tw_k8s *k8s,
				int selected_cgroups_fd)
{
	struct tw_podsel *ps;

	if (cfg->pod_mode == TW_PODS_OFF)
		return NULL;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return NULL;
	ps->cfg = cfg;
	ps->k8s = k8s;
	ps->map_fd = selected_cgroups_fd;
	pthread_mutex_init(&ps->lock, NULL);
	tw_podsel_tick(ps, 0);
	the_podsel = ps;
	return ps;
}

unsigned tw_podsel_count(const struct tw_podsel *ps)
{
	return ps ? ps->n_sel : 0;
}

void tw_podsel_free(struct tw_podsel *ps)
{
	if (!ps)
		return;
	if (the_podsel == ps)
		the_podsel = NULL;
	pthread_mutex_destroy(&ps->lock);
	free(ps);
}

static bool name_selected(struct tw_podsel *ps, const char *name, size_t n)
{
	for (unsigned i = 0; i < ps->n_sel; i++)
		if (strlen(ps->sel[i].name) == n && !memcmp(ps->sel[i].name, name, n))
			return true;
	return false;
}

bool tw_podsel_pid_selected(pid_t pid)
{
	struct tw_podsel *ps = the_podsel;
	char text[4096];
	const char *rel;
	bool found = false;

	if (!ps || !(rel = tw_proc_cgroup2_path(pid, text, sizeof(text))))
		return false;
	pthread_mutex_lock(&ps->lock);
	for (const char *p = rel; *p && !found;) {
		size_t len;

		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		found = len && name_selected(ps, p, len);
		p += len;
	}
	pthread_mutex_unlock(&ps->lock);
	return found;
}
