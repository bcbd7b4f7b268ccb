/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which processes are traced. Checked as the very first thing in every entry
 * program so unselected processes pay one compare (no selectors) or a few map
 * lookups (selectors given).
 */
#ifndef TW_BPF_SELECT_H
#define TW_BPF_SELECT_H

#include "compat.h"
#include "tracewire_event.h"

#define TW_CGROUP_LEVELS 32

/* Set by user space before load (rodata). */
const volatile __u32 self_tgid = 0;
const volatile __u8 select_all = 1;
const volatile __u8 select_by_pid = 0;
const volatile __u8 select_by_cgroup = 0;
const volatile __u8 select_by_comm = 0;
/* Bit n set: some selected cgroup sits at depth n of the cgroup2 tree, so only
 * those ancestor levels of the current task need a lookup. */
const volatile __u32 cgroup_levels = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} selected_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} selected_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[TW_COMM_LEN]);
	__type(value, __u8);
} selected_comms SEC(".maps");

static __always_inline bool tw_cgroup_selected(void)
{
	for (int level = 0; level < TW_CGROUP_LEVELS; level++) {
		__u64 id;

		if (!(cgroup_levels & (1u << level)))
			continue;
		id = bpf_get_current_ancestor_cgroup_id(level);
		if (!id)
			break; /* task is shallower than this level */
		if (bpf_map_lookup_elem(&selected_cgroups, &id))
			return true;
	}
	return false;
}

static __always_inline bool tw_selected(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (tgid == self_tgid)
		return false;
	if (select_all)
		return true;
	if (select_by_pid && bpf_map_lookup_elem(&selected_pids, &tgid))
		return true;
	if (select_by_cgroup && tw_cgroup_selected())
		return true;
	if (select_by_comm) {
		char comm[TW_COMM_LEN] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		if (bpf_map_lookup_elem(&selected_comms, comm))
			return true;
	}
	return false;
}

#endif
