/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A server request's head as it is read: scanned (h1scan.h) across up to
 * TW_SRV_PENDING_READS reads for traceparent and tracestate, then the
 * SERVER span's ids decided (header > TCP option > IPv4 option > new
 * trace) and made the reading thread's context.
 */
#ifndef TW_BPF_SERVER_HEAD_H
#define TW_BPF_SERVER_HEAD_H

#include "io.h"
#include "srvscan.h"

/* ---- trace context -------------------------------------------------------- */

/* An incoming tracestate being validated (include/tw_tracecontext.h), and
 * where the walk is in the head's values. The walk's position lives here,
 * not in bpf_loop's (stack) context: a map value is not tracked exactly
 * across iterations, so the verifier checks the callback a few times, not
 * once per byte (6.12 gave up after 8193 jumps, 6.18 took 467k insns). */
struct tw_ts_work {
	struct tw_ts_filter f;
	__u16 off[TW_TS_FIELDS];
	__u16 len[TW_TS_FIELDS];
	__u32 n;     /* fields */
	__u32 field; /* the one being read */
	__u32 at;    /* bytes of it read */
	__u32 pad;
	struct tw_tracestate ts; /* the normalised list, as span_tracestate keeps it */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_ts_work);
} tracestate_scratch SEC(".maps");

/* One byte of a tracestate value, or the end of one, per call. */
static long tw_ts_walk_cb(__u32 i, void *data)
{
	struct tw_ts_work *wk;
	struct tw_scratch *sc;
	__u32 zero = 0, k;

	wk = bpf_map_lookup_elem(&tracestate_scratch, &zero);
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!wk || !sc)
		return 1;
	k = wk->field;
	if (k >= wk->n || k >= TW_TS_FIELDS)
		return 1;
	if (wk->at >= wk->len[k & (TW_TS_FIELDS - 1)]) {
		tw_ts_field_end(&wk->f, wk->ts.value);
		wk->field++;
		wk->at = 0;
		return 0;
	}
	tw_ts_byte(&wk->f, sc->data[(wk->off[k & (TW_TS_FIELDS - 1)] + wk->at) & (TW_SCAN_WIN - 1)],
		   wk->ts.value);
	wk->at++;
	return 0;
}

/*
 * tracestate travels only with the traceparent it came with (W3C), and only
 * as the W3C grammar allows: the head's tracestate values (in scratch) are
 * combined, validated and normalised by the one rule set user space uses
 * too; an invalid one is dropped whole, so no other byte can reach the next
 * hop's request.
 */
static __always_inline void tw_save_tracestate(const __u8 *span_id, const struct tw_h1scan *scan)
{
	struct tw_ts_work *wk;
	__u32 zero = 0, len;
	__u64 key;

	if (!scan || !scan->n_ts)
		return;
	if (scan->flags & TW_SF_TS_LOST) {
		tw_count(TW_CNT_TRACESTATE_INVALID);
		return;
	}
	wk = bpf_map_lookup_elem(&tracestate_scratch, &zero);
	if (!wk)
		return;
	tw_ts_begin(&wk->f);
	wk->n = scan->n_ts;
	wk->field = 0;
	wk->at = 0;
	for (int k = 0; k < TW_TS_FIELDS; k++) {
		wk->off[k] = scan->ts_off[k];
		wk->len[k] = scan->ts_len[k];
	}
	bpf_loop(TW_SCAN_WIN + TW_TS_FIELDS, tw_ts_walk_cb, NULL, 0);
	len = tw_ts_finish(&wk->f, wk->ts.value);
	if (wk->f.bad) {
		tw_count(TW_CNT_TRACESTATE_INVALID);
		return;
	}
	if (!len)
		return;
	wk->ts.len = len;
	__builtin_memcpy(&key, span_id, 8);
	bpf_map_update_elem(&span_tracestate, &key, &wk->ts, BPF_ANY);
}

/* bpf_loop's context must be on the stack: keep it to a pointer and a count. */
struct tw_srv_scan {
	struct tw_h1scan *s; /* in pending_scratch */
	__u32 n;
	__u32 pad;
};

static long tw_srv_scan_cb(__u32 i, void *data)
{
	struct tw_srv_scan *x = data;
	struct tw_scratch *sc;
	__u32 zero = 0;

	__u32 pos = i * 8, nb;
	__u64 w;

	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc || pos >= x->n)
		return 1;
	nb = x->n - pos < 8 ? x->n - pos : 8;
	__builtin_memcpy(&w, sc->data + (pos & (TW_SCAN_WIN - 1)), 8);
	return tw_scan_word(x->s, w, nb, pos) ? 1 : 0;
}

/* A server request whose head did not arrive in one read: the framer's
 * state between reads, and what it found so far. */
struct tw_srv_pending {
	struct tw_h1scan s;
	struct tw_traceparent tp;
	__u8 tp_state; /* 0: none seen, 1: valid, 2: invalid or not readable */
	__u8 reads;
	__u8 pad[6];
	struct tw_line_key lk; /* the request line, from its first read (reqline.h) */
};

#define TW_SRV_PENDING_READS 8 /* reads a head may take before ids are chosen anyway */
#define TW_SRV_ST_IN_REQUEST 1
#define TW_SRV_ST_HEAD_PENDING 2

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* struct sock address */
	__type(value, struct tw_srv_pending);
} server_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_srv_pending);
} pending_scratch SEC(".maps");

/* The map values tw_server_decide builds, off the stack. */
struct tw_decide_scratch {
	struct tw_thread_ctx tc;
	struct tw_fwd_slot fs;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_decide_scratch);
} decide_scratch SEC(".maps");

/*
 * The ids the request's first segment or packet carried in an option
 * (wire_in, by the socket's tuple): the parent when no valid traceparent
 * came (header > TCP option > IPv4 option). Taken either way, so that they
 * cannot parent a later request that carried none.
 */
static __always_inline bool tw_server_wire_parent(struct tw_scratch *s, struct tw_trace_ctx *ctx,
						  bool header_valid)
{
	struct tw_tuple t = s->hdr.tuple;
	struct tw_wire_in *in;
	struct tw_wire_ctx *w;
	__u8 source;

	tw_tuple_normalize(&t);
	in = bpf_map_lookup_elem(&wire_in, &t);
	if (!in)
		return false;
	if (in->tcp.valid) {
		w = &in->tcp;
		source = TW_PSRC_TCP_OPTION;
	} else if (in->ip.valid) {
		w = &in->ip;
		source = TW_PSRC_IP_OPTION;
	} else {
		return false;
	}
	if (!header_valid) {
		__builtin_memcpy(ctx->trace_id, w->trace_id, 16);
		__builtin_memcpy(ctx->parent_span_id, w->span_id, 8);
		ctx->flags = w->flags;
		ctx->source = source;
	}
	in->tcp.valid = 0;
	in->ip.valid = 0;
	return !header_valid;
}

/* A server request of process tgid that carried tp got SERVER span span_id:
 * its slot in forwarded_ctx (maps.h), built in fs, then written with its
 * check last. */
static __always_inline void tw_fwd_remember(struct tw_fwd_slot *fs, const struct tw_traceparent *tp,
					    const __u8 *span_id, __u32 tgid)
{
	struct tw_fwd_slot *slot;
	__u32 idx;

	__builtin_memcpy(fs->k.trace_id, tp->trace_id, 16);
	__builtin_memcpy(fs->k.parent_id, tp->parent_id, 8);
	__builtin_memcpy(fs->span_id, span_id, 8);
	fs->tgid = tgid;
	idx = tw_fwd_index(&fs->k);
	slot = bpf_map_lookup_elem(&forwarded_ctx, &idx);
	if (!slot)
		return;
	slot->check = 0;
	asm volatile("" ::: "memory");
	slot->k = fs->k;
	__builtin_memcpy(slot->span_id, fs->span_id, 8);
	slot->tgid = tgid;
	asm volatile("" ::: "memory");
	slot->check = tw_fwd_check(fs);
}

/* The SERVER span's ids, now that its head is read (or will not be). */
static __always_inline void tw_server_decide(struct tw_scratch *s, struct tw_srv_pending *p,
					     __u64 sk)
{
	struct tw_trace_ctx *ctx = &s->hdr.ctx;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, zero = 0;
	bool valid = p->tp_state == 1;
	struct tw_decide_scratch *d = bpf_map_lookup_elem(&decide_scratch, &zero);

	if (!d)
		return;
	__builtin_memset(d, 0, sizeof(*d));
	if (p->tp_state)
		tw_count(valid ? TW_CNT_SERVER_CONTINUED : TW_CNT_SERVER_INVALID);
	ctx->kind = TW_CTX_SERVER;
	tw_random_id(ctx->span_id, 8);
	if (wire_on && tw_server_wire_parent(s, ctx, valid)) {
		/* the ids came in a TCP or IPv4 option */
	} else if (valid) {
		__builtin_memcpy(ctx->trace_id, p->tp.trace_id, 16);
		__builtin_memcpy(ctx->parent_span_id, p->tp.parent_id, 8);
		ctx->flags = p->tp.flags;
		ctx->source = TW_PSRC_HEADER;
		tw_fwd_remember(&d->fs, &p->tp, ctx->span_id, pid_tgid >> 32);
	} else {
		tw_random_id(ctx->trace_id, 16);
		__builtin_memset(ctx->parent_span_id, 0, 8);
		ctx->flags = tw_root_flags();
		ctx->source = TW_PSRC_NONE;
	}
	__builtin_memcpy(d->tc.trace_id, ctx->trace_id, 16);
	__builtin_memcpy(d->tc.span_id, ctx->span_id, 8);
	d->tc.server_sk = sk;
	d->tc.flags = ctx->flags;
	tw_thread_ctx_put(tid, &d->tc);
	tw_line_begin(sk, &p->lk, ctx, s->hdr.ts_ns);
	tw_save_tracestate(ctx->span_id, valid ? &p->s : NULL);
}

/* The quick look's state (srvscan.h), off the stack: the deepest call
 * chain (exit -> server head -> loop callback -> line end) is near the
 * stack limit. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_srvq);
} srvq_scratch SEC(".maps");

__noinline int tw_srvq_line_end(struct tw_h1scan *s, __u32 pos)
{
	struct tw_scratch *sc;
	struct tw_srvq *q;
	__u32 zero = 0;

	q = bpf_map_lookup_elem(&srvq_scratch, &zero);
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!q || !s)
		return 0;
	if (!sc) {
		q->result = TW_SRVQ_FALLBACK;
		return 0;
	}
	tw_srvq_line_end_in(q, s, sc->data, pos);
	return 0;
}

/* ctx: the pending_scratch value, whose framer state is filled */
static long tw_srvq_cb(__u32 i, void *data)
{
	struct tw_srv_pending **p = data;
	struct tw_scratch *sc;
	struct tw_srvq *q;
	__u32 zero = 0;

	q = bpf_map_lookup_elem(&srvq_scratch, &zero);
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!q || !sc)
		return 1;
	return tw_srvq_step(q, &(*p)->s, sc->data, i * 8) ? 1 : 0;
}

/*
 * A request's first read of n bytes (the socket has no head pending): its
 * framer state in pending_scratch begun, and the quick look (srvscan.h) run
 * over it. true: the head was whole and the state holds what tw_server_head
 * needs; false: the state is fresh, for the framer. Global and called
 * beside tw_server_head, not in it: bpf_loop's inlined counter and the
 * callback's frames stay out of the exit program's frame and off
 * tw_server_head's chain (the stack's deepest).
 */
__noinline int tw_server_head_quick(__u64 sk, __u32 n)
{
	struct tw_srv_pending *p;
	struct tw_conn_state *st;
	struct tw_srvq *q;
	__u32 zero = 0;

	st = bpf_map_lookup_elem(&conns, &sk);
	p = bpf_map_lookup_elem(&pending_scratch, &zero);
	q = bpf_map_lookup_elem(&srvq_scratch, &zero);
	if (!st || !p || !q || st->in_request)
		return 0;
	__builtin_memset(p, 0, sizeof(*p));
	tw_scan_begin_request(&p->s);
	__builtin_memset(q, 0, sizeof(*q));
	q->n = n;
	q->open = TW_HN_NONE;
	bpf_loop(TW_SCAN_WIN / 8, tw_srvq_cb, &p, 0);
	if (q->result == TW_SRVQ_DONE)
		return 1;
	tw_scan_begin_request(&p->s);
	return 0;
}

/*
 * n bytes of a server request's head are in s->data: the first read of the
 * request (pending == 0) or a later one while its head is incomplete. Scans
 * them for traceparent/tracestate; once the head is complete (or cannot be
 * followed) decides the SERVER span's ids, makes them the reading thread's
 * context and puts them in the record (scratch), and moves the socket's
 * in_request state on. Global: the verifier checks it once, and it runs
 * beside tw_io_done, not below it, so their stack frames never add up.
 */
__noinline int tw_server_head(__u64 sk, __u32 n, int quick)
{
	struct tw_srv_pending *p, *saved;
	struct tw_srv_scan x = {};
	struct tw_conn_state *st;
	struct tw_scratch *s;
	__u32 zero = 0;
	__u8 n_tp;
	int pending;

	p = bpf_map_lookup_elem(&pending_scratch, &zero);
	s = bpf_map_lookup_elem(&scratch, &zero);
	st = bpf_map_lookup_elem(&conns, &sk);
	if (!s || !p || !st)
		return 0;
	pending = st->in_request;
	saved = pending ? bpf_map_lookup_elem(&server_pending, &sk) : NULL;
	if (saved) {
		*p = *saved;
	} else if (!quick) {
		__builtin_memset(p, 0, sizeof(*p));
		tw_scan_begin_request(&p->s);
	}
	n_tp = 0;
	x.s = &p->s;
	x.n = n;
	if (saved || !quick) {
		/* value offsets refer to the window being scanned */
		n_tp = p->s.n_tp;
		p->s.tp_len = 0;
		/* tracestate values read earlier cannot be combined with these */
		if (p->s.n_ts)
			p->s.flags |= TW_SF_TS_LOST;
		p->s.n_ts = 0;
		bpf_loop(TW_SCAN_WIN / 8, tw_srv_scan_cb, &x, 0);
	}
	/* the request line, when the request's first read holds it whole */
	if (!saved && p->s.reqline_end && p->s.reqline_end <= n)
		tw_line_key_of(&p->lk, s->data, p->s.reqline_end);
	if (p->s.n_tp != n_tp) {
		/* a value begun in an earlier read is not here to parse */
		if (p->s.n_tp == 1 && p->s.tp_len && !p->tp_state) {
			__u32 off = p->s.tp_off & (TW_SCAN_WIN - 1);

			p->tp_state = tw_traceparent_parse(s->data + off, p->s.tp_len, &p->tp) ? 1 : 2;
		} else {
			p->tp_state = 2; /* two traceparents: W3C says neither counts */
		}
	}
	if (!(p->s.flags & TW_SF_HEAD_DONE) && p->s.phase != TW_SP_OPAQUE && n < TW_SCAN_WIN &&
	    ++p->reads < TW_SRV_PENDING_READS) {
		bpf_map_update_elem(&server_pending, &sk, p, BPF_ANY);
		st->in_request = TW_SRV_ST_HEAD_PENDING;
		return 0;
	}
	if (saved)
		bpf_map_delete_elem(&server_pending, &sk);
	st->in_request = TW_SRV_ST_IN_REQUEST;
	tw_server_decide(s, p, sk);
	return 0;
}

/* The response is being written: the thread is done with the request. */

#endif
