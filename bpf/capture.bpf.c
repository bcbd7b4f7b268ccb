// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * HTTP/1.x capture from syscall tracepoints.
 *
 * The data syscalls are seen at their exit only: it knows how many bytes
 * really moved (partial writes, short reads; nothing for EAGAIN), takes the
 * arguments from the task's registers, checks the selection, resolves fd ->
 * TCP socket and sends a record with a prefix of the bytes.
 * A socket is tracked once its bytes start like an HTTP/1.x message; only
 * tracked sockets produce records. Framing is done in user space.
 *
 * Thin entry programs: the logic is in lib/io.h, lib/server_head.h and
 * lib/record.h. TLS (OpenSSL) plaintext comes through the same path from
 * tls.bpf.c's uprobes; the syscalls of such a socket carry ciphertext and
 * produce nothing.
 */
#include "lib/io.h"
#include "lib/record.h"
#include "lib/tls_calls.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ---- data syscalls ------------------------------------------------------ */

/*
 * Only inside SSL_write, and only with the TCP or IPv4 option on
 * (injector/capture.c loads them then): see tw_tls_write_enter.
 */
#define TW_ENTER_TLS_WRITE(name)                                                          \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                      \
	int tw_tls_wenter_##name(struct trace_event_raw_sys_enter *ctx)                 \
	{                                                                                \
		return tw_tls_write_enter(ctx->args[0]);                                 \
	}

TW_ENTER_TLS_WRITE(write)
TW_ENTER_TLS_WRITE(writev)
TW_ENTER_TLS_WRITE(sendto)
TW_ENTER_TLS_WRITE(sendmsg)

/*
 * One exit program for every data syscall: the syscall number says which,
 * the task's registers hold its arguments (tw_exit_args), and all
 * sys_exit_* tracepoints share one context layout. injector/capture.c attaches it to the other exits
 * (TW_EXIT_IO_TPS). One program is verified once: ten copies of this large
 * one took ten seconds of verifier time at every start.
 */
SEC("tracepoint/syscalls/sys_exit_read")
int tw_exit_io(struct trace_event_raw_sys_exit *ctx)
{
	return tw_finish_io(ctx->id, ctx->ret);
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
 * handshake completes inside the syscall, and sock_ops (sockops.bpf.c)
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

	tw_park_connect(ctx->args[0]);
	t = tw_pending(false);
	if (!t || !t->io.sk || t->io.kind != TW_IO_CONNECT)
		return 0;
	sk = t->io.sk;
	if (bpf_map_update_elem(&conns, &sk, &st, BPF_ANY))
		tw_count(TW_CNT_CONN_FULL);
	tc = tw_thread_ctx_get(tid);
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
