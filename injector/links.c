// SPDX-License-Identifier: BSD-2-Clause
#include "links.h"

#include <pthread.h>
#include <stdbool.h>

#include <bpf/libbpf.h>

#define TW_DETACH_THREADS 8

struct detach_slice {
	struct bpf_link **links;
	size_t n, first, step;
};

static void *detach_slice(void *arg)
{
	struct detach_slice *s = arg;

	for (size_t i = s->first; i < s->n; i += s->step) {
		bpf_link__destroy(s->links[i]);
		s->links[i] = NULL;
	}
	return NULL;
}

void tw_links_destroy(struct bpf_link **links, size_t n)
{
	struct detach_slice slices[TW_DETACH_THREADS];
	pthread_t threads[TW_DETACH_THREADS];
	bool started[TW_DETACH_THREADS] = { false };
	size_t k = n < TW_DETACH_THREADS ? n : TW_DETACH_THREADS;

	for (size_t t = 0; t < k; t++) {
		slices[t] = (struct detach_slice){ .links = links, .n = n, .first = t, .step = k };
		started[t] = t > 0 && !pthread_create(&threads[t], NULL, detach_slice, &slices[t]);
	}
	/* this thread takes slice 0 and any slice whose thread did not start */
	for (size_t t = 0; t < k; t++)
		if (!started[t])
			detach_slice(&slices[t]);
	for (size_t t = 0; t < k; t++)
		if (started[t])
			pthread_join(threads[t], NULL);
}
