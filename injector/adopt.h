/* SPDX-License-Identifier: BSD-2-Clause */
/* User-side half of bpf/adopt.bpf.c: TCP connections that selected
 * processes opened before tracewire started (a proxy's keep-alive pool
 * after an upgrade or a crash) are adopted, so that propagation works on
 * them again (docs/propagation.md). */
#ifndef TW_ADOPT_H
#define TW_ADOPT_H

#include "capture.h"
#include "config.h"
#include "headers.h"
#include "sockops.h"

/*
 * Loads the iterator on capture's, sock_ops' and sk_msg's maps, runs it once
 * and unloads it: established sockets of selected processes go into
 * capture's connection map as servers or clients, clients towards the scope
 * into the sockhash (with headers NULL: conns only), where sk_msg joins each
 * at its next request. 0 or negative errno (logged; tracewire runs on
 * without).
 */
int tw_adopt_run(const struct tw_config *cfg, const struct tw_capture *cap,
		 const struct tw_sockops *so, const struct tw_headers *headers);

#endif
