// SPDX-License-Identifier: BSD-2-Clause
/*
 * The correlator's connections (correlator_int.h).
 *
 * Keys: connections are keyed by sock_id alone. A socket shared across
 * fork() carries one byte stream whichever process touches it, so adding the
 * pid would split one stream into two framers; the kernel deletes the key
 * with the socket (TW_EV_CLOSE), so address reuse starts a fresh connection.
 *
 * Memory: a hash table of max_conns connections (chained, power-of-two
 * buckets) plus an intrusive LRU list, newest first, used both to evict the
 * least recently active connection and to find idle ones in tick. Pending
 * requests are heap entries, at most cfg.max_pending per connection and
 * cfg.max_pending_total in all. A connection holds no buffer while idle:
 * its framers allocate head buffers only while framing a head (http1.h),
 * and its ctx_fifo only while a TW_EV_CTX record waits.
 */
#include "correlator_int.h"
#include "http2.h"

#include <errno.h>
#include <stdlib.h>

#define BUCKETS_MAX (1u << 22)

static size_t bucket_of(const struct tw_correlator *c, uint64_t sock_id)
{
	/* splitmix64 finalizer: kernel pointers share their low and high bits */
	uint64_t x = sock_id;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (size_t)x & (c->nbuckets - 1);
}

struct conn *corr_conn_find(const struct tw_correlator *c, uint64_t sock_id)
{
	struct conn *conn = c->buckets[bucket_of(c, sock_id)];

	while (conn && conn->sock_id != sock_id)
		conn = conn->hash_next;
	return conn;
}

static void lru_unlink(struct tw_correlator *c, struct conn *conn)
{
	if (conn->newer)
		conn->newer->older = conn->older;
	else
		c->newest = conn->older;
	if (conn->older)
		conn->older->newer = conn->newer;
	else
		c->oldest = conn->newer;
	conn->newer = conn->older = NULL;
}

static void lru_push_newest(struct tw_correlator *c, struct conn *conn)
{
	conn->older = c->newest;
	conn->newer = NULL;
	if (c->newest)
		c->newest->newer = conn;
	else
		c->oldest = conn;
	c->newest = conn;
}

void corr_conn_touch(struct tw_correlator *c, struct conn *conn, uint64_t ts)
{
	if (ts > conn->last_ts)
		conn->last_ts = ts;
	if (c->newest == conn)
		return;
	lru_unlink(c, conn);
	lru_push_newest(c, conn);
}

void corr_pending_pop(struct conn *conn)
{
	struct pending *p = conn->first;

	conn->first = p->next;
	if (!conn->first)
		conn->last = NULL;
	if (conn->req_in_body == p)
		conn->req_in_body = NULL;
	conn->npending--;
	conn->c->stats.pending_live--;
	corr_pending_release(p);
}

void corr_conn_free(struct tw_correlator *c, struct conn *conn)
{
	struct conn **pp = &c->buckets[bucket_of(c, conn->sock_id)];

	while (*pp != conn)
		pp = &(*pp)->hash_next;
	*pp = conn->hash_next;
	lru_unlink(c, conn);
	while (conn->first)
		corr_pending_pop(conn);
	c->stats.ctx_unmatched += conn->ctx_n;
	c->stats.conns_live--;
	corr_ctx_free(conn);
	tw_h1_release(&conn->req);
	tw_h1_release(&conn->resp);
	corr_h2_free(conn);
	free(conn);
}

struct conn *corr_conn_new(struct tw_correlator *c, uint64_t sock_id, uint8_t role)
{
	struct conn *conn;
	size_t b;

	if (c->stats.conns_live >= c->cfg.max_conns && c->oldest) {
		corr_conn_flush(c, c->oldest);
		corr_conn_free(c, c->oldest);
		c->stats.conns_evicted++;
	}
	conn = calloc(1, sizeof(*conn));
	if (!conn)
		return NULL;
	conn->c = c;
	conn->sock_id = sock_id;
	conn->role = role;
	tw_h1_init(&conn->req, TW_H1_REQUEST, corr_on_request_event, conn);
	tw_h1_init(&conn->resp, TW_H1_RESPONSE, corr_on_response_event, conn);
	b = bucket_of(c, sock_id);
	conn->hash_next = c->buckets[b];
	c->buckets[b] = conn;
	lru_push_newest(c, conn);
	c->stats.conns_live++;
	return conn;
}

/* malloc's per-chunk header, and rounding to 16 */
static size_t heap_chunk(size_t n)
{
	return (n + 8 + 15) & ~(size_t)15;
}

size_t tw_correlator_conn_bytes(bool in_head)
{
	/* plus its hash bucket (one pointer, buckets >= connections) */
	return heap_chunk(sizeof(struct conn)) + 2 * sizeof(void *) +
	       (in_head ? heap_chunk(sizeof(struct tw_h1_bufs)) : 0);
}

size_t tw_correlator_pending_bytes(void)
{
	return heap_chunk(sizeof(struct pending));
}

int corr_table_init(struct tw_correlator *c, size_t max_conns)
{
	size_t n = 16;

	while (n < max_conns && n < BUCKETS_MAX)
		n <<= 1;
	c->buckets = calloc(n, sizeof(*c->buckets));
	if (!c->buckets)
		return -ENOMEM;
	c->nbuckets = n;
	return 0;
}

void corr_table_free(struct tw_correlator *c)
{
	while (c->oldest)
		corr_conn_free(c, c->oldest);
	free(c->buckets);
}
