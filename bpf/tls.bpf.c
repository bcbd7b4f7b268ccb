// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TLS capture: OpenSSL (libssl) uprobes, attached by injector/tls.c to the
 * libssl files selected processes map; the selection check comes first, as
 * in the syscall programs. Entry probes park the call (struct tw_tls_call)
 * in the thread's task storage; the return probe (one program for every
 * function) knows how many plaintext bytes moved and feeds them through
 * the capture path (lib/record.h) as a syscall's would be. The syscalls
 * made inside a call name the SSL's socket when SSL_set_fd did not
 * (tw_tls_nested, in the capture object's enter programs).
 *
 * An object of its own, sharing capture's maps (user space hands their fds
 * over before load): when it cannot load, only TLS capture is off.
 *
 * Client requests: the TCP/IPv4 option must carry the CLIENT span's ids on
 * the segment that holds the request's first ciphertext byte, so the ids
 * are chosen before SSL_write encrypts (tw_tls_client_request), with the
 * socket's write_seq as that byte's sequence number.
 */
#include "lib/io.h"
#include "lib/record.h"
#include "lib/tls_calls.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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
