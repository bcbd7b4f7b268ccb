/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A thread's I/O from enter to exit: the syscall (or SSL call) parked in
 * task storage, the per-CPU scratch a record is built in, the payload copy,
 * a socket's state as its first bytes decide it, and the record's header.
 * Used by the syscall programs (capture.bpf.c) and the OpenSSL uprobes
 * (tls.bpf.c), which feed the same path.
 */
#ifndef TW_BPF_IO_H
#define TW_BPF_IO_H

#include "compat.h"
#include "select.h"
#include "sock.h"
#include "http.h"
#include "maps.h"
#include "h1scan.h"
#include "tracectx.h"
#include "clientctx.h"
#include "tls.h"
#include "tracewire_event.h"

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

/* ---- the syscall at its exit ------------------------------------------- */

struct tw_task_io;
__noinline int tw_tls_nested(struct tw_task_io *t, __u64 sk);

/* Parks a connect() for its exit program (the only syscall still seen at
 * its entry, see tw_enter_connect). */
static __always_inline int tw_park_connect(__u64 fd)
{
	struct tw_task_io *t;
	struct sock *sk;

	if (!tw_selected())
		return 0;
	sk = tw_fd_to_tcp_sock(fd);
	if (!sk)
		return 0;
	t = tw_pending(true);
	if (!t)
		return 0;
	__builtin_memset(&t->io, 0, sizeof(t->io));
	t->io.sk = (__u64)sk;
	t->io.kind = TW_IO_CONNECT;
	return 0;
}

/*
 * fd -> TCP sock (sock.h's tw_fd_to_tcp_sock) for the data syscalls' exit,
 * every read and write of a selected process, where the file -> socket ->
 * sock walk takes eight fault-tolerant reads
 * (about 14% of tw_exit_io), and a process keeps using the same sockets.
 * The sockets last found are remembered per CPU by their struct file; a
 * remembered one is taken after two reads that prove it is still the same
 * (the file's private_data is the same struct socket, whose sk is the same
 * sock). A file freed and its memory reused is caught there: a new socket
 * file has a new struct socket, another file none at that address. Were the
 * struct socket and the sock both reused at the same addresses too, the
 * sock pointer is the live one, of the same slab, so the same protocol and
 * family: the answer is still right.
 */
#define TW_SOCK_MEMO_SLOTS 64

struct tw_sock_memo {
	__u64 file;
	__u64 sock;
	__u64 sk;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TW_SOCK_MEMO_SLOTS);
	__type(key, __u32);
	__type(value, struct tw_sock_memo);
} sock_memo SEC(".maps");

/* A subprogram of its own: inlined, its locals took tw_exit_io's stack from
 * 352 to 384 bytes. */
static __noinline __attribute__((unused)) struct sock *tw_fd_to_tcp_sock_memo(__u64 fd)
{
	struct file *file = tw_fd_to_file(fd);
	struct socket *sock = NULL;
	struct tw_sock_memo *m;
	struct sock *sk;
	__u32 slot;

	if (!file)
		return NULL;
	/* struct file objects are 256-byte slab slots: bits from 8 up */
	slot = (__u32)(((__u64)file >> 8) ^ ((__u64)file >> 14)) & (TW_SOCK_MEMO_SLOTS - 1);
	m = bpf_map_lookup_elem(&sock_memo, &slot);
	if (m && m->file == (__u64)file) {
		sock = BPF_CORE_READ(file, private_data);
		if (sock && (__u64)sock == m->sock && (__u64)BPF_CORE_READ(sock, sk) == m->sk)
			return (struct sock *)m->sk;
	}
	sk = tw_file_to_tcp_sock_via(file, &sock);
	if (m) {
		/* a miss forgets the slot's socket: never a stale match later */
		m->file = sk ? (__u64)file : 0;
		m->sock = (__u64)sock;
		m->sk = (__u64)sk;
	}
	return sk;
}

#if !defined(__TARGET_ARCH_x86)
#error "tw_exit_args knows the x86_64 syscall numbers and registers only"
#endif

/* tw_exit_args' result and the registers it reads, off the stack: the exit
 * program's deepest call chain (tw_io_done -> tw_copy_payload) needs it. */
struct tw_exit_scratch {
	struct tw_io_args a;
	__u64 regs3[3]; /* dx, si, di */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_exit_scratch);
} exit_scratch SEC(".maps");

/*
 * A data syscall finished: its arguments, from the registers the task
 * entered the kernel with (still in its pt_regs at the exit tracepoint; the
 * syscalls here never change them), and its TCP socket. No entry program
 * parks them: an entry costs as much as the exit's own work for every read
 * an event loop makes, and half of those end in EAGAIN and need nothing.
 * NULL: not a data syscall, or not on a TCP socket.
 */
static __always_inline struct tw_io_args *tw_exit_args(long nr)
{
	struct tw_exit_scratch *x;
	struct tw_io_args *a;
	struct pt_regs *regs;
	struct tw_task_io *t;
	struct sock *sk;
	__u32 zero = 0;

	x = bpf_map_lookup_elem(&exit_scratch, &zero);
	if (!x)
		return NULL;
	a = &x->a;
	switch (nr) {
	case 0: /* read */
		a->kind = TW_IO_PLAIN, a->dir = TW_DIR_INGRESS, a->syscall = TW_SC_READ;
		break;
	case 1: /* write */
		a->kind = TW_IO_PLAIN, a->dir = TW_DIR_EGRESS, a->syscall = TW_SC_WRITE;
		break;
	case 19: /* readv */
		a->kind = TW_IO_IOV, a->dir = TW_DIR_INGRESS, a->syscall = TW_SC_READV;
		break;
	case 20: /* writev */
		a->kind = TW_IO_IOV, a->dir = TW_DIR_EGRESS, a->syscall = TW_SC_WRITEV;
		break;
	case 40: /* sendfile */
		a->kind = TW_IO_NONE, a->dir = TW_DIR_EGRESS, a->syscall = TW_SC_SENDFILE;
		break;
	case 44: /* sendto */
		a->kind = TW_IO_PLAIN, a->dir = TW_DIR_EGRESS, a->syscall = TW_SC_SENDTO;
		break;
	case 45: /* recvfrom */
		a->kind = TW_IO_PLAIN, a->dir = TW_DIR_INGRESS, a->syscall = TW_SC_RECVFROM;
		break;
	case 46: /* sendmsg */
		a->kind = TW_IO_MSG, a->dir = TW_DIR_EGRESS, a->syscall = TW_SC_SENDMSG;
		break;
	case 47: /* recvmsg */
		a->kind = TW_IO_MSG, a->dir = TW_DIR_INGRESS, a->syscall = TW_SC_RECVMSG;
		break;
	default:
		return NULL;
	}
	/* dx, si, di: the third, second and first argument, adjacent in
	 * x86_64's struct pt_regs, so one read takes all three */
	/* a BTF pointer: its fields are plain loads, no helper call */
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return NULL;
	x->regs3[0] = regs->dx;
	x->regs3[1] = regs->si;
	x->regs3[2] = regs->di;
	sk = tw_fd_to_tcp_sock_memo(x->regs3[2]);
	if (!sk)
		return NULL;
	a->sk = (__u64)sk;
	a->ubuf = a->kind == TW_IO_NONE ? 0 : x->regs3[1];
	a->count = a->kind == TW_IO_NONE ? 0 : x->regs3[0];
	a->ts_enter = bpf_ktime_get_ns();
	/* a syscall inside SSL_read/SSL_write: it names the SSL's socket */
	t = tw_pending(false);
	if (t && t->tls.ssl)
		tw_tls_nested(t, (__u64)sk);
	return a;
}

/* A write-family syscall about to run inside SSL_write: the SSL's socket
 * learnt before its first ciphertext byte leaves, which the TCP and IPv4
 * options need (tw_tls_client_request); attached only with those on. */
static __always_inline int tw_tls_write_enter(__u64 fd)
{
	struct tw_task_io *t;
	struct sock *sk;

	if (!tw_selected())
		return 0;
	t = tw_pending(false);
	if (!t || !t->tls.ssl || t->tls.op != TW_TLS_OP_WRITE)
		return 0;
	sk = tw_fd_to_tcp_sock(fd);
	if (sk)
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
	/* A request (or the HTTP/2 preface) written or a response read: we
	 * are the client. */
	if ((start != TW_HTTP_RESPONSE) == (dir == TW_DIR_EGRESS))
		return TW_ROLE_CLIENT;
	return TW_ROLE_SERVER;
}

/*
 * conns[sk] becomes an HTTP connection as its first bytes (start) say:
 * counts, TLS and sockhash membership kept. The blank is in a per-CPU map:
 * a stack copy (tw_conn_state holds HTTP/2's frame places) is more than the
 * deepest chains can spare. Global: verified apart from tw_io_done's paths.
 */
__noinline int tw_conn_become_http(__u64 sk, __u32 start, __u32 dir)
{
	struct tw_conn_state *st = bpf_map_lookup_elem(&conns, &sk);
	struct tw_conn_state *fresh = tw_conn_blank();

	if (!fresh)
		return -1;
	fresh->http = TW_CONN_HTTP;
	fresh->h2 = start == TW_HTTP_H2;
	fresh->role = st && st->role ? st->role : tw_infer_role(start, dir);
	if (st) {
		fresh->sent = st->sent;
		fresh->sent_known = st->sent_known;
		fresh->tls = st->tls;
		fresh->prop = st->prop;
	}
	return bpf_map_update_elem(&conns, &sk, fresh, BPF_ANY);
}

/*
 * Returns the state of a socket that should produce a record, or NULL.
 * Untracked sockets become tracked when the captured bytes start like HTTP.
 */
static __always_inline struct tw_conn_state *tw_conn_for_data(__u64 sk, const __u8 *data,
							      __u32 cap, __u8 dir)
{
	struct tw_conn_state *st = bpf_map_lookup_elem(&conns, &sk);
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
	if (tw_conn_become_http(sk, start, dir)) {
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


static __always_inline void tw_server_response(__u64 sk, struct tw_conn_state *st)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tw_thread_ctx *tc = tw_thread_ctx_get(tid);

	if (st->in_request)
		tw_line_end(sk);
	st->in_request = 0;
	if (tc && tc->server_sk == sk)
		tc->live = 0; /* tw_thread_ctx_end, with the entry in hand */
}

/* Client bytes carry the writing thread's context, so the correlator can
 * parent client spans that got no header (out of scope, propagation off). */
static __always_inline void tw_client_write(struct tw_trace_ctx *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tw_thread_ctx *tc = tw_thread_ctx_get(tid);

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

/*
 * The record's header. endpoints: the command name and the socket's
 * addresses too -- a dozen kernel reads, needed where a request can begin
 * (user space takes them at a request's first bytes, correlator/pairing.c);
 * the other direction's records carry zeros there.
 */
static __always_inline void tw_fill_hdr(struct tw_event_hdr *h, __u8 type, __u64 sk,
					bool endpoints)
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
	if (endpoints) {
		bpf_get_current_comm(h->comm, sizeof(h->comm));
		tw_fill_tuple(&h->tuple, (struct sock *)sk);
	} else {
		__builtin_memset(h->comm, 0, sizeof(h->comm));
		__builtin_memset(&h->tuple, 0, sizeof(h->tuple));
	}
}

static __always_inline void tw_submit(struct tw_scratch *s, __u32 cap)
{
	/* cap <= TW_CAPTURE_MAX already; the mask makes a bound the verifier can
	 * see (scratch holds 2 * TW_CAPTURE_MAX) without changing the value. */
	barrier_var(cap);
	cap &= 2 * TW_CAPTURE_MAX - 1;
	if (bpf_ringbuf_output(&events, s, sizeof(s->hdr) + cap, tw_rb_flags(sizeof(s->hdr) + cap)))
		tw_count(TW_CNT_RB_FULL);
	else
		tw_count(TW_CNT_EVENTS);
}

/* What tw_io_done leaves for its caller: the record's captured length, and
 * how many bytes of a server request's head are in scratch to be scanned. */

#endif
