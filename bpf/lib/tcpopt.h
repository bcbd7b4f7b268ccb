/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Trace context in a TCP option, from sock_ops header-option callbacks
 * (docs/wire-format.md, "TCP option"): room reserved while a request's first
 * byte is in flight, the option written on the segment that holds it, and
 * parsed on server sockets from trusted peers into wire_in.
 */
#ifndef TW_BPF_TCPOPT_H
#define TW_BPF_TCPOPT_H

#include "compat.h"
#include "maps.h"
#include "wire.h"

const volatile __u8 tcpopt_kind = TW_TCPOPT_EXP; /* --tcp-option-kind */

/* The first byte of wire_out's request is not acknowledged yet: a segment
 * being built now may carry it. */
static __always_inline struct tw_wire_out *tw_wire_pending(struct bpf_sock_ops *skops)
{
	struct tw_wire_out *wo;
	struct tw_tuple t;

	TW_TUPLE_OF_CTX(&t, skops);
	wo = bpf_map_lookup_elem(&wire_out, &t);
	if (!wo || (__s32)(wo->seq - skops->snd_una) < 0)
		return NULL;
	return wo;
}

/*
 * Room for the option. When the kernel sizes segments (CURRENT_MSS) always,
 * so that a full segment plus the option still fits the path MTU (a GSO
 * send is cut by that size); for a real segment only while a request's
 * first byte is in flight. A segment with SACK blocks has no room left next
 * to timestamps: skipped and counted, never squeezed.
 */
static __always_inline void tw_opt_len(struct bpf_sock_ops *skops)
{
	__u32 need = tcpopt_kind == TW_TCPOPT_OBI ? TW_TCPOPT_OBI_LEN_FLAGS : TW_TCPOPT_EXP_LEN;

	if (skops->args[0] & BPF_WRITE_HDR_TCP_CURRENT_MSS) {
		bpf_reserve_hdr_opt(skops, need, 0);
		return;
	}
	if (!skops->skb_len || !tw_wire_pending(skops))
		return;
	if (bpf_reserve_hdr_opt(skops, need, 0))
		tw_pcount(TW_PC_TCPOPT_NO_ROOM);
}

/* The segment holds the request's first byte: the option goes on it. Room
 * reserved and left unwritten is filled with NOPs by the kernel. */
static __always_inline void tw_opt_write(struct bpf_sock_ops *skops)
{
	__u8 opt[TW_TCPOPT_MAX_LEN];
	struct tw_wire_out *wo;
	struct tcphdr *th = skops->skb_data;
	__u32 seq, hlen, len;

	if ((void *)(th + 1) > skops->skb_data_end)
		return;
	wo = tw_wire_pending(skops);
	if (!wo)
		return;
	seq = bpf_ntohl(th->seq);
	hlen = th->doff * 4;
	if (skops->skb_len <= hlen)
		return;
	/* seq <= wo->seq < seq + payload, in sequence space */
	if ((__s32)(wo->seq - seq) < 0 || wo->seq - seq >= skops->skb_len - hlen)
		return;
	len = tw_tcpopt_encode(opt, tcpopt_kind, wo->trace_id, wo->span_id, wo->flags);
	if (bpf_store_hdr_opt(skops, opt, len & 31, 0))
		tw_pcount(TW_PC_TCPOPT_NO_ROOM);
	else
		tw_pcount(TW_PC_TCPOPT_WRITTEN);
}

/* bpf_load_hdr_opt copies the option it finds (kind, and for 253 the ExID,
 * given in buf) into buf and returns its length. */
static __always_inline bool tw_opt_find(struct bpf_sock_ops *skops, __u8 *buf, __u8 kind,
					__u16 exid, struct tw_wire_ctx *out)
{
	long n;

	__builtin_memset(buf, 0, TW_TCPOPT_MAX_LEN);
	buf[0] = kind;
	if (exid) {
		buf[1] = 4;
		buf[2] = exid >> 8;
		buf[3] = exid & 0xff;
	}
	n = bpf_load_hdr_opt(skops, buf, TW_TCPOPT_MAX_LEN, 0);
	if (n <= 0)
		return false;
	return tw_tcpopt_decode(buf, (__u32)n, out);
}

/* A segment with an option the kernel does not know reached a server
 * socket: tracewire's (or OBI's) ids are kept for the request's span. */
static __always_inline void tw_opt_parse(struct bpf_sock_ops *skops)
{
	__u8 buf[TW_TCPOPT_MAX_LEN];
	struct tw_wire_ctx c;
	struct tw_wire_in *in, fresh = {};
	struct tw_tuple t;

	if (!tw_opt_find(skops, buf, TW_TCPOPT_EXP, TW_TCPOPT_EXID_SAMPLED, &c) &&
	    !tw_opt_find(skops, buf, TW_TCPOPT_EXP, TW_TCPOPT_EXID_UNSAMPLED, &c) &&
	    !tw_opt_find(skops, buf, TW_TCPOPT_OBI, 0, &c))
		return;
	TW_TUPLE_OF_CTX(&t, skops);
	if (!tw_addr_in(&trust_from, t.family, t.peer_addr)) {
		tw_pcount(TW_PC_OPT_UNTRUSTED);
		return;
	}
	in = bpf_map_lookup_elem(&wire_in, &t);
	if (in) {
		in->tcp = c;
	} else {
		fresh.tcp = c;
		bpf_map_update_elem(&wire_in, &t, &fresh, BPF_ANY);
	}
	tw_pcount(TW_PC_TCPOPT_READ);
}

#endif
