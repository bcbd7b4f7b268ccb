// SPDX-License-Identifier: BSD-2-Clause
#include "scope.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const struct tw_cidr default_scope[] = {
	{ .family = AF_INET, .prefixlen = 8, .addr = { 127 } },
	{ .family = AF_INET6, .prefixlen = 128, .addr = { [15] = 1 } },
	{ .family = AF_INET, .prefixlen = 8, .addr = { 10 } },
	{ .family = AF_INET, .prefixlen = 12, .addr = { 172, 16 } },
	{ .family = AF_INET, .prefixlen = 16, .addr = { 192, 168 } },
	{ .family = AF_INET, .prefixlen = 15, .addr = { 198, 18 } },
	{ .family = AF_INET, .prefixlen = 10, .addr = { 100, 64 } },
	{ .family = AF_INET6, .prefixlen = 7, .addr = { 0xfc } },
};

const struct tw_cidr *tw_scope_default(size_t *n)
{
	*n = sizeof(default_scope) / sizeof(default_scope[0]);
	return default_scope;
}

static unsigned addr_bits(const struct tw_cidr *c)
{
	return c->family == AF_INET ? 32 : 128;
}

/* True when any bit at or after position prefixlen is set. */
static int host_bits_set(const struct tw_cidr *c)
{
	unsigned bytes = addr_bits(c) / 8;

	for (unsigned i = c->prefixlen / 8; i < bytes; i++) {
		uint8_t keep = 0;

		if (i == c->prefixlen / 8U)
			keep = (uint8_t)(0xff00u >> (c->prefixlen % 8));
		if (c->addr[i] & ~keep)
			return 1;
	}
	return 0;
}

void tw_cidr_network(struct tw_cidr *c)
{
	unsigned bytes = addr_bits(c) / 8;

	for (unsigned i = c->prefixlen / 8; i < bytes; i++) {
		uint8_t keep = 0;

		if (i == c->prefixlen / 8U)
			keep = (uint8_t)(0xff00u >> (c->prefixlen % 8));
		c->addr[i] &= keep;
	}
}

int tw_cidr_parse(const char *s, struct tw_cidr *out)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t host_len = slash ? (size_t)(slash - s) : strlen(s);
	unsigned len = 0;

	memset(out, 0, sizeof(*out));
	if (!host_len || host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, host_len);
	host[host_len] = '\0';
	/* inet_pton is strict: dotted quad only (no "10.1", no octal), no
	 * IPv6 zone ids -- a scope must name addresses, not interfaces. */
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -EINVAL;

	if (!slash) {
		out->prefixlen = addr_bits(out);
		return 0;
	}
	/* Plain decimal, at most three digits: "/", "/+8", "/8x" and "/ 8" are
	 * typos rather than prefixes and must not be read as /0 or /8. */
	if (!slash[1] || strlen(slash + 1) > 3)
		return -EINVAL;
	for (const char *p = slash + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		len = len * 10 + (unsigned)(*p - '0');
	}
	if (len > addr_bits(out))
		return -ERANGE;
	out->prefixlen = (uint8_t)len;
	if (host_bits_set(out))
		return -EDOM;
	return 0;
}

void tw_cidr_format(const struct tw_cidr *c, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (!inet_ntop(c->family, c->addr, host, sizeof(host)))
		snprintf(host, sizeof(host), "?");
	snprintf(buf, len, "%s/%u", host, c->prefixlen);
}

void tw_cidr_to_key(const struct tw_cidr *c, struct tw_scope_key *key)
{
	memset(key, 0, sizeof(*key));
	if (c->family == AF_INET) {
		key->addr[10] = 0xff;
		key->addr[11] = 0xff;
		memcpy(&key->addr[12], c->addr, 4);
		key->prefixlen = c->prefixlen + 96u;
	} else {
		memcpy(key->addr, c->addr, 16);
		key->prefixlen = c->prefixlen;
	}
}
