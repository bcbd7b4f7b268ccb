// SPDX-License-Identifier: BSD-2-Clause
/* Extra resource attributes by pid (contract in resattr.h). */
#include "resattr.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

struct provider {
	tw_res_fn fn;
	void *ctx;
};

static struct provider providers[2];
static _Atomic int current = -1; /* index into providers, -1: none */

void tw_res_set_provider(tw_res_fn fn, void *ctx)
{
	int next = atomic_load(&current) == 0 ? 1 : 0;

	if (!fn) {
		atomic_store(&current, -1);
		return;
	}
	providers[next] = (struct provider){ .fn = fn, .ctx = ctx };
	atomic_store(&current, next);
}

void tw_res_clear(struct tw_res *r)
{
	r->n = 0;
	r->used = 0;
	r->service[0] = '\0';
}

bool tw_res_lookup(uint32_t pid, struct tw_res *out)
{
	int i = atomic_load(&current);

	tw_res_clear(out);
	if (i < 0)
		return false;
	return providers[i].fn(providers[i].ctx, pid, out);
}

int tw_res_add(struct tw_res *r, const char *key, const char *value)
{
	size_t kl = strlen(key), vl = strlen(value), room = sizeof(r->buf) - r->used;

	if (!kl || !vl)
		return -EINVAL;
	if (r->n >= TW_RES_MAX || kl + 3 > room)
		return -ENOSPC;
	if (vl > room - kl - 2)
		vl = room - kl - 2;
	memcpy(r->buf + r->used, key, kl + 1);
	r->used += kl + 1;
	memcpy(r->buf + r->used, value, vl);
	r->buf[r->used + vl] = '\0';
	r->used += vl + 1;
	r->n++;
	return 0;
}

bool tw_res_next(const struct tw_res *r, size_t *pos, const char **key, const char **value)
{
	if (*pos >= r->used)
		return false;
	*key = r->buf + *pos;
	*pos += strlen(*key) + 1;
	*value = r->buf + *pos;
	*pos += strlen(*value) + 1;
	return true;
}
