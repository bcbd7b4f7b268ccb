// SPDX-License-Identifier: BSD-2-Clause
/* A Go process's uprobes on, and off (contract in goprobes_int.h): classic
 * perf-event uprobes, or one uprobe_multi link per program and pass. */
#include "goprobes_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "goprobes.h"
#include "goprobes.skel.h"
#include "log.h"
#include "umulti.h"

static struct bpf_program *prog_for(struct goprobes_bpf *skel, unsigned kind)
{
	switch (kind) {
	case TW_GS_SERVE:
		return skel->progs.tw_go_serve;
	case TW_GS_ROUNDTRIP:
		return skel->progs.tw_go_roundtrip;
	case TW_GS_CONNWRITE:
		return skel->progs.tw_go_connwrite;
	case TW_GS_SPAWN_PARENT:
		return skel->progs.tw_go_spawn_parent;
	case TW_GS_SPAWN:
		return skel->progs.tw_go_spawn;
	case TW_GS_NEWPROC:
		return skel->progs.tw_go_newproc;
	case TW_GS_NEWPROC_RET:
		return skel->progs.tw_go_newproc_ret;
	case TW_GS_CONNWRITE_RET:
		return skel->progs.tw_go_connwrite_ret;
	case TW_GS_CONNREAD_RET:
		return skel->progs.tw_go_connread_ret;
	case TW_GS_TLS_READ:
		return skel->progs.tw_go_tls_read;
	case TW_GS_TLS_READ_RET:
	case TW_GS_TLS_WRITE: /* TW_GO_COOKIE_TLS_WRITE tells them apart */
		return skel->progs.tw_go_tls_data;
	case TW_GS_GRPC_SERVER:
		return skel->progs.tw_go_grpc_server;
	case TW_GS_GRPC_PUT:
		return skel->progs.tw_go_grpc_put;
	case TW_GS_GRPC_LOOPY:
		return skel->progs.tw_go_grpc_loopy;
	}
	return NULL;
}

/* What must be in place before the probes that create state: the probes
 * that clear or consume it. */
static bool attach_first(unsigned kind)
{
	return kind == TW_GS_CONNWRITE_RET || kind == TW_GS_NEWPROC_RET ||
	       kind == TW_GS_CONNREAD_RET || kind == TW_GS_SPAWN || kind == TW_GS_TLS_READ_RET ||
	       kind == TW_GS_GRPC_LOOPY;
}

/* Entry probes go last and come off first: a RET probe without its entry
 * does nothing, an entry without its RET would leave state behind. */
void tw_go_detach(struct tw_goprobes *gp, struct goproc *p)
{
	__u32 pid = (__u32)p->pid;

	if (!p->n_links && !p->links && !p->mfds)
		return;
	bpf_map__delete_elem(gp->skel->maps.go_pids, &pid, sizeof(pid), 0);
	for (size_t i = p->n_links; i-- > 0;) {
		if (p->mfds)
			close(p->mfds[i]);
		else
			bpf_link__destroy(p->links[i]);
	}
	free(p->links);
	free(p->mfds);
	p->links = NULL;
	p->mfds = NULL;
	if (p->n_links)
		gp->n_attached--;
	p->n_links = 0;
}

/* uprobe_multi: one link per program and pass, at all of its sites (in the
 * same order as the classic path: what clears state first). */
static int attach_multi(struct tw_goprobes *gp, struct goproc *p, const struct tw_goplan *plan,
			const char *exe)
{
	uint64_t offs[TW_GOPLAN_MAX_SITES], cookies[TW_GOPLAN_MAX_SITES];
	int err = 0;

	p->mfds = calloc(plan->n_sites, sizeof(*p->mfds));
	if (!p->mfds)
		return -ENOMEM;
	for (int pass = 0; pass < 2 && !err; pass++) {
		bool done[TW_GOPLAN_MAX_SITES] = { false };

		for (size_t i = 0; i < plan->n_sites && !err; i++) {
			struct bpf_program *prog = prog_for(gp->skel, plan->sites[i].kind);
			size_t n = 0;
			int fd;

			if (done[i] || attach_first(plan->sites[i].kind) != (pass == 0))
				continue;
			for (size_t j = i; j < plan->n_sites; j++) {
				const struct tw_gosite *s = &plan->sites[j];

				if (done[j] || attach_first(s->kind) != (pass == 0) ||
				    prog_for(gp->skel, s->kind) != prog)
					continue;
				offs[n] = s->file_off;
				cookies[n++] = s->cookie;
				done[j] = true;
			}
			fd = tw_umulti_attach(bpf_program__fd(prog), exe, offs, cookies, n, p->pid, 0);
			if (fd < 0)
				err = fd;
			else
				p->mfds[p->n_links++] = fd;
		}
	}
	return err;
}

/* Through the very file that was opened (and analysed, or found in the
 * cache by its identity): a binary swapped at /proc/PID/exe meanwhile
 * does not get the probes. */
int tw_go_attach(struct tw_goprobes *gp, struct goproc *p, const struct tw_goplan *plan, int fd)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts);
	char exe[64];
	int err = 0;

	/* The kernel resolves the path when it attaches, in tracewire's own
	 * process: /proc/self/fd/N is the open file, whatever its mount
	 * namespace and whatever /proc/PID/exe says by now. */
	snprintf(exe, sizeof(exe), "/proc/self/fd/%d", fd);
	if (gp->multi) {
		err = attach_multi(gp, p, plan, exe);
		goto attached;
	}
	p->links = calloc(plan->n_sites, sizeof(*p->links));
	if (!p->links)
		return -ENOMEM;
	for (int pass = 0; pass < 2 && !err; pass++) {
		for (size_t i = 0; i < plan->n_sites; i++) {
			const struct tw_gosite *s = &plan->sites[i];
			struct bpf_link *l;

			if (attach_first(s->kind) != (pass == 0))
				continue;
			opts.bpf_cookie = s->cookie;
			l = bpf_program__attach_uprobe_opts(prog_for(gp->skel, s->kind), p->pid, exe,
							    s->file_off, &opts);
			if (!l) {
				err = -errno;
				break;
			}
			p->links[p->n_links++] = l;
		}
	}
attached:
	/* the read(2) and write(2) exit programs serve the net/http probes only */
	if (!err && plan->client) {
		__u32 pid = (__u32)p->pid;
		__u8 one = 1;

		if (bpf_map__update_elem(gp->skel->maps.go_pids, &pid, sizeof(pid), &one,
					 sizeof(one), BPF_ANY))
			err = -errno;
	}
	if (err) {
		tw_go_detach(gp, p);
		return err;
	}
	gp->n_attached++;
	return 0;
}

