// SPDX-License-Identifier: BSD-2-Clause
#include "goprobes.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "goplan.h"
#include "goprobes.skel.h"
#include "feature_set.h"
#include "log.h"
#include "procsel.h"

/* New Go processes are found by rescanning /proc this often: a process is
 * traced by the thread rule until then. */
#define TW_GO_RESCAN_NS 1000000000ull

/* One executable (by device and inode), analysed once. */
struct gobinary {
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	int status;              /* 0: probes planned; negative errno: none */
	struct tw_goplan *plan;  /* status 0 only */
	bool attach_failed_logged;
	struct gobinary *next;
};

/* One process seen in /proc. */
struct goproc {
	pid_t pid;
	dev_t dev;               /* its executable when last examined */
	ino_t ino;
	uint64_t starttime;      /* processes with links only */
	struct bpf_link **links;
	size_t n_links;
	uint64_t gen;            /* scan that last saw it */
	struct goproc *next;
};

#define PROC_BUCKETS 1024

struct tw_goprobes {
	struct goprobes_bpf *skel;
	struct bpf_link *read_exit;  /* sys_exit_read: heads' ids to their socket */
	struct bpf_link *write_exit; /* sys_exit_write: a request's ids off the thread */
	struct tw_procsel sel;
	struct gobinary *binaries;
	struct goproc *procs[PROC_BUCKETS];
	uint64_t gen;
	uint64_t next_scan_ns;
	size_t n_attached;       /* processes with probes */
	size_t n_go_binaries;    /* binaries with probes planned */
};

static const char *const counter_names[TW_GC_MAX] = {
	[TW_GC_SERVE] = "go_serve",
	[TW_GC_SERVE_NO_CTX] = "go_serve_no_ctx",
	[TW_GC_SPAWN_INHERIT] = "go_spawn_inherit",
	[TW_GC_CLIENT] = "go_client",
	[TW_GC_CLIENT_NO_CTX] = "go_client_no_ctx",
	[TW_GC_WRITE] = "go_write",
	[TW_GC_WRITE_NO_CTX] = "go_write_no_ctx",
	[TW_GC_READ_FAULT] = "go_read_faults",
	[TW_GC_HEAD_MOVED] = "go_head_moved",
	[TW_GC_HEAD_MOVED_LATE] = "go_head_moved_late",
	[TW_GC_SERVE_NO_SOCK] = "go_serve_no_sock",
	[TW_GC_MORESTACK] = "go_morestack_skipped",
};

const char *tw_go_counter_name(unsigned idx)
{
	return idx < TW_GC_MAX && counter_names[idx] ? counter_names[idx] : "?";
}

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
	}
	return NULL;
}

/* What must be in place before the probes that create state: the probes
 * that clear or consume it. */
static bool attach_first(unsigned kind)
{
	return kind == TW_GS_CONNWRITE_RET || kind == TW_GS_NEWPROC_RET ||
	       kind == TW_GS_CONNREAD_RET || kind == TW_GS_SPAWN;
}

/* Entry probes go last and come off first: a RET probe without its entry
 * does nothing, an entry without its RET would leave state behind. */
static void detach(struct tw_goprobes *gp, struct goproc *p)
{
	__u32 pid = (__u32)p->pid;

	if (!p->n_links && !p->links)
		return;
	bpf_map__delete_elem(gp->skel->maps.go_pids, &pid, sizeof(pid), 0);
	for (size_t i = p->n_links; i-- > 0;)
		bpf_link__destroy(p->links[i]);
	free(p->links);
	p->links = NULL;
	if (p->n_links)
		gp->n_attached--;
	p->n_links = 0;
}

static int attach(struct tw_goprobes *gp, struct goproc *p, const struct tw_goplan *plan)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts);
	char exe[64];
	int err = 0;

	p->links = calloc(plan->n_sites, sizeof(*p->links));
	if (!p->links)
		return -ENOMEM;
	/* The kernel resolves the path when it attaches: /proc/PID/exe is the
	 * process's executable whatever its mount namespace. */
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)p->pid);
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
	if (!err) {
		__u32 pid = (__u32)p->pid;
		__u8 one = 1;

		if (bpf_map__update_elem(gp->skel->maps.go_pids, &pid, sizeof(pid), &one,
					 sizeof(one), BPF_ANY))
			err = -errno;
	}
	if (err) {
		detach(gp, p);
		return err;
	}
	gp->n_attached++;
	return 0;
}

static struct gobinary *binary_for(struct tw_goprobes *gp, const struct stat *st, pid_t pid)
{
	struct gobinary *b;
	char exe[64], path[512] = "?", desc[512];
	ssize_t n;

	for (b = gp->binaries; b; b = b->next)
		if (b->dev == st->st_dev && b->ino == st->st_ino &&
		    b->mtime.tv_sec == st->st_mtim.tv_sec && b->mtime.tv_nsec == st->st_mtim.tv_nsec)
			return b;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->dev = st->st_dev;
	b->ino = st->st_ino;
	b->mtime = st->st_mtim;
	b->plan = malloc(sizeof(*b->plan));
	if (!b->plan) {
		free(b);
		return NULL;
	}
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	n = readlink(exe, path, sizeof(path) - 1);
	path[n > 0 ? n : 1] = '\0';
	b->status = tw_goplan_build(exe, b->plan);
	/* the fallbacks of the tracepoint programs that did attach: only cost */
	if (!b->status && gp->read_exit)
		tw_goplan_drop(b->plan, TW_GS_CONNREAD_RET);
	if (!b->status && gp->write_exit)
		tw_goplan_drop(b->plan, TW_GS_CONNWRITE_RET);
	if (b->status) {
		/* one line per Go binary that gets no probes; other programs
		 * are no news */
		if (b->plan->version[0])
			log_info("go probes: %s (pid %d): not probed: %s; its client requests are "
				 "parented by the thread rule", path, (int)pid, b->plan->why);
		else
			log_debug("go probes: %s (pid %d): %s", path, (int)pid, b->plan->why);
		free(b->plan);
		b->plan = NULL;
	} else {
		gp->n_go_binaries++;
		tw_goplan_describe(b->plan, desc, sizeof(desc));
		log_info("go probes: %s (pid %d): %s", path, (int)pid, desc);
	}
	b->next = gp->binaries;
	gp->binaries = b;
	return b;
}

static struct goproc *proc_find(struct tw_goprobes *gp, pid_t pid, bool create)
{
	struct goproc **head = &gp->procs[(unsigned)pid % PROC_BUCKETS], *p;

	for (p = *head; p; p = p->next)
		if (p->pid == pid)
			return p;
	if (!create || !(p = calloc(1, sizeof(*p))))
		return NULL;
	p->pid = pid;
	p->next = *head;
	*head = p;
	return p;
}

/* A process we have not seen run this executable: probe it if it is Go. */
static void examine(struct tw_goprobes *gp, struct goproc *p, const struct stat *st)
{
	struct gobinary *b;
	int err;

	detach(gp, p);
	p->dev = st->st_dev;
	p->ino = st->st_ino;
	if (!tw_procsel_match(&gp->sel, p->pid))
		return;
	b = binary_for(gp, st, p->pid);
	if (!b || b->status)
		return;
	if (tw_proc_starttime(p->pid, &p->starttime))
		return; /* gone already */
	err = attach(gp, p, b->plan);
	if (err) {
		if (!b->attach_failed_logged)
			log_warn("go probes: attaching to pid %d failed: %s; its client requests "
				 "are parented by the thread rule", (int)p->pid, strerror(-err));
		b->attach_failed_logged = true;
		return;
	}
	log_debug("go probes: %zu probes attached to pid %d", p->n_links, (int)p->pid);
}

static void visit(struct tw_goprobes *gp, pid_t pid)
{
	struct goproc *p;
	struct stat st;
	char exe[64];
	uint64_t start;

	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	if (stat(exe, &st))
		return; /* kernel thread, or gone */
	p = proc_find(gp, pid, true);
	if (!p)
		return;
	p->gen = gp->gen;
	if (p->dev == st.st_dev && p->ino == st.st_ino) {
		/* same program; with probes, also the same process? */
		if (!p->n_links || (!tw_proc_starttime(pid, &start) && start == p->starttime))
			return;
	}
	examine(gp, p, &st);
}

/* Processes that were not seen in this scan have ended. */
static void sweep(struct tw_goprobes *gp)
{
	for (unsigned i = 0; i < PROC_BUCKETS; i++) {
		struct goproc **pp = &gp->procs[i];

		while (*pp) {
			struct goproc *p = *pp;

			if (p->gen == gp->gen) {
				pp = &p->next;
				continue;
			}
			if (p->n_links)
				log_debug("go probes: pid %d ended: detached", (int)p->pid);
			detach(gp, p);
			*pp = p->next;
			free(p);
		}
	}
}

static void scan(struct tw_goprobes *gp)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d) {
		log_debug("go probes: opening /proc: %s", strerror(errno));
		return;
	}
	gp->gen++;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || pid == getpid())
			continue;
		visit(gp, (pid_t)pid);
	}
	closedir(d);
	sweep(gp);
}

void tw_goprobes_tick(struct tw_goprobes *gp, uint64_t now_ns)
{
	if (!gp || now_ns < gp->next_scan_ns)
		return;
	scan(gp);
	gp->next_scan_ns = now_ns + TW_GO_RESCAN_NS;
}

int tw_goprobes_start(struct tw_goprobes **out, const struct tw_config *cfg,
		      const struct tw_capture *cap)
{
	struct tw_goprobes *gp = calloc(1, sizeof(*gp));
	int err;

	if (!gp)
		return -ENOMEM;
	err = tw_procsel_init(&gp->sel, cfg);
	if (err) {
		log_error("go probes: no cgroup2 mount to match --cgroup against: %s",
			  strerror(-err));
		goto fail;
	}
	gp->skel = goprobes_bpf__open();
	if (!gp->skel) {
		err = -errno;
		log_error("go probes: opening the BPF object failed: %s", strerror(-err));
		goto fail;
	}
	err = tw_capture_share_maps(cap, gp->skel->obj);
	if (err) {
		log_error("go probes: sharing capture's maps failed: %s", strerror(-err));
		goto fail;
	}
	tw_fault_inject(gp->skel->obj, TW_FEATURE_GO);
	err = goprobes_bpf__load(gp->skel);
	if (err) {
		log_error("go probes: loading the uprobe programs failed: %s", strerror(-err));
		goto fail;
	}
	/* after capture's programs: it runs after capture's read(2) exit */
	gp->read_exit = bpf_program__attach(gp->skel->progs.tw_go_read_exit);
	if (!gp->read_exit)
		log_warn("go probes: attaching to the read(2) exit failed (%s): connReader.Read's "
			 "RETs are probed instead (slower)", strerror(errno));
	gp->write_exit = bpf_program__attach(gp->skel->progs.tw_go_write_exit);
	if (!gp->write_exit) {
		log_warn("go probes: attaching to the write(2) exit failed (%s): "
			 "persistConnWriter.Write's RETs are probed instead (slower)", strerror(errno));
		gp->skel->bss->write_ret_fallback = 1;
	}
	scan(gp);
	gp->next_scan_ns = 0;
	*out = gp;
	return 0;
fail:
	tw_goprobes_stop(gp);
	return err;
}

int tw_goprobes_counters(const struct tw_goprobes *gp, uint64_t out[TW_GC_MAX])
{
	return tw_percpu_counters(gp->skel->maps.go_counters, TW_GC_MAX, out);
}

void tw_goprobes_log_stats(const struct tw_goprobes *gp, const char *when)
{
	uint64_t c[TW_GC_MAX] = { 0 };
	char line[512];
	size_t len = 0;

	if (!gp) {
		log_info("stats (%s): go probes off", when);
		return;
	}
	tw_goprobes_counters(gp, c);
	for (unsigned i = 0; i < TW_GC_MAX && len < sizeof(line); i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, " %s=%llu",
					tw_go_counter_name(i), (unsigned long long)c[i]);
	log_info("stats (%s): go probes processes=%zu binaries=%zu |%s", when, gp->n_attached,
		 gp->n_go_binaries, line);
}

void tw_goprobes_stop(struct tw_goprobes *gp)
{
	if (!gp)
		return;
	for (unsigned i = 0; i < PROC_BUCKETS; i++) {
		while (gp->procs[i]) {
			struct goproc *p = gp->procs[i];

			detach(gp, p);
			gp->procs[i] = p->next;
			free(p);
		}
	}
	bpf_link__destroy(gp->read_exit);
	bpf_link__destroy(gp->write_exit);
	while (gp->binaries) {
		struct gobinary *b = gp->binaries;

		gp->binaries = b->next;
		free(b->plan);
		free(b);
	}
	goprobes_bpf__destroy(gp->skel);
	free(gp);
}
