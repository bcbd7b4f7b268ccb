// SPDX-License-Identifier: BSD-2-Clause
#include "privileges.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define CAP_SYS_ADMIN_BIT 21
#define CAP_SYS_PTRACE_BIT 19
#define CAP_PERFMON_BIT 38
#define CAP_BPF_BIT 39

static uint64_t effective_caps(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long caps = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return caps;
}

bool tw_missing_privileges(char *buf, size_t len)
{
	uint64_t caps = effective_caps();
	bool admin = caps & (1ull << CAP_SYS_ADMIN_BIT);
	size_t off = 0;

	buf[0] = '\0';
	/* CAP_SYS_ADMIN implies the BPF and perf rights on every kernel. */
	if (!admin && !(caps & (1ull << CAP_BPF_BIT)))
		off += snprintf(buf + off, len - off, "CAP_BPF");
	if (!admin && !(caps & (1ull << CAP_PERFMON_BIT)) && off < len)
		off += snprintf(buf + off, len - off, "%sCAP_PERFMON", off ? ", " : "");
	return off > 0;
}

bool tw_missing_ptrace(void)
{
	return !(effective_caps() & (1ull << CAP_SYS_PTRACE_BIT));
}
