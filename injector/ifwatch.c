// SPDX-License-Identifier: BSD-2-Clause
#include "ifwatch.h"

#include <errno.h>
#include <fnmatch.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/if_arp.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/classifier.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>
#include <netlink/socket.h>

#include "log.h"

/* Messages handled per tw_ifwatch_process() call: epoll (level-triggered)
 * calls again for the rest, so the loop's other work is never starved. */
#define TW_IFWATCH_BATCH 64

struct tw_if {
	int ifindex;
	char name[IF_NAMESIZE];
	enum tw_if_role role;
	bool ok;   /* up() set it up: down() owed */
	bool seen; /* present in the current walk (resync) */
};

struct tw_ifwatch {
	const struct tw_config *cfg;
	struct tw_ifwatch_ops ops;
	void *ctx;
	struct nl_sock *sk;
	struct tw_if *ifs;
	size_t n, cap;
	bool walking; /* a walk is on: mark what it sees */
};

enum tw_if_role tw_ifwatch_role(const struct tw_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_tc_ifaces; i++)
		if (!fnmatch(cfg->tc_ifaces[i], name, 0))
			return TW_IF_POD;
	for (size_t i = 0; i < cfg->n_tc_edge_ifaces; i++)
		if (!fnmatch(cfg->tc_edge_ifaces[i], name, 0))
			return TW_IF_EDGE;
	return TW_IF_NONE;
}

static struct tw_if *find_if(struct tw_ifwatch *w, int ifindex)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->ifs[i].ifindex == ifindex)
			return &w->ifs[i];
	return NULL;
}

static void forget(struct tw_ifwatch *w, struct tw_if *e, bool gone)
{
	if (e->ok)
		w->ops.down(w->ctx, e->ifindex, e->name, e->role, gone);
	*e = w->ifs[--w->n];
}

static void on_present(struct tw_ifwatch *w, int ifindex, const char *name, unsigned type)
{
	enum tw_if_role role = tw_ifwatch_role(w->cfg, name);
	struct tw_if *e = find_if(w, ifindex);

	if (e && strcmp(e->name, name)) {
		/* renamed: what it was set up as may no longer hold */
		forget(w, e, false);
		e = NULL;
	}
	if (e) {
		e->seen = true;
		return;
	}
	if (role == TW_IF_NONE)
		return;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		struct tw_if *ifs = realloc(w->ifs, cap * sizeof(*ifs));

		if (!ifs) {
			log_error("ip option: out of memory tracking interface %s", name);
			return;
		}
		w->ifs = ifs;
		w->cap = cap;
	}
	e = &w->ifs[w->n++];
	memset(e, 0, sizeof(*e));
	e->ifindex = ifindex;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->role = role;
	e->seen = true;
	if (type != ARPHRD_ETHER) {
		/* the programs find the IPv4 header behind an Ethernet one */
		log_warn("ip option: %s (ifindex %d) matches but is no Ethernet interface (type "
			 "%u): left alone", name, ifindex, type);
		return;
	}
	/* a failure is remembered (not retried on every change notification
	 * of the same interface); up() logged why */
	e->ok = w->ops.up(w->ctx, ifindex, e->name, role) == 0;
}

static void on_gone(struct tw_ifwatch *w, int ifindex)
{
	struct tw_if *e = find_if(w, ifindex);

	if (e)
		forget(w, e, true);
}

static int on_msg(struct nl_msg *msg, void *arg)
{
	struct tw_ifwatch *w = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[IFLA_MAX + 1];
	struct ifinfomsg *ifi;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return NL_OK;
	if (nlmsg_parse(nlh, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0 || !tb[IFLA_IFNAME])
		return NL_OK;
	ifi = nlmsg_data(nlh);
	if (nlh->nlmsg_type == RTM_DELLINK)
		on_gone(w, ifi->ifi_index);
	else
		on_present(w, ifi->ifi_index, nla_get_string(tb[IFLA_IFNAME]), ifi->ifi_type);
	return NL_OK;
}

struct walk {
	struct tw_ifwatch *w;
	bool seen_only;
	int *clsact; /* ifindexes with a clsact qdisc (first walk) */
	size_t n_clsact, cap_clsact;
};

static void note_clsact(struct nl_object *obj, void *arg)
{
	struct walk *k = arg;
	struct rtnl_tc *tc = (struct rtnl_tc *)obj;
	const char *kind = rtnl_tc_get_kind(tc);

	if (!kind || strcmp(kind, "clsact"))
		return;
	if (k->n_clsact == k->cap_clsact) {
		size_t cap = k->cap_clsact ? 2 * k->cap_clsact : 16;
		int *c = realloc(k->clsact, cap * sizeof(*c));

		if (!c)
			return;
		k->clsact = c;
		k->cap_clsact = cap;
	}
	k->clsact[k->n_clsact++] = rtnl_tc_get_ifindex(tc);
}

static bool has_clsact(const struct walk *k, int ifindex)
{
	for (size_t i = 0; i < k->n_clsact; i++)
		if (k->clsact[i] == ifindex)
			return true;
	return false;
}

static void walk_one(struct nl_object *obj, void *arg)
{
	struct walk *k = arg;
	struct rtnl_link *link = (struct rtnl_link *)obj;
	const char *name = rtnl_link_get_name(link);
	int ifindex = rtnl_link_get_ifindex(link);

	if (!name || ifindex <= 0)
		return;
	if (k->seen_only) {
		if (k->w->ops.seen)
			k->w->ops.seen(k->w->ctx, ifindex, name, has_clsact(k, ifindex));
		return;
	}
	on_present(k->w, ifindex, name, rtnl_link_get_arptype(link));
}

/* Every interface there is now; afterwards, those tracked but not seen are
 * gone (notifications of their removal may have been dropped). */
static int walk_links(struct tw_ifwatch *w, bool first)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_cache *cache = NULL;
	struct walk k = { .w = w };
	int err;

	if (!sk)
		return -ENOMEM;
	err = nl_connect(sk, NETLINK_ROUTE);
	if (!err)
		err = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
	if (err) {
		log_error("ip option: listing network interfaces failed: %s", nl_geterror(err));
		nl_socket_free(sk);
		return -EIO;
	}
	if (first && w->ops.seen) {
		struct nl_cache *qdiscs = NULL;

		/* asking tc about an interface without clsact makes the
		 * kernel (and libbpf) complain: only those with one */
		if (!rtnl_qdisc_alloc_cache(sk, &qdiscs)) {
			nl_cache_foreach(qdiscs, note_clsact, &k);
			nl_cache_free(qdiscs);
		}
		k.seen_only = true;
		nl_cache_foreach(cache, walk_one, &k);
		k.seen_only = false;
		free(k.clsact);
	}
	for (size_t i = 0; i < w->n; i++)
		w->ifs[i].seen = false;
	nl_cache_foreach(cache, walk_one, &k);
	for (size_t i = w->n; i-- > 0;)
		if (!w->ifs[i].seen)
			forget(w, &w->ifs[i], true);
	nl_cache_free(cache);
	nl_socket_free(sk);
	return 0;
}

int tw_ifwatch_start(struct tw_ifwatch **out, const struct tw_config *cfg,
		     const struct tw_ifwatch_ops *ops, void *ctx)
{
	struct tw_ifwatch *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->cfg = cfg;
	w->ops = *ops;
	w->ctx = ctx;
	w->sk = nl_socket_alloc();
	if (!w->sk) {
		free(w);
		return -ENOMEM;
	}
	/* notifications carry no sequence numbers of ours */
	nl_socket_disable_seq_check(w->sk);
	nl_socket_modify_cb(w->sk, NL_CB_VALID, NL_CB_CUSTOM, on_msg, w);
	/* link messages can outgrow a page (VF info): size each read */
	nl_socket_enable_msg_peek(w->sk);
	err = nl_connect(w->sk, NETLINK_ROUTE);
	if (!err)
		err = nl_socket_add_membership(w->sk, RTNLGRP_LINK);
	if (!err)
		err = nl_socket_set_nonblocking(w->sk);
	if (err) {
		log_error("ip option: subscribing to interface notifications failed: %s",
			  nl_geterror(err));
		nl_socket_free(w->sk);
		free(w);
		return -EIO;
	}
	/* a node creating many pods at once must not overflow it */
	nl_socket_set_buffer_size(w->sk, 4 << 20, 0);
	err = walk_links(w, true);
	if (err) {
		tw_ifwatch_stop(w);
		return err;
	}
	*out = w;
	return 0;
}

int tw_ifwatch_fd(const struct tw_ifwatch *w)
{
	return nl_socket_get_fd(w->sk);
}

int tw_ifwatch_process(struct tw_ifwatch *w)
{
	for (int i = 0; i < TW_IFWATCH_BATCH; i++) {
		int err = nl_recvmsgs_default(w->sk);

		if (err >= 0)
			continue;
		if (err == -NLE_AGAIN)
			return 0;
		/* ENOBUFS (libnl says "out of memory"): notifications were
		 * lost; anything else: the stream is in doubt. Either way the
		 * interfaces there are now tell the truth. */
		log_warn("ip option: interface notifications: %s; listing all interfaces again",
			 nl_geterror(err));
		return walk_links(w, false);
	}
	return 0;
}

size_t tw_ifwatch_list(const struct tw_ifwatch *w, enum tw_if_role role, char *buf, size_t len)
{
	size_t n = 0, off = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < w->n; i++) {
		if (!w->ifs[i].ok || w->ifs[i].role != role)
			continue;
		if (off < len)
			off += snprintf(buf + off, len - off, "%s%s", n ? ", " : "", w->ifs[i].name);
		n++;
	}
	return n;
}

void tw_ifwatch_stop(struct tw_ifwatch *w)
{
	if (!w)
		return;
	while (w->n)
		forget(w, &w->ifs[w->n - 1], false);
	free(w->ifs);
	nl_socket_free(w->sk);
	free(w);
}

/* ---- tc queries ---------------------------------------------------------------- */

static struct nl_sock *route_sock(void)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (sk && nl_connect(sk, NETLINK_ROUTE)) {
		nl_socket_free(sk);
		sk = NULL;
	}
	return sk;
}

/* A snapshot of the kernel's tc objects: the qdiscs (filters false), or the
 * filters of ifindex under parent. 0, -EIO without a netlink socket, or
 * -ENOENT when the kernel lists none (filters: no clsact there). The cache
 * keeps no reference to the socket. */
static int tc_cache(bool filters, int ifindex, uint32_t parent, struct nl_cache **out)
{
	struct nl_sock *sk = route_sock();
	int err;

	if (!sk)
		return -EIO;
	err = filters ? rtnl_cls_alloc_cache(sk, ifindex, parent, out) : rtnl_qdisc_alloc_cache(sk, out);
	nl_socket_free(sk);
	return err ? -ENOENT : 0;
}

int tw_tc_has_clsact(int ifindex)
{
	struct nl_cache *cache;
	struct nl_object *obj;
	int found = 0;

	if (tc_cache(false, 0, 0, &cache))
		return -EIO;
	for (obj = nl_cache_get_first(cache); obj && !found; obj = nl_cache_get_next(obj)) {
		struct rtnl_tc *tc = (struct rtnl_tc *)obj;
		const char *kind = rtnl_tc_get_kind(tc);

		found = rtnl_tc_get_ifindex(tc) == ifindex && kind && !strcmp(kind, "clsact");
	}
	nl_cache_free(cache);
	return found;
}

int tw_tc_has_filter(int ifindex, bool ingress, uint32_t handle, uint16_t prio)
{
	uint32_t parent = TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
	struct nl_cache *cache;
	struct nl_object *obj;
	int found = 0, err = tc_cache(true, ifindex, parent, &cache);

	if (err)
		return err == -EIO ? -EIO : 0; /* no clsact there: no filter either */
	for (obj = nl_cache_get_first(cache); obj && !found; obj = nl_cache_get_next(obj))
		found = rtnl_tc_get_handle((struct rtnl_tc *)obj) == handle &&
			rtnl_cls_get_prio((struct rtnl_cls *)obj) == prio;
	nl_cache_free(cache);
	return found;
}

int tw_tc_n_filters(int ifindex, bool ingress)
{
	uint32_t parent = TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
	struct nl_cache *cache;
	int n, err = tc_cache(true, ifindex, parent, &cache);

	if (err)
		return err == -EIO ? -EIO : 0; /* no clsact there: no filter either */
	n = nl_cache_nitems(cache);
	nl_cache_free(cache);
	return n;
}
