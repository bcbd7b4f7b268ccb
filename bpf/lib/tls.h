/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * OpenSSL connections: what the SSL_* uprobes in capture.bpf.c keep. The
 * syscalls of a TLS socket carry ciphertext; the plaintext is only seen in
 * user memory at SSL_read/SSL_write, where the SSL object, not the socket, is
 * at hand. So each SSL is tied to its TCP socket: at SSL_set_fd, or (a custom
 * BIO as curl uses, an SSL made before tracewire started) by the socket the
 * read/write syscalls inside an SSL call go to.
 */
#ifndef TW_BPF_TLS_H
#define TW_BPF_TLS_H

#include "compat.h"
#include "maps.h"

enum tw_tls_op {
	TW_TLS_OP_NONE = 0,
	TW_TLS_OP_HANDSHAKE, /* SSL_do_handshake: no plaintext, only the socket to learn */
	TW_TLS_OP_READ,
	TW_TLS_OP_WRITE,
};

/* The SSL call a thread is in, from its entry probe to its return probe.
 * Lives in the thread's task storage next to the parked syscall. */
struct tw_tls_call {
	__u64 ssl;      /* SSL * (0: no call in progress) */
	__u64 sk;       /* its TCP socket (struct sock address); 0 while unknown */
	__u64 buf;      /* plaintext buffer */
	__u64 len;      /* bytes asked for */
	__u64 out_len;  /* SSL_*_ex: size_t * the bytes moved are stored at; 0: the
			 * return value is the count */
	__u64 ts_enter;
	__u64 sp;       /* user stack pointer at entry: pairs the return with it */
	__u8 op;        /* enum tw_tls_op */
	__u8 pad[7];
};

/* SSL pointers are per process: the key carries the tgid. */
struct tw_tls_key {
	__u64 ssl;
	__u32 tgid;
	__u32 pad;
};

struct tw_tls_sock {
	__u64 sk;      /* struct sock address */
	/* The stream offset whose request already got ids: a write retried
	 * after a short one (non-blocking WANT_WRITE) is the same request. */
	__u64 ctx_off;
	__u8 ctx_set;
	__u8 pad[7];
};

struct {
	/* LRU: SSL objects are freed without a probe telling us. */
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tw_tls_key);
	__type(value, struct tw_tls_sock);
} ssl_socks SEC(".maps");

static __always_inline void tw_tls_key_of(struct tw_tls_key *key, __u64 ssl)
{
	key->ssl = ssl;
	key->tgid = bpf_get_current_pid_tgid() >> 32;
	key->pad = 0;
}

/*
 * sk carries TLS: from now on its records come from the uprobes and count
 * plaintext. Bytes already counted in `sent` were ciphertext (the handshake
 * of an SSL we learnt late): plaintext offsets are not known from byte 0
 * then, and the correlator syncs them by itself. A socket not tracked yet
 * (opened before tracewire started) is tracked from here, role unknown.
 */
/* Global: its blank (tw_conn_blank, off the stack) verified apart. */
__noinline int tw_conn_new_tls(__u64 sk)
{
	struct tw_conn_state *fresh = tw_conn_blank();

	if (!fresh)
		return -1;
	fresh->tls = 1;
	return bpf_map_update_elem(&conns, &sk, fresh, BPF_NOEXIST);
}

static __always_inline void tw_conn_mark_tls(__u64 sk)
{
	struct tw_conn_state *st = bpf_map_lookup_elem(&conns, &sk);

	if (!st) {
		tw_conn_new_tls(sk);
		return;
	}
	if (st->tls)
		return;
	if (st->sent) {
		st->sent = 0;
		st->sent_known = 0;
	}
	st->tls = 1;
}

/* The sequence number the next byte written on sk will have. */
static __always_inline __u32 tw_tcp_write_seq(__u64 sk)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;

	return BPF_CORE_READ(tp, write_seq);
}

#endif
