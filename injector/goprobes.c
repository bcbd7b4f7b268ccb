// SPDX-License-Identifier: BSD-2-Clause
#include "goprobes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "goplan.h"
#include "goprobes.skel.h"
#include "goworker.h"
#include "budget.h"
#include "feature_set.h"
#include "log.h"
#include "procsel.h"
#include "testhook.h"
#include "umulti.h"

/* New Go processes are found by rescanning /proc this often: a process is
 * traced by the thread rule until then. */
#define TW_GO_RESCAN_NS 1000000000ull
/* At start, the analyses of the processes running then are waited for this
 * long at most (so that they are probed from the first request); the rest
 * finish while the event loop runs. */
#define TW_GO_START_WAIT_MS 3000
/* At exit, the worker gets this long to give up its analysis and return. */
#define TW_GO_JOIN_MS 300

#include "goprobes_int.h"

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
	[TW_GC_TLS_READ] = "go_tls_read",
	[TW_GC_TLS_WRITE] = "go_tls_write",
	[TW_GC_TLS_NO_SOCK] = "go_tls_no_sock",
	[TW_GC_GRPC_SERVER] = "go_grpc_server",
	[TW_GC_GRPC_SERVER_TP] = "go_grpc_server_tp",
	[TW_GC_GRPC_NO_SOCK] = "go_grpc_no_sock",
	[TW_GC_GRPC_CLIENT] = "go_grpc_client",
	[TW_GC_GRPC_STREAM] = "go_grpc_stream",
};

const char *tw_go_counter_name(unsigned idx)
{
	return idx < TW_GC_MAX && counter_names[idx] ? counter_names[idx] : "?";
}

static struct gobinary *binary_find(struct tw_goprobes *gp, const struct stat *st)
{
	for (struct gobinary *b = gp->binaries; b; b = b->next)
		if (b->dev == st->st_dev && b->ino == st->st_ino &&
		    b->mtime.tv_sec == st->st_mtim.tv_sec && b->mtime.tv_nsec == st->st_mtim.tv_nsec)
			return b;
	return NULL;
}

static uint64_t now_mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}

/* The cache of analysed executables is bounded by the memory budget: at the
 * bound the oldest finished entry goes (a process of that binary started
 * later is analysed again); one being analysed stays. */
static void binaries_make_room(struct tw_goprobes *gp)
{
	struct gobinary **pp, **oldest = NULL;

	if (gp->n_binaries < gp->max_binaries)
		return;
	/* new entries go to the head: the last finished one is the oldest */
	for (pp = &gp->binaries; *pp; pp = &(*pp)->next)
		if ((*pp)->status != -EINPROGRESS)
			oldest = pp;
	if (!oldest)
		return;
	struct gobinary *b = *oldest;

	*oldest = b->next;
	if (!b->status)
		gp->n_go_binaries--;
	free(b->plan);
	free(b);
	gp->n_binaries--;
	gp->binaries_evicted++;
	if (now_mono_ns() >= gp->next_evict_log_ns) {
		log_info("go probes: binaries cache at its bound (%zu, from the memory budget): "
			 "the oldest entries are dropped (%llu so far)", gp->max_binaries,
			 (unsigned long long)gp->binaries_evicted);
		gp->next_evict_log_ns = now_mono_ns() + 60ull * 1000000000ull;
	}
}

/* A binary not seen before: its analysis goes to the worker, on a file
 * description of fd (the same open file). */
static struct gobinary *binary_new(struct tw_goprobes *gp, const struct stat *st, pid_t pid, int fd)
{
	struct gobinary *b = calloc(1, sizeof(*b));
	struct tw_gojob *job;
	char exe[64];
	ssize_t n;
	int jfd;

	if (!b)
		return NULL;
	binaries_make_room(gp);
	b->dev = st->st_dev;
	b->ino = st->st_ino;
	b->mtime = st->st_mtim;
	b->pid = pid;
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	n = readlink(exe, b->path, sizeof(b->path) - 1);
	b->path[n > 0 ? n : 0] = '\0';
	if (n <= 0)
		snprintf(b->path, sizeof(b->path), "?");
	jfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	job = jfd < 0 ? NULL : tw_gojob_new(jfd, b);
	if (!job || tw_goworker_submit(gp->worker, job)) {
		tw_gojob_free(job);
		free(b);
		return NULL;
	}
	b->status = -EINPROGRESS;
	log_debug("go probes: %s (pid %d): analysing it on the worker", b->path, (int)pid);
	b->next = gp->binaries;
	gp->binaries = b;
	gp->n_binaries++;
	return b;
}

/*
 * The read(2) and write(2) exit programs run for every process on the node
 * (about 100 ns a call each, Go or not): attached when the first Go binary
 * is to be probed, so a node without Go pays nothing for them. After
 * capture's programs, as they must run after capture's exit.
 */
static void attach_exit_tracepoints(struct tw_goprobes *gp)
{
	if (gp->exits_tried)
		return;
	gp->exits_tried = true;
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
}

/* Its analysis finished: the binary's plan, in the log once. */
static void binary_done(struct tw_goprobes *gp, struct gobinary *b, struct tw_gojob *job)
{
	char desc[512];

	b->status = job->status;
	/* --tls-capture off: no TLS plaintext is read, Go's neither */
	if (!b->status && !gp->tls_capture && tw_goplan_drop_tls(&job->plan, "--tls-capture off"))
		b->status = -ENOTSUP;
	/* grpc-go's programs did not load here: its probes neither */
	if (!b->status && gp->grpc_off && tw_goplan_drop_grpc(&job->plan, gp->grpc_off_why))
		b->status = -ENOTSUP;
	if (!b->status) {
		b->plan = malloc(sizeof(*b->plan));
		if (!b->plan) {
			b->status = -ENOMEM;
			return;
		}
		*b->plan = job->plan;
		attach_exit_tracepoints(gp);
		/* the fallbacks of the tracepoint programs that did attach: only cost */
		if (gp->read_exit)
			tw_goplan_drop(b->plan, TW_GS_CONNREAD_RET);
		if (gp->write_exit)
			tw_goplan_drop(b->plan, TW_GS_CONNWRITE_RET);
		gp->n_go_binaries++;
		tw_goplan_describe(b->plan, desc, sizeof(desc));
		log_info("go probes: %s (pid %d): %s", b->path, (int)b->pid, desc);
	} else if (b->status == -ETIMEDOUT || b->status == -EFBIG) {
		if (!job->stopped)
			log_warn("go probes: %s (pid %d): not probed: %s, after %llu ms; its client "
				 "requests are parented by the thread rule", b->path, (int)b->pid,
				 job->plan.why, (unsigned long long)(job->took_ns / 1000000));
	} else if (job->plan.version[0]) {
		/* one line per Go binary that gets no probes; other programs
		 * are no news */
		log_info("go probes: %s (pid %d): not probed: %s; its client requests are "
			 "parented by the thread rule", b->path, (int)b->pid, job->plan.why);
	} else {
		log_debug("go probes: %s (pid %d): %s", b->path, (int)b->pid, job->plan.why);
	}
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
	p->exe_fd = -1;
	p->next = *head;
	*head = p;
	return p;
}

static void unwait(struct goproc *p)
{
	if (p->exe_fd >= 0)
		close(p->exe_fd);
	p->exe_fd = -1;
	p->waiting = NULL;
}

/* Probes for a process whose binary has a plan, through its open exe. */
static void probe(struct tw_goprobes *gp, struct goproc *p, struct gobinary *b, int fd)
{
	int err;

	if (tw_proc_starttime(p->pid, &p->starttime))
		return; /* gone already */
	err = tw_go_attach(gp, p, b->plan, fd);
	if (err) {
		if (!b->attach_failed_logged)
			log_warn("go probes: attaching to pid %d failed: %s; its client requests "
				 "are parented by the thread rule", (int)p->pid, strerror(-err));
		b->attach_failed_logged = true;
		return;
	}
	log_debug("go probes: %zu probes attached to pid %d", p->n_links, (int)p->pid);
	tw_test_hook("attached", "go", p->pid, NULL);
}

/* A process we have not seen run this executable: probe it if it is Go.
 * /proc/PID/exe is opened once; its identity (fstat), the analysis and
 * the attach all use that open file. */
static void examine(struct tw_goprobes *gp, struct goproc *p, const struct stat *seen)
{
	struct gobinary *b;
	struct stat st;
	char exe[64];
	int fd;

	tw_go_detach(gp, p);
	unwait(p);
	p->dev = seen->st_dev;
	p->ino = seen->st_ino;
	if (!tw_procsel_match(&gp->sel, p->pid))
		return;
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)p->pid);
	fd = open(exe, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* gone */
	if (fstat(fd, &st)) {
		close(fd);
		return;
	}
	/* what was opened is what counts (it may differ from the stat) */
	p->dev = st.st_dev;
	p->ino = st.st_ino;
	/* test_binary_opened_once.sh makes the process exec another binary
	 * here: the analysis and the attach must still be of this file */
	tw_test_hook("opened", "go", p->pid, exe);
	b = binary_find(gp, &st);
	if (!b)
		b = binary_new(gp, &st, p->pid, fd);
	if (b && b->status == -EINPROGRESS) {
		p->exe_fd = fd; /* probed when the analysis is done */
		p->waiting = b;
		return;
	}
	if (b && !b->status)
		probe(gp, p, b, fd);
	close(fd);
}

/* Finished analyses: their binaries' waiting processes get the probes. */
static void collect(struct tw_goprobes *gp)
{
	struct tw_gojob *job;

	while ((job = tw_goworker_take(gp->worker))) {
		struct gobinary *b = job->ctx;

		binary_done(gp, b, job);
		tw_gojob_free(job);
		for (unsigned i = 0; i < PROC_BUCKETS; i++) {
			for (struct goproc *p = gp->procs[i]; p; p = p->next) {
				if (p->waiting != b)
					continue;
				if (!b->status)
					probe(gp, p, b, p->exe_fd);
				unwait(p);
			}
		}
	}
}

static void visit(struct tw_goprobes *gp, pid_t pid)
{
	struct goproc *p;
	struct stat st;
	char exe[64];
	uint64_t start;

	/* a cheap look first: only a process with another executable (or a
	 * new process) is opened and examined */
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
			tw_go_detach(gp, p);
			unwait(p);
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
	if (!gp)
		return;
	collect(gp);
	if (now_ns < gp->next_scan_ns)
		return;
	scan(gp);
	gp->next_scan_ns = now_ns + TW_GO_RESCAN_NS;
}

/* The processes running at start: their analyses are waited for (bounded),
 * so that they are probed before "ready". */
static void settle(struct tw_goprobes *gp, unsigned ms)
{
	struct pollfd pfd = { .fd = tw_goworker_fd(gp->worker), .events = POLLIN };
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long left;

		collect(gp);
		if (!tw_goworker_pending(gp->worker))
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = (long)ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			break;
		poll(&pfd, 1, left > 50 ? 50 : (int)left);
	}
	log_info("go probes: %zu analyses still running after %u ms: their processes are "
		 "probed when they finish", tw_goworker_pending(gp->worker), ms);
}

/* Test hooks (tests/integration/test_go_analysis_budget.sh), never for
 * production: TRACEWIRE_TEST_GO_ANALYSIS_DELAY_MS makes each analysis that
 * much slower, as a crafted binary would (within the budget);
 * TRACEWIRE_TEST_GO_ANALYSIS_BUDGET_MS replaces the time budget. */
static uint64_t test_env_ms(const char *name, const char *what)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long ms;

	if (!v || !*v)
		return 0;
	errno = 0;
	ms = strtoull(v, &end, 10);
	if (errno || *end || ms > 3600000ull) {
		log_warn("%s=%s: not a number of ms (up to 3600000): ignored", name, v);
		return 0;
	}
	log_warn("%s=%llu: test hook: %s", name, ms, what);
	return ms;
}

/* grpc-go's programs (docs/go.md "gRPC") */
static struct bpf_program *grpc_prog(struct goprobes_bpf *skel, int i)
{
	struct bpf_program *p[] = { skel->progs.tw_go_grpc_server, skel->progs.tw_go_grpc_put,
				    skel->progs.tw_go_grpc_loopy };

	return i < 3 ? p[i] : NULL;
}

/* Opens and loads the programs, grpc-go's with them or not. 0, a negative
 * errno before loading, or a positive errno when loading failed. */
static int load(struct tw_goprobes *gp, const struct tw_config *cfg,
		const struct tw_capture *cap, const struct bpf_object *h2obj, bool grpc)
{
	int err;

	gp->skel = goprobes_bpf__open();
	if (!gp->skel) {
		err = -errno;
		log_error("go probes: opening the BPF object failed: %s", strerror(-err));
		return err;
	}
	err = tw_capture_share_maps(cap, gp->skel->obj);
	if (err) {
		log_error("go probes: sharing capture's maps failed: %s", strerror(-err));
		return err;
	}
	/* grpc-go's client streams reach sk_msg's HTTP/2 program through its
	 * go_h2_streams (without that program the map is the probes' own and
	 * nothing reads it) */
	err = h2obj ? tw_share_maps(h2obj, gp->skel->obj) : 0;
	if (err) {
		log_error("go probes: sharing HTTP/2 propagation's maps failed: %s",
			  strerror(-err));
		return err;
	}
	/* the crypto/tls probes record through capture's path: its settings */
	TW_CAPTURE_RODATA(gp->skel->rodata, cfg);
	tw_fault_inject(gp->skel->obj, TW_FEATURE_GO);
	for (int i = 0; i < 3; i++) {
		if (!grpc)
			bpf_program__set_autoload(grpc_prog(gp->skel, i), false);
		else if (tw_fault_listed("go-grpc")) /* test-only: they fail the verifier */
			bpf_program__set_type(grpc_prog(gp->skel, i), BPF_PROG_TYPE_SOCKET_FILTER);
	}
	/* go_ctx, go_tls_reads and the other maps of its own: --memory-limit
	 * (preallocated, they are charged whether a Go process runs or not) */
	tw_budget_apply_maps(gp->skel->obj);
	/* uprobe_multi where the kernel has it (6.6+): a process's probes come
	 * off in one grace period instead of one each under a global mutex
	 * (umulti.h) */
	gp->multi = tw_umulti_supported();
	if (gp->multi) {
		struct bpf_program *prog;

		bpf_object__for_each_program(prog, gp->skel->obj)
			if (bpf_program__type(prog) == BPF_PROG_TYPE_KPROBE)
				bpf_program__set_expected_attach_type(
					prog, (enum bpf_attach_type)TW_BPF_TRACE_UPROBE_MULTI);
	}
	err = goprobes_bpf__load(gp->skel);
	return err ? -err : 0;
}

int tw_goprobes_start(struct tw_goprobes **out, const struct tw_config *cfg,
		      const struct tw_capture *cap, const struct bpf_object *h2obj)
{
	struct tw_goprobes *gp = calloc(1, sizeof(*gp));
	int err;

	if (!gp)
		return -ENOMEM;
	gp->tls_capture = cfg->tls_capture;
	gp->max_binaries = tw_budget_get() ? tw_budget_get()->go_binaries : 256;
	if (getenv("TRACEWIRE_TEST_GO_BINARIES_MAX")) /* test-only: a tiny bound */
		gp->max_binaries = strtoul(getenv("TRACEWIRE_TEST_GO_BINARIES_MAX"), NULL, 10);
	if (!gp->max_binaries)
		gp->max_binaries = 1;
	err = tw_procsel_init(&gp->sel, cfg);
	if (err) {
		log_error("go probes: no cgroup2 mount to match --cgroup against: %s",
			  strerror(-err));
		goto fail;
	}
	/* grpc-go's probes only serve header propagation (a middle's client
	 * streams parented by its server streams, through sk_msg's HTTP/2
	 * program); each costs a uprobe hit per stream or queued frame
	 * (bench/results/grpc.md): without headers, none is attached */
	gp->grpc_off = !(cfg->propagation & TW_PROP_HEADERS);
	gp->grpc_off_why = "--propagation without headers";
	err = load(gp, cfg, cap, h2obj, !gp->grpc_off);
	if (err > 0 && !gp->grpc_off) {
		/* grpc-go's programs are the newest and largest of the object:
		 * without them the other Go probes may still load, and cost
		 * only grpc-go's stream parentage */
		log_warn("go probes: loading the uprobe programs failed: %s; again without "
			 "grpc-go's (grpc-go middle services' client streams are not parented "
			 "by the streams they serve)", strerror(err));
		goprobes_bpf__destroy(gp->skel);
		gp->skel = NULL;
		gp->grpc_off = true;
		gp->grpc_off_why = "its BPF programs did not load";
		err = load(gp, cfg, cap, h2obj, false);
		if (err > 0) {
			log_error("go probes: loading the uprobe programs failed: %s",
				  strerror(err));
			err = -err;
		}
	}
	if (err)
		goto fail;
	err = tw_goworker_start(&gp->worker, &(struct tw_goworker_cfg){
		.test_delay_ms = test_env_ms("TRACEWIRE_TEST_GO_ANALYSIS_DELAY_MS",
					     "every Go binary analysis is made that much slower"),
		.budget_ms = test_env_ms("TRACEWIRE_TEST_GO_ANALYSIS_BUDGET_MS",
					 "the time budget of a Go binary analysis"),
	});
	if (err) {
		log_error("go probes: starting the analysis thread failed: %s", strerror(-err));
		goto fail;
	}
	log_info("go probes: %s", gp->multi ? "uprobe_multi links (one per program and process)" :
		 "classic uprobes (one perf event each: slower to remove at exit; no "
		 "uprobe_multi links here, kernel < 6.6 or TRACEWIRE_TEST_NO_UPROBE_MULTI)");
	scan(gp);
	settle(gp, TW_GO_START_WAIT_MS);
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
	log_info("stats (%s): go probes processes=%zu binaries=%zu cached=%zu/%zu "
		 "cache_evicted=%llu |%s", when, gp->n_attached, gp->n_go_binaries, gp->n_binaries,
		 gp->max_binaries, (unsigned long long)gp->binaries_evicted, line);
}

void tw_goprobes_stop(struct tw_goprobes *gp)
{
	if (!gp)
		return;
	/* first: an analysis running now gives up at its next budget check */
	if (gp->worker) {
		size_t pending = tw_goworker_pending(gp->worker);
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (tw_goworker_stop(gp->worker, TW_GO_JOIN_MS)) {
			log_warn("go probes: the analysis thread did not stop within %d ms: left "
				 "behind", TW_GO_JOIN_MS);
		} else if (pending) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			log_info("go probes: stopped with %zu analyses unfinished: the analysis "
				 "thread returned in %ld ms", pending,
				 (long)((t1.tv_sec - t0.tv_sec) * 1000 +
					(t1.tv_nsec - t0.tv_nsec) / 1000000));
		}
	}
	/* uprobe_multi links of every process at once: their grace periods
	 * overlap (the order within a process does not matter any more: its
	 * probes all go) */
	if (gp->multi && gp->n_attached) {
		size_t n = 0, k = 0;
		int *all;

		for (unsigned i = 0; i < PROC_BUCKETS; i++)
			for (struct goproc *p = gp->procs[i]; p; p = p->next)
				n += p->mfds ? p->n_links : 0;
		all = malloc(n * sizeof(*all));
		if (all) {
			for (unsigned i = 0; i < PROC_BUCKETS; i++)
				for (struct goproc *p = gp->procs[i]; p; p = p->next) {
					for (size_t j = 0; p->mfds && j < p->n_links; j++)
						all[k++] = p->mfds[j];
					free(p->mfds);
					p->mfds = NULL;
					p->n_links = 0;
				}
			tw_umulti_close_all(all, k);
			free(all);
		}
	}
	for (unsigned i = 0; i < PROC_BUCKETS; i++) {
		while (gp->procs[i]) {
			struct goproc *p = gp->procs[i];

			tw_go_detach(gp, p);
			unwait(p);
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
