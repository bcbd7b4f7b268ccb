/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Selection by pod at run time. The kernel selects by cgroup (bpf/lib/select.h):
 * this module finds the kubelet's pod cgroups (".../pod<uid>" with the cgroupfs
 * driver, "...-pod<uid_>.slice" with systemd) below the node's kubepods
 * cgroups and keeps the "selected_cgroups" map holding exactly the pod cgroups
 * of the selected pods -- pods that start later included, pods that go
 * removed. Which pods: the filter (--k8s-namespace, --k8s-selector) applied by
 * the pod cache, or by default every pod except kube-system's and
 * tracewire's own (before the API server answered: every pod but its own).
 * The kubepods cgroups are found once at start (the kubelet never moves
 * them); their depth fixes the ancestor levels the kernel checks.
 */
#ifndef TW_PODSEL_H
#define TW_PODSEL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

struct tw_k8s;
struct tw_podsel;

/* Before the programs are loaded: decides cfg->pod_mode (off, by filter,
 * default) from the options and the environment, and finds the kubepods
 * cgroups (cfg->pod_roots, cfg->pod_levels). 0, or -ENOENT when a filter
 * was given and there is no kubepods cgroup (logged). */
int tw_podsel_prepare(struct tw_config *cfg);

/* After load: keeps selected_cgroups_fd (the kernel map) in step with the
 * pods. k8s NULL: no pod metadata (default mode: every pod cgroup). */
struct tw_podsel *tw_podsel_new(const struct tw_config *cfg, struct tw_k8s *k8s,
				int selected_cgroups_fd);
/* Called after the pods' changes are in selected_cgroups: capture.c sets it
 * to make the kernel's cached verdicts stale (bpf/lib/select.h, sel_gen). */
extern void (*tw_podsel_changed_hook)(void);
/* Rescans the pod cgroups and applies changes; at most once a second. */
void tw_podsel_tick(struct tw_podsel *ps, uint64_t now_ns);
unsigned tw_podsel_count(const struct tw_podsel *ps);
void tw_podsel_free(struct tw_podsel *ps);

/* Is process pid in a selected pod? For the per-process features (Go and TLS
 * probes, procsel.c). It compares the names in /proc/PID/cgroup, so it also
 * holds in a cgroup namespace of tracewire's own, where those paths are
 * relative. false while no tw_podsel runs. */
bool tw_podsel_pid_selected(pid_t pid);

/* The pod uid in a kubelet pod cgroup name into uid (37 bytes, with '-'):
 * "pod<uid>" or "kubepods-<qos>-pod<uid with _>.slice". */
bool tw_pod_cgroup_uid(const char *name, char uid[37]);

#endif
