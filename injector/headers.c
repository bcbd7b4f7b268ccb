// SPDX-License-Identifier: BSD-2-Clause
#include "headers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "budget.h"
#include "feature_set.h"
#include "h2headers.skel.h"
#include "headers.skel.h"
#include "log.h"

struct tw_headers {
	struct headers_bpf *skel;
	struct h2headers_bpf *h2; /* NULL: HTTP/2 connections pass untouched */
	int sockhash_fd; /* the sockhash sk_msg is attached to, or -1 */
};

/*
 * HTTP/2 framing is a program of its own that headers' sk_msg tail-calls
 * (h2_prog): when it cannot load, the slot stays empty, HTTP/2 connections
 * pass as they are (counted: h2_off) and HTTP/1 propagation is unaffected.
 */
static void start_h2(struct tw_headers *h, const struct tw_config *cfg)
{
	struct h2headers_bpf *skel = h2headers_bpf__open();
	__u32 slot = 0;
	int err, fd;

	if (!skel) {
		err = -errno;
		goto fail;
	}
	skel->rodata->sample_threshold = tw_sample_threshold(cfg->sample_ratio);
	skel->rodata->inject_headers = 1;
	skel->rodata->wire_on = 0;
	TW_BUDGET_RODATA(skel->rodata);
	err = tw_share_maps(h->skel->obj, skel->obj);
	if (err)
		goto fail;
	tw_fault_inject(skel->obj, TW_FEATURE_H2_HEADERS);
	err = h2headers_bpf__load(skel);
	if (err)
		goto fail;
	fd = bpf_program__fd(skel->progs.tw_sk_msg_h2);
	if (bpf_map_update_elem(bpf_map__fd(h->skel->maps.h2_prog), &slot, &fd, BPF_ANY)) {
		err = -errno;
		goto fail;
	}
	h->h2 = skel;
	log_info("propagation: HTTP/2: traceparent in the first HEADERS frame of each new "
		 "stream of h2c connections seen from their preface");
	return;
fail:
	h2headers_bpf__destroy(skel);
	log_warn("propagation: HTTP/2 headers off: its program could not be loaded (%s); "
		 "HTTP/2 connections pass untouched, HTTP/1 headers are unaffected",
		 strerror(-err));
}

int tw_headers_start(struct tw_headers **out, const struct tw_config *cfg,
		     const struct tw_capture *cap, struct tw_sockops *so)
{
	struct tw_headers *h = calloc(1, sizeof(*h));
	int err, fd;

	if (!h)
		return -ENOMEM;
	h->sockhash_fd = -1;
	h->skel = headers_bpf__open();
	if (!h->skel) {
		err = -errno;
		goto cleanup;
	}
	h->skel->rodata->sample_threshold = tw_sample_threshold(cfg->sample_ratio);
	h->skel->rodata->inject_headers = (cfg->propagation & TW_PROP_HEADERS) != 0;
	h->skel->rodata->wire_on = (cfg->propagation & (TW_PROP_TCP | TW_PROP_IP)) != 0;
	TW_BUDGET_RODATA(h->skel->rodata);
	/* sock_ops' maps (counters, scope) first, then capture's */
	err = tw_share_maps(tw_sockops_object(so), h->skel->obj);
	if (!err)
		err = tw_capture_share_maps(cap, h->skel->obj);
	if (err)
		goto cleanup;
	tw_budget_apply_maps(h->skel->obj); /* go_h2_streams: --memory-limit */
	tw_fault_inject(h->skel->obj, TW_FEATURE_HEADERS);
	err = headers_bpf__load(h->skel);
	if (err)
		goto cleanup;
	fd = tw_sockops_map_fd(so, "client_socks");
	if (fd < 0) {
		err = fd;
		goto cleanup;
	}
	if (bpf_prog_attach(bpf_program__fd(h->skel->progs.tw_sk_msg), fd, BPF_SK_MSG_VERDICT,
			    0)) {
		err = -errno;
		goto cleanup;
	}
	h->sockhash_fd = fd;
	if (cfg->propagation & TW_PROP_HEADERS)
		start_h2(h, cfg);
	tw_sockops_watch_sockets(so);
	*out = h;
	return 0;

cleanup:
	tw_headers_stop(h);
	return err;
}

bool tw_headers_h2_on(const struct tw_headers *h)
{
	return h->h2 != NULL;
}

const struct bpf_object *tw_headers_h2_object(const struct tw_headers *h)
{
	return h && h->h2 ? h->h2->obj : NULL;
}

const struct bpf_object *tw_headers_object(const struct tw_headers *h)
{
	return h->skel->obj;
}

void tw_headers_stop(struct tw_headers *h)
{
	if (!h)
		return;
	if (h->sockhash_fd >= 0)
		bpf_prog_detach2(bpf_program__fd(h->skel->progs.tw_sk_msg), h->sockhash_fd,
				 BPF_SK_MSG_VERDICT);
	h2headers_bpf__destroy(h->h2);
	headers_bpf__destroy(h->skel);
	free(h);
}
