// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP/1.x capture from syscall tracepoints.
 *
 * Enter programs check the selection first, resolve fd -> TCP socket and park
 * the arguments per thread; exit programs know how many bytes really moved
 * (partial writes, short reads) and send a record with a prefix of them.
 * A socket is tracked once its bytes start like an HTTP/1.x message; only
 * tracked sockets produce records. Framing is done in user space.
 */
#include "lib/compat.h"
#include "lib/select.h"
#include "lib/sock.h"
#include "lib/http.h"
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

struct {
	/* LRU: a thread that dies inside a syscall must not leak its slot. */
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct tw_io_args);
} pending_io SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock address */
	__type(value, struct tw_conn_state);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

/* Twice the capture size so a masked offset plus a clamped length can never
 * leave the buffer, which is what the verifier needs to see. */
struct tw_scratch {
	struct tw_event_hdr hdr;
	__u8 data[2 * TW_CAPTURE_MAX];
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

static __always_inline int tw_park_io(__u64 fd, __u64 ubuf, __u64 count, __u8 kind,
				      __u8 dir, __u8 syscall)
{
	struct tw_io_args args = {};
	__u32 tid;
	struct sock *sk;

	if (!tw_selected())
		return 0;
	sk = tw_fd_to_tcp_sock(fd);
	if (!sk)
		return 0;
	args.sk = (__u64)sk;
	args.ubuf = ubuf;
	args.count = count;
	args.ts_enter = bpf_ktime_get_ns();
	args.kind = kind;
	args.dir = dir;
	args.syscall = syscall;
	tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&pending_io, &tid, &args, BPF_ANY);
	return 0;
}

/* ---- payload copy -------------------------------------------------------- */

/* Copies up to TW_CAPTURE_MAX of the first `total` bytes behind an iovec array. */
static __always_inline __u32 tw_copy_iov(__u8 *dst, const struct iovec *iov, __u64 iovcnt,
					 __u64 total)
{
	__u32 off = 0;

	for (int i = 0; i < TW_IOV_MAX; i++) {
		struct iovec v;
		__u64 n;
		__u32 at;

		if ((__u64)i >= iovcnt || off >= TW_CAPTURE_MAX || total == 0)
			break;
		if (bpf_probe_read_user(&v, sizeof(v), &iov[i]))
			break;
		n = v.iov_len;
		if (n > total)
			n = total;
		if (n > TW_CAPTURE_MAX - off)
			n = TW_CAPTURE_MAX - off;
		/* Hide what the compiler knows so it keeps the check the verifier needs. */
		at = off;
		barrier_var(n);
		barrier_var(at);
		if (n > TW_CAPTURE_MAX)
			break;
		at &= TW_CAPTURE_MAX - 1;
		if (bpf_probe_read_user(dst + at, n, v.iov_base)) {
			tw_count(TW_CNT_READ_FAULT);
			break;
		}
		off += n;
		total -= n;
	}
	return off;
}

static __always_inline __u32 tw_copy_payload(__u8 *dst, const struct tw_io_args *a, __u64 total)
{
	__u64 n = total;

	switch (a->kind) {
	case TW_IO_PLAIN:
		if (n > TW_CAPTURE_MAX)
			n = TW_CAPTURE_MAX;
		barrier_var(n);
		if (n > TW_CAPTURE_MAX)
			return 0;
		if (bpf_probe_read_user(dst, n, (void *)a->ubuf)) {
			tw_count(TW_CNT_READ_FAULT);
			return 0;
		}
		return n;
	case TW_IO_IOV:
		return tw_copy_iov(dst, (const struct iovec *)a->ubuf, a->count, total);
	case TW_IO_MSG: {
		struct user_msghdr msg;

		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)a->ubuf))
			return 0;
		return tw_copy_iov(dst, msg.msg_iov, msg.msg_iovlen, total);
	}
	}
	return 0;
}

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
	if (bpf_map_update_elem(&conns, &sk, &fresh, BPF_ANY)) {
		tw_count(TW_CNT_CONN_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&conns, &sk);
}

/* ---- records ------------------------------------------------------------- */

static __always_inline void tw_fill_hdr(struct tw_event_hdr *h, __u8 type, __u64 sk)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

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

static __always_inline int tw_finish_io(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tw_io_args *a = bpf_map_lookup_elem(&pending_io, &tid);
	struct tw_conn_state *st;
	struct tw_scratch *s;
	struct tw_io_args args;
	__u32 zero = 0, cap;

	if (!a)
		return 0;
	args = *a;
	bpf_map_delete_elem(&pending_io, &tid);
	if (ret <= 0)
		return 0;
	if (args.kind == TW_IO_CONNECT)
		return 0;
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;

	if (args.kind == TW_IO_NONE) {
		/* sendfile: bytes we cannot see, on a socket already known as HTTP */
		st = bpf_map_lookup_elem(&conns, &args.sk);
		if (!st || st->http != TW_CONN_HTTP)
			return 0;
		cap = 0;
	} else {
		/* Undecided sockets are peeked at first, so traffic that is not
		 * HTTP costs a few bytes of copy, not TW_CAPTURE_MAX. */
		st = bpf_map_lookup_elem(&conns, &args.sk);
		if (!st || st->http != TW_CONN_HTTP) {
			cap = tw_copy_payload(s->data, &args, ret < TW_HTTP_PEEK ? ret : TW_HTTP_PEEK);
			st = tw_conn_for_data(args.sk, s->data, cap, args.dir);
			if (!st)
				return 0;
		}
		cap = tw_copy_payload(s->data, &args, ret);
	}
	tw_fill_hdr(&s->hdr, TW_EV_DATA, args.sk);
	/* Writes are stamped when they start, reads when the bytes arrived. */
	s->hdr.ts_ns = args.dir == TW_DIR_EGRESS ? args.ts_enter : bpf_ktime_get_ns();
	s->hdr.len = ret;
	s->hdr.cap = cap;
	s->hdr.dir = args.dir;
	s->hdr.role = st->role;
	s->hdr.syscall = args.syscall;
	tw_submit(s, cap);
	return 0;
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
	struct tw_conn_state st = { .http = TW_CONN_UNDECIDED, .role = role };
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
	}                                                                                \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                       \
	int tw_exit_##name(struct trace_event_raw_sys_exit *ctx)                        \
	{                                                                                \
		return tw_finish_io(ctx->ret);                                           \
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

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int tw_exit_sendfile64(struct trace_event_raw_sys_exit *ctx)
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

SEC("tracepoint/syscalls/sys_enter_connect")
int tw_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	return tw_park_io(ctx->args[0], 0, 0, TW_IO_CONNECT, 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int tw_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tw_io_args *a = bpf_map_lookup_elem(&pending_io, &tid);
	struct tw_conn_state st = { .http = TW_CONN_UNDECIDED, .role = TW_ROLE_CLIENT };
	__u64 sk;

	if (!a)
		return 0;
	sk = a->sk;
	bpf_map_delete_elem(&pending_io, &tid);
	if (ctx->ret == 0 || ctx->ret == -EINPROGRESS)
		if (bpf_map_update_elem(&conns, &sk, &st, BPF_ANY))
			tw_count(TW_CNT_CONN_FULL);
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
