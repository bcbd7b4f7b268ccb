/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the propagation units share: the scope and trust tries, the
 * propagation counters, and building wire-map keys. sockops.bpf.c owns
 * these maps; the tc object declares the same definitions and user space
 * hands it propagate's fds before load (bpf_map__reuse_fd).
 */
#ifndef TW_BPF_WIRE_H
#define TW_BPF_WIRE_H

#include "compat.h"
#include "tracewire_event.h"
#include "tracewire_wire.h"

/* Destinations trace context may be sent to (--propagate-to). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tw_scope_key);
	__type(value, __u8);
} prop_scope SEC(".maps");

/* Peers whose TCP/IPv4 options are believed (--trust-from). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tw_scope_key);
	__type(value, __u8);
} trust_from SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TW_PC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} prop_counters SEC(".maps");

/* Scratch memory of the tc programs (bpf/ipopt.bpf.c): the IPv4 header they
 * read and rebuild and the ids they find, off the 512-byte stack. Declared
 * here with the other maps because user space gives the tc object every
 * map of it from the propagation object's; no other program uses it. Safe
 * per CPU: a tc program runs to its end with bottom halves off. */
#define TW_TC_SCRATCH_SIZE 256
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	/* sizes, no BTF types: the kernel takes a key type only with a value type */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, TW_TC_SCRATCH_SIZE);
} tc_scratch SEC(".maps");

static __always_inline void tw_pcount(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&prop_counters, &idx);

	if (v)
		*v += 1;
}

/* LPM key of an address in tw_tuple form (IPv4 in the first 4 bytes). */
static __always_inline void tw_scope_key_of(struct tw_scope_key *key, __u8 family,
					    const __u8 *addr)
{
	key->prefixlen = 128;
	if (family == AF_INET) {
		__builtin_memset(key->addr, 0, 10);
		key->addr[10] = 0xff;
		key->addr[11] = 0xff;
		__builtin_memcpy(&key->addr[12], addr, 4);
	} else {
		__builtin_memcpy(key->addr, addr, 16);
	}
}

static __always_inline bool tw_addr_in(void *lpm, __u8 family, const __u8 *addr)
{
	struct tw_scope_key key;

	tw_scope_key_of(&key, family, addr);
	return bpf_map_lookup_elem(lpm, &key) != NULL;
}

/* The (normalised) tuple of a sock_ops or sk_msg socket, the wire maps'
 * key: both contexts name the fields alike. remote_port is in network order
 * in the upper half, local_port in host order. */
#define TW_TUPLE_OF_CTX(t, c)                                                          \
	do {                                                                           \
		/* every field loaded before any branch: the compiler must not      \
		 * merge loads of different ctx offsets into one pointer, which     \
		 * the verifier refuses ("modified ctx ptr") */                     \
		__u32 fam_ = (c)->family, lp_ = (c)->local_port, rp_ = (c)->remote_port; \
		__u32 l4_ = (c)->local_ip4, r4_ = (c)->remote_ip4;                     \
		__u32 l6_[4] = { (c)->local_ip6[0], (c)->local_ip6[1],                 \
				 (c)->local_ip6[2], (c)->local_ip6[3] };               \
		__u32 r6_[4] = { (c)->remote_ip6[0], (c)->remote_ip6[1],               \
				 (c)->remote_ip6[2], (c)->remote_ip6[3] };             \
		__builtin_memset((t), 0, sizeof(*(t)));                                 \
		(t)->family = fam_;                                                    \
		(t)->local_port = lp_;                                                 \
		(t)->peer_port = bpf_ntohl(rp_);                                       \
		if (fam_ == AF_INET) {                                                 \
			__builtin_memcpy((t)->local_addr, &l4_, 4);                    \
			__builtin_memcpy((t)->peer_addr, &r4_, 4);                     \
		} else {                                                               \
			__builtin_memcpy((t)->local_addr, l6_, 16);                    \
			__builtin_memcpy((t)->peer_addr, r6_, 16);                     \
		}                                                                      \
		tw_tuple_normalize(t);                                                 \
	} while (0)

#endif
