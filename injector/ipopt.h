/* SPDX-License-Identifier: BSD-2-Clause */
/* User-side half of bpf/ipopt.bpf.c: trace context in an IPv4 option,
 * inserted and stripped by tc programs on pod interfaces
 * (docs/wire-format.md, "IPv4 option (tc)"). */
#ifndef TW_IPOPT_H
#define TW_IPOPT_H

#include "config.h"
#include "sockops.h"

struct tw_ipopt;

/*
 * Loads the tc programs sharing propagation's maps (and through them
 * capture's), then watches interfaces: tw_from_pod (ingress) and tw_to_pod
 * (egress) go on every interface matching --tc-iface, tw_edge (egress) on
 * those matching --tc-edge-iface, now and as they appear. 0 or negative
 * errno (the caller runs without the IPv4 option then).
 */
int tw_ipopt_start(struct tw_ipopt **out, const struct tw_config *cfg,
		   const struct tw_sockops *prop);
/* For the daemon's epoll loop: readable when interfaces came or went. */
int tw_ipopt_fd(const struct tw_ipopt *o);
/* Whether its attachments are (or may become) clsact filters, which it
 * finds again by program id (BPF_PROG_GET_FD_BY_ID: CAP_SYS_ADMIN). */
bool tw_ipopt_uses_prog_ids(const struct tw_ipopt *o);
/* Attaches to new interfaces, forgets removed ones. */
void tw_ipopt_process(struct tw_ipopt *o);
/* Detaches everything (and removes its clsact filters, and the clsact
 * qdiscs it created when no other filter is on them). */
void tw_ipopt_stop(struct tw_ipopt *o);
/* At every start, whatever the options: what a killed instance left in this
 * network namespace (the clsact qdiscs it created, with its filters on them,
 * when nothing else is on them) and pins under /sys/fs/bpf/tracewire*. */
void tw_ipopt_sweep(void);

#endif
