/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The time budget of one Go binary analysis (issue 16, item 3). The
 * analysis runs on tracewire's Go worker thread (injector/golang/goworker.h);
 * its loops (sections, symbols, .gopclntab, DWARF units, disassembly) call
 * tw_gobudget_over() and give up with -ETIMEDOUT once the deadline passed
 * or the worker was told to stop. Per thread: code running without a budget
 * (the unit tests, the fuzz targets) is never over.
 */
#ifndef TW_GOBUDGET_H
#define TW_GOBUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct tw_gobudget {
	uint64_t wall_deadline_ns; /* CLOCK_MONOTONIC; 0: none */
	uint64_t cpu_deadline_ns;  /* this thread's CPU time; 0: none */
	const atomic_bool *stop;   /* NULL: none */
	bool tripped;              /* out: the budget ran out (sticky) */
	bool stopped;              /* out: ... because stop was set */
	unsigned calls;
};

/* Starts a budget of wall_ms (monotonic) and cpu_ms (this thread's CPU time;
 * 0: no such limit) on the calling thread, until tw_gobudget_end(). */
void tw_gobudget_begin(struct tw_gobudget *b, uint64_t wall_ms, uint64_t cpu_ms,
		       const atomic_bool *stop);
void tw_gobudget_end(void);
/* Whether the analysis on this thread must give up now. Cheap: the stop
 * flag every call, the clocks every 64th. */
bool tw_gobudget_over(void);
/* Whether it gave up (tw_gobudget_over() returned true since begin). */
bool tw_gobudget_tripped(void);

#endif
