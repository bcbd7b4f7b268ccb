// SPDX-License-Identifier: BSD-2-Clause
#include "umulti.h"

#include <errno.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "log.h"

/* BPF_LINK_CREATE's attributes for uprobe_multi (include/uapi/linux/bpf.h
 * of 6.6; Debian 12's header predates them): the common head, then the
 * uprobe_multi member of the union at offset 16. */
struct umulti_attr {
	uint32_t prog_fd;
	uint32_t target_fd;
	uint32_t attach_type;
	uint32_t flags;
	uint64_t path;
	uint64_t offsets;
	uint64_t ref_ctr_offsets;
	uint64_t cookies;
	uint32_t cnt;
	uint32_t um_flags;
	uint32_t pid;
	uint32_t pad;
	uint8_t tail[64]; /* zero: the rest of union bpf_attr */
};

int tw_umulti_attach(int prog_fd, const char *path, const uint64_t *offs,
		     const uint64_t *cookies, size_t n, pid_t pid, unsigned flags)
{
	struct umulti_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_fd = (uint32_t)prog_fd;
	a.attach_type = TW_BPF_TRACE_UPROBE_MULTI;
	a.path = (uint64_t)(uintptr_t)path;
	a.offsets = (uint64_t)(uintptr_t)offs;
	a.cookies = (uint64_t)(uintptr_t)cookies;
	a.cnt = (uint32_t)n;
	a.um_flags = flags;
	a.pid = (uint32_t)pid;
	fd = (int)syscall(SYS_bpf, BPF_LINK_CREATE, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

static int probe(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		    .expected_attach_type = (enum bpf_attach_type)TW_BPF_TRACE_UPROBE_MULTI);
	uint64_t off = 0;
	int prog, link, err;

	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "tw_umulti_probe", "GPL", insns, 2, &opts);
	if (prog < 0)
		return 0;
	/* "/" is no regular file: a kernel that knows the link kind says
	 * EBADF, one that does not says EINVAL */
	link = tw_umulti_attach(prog, "/", &off, NULL, 1, 0, 0);
	err = link;
	if (link >= 0)
		close(link);
	close(prog);
	return err == -EBADF;
}

int tw_umulti_supported(void)
{
	static int cached = -1;
	const char *no = getenv("TRACEWIRE_TEST_NO_UPROBE_MULTI");

	if (no && *no && strcmp(no, "0")) {
		if (cached < 0)
			log_warn("TRACEWIRE_TEST_NO_UPROBE_MULTI=%s: test hook: classic uprobes "
				 "only", no);
		cached = 0;
		return 0;
	}
	if (cached < 0)
		cached = probe();
	return cached;
}

/* Each close waits for grace periods; closes waiting together share them,
 * so many threads (each a few KiB of stack, for a moment) beat a few: 80
 * links of 10 Go processes took 0.7-3.6 s with 8 threads. */
#define CLOSE_THREADS 64

struct close_slice {
	int *fds;
	size_t n, first, step;
};

static void *close_slice(void *arg)
{
	struct close_slice *s = arg;

	for (size_t i = s->first; i < s->n; i += s->step) {
		if (s->fds[i] >= 0)
			close(s->fds[i]);
		s->fds[i] = -1;
	}
	return NULL;
}

void tw_umulti_close_all(int *fds, size_t n)
{
	struct close_slice slices[CLOSE_THREADS];
	pthread_t threads[CLOSE_THREADS];
	bool started[CLOSE_THREADS] = { false };
	size_t k = n < CLOSE_THREADS ? n : CLOSE_THREADS;

	for (size_t t = 0; t < k; t++) {
		slices[t] = (struct close_slice){ .fds = fds, .n = n, .first = t, .step = k };
		started[t] = t > 0 && !pthread_create(&threads[t], NULL, close_slice, &slices[t]);
	}
	for (size_t t = 0; t < k; t++)
		if (!started[t])
			close_slice(&slices[t]);
	for (size_t t = 0; t < k; t++)
		if (started[t])
			pthread_join(threads[t], NULL);
}
