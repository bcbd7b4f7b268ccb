/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * uprobe_multi links (kernel >= 6.6): one BPF link attaches a program at
 * many offsets of one file, for one process or all. tracewire uses them for
 * the Go probes because of what a uprobe costs to remove: each classic
 * uprobe is a perf event, and closing one waits for RCU grace periods under
 * the kernel's global event_mutex (90-130 ms each here, one after the
 * other whatever the number of threads closing them): a Go process with
 * 16 probes took 1.5-2 s of tracewire's exit, 40 of them over a minute. A
 * uprobe_multi link is removed with one wait, outside that mutex, and
 * links removed together share it.
 *
 * libbpf 1.1 (Debian 12) has no API for them: the link is made with the
 * bpf(2) syscall directly; the programs must be loaded with
 * expected_attach_type TW_BPF_TRACE_UPROBE_MULTI.
 */
#ifndef TW_UMULTI_H
#define TW_UMULTI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TW_BPF_TRACE_UPROBE_MULTI 48 /* enum bpf_attach_type, linux 6.6 */
#define TW_BPF_F_UPROBE_MULTI_RETURN 1u

/* Does this kernel make uprobe_multi links? Probed once (a program loaded
 * for them, a link asked on "/": EBADF means the kind is known).
 * TRACEWIRE_TEST_NO_UPROBE_MULTI=1 answers no (tests of the fallback). */
int tw_umulti_supported(void);

/* A link of prog_fd at offs[0..n) of the file path (with cookies[i]) in
 * process pid (0: every process): its fd, or negative errno. */
int tw_umulti_attach(int prog_fd, const char *path, const uint64_t *offs,
		     const uint64_t *cookies, size_t n, pid_t pid, unsigned flags);

/* close() on fds[0..n) that are >= 0, several threads at once (their
 * grace periods overlap), and sets them to -1. */
void tw_umulti_close_all(int *fds, size_t n);

#endif
