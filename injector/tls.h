/* SPDX-License-Identifier: BSD-2-Clause */
/* TLS capture: attaches capture's OpenSSL uprobe programs (bpf/capture.bpf.c,
 * bpf/lib/tls.h) to the system's libssl. */
#ifndef TW_TLS_H
#define TW_TLS_H

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
void tw_tls_log_stats(const struct tw_tls *t, const struct tw_capture *cap, const char *when);
void tw_tls_stop(struct tw_tls *t);

#endif
