/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trace context below the payload (docs/wire-format.md): the TCP option that
 * sock_ops writes and parses, the IPv4 option the tc programs insert and
 * strip, and the per-flow state the kernel units share to decide which
 * segment carries which ids. Both sides include this file: the encoders and
 * decoders are the same code in the kernel and in the unit tests.
 *
 * Only fixed-width types, explicit padding, no pointers in shared structs.
 */
#ifndef TRACEWIRE_WIRE_H
#define TRACEWIRE_WIRE_H

#include "tracewire_event.h"

#ifndef __bpf__
#include <stdbool.h>
#include <string.h>
#endif

#ifndef TW_WIRE_INLINE
#define TW_WIRE_INLINE static inline __attribute__((always_inline))
#endif

/* RFC 6994 shared experimental option: kind, length, 16-bit ExID, payload.
 * The ExID says whether the trace is sampled (W3C trace-flags bit 0), since
 * 28 bytes is all the room there is next to TCP timestamps. */
#define TW_TCPOPT_EXP 253
#define TW_TCPOPT_EXID_SAMPLED 0x7477   /* "tw" */
#define TW_TCPOPT_EXID_UNSAMPLED 0x7476 /* "tv" */
#define TW_TCPOPT_EXP_LEN 28            /* kind, len, ExID[2], trace_id[16], span_id[8] */
/* The layout OpenTelemetry eBPF Instrumentation uses: kind 25, length 26,
 * trace_id[16], span_id[8], optionally a 27th byte with the trace-flags. */
#define TW_TCPOPT_OBI 25
#define TW_TCPOPT_OBI_LEN 26
#define TW_TCPOPT_OBI_LEN_FLAGS 27
#define TW_TCPOPT_MAX_LEN 28

/* IPv4: RFC 4727 experimental option 0x9e (copied into fragments, class 0,
 * number 30), with a magic since others may experiment with it too:
 * type, len 29, magic "tw", trace-flags, trace_id[16], span_id[8]; led by
 * three NOPs so the 32 bytes inserted keep the header a multiple of 4. */
#define TW_IPOPT_TYPE 0x9e
#define TW_IPOPT_LEN 29
#define TW_IPOPT_MAGIC0 0x74
#define TW_IPOPT_MAGIC1 0x77
#define TW_IPOPT_ROOM 32
#define TW_IPOPT_NOP 1
#define TW_IPOPT_EOL 0
#define TW_IPOPTS_MAX 40 /* bytes of options an IPv4 header can hold */

/* Ids a peer sent in an option, or none (valid == 0). */
struct tw_wire_ctx {
	__u8 trace_id[16];
	__u8 span_id[8]; /* the sender's CLIENT span: the parent of ours */
	__u8 flags;      /* W3C trace-flags */
	__u8 valid;
	__u8 pad[6];
};

/* "wire_in" value, by the server socket's tuple: what the last request's
 * first segment carried. The server span takes it (header > tcp > ip) and
 * deletes it when the request's head has been read. */
struct tw_wire_in {
	struct tw_wire_ctx tcp;
	struct tw_wire_ctx ip;
};

/* "wire_out" value, by the client socket's tuple: the ids of the request
 * whose first byte has TCP sequence number seq. Segments (sock_ops) and
 * packets (tc) that carry that byte carry the option; retransmissions of it
 * too, which is harmless. */
struct tw_wire_out {
	__u32 seq;
	__u8 flags;
	__u8 ip_sent; /* the IPv4 option went out once: retransmissions go without */
	__u8 pad[2];
	__u8 trace_id[16];
	__u8 span_id[8];
};

_Static_assert(sizeof(struct tw_wire_ctx) == 32, "tw_wire_ctx layout");
_Static_assert(sizeof(struct tw_wire_in) == 64, "tw_wire_in layout");
_Static_assert(sizeof(struct tw_wire_out) == 32, "tw_wire_out layout");

/* An IPv4-mapped IPv6 tuple (a dual-stack socket talking IPv4) in the
 * IPv4 form packets have: the wire maps are keyed by this form. */
TW_WIRE_INLINE void tw_tuple_normalize(struct tw_tuple *t)
{
	__u64 l0, p0;
	__u32 l1, p1;

	if (t->family != 10 /* AF_INET6 */)
		return;
	/* ::ffff:0:0/96 in both (no memcmp in BPF) */
	__builtin_memcpy(&l0, t->local_addr, 8);
	__builtin_memcpy(&p0, t->peer_addr, 8);
	__builtin_memcpy(&l1, t->local_addr + 8, 4);
	__builtin_memcpy(&p1, t->peer_addr + 8, 4);
	if (l0 || p0 || l1 != p1 || !(t->local_addr[10] == 0xff && t->local_addr[11] == 0xff &&
				       t->local_addr[8] == 0 && t->local_addr[9] == 0))
		return;
	t->family = 2; /* AF_INET */
	__builtin_memcpy(t->local_addr, t->local_addr + 12, 4);
	__builtin_memcpy(t->peer_addr, t->peer_addr + 12, 4);
	__builtin_memset(t->local_addr + 4, 0, 12);
	__builtin_memset(t->peer_addr + 4, 0, 12);
}

/* Writes the TCP option for kind (TW_TCPOPT_EXP or TW_TCPOPT_OBI) into
 * out[TW_TCPOPT_MAX_LEN]; returns its length. */
TW_WIRE_INLINE __u32 tw_tcpopt_encode(__u8 *out, __u8 kind, const __u8 *trace_id,
				      const __u8 *span_id, __u8 flags)
{
	if (kind == TW_TCPOPT_OBI) {
		/* 26 bytes, as OBI writes them, when sampled (what a reader
		 * without the flags byte assumes); 27 with the flags otherwise */
		__u32 len = (flags & TW_FLAG_SAMPLED) ? TW_TCPOPT_OBI_LEN : TW_TCPOPT_OBI_LEN_FLAGS;

		out[0] = TW_TCPOPT_OBI;
		out[1] = len;
		__builtin_memcpy(out + 2, trace_id, 16);
		__builtin_memcpy(out + 18, span_id, 8);
		out[26] = flags;
		out[27] = 0;
		return len;
	}
	out[0] = TW_TCPOPT_EXP;
	out[1] = TW_TCPOPT_EXP_LEN;
	out[2] = (flags & TW_FLAG_SAMPLED) ? (TW_TCPOPT_EXID_SAMPLED >> 8) : (TW_TCPOPT_EXID_UNSAMPLED >> 8);
	out[3] = (flags & TW_FLAG_SAMPLED) ? (TW_TCPOPT_EXID_SAMPLED & 0xff)
					   : (TW_TCPOPT_EXID_UNSAMPLED & 0xff);
	__builtin_memcpy(out + 4, trace_id, 16);
	__builtin_memcpy(out + 20, span_id, 8);
	return TW_TCPOPT_EXP_LEN;
}

TW_WIRE_INLINE bool tw_ids_nonzero(const __u8 *trace_id, const __u8 *span_id)
{
	__u64 t0, t1, s;

	__builtin_memcpy(&t0, trace_id, 8);
	__builtin_memcpy(&t1, trace_id + 8, 8);
	__builtin_memcpy(&s, span_id, 8);
	/* W3C: all-zero trace-id or parent-id is invalid */
	return (t0 | t1) && s;
}

/*
 * One TCP option starting at opt (its kind byte), avail bytes readable from
 * there. Fills out and returns true when it is a well-formed tracewire or
 * OBI option with valid (non-zero) ids; anything else, including a
 * truncated one, returns false and leaves out->valid 0.
 */
TW_WIRE_INLINE bool tw_tcpopt_decode(const __u8 *opt, __u32 avail, struct tw_wire_ctx *out)
{
	__u32 len;

	out->valid = 0;
	if (avail < 2)
		return false;
	len = opt[1];
	if (len > avail)
		return false;
	if (opt[0] == TW_TCPOPT_EXP) {
		__u16 exid;

		if (len != TW_TCPOPT_EXP_LEN)
			return false;
		exid = (__u16)(opt[2] << 8 | opt[3]);
		if (exid != TW_TCPOPT_EXID_SAMPLED && exid != TW_TCPOPT_EXID_UNSAMPLED)
			return false;
		__builtin_memcpy(out->trace_id, opt + 4, 16);
		__builtin_memcpy(out->span_id, opt + 20, 8);
		out->flags = exid == TW_TCPOPT_EXID_SAMPLED ? TW_FLAG_SAMPLED : 0;
	} else if (opt[0] == TW_TCPOPT_OBI) {
		if (len != TW_TCPOPT_OBI_LEN && len != TW_TCPOPT_OBI_LEN_FLAGS)
			return false;
		__builtin_memcpy(out->trace_id, opt + 2, 16);
		__builtin_memcpy(out->span_id, opt + 18, 8);
		out->flags = len == TW_TCPOPT_OBI_LEN_FLAGS ? opt[26] : TW_FLAG_SAMPLED;
	} else {
		return false;
	}
	if (!tw_ids_nonzero(out->trace_id, out->span_id))
		return false;
	out->valid = 1;
	return true;
}

/* The TW_IPOPT_ROOM bytes tc inserts after the fixed IPv4 header. */
TW_WIRE_INLINE void tw_ipopt_encode(__u8 *out, const __u8 *trace_id, const __u8 *span_id,
				    __u8 flags)
{
	out[0] = TW_IPOPT_NOP;
	out[1] = TW_IPOPT_NOP;
	out[2] = TW_IPOPT_NOP;
	out[3] = TW_IPOPT_TYPE;
	out[4] = TW_IPOPT_LEN;
	out[5] = TW_IPOPT_MAGIC0;
	out[6] = TW_IPOPT_MAGIC1;
	out[7] = flags;
	__builtin_memcpy(out + 8, trace_id, 16);
	__builtin_memcpy(out + 24, span_id, 8);
}

/*
 * Walks IPv4 options (optlen bytes: IHL * 4 - 20, at most 40, in a buffer
 * of at least 64 bytes so masked offsets stay inside it) for
 * tracewire's. Returns its offset in opts, or -1; out filled when the ids in
 * it are valid. Malformed option lists (a length running past the end, a
 * length below 2) stop the walk with -1: nothing in them is trusted.
 */
TW_WIRE_INLINE int tw_ipopt_find(const __u8 *opts, __u32 optlen, struct tw_wire_ctx *out)
{
	__u32 off = 0;

	out->valid = 0;
	if (optlen > TW_IPOPTS_MAX)
		return -1;
	for (int i = 0; i < TW_IPOPTS_MAX; i++) {
		__u8 type, len;

		/* a no-op (off <= optlen <= 40 here) that gives the BPF
		 * verifier a bound: without it every path through the walk
		 * carries its own offset range and verification explodes */
		off &= 63;
		if (off >= optlen)
			return -1;
		type = opts[off & 63];
		if (type == TW_IPOPT_EOL)
			return -1;
		if (type == TW_IPOPT_NOP) {
			off++;
			continue;
		}
		if (off + 1 >= optlen)
			return -1;
		len = opts[(off + 1) & 63];
		if (len < 2 || off + len > optlen)
			return -1;
		if (type == TW_IPOPT_TYPE && len == TW_IPOPT_LEN &&
		    opts[(off + 2) & 63] == TW_IPOPT_MAGIC0 && opts[(off + 3) & 63] == TW_IPOPT_MAGIC1) {
			out->flags = opts[(off + 4) & 63];
			for (int k = 0; k < 16; k++)
				out->trace_id[k] = opts[(off + 5 + k) & 63];
			for (int k = 0; k < 8; k++)
				out->span_id[k] = opts[(off + 21 + k) & 63];
			out->valid = tw_ids_nonzero(out->trace_id, out->span_id);
			return (int)off;
		}
		off += len;
	}
	return -1;
}

#endif
