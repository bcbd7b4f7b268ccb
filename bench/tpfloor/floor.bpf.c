// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor under tracewire's syscall exit program (bench/tracepoint-floor.sh):
 * programs that do nothing, or only one of the first steps of the selection
 * check (bpf/lib/select.h), on the same tracepoints. Their bpf_stats ns per
 * call, next to tw_exit_io's for the same unselected syscalls, say which part
 * of its cost is the program run itself and which part is its work.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/select.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TP SEC("tracepoint/syscalls/sys_exit_read")

TP int f0_empty(struct trace_event_raw_sys_exit *ctx)
{
	return 0;
}

TP int f1_pid(struct trace_event_raw_sys_exit *ctx)
{
	return (bpf_get_current_pid_tgid() >> 32) == self_tgid;
}

TP int f2_cgroup_id(struct trace_event_raw_sys_exit *ctx)
{
	return bpf_get_current_cgroup_id() == 1;
}

/* the selection check before the verdict cache: an ancestor's id and a
 * selected_cgroups lookup per selected level */
TP int f3_lookup(struct trace_event_raw_sys_exit *ctx)
{
	return ctx->ret > 0 && (bpf_get_current_pid_tgid() >> 32) != self_tgid &&
	       tw_cgroup_lookup();
}

/* the selection check as tw_exit_io makes it now */
TP int f4_selected(struct trace_event_raw_sys_exit *ctx)
{
	return ctx->ret > 0 && tw_selected();
}
