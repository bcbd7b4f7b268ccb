/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Capture of HTTP/2 connections (those that began with the preface,
 * tw_conn_state.h2). HTTP/1 needs a call's first bytes; HTTP/2 needs every
 * frame header and every header block, or its HPACK table, and so every
 * later header of the connection, is lost (correlator/http2.h). A gRPC
 * message of 1 MiB is one call's worth of DATA payload with a few header
 * blocks around it, so the kernel follows each direction's frames
 * (tw_conn_state.h2f, kept across calls) and copies only what user space
 * needs: frame headers and the payloads of frames other than DATA. A call
 * becomes records of up to TW_CAPTURE_MAX captured bytes each
 * (TW_HDR_H2_FRAMED), whose len counts the DATA payload left out too, so
 * they read as consecutive calls and the egress stream offsets stay right.
 *
 * A direction whose place is not known (an h2c upgrade, a bad frame header,
 * a call too long to walk) is copied as before: its first
 * TW_H2CAP_RAW_RECORDS records, user space finding frames again by itself;
 * the kernel takes the frames up again at a call that begins with the
 * preface or with a plausible frame header.
 *
 * One bpf_loop walks the call, a step per frame header, payload run, iovec
 * or record; its state is in per-CPU maps, not in the callback's stack
 * context, so the verifier checks the step a few times instead of following
 * each value from one step to the next.
 */
#ifndef TW_BPF_H2CAPTURE_H
#define TW_BPF_H2CAPTURE_H

#include "io.h"

#define TW_H2CAP_STEPS 2048      /* walk steps per call */
#define TW_H2CAP_RECORDS 32      /* records per call when the frames are followed */
#define TW_H2CAP_RAW_RECORDS 8   /* ... and when they are not: the first 4 KiB */
#define TW_H2CAP_FRAME_MAX 16384 /* a frame found again is believed up to this long */
#define TW_H2CAP_FH 9            /* frame header bytes */
#define TW_H2CAP_PREFACE_LEN 24

enum {
	TW_H2T_DATA = 0,
	TW_H2T_HEADERS,
	TW_H2T_PRIORITY,
	TW_H2T_RST_STREAM,
	TW_H2T_SETTINGS,
	TW_H2T_PUSH_PROMISE,
	TW_H2T_PING,
	TW_H2T_GOAWAY,
	TW_H2T_WINDOW_UPDATE,
	TW_H2T_CONTINUATION,
};

/* The walk over one call. */
struct tw_h2_walk {
	struct tw_h2_frames f; /* the direction's place, copied in and out */
	__u64 ubuf;            /* TW_IO_PLAIN: the buffer */
	__u64 iov;             /* else: the iovec array */
	__u64 iovcnt;
	__u64 next;            /* the next iovec to load */
	__u64 base, ilen, in;  /* the loaded iovec, and its bytes behind the cursor */
	__u64 pos, ret;        /* bytes of the call behind the cursor, and in all */
	__u64 rec_start;       /* where the open record begins */
	__u32 cap;             /* bytes copied into it */
	__u32 records;         /* records submitted */
	__u32 max_records;
	__u32 rflags;          /* the open record's TW_HDR_H2_* flags */
	__u8 plain;
	__u8 cut;              /* nothing more is copied in this call */
	__u8 fail;             /* the walk stops */
	__u8 pad[5];
	__u8 fh[32];           /* the frame header being read (fh[0..8] kept in f) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_h2_walk);
} h2_walk SEC(".maps");

/* A frame header that can be one. resync: one found where a call begins,
 * with no earlier frame to vouch for it: the types a header block's run
 * cannot begin with, or unknown, and frames over max are not believed. */
static __always_inline bool tw_h2_plausible(const __u8 *b, __u32 max, bool resync)
{
	__u32 len = (__u32)b[0] << 16 | (__u32)b[1] << 8 | b[2];
	bool s0 = !(b[5] | b[6] | b[7] | b[8]);

	if (len > max || (b[5] & 0x80))
		return false;
	switch (b[3]) {
	case TW_H2T_DATA:
	case TW_H2T_HEADERS:
		return !s0;
	case TW_H2T_PRIORITY:
		return !s0 && len == 5;
	case TW_H2T_RST_STREAM:
		return !s0 && len == 4;
	case TW_H2T_SETTINGS:
		return s0 && len % 6 == 0 && (!(b[4] & 1) || len == 0);
	case TW_H2T_PING:
		return s0 && len == 8;
	case TW_H2T_GOAWAY:
		return s0 && len >= 8;
	case TW_H2T_WINDOW_UPDATE:
		return len == 4;
	case TW_H2T_PUSH_PROMISE:
	case TW_H2T_CONTINUATION:
		return !resync && !s0;
	}
	/* extension frames are ignored by their receivers: so here */
	return !resync;
}

static __always_inline __u32 tw_h2_rflags(const struct tw_h2_frames *f)
{
	if (!(f->state & TW_H2FR_SYNCED))
		return 0;
	return TW_HDR_H2_FRAMED | (!f->preface && !f->fh_n ? TW_HDR_H2_AT_FRAME : 0);
}

static __always_inline void tw_h2_lost(struct tw_h2_frames *f)
{
	f->state = 0;
	f->left = 0;
	f->fh_n = 0;
	f->preface = 0;
	tw_count(TW_CNT_H2_UNSYNCED);
}

/* The open record out (if it covers any byte); the next one opens. */
static __always_inline void tw_h2_emit(struct tw_scratch *s, struct tw_h2_walk *w)
{
	__u64 len = w->pos - w->rec_start;

	if (!len)
		return;
	s->hdr.len = len;
	s->hdr.cap = w->cap;
	s->hdr.hdr_flags = (s->hdr.hdr_flags & ~(TW_HDR_H2_FRAMED | TW_HDR_H2_AT_FRAME)) | w->rflags;
	tw_submit(s, w->cap);
	s->hdr.stream_off += len;
	w->rec_start = w->pos;
	w->cap = 0;
	w->records++;
	w->rflags = tw_h2_rflags(&w->f);
}

/* A whole frame header in w->fh: what its payload is. */
static __always_inline void tw_h2_frame_begin(struct tw_h2_walk *w)
{
	struct tw_h2_frames *f = &w->f;
	const __u8 *b = w->fh;
	__u32 len = (__u32)b[0] << 16 | (__u32)b[1] << 8 | b[2];

	if (!tw_h2_plausible(b, 0xffffff, false)) {
		/* not where we think: the rest of the call is not copied, and
		 * the records' reader loses the frames at the same byte */
		tw_h2_lost(f);
		w->cut = 1;
		w->fail = 1;
		return;
	}
	f->left = len;
	f->state = TW_H2FR_SYNCED;
	if (b[3] == TW_H2T_DATA || b[3] > TW_H2T_CONTINUATION)
		f->state |= TW_H2FR_ELIDE;
	/* a padded DATA frame's pad length says how much of it is body */
	if (b[3] == TW_H2T_DATA && (b[4] & 0x8) && len)
		f->state |= TW_H2FR_LEAD;
	if (!len)
		f->fh_n = 0;
}

/* One step of the walk: an iovec loaded, or a run of bytes (preface, frame
 * header, payload, all of one iovec and one record) copied or passed. */
static long tw_h2_step_cb(__u32 i, void *ctx)
{
	struct tw_h2_frames *f;
	struct tw_h2_walk *w;
	struct tw_scratch *s;
	__u32 zero = 0, at;
	__u64 avail, n, k, src;
	bool copy = true, hdr = false;

	w = bpf_map_lookup_elem(&h2_walk, &zero);
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!w || !s || w->fail || w->pos >= w->ret)
		return 1;
	avail = w->ret - w->pos;
	if (w->plain) {
		src = w->ubuf + w->pos;
	} else {
		if (w->in >= w->ilen) {
			struct iovec v;

			if (w->next >= w->iovcnt ||
			    bpf_probe_read_user(&v, sizeof(v), (const void *)(w->iov + w->next * sizeof(v)))) {
				w->fail = 1;
				return 1;
			}
			w->next++;
			w->base = (__u64)v.iov_base;
			w->ilen = v.iov_len;
			w->in = 0;
			return 0;
		}
		if (avail > w->ilen - w->in)
			avail = w->ilen - w->in;
		src = w->base + w->in;
	}
	f = &w->f;
	n = avail;
	if (!(f->state & TW_H2FR_SYNCED)) {
		/* raw: copied as it comes */
	} else if (f->preface) {
		if (n > f->preface)
			n = f->preface;
	} else if (f->fh_n < TW_H2CAP_FH) {
		if (n > TW_H2CAP_FH - f->fh_n)
			n = TW_H2CAP_FH - f->fh_n;
		hdr = true;
	} else if (f->state & TW_H2FR_LEAD) {
		n = 1;
	} else {
		if (n > f->left)
			n = f->left;
		copy = !(f->state & TW_H2FR_ELIDE);
	}
	if (copy && !w->cut && w->cap >= TW_CAPTURE_MAX) {
		if (w->records + 1 < w->max_records) {
			tw_h2_emit(s, w);
		} else {
			/* the last record allowed: the rest of the call is counted, not copied */
			w->cut = 1;
			if (f->state & TW_H2FR_SYNCED)
				tw_count(TW_CNT_H2_CUT);
		}
	}
	if (copy && !w->cut) {
		if (n > TW_CAPTURE_MAX - w->cap)
			n = TW_CAPTURE_MAX - w->cap;
		/* Hide what the compiler knows so it keeps the checks the
		 * verifier needs on the very registers it passes. */
		k = n;
		at = w->cap;
		barrier_var(k);
		barrier_var(at);
		if (k > TW_CAPTURE_MAX || at >= TW_CAPTURE_MAX)
			return 1;
		if (bpf_probe_read_user(s->data + at, k, (const void *)src)) {
			tw_count(TW_CNT_READ_FAULT);
			w->fail = 1;
			return 1;
		}
		w->cap += k;
	}
	if (hdr) {
		/* kept whole for its length and type, even when not copied */
		k = n;
		at = f->fh_n;
		barrier_var(k);
		barrier_var(at);
		if (k > TW_H2CAP_FH || at >= TW_H2CAP_FH)
			return 1;
		if (bpf_probe_read_user(w->fh + at, k, (const void *)src)) {
			tw_count(TW_CNT_READ_FAULT);
			w->fail = 1;
			return 1;
		}
	}
	w->pos += n;
	w->in += n;
	if (!(f->state & TW_H2FR_SYNCED)) {
		if (w->cut)
			w->pos = w->ret;
	} else if (f->preface) {
		f->preface -= n;
	} else if (hdr) {
		f->fh_n += n;
		if (f->fh_n == TW_H2CAP_FH)
			tw_h2_frame_begin(w);
	} else {
		f->left -= n;
		f->state &= ~TW_H2FR_LEAD;
		if (!f->left) {
			f->fh_n = 0;
			f->state = TW_H2FR_SYNCED;
		}
	}
	return 0;
}

/* A direction out of step: does this call begin where frames do? Its first
 * bytes are in s->data (tw_io_done copied them). A write begins where the
 * application began one; a read anywhere, so there the frame must end where
 * the call does, or be followed by another plausible header. */
static __always_inline void tw_h2_resync(struct tw_h2_walk *w, const struct tw_scratch *s,
					 __u8 dir, __u64 ret)
{
	const __u8 *d = s->data;
	__u32 cap = s->hdr.cap, len, off;
	__u64 p0, p1, p2;

	if (cap > TW_CAPTURE_MAX)
		return;
	if (cap >= TW_H2CAP_PREFACE_LEN) {
		__builtin_memcpy(&p0, d, 8);
		__builtin_memcpy(&p1, d + 8, 8);
		__builtin_memcpy(&p2, d + 16, 8);
		/* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", little-endian */
		if (p0 == 0x5448202a20495250ull && p1 == 0x0a0d302e322f5054ull &&
		    p2 == 0x0a0d0a0d4d530a0dull) {
			w->f.state = TW_H2FR_SYNCED;
			w->f.preface = TW_H2CAP_PREFACE_LEN;
			return;
		}
	}
	if (cap < TW_H2CAP_FH || !tw_h2_plausible(d, TW_H2CAP_FRAME_MAX, true))
		return;
	len = (__u32)d[0] << 16 | (__u32)d[1] << 8 | d[2];
	if (dir == TW_DIR_INGRESS && TW_H2CAP_FH + (__u64)len != ret) {
		if (TW_H2CAP_FH + len + TW_H2CAP_FH > cap)
			return;
		off = (TW_H2CAP_FH + len) & (TW_CAPTURE_MAX - 1);
		if (!tw_h2_plausible(d + off, TW_H2CAP_FRAME_MAX, true))
			return;
	}
	w->f.state = TW_H2FR_SYNCED;
}

/* The record tw_io_done filled in s (its header, and the call's first bytes
 * in s->data), as the records the walk makes. Global: verified once per
 * program. */
__noinline int tw_h2_submit(struct tw_scratch *s, const struct tw_io_args *a, __u64 ret)
{
	struct tw_h2_frames *fp;
	struct tw_conn_state *st;
	struct tw_h2_walk *w;
	struct user_msghdr msg;
	__u32 zero = 0;
	__u64 sk;

	if (!s || !a)
		return 0;
	sk = a->sk;
	w = bpf_map_lookup_elem(&h2_walk, &zero);
	st = bpf_map_lookup_elem(&conns, &sk);
	if (!w || !st) {
		tw_submit(s, s->hdr.cap);
		return 0;
	}
	fp = a->dir == TW_DIR_EGRESS ? &st->h2f[1] : &st->h2f[0];
	__builtin_memset(w, 0, sizeof(*w));
	w->f = *fp;
	__builtin_memcpy(w->fh, fp->fh, sizeof(fp->fh));
	w->ret = ret;
	if (a->kind == TW_IO_PLAIN) {
		w->plain = 1;
		w->ubuf = a->ubuf;
	} else if (a->kind == TW_IO_IOV) {
		w->iov = a->ubuf;
		w->iovcnt = a->count;
	} else if (a->kind == TW_IO_MSG && !bpf_probe_read_user(&msg, sizeof(msg), (void *)a->ubuf)) {
		w->iov = (__u64)msg.msg_iov;
		w->iovcnt = msg.msg_iovlen;
	}
	if (!(w->f.state & TW_H2FR_SYNCED))
		tw_h2_resync(w, s, a->dir, ret);
	w->max_records = w->f.state & TW_H2FR_SYNCED ? TW_H2CAP_RECORDS : TW_H2CAP_RAW_RECORDS;
	w->rflags = tw_h2_rflags(&w->f);
	bpf_loop(TW_H2CAP_STEPS, tw_h2_step_cb, NULL, 0);
	/* the same values: looked up again for the verifier's sake */
	w = bpf_map_lookup_elem(&h2_walk, &zero);
	st = bpf_map_lookup_elem(&conns, &sk);
	if (!w)
		return 0;
	if (w->pos < ret) {
		/* steps, iovecs or the copy ran out: the rest is only counted */
		if (w->f.state & TW_H2FR_SYNCED)
			tw_h2_lost(&w->f);
		w->pos = ret;
	}
	tw_h2_emit(s, w);
	if (!st)
		return 0;
	__builtin_memcpy(w->f.fh, w->fh, sizeof(w->f.fh));
	if (a->dir == TW_DIR_EGRESS)
		st->h2f[1] = w->f;
	else
		st->h2f[0] = w->f;
	return 0;
}

#endif
