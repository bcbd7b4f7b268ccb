/* SPDX-License-Identifier: BSD-2-Clause */
/* Which kernel hooks exist here (feature probes, never assumptions). */
#ifndef TW_PROBE_H
#define TW_PROBE_H

#include <stdbool.h>
#include <stdio.h>

/* "syscalls/sys_enter_read": is that tracepoint in tracefs? */
bool tw_probe_tracepoint(const char *category_slash_name);
/* Mount tracefs at /sys/kernel/tracing when no tracefs is reachable.
 * 0, or negative errno (logged) when it could not. */
int tw_ensure_tracefs(void);
/* The --probe report. Returns 0 when everything tracewire needs is present. */
int tw_probe_report(FILE *out);
/* Loads each feature's BPF objects alone (nothing attached) and prints one
 * row per object: loads, or off and why. Returns how many failed. */
int tw_probe_features(FILE *out);

#endif
