// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * BPF_PROG_TEST_RUN tests of the tc programs (bpf/ipopt.bpf.c): crafted
 * Ethernet + IPv4 + TCP packets, checksums computed here, run through
 * tw_from_pod, tw_to_pod and tw_edge of the real object with maps of its
 * own (nothing shared with a running tracewire, nothing attached).
 *
 * Runs in a network namespace of its own: test_run puts the packet on that
 * namespace's loopback device, whose MTU (set to 1500 here) is what
 * bpf_check_mtu in tw_from_pod compares with.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "bpf_test.h"
#include "tracewire_event.h"
#include "tracewire_wire.h"
#include "ipopt.skel.h"

#define TC_PASS ((__u32)-1) /* TC_ACT_UNSPEC: what every program returns */
#define ETH_LEN 14
#define LO_MTU 1500

static struct ipopt_bpf *skel;
static int fd_out, fd_in, fd_scope, fd_trust, fd_cnt;
static int prog_from, prog_to, prog_edge;

static const __u8 TRACE_ID[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
				   0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
static const __u8 SPAN_ID[8] = { 0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7 };
static const char REQ[] = "GET /x HTTP/1.1\r\nHost: b\r\n\r\n";

/* ---- packets ---------------------------------------------------------------- */

struct pkt {
	__u8 b[2048];
	__u32 len;
};

static __u32 csum_add(__u32 sum, const __u8 *p, __u32 n)
{
	for (__u32 i = 0; i + 1 < n; i += 2)
		sum += (__u32)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (__u32)p[n - 1] << 8;
	return sum;
}

static __u16 csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Ethernet + IPv4 (with opts, optlen a multiple of 4) + TCP + payload. */
static void mkpkt(struct pkt *k, const char *src, const char *dst, __u16 sport, __u16 dport,
		  __u32 seq, const void *payload, __u32 plen, const __u8 *opts, __u32 optlen)
{
	__u8 *e = k->b, *ip = e + ETH_LEN, *th;
	__u32 ihl = 20 + optlen, tot = ihl + 20 + plen;
	__u8 pseudo[12];
	__u16 c;

	memset(k, 0, sizeof(*k));
	memcpy(e, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", ETH_LEN);
	ip[0] = 0x40 | (ihl / 4);
	ip[2] = tot >> 8;
	ip[3] = tot & 0xff;
	ip[4] = 0x12;
	ip[5] = 0x34;
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = 6;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	if (optlen)
		memcpy(ip + 20, opts, optlen);
	c = csum_fold(csum_add(0, ip, ihl));
	ip[10] = c >> 8;
	ip[11] = c & 0xff;
	th = ip + ihl;
	th[0] = sport >> 8;
	th[1] = sport & 0xff;
	th[2] = dport >> 8;
	th[3] = dport & 0xff;
	th[4] = seq >> 24;
	th[5] = seq >> 16;
	th[6] = seq >> 8;
	th[7] = seq;
	th[8] = 0x01; /* ack */
	th[12] = 5 << 4;
	th[13] = plen ? 0x18 : 0x10; /* PSH|ACK or ACK */
	th[14] = 0xfa;
	memcpy(th + 20, payload, plen);
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	pseudo[10] = (20 + plen) >> 8;
	pseudo[11] = (20 + plen) & 0xff;
	c = csum_fold(csum_add(csum_add(0, pseudo, 12), th, 20 + plen));
	th[16] = c >> 8;
	th[17] = c & 0xff;
	k->len = ETH_LEN + tot;
}

static __u32 ihl_of(const struct pkt *k)
{
	return (k->b[ETH_LEN] & 0xf) * 4;
}

static __u32 tot_of(const struct pkt *k)
{
	return (__u32)k->b[ETH_LEN + 2] << 8 | k->b[ETH_LEN + 3];
}

static bool ip_csum_ok(const struct pkt *k)
{
	return csum_fold(csum_add(0, k->b + ETH_LEN, ihl_of(k))) == 0;
}

static bool tcp_csum_ok(const struct pkt *k)
{
	const __u8 *ip = k->b + ETH_LEN;
	__u32 tl = tot_of(k) - ihl_of(k);
	__u8 pseudo[12];

	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	pseudo[10] = tl >> 8;
	pseudo[11] = tl & 0xff;
	return csum_fold(csum_add(csum_add(0, pseudo, 12), ip + ihl_of(k), tl)) == 0;
}

static bool run(int prog, const struct pkt *in, struct pkt *out)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->b, .data_size_in = in->len,
		    .data_out = out->b, .data_size_out = sizeof(out->b), .repeat = 1);
	int err;

	memset(out, 0, sizeof(*out));
	err = bpf_prog_test_run_opts(prog, &o);
	CHECK(!err, "bpf_prog_test_run_opts: %s", strerror(errno));
	CHECK(o.retval == TC_PASS, "retval %d, want TC_ACT_UNSPEC (-1)", (int)o.retval);
	out->len = o.data_size_out;
	return true;
}

static bool same(const struct pkt *a, const struct pkt *b)
{
	return a->len == b->len && !memcmp(a->b, b->b, a->len);
}

/* ---- maps ------------------------------------------------------------------- */

static struct tw_tuple tuple(const char *local, __u16 lport, const char *peer, __u16 pport)
{
	struct tw_tuple t;

	memset(&t, 0, sizeof(t));
	t.family = AF_INET;
	inet_pton(AF_INET, local, t.local_addr);
	inet_pton(AF_INET, peer, t.peer_addr);
	t.local_port = lport;
	t.peer_port = pport;
	return t;
}

static bool lpm_add(int fd, const char *v4, __u32 len)
{
	struct tw_scope_key k;
	__u8 one = 1;

	memset(&k, 0, sizeof(k));
	k.prefixlen = 96 + len;
	k.addr[10] = k.addr[11] = 0xff;
	inet_pton(AF_INET, v4, k.addr + 12);
	return !bpf_map_update_elem(fd, &k, &one, BPF_ANY);
}

static void map_clear(int fd, __u32 key_size)
{
	__u8 k[64], next[64];

	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(k, next, key_size);
		if (bpf_map_delete_elem(fd, k))
			break;
	}
}

/* Fresh maps: no requests, no counts; scope 10.0.0.0/8, trusting 10.0.0.0/24. */
static bool reset(void)
{
	map_clear(fd_out, sizeof(struct tw_tuple));
	map_clear(fd_in, sizeof(struct tw_tuple));
	map_clear(fd_scope, sizeof(struct tw_scope_key));
	map_clear(fd_trust, sizeof(struct tw_scope_key));
	CHECK(bt_pcount_reset(fd_cnt, TW_PC_MAX), "counters");
	CHECK(lpm_add(fd_scope, "10.0.0.0", 8), "prop_scope");
	CHECK(lpm_add(fd_trust, "10.0.0.0", 24), "trust_from");
	return true;
}

static bool put_request(const struct tw_tuple *t, __u32 seq)
{
	struct tw_wire_out wo;

	memset(&wo, 0, sizeof(wo));
	wo.seq = seq;
	wo.flags = 1;
	memcpy(wo.trace_id, TRACE_ID, 16);
	memcpy(wo.span_id, SPAN_ID, 8);
	return !bpf_map_update_elem(fd_out, t, &wo, BPF_ANY);
}

#define CLI "10.0.0.1"
#define SRV "10.0.0.2"
#define CPORT 40000
#define SPORT 8080
#define SEQ 0x89abcdefu /* test_from_pod_seq_range also crosses 2^32 */

static struct tw_tuple cli_tuple(void)
{
	return tuple(CLI, CPORT, SRV, SPORT);
}

/* from_pod's output for the request packet: the option inserted where
 * docs/wire-format.md says, everything else as it was. */
static bool check_inserted(const struct pkt *in, const struct pkt *out)
{
	__u8 opt[TW_IPOPT_ROOM];
	__u32 ihl = ihl_of(in);

	CHECK(out->len == in->len + TW_IPOPT_ROOM, "len %u, want %u", out->len, in->len + 32);
	CHECK(ihl_of(out) == ihl + TW_IPOPT_ROOM, "ihl %u, want %u", ihl_of(out), ihl + 32);
	CHECK(tot_of(out) == tot_of(in) + TW_IPOPT_ROOM, "tot_len %u", tot_of(out));
	CHECK(ip_csum_ok(out), "IPv4 header checksum invalid");
	CHECK(tcp_csum_ok(out), "TCP checksum invalid");
	CHECK(!memcmp(out->b, in->b, ETH_LEN), "Ethernet header changed");
	/* fixed header: all but ihl, tot_len and checksum as they were */
	CHECK(out->b[ETH_LEN + 1] == in->b[ETH_LEN + 1] &&
		      !memcmp(out->b + ETH_LEN + 4, in->b + ETH_LEN + 4, 6) &&
		      !memcmp(out->b + ETH_LEN + 12, in->b + ETH_LEN + 12, 8),
	      "fixed IPv4 header changed");
	tw_ipopt_encode(opt, TRACE_ID, SPAN_ID, 1);
	CHECK(!memcmp(out->b + ETH_LEN + 20, opt, TW_IPOPT_ROOM), "option bytes");
	/* the packet's own options follow ours */
	CHECK(!memcmp(out->b + ETH_LEN + 20 + TW_IPOPT_ROOM, in->b + ETH_LEN + 20, ihl - 20),
	      "packet's own options");
	CHECK(!memcmp(out->b + ETH_LEN + ihl + TW_IPOPT_ROOM, in->b + ETH_LEN + ihl,
		      in->len - ETH_LEN - ihl),
	      "TCP segment changed");
	return true;
}

/* ---- from_pod ------------------------------------------------------------- */

static bool test_from_pod_inserts(void)
{
	struct tw_tuple t = cli_tuple();
	struct tw_wire_out wo;
	struct pkt in, out;

	CHECK(reset(), "reset");
	CHECK(put_request(&t, SEQ), "wire_out");
	mkpkt(&in, CLI, SRV, CPORT, SPORT, SEQ, REQ, sizeof(REQ) - 1, NULL, 0);
	CHECK(ip_csum_ok(&in) && tcp_csum_ok(&in), "crafted packet's checksums");
	CHECK(run(prog_from, &in, &out), "run");
	CHECK(check_inserted(&in, &out), "inserted");
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_WRITTEN) == 1, "ipopt_written %llu",
	      (unsigned long long)bt_pcount(fd_cnt, TW_PC_IPOPT_WRITTEN));
	CHECK(!bpf_map_lookup_elem(fd_out, &t, &wo) && wo.ip_sent == 1, "ip_sent not set");
	return true;
}

/* The request's first byte anywhere in the payload: [seq, seq + payload). */
static bool test_from_pod_seq_range(void)
{
	struct tw_tuple t = cli_tuple();
	__u32 plen = sizeof(REQ) - 1;
	struct pkt in, out;
	struct {
		__u32 wseq;
		bool insert;
	} cases[] = {
		{ SEQ - 1, false },	   { SEQ, true },	 { SEQ + 1, true },
		{ SEQ + plen - 1, true }, { SEQ + plen, false }, { SEQ + 100000, false },
	};

	mkpkt(&in, CLI, SRV, CPORT, SPORT, SEQ, REQ, plen, NULL, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(reset(), "reset");
		CHECK(put_request(&t, cases[i].wseq), "wire_out");
		CHECK(run(prog_from, &in, &out), "run");
		if (cases[i].insert)
			CHECK(check_inserted(&in, &out), "seq %+d: not inserted",
			      (int)(cases[i].wseq - SEQ));
		else
			CHECK(same(&in, &out), "seq %+d: packet changed", (int)(cases[i].wseq - SEQ));
	}
	/* sequence numbers wrap: payload across 2^32 */
	mkpkt(&in, CLI, SRV, CPORT, SPORT, 0xfffffff0u, REQ, plen, NULL, 0);
	CHECK(reset(), "reset");
	CHECK(put_request(&t, 0x2), "wire_out");
	CHECK(run(prog_from, &in, &out), "run");
	CHECK(check_inserted(&in, &out), "across the wrap: not inserted");
	return true;
}

/* Not for other tuples, nor without wire_out, nor for a pure ACK. */
static bool test_from_pod_other_packets(void)
{
	struct tw_tuple t = cli_tuple();
	struct pkt in, out;

	CHECK(reset(), "reset");
	mkpkt(&in, CLI, SRV, CPORT, SPORT, SEQ, REQ, sizeof(REQ) - 1, NULL, 0);
	CHECK(run(prog_from, &in, &out) && same(&in, &out), "no wire_out: packet changed");
	CHECK(put_request(&t, SEQ), "wire_out");
	/* another connection: other client port, other server */
	mkpkt(&in, CLI, SRV, CPORT + 1, SPORT, SEQ, REQ, sizeof(REQ) - 1, NULL, 0);
	CHECK(run(prog_from, &in, &out) && same(&in, &out), "other port: changed");
	mkpkt(&in, CLI, "10.0.0.3", CPORT, SPORT, SEQ, REQ, sizeof(REQ) - 1, NULL, 0);
	CHECK(run(prog_from, &in, &out) && same(&in, &out), "other server: changed");
	/* the server's reply on the same connection (tuple reversed) */
	mkpkt(&in, SRV, CLI, SPORT, CPORT, SEQ, REQ, sizeof(REQ) - 1, NULL, 0);
	CHECK(run(prog_from, &in, &out) && same(&in, &out), "reverse direction: changed");
	/* a pure ACK carrying the request's sequence number */
	mkpkt(&in, CLI, SRV, CPORT, SPORT, SEQ, NULL, 0, NULL, 0);
	CHECK(run(prog_from, &in, &out) && same(&in, &out), "pure ACK: changed");
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_WRITTEN) == 0, "ipopt_written counted");
	return true;
}

/* Once per request: a retransmission of its first packet goes without. */
static bool test_from_pod_retransmit(void)
{
	struct tw_tuple t = cli_tuple();
	struct pkt in, out;

	CHECK(reset(), "reset");
	CHECK(put_request(&t, SEQ), "wire_out");
	mkpkt(&in, CLI, SRV, CPORT, SPORT, SEQ, REQ, sizeof(REQ) - 1, NULL, 0);
	CHECK(run(prog_from, &in, &out) && check_inserted(&in, &out), "first: not inserted");
	CHECK(run(prog_from, &in, &out) && same(&in, &out), "retransmission: changed");
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_WRITTEN) == 1, "ipopt_written");
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_RETRANSMIT) == 1, "ip_opt_retransmit %llu",
	      (unsigned long long)bt_pcount(fd_cnt, TW_PC_IPOPT_RETRANSMIT));
	/* the next request on the connection (sk_msg rewrote wire_out) gets one */
	CHECK(put_request(&t, SEQ + sizeof(REQ) - 1), "wire_out");
	mkpkt(&in, CLI, SRV, CPORT, SPORT, SEQ + sizeof(REQ) - 1, REQ, sizeof(REQ) - 1, NULL, 0);
	CHECK(run(prog_from, &in, &out) && check_inserted(&in, &out), "next request");
	return true;
}

/* A destination outside prop_scope never gets it, even with wire_out. */
static bool test_from_pod_out_of_scope(void)
{
	struct tw_tuple t = tuple(CLI, CPORT, "192.168.7.7", SPORT);
	struct pkt in, out;

	CHECK(reset(), "reset");
	CHECK(put_request(&t, SEQ), "wire_out");
	mkpkt(&in, CLI, "192.168.7.7", CPORT, SPORT, SEQ, REQ, sizeof(REQ) - 1, NULL, 0);
	CHECK(run(prog_from, &in, &out) && same(&in, &out), "out of scope: changed");
	return true;
}

/* Header room: options of the packet's own are kept behind ours; a header
 * with more than 8 bytes of them has no room (IHL 15 at most). */
static bool test_from_pod_header_room(void)
{
	static const __u8 opts4[4] = { 0x94, 0x04, 0x00, 0x00 }; /* Router Alert */
	static const __u8 opts8[8] = { 0x94, 0x04, 0x00, 0x00, 1, 1, 1, 0 };
	__u8 opts40[40], opts12[12];
	struct tw_tuple t = cli_tuple();
	struct pkt in, out;

	memset(opts40, TW_IPOPT_NOP, sizeof(opts40));
	opts40[39] = TW_IPOPT_EOL;
	memset(opts12, TW_IPOPT_NOP, sizeof(opts12));
	CHECK(reset(), "reset");
	CHECK(put_request(&t, SEQ), "wire_out");
	mkpkt(&in, CLI, SRV, CPORT, SPORT, SEQ, REQ, sizeof(REQ) - 1, opts4, 4);
	CHECK(run(prog_from, &in, &out) && check_inserted(&in, &out), "IHL 6: not inserted");
	CHECK(reset() && put_request(&t, SEQ), "reset");
	mkpkt(&in, CLI, SRV, CPORT, SPORT, SEQ, REQ, sizeof(REQ) - 1, opts8, 8);
	CHECK(run(prog_from, &in, &out) && check_inserted(&in, &out), "IHL 7: not inserted");
	CHECK(ihl_of(&out) == 60, "IHL 15 after insertion");
	CHECK(reset() && put_request(&t, SEQ), "reset");
	mkpkt(&in, CLI, SRV, CPORT, SPORT, SEQ, REQ, sizeof(REQ) - 1, opts12, 12);
	CHECK(run(prog_from, &in, &out) && same(&in, &out), "IHL 8: changed");
	mkpkt(&in, CLI, SRV, CPORT, SPORT, SEQ, REQ, sizeof(REQ) - 1, opts40, 40);
	CHECK(ihl_of(&in) == 60, "crafted IHL 15");
	CHECK(run(prog_from, &in, &out) && same(&in, &out), "IHL 15: changed");
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_NO_ROOM) == 2, "ipopt_no_room %llu",
	      (unsigned long long)bt_pcount(fd_cnt, TW_PC_IPOPT_NO_ROOM));
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_WRITTEN) == 0, "ipopt_written counted");
	return true;
}

/* bpf_check_mtu against the loopback device test_run puts the packet on
 * (MTU LO_MTU in this namespace): 32 bytes more must still fit. */
static bool test_from_pod_mtu(void)
{
	static __u8 body[LO_MTU];
	struct tw_tuple t = cli_tuple();
	__u32 fit = LO_MTU - 20 - 20 - TW_IPOPT_ROOM; /* payload that fits exactly */
	struct pkt in, out;

	memcpy(body, REQ, sizeof(REQ) - 1);
	CHECK(reset() && put_request(&t, SEQ), "reset");
	mkpkt(&in, CLI, SRV, CPORT, SPORT, SEQ, body, fit, NULL, 0);
	CHECK(run(prog_from, &in, &out) && check_inserted(&in, &out), "%u bytes: not inserted",
	      tot_of(&in));
	CHECK(tot_of(&out) == LO_MTU, "tot_len %u after insertion", tot_of(&out));
	CHECK(reset() && put_request(&t, SEQ), "reset");
	mkpkt(&in, CLI, SRV, CPORT, SPORT, SEQ, body, fit + 1, NULL, 0);
	CHECK(run(prog_from, &in, &out) && same(&in, &out), "%u bytes: changed", tot_of(&in));
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_NO_ROOM) == 1, "ipopt_no_room %llu",
	      (unsigned long long)bt_pcount(fd_cnt, TW_PC_IPOPT_NO_ROOM));
	CHECK(bt_pcount(fd_cnt, TW_PC_FAIL_OPEN) == 0, "fail_open counted");
	return true;
}

/* ---- to_pod and edge ------------------------------------------------------- */

/* The request packet with the option, as from_pod makes it. */
static bool with_option(struct pkt *orig, struct pkt *opt, const char *src, const char *dst)
{
	struct tw_tuple t = tuple(src, CPORT, dst, SPORT);

	CHECK(reset() && put_request(&t, SEQ), "reset");
	CHECK(lpm_add(fd_scope, dst, 32), "prop_scope");
	mkpkt(orig, src, dst, CPORT, SPORT, SEQ, REQ, sizeof(REQ) - 1, NULL, 0);
	CHECK(run(prog_from, orig, opt) && check_inserted(orig, opt), "from_pod");
	CHECK(reset(), "reset");
	return true;
}

static bool test_to_pod_trusted(void)
{
	struct tw_tuple srv = tuple(SRV, SPORT, CLI, CPORT);
	struct pkt orig, opt, out;
	struct tw_wire_in in;

	CHECK(with_option(&orig, &opt, CLI, SRV), "packet");
	CHECK(run(prog_to, &opt, &out), "run");
	CHECK(same(&orig, &out), "stripped packet differs from the original (len %u vs %u)",
	      out.len, orig.len);
	CHECK(!bpf_map_lookup_elem(fd_in, &srv, &in), "wire_in: no entry for the server tuple");
	CHECK(in.ip.valid == 1 && in.ip.flags == 1 && !memcmp(in.ip.trace_id, TRACE_ID, 16) &&
		      !memcmp(in.ip.span_id, SPAN_ID, 8),
	      "wire_in ids");
	CHECK(!in.tcp.valid, "wire_in tcp half filled");
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_READ) == 1, "ipopt_read");
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_STRIPPED) == 0, "ipopt_stripped counted");
	/* a packet without the option passes untouched */
	CHECK(run(prog_to, &orig, &out) && same(&orig, &out), "no option: changed");
	return true;
}

static bool test_to_pod_untrusted(void)
{
	struct tw_tuple srv = tuple(SRV, SPORT, "10.0.1.1", CPORT);
	struct pkt orig, opt, out;
	struct tw_wire_in in;

	/* 10.0.1.1 is in scope (10/8) but not trusted (10.0.0/24) */
	CHECK(with_option(&orig, &opt, "10.0.1.1", SRV), "packet");
	CHECK(run(prog_to, &opt, &out), "run");
	CHECK(same(&orig, &out), "untrusted: not stripped to the original");
	CHECK(bpf_map_lookup_elem(fd_in, &srv, &in), "wire_in filled for an untrusted peer");
	CHECK(bt_pcount(fd_cnt, TW_PC_OPT_UNTRUSTED) == 1, "opt_untrusted %llu",
	      (unsigned long long)bt_pcount(fd_cnt, TW_PC_OPT_UNTRUSTED));
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_STRIPPED) == 1, "ipopt_stripped");
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_READ) == 0, "ipopt_read counted");
	return true;
}

/* The option where another sender put it (not first, after its own
 * options): its bytes become NOPs, the header keeps its length. */
static bool test_to_pod_elsewhere(void)
{
	__u8 opts[36], ours[TW_IPOPT_ROOM];
	struct pkt in, out;

	tw_ipopt_encode(ours, TRACE_ID, SPAN_ID, 1);
	memcpy(opts, "\x94\x04\x00\x00", 4);
	memcpy(opts + 4, ours + 3, TW_IPOPT_LEN); /* type 0x9e at offset 4 */
	memset(opts + 4 + TW_IPOPT_LEN, TW_IPOPT_EOL, sizeof(opts) - 4 - TW_IPOPT_LEN);
	CHECK(reset(), "reset");
	mkpkt(&in, CLI, SRV, CPORT, SPORT, SEQ, REQ, sizeof(REQ) - 1, opts, sizeof(opts));
	CHECK(run(prog_to, &in, &out), "run");
	CHECK(out.len == in.len && ihl_of(&out) == ihl_of(&in), "length changed");
	CHECK(ip_csum_ok(&out), "IPv4 header checksum invalid");
	CHECK(!memcmp(out.b + ETH_LEN + 20, "\x94\x04\x00\x00", 4), "Router Alert moved");
	for (int i = 0; i < TW_IPOPT_LEN; i++)
		CHECK(out.b[ETH_LEN + 24 + i] == TW_IPOPT_NOP, "byte %d of the option kept", i);
	CHECK(!memcmp(out.b + ETH_LEN + ihl_of(&in), in.b + ETH_LEN + ihl_of(&in),
		      in.len - ETH_LEN - ihl_of(&in)),
	      "TCP segment changed");
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_READ) == 1, "ipopt_read");
	return true;
}

static bool test_edge(void)
{
	struct pkt orig, opt, out;

	/* leaving for a destination outside the scope: stripped */
	CHECK(with_option(&orig, &opt, CLI, "192.168.7.7"), "packet");
	CHECK(run(prog_edge, &opt, &out), "run");
	CHECK(same(&orig, &out), "edge, out of scope: not stripped to the original");
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_STRIPPED) == 1, "ipopt_stripped");
	/* inside it: kept */
	CHECK(with_option(&orig, &opt, CLI, SRV), "packet");
	CHECK(run(prog_edge, &opt, &out), "run");
	CHECK(same(&opt, &out), "edge, in scope: changed");
	CHECK(bt_pcount(fd_cnt, TW_PC_IPOPT_STRIPPED) == 0, "ipopt_stripped counted");
	/* no option: untouched */
	CHECK(run(prog_edge, &orig, &out) && same(&orig, &out), "no option: changed");
	return true;
}

/* ---- setup ------------------------------------------------------------------ */

static bool lo_mtu(int mtu)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	bool ok;

	if (s < 0)
		return false;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ifr.ifr_mtu = mtu;
	ok = !ioctl(s, SIOCSIFMTU, &ifr);
	close(s);
	return ok;
}

int main(void)
{
	static const struct bt_case cases[] = {
		{ "from_pod_inserts", test_from_pod_inserts },
		{ "from_pod_seq_range", test_from_pod_seq_range },
		{ "from_pod_other_packets", test_from_pod_other_packets },
		{ "from_pod_retransmit", test_from_pod_retransmit },
		{ "from_pod_out_of_scope", test_from_pod_out_of_scope },
		{ "from_pod_header_room", test_from_pod_header_room },
		{ "from_pod_mtu", test_from_pod_mtu },
		{ "to_pod_trusted", test_to_pod_trusted },
		{ "to_pod_untrusted", test_to_pod_untrusted },
		{ "to_pod_elsewhere", test_to_pod_elsewhere },
		{ "edge", test_edge },
	};
	int rc;

	if (geteuid() != 0) {
		fprintf(stderr, "test_ipopt: needs root (loads BPF programs)\n");
		return 1;
	}
	if (unshare(CLONE_NEWNET) || !lo_mtu(LO_MTU)) {
		fprintf(stderr, "test_ipopt: network namespace: %s\n", strerror(errno));
		return 1;
	}
	skel = ipopt_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "test_ipopt: loading ipopt.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	fd_out = bpf_map__fd(skel->maps.wire_out);
	fd_in = bpf_map__fd(skel->maps.wire_in);
	fd_scope = bpf_map__fd(skel->maps.prop_scope);
	fd_trust = bpf_map__fd(skel->maps.trust_from);
	fd_cnt = bpf_map__fd(skel->maps.prop_counters);
	prog_from = bpf_program__fd(skel->progs.tw_from_pod);
	prog_to = bpf_program__fd(skel->progs.tw_to_pod);
	prog_edge = bpf_program__fd(skel->progs.tw_edge);
	rc = bt_run("test_ipopt", cases, sizeof(cases) / sizeof(cases[0]));
	ipopt_bpf__destroy(skel);
	return rc;
}
