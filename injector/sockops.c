// SPDX-License-Identifier: BSD-2-Clause
#include "sockops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "feature_set.h"
#include "procsel.h"
#include "budget.h"
#include "sockops.skel.h"

struct tw_sockops {
	struct sockops_bpf *skel;
	struct bpf_link *sockops[TW_MAX_SELECTORS];
	size_t n_sockops;
};

static const char *const counter_names[TW_PC_MAX] = {
	[TW_PC_INJECTED] = "injected",
	[TW_PC_REWRITTEN] = "rewritten",
	[TW_PC_KEPT_EXISTING] = "kept_existing",
	[TW_PC_SKIP_SPLIT_HEAD] = "skip_split_head",
	[TW_PC_SKIP_HEAD_TOO_LONG] = "skip_head_too_long",
	[TW_PC_SKIP_NOT_HTTP] = "skip_not_http",
	[TW_PC_SKIP_UNFRAMED] = "skip_unframed",
	[TW_PC_FAIL_OPEN] = "fail_open",
	[TW_PC_SOCKS_ADDED] = "socks_added",
	[TW_PC_SOCKS_OUT_OF_SCOPE] = "socks_out_of_scope",
	[TW_PC_SOCKHASH_FULL] = "sockhash_full",
	[TW_PC_CTX_LOST] = "ctx_lost",
	[TW_PC_SHORT_WRITES] = "short_writes",
	[TW_PC_UNSEEN_SENDS] = "unseen_sends",
	[TW_PC_TCPOPT_WRITTEN] = "tcp_opt_written",
	[TW_PC_TCPOPT_NO_ROOM] = "tcp_opt_no_room",
	[TW_PC_TCPOPT_READ] = "tcp_opt_read",
	[TW_PC_IPOPT_WRITTEN] = "ip_opt_written",
	[TW_PC_IPOPT_NO_ROOM] = "ip_opt_no_room",
	[TW_PC_IPOPT_READ] = "ip_opt_read",
	[TW_PC_IPOPT_STRIPPED] = "ip_opt_stripped",
	[TW_PC_OPT_UNTRUSTED] = "opt_untrusted",
	[TW_PC_SKIP_NH_TLS] = "skip_nh_tls",
	[TW_PC_SKIP_NH_H2C] = "skip_nh_h2c",
	[TW_PC_SKIP_NH_METHOD] = "skip_nh_method",
	[TW_PC_SKIP_NH_TARGET] = "skip_nh_target",
	[TW_PC_SKIP_NH_VERSION] = "skip_nh_version",
	[TW_PC_SKIP_NH_LINE_END] = "skip_nh_line_end",
	[TW_PC_SKIP_NH_HEADER] = "skip_nh_header",
	[TW_PC_SKIP_TUNNEL] = "skip_tunnel",
	[TW_PC_TS_INVALID] = "tracestate_invalid",
	[TW_PC_IPOPT_RETRANSMIT] = "ip_opt_retransmit",
	[TW_PC_SOCKS_ADOPTED] = "socks_adopted",
	[TW_PC_SKIP_RESYNC] = "skip_resync",
	[TW_PC_H2_CONNS] = "h2_conns",
	[TW_PC_H2_INJECTED] = "h2_injected",
	[TW_PC_H2_KEPT_EXISTING] = "h2_kept_existing",
	[TW_PC_H2_SKIP_NO_ACK] = "h2_skip_no_settings_ack",
	[TW_PC_H2_SKIP_FRAME_SIZE] = "h2_skip_frame_size",
	[TW_PC_H2_SKIP_SPLIT_FRAME] = "h2_skip_split_frame",
	[TW_PC_H2_OPAQUE_SPLIT_BLOCK] = "h2_opaque_split_block",
	[TW_PC_H2_OPAQUE_LONG_BLOCK] = "h2_opaque_long_block",
	[TW_PC_H2_OPAQUE_CONTINUATION] = "h2_opaque_continuation",
	[TW_PC_H2_OPAQUE_BAD] = "h2_opaque_bad",
	[TW_PC_H2_OPAQUE_LOST] = "h2_opaque_lost",
	[TW_PC_H2_OFF] = "h2_off",
	[TW_PC_SKIP_SNDBUF] = "skip_sndbuf",
};

const char *tw_prop_counter_name(unsigned idx)
{
	return idx < TW_PC_MAX && counter_names[idx] ? counter_names[idx] : "?";
}

static int fill_scope(struct sockops_bpf *skel, const struct tw_config *cfg)
{
	struct tw_scope_key keys[TW_MAX_SCOPE];
	size_t n = tw_scope_keys(cfg, keys, TW_MAX_SCOPE);
	__u8 one = 1;

	for (size_t i = 0; i < n; i++)
		if (bpf_map__update_elem(skel->maps.prop_scope, &keys[i], sizeof(keys[i]), &one,
					 sizeof(one), BPF_ANY))
			return -errno;
	n = tw_trust_keys(cfg, keys, TW_MAX_SCOPE);
	for (size_t i = 0; i < n; i++)
		if (bpf_map__update_elem(skel->maps.trust_from, &keys[i], sizeof(keys[i]), &one,
					 sizeof(one), BPF_ANY))
			return -errno;
	for (size_t i = 0; i < cfg->n_propagate_ports; i++) {
		__u16 port = cfg->propagate_ports[i];

		if (bpf_map__update_elem(skel->maps.prop_ports, &port, sizeof(port), &one,
					 sizeof(one), BPF_ANY))
			return -errno;
	}
	return 0;
}

static int attach_sockops_at(struct tw_sockops *p, const char *path)
{
	struct bpf_link *link;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	/* A link, not a bpf_prog_attach: it goes away with tracewire. */
	link = bpf_program__attach_cgroup(p->skel->progs.tw_sockops, fd);
	close(fd);
	if (!link)
		return -errno;
	p->sockops[p->n_sockops++] = link;
	log_info("propagation: sock_ops attached to cgroup %s", path);
	return 0;
}

/* sock_ops sees sockets by the cgroup of the process that made them. With
 * --cgroup it goes exactly there; other selectors name processes, not
 * cgroups, so it goes to the root and acts only on sockets the (selected)
 * connect tracepoint marked. */
static int attach_sockops(struct tw_sockops *p, const struct tw_config *cfg)
{
	char root[PATH_MAX];
	int err;

	if (cfg->n_cgroups && !cfg->n_pids && !cfg->n_comms) {
		for (size_t i = 0; i < cfg->n_cgroups; i++) {
			err = attach_sockops_at(p, cfg->cgroups[i].path);
			if (err)
				return err;
		}
		return 0;
	}
	err = tw_cgroup2_root(root, sizeof(root));
	if (err) {
		log_error("propagation: no cgroup2 mount found to attach sock_ops to");
		return err;
	}
	return attach_sockops_at(p, root);
}

int tw_sockops_start(struct tw_sockops **out, const struct tw_config *cfg,
		     const struct tw_capture *cap)
{
	struct tw_sockops *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->skel = sockops_bpf__open();
	if (!p->skel) {
		err = -errno;
		log_error("propagation: opening the sock_ops object failed: %s", strerror(-err));
		goto cleanup;
	}
	p->skel->rodata->any_port = cfg->n_propagate_ports == 0;
	p->skel->rodata->sample_threshold = tw_sample_threshold(cfg->sample_ratio);
	p->skel->rodata->wire_tcp = (cfg->propagation & TW_PROP_TCP) != 0;
	p->skel->rodata->wire_on = (cfg->propagation & (TW_PROP_TCP | TW_PROP_IP)) != 0;
	p->skel->rodata->tcpopt_kind = cfg->tcp_option_kind;
	err = tw_capture_share_maps(cap, p->skel->obj);
	if (err) {
		log_error("propagation: sharing capture's maps failed: %s", strerror(-err));
		goto cleanup;
	}
	tw_budget_apply_maps(p->skel->obj); /* the sockhash: --memory-limit */
	tw_fault_inject(p->skel->obj, TW_FEATURE_SOCKOPS);
	err = sockops_bpf__load(p->skel);
	if (err) {
		log_error("propagation: loading the sock_ops program failed: %s", strerror(-err));
		goto cleanup;
	}
	err = fill_scope(p->skel, cfg);
	if (err) {
		log_error("propagation: filling the scope maps failed: %s", strerror(-err));
		goto cleanup;
	}
	err = attach_sockops(p, cfg);
	if (err) {
		log_error("propagation: attaching sock_ops failed: %s", strerror(-err));
		goto cleanup;
	}
	*out = p;
	return 0;

cleanup:
	tw_sockops_stop(p);
	return err;
}

void tw_sockops_watch_sockets(struct tw_sockops *p)
{
	p->skel->bss->headers_on = 1;
}

int tw_sockops_counters(const struct tw_sockops *p, uint64_t out[TW_PC_MAX])
{
	return tw_percpu_counters(p->skel->maps.prop_counters, TW_PC_MAX, out);
}

int tw_sockops_map_fd(const struct tw_sockops *p, const char *name)
{
	const struct bpf_map *map = bpf_object__find_map_by_name(p->skel->obj, name);

	return map ? bpf_map__fd(map) : -ENOENT;
}

const struct bpf_object *tw_sockops_object(const struct tw_sockops *p)
{
	return p->skel->obj;
}

void tw_sockops_stop(struct tw_sockops *p)
{
	if (!p)
		return;
	/* No new sockets; the sockhash (and with it every socket's psock)
	 * goes with the skeleton, after headers.c detached sk_msg from it. */
	for (size_t i = 0; i < p->n_sockops; i++)
		bpf_link__destroy(p->sockops[i]);
	sockops_bpf__destroy(p->skel);
	free(p);
}
