/* SPDX-License-Identifier: BSD-2-Clause */
/* User-side half of bpf/headers.bpf.c: the sk_msg program that inserts
 * traceparent into HTTP/1.x requests (and records each request's ids for
 * the TCP/IPv4 options) on the sockets sock_ops watches. */
#ifndef TW_HEADERS_H
#define TW_HEADERS_H

#include <stdbool.h>

#include "capture.h"
#include "config.h"
#include "sockops.h"

struct tw_headers;

/* Loads sk_msg on capture's and sock_ops' maps and attaches it to the
 * sockhash; then sock_ops starts putting sockets there. 0 or negative errno
 * (then no socket is ever put there: header propagation alone is off). */
int tw_headers_start(struct tw_headers **out, const struct tw_config *cfg,
		     const struct tw_capture *cap, struct tw_sockops *so);
/* Whether HTTP/2 connections get traceparent too (h2headers.bpf.c loaded). */
bool tw_headers_h2_on(const struct tw_headers *h);
/* Its object, whose maps (sk_msg's per-socket state) others share. */
const struct bpf_object *tw_headers_object(const struct tw_headers *h);
/* The HTTP/2 program's object (its go_h2_streams map is the Go probes'
 * way to it: bpf/lib/goh2.h), or NULL when HTTP/2 headers are off. */
const struct bpf_object *tw_headers_h2_object(const struct tw_headers *h);
void tw_headers_stop(struct tw_headers *h);

#endif
