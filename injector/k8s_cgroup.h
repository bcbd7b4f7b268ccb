/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Container id of a process from its cgroup path (/proc/PID/cgroup), as the
 * kubelet's cgroup drivers and the runtimes name them:
 *   systemd:  .../kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope
 *             crio-<id>.scope, docker-<id>.scope, libpod-<id>.scope
 *   cgroupfs: .../kubepods/burstable/pod<uid>/<id>, .../docker/<id>
 * <id> is 64 lowercase hex digits. The deepest component that names one wins.
 */
#ifndef TW_K8S_CGROUP_H
#define TW_K8S_CGROUP_H

#include <stddef.h>

#define TW_CONTAINER_ID_LEN 64

/* From one cgroup path ("/a/b/c"): 0 and id (65 bytes) filled, or -ENODATA. */
int tw_k8s_cgroup_path_id(const char *path, size_t len, char id[TW_CONTAINER_ID_LEN + 1]);
/* From the text of /proc/PID/cgroup (v2 "0::/path" and v1 "N:ctrl:/path"
 * lines): the first line that names a container. 0 or -ENODATA. */
int tw_k8s_cgroup_text_id(const char *text, char id[TW_CONTAINER_ID_LEN + 1]);
/* Reads PROC/PID/cgroup (proc NULL: "/proc"). 0, -ENODATA (no container), or -errno (-ENOENT: no such process). */
int tw_k8s_cgroup_pid_id(const char *proc, unsigned pid, char id[TW_CONTAINER_ID_LEN + 1]);
/* "containerd://<id>", "cri-o://<id>", "docker://<id>" -> <id>; -EINVAL otherwise. */
int tw_k8s_status_container_id(const char *s, char id[TW_CONTAINER_ID_LEN + 1]);

#endif
