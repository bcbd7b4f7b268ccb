/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Exporter interface: trace assembly hands every finished trace to each
 * exporter of a singly linked list. An exporter embeds struct tw_exporter as
 * its first member and keeps its own state behind it.
 *
 * Contract for implementations:
 *  - export_trace() gets the spans of one trace sorted by start_ns (n >= 1).
 *    The spans are valid only during the call: copy what is kept. Return 0
 *    or a negative errno; an error never stops the other exporters.
 *  - flush() pushes out anything buffered.
 *  - destroy() flushes what it can and frees the exporter.
 *  - All three ops are required (callers may invoke them directly).
 *  - Called from one thread; an exporter that needs a worker thread (OTLP)
 *    copies spans into its own bounded queue and never blocks the caller.
 */
#ifndef TW_EXPORTER_H
#define TW_EXPORTER_H

#include <stddef.h>
#include <stdio.h>

#include "span.h"

struct tw_exporter;

struct tw_exporter_ops {
	const char *name;
	int (*export_trace)(struct tw_exporter *e, const struct tw_span *const *spans, size_t n);
	int (*flush)(struct tw_exporter *e);
	void (*destroy)(struct tw_exporter *e);
};

struct tw_exporter {
	const struct tw_exporter_ops *ops;
	struct tw_exporter *next;
};

/* Appends e (and whatever list it heads) at the end of *list. */
static inline void tw_exporter_append(struct tw_exporter **list, struct tw_exporter *e)
{
	while (*list)
		list = &(*list)->next;
	*list = e;
}

/* Every exporter gets the trace. Returns how many failed (0: all took it). */
static inline int tw_exporters_export(struct tw_exporter *list, const struct tw_span *const *spans,
				      size_t n)
{
	int failed = 0;

	for (; list; list = list->next)
		if (list->ops->export_trace(list, spans, n) < 0)
			failed++;
	return failed;
}

/* Returns 0 or the first error; every exporter is flushed regardless. */
static inline int tw_exporters_flush(struct tw_exporter *list)
{
	int err = 0;

	for (; list; list = list->next) {
		int r = list->ops->flush ? list->ops->flush(list) : 0;

		if (r < 0 && !err)
			err = r;
	}
	return err;
}

static inline void tw_exporters_destroy(struct tw_exporter *list)
{
	while (list) {
		struct tw_exporter *next = list->next;

		if (list->ops->destroy)
			list->ops->destroy(list);
		list = next;
	}
}

/* Readable waterfall per trace on out (not closed on destroy). NULL: -ENOMEM. */
struct tw_exporter *tw_console_exporter_new(FILE *out);

/* One JSON object per span per line; path "-" is stdout, else the file is
 * created or truncated. NULL with errno set on failure. */
struct tw_exporter *tw_jsonl_exporter_new(const char *path);

#endif
