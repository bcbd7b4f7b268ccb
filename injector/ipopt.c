// SPDX-License-Identifier: BSD-2-Clause
#include "ipopt.h"

#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

enum tw_tc_mode { TW_TC_AUTO, TW_TC_TCX, TW_TC_CLSACT };
enum { DIR_IN, DIR_OUT };

/* What is attached to one interface. */
struct tw_att {
	int ifindex;
	enum tw_tc_mode mode;
	int link[2];  /* TCX link fds by direction, or -1 */
	bool filt[2]; /* clsact filter of ours by direction */
};

struct tw_ipopt {
	struct ipopt_bpf *skel;
	struct tw_ifwatch *watch;
	enum tw_tc_mode mode; /* TW_TC_AUTO until the first attach tells */
	bool forced;          /* by TRACEWIRE_TC_ATTACH */
	struct tw_att *atts;
	size_t n, cap;
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

static int tc_filter_add(int ifindex, int dir, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TW_TC_HANDLE, .priority = TW_TC_PRIO,
		    .prog_fd = prog_fd);
	struct bpf_tc_hook hook;
	int err;

	tc_hook_of(&hook, ifindex, dir);
	/* one clsact qdisc serves both directions; another tool's is fine
	 * (and stays when tracewire leaves, as does the one it created) */
	err = tw_tc_has_clsact(ifindex);
	if (err < 0)
		return err;
	if (!err) {
		err = bpf_tc_hook_create(&hook);
		if (err && err != -EEXIST)
			return err;
	} else if (tw_tc_has_filter(ifindex, dir == DIR_IN, TW_TC_HANDLE, TW_TC_PRIO) == 1) {
		/* not replaced: a leftover of ours went at start, so it is not */
		return -EEXIST;
	}
	return bpf_tc_attach(&hook, &opts);
}

/* ---- attach and detach -------------------------------------------------------- */

static int attach_dir(struct tw_ipopt *o, struct tw_att *a, int dir, struct bpf_program *prog,
		      const char *ifname)
{
	int prog_fd = bpf_program__fd(prog), fd, err;

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
	err = tc_filter_add(a->ifindex, dir, prog_fd);
	if (err == -EEXIST)
		log_warn("ip option: %s %s: handle 0x%x pref %u is taken by another filter, left "
			 "alone", ifname, dir_name(dir), TW_TC_HANDLE, TW_TC_PRIO);
	if (err)
		return err;
	a->filt[dir] = true;
	a->mode = TW_TC_CLSACT;
	return 0;
}

static void detach_att(struct tw_att *a, bool gone)
{
	for (int dir = DIR_IN; dir <= DIR_OUT; dir++) {
		if (a->link[dir] >= 0)
			close(a->link[dir]);
		a->link[dir] = -1;
		/* with the interface its qdisc and filters are gone too */
		if (a->filt[dir] && !gone)
			tc_filter_remove(a->ifindex, dir);
		a->filt[dir] = false;
	}
}

static struct tw_att *att_new(struct tw_ipopt *o, int ifindex)
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
	return a;
}

static int on_up(void *ctx, int ifindex, const char *name, enum tw_if_role role)
{
	struct tw_ipopt *o = ctx;
	struct tw_att *a = att_new(o, ifindex);
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
		detach_att(a, false);
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
		detach_att(&o->atts[i], gone);
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
		detach_att(&o->atts[i], false);
	free(o->atts);
	ipopt_bpf__destroy(o->skel);
	free(o);
}
