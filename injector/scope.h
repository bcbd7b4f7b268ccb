/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Propagation scope: the destination networks (--propagate-to CIDR) whose
 * client sockets get trace context injected, and their form as keys of the
 * kernel's "prop_scope" LPM trie (struct tw_scope_key).
 */
#ifndef TW_SCOPE_H
#define TW_SCOPE_H

#include <stddef.h>
#include <stdint.h>

#include "tracewire_event.h"

/* Longest text tw_cidr_format() writes: an IPv6 address, '/', "128", NUL. */
#define TW_CIDR_STRLEN (46 + 4 + 1)

struct tw_cidr {
	uint8_t addr[16];  /* network byte order; IPv4 in the first 4 bytes (as tw_tuple) */
	uint8_t family;    /* AF_INET or AF_INET6 */
	uint8_t prefixlen; /* 0..32 for AF_INET, 0..128 for AF_INET6 */
};

/*
 * "a.b.c.d/len", "a.b.c.d" (= /32), "x::y/len" or "x::y" (= /128) into out.
 * Returns 0; -EINVAL when it is no address or prefix length at all; -ERANGE
 * when the prefix length exceeds 32 (IPv4) or 128 (IPv6); -EDOM when bits
 * beyond the prefix are set (10.1.2.3/8): the user most likely meant a host
 * or a different network, and silently masking would widen or move the scope
 * behind their back. On -EDOM out holds the parsed value, so the caller can
 * name the network meant (tw_cidr_network()).
 */
int tw_cidr_parse(const char *s, struct tw_cidr *out);

/* Clears the bits beyond the prefix: 10.1.2.3/8 -> 10.0.0.0/8. */
void tw_cidr_network(struct tw_cidr *c);

/* "10.0.0.0/8", "fc00::/7" into buf (TW_CIDR_STRLEN is always enough). */
void tw_cidr_format(const struct tw_cidr *c, char *buf, size_t len);

/* LPM trie key: IPv6 as it is; IPv4 a.b.c.d/len as ::ffff:a.b.c.d/(len + 96),
 * the form the kernel side looks IPv4 destinations up in. */
void tw_cidr_to_key(const struct tw_cidr *c, struct tw_scope_key *key);

/*
 * The scope when no --propagate-to is given: loopback, RFC 1918, the
 * benchmarking range 198.18.0.0/15, carrier-grade NAT 100.64.0.0/10 and IPv6
 * unique-local fc00::/7 -- the addresses services in one cluster or host talk
 * to each other on. Public destinations are left out so trace ids do not leak
 * to third parties by default. Sets *n to the number of entries.
 */
const struct tw_cidr *tw_scope_default(size_t *n);

#endif
