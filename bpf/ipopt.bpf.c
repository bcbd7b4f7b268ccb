// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Trace context in an IPv4 option (docs/wire-format.md, "IPv4 option (tc)"):
 * SCHED_CLS programs on the host side of pod veths.
 *
 *   tw_from_pod  ingress of the host-side veth (packets leaving the pod):
 *                the packet holding a request's first byte (wire_out, by the
 *                client socket's tuple) gets TW_IPOPT_ROOM bytes of option
 *                right after the fixed IPv4 header.
 *   tw_to_pod    egress of the host-side veth (packets entering the pod):
 *                tracewire's option is read (trusted peers only) into
 *                wire_in and taken out, so the application never sees it.
 *   tw_edge      egress of --tc-edge-iface interfaces: the option is taken
 *                out of packets leaving for destinations outside the scope.
 *
 * Fail open: every program returns TW_TC_PASS whatever happens. Not
 * TC_ACT_OK: under TCX that ends the chain, and programs of other tools
 * attached after ours (network policy) would never see the packet;
 * TC_ACT_UNSPEC (TCX_NEXT) hands it on to them, and delivers it when none
 * is left. Never TC_ACT_SHOT. IPv4 only: IPv6 packets pass untouched.
 */
#include "lib/compat.h"
#include "lib/maps.h"
#include "lib/wire.h"
#include "tracewire_event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TW_TC_PASS (-1) /* TC_ACT_UNSPEC == TCX_NEXT: see above */
#define TW_ETH_HLEN 14
#define TW_ETH_P_IP 0x0800
#define TW_PROTO_TCP 6
#define TW_IP_HLEN 20       /* fixed IPv4 header */
#define TW_IP_HLEN_MAX 60   /* ihl is 4 bits */
#define TW_IP_TOTLEN_MAX 65535
/* The kernel adjusts gso_size itself (BPF_ADJ_ROOM_NET without FIXED_GSO)
 * and the TCP checksum does not cover the IP header: a verified L4
 * checksum stays verified. */
#define TW_ADJ_FLAGS BPF_F_ADJ_ROOM_NO_CSUM_RESET
/* skb->csum follows every header store (CHECKSUM_COMPLETE packets). */
#define TW_STORE_FLAGS BPF_F_RECOMPUTE_CSUM

/* An IPv4 header as read, and the one to be stored instead. */
struct tw_ip {
	__u8 hdr[64];  /* the header rebuilt for the store (60 bytes at most) */
	__u8 opts[64]; /* options as read; the walk masks offsets with 63 */
	__u32 hlen;    /* ihl * 4 */
	__u32 optlen;  /* hlen - TW_IP_HLEN */
	__u32 tot;     /* tot_len, or 0 (BIG TCP GSO packets) */
	__u8 fixed[TW_IP_HLEN];
};

/* What a program works on, in the per-CPU tc_scratch map (bpf/lib/wire.h):
 * on the stack, the header alone took 160 of the 384 bytes tracewire allows
 * itself of the verifier's 512. */
struct tw_tc_scratch {
	struct tw_ip ip;
	struct tw_wire_ctx c;
};
_Static_assert(sizeof(struct tw_tc_scratch) <= TW_TC_SCRATCH_SIZE, "tc_scratch too small");

static __always_inline struct tw_tc_scratch *tw_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&tc_scratch, &zero);
}

static __always_inline __u16 tw_ip_csum(const __u8 *hdr, __u32 hlen)
{
	__u32 sum = 0;

	for (__u32 i = 0; i < TW_IP_HLEN_MAX / 2; i++) {
		__u16 w;

		if (i * 2 >= hlen)
			break;
		__builtin_memcpy(&w, hdr + i * 2, 2);
		sum += w;
	}
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* hdr[0..hlen): the fixed header with ihl and tot_len changed by delta
 * bytes, its checksum computed over everything in hdr. */
static __always_inline void tw_ip_finish(struct tw_ip *p, __u32 nhlen, int delta)
{
	__u16 tot = p->tot ? bpf_htons(p->tot + delta) : 0;
	__u16 zero = 0, csum;

	__builtin_memcpy(p->hdr, p->fixed, TW_IP_HLEN);
	p->hdr[0] = 0x40 | (nhlen / 4);
	__builtin_memcpy(p->hdr + 2, &tot, 2);
	__builtin_memcpy(p->hdr + 10, &zero, 2);
	csum = tw_ip_csum(p->hdr, nhlen);
	__builtin_memcpy(p->hdr + 10, &csum, 2);
}

/* Reads the IPv4 header; false for anything but a sane IPv4 packet. */
static __always_inline bool tw_ip_read(struct __sk_buff *skb, struct tw_ip *p)
{
	__u32 hlen, optlen;

	if (skb->protocol != bpf_htons(TW_ETH_P_IP))
		return false;
	if (bpf_skb_load_bytes(skb, TW_ETH_HLEN, p->fixed, TW_IP_HLEN))
		return false;
	if ((p->fixed[0] >> 4) != 4)
		return false;
	hlen = (p->fixed[0] & 0xf) * 4;
	if (hlen < TW_IP_HLEN)
		return false;
	p->hlen = hlen;
	p->tot = (__u32)p->fixed[2] << 8 | p->fixed[3];
	if (p->tot && p->tot < hlen)
		return false;
	optlen = hlen - TW_IP_HLEN;
	p->optlen = optlen;
	if (!optlen)
		return true;
	/* optlen is a multiple of 4 from 4 to 40, and so is this. The
	 * verifier must see a length of 1 at least, and learns no lower bound
	 * from optlen != 0 on 6.1 (nor from the single test of optlen - 1 the
	 * compiler makes of 1 <= optlen <= 40): bits give it [4, 64] here,
	 * which p->opts holds. */
	asm volatile("" : "+r"(optlen));
	optlen = ((optlen - 4) & 0x3c) + 4;
	return !bpf_skb_load_bytes(skb, TW_ETH_HLEN + TW_IP_HLEN, p->opts, optlen);
}

/* ---- from_pod: insert ---------------------------------------------------- */

/* The packet's wire_out entry when it holds that request's first byte. */
static __always_inline struct tw_wire_out *tw_first_packet(struct __sk_buff *skb,
							    struct tw_ip *p, struct tw_tuple *t)
{
	struct tw_wire_out *wo;
	__u8 th[20];
	__u32 thlen, seq, tot;
	__u16 port;

	if (p->fixed[9] != TW_PROTO_TCP)
		return NULL;
	/* fragments (MF or an offset) carry no whole TCP header */
	if ((p->fixed[6] & 0x3f) || p->fixed[7])
		return NULL;
	if (bpf_skb_load_bytes(skb, TW_ETH_HLEN + p->hlen, th, sizeof(th)))
		return NULL;
	thlen = (th[12] >> 4) * 4;
	tot = p->tot ? p->tot : skb->len - TW_ETH_HLEN;
	if (thlen < 20 || tot <= p->hlen + thlen)
		return NULL; /* no payload */
	__builtin_memset(t, 0, sizeof(*t));
	t->family = AF_INET;
	__builtin_memcpy(t->local_addr, p->fixed + 12, 4);
	__builtin_memcpy(t->peer_addr, p->fixed + 16, 4);
	__builtin_memcpy(&port, th, 2);
	t->local_port = bpf_ntohs(port);
	__builtin_memcpy(&port, th + 2, 2);
	t->peer_port = bpf_ntohs(port);
	wo = bpf_map_lookup_elem(&wire_out, t);
	if (!wo)
		return NULL;
	seq = (__u32)th[4] << 24 | (__u32)th[5] << 16 | (__u32)th[6] << 8 | th[7];
	/* seq <= wo->seq < seq + payload, in sequence space */
	if ((__s32)(wo->seq - seq) < 0 || wo->seq - seq >= tot - p->hlen - thlen)
		return NULL;
	return wo;
}

/* Room for 32 more bytes: in the header (60 at most), in tot_len, and on
 * the wire. A non-GSO packet that grows past the MTU is dropped by veth and
 * the connection hangs on its retransmissions; a GSO packet is cut into
 * smaller segments (the kernel lowers gso_size by what we add). */
static __always_inline bool tw_room(struct __sk_buff *skb, struct tw_ip *p)
{
	__u32 mtu = 0;
	long r;

	if (p->hlen + TW_IPOPT_ROOM > TW_IP_HLEN_MAX ||
	    (p->tot && p->tot + TW_IPOPT_ROOM > TW_IP_TOTLEN_MAX)) {
		tw_pcount(TW_PC_IPOPT_NO_ROOM);
		return false;
	}
	/* ifindex 0: the device the packet is on, the pod's veth, whose MTU
	 * is the pod's */
	r = bpf_check_mtu(skb, 0, &mtu, TW_IPOPT_ROOM, 0);
	if (r < 0) {
		tw_pcount(TW_PC_FAIL_OPEN);
		return false;
	}
	if (r != BPF_MTU_CHK_RET_SUCCESS) {
		tw_pcount(TW_PC_IPOPT_NO_ROOM);
		return false;
	}
	return true;
}

SEC("tc")
int tw_from_pod(struct __sk_buff *skb)
{
	struct tw_tc_scratch *s = tw_scratch();
	struct tw_wire_out *wo;
	struct tw_tuple t;
	struct tw_ip *p;
	__u32 nhlen, optlen;

	if (!s)
		return TW_TC_PASS;
	p = &s->ip;
	if (!tw_ip_read(skb, p))
		return TW_TC_PASS;
	wo = tw_first_packet(skb, p, &t);
	if (!wo)
		return TW_TC_PASS;
	/* sk_msg only records sockets in scope; the scope is checked again
	 * here so no option ever leaves for a destination outside it */
	if (!tw_addr_in(&prop_scope, AF_INET, t.peer_addr))
		return TW_TC_PASS;
	/* Once per request: a retransmission of its first packet goes out as
	 * the pod sent it. Where a path drops packets with IP options, the
	 * first try is lost and the retry gets through: a loss of context,
	 * never a stalled connection. */
	if (wo->ip_sent) {
		tw_pcount(TW_PC_IPOPT_RETRANSMIT);
		return TW_TC_PASS;
	}
	if (!tw_room(skb, p))
		return TW_TC_PASS;
	/* new header: fixed | tracewire's 32 bytes | the packet's own options */
	tw_ipopt_encode(p->hdr + TW_IP_HLEN, wo->trace_id, wo->span_id, wo->flags);
	optlen = p->optlen;
	if (optlen > 0 && optlen <= TW_IP_HLEN_MAX - TW_IP_HLEN - TW_IPOPT_ROOM)
		__builtin_memcpy(p->hdr + TW_IP_HLEN + TW_IPOPT_ROOM, p->opts, 8);
	/* p->hlen + TW_IPOPT_ROOM: hlen is 20, 24 or 28 here (tw_room), which
	 * the verifier learns from bits alone: 52 to 64 bytes, all in p->hdr
	 * (6.12 failed on the old mask's impossible 0) */
	nhlen = p->hlen - TW_IP_HLEN;
	asm volatile("" : "+r"(nhlen));
	nhlen = TW_IP_HLEN + TW_IPOPT_ROOM + (nhlen & 0xc);
	tw_ip_finish(p, nhlen, TW_IPOPT_ROOM);
	if (bpf_skb_adjust_room(skb, TW_IPOPT_ROOM, BPF_ADJ_ROOM_NET, TW_ADJ_FLAGS)) {
		tw_pcount(TW_PC_FAIL_OPEN);
		return TW_TC_PASS;
	}
	if (bpf_skb_store_bytes(skb, TW_ETH_HLEN, p->hdr, nhlen, TW_STORE_FLAGS)) {
		/* the 32 bytes in place and the old header: undo, so the packet
		 * leaves as the pod sent it */
		bpf_skb_adjust_room(skb, -TW_IPOPT_ROOM, BPF_ADJ_ROOM_NET, TW_ADJ_FLAGS);
		tw_pcount(TW_PC_FAIL_OPEN);
		return TW_TC_PASS;
	}
	wo->ip_sent = 1;
	tw_pcount(TW_PC_IPOPT_WRITTEN);
	return TW_TC_PASS;
}

/* ---- to_pod and edge: read and strip --------------------------------------- */

/*
 * Takes tracewire's option (at off in the options) out of the packet.
 * Where tw_from_pod puts it (three NOPs, then the option, first in the
 * header) the 32 bytes go and the header shrinks. Anywhere else (a sender
 * that built its own option list) the option's bytes become NOPs instead:
 * the header keeps its length and its other options their places, and
 * nothing of the ids reaches the application. 0, or -1 with the packet
 * unchanged. Global, like tw_locate: verified once.
 */
__noinline int tw_strip(struct __sk_buff *skb, struct tw_ip *p, int off)
{
	__u32 hlen, nhlen;

	if (!skb || !p || off < 0 || off > TW_IPOPTS_MAX - TW_IPOPT_LEN)
		return -1;
	hlen = p->hlen;
	if (hlen < TW_IP_HLEN || hlen > TW_IP_HLEN_MAX)
		return -1;
	if (off != 3 || hlen < TW_IP_HLEN + TW_IPOPT_ROOM || p->opts[0] != TW_IPOPT_NOP ||
	    p->opts[1] != TW_IPOPT_NOP || p->opts[2] != TW_IPOPT_NOP) {
		__builtin_memcpy(p->hdr + TW_IP_HLEN, p->opts, TW_IPOPTS_MAX);
		for (int k = 0; k < TW_IPOPT_LEN; k++)
			p->hdr[(TW_IP_HLEN + off + k) & 63] = TW_IPOPT_NOP;
		tw_ip_finish(p, hlen, 0);
		return bpf_skb_store_bytes(skb, TW_ETH_HLEN, p->hdr, hlen, TW_STORE_FLAGS) ? -1 : 0;
	}
	/* options after ours (at most 8 bytes) move up */
	__builtin_memcpy(p->hdr + TW_IP_HLEN, p->opts + TW_IPOPT_ROOM, 8);
	nhlen = hlen - TW_IPOPT_ROOM;
	tw_ip_finish(p, nhlen, -TW_IPOPT_ROOM);
	if (bpf_skb_adjust_room(skb, -TW_IPOPT_ROOM, BPF_ADJ_ROOM_NET, TW_ADJ_FLAGS))
		return -1;
	if (!bpf_skb_store_bytes(skb, TW_ETH_HLEN, p->hdr, nhlen, TW_STORE_FLAGS))
		return 0;
	/* put back what was there */
	if (!bpf_skb_adjust_room(skb, TW_IPOPT_ROOM, BPF_ADJ_ROOM_NET, TW_ADJ_FLAGS)) {
		__builtin_memcpy(p->hdr, p->fixed, TW_IP_HLEN);
		__builtin_memcpy(p->hdr + TW_IP_HLEN, p->opts, TW_IPOPTS_MAX);
		bpf_skb_store_bytes(skb, TW_ETH_HLEN, p->hdr, hlen, TW_STORE_FLAGS);
	}
	return -1;
}

#define TW_WALK_STOP (-1)
#define TW_WALK_FOUND 0x100

/*
 * One step of tw_ipopt_find's walk (include/tracewire_wire.h): the same
 * tests, in the same order, on the option at off. Returns the offset of the
 * next option, TW_WALK_FOUND | off when the one at off is tracewire's, or
 * TW_WALK_STOP. Global, so verified once for any off: the verifier then
 * knows nothing of the offset a step returns, and the walk costs it a few
 * instructions a step. tw_ipopt_find itself, inlined, has every path
 * through the walk carry its own offset range: over the 1M-instruction
 * budget on 6.1, 47k on 6.18.
 */
__noinline int tw_ipopt_step(const struct tw_ip *p, __u32 off)
{
	__u32 optlen;
	__u8 type, len;

	if (!p)
		return TW_WALK_STOP;
	optlen = p->optlen;
	if (optlen > TW_IPOPTS_MAX || off >= optlen)
		return TW_WALK_STOP;
	type = p->opts[off & 63];
	if (type == TW_IPOPT_EOL)
		return TW_WALK_STOP;
	if (type == TW_IPOPT_NOP)
		return off + 1;
	if (off + 1 >= optlen)
		return TW_WALK_STOP;
	len = p->opts[(off + 1) & 63];
	if (len < 2 || off + len > optlen)
		return TW_WALK_STOP;
	if (type == TW_IPOPT_TYPE && len == TW_IPOPT_LEN &&
	    p->opts[(off + 2) & 63] == TW_IPOPT_MAGIC0 && p->opts[(off + 3) & 63] == TW_IPOPT_MAGIC1)
		return TW_WALK_FOUND | off;
	return off + len;
}

/* Offset of tracewire's option in p->opts, or -1; c filled as
 * tw_ipopt_find fills it. Global (verified once, with any p). */
__noinline int tw_locate(struct tw_ip *p, struct tw_wire_ctx *c)
{
	const __u8 *opt;
	__u32 off = 0;
	bool found = false;

	if (!p || !c)
		return -1;
	c->valid = 0;
	/* as many steps as tw_ipopt_find takes: each moves on by a byte at
	 * least, and optlen is 40 at most */
	for (int i = 0; i < TW_IPOPTS_MAX; i++) {
		int r = tw_ipopt_step(p, off);

		if (r < 0)
			return -1;
		if (r & TW_WALK_FOUND) {
			off = r & 63;
			found = true;
			break;
		}
		off = r & 0xff;
	}
	/* off + TW_IPOPT_LEN <= optlen <= 40: a bound the verifier sees */
	if (!found || off > TW_IPOPTS_MAX - TW_IPOPT_LEN)
		return -1;
	opt = p->opts + off;
	c->flags = opt[4];
	__builtin_memcpy(c->trace_id, opt + 5, 16);
	__builtin_memcpy(c->span_id, opt + 21, 8);
	c->valid = tw_ids_nonzero(c->trace_id, c->span_id);
	return (int)off;
}

/* The packet carries tracewire's option: its offset in p->opts, or -1. */
static __always_inline int tw_find(struct __sk_buff *skb, struct tw_ip *p, struct tw_wire_ctx *c)
{
	int off;

	if (!tw_ip_read(skb, p) || !p->optlen)
		return -1;
	off = tw_locate(p, c);
	return off >= 0 && off <= TW_IPOPTS_MAX - TW_IPOPT_LEN ? off : -1;
}

/* The server side's ids: the tuple of the socket the packet is for. */
static __always_inline void tw_keep(struct __sk_buff *skb, struct tw_ip *p,
				    const struct tw_wire_ctx *c)
{
	struct tw_wire_in *in, fresh = {};
	struct tw_tuple t = {};
	__u16 ports[2];

	if (bpf_skb_load_bytes(skb, TW_ETH_HLEN + p->hlen, ports, sizeof(ports)))
		return;
	t.family = AF_INET;
	__builtin_memcpy(t.local_addr, p->fixed + 16, 4);
	__builtin_memcpy(t.peer_addr, p->fixed + 12, 4);
	t.local_port = bpf_ntohs(ports[1]);
	t.peer_port = bpf_ntohs(ports[0]);
	in = bpf_map_lookup_elem(&wire_in, &t);
	if (in) {
		in->ip = *c;
	} else {
		fresh.ip = *c;
		if (bpf_map_update_elem(&wire_in, &t, &fresh, BPF_ANY))
			tw_pcount(TW_PC_FAIL_OPEN);
	}
}

SEC("tc")
int tw_to_pod(struct __sk_buff *skb)
{
	struct tw_tc_scratch *s = tw_scratch();
	struct tw_wire_ctx *c;
	struct tw_ip *p;
	bool used = false;
	int off;

	if (!s)
		return TW_TC_PASS;
	p = &s->ip;
	c = &s->c;
	off = tw_find(skb, p, c);
	if (off < 0)
		return TW_TC_PASS;
	if (!tw_addr_in(&trust_from, AF_INET, p->fixed + 12)) {
		tw_pcount(TW_PC_OPT_UNTRUSTED);
	} else if (c->valid && p->fixed[9] == TW_PROTO_TCP && !((p->fixed[6] & 0x3f) || p->fixed[7])) {
		tw_keep(skb, p, c);
		tw_pcount(TW_PC_IPOPT_READ);
		used = true;
	}
	if (tw_strip(skb, p, off)) {
		tw_pcount(TW_PC_FAIL_OPEN);
		return TW_TC_PASS;
	}
	if (!used)
		tw_pcount(TW_PC_IPOPT_STRIPPED);
	return TW_TC_PASS;
}

SEC("tc")
int tw_edge(struct __sk_buff *skb)
{
	struct tw_tc_scratch *s = tw_scratch();
	struct tw_ip *p;
	int off;

	if (!s)
		return TW_TC_PASS;
	p = &s->ip;
	off = tw_find(skb, p, &s->c);
	if (off < 0 || tw_addr_in(&prop_scope, AF_INET, p->fixed + 16))
		return TW_TC_PASS;
	if (tw_strip(skb, p, off)) {
		tw_pcount(TW_PC_FAIL_OPEN);
		return TW_TC_PASS;
	}
	tw_pcount(TW_PC_IPOPT_STRIPPED);
	return TW_TC_PASS;
}
