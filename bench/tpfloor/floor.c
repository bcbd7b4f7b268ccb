// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * floor CGROUP_ID LEVEL PROG...: loads floor.bpf.o's PROGs with a selection of
 * the cgroup CGROUP_ID (at depth LEVEL of the cgroup2 tree), attaches each to
 * the data-syscall exits tracewire's tw_exit_io runs on, prints "attached"
 * and holds them until its standard input closes.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "floor.skel.h"

static const char *const tps[] = { "sys_exit_read",   "sys_exit_readv",   "sys_exit_recvfrom",
				   "sys_exit_recvmsg", "sys_exit_write",   "sys_exit_writev",
				   "sys_exit_sendto",  "sys_exit_sendmsg", "sys_exit_sendfile64" };

int main(int argc, char **argv)
{
	struct floor_bpf *s;
	struct bpf_program *p;
	__u64 id;
	__u8 one = 1;
	char c;

	if (argc < 4) {
		fprintf(stderr, "usage: floor CGROUP_ID LEVEL PROG...\n");
		return 2;
	}
	id = strtoull(argv[1], NULL, 0);
	s = floor_bpf__open();
	if (!s)
		return 1;
	s->rodata->select_all = 0;
	s->rodata->select_by_cgroup = 1;
	s->rodata->cgroup_levels = 1u << atoi(argv[2]);
	s->rodata->self_tgid = getpid();
	bpf_object__for_each_program(p, s->obj) {
		bool want = false;

		for (int i = 3; i < argc; i++)
			want |= !strcmp(argv[i], bpf_program__name(p));
		bpf_program__set_autoload(p, want);
	}
	if (floor_bpf__load(s) ||
	    bpf_map__update_elem(s->maps.selected_cgroups, &id, sizeof(id), &one, sizeof(one), 0)) {
		perror("floor: load");
		return 1;
	}
	bpf_object__for_each_program(p, s->obj) {
		if (!bpf_program__autoload(p))
			continue;
		for (size_t i = 0; i < sizeof(tps) / sizeof(tps[0]); i++)
			if (!bpf_program__attach_tracepoint(p, "syscalls", tps[i])) {
				perror("floor: attach");
				return 1;
			}
	}
	printf("attached\n");
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	floor_bpf__destroy(s);
	return 0;
}
