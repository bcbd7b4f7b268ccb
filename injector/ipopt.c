// SPDX-License-Identifier: BSD-2-Clause
#include "ipopt.h"

#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ifwatch.h"
#include "ipopt.skel.h"
#include "feature_set.h"
#include "log.h"

/* enum bpf_attach_type's TCX values (Linux 6.6): Debian 12's UAPI headers
 * and libbpf 1.1 predate them, the kernel takes them in BPF_LINK_CREATE. */
#define TW_BPF_TCX_INGRESS 46
#define TW_BPF_TCX_EGRESS 47
#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's, for an unknown attach type */
#endif

/* clsact filters (kernels without TCX) get a fixed handle and priority
 * ("tw"): a later run finds what a killed one left. That pair and the
 * program-name prefix together are how tracewire knows a filter is its
 * own; it never touches any other. */
#define TW_TC_HANDLE 0x7477
#define TW_TC_PRIO 0x7477
#define TW_PROG_PREFIX "tw_"

/* The clsact qdiscs tracewire created and has not removed yet are recorded
 * in a pinned map (ifindex -> interface name), one per network namespace:
 * an instance that was killed leaves it, the next start removes what it
 * names (tw_ipopt_sweep). Nothing else of tracewire's is ever pinned. */
#define TW_PIN_ROOT "/sys/fs/bpf"
#define TW_PIN_PREFIX "tracewire"
#define TW_PIN_DIR TW_PIN_ROOT "/" TW_PIN_PREFIX
#define TW_PIN_CLSACT "clsact_" /* + the network namespace's inode number (bpffs takes no dot) */

enum tw_tc_mode { TW_TC_AUTO, TW_TC_TCX, TW_TC_CLSACT };
enum { DIR_IN, DIR_OUT };

/* What is attached to one interface. */
struct tw_att {
	int ifindex;
	enum tw_tc_mode mode;
	int link[2];  /* TCX link fds by direction, or -1 */
	bool filt[2]; /* clsact filter of ours by direction */
	bool qdisc;   /* tracewire created the interface's clsact qdisc */
	char name[IF_NAMESIZE];
};

struct tw_ipopt {
	struct ipopt_bpf *skel;
	struct tw_ifwatch *watch;
	enum tw_tc_mode mode; /* TW_TC_AUTO until the first attach tells */
	bool forced;          /* by TRACEWIRE_TC_ATTACH */
	struct tw_att *atts;
	size_t n, cap;
	int record_fd; /* the pinned record of qdiscs created, or -1 */
};

/* "tcx links" or "clsact filters, handle 0x7477 pref 29815" (as tc shows them) */
static const char *mode_desc(enum tw_tc_mode m)
{
	static char clsact[64];

	if (m != TW_TC_CLSACT)
		return m == TW_TC_TCX ? "tcx links" : "tcx links, else clsact filters";
	snprintf(clsact, sizeof(clsact), "clsact filters, handle 0x%x pref %u", TW_TC_HANDLE,
		 TW_TC_PRIO);
	return clsact;
}

static const char *dir_name(int dir)
{
	return dir == DIR_IN ? "ingress" : "egress";
}

/* ---- clsact ---------------------------------------------------------------- */

static void tc_hook_of(struct bpf_tc_hook *hook, int ifindex, int dir)
{
	memset(hook, 0, sizeof(*hook));
	hook->sz = sizeof(*hook);
	hook->ifindex = ifindex;
	hook->attach_point = dir == DIR_IN ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

/*
 * The program behind the filter at tracewire's handle and priority: 1 when
 * its name says it is tracewire's (name filled in), 0 when it belongs to
 * someone else, negative errno when there is none.
 */
static int tc_filter_ours(int ifindex, int dir, char *name, size_t len)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TW_TC_HANDLE, .priority = TW_TC_PRIO);
	struct bpf_prog_info info = {};
	__u32 info_len = sizeof(info);
	struct bpf_tc_hook hook;
	int fd, err;

	/* asked first over libnl: libbpf's query of a missing filter makes
	 * the kernel complain into the log */
	err = tw_tc_has_filter(ifindex, dir == DIR_IN, TW_TC_HANDLE, TW_TC_PRIO);
	if (err <= 0)
		return err ? err : -ENOENT;
	tc_hook_of(&hook, ifindex, dir);
	err = bpf_tc_query(&hook, &opts);
	if (err)
		return err;
	fd = bpf_prog_get_fd_by_id(opts.prog_id);
	if (fd < 0)
		return -errno;
	err = bpf_obj_get_info_by_fd(fd, &info, &info_len);
	close(fd);
	if (err)
		return -errno;
	snprintf(name, len, "%s", info.name);
	return !strncmp(info.name, TW_PROG_PREFIX, strlen(TW_PROG_PREFIX));
}

static int tc_filter_remove(int ifindex, int dir)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TW_TC_HANDLE, .priority = TW_TC_PRIO);
	struct bpf_tc_hook hook;
	char name[BPF_OBJ_NAME_LEN];

	/* only when it is still ours: never someone else's at that slot */
	if (tc_filter_ours(ifindex, dir, name, sizeof(name)) != 1)
		return -ENOENT;
	tc_hook_of(&hook, ifindex, dir);
	return bpf_tc_detach(&hook, &opts);
}

static int tc_filter_add(int ifindex, int dir, int prog_fd, bool *created)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TW_TC_HANDLE, .priority = TW_TC_PRIO,
		    .prog_fd = prog_fd);
	struct bpf_tc_hook hook;
	int err;

	tc_hook_of(&hook, ifindex, dir);
	/* one clsact qdisc serves both directions; another tool's is fine
	 * (and stays when tracewire leaves; the one it created goes, when no
	 * other filter is on it then: tc_qdisc_remove) */
	err = tw_tc_has_clsact(ifindex);
	if (err < 0)
		return err;
	if (!err) {
		err = bpf_tc_hook_create(&hook);
		if (err && err != -EEXIST)
			return err;
		*created = !err;
	} else if (tw_tc_has_filter(ifindex, dir == DIR_IN, TW_TC_HANDLE, TW_TC_PRIO) == 1) {
		/* not replaced: a leftover of ours went at start, so it is not */
		return -EEXIST;
	}
	return bpf_tc_attach(&hook, &opts);
}

/* The interface's clsact qdisc, when no filter is left on it (so nobody
 * else uses it). 1 removed, 0 left (filters on it), or negative errno. */
static int tc_qdisc_remove(int ifindex)
{
	struct bpf_tc_hook hook;
	int in = tw_tc_n_filters(ifindex, true), out = tw_tc_n_filters(ifindex, false);

	if (in < 0 || out < 0)
		return in < 0 ? in : out;
	if (in || out)
		return 0;
	tc_hook_of(&hook, ifindex, DIR_IN);
	hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS; /* the qdisc itself */
	return bpf_tc_hook_destroy(&hook) ? -errno : 1;
}

/* ---- the record of qdiscs created ---------------------------------------------- */

/* "/sys/fs/bpf/tracewire/clsact_<netns inode>" into buf: 0, or negative errno
 * when there is no bpffs there (then nothing is recorded). */
static int record_path(char *buf, size_t len)
{
	struct statfs fs;
	struct stat ns;

	if (statfs(TW_PIN_ROOT, &fs) || fs.f_type != BPF_FS_MAGIC)
		return -ENOENT;
	if (stat("/proc/self/ns/net", &ns))
		return -errno;
	snprintf(buf, len, "%s/%s%llu", TW_PIN_DIR, TW_PIN_CLSACT, (unsigned long long)ns.st_ino);
	return 0;
}

static void record(struct tw_ipopt *o, const struct tw_att *a, bool add)
{
	char path[256];
	__u32 key = a->ifindex;

	if (o->record_fd < 0 && add && !record_path(path, sizeof(path))) {
		o->record_fd = bpf_obj_get(path);
		if (o->record_fd < 0) {
			mkdir(TW_PIN_DIR, 0700);
			o->record_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "tw_clsact", sizeof(__u32),
						      IF_NAMESIZE, 4096, NULL);
			if (o->record_fd >= 0 && bpf_obj_pin(o->record_fd, path)) {
				log_warn("ip option: pinning %s failed (%s): a clsact qdisc tracewire "
					 "creates stays after a crash", path, strerror(errno));
				close(o->record_fd);
				o->record_fd = -1;
			}
		}
	}
	if (o->record_fd < 0)
		return;
	if (add)
		bpf_map_update_elem(o->record_fd, &key, a->name, BPF_ANY);
	else
		bpf_map_delete_elem(o->record_fd, &key);
}

/* At stop: the record goes when it names nothing (or when no bpffs). */
static void record_close(struct tw_ipopt *o)
{
	char path[256];
	__u32 key;

	if (o->record_fd < 0)
		return;
	if (bpf_map_get_next_key(o->record_fd, NULL, &key) && !record_path(path, sizeof(path))) {
		unlink(path);
		rmdir(TW_PIN_DIR); /* when empty */
	}
	close(o->record_fd);
	o->record_fd = -1;
}

/* ---- attach and detach -------------------------------------------------------- */

static int attach_dir(struct tw_ipopt *o, struct tw_att *a, int dir, struct bpf_program *prog,
		      const char *ifname)
{
	int prog_fd = bpf_program__fd(prog), fd, err;
	bool created = false;

	if (o->mode != TW_TC_CLSACT) {
		/* a link: the program goes away with tracewire's last fd */
		fd = bpf_link_create(prog_fd, a->ifindex,
				     (enum bpf_attach_type)(dir == DIR_IN ? TW_BPF_TCX_INGRESS
									  : TW_BPF_TCX_EGRESS),
				     NULL);
		if (fd >= 0) {
			a->link[dir] = fd;
			a->mode = o->mode = TW_TC_TCX;
			return 0;
		}
		err = -errno;
		if (o->mode == TW_TC_TCX || o->forced ||
		    (err != -EINVAL && err != -EOPNOTSUPP && err != -ENOTSUPP))
			return err;
		log_warn("ip option: TCX links are not available on this kernel (%s): using %s, "
			 "which tracewire removes on exit and, after a crash, at its next start",
			 strerror(-err), mode_desc(TW_TC_CLSACT));
		o->mode = TW_TC_CLSACT;
	}
	err = tc_filter_add(a->ifindex, dir, prog_fd, &created);
	if (created) {
		a->qdisc = true;
		record(o, a, true);
	}
	if (err == -EEXIST)
		log_warn("ip option: %s %s: handle 0x%x pref %u is taken by another filter, left "
			 "alone", ifname, dir_name(dir), TW_TC_HANDLE, TW_TC_PRIO);
	if (err)
		return err;
	a->filt[dir] = true;
	a->mode = TW_TC_CLSACT;
	return 0;
}

static void detach_att(struct tw_ipopt *o, struct tw_att *a, bool gone)
{
	int r;

	for (int dir = DIR_IN; dir <= DIR_OUT; dir++) {
		if (a->link[dir] >= 0)
			close(a->link[dir]);
		a->link[dir] = -1;
		/* with the interface its qdisc and filters are gone too */
		if (a->filt[dir] && !gone)
			tc_filter_remove(a->ifindex, dir);
		a->filt[dir] = false;
	}
	if (!a->qdisc)
		return;
	/* the qdisc tracewire created goes too, unless another tool put a
	 * filter on it meanwhile (then it is that tool's to keep) */
	r = gone ? 1 : tc_qdisc_remove(a->ifindex);
	if (r == 1 && !gone)
		log_info("ip option: %s: removed the clsact qdisc tracewire created", a->name);
	else if (r == 0)
		log_info("ip option: %s: the clsact qdisc tracewire created is left: other filters "
			 "are on it", a->name);
	else if (r < 0)
		log_warn("ip option: %s: removing the clsact qdisc tracewire created failed: %s",
			 a->name, strerror(-r));
	a->qdisc = false;
	record(o, a, false);
}

static struct tw_att *att_new(struct tw_ipopt *o, int ifindex, const char *name)
{
	struct tw_att *a;

	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 16;
		struct tw_att *atts = realloc(o->atts, cap * sizeof(*atts));

		if (!atts)
			return NULL;
		o->atts = atts;
		o->cap = cap;
	}
	a = &o->atts[o->n++];
	*a = (struct tw_att){ .ifindex = ifindex, .link = { -1, -1 } };
	snprintf(a->name, sizeof(a->name), "%s", name);
	return a;
}

static int on_up(void *ctx, int ifindex, const char *name, enum tw_if_role role)
{
	struct tw_ipopt *o = ctx;
	struct tw_att *a = att_new(o, ifindex, name);
	int err;

	if (!a)
		return -ENOMEM;
	if (role == TW_IF_POD) {
		err = attach_dir(o, a, DIR_IN, o->skel->progs.tw_from_pod, name);
		if (!err)
			err = attach_dir(o, a, DIR_OUT, o->skel->progs.tw_to_pod, name);
	} else {
		err = attach_dir(o, a, DIR_OUT, o->skel->progs.tw_edge, name);
	}
	if (err) {
		/* all or nothing: an option inserted here and never stripped
		 * there would be a half-configured pod */
		detach_att(o, a, false);
		o->n--;
		log_warn("ip option: %s (ifindex %d): attaching failed (%s); it carries no IPv4 "
			 "option, its traffic is untouched", name, ifindex, strerror(-err));
		return err;
	}
	if (role == TW_IF_POD)
		log_info("ip option: %s (ifindex %d): tw_from_pod at ingress, tw_to_pod at egress "
			 "(%s)", name, ifindex, mode_desc(a->mode));
	else
		log_info("ip option: %s (ifindex %d): tw_edge at egress (%s)", name, ifindex,
			 mode_desc(a->mode));
	return 0;
}

static void on_down(void *ctx, int ifindex, const char *name, enum tw_if_role role, bool gone)
{
	struct tw_ipopt *o = ctx;

	for (size_t i = 0; i < o->n; i++) {
		if (o->atts[i].ifindex != ifindex)
			continue;
		detach_att(o, &o->atts[i], gone);
		o->atts[i] = o->atts[--o->n];
		log_info("ip option: %s (ifindex %d): %s%s", name, ifindex,
			 role == TW_IF_POD ? "tw_from_pod, tw_to_pod " : "tw_edge ",
			 gone ? "gone with the interface" : "detached");
		return;
	}
}

/* Filters a killed run left (clsact only: TCX links die with it). */
static void on_seen(void *ctx, int ifindex, const char *name, bool clsact)
{
	char prog[BPF_OBJ_NAME_LEN];

	(void)ctx;
	if (!clsact)
		return;
	for (int dir = DIR_IN; dir <= DIR_OUT; dir++) {
		int r = tc_filter_ours(ifindex, dir, prog, sizeof(prog));

		if (r == 1 && !tc_filter_remove(ifindex, dir))
			log_info("ip option: %s %s: removed filter %s (handle 0x%x pref %u) left by an "
				 "earlier tracewire run", name, dir_name(dir), prog, TW_TC_HANDLE,
				 TW_TC_PRIO);
		else if (r == 0)
			log_warn("ip option: %s %s: filter %s at tracewire's handle 0x%x pref %u is "
				 "not tracewire's: left alone", name, dir_name(dir), prog,
				 TW_TC_HANDLE, TW_TC_PRIO);
	}
}

static void read_mode(struct tw_ipopt *o)
{
	/* testing and odd kernels: force one attachment kind */
	const char *m = getenv("TRACEWIRE_TC_ATTACH");

	if (!m || !*m || !strcmp(m, "auto"))
		return;
	if (!strcmp(m, "tcx") || !strcmp(m, "clsact")) {
		o->mode = !strcmp(m, "tcx") ? TW_TC_TCX : TW_TC_CLSACT;
		o->forced = true;
		log_info("ip option: TRACEWIRE_TC_ATTACH=%s: %s only", m, mode_desc(o->mode));
		return;
	}
	log_warn("ip option: TRACEWIRE_TC_ATTACH=%s is none of auto, tcx, clsact: ignored", m);
}

/* "'a*' 'b*': 2 now (a1, b2)" */
static void describe_role(const struct tw_ipopt *o, enum tw_if_role role,
			  const char (*pats)[TW_IFACE_PATTERN_LEN], size_t n_pats, char *buf,
			  size_t len)
{
	char names[1024];
	size_t n = tw_ifwatch_list(o->watch, role, names, sizeof(names)), off = 0;

	for (size_t i = 0; i < n_pats && off < len; i++)
		off += snprintf(buf + off, len - off, "%s'%s'", i ? " " : "", pats[i]);
	if (off < len)
		snprintf(buf + off, len - off, ": %zu now%s%s%s", n, n ? " (" : "", names,
			 n ? ")" : "");
}

static void log_summary(const struct tw_ipopt *o, const struct tw_config *cfg)
{
	char pods[1536], edges[1536] = "none (no --tc-edge-iface)";

	describe_role(o, TW_IF_POD, cfg->tc_ifaces, cfg->n_tc_ifaces, pods, sizeof(pods));
	if (cfg->n_tc_edge_ifaces)
		describe_role(o, TW_IF_EDGE, cfg->tc_edge_ifaces, cfg->n_tc_edge_ifaces, edges,
			      sizeof(edges));
	log_info("ip option: on (%s); pod interfaces %s; edge interfaces %s; interfaces that "
		 "appear later are attached as they do", mode_desc(o->mode), pods, edges);
}

int tw_ipopt_start(struct tw_ipopt **out, const struct tw_config *cfg,
		   const struct tw_sockops *prop)
{
	static const struct tw_ifwatch_ops ops = {
		.seen = on_seen,
		.up = on_up,
		.down = on_down,
	};
	struct tw_ipopt *o = calloc(1, sizeof(*o));
	int err;

	if (!o)
		return -ENOMEM;
	o->record_fd = -1;
	read_mode(o);
	o->skel = ipopt_bpf__open();
	if (!o->skel) {
		err = -errno;
		log_error("ip option: opening the BPF object failed: %s", strerror(-err));
		goto cleanup;
	}
	err = tw_share_maps(tw_sockops_object(prop), o->skel->obj);
	if (err) {
		log_error("ip option: sharing propagation's maps failed: %s", strerror(-err));
		goto cleanup;
	}
	tw_fault_inject(o->skel->obj, TW_FEATURE_IP_OPTION);
	err = ipopt_bpf__load(o->skel);
	if (err) {
		log_error("ip option: loading the tc programs failed: %s", strerror(-err));
		goto cleanup;
	}
	err = tw_ifwatch_start(&o->watch, cfg, &ops, o);
	if (err)
		goto cleanup;
	log_summary(o, cfg);
	*out = o;
	return 0;

cleanup:
	tw_ipopt_stop(o);
	return err;
}

/* Pins under /sys/fs/bpf/tracewire* that no running instance owns: all but
 * the clsact records of other network namespaces. */
static void sweep_pins(void)
{
	DIR *root = opendir(TW_PIN_ROOT), *d;
	struct dirent *e, *f;
	char path[512];

	if (!root)
		return;
	while ((e = readdir(root))) {
		if (strncmp(e->d_name, TW_PIN_PREFIX, strlen(TW_PIN_PREFIX)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", TW_PIN_ROOT, e->d_name);
		d = opendir(path);
		if (!d) {
			if (!unlink(path))
				log_info("removed %s, left by an earlier tracewire run", path);
			continue;
		}
		while ((f = readdir(d))) {
			char sub[1024];

			if (f->d_name[0] == '.' ||
			    (!strcmp(path, TW_PIN_DIR) &&
			     !strncmp(f->d_name, TW_PIN_CLSACT, strlen(TW_PIN_CLSACT))))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, f->d_name);
			if (!unlink(sub))
				log_info("removed %s, left by an earlier tracewire run", sub);
		}
		closedir(d);
		rmdir(path); /* when empty */
	}
	closedir(root);
}

void tw_ipopt_sweep(void)
{
	char path[256], name[IF_NAMESIZE], now[IF_NAMESIZE], prog[BPF_OBJ_NAME_LEN];
	__u32 key, next;
	bool more;
	int fd;

	if (record_path(path, sizeof(path)))
		return;
	fd = bpf_obj_get(path);
	for (more = fd >= 0 && !bpf_map_get_next_key(fd, NULL, &next); more;) {
		key = next;
		more = !bpf_map_get_next_key(fd, &key, &next);
		if (bpf_map_lookup_elem(fd, &key, name))
			continue;
		name[IF_NAMESIZE - 1] = '\0';
		/* gone with its interface, or the index is another interface's now */
		if (!if_indextoname(key, now) || strcmp(now, name) || tw_tc_has_clsact(key) != 1)
			continue;
		for (int dir = DIR_IN; dir <= DIR_OUT; dir++)
			if (tc_filter_ours(key, dir, prog, sizeof(prog)) == 1 &&
			    !tc_filter_remove(key, dir))
				log_info("ip option: %s %s: removed filter %s (handle 0x%x pref %u) left by "
					 "an earlier tracewire run", name, dir_name(dir), prog,
					 TW_TC_HANDLE, TW_TC_PRIO);
		if (tc_qdisc_remove(key) == 1)
			log_info("ip option: %s: removed the clsact qdisc an earlier tracewire run "
				 "created", name);
		else
			log_info("ip option: %s: the clsact qdisc an earlier tracewire run created is "
				 "left: other filters are on it", name);
	}
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	sweep_pins();
}

bool tw_ipopt_uses_prog_ids(const struct tw_ipopt *o)
{
	/* TW_TC_AUTO: no interface attached yet, clsact may still come */
	return o->mode != TW_TC_TCX;
}

int tw_ipopt_fd(const struct tw_ipopt *o)
{
	return tw_ifwatch_fd(o->watch);
}

void tw_ipopt_process(struct tw_ipopt *o)
{
	int err = tw_ifwatch_process(o->watch);

	if (err)
		log_warn("ip option: following interface changes failed: %s", strerror(-err));
}

void tw_ipopt_stop(struct tw_ipopt *o)
{
	size_t n;

	if (!o)
		return;
	n = o->n;
	/* programs off every interface first, then the object */
	tw_ifwatch_stop(o->watch);
	if (n)
		log_info("ip option: off; detached from %zu interface%s", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < o->n; i++)
		detach_att(o, &o->atts[i], false);
	record_close(o);
	free(o->atts);
	ipopt_bpf__destroy(o->skel);
	free(o);
}
