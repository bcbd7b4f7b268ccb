// SPDX-License-Identifier: BSD-2-Clause
#include "capture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "budget.h"
#include "capture.skel.h"
#include "links.h"
#include "feature_set.h"
#include "log.h"
#include "podsel.h"
#include "probe.h"

#define TW_MAX_PROGS 64

struct tw_capture {
	struct capture_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[TW_MAX_PROGS];
	size_t n_links;
};

/* "tracepoint/syscalls/sys_enter_read" -> does the hook exist on this kernel? */
static void disable_missing_hooks(struct bpf_object *obj)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		const char *tp = strchr(sec, '/');

		if (strncmp(sec, "tracepoint/", 11) || !tp)
			continue;
		if (!tw_probe_tracepoint(tp + 1)) {
			log_warn("hook %s does not exist on this kernel: %s is off", tp + 1,
				 bpf_program__name(prog));
			bpf_program__set_autoload(prog, false);
		}
	}
}

static void set_selection(struct capture_bpf *skel, const struct tw_config *cfg)
{
	struct bpf_program *prog;
	bool tls_wire = cfg->tls_capture && (cfg->propagation & (TW_PROP_TCP | TW_PROP_IP));

	TW_CAPTURE_RODATA(skel->rodata, cfg);
	/* Write entries matter only to put TLS requests' ids into TCP/IPv4
	 * options before their first byte leaves: without those, no process
	 * pays for them. */
	bpf_object__for_each_program(prog, skel->obj)
		if (!strncmp(bpf_program__name(prog), "tw_tls_wenter_", 14))
			bpf_program__set_autoload(prog, tls_wire);
}

static int fill_selection_maps(struct capture_bpf *skel, const struct tw_config *cfg)
{
	__u8 one = 1;

	for (size_t i = 0; i < cfg->n_pids; i++)
		if (bpf_map__update_elem(skel->maps.selected_pids, &cfg->pids[i],
					 sizeof(cfg->pids[i]), &one, sizeof(one), BPF_ANY))
			return -errno;
	for (size_t i = 0; i < cfg->n_cgroups; i++) {
		if (cfg->cgroups[i].level >= 32) {
			log_warn("cgroup %s is %u levels deep; only 31 are checked: not selected",
				 cfg->cgroups[i].path, cfg->cgroups[i].level);
			continue;
		}
		if (bpf_map__update_elem(skel->maps.selected_cgroups, &cfg->cgroups[i].id,
					 sizeof(cfg->cgroups[i].id), &one, sizeof(one), BPF_ANY))
			return -errno;
	}
	for (size_t i = 0; i < cfg->n_comms; i++)
		if (bpf_map__update_elem(skel->maps.selected_comms, cfg->comms[i], TW_COMM_LEN,
					 &one, sizeof(one), BPF_ANY))
			return -errno;
	return 0;
}

/* sel_gen's map: bumped after each change of selected_cgroups, so the
 * verdicts each CPU cached per cgroup (bpf/lib/select.h) are taken again. */
static int sel_gen_fd = -1;

static void selection_changed(void)
{
	__u32 zero = 0;
	__u64 gen = 0;

	if (sel_gen_fd < 0)
		return;
	bpf_map_lookup_elem(sel_gen_fd, &zero, &gen);
	gen++;
	if (bpf_map_update_elem(sel_gen_fd, &zero, &gen, BPF_ANY))
		log_warn("bumping the selection generation failed: %s", strerror(errno));
}

/* The other syscall exits tw_exit_io (attached by its section to
 * sys_exit_read) serves; the syscall number in its context tells which. */
static const char *const exit_io_tps[] = {
	"sys_exit_readv", "sys_exit_recvfrom", "sys_exit_recvmsg", "sys_exit_write",
	"sys_exit_writev", "sys_exit_sendto", "sys_exit_sendmsg", "sys_exit_sendfile64",
};

static void attach_exit_io(struct tw_capture *c)
{
	struct bpf_program *prog = c->skel->progs.tw_exit_io;
	char tp[64];

	if (!bpf_program__autoload(prog))
		return;
	for (size_t i = 0; i < sizeof(exit_io_tps) / sizeof(exit_io_tps[0]); i++) {
		struct bpf_link *link;

		snprintf(tp, sizeof(tp), "syscalls/%s", exit_io_tps[i]);
		if (!tw_probe_tracepoint(tp)) {
			log_warn("hook %s does not exist on this kernel: its records are off", tp);
			continue;
		}
		if (c->n_links == TW_MAX_PROGS)
			return;
		link = bpf_program__attach_tracepoint(prog, "syscalls", exit_io_tps[i]);
		if (!link) {
			log_warn("attaching tw_exit_io to %s failed: %s; it stays off", tp,
				 strerror(errno));
			continue;
		}
		c->links[c->n_links++] = link;
		log_debug("attached tw_exit_io to %s", tp);
	}
}

static int attach_all(struct tw_capture *c)
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, c->skel->obj) {
		struct bpf_link *link;

		if (!bpf_program__autoload(prog))
			continue;
		if (c->n_links == TW_MAX_PROGS)
			return -E2BIG;
		link = bpf_program__attach(prog);
		if (!link) {
			log_warn("attaching %s (%s) failed: %s; it stays off",
				 bpf_program__name(prog), bpf_program__section_name(prog),
				 strerror(errno));
			continue;
		}
		c->links[c->n_links++] = link;
		log_debug("attached %s", bpf_program__section_name(prog));
	}
	attach_exit_io(c);
	return c->n_links ? 0 : -ENOENT;
}

int tw_capture_start(struct tw_capture **out, const struct tw_config *cfg, tw_record_fn fn,
		     void *ctx)
{
	struct tw_capture *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return -ENOMEM;
	c->skel = capture_bpf__open();
	if (!c->skel) {
		err = -errno;
		log_error("opening the BPF object failed: %s", strerror(-err));
		goto cleanup;
	}
	set_selection(c->skel, cfg);
	disable_missing_hooks(c->skel->obj);
	tw_budget_apply_maps(c->skel->obj); /* --memory-limit */
	tw_fault_inject(c->skel->obj, TW_FEATURE_CAPTURE);
	err = capture_bpf__load(c->skel);
	if (err) {
		log_error("loading BPF programs failed: %s%s", strerror(-err),
			  err == -EPERM ? " (tracewire needs root, or CAP_BPF and CAP_PERFMON)" : "");
		goto cleanup;
	}
	err = fill_selection_maps(c->skel, cfg);
	if (err) {
		log_error("filling the selection maps failed: %s", strerror(-err));
		goto cleanup;
	}
	sel_gen_fd = bpf_map__fd(c->skel->maps.sel_gen);
	tw_podsel_changed_hook = selection_changed;
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.events), (ring_buffer_sample_fn)fn,
				 ctx, NULL);
	if (!c->rb) {
		err = -errno;
		log_error("creating the ring buffer reader failed: %s", strerror(-err));
		goto cleanup;
	}
	err = attach_all(c);
	if (err) {
		log_error("no capture program could be attached: nothing to trace");
		goto cleanup;
	}
	*out = c;
	return 0;

cleanup:
	tw_capture_stop(c);
	return err;
}

int tw_capture_epoll_fd(const struct tw_capture *c)
{
	return ring_buffer__epoll_fd(c->rb);
}

int tw_capture_drain(struct tw_capture *c)
{
	return ring_buffer__consume(c->rb);
}

size_t tw_capture_attached(const struct tw_capture *c)
{
	return c->n_links;
}

int tw_capture_mark_opaque(struct tw_capture *c, uint64_t sock_id)
{
	struct bpf_map *conns = c->skel->maps.conns;
	struct tw_conn_state st;
	__u64 key = sock_id;

	if (bpf_map__lookup_elem(conns, &key, sizeof(key), &st, sizeof(st), 0))
		return -errno;
	st.http = TW_CONN_OPAQUE;
	/* BPF_EXIST: a socket closed meanwhile must not be brought back. */
	if (bpf_map__update_elem(conns, &key, sizeof(key), &st, sizeof(st), BPF_EXIST))
		return -errno;
	return 0;
}

int tw_capture_mark_h2(struct tw_capture *c, uint64_t sock_id)
{
	struct bpf_map *conns = c->skel->maps.conns;
	struct tw_conn_state st;
	__u64 key = sock_id;

	if (bpf_map__lookup_elem(conns, &key, sizeof(key), &st, sizeof(st), 0))
		return -errno;
	st.h2 = 1;
	/* BPF_EXIST: a socket closed meanwhile must not be brought back. A
	 * call finishing between lookup and update may lose its count in
	 * `sent`, which only TW_EV_CTX offsets use, and HTTP/2 gets none. */
	if (bpf_map__update_elem(conns, &key, sizeof(key), &st, sizeof(st), BPF_EXIST))
		return -errno;
	return 0;
}

int tw_percpu_counters(const struct bpf_map *map, uint32_t n, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 *values;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	values = calloc(ncpu, sizeof(*values));
	if (!values)
		return -ENOMEM;
	for (__u32 i = 0; i < n; i++) {
		out[i] = 0;
		if (bpf_map__lookup_elem(map, &i, sizeof(i), values, sizeof(*values) * ncpu, 0))
			continue;
		for (int cpu = 0; cpu < ncpu; cpu++)
			out[i] += values[cpu];
	}
	free(values);
	return 0;
}

int tw_capture_counters(const struct tw_capture *c, uint64_t out[TW_CNT_MAX])
{
	return tw_percpu_counters(c->skel->maps.counters, TW_CNT_MAX, out);
}

int tw_share_maps(const struct bpf_object *from, struct bpf_object *to)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, to) {
		const struct bpf_map *src;
		int fd, err;

		/* libbpf's own maps (.rodata, .bss, ...) belong to each object */
		if (bpf_map__is_internal(map))
			continue;
		src = bpf_object__find_map_by_name(from, bpf_map__name(map));
		if (!src)
			continue;
		fd = bpf_map__fd(src);
		if (fd < 0)
			return fd;
		err = bpf_map__reuse_fd(map, fd);
		if (err)
			return err;
	}
	return 0;
}

int tw_capture_share_maps(const struct tw_capture *c, struct bpf_object *obj)
{
	return tw_share_maps(c->skel->obj, obj);
}

int tw_capture_map_fd(const struct tw_capture *c, const char *name)
{
	const struct bpf_map *map = bpf_object__find_map_by_name(c->skel->obj, name);

	return map ? bpf_map__fd(map) : -ENOENT;
}

void tw_capture_stop(struct tw_capture *c)
{
	if (!c)
		return;
	/* Links first: no program may run on a reader that is gone. */
	tw_links_destroy(c->links, c->n_links);
	if (tw_podsel_changed_hook == selection_changed) {
		tw_podsel_changed_hook = NULL;
		sel_gen_fd = -1;
	}
	ring_buffer__free(c->rb);
	capture_bpf__destroy(c->skel);
	free(c);
}
