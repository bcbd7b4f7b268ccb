// SPDX-License-Identifier: BSD-2-Clause
/*
 * HPACK decoding (http2.h) with libnghttp2's inflater, one per direction.
 *
 * Every allocation of every inflater goes through one counting allocator
 * per correlator: past cfg.h2_hpack_bytes an allocation fails, nghttp2
 * reports NGHTTP2_ERR_NOMEM, and that header block is lost (counted in
 * h2_hpack_nomem) with the table started afresh at the next block, which
 * frees what the old one held.
 *
 * Tables: the inflater's own maximum stays at TW_H2_TABLE_MAX (4096, the
 * protocol's default). A peer that allows more (SETTINGS_HEADER_TABLE_SIZE
 * above 4096) is refused, counted (h2_table_refused): an encoder that then
 * grows its table past 4096 makes a size update nghttp2 rejects, and
 * references to entries beyond our 4096 bytes fail; both cost that block,
 * never a wrong header (a fresh or smaller table holds the newest entries
 * at the indexes the encoder's has).
 */
#include "correlator_int.h"
#include "http2.h"

#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

/* Each chunk is prefixed with its size, so free can count it back. */
#define CHUNK_HDR 16

static void *hp_malloc(size_t size, void *ud)
{
	struct tw_correlator *c = ud;
	uint8_t *p;

	if (size > c->cfg.h2_hpack_bytes || c->h2_hpack_bytes > c->cfg.h2_hpack_bytes - size) {
		c->stats.h2_hpack_nomem++;
		return NULL;
	}
	p = malloc(size + CHUNK_HDR);
	if (!p)
		return NULL;
	memcpy(p, &size, sizeof(size));
	c->h2_hpack_bytes += size;
	return p + CHUNK_HDR;
}

static void hp_free(void *ptr, void *ud)
{
	struct tw_correlator *c = ud;
	uint8_t *p = ptr;
	size_t size;

	if (!p)
		return;
	p -= CHUNK_HDR;
	memcpy(&size, p, sizeof(size));
	c->h2_hpack_bytes -= size;
	free(p);
}

static void *hp_calloc(size_t nmemb, size_t size, void *ud)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	p = hp_malloc(nmemb * size, ud);
	if (p)
		memset(p, 0, nmemb * size);
	return p;
}

static void *hp_realloc(void *ptr, size_t size, void *ud)
{
	uint8_t *old = ptr;
	size_t old_size;
	void *p;

	if (!old)
		return hp_malloc(size, ud);
	memcpy(&old_size, old - CHUNK_HDR, sizeof(old_size));
	p = hp_malloc(size, ud);
	if (!p)
		return NULL;
	memcpy(p, old, old_size < size ? old_size : size);
	hp_free(old, ud);
	return p;
}

/* nghttp2 keeps a pointer to it for the inflater's life: one per
 * correlator, made at the first inflater. */
static nghttp2_mem *hp_mem(struct tw_correlator *c)
{
	nghttp2_mem *m = c->h2_mem;

	if (m)
		return m;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	*m = (nghttp2_mem){ .mem_user_data = c, .malloc = hp_malloc, .free = hp_free,
			    .calloc = hp_calloc, .realloc = hp_realloc };
	c->h2_mem = m;
	return m;
}

void corr_hpack_global_free(struct tw_correlator *c)
{
	free(c->h2_mem);
	c->h2_mem = NULL;
}

void corr_hpack_free(struct h2_dir *d)
{
	if (d->inf)
		nghttp2_hd_inflate_del(d->inf);
	d->inf = NULL;
}

bool corr_hpack_reset(struct tw_correlator *c, struct h2_dir *d)
{
	nghttp2_mem *m = hp_mem(c);

	corr_hpack_free(d);
	if (!m || nghttp2_hd_inflate_new2(&d->inf, m)) {
		d->inf = NULL;
		return false;
	}
	if (d->table_size && d->table_size < TW_H2_TABLE_MAX)
		nghttp2_hd_inflate_change_table_size(d->inf, d->table_size);
	return true;
}

void corr_hpack_table_size(struct tw_correlator *c, struct h2_dir *d, uint32_t size)
{
	if (size > TW_H2_TABLE_MAX) {
		c->stats.h2_table_refused++;
		size = TW_H2_TABLE_MAX;
	}
	if (size == d->table_size)
		return;
	d->table_size = size;
	/* a smaller table: the encoder must say so at its next block's start,
	 * which nghttp2 then expects */
	if (d->inf)
		nghttp2_hd_inflate_change_table_size(d->inf, size);
}

void corr_hpack_feed(struct conn *conn, enum h2_side side, const uint8_t *in, size_t n,
		     bool final)
{
	struct h2_dir *d = &conn->h2->d[side];
	static const uint8_t none[1];

	if (d->block_skip || !d->inf)
		return;
	if (!in)
		in = none;
	for (;;) {
		nghttp2_nv nv;
		int flags = 0;
		ssize_t r = nghttp2_hd_inflate_hd2(d->inf, &nv, &flags, in, n, final);

		if (r < 0) {
			conn->c->stats.h2_hpack_errors++;
			/* the rest of the block is unreadable, the table unknown */
			d->block_skip = true;
			d->hpack_fresh = true;
			return;
		}
		in += r;
		n -= (size_t)r;
		if (flags & NGHTTP2_HD_INFLATE_EMIT)
			corr_h2_header(conn, side, nv.name, nv.namelen, nv.value, nv.valuelen);
		if (flags & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(d->inf);
			return;
		}
		if (!n && !(flags & NGHTTP2_HD_INFLATE_EMIT))
			return;
	}
}
