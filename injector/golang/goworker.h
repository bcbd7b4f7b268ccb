/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Go binary analysis off the event loop (issue 16, item 3): one worker
 * thread builds the plans (goplan.h) of the executables the daemon hands
 * over, each within a time and a size budget, while the event loop keeps
 * draining the ring buffers and answering signals. Each job carries the
 * open executable: the daemon opens /proc/PID/exe once, analyses that file
 * here and attaches the probes through /proc/self/fd/N of the same file.
 *
 * No BPF here (the unit tests drive it): the daemon side is
 * injector/goprobes.c.
 */
#ifndef TW_GOWORKER_H
#define TW_GOWORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "goplan.h"

/* Per binary: the analysis gives up after this much wall-clock or CPU time
 * ("not probed: analysis over its time budget"). Go binaries of 100 MB
 * take well under a second. */
#define TW_GO_ANALYSIS_BUDGET_MS 2000
/* ... and executables larger than this are not read at all. */
#define TW_GO_ANALYSIS_MAX_BYTES (512ull << 20)

struct tw_goworker_cfg {
	uint64_t budget_ms;       /* 0: TW_GO_ANALYSIS_BUDGET_MS */
	uint64_t max_bytes;       /* 0: TW_GO_ANALYSIS_MAX_BYTES */
	/* Test hook (TRACEWIRE_TEST_GO_ANALYSIS_DELAY_MS, test-only): each
	 * analysis first spends this long in a loop that checks the budget,
	 * as a slow (crafted) binary would. */
	uint64_t test_delay_ms;
	/* Unit tests only: the delay ignores the budget and the stop request
	 * (code stuck where no check runs, e.g. inside libdw). */
	bool test_delay_stuck;
};

struct tw_gojob {
	int fd;                /* the executable; the job owns it (tw_gojob_free closes it) */
	void *ctx;             /* the caller's */
	/* out */
	int status;            /* tw_goplan_build_fd's; -ETIMEDOUT: over the time budget
				* (or stopped); -EFBIG: over the size budget */
	bool stopped;          /* -ETIMEDOUT because the worker was told to stop */
	uint64_t took_ns;      /* wall-clock */
	struct tw_goplan plan;
	struct tw_gojob *next;
};

struct tw_goworker;

/* Starts the thread (call with the signals blocked that it must not take). */
int tw_goworker_start(struct tw_goworker **out, const struct tw_goworker_cfg *cfg);
/* A job for fd (taken over: closed by tw_gojob_free, also on error). */
struct tw_gojob *tw_gojob_new(int fd, void *ctx);
void tw_gojob_free(struct tw_gojob *job);
/* Queues a job (FIFO). 0 or -ESHUTDOWN. */
int tw_goworker_submit(struct tw_goworker *w, struct tw_gojob *job);
/* A finished job (the caller frees it), or NULL. Never blocks. */
struct tw_gojob *tw_goworker_take(struct tw_goworker *w);
/* Readable (an eventfd) when finished jobs wait: for poll/epoll. */
int tw_goworker_fd(const struct tw_goworker *w);
/* Jobs queued or running, not yet taken. */
size_t tw_goworker_pending(struct tw_goworker *w);
/* Waits until a job finished or timeout_ms passed; the finished job or NULL. */
struct tw_gojob *tw_goworker_wait(struct tw_goworker *w, int timeout_ms);
/*
 * Tells the thread to stop (the running analysis gives up at its next
 * budget check) and joins it for at most join_ms. 0; -ETIMEDOUT when it did
 * not return in time: the thread is detached and what it uses is left
 * allocated (the process is about to exit). NULL is fine.
 */
int tw_goworker_stop(struct tw_goworker *w, unsigned join_ms);

#endif
