// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Go probes (docs/go.md): which server request a goroutine works for, so
 * that a Go client request is parented by the request whose handler (or a
 * goroutine it spawned) made it, not by whatever its thread last read.
 *
 * Uprobes only read (DESIGN decision 6): the traceparent bytes are still
 * written by sk_msg (headers.bpf.c), which takes the writing thread's
 * thread_ctx entry. The transport's write loop writes a client request on
 * whatever thread it runs on; while its write(2) runs, that thread's entry
 * holds the ids found for the request, marked `go` so that sk_msg prefers
 * it and names the source "goroutine".
 *
 *   read(2) exit (tracepoint)       thread_ctx[tid] (the SERVER span capture
 *                                   decided for a head) -> go_sock_ctx[sk]
 *   ServeHTTP (conn goroutine)      go_sock_ctx[its socket] -> go_ctx[goid]
 *   `go` (newproc.func1's calls)    go_ctx[parent] copied to go_ctx[new]
 *   persistConn.roundTrip (caller)  go_ctx[goid] -> go_pc[*persistConn]
 *   persistConnWriter.Write         go_pc[*persistConn] -> thread_ctx[tid] (go)
 *     (write loop, then write(2))
 *   write(2) exit (tracepoint)      the `go` entry leaves the thread
 *
 * Go HTTPS: crypto/tls (*Conn).Read and Write see the plaintext (Go does not
 * use OpenSSL). Their bytes go through capture's record path (lib/record.h)
 * as the OpenSSL probes' do (tls.bpf.c), named TW_SC_SSL_READ/WRITE, on the
 * TCP socket found from the *tls.Conn; that socket is marked TLS, so its
 * ciphertext syscalls produce nothing.
 *
 * Entry probes sit on the stack check's conditional jump (the kernel
 * emulates it; it single-steps most other instructions, which cost 30 us a
 * hit here) and skip the pass that jumps to morestack, after which the
 * function starts over: one hit per call. No uretprobes: they crash Go
 * processes; RET probes serve only as fallbacks. The attach cookie carries
 * the binary's field offsets (include/tracewire_go.h); probes attach per
 * selected process.
 */
#include "lib/goprobe.h"
#include "lib/gogrpc.h"
#include "lib/goh2.h"
#include "lib/record.h"
#include "lib/sock.h"
#include "lib/tls.h"
#include "tracewire_event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space when the write(2) exit program could not attach and
 * persistConnWriter.Write's RETs are probed instead. */
__u8 write_ret_fallback = 0;

/* A SERVER span capture decided on this thread (thread_ctx) moves to its
 * socket. The entry names its socket, so moving any entry found is right,
 * whoever left it. */
static __always_inline bool tw_go_move_head(__u32 tid)
{
	struct tw_go_key sk = { .tgid = bpf_get_current_pid_tgid() >> 32 };
	struct tw_thread_ctx *tc = tw_thread_ctx_get(tid);

	if (!tc || tc->go || !tc->server_sk)
		return false;
	sk.id = tc->server_sk;
	bpf_map_update_elem(&go_sock_ctx, &sk, tc, BPF_ANY);
	tw_thread_ctx_end(tid);
	return true;
}

/* read(2) exit in a Go process, after capture's program for the same exit
 * (attached later, so run later): the ids capture just decided for a head
 * leave the thread before the goroutine can. Go's exitsyscall may hand the
 * goroutine to another thread right here when its P was taken meanwhile. */
SEC("tracepoint/syscalls/sys_exit_read")
int tw_go_read_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;

	if (ctx->ret <= 0 || !bpf_map_lookup_elem(&go_pids, &tgid))
		return 0;
	if (tw_go_move_head((__u32)pid_tgid))
		tw_gcount(TW_GC_HEAD_MOVED);
	return 0;
}

/* (*connReader).Read returns: where the read(2) exit program ran first (it
 * was not attached after capture's), the move happens here, on the same
 * thread unless Go moved the goroutine. */
SEC("uprobe")
int tw_go_connread_ret(struct pt_regs *ctx)
{
	if (tw_go_move_head((__u32)bpf_get_current_pid_tgid()))
		tw_gcount(TW_GC_HEAD_MOVED_LATE);
	return 0;
}

/* The struct sock of the connection a ServeHTTP serves: rw (RCX, the
 * ResponseWriter's data word) is a *response; response.conn.rwc a net.Conn
 * holding a *TCPConn; its *netFD; the fd. 0 when any step fails (TLS: the
 * net.Conn is a *tls.Conn, whose fd this chain does not reach). */
static __always_inline __u64 tw_go_serve_sock(struct pt_regs *ctx, __u64 cookie)
{
	__u64 p = ctx->cx, fd;

	if (TW_GO_COOKIE_RESP_CONN(cookie) == TW_GO_COOKIE_NO_SOCK || !p)
		return 0;
	if (!tw_go_read(&p, p + TW_GO_COOKIE_RESP_CONN(cookie)) || !p ||
	    !tw_go_read(&p, p + TW_GO_COOKIE_CONN_RWC(cookie)) || !p ||
	    !tw_go_read(&p, p + TW_GO_COOKIE_TCP_FD(cookie)) || !p ||
	    !tw_go_read(&fd, p + TW_GO_COOKIE_NETFD_SYSFD(cookie)))
		return 0;
	return (__u64)tw_fd_to_tcp_sock((__u32)fd);
}

/* serverHandler.ServeHTTP(sh, rw, req): the conn goroutine serves a request
 * whose head it read; its SERVER span's ids go with the goroutine. */
SEC("uprobe")
int tw_go_serve(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tw_thread_ctx *tc, *c, v;
	struct tw_go_key k, sk;

	if (!tw_go_pass(ctx, cookie) || !tw_go_self(ctx, cookie, &k))
		return 0;
	sk.tgid = k.tgid;
	sk.pad = 0;
	sk.id = tw_go_serve_sock(ctx, cookie);
	if (!sk.id)
		tw_gcount(TW_GC_SERVE_NO_SOCK);
	c = sk.id ? bpf_map_lookup_elem(&go_sock_ctx, &sk) : NULL;
	if (c) {
		v = *c;
		bpf_map_delete_elem(&go_sock_ctx, &sk);
	} else {
		/* not moved yet (no connReader probe): the thread's, if it is
		 * this socket's */
		tc = tw_thread_ctx_get(tid);
		if (!tc || tc->go || (sk.id && tc->server_sk != sk.id)) {
			/* nothing of an earlier request may parent this one's calls */
			bpf_map_delete_elem(&go_ctx, &k);
			tw_gcount(TW_GC_SERVE_NO_CTX);
			return 0;
		}
		v = *tc;
		/* Left on the thread, it would parent whatever goroutine runs
		 * there next. */
		tw_thread_ctx_end(tid);
	}
	bpf_map_update_elem(&go_ctx, &k, &v, BPF_ANY);
	tw_gcount(TW_GC_SERVE);
	return 0;
}

/* No probe on ServeHTTP's RETs: the conn goroutine's entry stays until its
 * next request's ServeHTTP replaces or removes it. Between requests it
 * starts only the next request's background reader, which makes no
 * requests; one probe less per request. */

/* The parent (callergp) of a goroutine being made, for its creation probe
 * on the same thread, when the binary has no g.parentGoid. */
static __always_inline void tw_go_save_parent(__u64 callergp, __u64 cookie)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tw_go_key k = { .tgid = bpf_get_current_pid_tgid() >> 32 };

	if (tw_go_goid(callergp, cookie, &k.id) && bpf_map_lookup_elem(&go_ctx, &k))
		bpf_map_update_elem(&go_spawn, &tid, &k.id, BPF_ANY);
	else
		bpf_map_delete_elem(&go_spawn, &tid);
}

/* A goroutine (newg) was made: it works for what its parent works for. */
static __always_inline void tw_go_inherit(__u64 newg, __u64 cookie)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 parent_off = TW_GO_COOKIE_PARENT(cookie);
	struct tw_go_key pk = { .tgid = bpf_get_current_pid_tgid() >> 32 };
	struct tw_go_key nk = pk;
	struct tw_thread_ctx *c;
	__u64 *saved;

	if (!newg)
		return;
	if (parent_off) {
		if (!tw_go_read(&pk.id, newg + parent_off))
			return;
	} else {
		saved = bpf_map_lookup_elem(&go_spawn, &tid);
		if (!saved)
			return;
		pk.id = *saved;
		bpf_map_delete_elem(&go_spawn, &tid);
	}
	c = bpf_map_lookup_elem(&go_ctx, &pk);
	if (!c || !tw_go_goid(newg, cookie, &nk.id))
		return;
	bpf_map_update_elem(&go_ctx, &nk, c, BPF_ANY);
	tw_gcount(TW_GC_SPAWN_INHERIT);
}

/* newproc.func1 (on the system stack: r14 is g0) calls newproc1(fn,
 * callergp, ...): RBX, the parent. Go < 1.21 only. */
SEC("uprobe")
int tw_go_spawn_parent(struct pt_regs *ctx)
{
	tw_go_save_parent(ctx->bx, bpf_get_attach_cookie(ctx));
	return 0;
}

/* ... then runqput(pp, newg, true): RBX, the new goroutine. */
SEC("uprobe")
int tw_go_spawn(struct pt_regs *ctx)
{
	tw_go_inherit(ctx->bx, bpf_get_attach_cookie(ctx));
	return 0;
}

/* Fallback where those calls were not found: newproc1's entry (callergp in
 * RBX) and RETs (the new g in RAX). */
SEC("uprobe")
int tw_go_newproc(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);

	if (tw_go_pass(ctx, cookie))
		tw_go_save_parent(ctx->bx, cookie);
	return 0;
}

SEC("uprobe")
int tw_go_newproc_ret(struct pt_regs *ctx)
{
	tw_go_inherit(ctx->ax, bpf_get_attach_cookie(ctx));
	return 0;
}

/* (*persistConn).roundTrip(pc, treq): on the goroutine that made the
 * request; pc (RAX) writes it next. */
SEC("uprobe")
int tw_go_roundtrip(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct tw_go_key k, pk;
	struct tw_thread_ctx *c;

	if (!tw_go_pass(ctx, cookie) || !tw_go_self(ctx, cookie, &k))
		return 0;
	pk.tgid = k.tgid;
	pk.pad = 0;
	pk.id = ctx->ax;
	c = bpf_map_lookup_elem(&go_ctx, &k);
	if (c) {
		bpf_map_update_elem(&go_pc, &pk, c, BPF_ANY);
		tw_gcount(TW_GC_CLIENT);
	} else {
		bpf_map_delete_elem(&go_pc, &pk);
		tw_gcount(TW_GC_CLIENT_NO_CTX);
	}
	return 0;
}

/* persistConnWriter.Write(w{pc}, p): the write loop sends bytes of pc's
 * requests; the write(2) follows on this thread, through sk_msg. The first
 * write after roundTrip begins the request (its head is written first). */
SEC("uprobe")
int tw_go_connwrite(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tw_go_writer w = { .tid = tid };
	struct tw_thread_ctx *c, v;
	struct tw_go_key k, pk;

	if (!tw_go_pass(ctx, cookie) || !tw_go_self(ctx, cookie, &k))
		return 0;
	pk.tgid = k.tgid;
	pk.pad = 0;
	pk.id = ctx->ax;
	c = bpf_map_lookup_elem(&go_pc, &pk);
	if (!c) {
		/* A request made for no server request is a root, and a body's
		 * later writes need nothing: whatever the thread held belongs
		 * to another goroutine. */
		tw_thread_ctx_end(tid);
		tw_gcount(TW_GC_WRITE_NO_CTX);
		return 0;
	}
	v = *c;
	bpf_map_delete_elem(&go_pc, &pk);
	v.go = 1;
	v.go_seq = bpf_get_prandom_u32();
	w.seq = v.go_seq;
	tw_thread_ctx_put(tid, &v);
	if (write_ret_fallback)
		bpf_map_update_elem(&go_writer, &k, &w, BPF_ANY);
	tw_gcount(TW_GC_WRITE);
	return 0;
}

/* write(2) exit in a Go process: the request's bytes went through sk_msg;
 * the `go` entry leaves the thread (nothing else may take it). */
SEC("tracepoint/syscalls/sys_exit_write")
int tw_go_write_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;
	struct tw_thread_ctx *tc;

	if (ctx->ret <= 0 || !bpf_map_lookup_elem(&go_pids, &tgid))
		return 0;
	tc = tw_thread_ctx_get(tid);
	if (tc && tc->go)
		tw_thread_ctx_end(tid);
	return 0;
}

/* Fallback without the write(2) exit program: persistConnWriter.Write's
 * RETs take the entry back. */
SEC("uprobe")
int tw_go_connwrite_ret(struct pt_regs *ctx)
{
	struct tw_thread_ctx *tc;
	struct tw_go_writer *w;
	struct tw_go_key k;
	__u32 tid;

	if (!tw_go_self(ctx, bpf_get_attach_cookie(ctx), &k))
		return 0;
	w = bpf_map_lookup_elem(&go_writer, &k);
	if (!w)
		return 0;
	tid = w->tid;
	tc = tw_thread_ctx_get(tid);
	/* only the entry this write set: another may have replaced it */
	if (tc && tc->go && tc->go_seq == w->seq)
		tw_thread_ctx_end(tid);
	bpf_map_delete_elem(&go_writer, &k);
	return 0;
}

/* ---- crypto/tls: Go HTTPS plaintext ------------------------------------- */

/* A (*tls.Conn).Read in progress, from its entry to its RET, keyed by its
 * goroutine (the g address in r14: the goroutine may block in the read and
 * resume on another thread). One per goroutine blocked in a TLS read, so
 * one per idle keep-alive connection of a Go HTTPS server: LRU, sized for
 * that. */
struct tw_go_tls_read {
	__u64 sk;       /* struct sock address */
	__u64 buf;
	__u64 len;
	__u64 ts_enter;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tw_go_key);
	__type(value, struct tw_go_tls_read);
} go_tls_reads SEC(".maps");

/* The record's arguments: off the stack, so that tw_io_done's call chain
 * fits the stack limit (as tls.bpf.c keeps them in task storage). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_io_args);
} go_tls_io SEC(".maps");

/* The TCP socket under a *tls.Conn: its conn (a net.Conn) holds a
 * *TCPConn, whose *netFD has the fd. The netFD's family and type must say
 * TCP before its fd is believed: a net.Conn holding something else (a
 * wrapper type) would otherwise name an unrelated fd. 0 when any step
 * fails. */
static __always_inline __u64 tw_go_tls_sock(__u64 conn, __u64 cookie)
{
	__u64 p = conn, family = 0, sotype = 0, fd = 0;

	if (!p || !tw_go_read(&p, p + TW_GO_TLS_CONN(cookie)) || !p ||
	    !tw_go_read(&p, p + TW_GO_TLS_TCP_FD(cookie)) || !p ||
	    !tw_go_read(&family, p + TW_GO_TLS_FAMILY(cookie)) ||
	    !tw_go_read(&sotype, p + TW_GO_TLS_SOTYPE(cookie)))
		return 0;
	if ((family != AF_INET && family != AF_INET6) || sotype != SOCK_STREAM)
		return 0;
	if (!tw_go_read(&fd, p + TW_GO_TLS_SYSFD(cookie)) || fd > 0x7fffffff)
		return 0;
	return (__u64)tw_fd_to_tcp_sock(fd);
}

static __always_inline struct tw_io_args *tw_go_tls_args(__u64 sk, __u64 buf, __u64 len,
							  __u64 ts_enter, __u8 dir)
{
	__u32 zero = 0;
	struct tw_io_args *io = bpf_map_lookup_elem(&go_tls_io, &zero);

	if (!io)
		return NULL;
	io->sk = sk;
	io->ubuf = buf;
	io->count = len;
	io->ts_enter = ts_enter;
	io->kind = TW_IO_PLAIN;
	io->dir = dir;
	io->syscall = dir == TW_DIR_INGRESS ? TW_SC_SSL_READ : TW_SC_SSL_WRITE;
	return io;
}

/* (*tls.Conn).Read(c, b): c in RAX, b's pointer and length in RBX, RCX.
 * The plaintext is there at its RETs. */
SEC("uprobe")
int tw_go_tls_read(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct tw_go_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .id = ctx->r14 };
	struct tw_go_tls_read r = {};

	if (!tw_go_pass(ctx, cookie) || !k.id)
		return 0;
	r.sk = tw_go_tls_sock(ctx->ax, cookie);
	if (!r.sk || (long)ctx->cx <= 0) {
		if (!r.sk)
			tw_gcount(TW_GC_TLS_NO_SOCK);
		bpf_map_delete_elem(&go_tls_reads, &k);
		return 0;
	}
	r.buf = ctx->bx;
	r.len = ctx->cx;
	r.ts_enter = bpf_ktime_get_ns();
	tw_conn_mark_tls(r.sk);
	bpf_map_update_elem(&go_tls_reads, &k, &r, BPF_ANY);
	return 0;
}

/* Each RET of (*tls.Conn).Read: n in RAX (the error in RBX, RCX: bytes
 * read before an error still count). The record's arguments, or NULL. */
static __always_inline struct tw_io_args *tw_go_tls_read_done(struct pt_regs *ctx)
{
	struct tw_go_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .id = ctx->r14 };
	struct tw_go_tls_read *r = bpf_map_lookup_elem(&go_tls_reads, &k);
	struct tw_io_args *io;
	long n = (long)ctx->ax;

	if (!r)
		return NULL;
	if (n > 0 && (__u64)n > r->len)
		n = (long)r->len;
	io = n > 0 ? tw_go_tls_args(r->sk, r->buf, (__u64)n, r->ts_enter, TW_DIR_INGRESS) : NULL;
	bpf_map_delete_elem(&go_tls_reads, &k);
	if (io)
		tw_gcount(TW_GC_TLS_READ);
	return io;
}

/* (*tls.Conn).Write(c, b): recorded at its entry, as all of b. At its RETs
 * the write(2) is done and, on a client, the response may be in already
 * (read by the transport's read-loop goroutine, recorded at that read's
 * RET) while the writing goroutine waits for a thread: the request would
 * follow its response. Its entry also sees the goroutine context that
 * persistConnWriter.Write put on the thread (taken off at the write(2)'s
 * exit). A Write that fails part way (the connection broke) is recorded
 * whole. */
static __always_inline struct tw_io_args *tw_go_tls_write(struct pt_regs *ctx, __u64 cookie)
{
	__u64 sk, len = ctx->cx;
	struct tw_io_args *io;

	if (!tw_go_pass(ctx, cookie) || (long)len <= 0)
		return NULL;
	sk = tw_go_tls_sock(ctx->ax, cookie);
	if (!sk) {
		tw_gcount(TW_GC_TLS_NO_SOCK);
		return NULL;
	}
	tw_conn_mark_tls(sk);
	io = tw_go_tls_args(sk, ctx->bx, len, bpf_ktime_get_ns(), TW_DIR_EGRESS);
	if (io)
		tw_gcount(TW_GC_TLS_WRITE);
	return io;
}

/* Read's RETs and Write's entry: one program, so that the record path is
 * verified once (it is most of the object's verification time at start). */
SEC("uprobe")
int tw_go_tls_data(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct tw_io_args *io;

	if (cookie & TW_GO_COOKIE_TLS_WRITE)
		io = tw_go_tls_write(ctx, cookie);
	else
		io = tw_go_tls_read_done(ctx);
	if (!io)
		return 0;
	return tw_io_record(io, io->count, 1);
}

/* ---- grpc-go: server streams and the client streams opened for them ------ */

/* (*http2Server).operateHeaders(t, frame, ...): the connection's reader
 * goroutine with a new stream's decoded header block. The stream's SERVER
 * span gets its ids here (as server_head.h chooses them for an HTTP/1
 * head); they go to this goroutine's go_ctx, which the handler goroutine it
 * starts inherits, and to user space as a TW_EV_CTX record naming the socket
 * and the stream (TW_CTX_SERVER_H2). */
SEC("uprobe")
int tw_go_grpc_server(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), p = 0, fields = 0, nfields = 0, sk;
	struct tw_go_grpc_scratch *s;
	struct tw_event_hdr *h;
	struct tw_go_key k;
	__u32 zero = 0, sid = 0;
	bool valid;

	if (!tw_go_pass(ctx, cookie) || !tw_go_self(ctx, cookie, &k))
		return 0;
	s = bpf_map_lookup_elem(&go_grpc_scratch, &zero);
	if (!s)
		return 0;
	/* its socket: t.conn's *TCPConn, its *netFD */
	if (!ctx->ax || !tw_go_read(&p, ctx->ax + TW_GO_GS_CONN(cookie)) || !p ||
	    !tw_go_read(&p, p + TW_GO_GS_TCP_FD(cookie)))
		p = 0;
	sk = tw_go_netfd_sock(p, TW_GO_GS_SYSFD(cookie), TW_GO_GS_FAMILY(cookie));
	/* the stream id: frame.HeadersFrame.FrameHeader.StreamID */
	p = 0;
	if (!sk || !ctx->bx || !tw_go_read(&p, ctx->bx + TW_GO_GS_META_HF(cookie)) || !p ||
	    bpf_probe_read_user(&sid, sizeof(sid), (void *)(p + TW_GO_GS_SID(cookie))) ||
	    !tw_go_read(&fields, ctx->bx + TW_GO_GS_FIELDS(cookie)) ||
	    !tw_go_read(&nfields, ctx->bx + TW_GO_GS_FIELDS(cookie) + 8)) {
		/* nothing of an earlier stream may parent this one's calls */
		bpf_map_delete_elem(&go_ctx, &k);
		tw_gcount(TW_GC_GRPC_NO_SOCK);
		return 0;
	}
	sid &= 0x7fffffff;
	valid = tw_go_grpc_traceparent(s, fields, nfields);
	h = bpf_ringbuf_reserve(&events, sizeof(*h), 0);
	if (!h) {
		bpf_map_delete_elem(&go_ctx, &k);
		return 0;
	}
	__builtin_memset(h, 0, sizeof(*h));
	tw_random_id(h->ctx.span_id, 8);
	if (valid) {
		__builtin_memcpy(h->ctx.trace_id, s->tp.trace_id, 16);
		__builtin_memcpy(h->ctx.parent_span_id, s->tp.parent_id, 8);
		h->ctx.flags = s->tp.flags;
		h->ctx.source = TW_PSRC_HEADER;
		tw_gcount(TW_GC_GRPC_SERVER_TP);
	} else {
		tw_random_id(h->ctx.trace_id, 16);
		h->ctx.flags = tw_root_flags();
		h->ctx.source = TW_PSRC_NONE;
	}
	h->ctx.kind = TW_CTX_SERVER_H2;
	h->ts_ns = bpf_ktime_get_ns();
	h->sock_id = sk;
	h->len = sid;
	h->pid = k.tgid;
	h->tid = (__u32)bpf_get_current_pid_tgid();
	h->type = TW_EV_CTX;
	h->dir = TW_DIR_INGRESS;
	h->role = TW_ROLE_SERVER;
	__builtin_memset(&s->tc, 0, sizeof(s->tc));
	__builtin_memcpy(s->tc.trace_id, h->ctx.trace_id, 16);
	__builtin_memcpy(s->tc.span_id, h->ctx.span_id, 8);
	s->tc.server_sk = sk;
	s->tc.flags = h->ctx.flags;
	bpf_ringbuf_submit(h, tw_rb_flags(sizeof(*h)));
	bpf_map_update_elem(&go_ctx, &k, &s->tc, BPF_ANY);
	tw_gcount(TW_GC_GRPC_SERVER);
	return 0;
}

/* (*controlBuffer).executeAndPut(c, f, it): it (RCX: itab, RDI: data) a
 * *headerFrame opening a client stream (initStream set) queued by a
 * goroutine that serves a request: the frame remembers that request. */
SEC("uprobe")
int tw_go_grpc_put(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), itab = TW_GO_GP_ITAB(cookie), init = 0;
	struct tw_go_key k, hk;
	struct tw_thread_ctx *c;

	if ((itab && ctx->cx != itab) || !ctx->di || !tw_go_pass(ctx, cookie))
		return 0;
	if (TW_GO_GP_INIT(cookie) && (!tw_go_read(&init, ctx->di + TW_GO_GP_INIT(cookie)) || !init))
		return 0;
	if (!tw_go_self(ctx, cookie, &k))
		return 0;
	hk.tgid = k.tgid;
	hk.pad = 0;
	hk.id = ctx->di;
	c = bpf_map_lookup_elem(&go_ctx, &k);
	if (!c) {
		bpf_map_delete_elem(&go_grpc_hf, &hk);
		return 0;
	}
	bpf_map_update_elem(&go_grpc_hf, &hk, c, BPF_ANY);
	tw_gcount(TW_GC_GRPC_CLIENT);
	return 0;
}

/* (*loopyWriter).headerHandler(l, h): the connection's writer goroutine
 * about to encode stream h.streamID's HEADERS frame (the id was given under
 * the control buffer's lock, before the frame was queued): (socket, stream
 * id) -> the request that opened it, for sk_msg (goh2.h). */
SEC("uprobe")
int tw_go_grpc_loopy(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), p = 0;
	struct tw_go_key hk = { .tgid = bpf_get_current_pid_tgid() >> 32, .id = ctx->bx };
	struct tw_go_h2_key sk = {};
	struct tw_thread_ctx *c, v;
	__u32 sid = 0;

	if (!hk.id || !tw_go_pass(ctx, cookie))
		return 0;
	c = bpf_map_lookup_elem(&go_grpc_hf, &hk);
	if (!c)
		return 0;
	v = *c;
	bpf_map_delete_elem(&go_grpc_hf, &hk);
	if (bpf_probe_read_user(&sid, sizeof(sid), (void *)(hk.id + TW_GO_GL_SID(cookie))) ||
	    !sid)
		return 0;
	/* l.framer.writer.conn: a *TCPConn, its *netFD */
	if (!ctx->ax || !tw_go_read(&p, ctx->ax + TW_GO_GL_FRAMER(cookie)) || !p ||
	    !tw_go_read(&p, p + TW_GO_GL_WRITER(cookie)) || !p ||
	    !tw_go_read(&p, p + TW_GO_GL_CONN(cookie)) || !p ||
	    !tw_go_read(&p, p + TW_GO_GL_TCP_FD(cookie)))
		p = 0;
	sk.sk = tw_go_netfd_sock(p, TW_GO_GL_SYSFD(cookie), TW_GO_GL_FAMILY(cookie));
	if (!sk.sk) {
		tw_gcount(TW_GC_GRPC_NO_SOCK);
		return 0;
	}
	sk.sid = sid;
	bpf_map_update_elem(&go_h2_streams, &sk, &v, BPF_ANY);
	tw_gcount(TW_GC_GRPC_STREAM);
	return 0;
}
