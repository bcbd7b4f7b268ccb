// SPDX-License-Identifier: BSD-2-Clause
/* traceparent parsing (see tracectx.h): the kernel's parser,
 * include/tw_tracecontext.h, behind the correlator's API. */
#include "tracectx.h"

#include <errno.h>
#include <string.h>

int tw_traceparent_parse_str(const char *v, size_t len, struct tw_traceparent_val *out)
{
	struct tw_traceparent tp;
	/* only len > 55 matters beyond 55: clamping keeps every verdict */
	__u32 n = len > UINT32_MAX ? UINT32_MAX : (__u32)len;

	if (!v || !out)
		return -EINVAL;
	if (!tw_traceparent_parse((const __u8 *)v, n, &tp))
		return -EINVAL;
	_Static_assert(sizeof(out->trace_id) == sizeof(tp.trace_id), "trace-id size");
	_Static_assert(sizeof(out->parent_id) == sizeof(tp.parent_id), "parent-id size");
	memcpy(out->trace_id, tp.trace_id, sizeof(out->trace_id));
	memcpy(out->parent_id, tp.parent_id, sizeof(out->parent_id));
	out->flags = tp.flags;
	out->version = tp.version;
	return 0;
}
