/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * User-side half of bpf/goprobes.bpf.c (docs/go.md): finds the selected
 * processes that run Go executables, attaches the Go probes to each (per
 * process, at the file offsets injector/goplan.c computes) and detaches
 * them when the process exits or execs another program.
 */
#ifndef TW_GOPROBES_H
#define TW_GOPROBES_H

#include <stdint.h>

#include "capture.h"
#include "config.h"
#include "tracewire_go.h"

struct tw_goprobes;

/*
 * Loads the programs sharing capture's maps and attaches to the selected Go
 * processes running now. 0 or negative errno (the caller goes on without
 * Go probes; Go services are then linked by the thread rule).
 */
int tw_goprobes_start(struct tw_goprobes **out, const struct tw_config *cfg,
		      const struct tw_capture *cap, const struct bpf_object *h2obj);
/* Call often (the daemon's tick): rescans /proc when one is due, attaching
 * to Go processes that started and detaching from those that ended. */
void tw_goprobes_tick(struct tw_goprobes *gp, uint64_t now_ns);
/* One "stats (WHEN): go ..." log line: processes, binaries, counters. */
void tw_goprobes_log_stats(const struct tw_goprobes *gp, const char *when);
/* Sums of the per-CPU counters, indexed by enum tw_go_counter. */
int tw_goprobes_counters(const struct tw_goprobes *gp, uint64_t out[TW_GC_MAX]);
const char *tw_go_counter_name(unsigned idx);
/* Detaches everything, then unloads. NULL is fine. */
void tw_goprobes_stop(struct tw_goprobes *gp);

#endif
