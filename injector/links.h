/* SPDX-License-Identifier: BSD-2-Clause */
/* Detaching many BPF links at once. */
#ifndef TW_LINKS_H
#define TW_LINKS_H

#include <stddef.h>

struct bpf_link;

/*
 * bpf_link__destroy() on each of links[0..n), several at a time, and sets
 * them to NULL. Each detach of a tracepoint or uprobe waits for an RCU grace
 * period in the kernel (70-100 ms each, measured here): one after the other,
 * tracewire's ~36 links kept it 3 s in exit and a restart that long without
 * tracing. Concurrent detaches share grace periods. Falls back to doing them
 * in this thread when threads cannot be made.
 */
void tw_links_destroy(struct bpf_link **links, size_t n);

#endif
