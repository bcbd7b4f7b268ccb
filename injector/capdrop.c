// SPDX-License-Identifier: BSD-2-Clause
/*
 * Capabilities dropped after start (capdrop.h). Raw capset(2) and prctl(2):
 * libcap would not reach the threads the libraries started either.
 */
#include "capdrop.h"

#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif

static const char *const cap_names[] = {
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
	"NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
	"SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
	"AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};

void tw_cap_names(uint64_t mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned c = 0; c < 64 && off < len; c++) {
		if (!(mask & TW_CAP(c)))
			continue;
		if (c < sizeof(cap_names) / sizeof(cap_names[0]))
			off += snprintf(buf + off, len - off, "%s%s", off ? ", " : "", cap_names[c]);
		else
			off += snprintf(buf + off, len - off, "%s%u", off ? ", " : "", c);
	}
}

/* One group of capabilities kept, and the run-time work it is kept for. */
struct keep_rule {
	uint64_t caps;
	const char *why;
};

uint64_t tw_capdrop_plan(uint64_t held, const struct tw_capdrop_needs *n, char *why, size_t len)
{
	struct keep_rule rules[6];
	unsigned n_rules = 0;
	uint64_t keep = 0;
	size_t off = 0;

	/* Always: service names come from /proc/PID/environ (mode 0400, and a
	 * ptrace access check) of processes met while running, and the Go and
	 * TLS probes read /proc/PID/{maps,root,exe} the same way. */
	rules[n_rules++] = (struct keep_rule){
		TW_CAP(CAP_SYS_PTRACE) | TW_CAP(CAP_DAC_READ_SEARCH),
		"/proc/PID/environ, maps, root and exe of other users' processes",
	};
	/* perf_event_open of a uprobe needs CAP_PERFMON; libbpf may load a
	 * probe program (CAP_BPF) the first time an object attaches one */
	if (n->go || n->tls)
		rules[n_rules++] = (struct keep_rule){
			TW_CAP(CAP_BPF) | TW_CAP(CAP_PERFMON),
			n->go && n->tls ? "uprobes on Go executables and libssl copies that start later"
			: n->go		? "uprobes on Go executables that start later"
					: "uprobes on libssl copies that start later",
		};
	/* measured on kernel 6.18: a uprobe's perf_event_open is refused
	 * (EACCES) without CAP_SYS_ADMIN; SSL_read's return is a uretprobe */
	if (((n->go || n->tls) && n->uprobe_admin) || (n->tls && n->uretprobe_admin))
		rules[n_rules++] = (struct keep_rule){
			TW_CAP(CAP_SYS_ADMIN),
			"those uprobes: this kernel refuses them without it",
		};
	if (n->ipopt)
		rules[n_rules++] = (struct keep_rule){
			TW_CAP(CAP_NET_ADMIN) | TW_CAP(CAP_BPF),
			"tc programs on --tc-iface interfaces that appear later",
		};
	/* clsact filters are told apart from other tools' by the program
	 * behind them: BPF_PROG_GET_FD_BY_ID, CAP_SYS_ADMIN only */
	if (n->ipopt && n->ipopt_prog_ids)
		rules[n_rules++] = (struct keep_rule){
			TW_CAP(CAP_SYS_ADMIN),
			"removing its own clsact filters (no TCX links on this kernel)",
		};
	if (why && len)
		why[0] = '\0';
	for (unsigned i = 0; i < n_rules; i++) {
		uint64_t caps = rules[i].caps & held;
		char names[256];

		if (!caps)
			continue;
		keep |= caps;
		if (!why || off >= len)
			continue;
		tw_cap_names(caps, names, sizeof(names));
		off += snprintf(why + off, len - off, "%s%s (%s)", off ? "; " : "", names,
				rules[i].why);
	}
	return keep;
}

int tw_capsets_read(const char *status_path, struct tw_capsets *out)
{
	FILE *f = fopen(status_path, "r");
	char line[256];
	unsigned long long v;
	unsigned seen = 0;
	int nnp;

	if (!f)
		return -errno;
	memset(out, 0, sizeof(*out));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "CapEff: %llx", &v) == 1)
			out->eff = v, seen |= 1;
		else if (sscanf(line, "CapPrm: %llx", &v) == 1)
			out->prm = v, seen |= 2;
		else if (sscanf(line, "CapBnd: %llx", &v) == 1)
			out->bnd = v, seen |= 4;
		else if (sscanf(line, "CapAmb: %llx", &v) == 1)
			out->amb = v;
		else if (sscanf(line, "NoNewPrivs: %d", &nnp) == 1)
			out->no_new_privs = nnp != 0;
	}
	fclose(f);
	return seen == 7 ? 0 : -ENODATA;
}

/* ---- does a uprobe need CAP_SYS_ADMIN here? ------------------------------------ */

struct uprobe_probe {
	int type;           /* the uprobe PMU's perf type */
	int err[2];         /* entry, return: 0 or errno */
};

static void *uprobe_probe_thread(void *arg)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	struct uprobe_probe *p = arg;
	char exe[64];

	/* this thread only: capabilities are per thread */
	if (syscall(SYS_capget, &hdr, data)) {
		p->err[0] = p->err[1] = errno ? errno : EIO;
		return NULL;
	}
	data[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
	if (syscall(SYS_capset, &hdr, data)) {
		p->err[0] = p->err[1] = errno ? errno : EIO;
		return NULL;
	}
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)getpid());
	for (int ret = 0; ret < 2; ret++) {
		struct perf_event_attr a = {
			.size = sizeof(a),
			.type = (unsigned)p->type,
			.config = (unsigned long long)ret, /* bit 0: retprobe */
			/* offset 0, the ELF header: never in an executable
			 * mapping, so no breakpoint is written anywhere */
			.config1 = (unsigned long long)(uintptr_t)exe,
			.config2 = 0,
			.disabled = 1,
		};
		int fd = (int)syscall(SYS_perf_event_open, &a, getpid(), -1, -1,
				      PERF_FLAG_FD_CLOEXEC);

		p->err[ret] = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

int tw_capdrop_probe_uprobes(struct tw_capdrop_needs *needs)
{
	struct uprobe_probe p = { .type = -1 };
	FILE *f = fopen("/sys/bus/event_source/devices/uprobe/type", "r");
	pthread_t t;
	int err;

	needs->uprobe_admin = needs->uretprobe_admin = true;
	if (!f)
		return -errno;
	err = fscanf(f, "%d", &p.type) == 1 ? 0 : -EINVAL;
	fclose(f);
	if (err)
		return err;
	err = -pthread_create(&t, NULL, uprobe_probe_thread, &p);
	if (err)
		return err;
	pthread_join(t, NULL);
	/* refused for want of a capability: EACCES (or EPERM); anything else
	 * is not this question's answer, and keeps the capability */
	for (int ret = 0; ret < 2; ret++)
		if (p.err[ret] && p.err[ret] != EACCES && p.err[ret] != EPERM)
			return -p.err[ret];
	needs->uprobe_admin = p.err[0] != 0;
	needs->uretprobe_admin = p.err[1] != 0;
	return 0;
}

/* ---- every thread -------------------------------------------------------- */

static uint64_t drop_keep;
static bool drop_bounding;
static unsigned cap_last;

/* The calling thread to drop_keep; async-signal-safe (raw system calls). */
static void drop_this_thread(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	/* the bounding set first: dropping from it needs CAP_SETPCAP, which
	 * capset below gives up */
	if (drop_bounding)
		for (unsigned c = 0; c <= cap_last; c++)
			if (!(drop_keep & TW_CAP(c)))
				syscall(SYS_prctl, PR_CAPBSET_DROP, c, 0, 0, 0);
	syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	/* nothing tracewire executes may gain what it gave up (it executes
	 * nothing: this holds for whatever a library might) */
	syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = (uint32_t)drop_keep;
	data[1].effective = data[1].permitted = (uint32_t)(drop_keep >> 32);
	syscall(SYS_capset, &hdr, data);
}

static void on_drop_signal(int sig)
{
	int saved = errno;

	(void)sig;
	drop_this_thread();
	errno = saved;
}

static bool at_target(const struct tw_capsets *s, uint64_t bnd)
{
	return s->eff == drop_keep && s->prm == drop_keep && s->bnd == bnd && !s->amb &&
	       s->no_new_privs;
}

static unsigned read_cap_last(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
	unsigned v = CAP_CHECKPOINT_RESTORE;

	if (f) {
		if (fscanf(f, "%u", &v) != 1 || v > 63)
			v = CAP_CHECKPOINT_RESTORE;
		fclose(f);
	}
	return v;
}

int tw_capdrop_apply(uint64_t keep, struct tw_capdrop_result *r)
{
	struct sigaction sa = { .sa_handler = on_drop_signal, .sa_flags = SA_RESTART };
	int sig = SIGRTMIN + 4;
	pid_t self = (pid_t)syscall(SYS_gettid);
	struct tw_capsets before, now;
	uint64_t bnd;
	int err;

	memset(r, 0, sizeof(*r));
	err = tw_capsets_read("/proc/self/status", &before);
	if (err)
		return err;
	cap_last = read_cap_last();
	drop_keep = keep & before.prm;
	drop_bounding = before.eff & TW_CAP(CAP_SETPCAP);
	bnd = drop_bounding ? before.bnd & drop_keep : before.bnd;
	r->bounding = drop_bounding;
	r->dropped = (before.eff | before.prm) & ~drop_keep;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		return -errno;
	atomic_signal_fence(memory_order_seq_cst);
	drop_this_thread();
	/* until every thread is at the target, threads started meanwhile
	 * included (they inherit their creator's sets: at the target once
	 * the creator is); 100 rounds of 10 ms bound the wait */
	for (int round = 0; round < 100; round++) {
		unsigned ok = 0, left = 0;
		struct dirent *e;
		DIR *dir = opendir("/proc/self/task");

		if (!dir) {
			err = -errno;
			break;
		}
		while ((e = readdir(dir))) {
			char path[64];
			pid_t tid = (pid_t)atoi(e->d_name);

			if (tid <= 0)
				continue;
			snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
			if (tw_capsets_read(path, &now))
				continue; /* gone meanwhile */
			if (at_target(&now, bnd)) {
				ok++;
				continue;
			}
			left++;
			if (tid == self)
				drop_this_thread();
			else
				syscall(SYS_tgkill, getpid(), tid, sig);
		}
		closedir(dir);
		r->threads = ok;
		r->threads_left = left;
		if (!left)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	/* a late signal is discarded, never the default action (termination) */
	signal(sig, SIG_IGN);
	if (err)
		return err;
	return r->threads_left ? -EAGAIN : 0;
}
