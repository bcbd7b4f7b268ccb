// SPDX-License-Identifier: BSD-2-Clause
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "log.h"

static const char *const tracefs_roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };

static bool path_exists(const char *p)
{
	return access(p, F_OK) == 0;
}

bool tw_probe_tracepoint(const char *name)
{
	char path[512];

	for (size_t i = 0; i < sizeof(tracefs_roots) / sizeof(tracefs_roots[0]); i++) {
		snprintf(path, sizeof(path), "%s/events/%s", tracefs_roots[i], name);
		if (path_exists(path))
			return true;
	}
	return false;
}

int tw_ensure_tracefs(void)
{
	for (size_t i = 0; i < sizeof(tracefs_roots) / sizeof(tracefs_roots[0]); i++) {
		char events[256];

		snprintf(events, sizeof(events), "%s/events", tracefs_roots[i]);
		if (path_exists(events))
			return 0;
	}
	if (mount("tracefs", tracefs_roots[0], "tracefs", 0, NULL)) {
		int err = -errno;

		log_error("tracefs is not mounted and mounting it at %s failed: %s",
			  tracefs_roots[0], strerror(-err));
		return err;
	}
	log_info("mounted tracefs at %s", tracefs_roots[0]);
	return 0;
}

/* fentry needs a BTF id to attach to; the load itself is the probe. */
static int probe_fentry(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY);
	struct btf *btf = btf__load_vmlinux_btf();
	int id, fd;

	if (!btf)
		return -ENOENT;
	id = btf__find_by_name_kind(btf, "tcp_sendmsg", BTF_KIND_FUNC);
	btf__free(btf);
	if (id < 0)
		return id;
	opts.attach_btf_id = id;
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", insns, 2, &opts);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static const char *yesno(int ret)
{
	return ret > 0 ? "yes" : ret == 0 ? "no" : "no (probe failed)";
}

static void row(FILE *out, const char *hook, const char *available, const char *use)
{
	fprintf(out, "  %-40s %-22s %s\n", hook, available, use);
}

int tw_probe_report(FILE *out)
{
	static const char *const syscalls[] = {
		"read", "readv", "recvfrom", "recvmsg", "write", "writev", "sendto",
		"sendmsg", "sendfile64", "accept", "accept4", "connect", "close",
	};
	char name[128], avail[64];
	int missing = 0, r;

	fprintf(out, "tracewire feature probe (kernel hooks on this machine)\n\n");
	fprintf(out, "  %-40s %-22s %s\n", "hook", "available", "used by tracewire");

	r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT, NULL);
	row(out, "prog type tracepoint", yesno(r), "yes: HTTP capture");
	missing += r <= 0;
	for (size_t i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++) {
		const char *dirs[] = { "enter", "exit" };

		for (int d = 0; d < 2; d++) {
			snprintf(name, sizeof(name), "syscalls/sys_%s_%s", dirs[d], syscalls[i]);
			r = tw_probe_tracepoint(name);
			row(out, name, r ? "yes" : "no", "yes: HTTP capture");
			missing += !r;
		}
	}
	r = tw_probe_tracepoint("sock/inet_sock_set_state");
	row(out, "sock/inet_sock_set_state", r ? "yes" : "no", "yes: socket end");
	missing += !r;
	r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL);
	row(out, "map ringbuf", yesno(r), "yes: kernel -> daemon records");
	missing += r <= 0;
	r = path_exists("/sys/kernel/btf/vmlinux");
	row(out, "BTF /sys/kernel/btf/vmlinux", r ? "yes" : "no", "yes: CO-RE socket walk");
	missing += !r;

	r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, NULL);
	row(out, "prog type raw_tp / tp_btf", yesno(r), "not yet");
	r = path_exists("/sys/kernel/tracing/kprobe_events") ||
	    path_exists("/sys/kernel/debug/tracing/kprobe_events");
	row(out, "kprobes (tracefs kprobe_events)", r ? "yes" : "no", "no: tracepoints suffice");
	r = probe_fentry();
	snprintf(avail, sizeof(avail), "%s", r == 0 ? "yes" : r == -EPERM ? "no (EPERM)" : "no");
	row(out, "fentry/fexit", avail, "no: tracepoints suffice");
	r = path_exists("/sys/bus/event_source/devices/uprobe/type");
	row(out, "uprobes", r ? "yes" : "no", "not yet (Go goroutines)");
	r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCK_OPS, NULL);
	row(out, "prog type sock_ops", yesno(r), "yes: client sockets to propagate on");
	r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_MSG, NULL);
	row(out, "prog type sk_msg", yesno(r), "yes: traceparent injection");
	r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKHASH, NULL);
	row(out, "map sockhash", yesno(r), "yes: propagation");
	r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SK_STORAGE, NULL);
	row(out, "map sk_storage", yesno(r), "yes: per-socket HTTP framing");
	r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_SK_MSG, BPF_FUNC_msg_push_data, NULL);
	row(out, "helper bpf_msg_push_data", yesno(r), "yes: traceparent injection");
	r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, NULL);
	row(out, "prog type sched_cls (tc)", yesno(r), "not yet (IP options)");
	r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SKB, NULL);
	row(out, "prog type cgroup_skb", yesno(r), "no");
	r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_probe_write_user, NULL);
	row(out, "helper bpf_probe_write_user", yesno(r), "never (writes user memory)");

	fprintf(out, "\n%s\n", missing ? "MISSING: some hooks HTTP capture needs are absent (see above)"
				       : "all hooks HTTP capture needs are present");
	return missing ? -ENOENT : 0;
}
