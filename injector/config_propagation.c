// SPDX-License-Identifier: BSD-2-Clause
/*
 * Trace-context propagation options: --propagation, its scope
 * (--propagate-to, --propagate-port) and trust (--trust-from), the tc
 * interfaces, the LPM keys and sampling threshold the kernel gets, and the
 * description the daemon logs at start.
 */
#include "config_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "tracewire_wire.h"

uint64_t tw_sample_threshold(double ratio)
{
	const double span = 4294967296.0; /* 2^32: one more than any u32 */

	if (!(ratio > 0)) /* also NaN */
		return 0;
	if (ratio >= 1)
		return 1ull << 32;
	return (uint64_t)(ratio * span + 0.5);
}

/*
 * "headers", "none" or a comma-separated list of modes. A list so that
 * "headers,tcp" keeps working once more carriers exist. "none" never with a
 * mode, since "none,headers" says two contradicting things.
 */
int tw_config_parse_propagation(const char *list, unsigned *out)
{
	char buf[64], *save = NULL, *tok;
	bool none = false;
	unsigned modes = 0;

	if (strlen(list) >= sizeof(buf))
		return tw_usage_error("--propagation: expected a list of headers, tcp, ip, or all, or none; got '%s'",
				      list);
	strcpy(buf, list);
	/* strtok_r would skip empty items: "headers,,": reject them instead */
	if (!*list || list[0] == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,"))
		return tw_usage_error("--propagation: empty item in '%s'", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "headers"))
			modes |= TW_PROP_HEADERS;
		else if (!strcmp(tok, "tcp"))
			modes |= TW_PROP_TCP;
		else if (!strcmp(tok, "ip"))
			modes |= TW_PROP_IP;
		else if (!strcmp(tok, "all"))
			modes |= TW_PROP_ALL;
		else if (!strcmp(tok, "none"))
			none = true;
		else
			return tw_usage_error("--propagation: expected a list of headers, tcp, ip, or all, or none; got '%s'",
					      tok);
	}
	if (none && modes)
		return tw_usage_error("--propagation %s: none cannot be combined with other modes", list);
	*out = none ? TW_PROP_NONE : modes;
	return 0;
}

int tw_config_add_cidr(const char *opt, struct tw_cidr *list, size_t *n, const char *arg)
{
	struct tw_cidr c;
	char net[TW_CIDR_STRLEN];
	int err;

	if (*n == TW_MAX_SCOPE)
		return tw_usage_error("too many %s options (at most %d): %s", opt, TW_MAX_SCOPE, arg);
	err = tw_cidr_parse(arg, &c);
	if (err == -ERANGE)
		return tw_usage_error("%s %s: prefix length above %d", opt, arg,
				      c.family == AF_INET ? 32 : 128);
	if (err == -EDOM) {
		/* Name the network they probably meant: masking it silently
		 * would change the scope from what was typed. */
		tw_cidr_network(&c);
		tw_cidr_format(&c, net, sizeof(net));
		return tw_usage_error("%s %s: host bits set beyond the /%u prefix (the network is %s; for a single address leave out the /%u)",
				      opt, arg, c.prefixlen, net, c.prefixlen);
	}
	if (err)
		return tw_usage_error("%s: expected a.b.c.d/len, x::y/len or an address, got '%s'", opt, arg);
	list[(*n)++] = c;
	return 0;
}

int tw_config_add_iface_pattern(const char *opt, char (*list)[TW_IFACE_PATTERN_LEN], size_t *n,
				const char *arg)
{
	if (*n == TW_MAX_IFACE_PATTERNS)
		return tw_usage_error("too many %s options (at most %d): %s", opt, TW_MAX_IFACE_PATTERNS,
				      arg);
	if (!*arg || strlen(arg) >= TW_IFACE_PATTERN_LEN)
		return tw_usage_error("%s: expected an interface name pattern of 1 to %d characters, got '%s'",
				      opt, TW_IFACE_PATTERN_LEN - 1, arg);
	strcpy(list[(*n)++], arg);
	return 0;
}

size_t tw_trust_keys(const struct tw_config *cfg, struct tw_scope_key *out, size_t max)
{
	size_t i;

	if (!cfg->n_trust_from)
		return tw_scope_keys(cfg, out, max);
	for (i = 0; i < cfg->n_trust_from && i < max; i++)
		tw_cidr_to_key(&cfg->trust_from[i], &out[i]);
	return i;
}

size_t tw_scope_keys(const struct tw_config *cfg, struct tw_scope_key *out, size_t max)
{
	const struct tw_cidr *scope = cfg->propagate_to;
	size_t n = cfg->n_propagate_to, i;

	if (!n)
		scope = tw_scope_default(&n);
	for (i = 0; i < n && i < max; i++)
		tw_cidr_to_key(&scope[i], &out[i]);
	return i;
}

void tw_config_describe_propagation(const struct tw_config *cfg, char *buf, size_t len)
{
	const struct tw_cidr *scope = cfg->propagate_to;
	size_t n = cfg->n_propagate_to, off = 0;
	char net[TW_CIDR_STRLEN];

	buf[0] = '\0';
#define APPEND(...)                                                          \
	do {                                                                 \
		if (off < len)                                               \
			off += snprintf(buf + off, len - off, __VA_ARGS__); \
	} while (0)
	if (cfg->propagation == TW_PROP_NONE) {
		/* Sampling still applies: new traces start in the kernel
		 * whether or not their context travels on. */
		APPEND("off (--propagation none); sample ratio %g", cfg->sample_ratio);
		return;
	}
	if (!n)
		scope = tw_scope_default(&n);
	APPEND("%s%s%s%s to ", cfg->propagation & TW_PROP_HEADERS ? "headers" : "",
	       cfg->propagation & TW_PROP_TCP ? (cfg->propagation & TW_PROP_HEADERS ? ",tcp" : "tcp") : "",
	       cfg->propagation & TW_PROP_TCP ? (cfg->tcp_option_kind == TW_TCPOPT_OBI ? " (option kind 25)" : " (option kind 253)") : "",
	       cfg->propagation & TW_PROP_IP ? ((cfg->propagation & (TW_PROP_HEADERS | TW_PROP_TCP)) ? ",ip" : "ip") : "");
	for (size_t i = 0; i < n; i++) {
		tw_cidr_format(&scope[i], net, sizeof(net));
		APPEND("%s%s", i ? ", " : "", net);
	}
	if (!cfg->n_propagate_to)
		APPEND(" (default scope)");
	APPEND("; ports ");
	if (!cfg->n_propagate_ports)
		APPEND("any");
	for (size_t i = 0; i < cfg->n_propagate_ports; i++)
		APPEND("%s%u", i ? ", " : "", cfg->propagate_ports[i]);
	APPEND("; sample ratio %g", cfg->sample_ratio);
	if (cfg->propagation & (TW_PROP_TCP | TW_PROP_IP)) {
		APPEND("; options trusted from ");
		if (!cfg->n_trust_from)
			APPEND("the scope");
		for (size_t i = 0; i < cfg->n_trust_from; i++) {
			tw_cidr_format(&cfg->trust_from[i], net, sizeof(net));
			APPEND("%s%s", i ? ", " : "", net);
		}
	}
	if (cfg->propagation & TW_PROP_IP) {
		APPEND("; tc on ");
		for (size_t i = 0; i < cfg->n_tc_ifaces; i++)
			APPEND("%s%s", i ? ", " : "", cfg->tc_ifaces[i]);
		for (size_t i = 0; i < cfg->n_tc_edge_ifaces; i++)
			APPEND("%s%s (edge)", ", ", cfg->tc_edge_ifaces[i]);
	}
#undef APPEND
}
