/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A finished read or write becomes a record: tw_io_done decides and fills
 * it, tw_io_record runs the server head scan beside it and submits; closes
 * and accepted/connected sockets have their own small records.
 */
#ifndef TW_BPF_RECORD_H
#define TW_BPF_RECORD_H

#include "io.h"
#include "h2capture.h"
#include "server_head.h"

#define TW_IOR_CAP_MASK 0xfff
#define TW_IOR_SCAN_SHIFT 12
#define TW_IOR_SCAN_MASK 0xfff
#define TW_IOR_SUBMIT (1 << 24)
#define TW_IOR_SERVER_HEAD (1 << 25)
#define TW_IOR_H2 (1 << 26) /* an HTTP/2 connection: tw_h2_submit */

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
		/* HTTP/2 has no HTTP/1 heads to scan: a frame payload read
		 * on its own may begin "GET " and must not start a request */
		if (a->dir == TW_DIR_INGRESS && st->role == TW_ROLE_SERVER && !st->h2 &&
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
	/* a response's bytes (server writing, client reading) begin no request */
	tw_fill_hdr(&s->hdr, TW_EV_DATA, sk,
		    !((a->dir == TW_DIR_EGRESS && st->role == TW_ROLE_SERVER) ||
		      (a->dir == TW_DIR_INGRESS && st->role == TW_ROLE_CLIENT)));
	/* a server request's head: tw_io_record scans it and decides the ids */
	if (!server_start && a->dir == TW_DIR_EGRESS && st->role == TW_ROLE_SERVER)
		tw_server_response(sk, st);
	else if (!server_start && a->dir == TW_DIR_EGRESS && st->role == TW_ROLE_CLIENT)
		tw_client_write(&s->hdr.ctx);
	/* Writes are stamped when they start, reads when the bytes arrived:
	 * a syscall's ts_enter is taken at its exit (tw_exit_args), an SSL
	 * call's at its start. */
	s->hdr.ts_ns = a->dir == TW_DIR_EGRESS || !tls ? a->ts_enter : bpf_ktime_get_ns();
	s->hdr.len = ret;
	s->hdr.cap = cap;
	s->hdr.dir = a->dir;
	s->hdr.role = st->role;
	s->hdr.syscall = a->syscall;
	s->hdr.stream_off = stream_off;
	s->hdr.hdr_flags = (off_known ? TW_HDR_STREAM_OFF : 0) | (st->h2 ? TW_HDR_H2 : 0);
	if (tls)
		tw_count(TW_CNT_TLS_RECORDS);
	return TW_IOR_SUBMIT | (cap & TW_IOR_CAP_MASK) | (st->h2 ? TW_IOR_H2 : 0) |
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
	if (r & TW_IOR_SERVER_HEAD) {
		__u32 n = (r >> TW_IOR_SCAN_SHIFT) & TW_IOR_SCAN_MASK;

		tw_server_head(sk, n, tw_server_head_quick(sk, n));
	}
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (s && (r & TW_IOR_H2))
		tw_h2_submit(s, a, ret);
	else if (s)
		tw_submit(s, r & TW_IOR_CAP_MASK);
	return 0;
}

/* The exit of data syscall nr that moved ret bytes (tw_exit_args). */
static __always_inline int tw_finish_io(long nr, long ret)
{
	struct tw_io_args *a;

	/* first: event loops' reads end in EAGAIN as often as not */
	if (ret <= 0 || !tw_selected())
		return 0;
	a = tw_exit_args(nr);
	if (!a)
		return 0;
	return tw_io_record(a, ret, 0);
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
	if (role == TW_ROLE_SERVER)
		tw_line_close(sk);
	bpf_map_delete_elem(&conns, &sk);
	/* User space holds state for HTTP and switched (opaque) sockets only. */
	if (http == TW_CONN_UNDECIDED)
		return;
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return;
	tw_fill_hdr(&s->hdr, TW_EV_CLOSE, sk, true);
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


#endif
