// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sock_ops (docs/propagation.md, docs/wire-format.md): client sockets of
 * selected processes (marked in "conns" by capture's connect tracepoint)
 * whose destination is in scope go into the SOCKHASH that headers.bpf.c's
 * sk_msg program watches, and are marked for the TLS uprobes; with the TCP
 * option on, the header-option callbacks write and read it (lib/tcpopt.h).
 * An object of its own: it owns the propagation maps (scope, trust,
 * counters, the sockhash) that the sk_msg and tc objects share.
 */
#include "lib/compat.h"
#include "lib/maps.h"
#include "lib/wire.h"
#include "lib/tcpopt.h"
#include "tracewire_event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TW_SOCKOPS_OK 1

const volatile __u8 any_port = 1;
/* --propagation tcp: write (and read) the TCP option */
const volatile __u8 wire_tcp = 0;
/* Set by user space once the sk_msg program watches the sockhash: before
 * that (or when it could not load) no socket is put there. */
__u8 headers_on = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16); /* host byte order */
	__type(value, __u8);
} prop_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock address */
	__type(value, __u64);
} client_socks SEC(".maps");

/* ---- sock_ops: which sockets ------------------------------------------- */

static __always_inline bool tw_dest_in_scope(struct bpf_sock_ops *skops)
{
	struct tw_tuple t;
	__u16 port;

	if (skops->family != AF_INET && skops->family != AF_INET6)
		return false;
	TW_TUPLE_OF_CTX(&t, skops);
	port = t.peer_port;
	if (!tw_addr_in(&prop_scope, t.family, t.peer_addr))
		return false;
	return any_port || bpf_map_lookup_elem(&prop_ports, &port);
}

/* A selected process's client socket is established: propagation's. */
static __always_inline void tw_sockops_client(struct bpf_sock_ops *skops)
{
	struct tw_conn_state *st;
	struct bpf_sock *sk = skops->sk;
	__u64 key;

	if (!sk)
		return;
	key = (__u64)sk;
	/* only sockets a selected process connect()ed */
	st = bpf_map_lookup_elem(&conns, &key);
	if (!st || st->role != TW_ROLE_CLIENT)
		return;
	if (!tw_dest_in_scope(skops)) {
		tw_pcount(TW_PC_SOCKS_OUT_OF_SCOPE);
		return;
	}
	if (headers_on) {
		if (bpf_sock_hash_update(skops, &client_socks, &key, BPF_NOEXIST)) {
			tw_pcount(TW_PC_SOCKHASH_FULL);
			return;
		}
		tw_pcount(TW_PC_SOCKS_ADDED);
	}
	/* the SSL_write uprobes (tls.bpf.c) choose ids for TLS requests on it */
	st->prop = 1;
	if (wire_tcp)
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
						 BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG);
}

SEC("sockops")
int tw_sockops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		tw_sockops_client(skops);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		/* the parse callback runs only for segments with options the
		 * kernel does not know: no cost for ordinary traffic */
		if (wire_tcp)
			bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
						 BPF_SOCK_OPS_PARSE_UNKNOWN_HDR_OPT_CB_FLAG);
		break;
	case BPF_SOCK_OPS_HDR_OPT_LEN_CB:
		if (wire_tcp)
			tw_opt_len(skops);
		break;
	case BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
		if (wire_tcp)
			tw_opt_write(skops);
		break;
	case BPF_SOCK_OPS_PARSE_HDR_OPT_CB:
		if (wire_tcp)
			tw_opt_parse(skops);
		break;
	}
	return TW_SOCKOPS_OK;
}
