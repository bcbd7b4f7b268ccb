/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel-version and toolchain workarounds, all in one place.
 * Everything else in bpf/ includes this instead of vmlinux.h directly.
 */
#ifndef TW_BPF_COMPAT_H
#define TW_BPF_COMPAT_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef S_IFMT
#define S_IFMT 00170000
#endif
#ifndef S_IFSOCK
#define S_IFSOCK 0140000
#endif
#ifndef SOCK_STREAM
#define SOCK_STREAM 1
#endif
#ifndef TCP_CLOSE_STATE
#define TCP_CLOSE_STATE 7 /* TCP_CLOSE in include/net/tcp_states.h */
#endif
#ifndef EINPROGRESS
#define EINPROGRESS 115
#endif
#ifndef EALREADY
#define EALREADY 114
#endif
#ifndef EISCONN
#define EISCONN 106
#endif

/*
 * sk_protocol became a plain u16 in 5.6; before that it was a bitfield.
 * BPF_CORE_READ_BITFIELD_PROBED covers both.
 */
static __always_inline __u16 tw_sk_protocol(const struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
}

static __always_inline __u16 tw_sk_type(const struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
}

/* Before 6.13 struct file counted references in f_count (one reference == 1);
 * since then in f_ref, a file_ref_t that counts from 0 (one reference == 0). */
struct file___f_count {
	atomic_long_t f_count;
} __attribute__((preserve_access_index));

/* Is this the file's only reference, so that closing this fd ends it? A
 * transient reference (another thread inside a syscall on it) answers no:
 * the socket's TCP_CLOSE reports the end then. */
static __always_inline bool tw_file_sole_ref(struct file *f)
{
	if (bpf_core_field_exists(f->f_ref))
		return BPF_CORE_READ(f, f_ref.refcnt.counter) == 0;
	return BPF_CORE_READ((struct file___f_count *)f, f_count.counter) == 1;
}

#endif
