/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * OpenSSL calls: what the SSL_* uprobes (tls.bpf.c) do at entry, and what
 * a syscall made inside an SSL call tells (tw_tls_nested, called by the
 * syscall enter programs).
 */
#ifndef TW_BPF_TLS_CALLS_H
#define TW_BPF_TLS_CALLS_H

#include "io.h"
#include "record.h"

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
	tw_fill_hdr(&s->hdr, TW_EV_CTX, sk, true);
	tw_choose_ctx(sk, &s->hdr.ctx, off, NULL);
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


#endif
