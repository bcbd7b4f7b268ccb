/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Network interfaces by name, now and as they come and go (libnl-3 route,
 * RTNLGRP_LINK): the pod veths (--tc-iface) and edge interfaces
 * (--tc-edge-iface) the IPv4 option's tc programs go on.
 */
#ifndef TW_IFWATCH_H
#define TW_IFWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum tw_if_role {
	TW_IF_NONE = 0,
	TW_IF_POD = 1,  /* matches --tc-iface: host side of a pod's veth */
	TW_IF_EDGE = 2, /* matches --tc-edge-iface (and no --tc-iface) */
};

struct tw_ifwatch_ops {
	/* Every interface there is at start, before any up(): a chance to
	 * clean up what a previous, killed run left on it (clsact: it has a
	 * clsact qdisc, where such leftovers can be). May be NULL. */
	void (*seen)(void *ctx, int ifindex, const char *name, bool clsact);
	/* An interface in a role appeared (or was renamed into one). 0 when
	 * set up; a negative errno is not retried until it reappears. */
	int (*up)(void *ctx, int ifindex, const char *name, enum tw_if_role role);
	/* An interface up() set up is gone (gone == true: deleted), renamed
	 * out of its role, or the watcher stops. */
	void (*down)(void *ctx, int ifindex, const char *name, enum tw_if_role role, bool gone);
};

struct tw_ifwatch;

/* Which role cfg's patterns give the name (fnmatch(3); --tc-iface wins). */
enum tw_if_role tw_ifwatch_role(const struct tw_config *cfg, const char *name);

/*
 * Subscribes to link notifications first, then walks the interfaces there
 * are (seen(), then up() for those in a role), so none is missed in
 * between. 0 or negative errno.
 */
int tw_ifwatch_start(struct tw_ifwatch **out, const struct tw_config *cfg,
		     const struct tw_ifwatch_ops *ops, void *ctx);
/* Readable when notifications are queued: for the daemon's epoll loop. */
int tw_ifwatch_fd(const struct tw_ifwatch *w);
/* Handles what is queued. When the kernel dropped notifications (socket
 * buffer full), walks all interfaces again. 0 or negative errno. */
int tw_ifwatch_process(struct tw_ifwatch *w);
/* Interfaces set up in role: how many, and their names ("a, b") in buf. */
size_t tw_ifwatch_list(const struct tw_ifwatch *w, enum tw_if_role role, char *buf, size_t len);
/* down() for every interface set up, then unsubscribes. */
void tw_ifwatch_stop(struct tw_ifwatch *w);

/* tc state asked over rtnetlink (libnl): unlike libbpf's tc calls, asking
 * about something that is not there is no error the kernel reports. */
/* The interface has a clsact qdisc: 1, 0, or negative errno. */
int tw_tc_has_clsact(int ifindex);
/* A filter with this handle and priority on the interface's clsact
 * ingress (or egress) hook: 1, 0, or negative errno. */
int tw_tc_has_filter(int ifindex, bool ingress, uint32_t handle, uint16_t prio);
/* Filters of any owner on the interface's clsact ingress (or egress) hook:
 * a count (0 without clsact), or negative errno. */
int tw_tc_n_filters(int ifindex, bool ingress);

#endif
