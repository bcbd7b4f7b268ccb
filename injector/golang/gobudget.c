// SPDX-License-Identifier: BSD-2-Clause
/* The Go analysis' time budget (injector/golang/gobudget.h). */
#include "gobudget.h"

#include <stddef.h>
#include <time.h>

static __thread struct tw_gobudget *cur;

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void tw_gobudget_begin(struct tw_gobudget *b, uint64_t wall_ms, uint64_t cpu_ms,
		       const atomic_bool *stop)
{
	b->wall_deadline_ns = wall_ms ? clock_ns(CLOCK_MONOTONIC) + wall_ms * 1000000ull : 0;
	b->cpu_deadline_ns = cpu_ms ? clock_ns(CLOCK_THREAD_CPUTIME_ID) + cpu_ms * 1000000ull : 0;
	b->stop = stop;
	b->tripped = false;
	b->stopped = false;
	b->calls = 0;
	cur = b;
}

void tw_gobudget_end(void)
{
	cur = NULL;
}

bool tw_gobudget_over(void)
{
	struct tw_gobudget *b = cur;

	if (!b)
		return false;
	if (b->tripped)
		return true;
	if (b->stop && atomic_load_explicit(b->stop, memory_order_relaxed)) {
		b->stopped = b->tripped = true;
		return true;
	}
	if (b->calls++ % 64)
		return false;
	if ((b->wall_deadline_ns && clock_ns(CLOCK_MONOTONIC) >= b->wall_deadline_ns) ||
	    (b->cpu_deadline_ns && clock_ns(CLOCK_THREAD_CPUTIME_ID) >= b->cpu_deadline_ns))
		b->tripped = true;
	return b->tripped;
}

bool tw_gobudget_tripped(void)
{
	return cur && cur->tripped;
}
