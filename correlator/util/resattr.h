/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Extra resource attributes of a process (e.g. its Kubernetes pod), from a
 * provider the agent installs once at start (injector/k8s_pods.c). The
 * exporters ask for them by pid; with no provider every answer is empty.
 *
 * The set is packed into a fixed buffer ("key\0value\0" pairs) so that a
 * queued span can carry a copy. The provider must be thread-safe: the OTLP
 * worker and the event loop both ask.
 */
#ifndef TW_RESATTR_H
#define TW_RESATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_RES_MAX 12          /* attributes */
#define TW_RES_BUF 768         /* bytes of "key\0value\0" pairs */
#define TW_RES_SERVICE_MAX 64  /* = TW_SERVICE_MAX */

struct tw_res {
	uint8_t n;
	uint16_t used;
	char service[TW_RES_SERVICE_MAX]; /* a service name the provider suggests; "" none */
	char buf[TW_RES_BUF];
};

/* Returns true and fills out (first tw_res_clear'ed) when it knows pid. */
typedef bool (*tw_res_fn)(void *ctx, uint32_t pid, struct tw_res *out);

/* Installs (or with fn NULL removes) the process-wide provider. */
void tw_res_set_provider(tw_res_fn fn, void *ctx);
/* out cleared, then filled by the provider. true when it knew pid. */
bool tw_res_lookup(uint32_t pid, struct tw_res *out);

void tw_res_clear(struct tw_res *r);
/* Adds key=value (values cut to fit); -ENOSPC when full, -EINVAL for "". */
int tw_res_add(struct tw_res *r, const char *key, const char *value);
/* Iteration: *pos starts at 0; true with key and value set, false at the end. */
bool tw_res_next(const struct tw_res *r, size_t *pos, const char **key, const char **value);

#endif
