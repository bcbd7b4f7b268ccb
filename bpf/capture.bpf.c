// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP/1.x capture from syscall tracepoints.
 *
 * Enter programs check the selection first, resolve fd -> TCP socket and park
 * the arguments per thread; exit programs know how many bytes really moved
 * (partial writes, short reads) and send a record with a prefix of them.
 * A socket is tracked once its bytes start like an HTTP/1.x message; only
 * tracked sockets produce records. Framing is done in user space.
 *
 * TLS (OpenSSL): uprobes at the end of this file feed the plaintext of
 * SSL_read/SSL_write through the same path (tw_io_done); the syscalls of
 * such a socket carry ciphertext and produce nothing.
 */
#include "lib/compat.h"
#include "lib/select.h"
#include "lib/sock.h"
#include "lib/http.h"
#include "lib/maps.h"
#include "lib/h1scan.h"
#include "lib/tracectx.h"
#include "lib/clientctx.h"
#include "lib/tls.h"
#include "tracewire_event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Records are submitted without waking the reader until this much is queued;
 * the daemon drains on a short timer as well, so nothing waits for long. */
const volatile __u64 wakeup_bytes = 64 * 1024;

enum tw_io_kind {
	TW_IO_PLAIN = 0, /* buf, count */
	TW_IO_IOV,       /* struct iovec *, iovcnt */
	TW_IO_MSG,       /* struct user_msghdr * */
	TW_IO_NONE,      /* no user buffer (sendfile) */
	TW_IO_CONNECT,
};

struct tw_io_args {
	__u64 sk;
	__u64 ubuf;
	__u64 count; /* bytes or iovcnt */
	__u64 ts_enter;
	__u8 kind;
	__u8 dir;
	__u8 syscall;
	__u8 pad[5];
};

/* A thread's I/O in progress: the syscall parked by its enter program, and
 * the SSL call (lib/tls.h) it may be inside, which outlives the syscalls
 * made in it. */
struct tw_task_io {
	struct tw_io_args io;
	struct tw_tls_call tls;
	struct tw_io_args tls_io; /* the plaintext an SSL call moved, for tw_io_done */
};

/* The syscall in progress, parked by the enter program for the exit one.
 * Task storage: it lives and dies with the thread, and costs a pointer
 * check, not a hash update, lookup and delete per syscall. Empty: sk == 0. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tw_task_io);
} pending_io SEC(".maps");

static __always_inline struct tw_task_io *tw_pending(bool create)
{
	return bpf_task_storage_get(&pending_io, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* The parked syscall of this thread, taken out (the slot is empty after). */
static __always_inline bool tw_take_pending(struct tw_io_args *out)
{
	struct tw_task_io *t = tw_pending(false);

	if (!t || !t->io.sk)
		return false;
	*out = t->io;
	t->io.sk = 0;
	return true;
}

/* Twice the largest copy so a masked offset plus a clamped length can never
 * leave the buffer, which is what the verifier needs to see. Records carry at
 * most TW_CAPTURE_MAX bytes; a server request's first read is copied up to
 * TW_SCAN_WIN bytes to find its traceparent. */
struct tw_scratch {
	struct tw_event_hdr hdr;
	__u8 data[2 * TW_SCAN_WIN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TW_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void tw_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += 1;
}

/* ---- enter side ---------------------------------------------------------- */

struct tw_task_io;
__noinline int tw_tls_nested(struct tw_task_io *t, __u64 sk);

static __always_inline int tw_park_io(__u64 fd, __u64 ubuf, __u64 count, __u8 kind,
				      __u8 dir, __u8 syscall)
{
	struct tw_task_io *t;
	struct tw_io_args *a;
	struct sock *sk;

	if (!tw_selected())
		return 0;
	sk = tw_fd_to_tcp_sock(fd);
	if (!sk)
		return 0;
	t = tw_pending(true);
	if (!t)
		return 0;
	a = &t->io;
	a->sk = (__u64)sk;
	a->ubuf = ubuf;
	a->count = count;
	a->ts_enter = bpf_ktime_get_ns();
	a->kind = kind;
	a->dir = dir;
	a->syscall = syscall;
	/* a syscall inside SSL_read/SSL_write: it names the SSL's socket */
	if (t->tls.ssl && kind != TW_IO_CONNECT)
		tw_tls_nested(t, (__u64)sk);
	return 0;
}

/* ---- payload copy -------------------------------------------------------- */

/* Copies up to TW_CAPTURE_MAX of the first `total` bytes behind an iovec array. */
static __always_inline __u32 tw_copy_iov(__u8 *dst, const struct iovec *iov, __u64 iovcnt,
					 __u64 total, const __u32 limit)
{
	__u32 off = 0;

	for (int i = 0; i < TW_IOV_MAX; i++) {
		struct iovec v;
		__u64 n;
		__u32 at;

		if ((__u64)i >= iovcnt || off >= limit || total == 0)
			break;
		if (bpf_probe_read_user(&v, sizeof(v), &iov[i]))
			break;
		n = v.iov_len;
		if (n > total)
			n = total;
		if (n > limit - off)
			n = limit - off;
		/* Hide what the compiler knows so it keeps the check the verifier needs. */
		at = off;
		barrier_var(n);
		barrier_var(at);
		if (n > limit)
			break;
		at &= limit - 1;
		if (bpf_probe_read_user(dst + at, n, v.iov_base)) {
			tw_count(TW_CNT_READ_FAULT);
			break;
		}
		off += n;
		total -= n;
	}
	return off;
}

/* limit: a power of two, at most TW_SCAN_WIN. */
static __always_inline __u32 tw_copy_payload_inline(__u8 *dst, const struct tw_io_args *a,
						    __u64 total, const __u32 limit)
{
	__u64 n = total;

	switch (a->kind) {
	case TW_IO_PLAIN:
		if (n > limit)
			n = limit;
		barrier_var(n);
		if (n > limit)
			return 0;
		if (bpf_probe_read_user(dst, n, (void *)a->ubuf)) {
			tw_count(TW_CNT_READ_FAULT);
			return 0;
		}
		return n;
	case TW_IO_IOV:
		return tw_copy_iov(dst, (const struct iovec *)a->ubuf, a->count, total, limit);
	case TW_IO_MSG: {
		struct user_msghdr msg;

		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)a->ubuf))
			return 0;
		return tw_copy_iov(dst, msg.msg_iov, msg.msg_iovlen, total, limit);
	}
	}
	return 0;
}

struct tw_scratch;

/* Copies the first `total` bytes (at most TW_SCAN_WIN) of the syscall's user
 * buffer into s->data. A global function: the verifier checks it once, not
 * at every call site of every syscall program. */
__noinline int tw_copy_payload(struct tw_scratch *s, const struct tw_io_args *a, __u64 total);

/* ---- connection state ---------------------------------------------------- */

static __always_inline __u8 tw_infer_role(enum tw_http_start start, __u8 dir)
{
	/* A request written or a response read: we are the client. */
	if ((start == TW_HTTP_REQUEST) == (dir == TW_DIR_EGRESS))
		return TW_ROLE_CLIENT;
	return TW_ROLE_SERVER;
}

/*
 * Returns the state of a socket that should produce a record, or NULL.
 * Untracked sockets become tracked when the captured bytes start like HTTP.
 */
static __always_inline struct tw_conn_state *tw_conn_for_data(__u64 sk, const __u8 *data,
							      __u32 cap, __u8 dir)
{
	struct tw_conn_state *st = bpf_map_lookup_elem(&conns, &sk);
	struct tw_conn_state fresh = {};
	char peek[TW_HTTP_PEEK] = {};
	enum tw_http_start start;

	if (st && st->http == TW_CONN_HTTP)
		return st;
	if (st && st->http == TW_CONN_OPAQUE)
		return NULL;
	if (cap < 5)
		return NULL;
	/* Bytes past cap are left over from an earlier record: blank them. */
	__builtin_memcpy(peek, data, TW_HTTP_PEEK);
	for (int i = 0; i < TW_HTTP_PEEK; i++)
		if ((__u32)i >= cap)
			peek[i] = 0;
	start = tw_http_classify(peek);
	if (start == TW_HTTP_NONE) {
		tw_count(TW_CNT_NOT_HTTP);
		return NULL;
	}
	fresh.http = TW_CONN_HTTP;
	fresh.role = st && st->role ? st->role : tw_infer_role(start, dir);
	if (st) {
		fresh.sent = st->sent;
		fresh.sent_known = st->sent_known;
		fresh.tls = st->tls;
		fresh.prop = st->prop;
	}
	if (bpf_map_update_elem(&conns, &sk, &fresh, BPF_ANY)) {
		tw_count(TW_CNT_CONN_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&conns, &sk);
}

__noinline int tw_copy_payload(struct tw_scratch *s, const struct tw_io_args *a, __u64 total)
{
	if (!s || !a)
		return 0;
	return tw_copy_payload_inline(s->data, a, total, TW_SCAN_WIN);
}

/* ---- trace context -------------------------------------------------------- */

/* An incoming tracestate being validated (include/tw_tracecontext.h). */
struct tw_ts_work {
	struct tw_ts_filter f;
	struct tw_tracestate ts; /* the normalised list, as span_tracestate keeps it */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_ts_work);
} tracestate_scratch SEC(".maps");

/* Where the filter is in the head's tracestate values (bpf_loop context). */
struct tw_ts_walk {
	__u16 off[TW_TS_FIELDS];
	__u16 len[TW_TS_FIELDS];
	__u32 n;     /* fields */
	__u32 field; /* the one being read */
	__u32 at;    /* bytes of it read */
	__u32 pad;
};

/* One byte of a tracestate value, or the end of one, per call. */
static long tw_ts_walk_cb(__u32 i, void *data)
{
	struct tw_ts_walk *w = data;
	struct tw_ts_work *wk;
	struct tw_scratch *sc;
	__u32 zero = 0, k = w->field;

	if (k >= w->n || k >= TW_TS_FIELDS)
		return 1;
	wk = bpf_map_lookup_elem(&tracestate_scratch, &zero);
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!wk || !sc)
		return 1;
	if (w->at >= w->len[k & (TW_TS_FIELDS - 1)]) {
		tw_ts_field_end(&wk->f, wk->ts.value);
		w->field++;
		w->at = 0;
		return 0;
	}
	tw_ts_byte(&wk->f, sc->data[(w->off[k & (TW_TS_FIELDS - 1)] + w->at) & (TW_SCAN_WIN - 1)],
		   wk->ts.value);
	w->at++;
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
	struct tw_ts_walk w = {};
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
	w.n = scan->n_ts;
	for (int k = 0; k < TW_TS_FIELDS; k++) {
		w.off[k] = scan->ts_off[k];
		w.len[k] = scan->ts_len[k];
	}
	bpf_loop(TW_SCAN_WIN + TW_TS_FIELDS, tw_ts_walk_cb, &w, 0);
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
	__u8 pad[4];
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
	struct tw_fwd_key fk;
	struct tw_fwd_val fv;
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
		__builtin_memcpy(d->fk.trace_id, p->tp.trace_id, 16);
		__builtin_memcpy(d->fk.parent_id, p->tp.parent_id, 8);
		__builtin_memcpy(d->fv.span_id, ctx->span_id, 8);
		d->fv.tgid = pid_tgid >> 32;
		bpf_map_update_elem(&forwarded_ctx, &d->fk, &d->fv, BPF_ANY);
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
	bpf_map_update_elem(&thread_ctx, &tid, &d->tc, BPF_ANY);
	tw_save_tracestate(ctx->span_id, valid ? &p->s : NULL);
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
__noinline int tw_server_head(__u64 sk, __u32 n)
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
	} else {
		__builtin_memset(p, 0, sizeof(*p));
		tw_scan_begin_request(&p->s);
	}
	/* value offsets refer to the window being scanned */
	n_tp = p->s.n_tp;
	p->s.tp_len = 0;
	/* tracestate values read earlier cannot be combined with these */
	if (p->s.n_ts)
		p->s.flags |= TW_SF_TS_LOST;
	p->s.n_ts = 0;
	x.s = &p->s;
	x.n = n;
	bpf_loop(TW_SCAN_WIN / 8, tw_srv_scan_cb, &x, 0);
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
static __always_inline void tw_server_response(__u64 sk, struct tw_conn_state *st)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tw_thread_ctx *tc = bpf_map_lookup_elem(&thread_ctx, &tid);

	st->in_request = 0;
	if (tc && tc->server_sk == sk)
		bpf_map_delete_elem(&thread_ctx, &tid);
}

/* Client bytes carry the writing thread's context, so the correlator can
 * parent client spans that got no header (out of scope, propagation off). */
static __always_inline void tw_client_write(struct tw_trace_ctx *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tw_thread_ctx *tc = bpf_map_lookup_elem(&thread_ctx, &tid);

	if (!tc)
		return;
	ctx->kind = TW_CTX_THREAD;
	__builtin_memcpy(ctx->trace_id, tc->trace_id, 16);
	__builtin_memcpy(ctx->span_id, tc->span_id, 8);
	ctx->flags = tc->flags;
	ctx->source = TW_PSRC_THREAD;
}

static __always_inline bool tw_starts_request(const __u8 *data, __u32 n)
{
	char peek[TW_HTTP_PEEK] = {};

	__builtin_memcpy(peek, data, TW_HTTP_PEEK);
	for (int i = 0; i < TW_HTTP_PEEK; i++)
		if ((__u32)i >= n)
			peek[i] = 0;
	return tw_http_classify(peek) == TW_HTTP_REQUEST;
}

/* ---- records ------------------------------------------------------------- */

static __always_inline void tw_fill_hdr(struct tw_event_hdr *h, __u8 type, __u64 sk)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	__builtin_memset(&h->ctx, 0, sizeof(h->ctx));
	h->stream_off = 0;
	h->hdr_flags = 0;
	h->pad2 = 0;
	h->type = type;
	h->sock_id = sk;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
	tw_fill_tuple(&h->tuple, (struct sock *)sk);
}

static __always_inline void tw_submit(struct tw_scratch *s, __u32 cap)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	/* cap <= TW_CAPTURE_MAX already; the mask makes a bound the verifier can
	 * see (scratch holds 2 * TW_CAPTURE_MAX) without changing the value. */
	barrier_var(cap);
	cap &= 2 * TW_CAPTURE_MAX - 1;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, s, sizeof(s->hdr) + cap, flags))
		tw_count(TW_CNT_RB_FULL);
	else
		tw_count(TW_CNT_EVENTS);
}

/* What tw_io_done leaves for its caller: the record's captured length, and
 * how many bytes of a server request's head are in scratch to be scanned. */
#define TW_IOR_CAP_MASK 0xfff
#define TW_IOR_SCAN_SHIFT 12
#define TW_IOR_SCAN_MASK 0xfff
#define TW_IOR_SUBMIT (1 << 24)
#define TW_IOR_SERVER_HEAD (1 << 25)

/*
 * The core of a finished read or write: ret bytes moved on socket a->sk in
 * direction a->dir, their first bytes in user memory as a->kind says. tls:
 * they are a TLS socket's plaintext (the SSL_* uprobes). Without it they
 * come from a syscall, and on a TLS socket that is ciphertext: no record,
 * and not counted in `sent`, which counts plaintext there (the offsets of
 * TW_EV_CTX records are the application's). Fills the record in scratch and
 * returns TW_IOR_* bits (0: no record); tw_io_record does the rest. Global:
 * the verifier checks it once per program, not at each of its callers.
 */
__noinline int tw_io_done(struct tw_io_args *a, __u64 ret, int tls)
{
	struct tw_conn_state *st;
	struct tw_scratch *s;
	__u32 zero = 0, cap, scanned = 0;
	bool server_start = false, off_known = false;
	__u64 stream_off = 0, sk;

	if (!a || !ret || a->kind == TW_IO_CONNECT)
		return 0;
	sk = a->sk;
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	st = bpf_map_lookup_elem(&conns, &sk);
	if (st && st->tls && !tls)
		return 0;
	if (tls && (!st || !st->tls)) {
		/* the SSL's socket was learnt without SSL_set_fd, or its state
		 * was replaced since (connect() after SSL_set_fd) */
		tw_conn_mark_tls(sk);
		st = bpf_map_lookup_elem(&conns, &sk);
	}
	if (st && a->dir == TW_DIR_EGRESS) {
		/* every byte counts, HTTP or not yet: sk_msg's offsets do */
		stream_off = st->sent;
		off_known = st->sent_known;
		st->sent += ret;
	}

	if (a->kind == TW_IO_NONE) {
		/* sendfile: bytes we cannot see, on a socket already known as HTTP */
		if (!st || st->http != TW_CONN_HTTP)
			return 0;
		cap = 0;
	} else {
		/* Undecided sockets are peeked at first, so traffic that is not
		 * HTTP costs a few bytes of copy, not TW_CAPTURE_MAX. */
		if (!st || st->http != TW_CONN_HTTP) {
			cap = tw_copy_payload(s, a, ret < TW_HTTP_PEEK ? ret : TW_HTTP_PEEK);
			st = tw_conn_for_data(sk, s->data, cap, a->dir);
			if (!st)
				return 0;
		}
		if (a->dir == TW_DIR_INGRESS && st->role == TW_ROLE_SERVER &&
		    st->in_request != TW_SRV_ST_IN_REQUEST) {
			/* a request's head: scan further than the record holds */
			cap = tw_copy_payload(s, a, ret < TW_SCAN_WIN ? ret : TW_SCAN_WIN);
			scanned = cap;
			server_start = st->in_request == TW_SRV_ST_HEAD_PENDING ||
				       tw_starts_request(s->data, cap) ||
				       /* Go's server reads one byte ahead on an idle
					* keep-alive connection: the next request's
					* first byte can come alone */
				       tw_http_request_prefix(s->data, cap);
			if (cap > TW_CAPTURE_MAX)
				cap = TW_CAPTURE_MAX;
		} else {
			cap = tw_copy_payload(s, a, ret < TW_CAPTURE_MAX ? ret : TW_CAPTURE_MAX);
		}
	}
	tw_fill_hdr(&s->hdr, TW_EV_DATA, sk);
	/* a server request's head: tw_io_record scans it and decides the ids */
	if (!server_start && a->dir == TW_DIR_EGRESS && st->role == TW_ROLE_SERVER)
		tw_server_response(sk, st);
	else if (!server_start && a->dir == TW_DIR_EGRESS && st->role == TW_ROLE_CLIENT)
		tw_client_write(&s->hdr.ctx);
	/* Writes are stamped when they start, reads when the bytes arrived. */
	s->hdr.ts_ns = a->dir == TW_DIR_EGRESS ? a->ts_enter : bpf_ktime_get_ns();
	s->hdr.len = ret;
	s->hdr.cap = cap;
	s->hdr.dir = a->dir;
	s->hdr.role = st->role;
	s->hdr.syscall = a->syscall;
	s->hdr.stream_off = stream_off;
	s->hdr.hdr_flags = off_known ? TW_HDR_STREAM_OFF : 0;
	if (tls)
		tw_count(TW_CNT_TLS_RECORDS);
	return TW_IOR_SUBMIT | (cap & TW_IOR_CAP_MASK) |
	       (server_start ? TW_IOR_SERVER_HEAD | (scanned & TW_IOR_SCAN_MASK) << TW_IOR_SCAN_SHIFT : 0);
}

/* A finished read or write (see tw_io_done), recorded. The head scan runs
 * here, after tw_io_done returned: the deepest call chains (io_done ->
 * copy_payload, server_head -> loop callback -> scan_word) stay apart. */
static __always_inline int tw_io_record(struct tw_io_args *a, __u64 ret, int tls)
{
	struct tw_scratch *s;
	__u32 zero = 0;
	__u64 sk = a->sk;
	int r = tw_io_done(a, ret, tls);

	if (!(r & TW_IOR_SUBMIT))
		return 0;
	if (r & TW_IOR_SERVER_HEAD)
		tw_server_head(sk, (r >> TW_IOR_SCAN_SHIFT) & TW_IOR_SCAN_MASK);
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (s)
		tw_submit(s, r & TW_IOR_CAP_MASK);
	return 0;
}

static __always_inline int tw_finish_io(long ret)
{
	struct tw_io_args args;

	if (!tw_take_pending(&args))
		return 0;
	if (ret <= 0)
		return 0;
	return tw_io_record(&args, ret, 0);
}

static __always_inline void tw_emit_close(__u64 sk, __u8 syscall)
{
	struct tw_conn_state *st = bpf_map_lookup_elem(&conns, &sk);
	struct tw_scratch *s;
	__u32 zero = 0;
	__u8 role, http;

	if (!st)
		return;
	role = st->role;
	http = st->http;
	bpf_map_delete_elem(&conns, &sk);
	/* User space holds state for HTTP and switched (opaque) sockets only. */
	if (http == TW_CONN_UNDECIDED)
		return;
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return;
	tw_fill_hdr(&s->hdr, TW_EV_CLOSE, sk);
	s->hdr.ts_ns = bpf_ktime_get_ns();
	s->hdr.len = 0;
	s->hdr.cap = 0;
	s->hdr.dir = 0;
	s->hdr.role = role;
	s->hdr.syscall = syscall;
	tw_submit(s, 0);
}

static __always_inline void tw_mark_role(__u64 fd, __u8 role)
{
	struct tw_conn_state st = { .http = TW_CONN_UNDECIDED, .role = role, .sent_known = 1 };
	struct sock *sk = tw_fd_to_tcp_sock(fd);
	__u64 key;

	if (!sk)
		return;
	key = (__u64)sk;
	/* A fresh socket: any state under this address belongs to a dead one. */
	if (bpf_map_update_elem(&conns, &key, &st, BPF_ANY))
		tw_count(TW_CNT_CONN_FULL);
}

/* ---- entry programs ------------------------------------------------------ */

#define TW_ENTER(name, kind, dir, sc)                                                    \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                      \
	int tw_enter_##name(struct trace_event_raw_sys_enter *ctx)                      \
	{                                                                                \
		return tw_park_io(ctx->args[0], ctx->args[1], ctx->args[2], kind, dir, sc); \
	}

TW_ENTER(read, TW_IO_PLAIN, TW_DIR_INGRESS, TW_SC_READ)
TW_ENTER(readv, TW_IO_IOV, TW_DIR_INGRESS, TW_SC_READV)
TW_ENTER(recvfrom, TW_IO_PLAIN, TW_DIR_INGRESS, TW_SC_RECVFROM)
TW_ENTER(recvmsg, TW_IO_MSG, TW_DIR_INGRESS, TW_SC_RECVMSG)
TW_ENTER(write, TW_IO_PLAIN, TW_DIR_EGRESS, TW_SC_WRITE)
TW_ENTER(writev, TW_IO_IOV, TW_DIR_EGRESS, TW_SC_WRITEV)
TW_ENTER(sendto, TW_IO_PLAIN, TW_DIR_EGRESS, TW_SC_SENDTO)
TW_ENTER(sendmsg, TW_IO_MSG, TW_DIR_EGRESS, TW_SC_SENDMSG)

SEC("tracepoint/syscalls/sys_enter_sendfile64")
int tw_enter_sendfile64(struct trace_event_raw_sys_enter *ctx)
{
	return tw_park_io(ctx->args[0], 0, 0, TW_IO_NONE, TW_DIR_EGRESS, TW_SC_SENDFILE);
}

/*
 * One exit program for every data syscall: the entry parked what the exit
 * needs (kind, direction, buffer), and all sys_exit_* tracepoints share one
 * context layout. injector/capture.c attaches it to the other exits
 * (TW_EXIT_IO_TPS). One program is verified once: ten copies of this large
 * one took ten seconds of verifier time at every start.
 */
SEC("tracepoint/syscalls/sys_exit_read")
int tw_exit_io(struct trace_event_raw_sys_exit *ctx)
{
	return tw_finish_io(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tw_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret >= 0 && tw_selected())
		tw_mark_role(ctx->ret, TW_ROLE_SERVER);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int tw_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret >= 0 && tw_selected())
		tw_mark_role(ctx->ret, TW_ROLE_SERVER);
	return 0;
}

/* The socket is marked a client before connect() runs: on loopback the
 * handshake completes inside the syscall, and sock_ops (propagate.bpf.c)
 * decides at ACTIVE_ESTABLISHED whether a selected process owns it. */
SEC("tracepoint/syscalls/sys_enter_connect")
int tw_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	struct tw_conn_state st = { .http = TW_CONN_UNDECIDED, .role = TW_ROLE_CLIENT,
				    .sent_known = 1 };
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tw_thread_ctx *tc;
	struct tw_task_io *t;
	__u64 sk;

	tw_park_io(ctx->args[0], 0, 0, TW_IO_CONNECT, 0, 0);
	t = tw_pending(false);
	if (!t || !t->io.sk || t->io.kind != TW_IO_CONNECT)
		return 0;
	sk = t->io.sk;
	if (bpf_map_update_elem(&conns, &sk, &st, BPF_ANY))
		tw_count(TW_CNT_CONN_FULL);
	tc = bpf_map_lookup_elem(&thread_ctx, &tid);
	if (tc)
		bpf_map_update_elem(&connect_ctx, &sk, tc, BPF_ANY);
	else
		bpf_map_delete_elem(&connect_ctx, &sk);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int tw_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	struct tw_io_args args;
	__u64 sk;

	if (!tw_take_pending(&args))
		return 0;
	sk = args.sk;
	if (ctx->ret != 0 && ctx->ret != -EINPROGRESS && ctx->ret != -EALREADY &&
	    ctx->ret != -EISCONN)
		bpf_map_delete_elem(&conns, &sk);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int tw_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct file *file;
	struct sock *sk;

	if (!tw_selected())
		return 0;
	file = tw_fd_to_file(ctx->args[0]);
	/* A dup'ed or inherited fd (fork, spawn) closing leaves the socket open. */
	if (!file || !tw_file_sole_ref(file))
		return 0;
	sk = tw_file_to_tcp_sock(file);
	if (sk)
		tw_emit_close((__u64)sk, TW_SC_CLOSE);
	return 0;
}

/* Sockets that end without close(2): process exit, or a close() we did not
 * see. Runs for every TCP state change, so it does nothing but one lookup. */
SEC("tracepoint/sock/inet_sock_set_state")
int tw_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->newstate != TCP_CLOSE_STATE || ctx->protocol != IPPROTO_TCP)
		return 0;
	tw_emit_close((__u64)ctx->skaddr, TW_SC_TCP_STATE);
	return 0;
}

/* ---- OpenSSL (libssl) uprobes ---------------------------------------------
 *
 * Attached by injector/tls.c to the system's libssl for every process; the
 * selection check comes first, as in the syscall programs. Entry probes park
 * the call (struct tw_tls_call) in the thread's task storage; the return
 * probe (one program for every function) knows how many plaintext bytes
 * moved and feeds them through tw_io_done as a syscall's would be. The
 * syscalls made inside a call name the SSL's socket when SSL_set_fd did not
 * (tw_tls_nested).
 *
 * Client requests: the TCP/IPv4 option must carry the CLIENT span's ids on
 * the segment that holds the request's first ciphertext byte, so the ids
 * are chosen before SSL_write encrypts (tw_tls_client_request), with the
 * socket's write_seq as that byte's sequence number.
 */

/*
 * A client request starts in the plaintext SSL_write is about to send on
 * sk: choose its CLIENT span's ids (as sk_msg does for plaintext), put them
 * in wire_out for sock_ops/tc with the sequence number its ciphertext will
 * start at, and tell user space (TW_EV_CTX at the request's plaintext stream
 * offset). Only for sockets propagation selected (sock_ops marked them
 * prop: in scope). Global: verified once.
 */
__noinline int tw_tls_client_request(__u64 sk, __u64 ssl, __u64 buf, __u64 len)
{
	struct tw_wire_out wo = {};
	struct tw_conn_state *st;
	struct tw_tls_sock *ts;
	struct tw_tls_key key;
	struct tw_scratch *s;
	struct tw_tuple t;
	__u32 zero = 0, n;
	__u64 off;

	if (!wire_on || !sk || !buf)
		return 0;
	st = bpf_map_lookup_elem(&conns, &sk);
	if (!st || st->role != TW_ROLE_CLIENT || !st->prop || st->http == TW_CONN_OPAQUE)
		return 0;
	off = st->sent;
	tw_tls_key_of(&key, ssl);
	ts = bpf_map_lookup_elem(&ssl_socks, &key);
	if (ts && ts->ctx_set && ts->ctx_off == off)
		return 0; /* the same request again: a write retried after a short one */
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	n = len < TW_HTTP_PEEK ? len : TW_HTTP_PEEK;
	barrier_var(n);
	if (n > TW_HTTP_PEEK || bpf_probe_read_user(s->data, n, (void *)buf))
		return 0;
	if (!tw_starts_request(s->data, n))
		return 0;
	tw_fill_hdr(&s->hdr, TW_EV_CTX, sk);
	tw_choose_ctx(sk, &s->hdr.ctx, off);
	s->hdr.ctx.kind = TW_CTX_INJECTED;

	wo.seq = tw_tcp_write_seq(sk);
	wo.flags = s->hdr.ctx.flags;
	__builtin_memcpy(wo.trace_id, s->hdr.ctx.trace_id, 16);
	__builtin_memcpy(wo.span_id, s->hdr.ctx.span_id, 8);
	t = s->hdr.tuple;
	tw_tuple_normalize(&t);
	if (bpf_map_update_elem(&wire_out, &t, &wo, BPF_ANY))
		return 0; /* nothing goes on the wire: the span keeps the thread rule */

	s->hdr.ts_ns = bpf_ktime_get_ns();
	s->hdr.len = off;
	s->hdr.cap = 0;
	s->hdr.dir = TW_DIR_EGRESS;
	s->hdr.role = TW_ROLE_CLIENT;
	s->hdr.syscall = TW_SC_SSL_WRITE;
	tw_submit(s, 0);
	tw_count(TW_CNT_TLS_CTX);
	if (ts) {
		ts->ctx_off = off;
		ts->ctx_set = 1;
	}
	return 0;
}

/* A syscall on TCP socket sk inside the SSL call parked in t: the SSL's
 * socket. Global: the enter programs call it only inside SSL calls. */
__noinline int tw_tls_nested(struct tw_task_io *t, __u64 sk)
{
	struct tw_tls_sock fresh = {};
	struct tw_tls_key key;

	if (!t || !t->tls.ssl || !sk)
		return 0;
	tw_conn_mark_tls(sk);
	if (t->tls.sk == sk)
		return 0;
	tw_tls_key_of(&key, t->tls.ssl);
	fresh.sk = sk;
	bpf_map_update_elem(&ssl_socks, &key, &fresh, BPF_ANY);
	t->tls.sk = sk;
	/* still before the first ciphertext byte of this SSL_write */
	if (t->tls.op == TW_TLS_OP_WRITE)
		tw_tls_client_request(sk, t->tls.ssl, t->tls.buf, t->tls.len);
	return 0;
}

static __always_inline int tw_tls_enter(struct pt_regs *ctx, __u64 ssl, __u64 buf, __u64 len,
					__u64 out_len, __u8 op)
{
	struct tw_tls_sock *ts;
	struct tw_task_io *t;
	struct tw_tls_key key;
	__u64 sp = PT_REGS_SP(ctx);

	if (!ssl || !tw_selected())
		return 0;
	t = tw_pending(true);
	if (!t)
		return 0;
	/* A handshake run from inside a read or write (deeper stack) is part
	 * of it: the outer call keeps its slot. */
	if (op == TW_TLS_OP_HANDSHAKE && t->tls.ssl && t->tls.op != TW_TLS_OP_HANDSHAKE &&
	    sp < t->tls.sp)
		return 0;
	tw_tls_key_of(&key, ssl);
	ts = bpf_map_lookup_elem(&ssl_socks, &key);
	t->tls.ssl = ssl;
	t->tls.sk = ts ? ts->sk : 0;
	t->tls.buf = buf;
	t->tls.len = len;
	t->tls.out_len = out_len;
	t->tls.ts_enter = bpf_ktime_get_ns();
	t->tls.sp = sp;
	t->tls.op = op;
	if (op == TW_TLS_OP_WRITE && t->tls.sk)
		tw_tls_client_request(t->tls.sk, ssl, buf, len);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tw_ssl_set_fd, void *ssl, int fd)
{
	struct tw_tls_sock v = {};
	struct tw_tls_key key;
	struct sock *sk;

	if (!ssl || fd < 0 || !tw_selected())
		return 0;
	sk = tw_fd_to_tcp_sock(fd);
	if (!sk)
		return 0;
	tw_tls_key_of(&key, (__u64)ssl);
	v.sk = (__u64)sk;
	bpf_map_update_elem(&ssl_socks, &key, &v, BPF_ANY);
	tw_conn_mark_tls((__u64)sk);
	return 0;
}

/* Before any ciphertext of the handshake is sent: the socket is known as TLS
 * from its first byte (curl ties socket and SSL with its own BIO). */
SEC("uprobe")
int BPF_KPROBE(tw_ssl_do_handshake, void *ssl)
{
	return tw_tls_enter(ctx, (__u64)ssl, 0, 0, 0, TW_TLS_OP_HANDSHAKE);
}

SEC("uprobe")
int BPF_KPROBE(tw_ssl_read, void *ssl, void *buf, int num)
{
	return tw_tls_enter(ctx, (__u64)ssl, (__u64)buf, num > 0 ? num : 0, 0, TW_TLS_OP_READ);
}

SEC("uprobe")
int BPF_KPROBE(tw_ssl_read_ex, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return tw_tls_enter(ctx, (__u64)ssl, (__u64)buf, num, (__u64)readbytes, TW_TLS_OP_READ);
}

SEC("uprobe")
int BPF_KPROBE(tw_ssl_write, void *ssl, const void *buf, int num)
{
	return tw_tls_enter(ctx, (__u64)ssl, (__u64)buf, num > 0 ? num : 0, 0, TW_TLS_OP_WRITE);
}

SEC("uprobe")
int BPF_KPROBE(tw_ssl_write_ex, void *ssl, const void *buf, size_t num, size_t *written)
{
	return tw_tls_enter(ctx, (__u64)ssl, (__u64)buf, num, (__u64)written, TW_TLS_OP_WRITE);
}

/* Return of any of the above: SSL_read/SSL_write return the byte count (<= 0:
 * nothing moved), the _ex forms 1 and the count in *out_len. All return an
 * int: the upper half of the register is not part of it (-1 in eax is not
 * 4294967295). */
SEC("uretprobe")
int BPF_KRETPROBE(tw_ssl_ret, long rax)
{
	struct tw_tls_call *call;
	struct tw_io_args *io;
	struct tw_task_io *t;
	int ret = (int)rax;
	__u64 n = 0;

	/* The call and the I/O it made stay in task storage: this program's
	 * own frame is small, so tw_io_done's chain fits the stack limit. */
	t = tw_pending(false);
	if (!t || !t->tls.ssl)
		return 0;
	call = &t->tls;
	/* The stack pointer is back where the call's entry saw it (+ the return
	 * address on x86): a nested call's return is not this one's. */
	if (PT_REGS_SP(ctx) - call->sp > 8)
		return 0;
	call->ssl = 0;
	if (call->op != TW_TLS_OP_READ && call->op != TW_TLS_OP_WRITE)
		return 0;
	if (call->out_len) {
		if (ret == 1 && bpf_probe_read_user(&n, sizeof(n), (void *)call->out_len))
			n = 0;
	} else if (ret > 0) {
		n = ret;
	}
	if (n > call->len)
		n = call->len;
	if (!n)
		return 0;
	if (!call->sk) {
		tw_count(TW_CNT_TLS_NO_SOCK);
		return 0;
	}
	io = &t->tls_io;
	io->sk = call->sk;
	io->ubuf = call->buf;
	io->count = n;
	io->ts_enter = call->ts_enter;
	io->kind = TW_IO_PLAIN;
	io->dir = call->op == TW_TLS_OP_READ ? TW_DIR_INGRESS : TW_DIR_EGRESS;
	io->syscall = call->op == TW_TLS_OP_READ ? TW_SC_SSL_READ : TW_SC_SSL_WRITE;
	return tw_io_record(io, n, 1);
}
