/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* From a file descriptor of the current task to its TCP socket (CO-RE). */
#ifndef TW_BPF_SOCK_H
#define TW_BPF_SOCK_H

#include "compat.h"
#include "tracewire_event.h"

/*
 * The open file behind fd in the current task, or NULL. The task's pointers
 * are walked as BTF pointers (bpf_get_current_task_btf): plain loads the
 * verifier guards, where bpf_probe_read_kernel is a helper call and a
 * fault-tolerant copy each (four of them, about 130 ns per syscall here).
 * The array slot itself is read with the helper: the verifier does not
 * walk a pointer to pointers.
 */
static __always_inline struct file *tw_fd_to_file(__u64 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct files_struct *files = task->files;
	struct fdtable *fdt;
	struct file **fds;
	struct file *file = NULL;

	if (!files)
		return NULL;
	fdt = files->fdt;
	if (!fdt || fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]))
		return NULL;
	return file;
}

/* The struct sock of file if it is an IPv4/IPv6 TCP socket, else NULL;
 * *sockp: the file's struct socket then. */
static __always_inline struct sock *tw_file_to_tcp_sock_via(struct file *file,
							    struct socket **sockp)
{
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!file)
		return NULL;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return NULL;
	*sockp = sock;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	if (tw_sk_type(sk) != SOCK_STREAM || tw_sk_protocol(sk) != IPPROTO_TCP)
		return NULL;
	return sk;
}

static __always_inline struct sock *tw_file_to_tcp_sock(struct file *file)
{
	struct socket *sock;

	return tw_file_to_tcp_sock_via(file, &sock);
}

static __always_inline struct sock *tw_fd_to_tcp_sock(__u64 fd)
{
	return tw_file_to_tcp_sock(tw_fd_to_file(fd));
}

static __always_inline void tw_fill_tuple(struct tw_tuple *t, struct sock *sk)
{
	t->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	t->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->peer_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (t->family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)t->local_addr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)t->peer_addr, sk, __sk_common.skc_daddr);
	} else {
		/* BPF_CORE_READ_INTO copies sizeof(*dst): one byte for a u8
		 * array, so the 16-byte addresses are read by explicit size. */
		bpf_core_read(t->local_addr, sizeof(t->local_addr),
			      &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(t->peer_addr, sizeof(t->peer_addr),
			      &sk->__sk_common.skc_v6_daddr);
	}
}

#endif
