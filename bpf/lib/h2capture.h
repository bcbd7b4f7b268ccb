/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Capture of HTTP/2 connections (those that began with the preface,
 * tw_conn_state.h2). HTTP/1 needs a call's first bytes; HTTP/2 needs every
 * frame header and every header block, or its HPACK table, and so every
 * later header of the connection, is lost (correlator/http2.h). gRPC
 * writes many frames in one sendmsg, one iovec per header field, and reads
 * everything that arrived at once. So a call on such a connection goes to
 * user space in records of TW_CAPTURE_MAX bytes, up to TW_H2_CHUNKS of
 * them, walking the iovecs once (TW_H2_IOV_STEPS per record); every record but the last says
 * len = its bytes, the last one carries the rest of the call's length, so
 * the records read as consecutive calls. Bytes past TW_H2_CHUNKS records
 * are only counted (user space skips them inside frames it can follow).
 */
#ifndef TW_BPF_H2CAPTURE_H
#define TW_BPF_H2CAPTURE_H

#include "io.h"

#define TW_H2_CHUNKS 8    /* 4 KiB of each call */
/* iovec steps per record: one per iovec, and one more per record an
 * iovec spans */
#define TW_H2_IOV_STEPS 128

/* Where the copy of a call's bytes is: kept across its records, so each
 * iovec is read once however many records the call makes. */
struct tw_h2_walk {
	const struct iovec *iov;
	__u64 iovcnt;
	__u64 idx;  /* iovec being copied */
	__u64 in;   /* bytes of it already copied */
	__u64 done; /* bytes of the call copied (TW_IO_PLAIN) */
	__u32 n;    /* bytes wanted for this record */
	__u32 off;  /* bytes copied into scratch for it so far */
};

/* One iovec (or its part that fits) per call: bpf_loop, so the verifier
 * sees the body once. */
static long tw_h2_iov_cb(__u32 i, void *data)
{
	struct tw_h2_walk *w = data;
	struct tw_scratch *s;
	struct iovec v;
	__u32 zero = 0, at;
	__u64 len, k;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s || w->idx >= w->iovcnt || w->off >= w->n)
		return 1;
	if (bpf_probe_read_user(&v, sizeof(v), &w->iov[w->idx]))
		return 1;
	if (v.iov_len <= w->in) {
		w->idx++;
		w->in = 0;
		return 0;
	}
	len = v.iov_len - w->in;
	if (len > w->n - w->off)
		len = w->n - w->off;
	/* Hide what the compiler knows so it keeps the checks the verifier
	 * needs on the very registers it passes. */
	k = len;
	at = w->off;
	barrier_var(k);
	barrier_var(at);
	if (k > TW_CAPTURE_MAX)
		return 1;
	if (at >= TW_CAPTURE_MAX)
		return 1;
	if (bpf_probe_read_user(s->data + at, k, (const __u8 *)v.iov_base + w->in)) {
		tw_count(TW_CNT_READ_FAULT);
		return 1;
	}
	w->off += k;
	w->in += k;
	return 0;
}

/* The next n (<= TW_CAPTURE_MAX) bytes of the call into s->data; returns
 * the bytes copied. Global: verified once, not once per record. */
__noinline __u32 tw_h2_copy(struct tw_scratch *s, const struct tw_io_args *a,
			    struct tw_h2_walk *w, __u32 n)
{
	struct tw_h2_walk lw;
	__u64 k;

	if (!s || !a || !w || n > TW_CAPTURE_MAX)
		return 0;
	if (a->kind == TW_IO_PLAIN) {
		k = n;
		barrier_var(k);
		if (k > TW_CAPTURE_MAX)
			return 0;
		if (bpf_probe_read_user(s->data, k, (const __u8 *)a->ubuf + w->done)) {
			tw_count(TW_CNT_READ_FAULT);
			return 0;
		}
		w->done += k;
		return k;
	}
	/* bpf_loop wants its context on this function's stack */
	__builtin_memcpy(&lw, w, sizeof(lw));
	lw.n = n;
	lw.off = 0;
	bpf_loop(TW_H2_IOV_STEPS, tw_h2_iov_cb, &lw, 0);
	__builtin_memcpy(w, &lw, sizeof(lw));
	return lw.off;
}

/* One record of the call: the next (at most) TW_CAPTURE_MAX bytes from *off.
 * final: the last record allowed, which carries the rest of the length.
 * Returns whether another record follows. */
static __always_inline bool tw_h2_chunk(struct tw_scratch *s, const struct tw_io_args *a,
					struct tw_h2_walk *w, __u64 ret, __u64 *off, bool final)
{
	__u64 left = ret - *off;
	__u32 n = left < TW_CAPTURE_MAX ? left : TW_CAPTURE_MAX;
	bool last = left <= TW_CAPTURE_MAX || final;
	__u32 cap = a->kind == TW_IO_NONE ? 0 : tw_h2_copy(s, a, w, n);

	s->hdr.len = last ? left : n;
	s->hdr.cap = cap;
	tw_submit(s, cap);
	*off += n;
	s->hdr.stream_off += n;
	return !last;
}

/* The record tw_io_done filled in s (its header), as several records.
 * Global: verified once per program. The records are written out one by
 * one rather than in a loop: 6.1's verifier refuses that loop's back-edge
 * ("back-edge from insn"), and clang cannot unroll it (data-dependent
 * exit). TW_H2_CHUNKS is the number of calls below. */
__noinline int tw_h2_submit(struct tw_scratch *s, const struct tw_io_args *a, __u64 ret)
{
	struct tw_h2_walk w = {};
	struct user_msghdr msg;
	__u64 off = 0;

	if (!s || !a)
		return 0;
	if (a->kind == TW_IO_IOV) {
		w.iov = (const struct iovec *)a->ubuf;
		w.iovcnt = a->count;
	} else if (a->kind == TW_IO_MSG && !bpf_probe_read_user(&msg, sizeof(msg), (void *)a->ubuf)) {
		w.iov = msg.msg_iov;
		w.iovcnt = msg.msg_iovlen;
	}
	if (tw_h2_chunk(s, a, &w, ret, &off, false) && tw_h2_chunk(s, a, &w, ret, &off, false) &&
	    tw_h2_chunk(s, a, &w, ret, &off, false) && tw_h2_chunk(s, a, &w, ret, &off, false) &&
	    tw_h2_chunk(s, a, &w, ret, &off, false) && tw_h2_chunk(s, a, &w, ret, &off, false) &&
	    tw_h2_chunk(s, a, &w, ret, &off, false))
		tw_h2_chunk(s, a, &w, ret, &off, true);
	return 0;
}

#endif
