/* SPDX-License-Identifier: BSD-2-Clause */
/* TLS capture: attaches capture's OpenSSL uprobe programs (bpf/capture.bpf.c,
 * bpf/lib/tls.h) to the system's libssl. */
#ifndef TW_TLS_H
#define TW_TLS_H

#include <stdint.h>

#include "capture.h"
#include "config.h"

struct tw_tls;

/*
 * Attaches the uprobes to each system libssl found (libssl.so.3, libssl.so.1.1),
 * for every process: the programs check the selection first. Returns NULL
 * when TLS capture is off (--tls-capture off, programs not loaded, no
 * library, SSL_read/SSL_write missing, attach failed), after logging why;
 * never fatal. Logs which library was probed with which functions.
 */
struct tw_tls *tw_tls_start(const struct tw_config *cfg, const struct tw_capture *cap);
/* One "stats (when): tls ..." line with the kernel's TLS counters. */
/* From the event loop's timer: selected processes started since are looked
 * at for libssl files not probed yet (at most once a second). */
void tw_tls_tick(struct tw_tls *t, uint64_t now_ns);
void tw_tls_log_stats(const struct tw_tls *t, const struct tw_capture *cap, const char *when);
void tw_tls_stop(struct tw_tls *t);

#endif
