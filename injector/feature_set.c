// SPDX-License-Identifier: BSD-2-Clause
#include "feature_set.h"

#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "log.h"

static const char *const names[TW_FEATURE_MAX] = {
	[TW_FEATURE_CAPTURE] = "capture",       [TW_FEATURE_TLS] = "tls",
	[TW_FEATURE_HEADERS] = "headers",       [TW_FEATURE_SOCKOPS] = "sockops",
	[TW_FEATURE_IP_OPTION] = "ip-option",   [TW_FEATURE_GO] = "go",
	[TW_FEATURE_H2_HEADERS] = "h2-headers",
};

const char *tw_feature_name(enum tw_feature f)
{
	return f < TW_FEATURE_MAX ? names[f] : "?";
}

int tw_feature_parse(const char *name)
{
	for (int f = 0; f < TW_FEATURE_MAX; f++)
		if (!strcmp(name, names[f]))
			return f;
	return -1;
}

/* Is name one of the comma-separated words of list? */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && !strncmp(p, name, n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

bool tw_fault_injected(enum tw_feature f)
{
	return listed(getenv("TRACEWIRE_FAULT_INJECT"), tw_feature_name(f));
}

bool tw_fault_listed(const char *name)
{
	return listed(getenv("TRACEWIRE_FAULT_INJECT"), name);
}

void tw_fault_inject(struct bpf_object *obj, enum tw_feature f)
{
	struct bpf_program *prog;

	if (!tw_fault_injected(f))
		return;
	log_warn("%s: TRACEWIRE_FAULT_INJECT: its programs are made to fail the verifier",
		 tw_feature_name(f));
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_type(prog, BPF_PROG_TYPE_SOCKET_FILTER);
}
