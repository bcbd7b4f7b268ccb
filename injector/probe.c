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

/* The syscall tracepoints the programs attach to (capture.bpf.c; the Go
 * probes use the read and write exits too). */
static const char *const syscall_tps[] = {
	"sys_enter_read",     "sys_exit_read",       "sys_enter_readv",    "sys_exit_readv",
	"sys_enter_recvfrom", "sys_exit_recvfrom",   "sys_enter_recvmsg",  "sys_exit_recvmsg",
	"sys_enter_write",    "sys_exit_write",      "sys_enter_writev",   "sys_exit_writev",
	"sys_enter_sendto",   "sys_exit_sendto",     "sys_enter_sendmsg",  "sys_exit_sendmsg",
	"sys_enter_sendfile64", "sys_exit_sendfile64", "sys_exit_accept",  "sys_exit_accept4",
	"sys_enter_connect",  "sys_exit_connect",    "sys_enter_close",
};

enum probe_kind {
	PROBE_PROG,   /* libbpf_probe_bpf_prog_type(type) */
	PROBE_MAP,    /* libbpf_probe_bpf_map_type(type) */
	PROBE_HELPER, /* libbpf_probe_bpf_helper(type, helper) */
	PROBE_FILE,   /* one of the files exists */
	PROBE_FENTRY, /* probe_fentry() */
};

/* Every other hook, in the report's order. "use" is what the code uses it
 * for now (the feature in brackets, as --require names it), or why not;
 * "needed" hooks are those HTTP capture cannot run without. */
static const struct probe_row {
	enum probe_kind kind;
	int type, helper;
	const char *files[2];
	const char *hook, *use;
	bool needed;
} probe_rows[] = {
	{ .kind = PROBE_MAP, .type = BPF_MAP_TYPE_RINGBUF, .hook = "map ringbuf",
	  .use = "yes: kernel -> daemon records", .needed = true },
	{ .kind = PROBE_MAP, .type = BPF_MAP_TYPE_TASK_STORAGE, .hook = "map task_storage",
	  .use = "yes: a syscall's arguments, enter to exit (capture)", .needed = true },
	{ .kind = PROBE_FILE, .files = { "/sys/kernel/btf/vmlinux" }, .hook = "BTF /sys/kernel/btf/vmlinux",
	  .use = "yes: CO-RE socket walk", .needed = true },
	{ .kind = PROBE_PROG, .type = BPF_PROG_TYPE_RAW_TRACEPOINT, .hook = "prog type raw_tp / tp_btf",
	  .use = "no: tracepoints suffice" },
	{ .kind = PROBE_FILE,
	  .files = { "/sys/kernel/tracing/kprobe_events", "/sys/kernel/debug/tracing/kprobe_events" },
	  .hook = "kprobes (tracefs kprobe_events)", .use = "no: tracepoints suffice" },
	{ .kind = PROBE_FENTRY, .hook = "fentry/fexit", .use = "no: tracepoints suffice" },
	{ .kind = PROBE_FILE, .files = { "/sys/bus/event_source/devices/uprobe/type" }, .hook = "uprobes",
	  .use = "yes: OpenSSL plaintext (tls), goroutines (go)" },
	{ .kind = PROBE_PROG, .type = BPF_PROG_TYPE_SOCK_OPS, .hook = "prog type sock_ops",
	  .use = "yes: client sockets to propagate on, TCP option (sockops)" },
	{ .kind = PROBE_PROG, .type = BPF_PROG_TYPE_SK_MSG, .hook = "prog type sk_msg",
	  .use = "yes: traceparent injection (headers)" },
	{ .kind = PROBE_MAP, .type = BPF_MAP_TYPE_SOCKHASH, .hook = "map sockhash",
	  .use = "yes: propagation (sockops, headers)" },
	{ .kind = PROBE_MAP, .type = BPF_MAP_TYPE_SK_STORAGE, .hook = "map sk_storage",
	  .use = "yes: per-socket HTTP framing (headers)" },
	{ .kind = PROBE_MAP, .type = BPF_MAP_TYPE_LPM_TRIE, .hook = "map lpm_trie",
	  .use = "yes: propagation scope, --trust-from (sockops)" },
	{ .kind = PROBE_HELPER, .type = BPF_PROG_TYPE_SK_MSG, .helper = BPF_FUNC_msg_push_data,
	  .hook = "helper bpf_msg_push_data", .use = "yes: traceparent injection (headers)" },
	{ .kind = PROBE_PROG, .type = BPF_PROG_TYPE_SCHED_CLS, .hook = "prog type sched_cls (tc)",
	  .use = "yes: IPv4 option, --propagation ip (ip-option)" },
	{ .kind = PROBE_PROG, .type = BPF_PROG_TYPE_CGROUP_SKB, .hook = "prog type cgroup_skb", .use = "no" },
	{ .kind = PROBE_HELPER, .type = BPF_PROG_TYPE_TRACEPOINT, .helper = BPF_FUNC_probe_write_user,
	  .hook = "helper bpf_probe_write_user", .use = "never (writes user memory)" },
};

/* > 0 present, 0 absent, < 0 the probe failed; *avail says which. */
static int probe_one(const struct probe_row *r, char *avail, size_t size)
{
	int ret = 0;

	switch (r->kind) {
	case PROBE_PROG:
		ret = libbpf_probe_bpf_prog_type(r->type, NULL);
		break;
	case PROBE_MAP:
		ret = libbpf_probe_bpf_map_type(r->type, NULL);
		break;
	case PROBE_HELPER:
		ret = libbpf_probe_bpf_helper(r->type, r->helper, NULL);
		break;
	case PROBE_FILE:
		for (size_t i = 0; i < 2 && r->files[i] && !ret; i++)
			ret = path_exists(r->files[i]);
		snprintf(avail, size, "%s", ret ? "yes" : "no");
		return ret;
	case PROBE_FENTRY:
		ret = probe_fentry();
		snprintf(avail, size, "%s", ret == 0 ? "yes" : ret == -EPERM ? "no (EPERM)" : "no");
		return ret == 0;
	}
	snprintf(avail, size, "%s", yesno(ret));
	return ret;
}

int tw_probe_report(FILE *out)
{
	char name[128], avail[64];
	int missing = 0, r;

	fprintf(out, "tracewire feature probe (kernel hooks on this machine)\n\n");
	fprintf(out, "  %-40s %-22s %s\n", "hook", "available", "used by tracewire");

	r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT, NULL);
	row(out, "prog type tracepoint", yesno(r), "yes: HTTP capture");
	missing += r <= 0;
	for (size_t i = 0; i < sizeof(syscall_tps) / sizeof(syscall_tps[0]); i++) {
		snprintf(name, sizeof(name), "syscalls/%s", syscall_tps[i]);
		r = tw_probe_tracepoint(name);
		row(out, name, r ? "yes" : "no", "yes: HTTP capture");
		missing += !r;
	}
	r = tw_probe_tracepoint("sock/inet_sock_set_state");
	row(out, "sock/inet_sock_set_state", r ? "yes" : "no", "yes: socket end");
	missing += !r;
	for (size_t i = 0; i < sizeof(probe_rows) / sizeof(probe_rows[0]); i++) {
		const struct probe_row *p = &probe_rows[i];

		r = probe_one(p, avail, sizeof(avail));
		row(out, p->hook, avail, p->use);
		missing += p->needed && r <= 0;
	}

	fprintf(out, "\n%s\n", missing ? "MISSING: some hooks HTTP capture needs are absent (see above)"
				       : "all hooks HTTP capture needs are present");
	return missing ? -ENOENT : 0;
}
