/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which processes are traced. Checked as the very first thing in every entry
 * program so unselected processes pay one compare (no selectors), a cached
 * verdict for their cgroup (cgroups given) or a few map lookups (pids,
 * command names).
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

/* Bumped by user space after every change of selected_cgroups
 * (injector/capture.c, podsel.c): the verdicts in sel_cache before it are
 * stale. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sel_gen SEC(".maps");

/*
 * The last cgroups' verdicts on this CPU, by the task's own cgroup id: the
 * verdict depends on nothing else (a cgroup's ancestors never change; a
 * task moved to another cgroup has another id). bench/results/kernel-cost.md:
 * the selected_cgroups lookup was about half of what every unselected read
 * or write paid; a hit costs a helper and two array lookups. Direct-mapped:
 * the processes that take turns on a CPU (a client and its server) have
 * neighbouring ids. One word per verdict, (generation, verdict) mixed with
 * the cgroup id, so a program preempted half-way through writing one (the
 * programs run preemptible) cannot leave a torn or another cgroup's verdict
 * that reads as valid.
 */
#define TW_SEL_CACHE 8

struct tw_sel_cache {
	__u64 v[TW_SEL_CACHE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_sel_cache);
} sel_cache SEC(".maps");

static __always_inline __u64 tw_sel_mix(__u64 x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static __always_inline bool tw_cgroup_lookup(void)
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

static __always_inline bool tw_cgroup_selected(void)
{
	__u64 cgid = bpf_get_current_cgroup_id(), *genp, *slot, tag, x;
	struct tw_sel_cache *c;
	__u32 zero = 0;
	bool sel;

	genp = bpf_map_lookup_elem(&sel_gen, &zero);
	c = bpf_map_lookup_elem(&sel_cache, &zero);
	if (!genp || !c)
		return tw_cgroup_lookup();
	slot = &c->v[cgid & (TW_SEL_CACHE - 1)];
	/* the slot's word for "not selected" (for "selected": ^ 1). The
	 * generation is read before the lookup: a change made during it leaves
	 * a verdict that the next call sees as stale; + 1: an empty slot holds
	 * no verdict. */
	tag = ((*genp + 1) << 1) ^ tw_sel_mix(cgid);
	x = *slot ^ tag;
	if (x <= 1)
		return x;
	sel = tw_cgroup_lookup();
	*slot = tag ^ sel;
	return sel;
}

/* Unselected processes (every other process on the node, at each read and
 * write) pay only the cgroup's verdict: the pid comes after it. */
static __always_inline bool tw_selected(void)
{
	__u32 tgid;

	if (!select_all) {
		bool sel = select_by_cgroup && tw_cgroup_selected();

		if (!sel && select_by_pid) {
			tgid = bpf_get_current_pid_tgid() >> 32;
			sel = bpf_map_lookup_elem(&selected_pids, &tgid);
		}
		if (!sel && select_by_comm) {
			char comm[TW_COMM_LEN] = {};

			bpf_get_current_comm(comm, sizeof(comm));
			sel = bpf_map_lookup_elem(&selected_comms, comm);
		}
		if (!sel)
			return false;
	}
	tgid = bpf_get_current_pid_tgid() >> 32;
	return tgid != self_tgid;
}

#endif
