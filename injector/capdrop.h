/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Least privilege at run time: once every program is loaded and attached,
 * tracewire gives up the capabilities its running features no longer need,
 * from the effective, permitted and bounding sets of every thread, and sets
 * no_new_privs. What stays, and why, is decided by tw_capdrop_plan().
 */
#ifndef TW_CAPDROP_H
#define TW_CAPDROP_H

#include <linux/capability.h> /* CAP_* */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_CAP(n) (1ull << (n))

/* What the features still do after start (set from what runs, not from
 * what was asked for: a feature that is off needs nothing). */
struct tw_capdrop_needs {
	bool go;            /* uprobes on Go executables that start later */
	bool tls;           /* uprobes and uretprobes on libssl copies found later */
	bool ipopt;         /* tc programs on interfaces that appear later */
	bool ipopt_prog_ids; /* ... as clsact filters, found again by program id */
	/* the probes are classic uprobes (perf events; no uprobe_multi links)
	 * and this kernel refuses perf_event_open of a uprobe (uretprobe)
	 * without CAP_SYS_ADMIN, CAP_PERFMON notwithstanding:
	 * tw_capdrop_probe_uprobes() */
	bool uprobe_admin, uretprobe_admin;
};

/* Bit n: capability n. */
struct tw_capsets {
	uint64_t eff, prm, bnd, amb;
	bool no_new_privs;
};

/*
 * The capabilities to keep, out of held (the effective set at start), for
 * needs; why each group stays is written to why ("" when nothing stays).
 */
uint64_t tw_capdrop_plan(uint64_t held, const struct tw_capdrop_needs *needs, char *why,
			 size_t len);

/*
 * Whether this kernel wants CAP_SYS_ADMIN for uprobes (measured on 6.18: it
 * does, for entry and return probes alike, with CAP_PERFMON held): a thread
 * of its own gives up CAP_SYS_ADMIN and opens a uprobe and a uretprobe perf
 * event on a non-executable offset of tracewire's own executable (nothing is
 * installed), then exits with its credentials. Sets the two needs; 0, or
 * negative errno when it could not tell (then both are set: kept).
 */
int tw_capdrop_probe_uprobes(struct tw_capdrop_needs *needs);

/* "BPF, PERFMON" (names without CAP_) of the bits in mask. */
void tw_cap_names(uint64_t mask, char *buf, size_t len);

/* The sets of a task from its status file (/proc/self/task/TID/status);
 * 0 or negative errno. */
int tw_capsets_read(const char *status_path, struct tw_capsets *out);

struct tw_capdrop_result {
	unsigned threads;      /* threads whose sets are now the target */
	unsigned threads_left; /* threads that did not drop (a blocked signal) */
	bool bounding;         /* the bounding set was reduced too (CAP_SETPCAP held) */
	uint64_t dropped;      /* capabilities given up (effective or permitted) */
};

/*
 * Reduces every thread of the process to keep: effective and permitted, the
 * bounding set (when CAP_SETPCAP is held), ambient cleared, no_new_privs.
 * Capabilities are per thread, and the libraries' threads (OTLP, the API
 * client, /metrics, Go analysis) already run: each drops its own, from a
 * signal handler, until /proc/self/task shows every thread at the target
 * (bounded: about a second). 0, or negative errno (threads_left > 0:
 * -EAGAIN).
 */
int tw_capdrop_apply(uint64_t keep, struct tw_capdrop_result *r);

#endif
