// SPDX-License-Identifier: BSD-2-Clause
#include "cgroup.h"
#include "procsel.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static int path_depth(const char *p)
{
	int depth = 0;

	for (; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			depth++;
	return depth;
}

/*
 * Depth of a cgroup2 directory as the kernel counts it (the root is 0): the
 * mount's own root within the hierarchy plus the path below the mount point.
 */
static int cgroup_level(const char *real, uint32_t *level)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096], best_mnt[PATH_MAX] = "", best_root[PATH_MAX] = "";
	size_t best_len = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char root[PATH_MAX], mnt[PATH_MAX], *sep = strstr(line, " - ");
		size_t len;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2)
			continue;
		len = strlen(mnt);
		if (strncmp(real, mnt, len) || (real[len] != '/' && real[len] != '\0' && len > 1))
			continue;
		if (len >= best_len) {
			best_len = len;
			strcpy(best_mnt, mnt);
			strcpy(best_root, root);
		}
	}
	fclose(f);
	if (!best_len)
		return -ENOENT;
	/* The mount's root within the hierarchy, as seen from this cgroup
	 * namespace: "/.." and the like mean the namespace is below it, and
	 * only the root cgroup (id 1) then has a depth known here (0). */
	if (tw_cgroup2_is_root(best_mnt))
		best_root[0] = '\0';
	else if (strstr(best_root, ".."))
		return -EXDEV;
	*level = path_depth(best_root) + path_depth(best_len > 1 ? real + best_len : real);
	return 0;
}

int tw_cgroup_resolve(const char *path, struct tw_cgroup_sel *out)
{
	char real[PATH_MAX];
	struct statfs sfs;
	struct stat st;
	struct {
		struct file_handle fh;
		uint64_t id;
	} handle = { .fh.handle_bytes = sizeof(uint64_t) };
	int mount_id, err;

	if (!realpath(path, real))
		return -errno;
	if (stat(real, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (statfs(real, &sfs))
		return -errno;
	if (sfs.f_type != CGROUP2_SUPER_MAGIC)
		return -EMEDIUMTYPE;
	if (strlen(real) >= sizeof(out->path))
		return -ENAMETOOLONG;
	strcpy(out->path, real);
	/* The file handle of a cgroup2 directory is its 64-bit cgroup id. */
	if (name_to_handle_at(AT_FDCWD, real, &handle.fh, &mount_id, 0) == 0 &&
	    handle.fh.handle_bytes == sizeof(uint64_t))
		memcpy(&out->id, handle.fh.f_handle, sizeof(out->id));
	else
		out->id = st.st_ino;
	err = cgroup_level(real, &out->level);
	return err;
}
