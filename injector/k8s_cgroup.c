// SPDX-License-Identifier: BSD-2-Clause
/* Process -> container id through its cgroup (contract in k8s_cgroup.h). */
#include "k8s_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool is_id(const char *s, size_t n)
{
	if (n != TW_CONTAINER_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool strip_prefix(const char **s, size_t *n, const char *p)
{
	size_t pl = strlen(p);

	if (*n < pl || memcmp(*s, p, pl))
		return false;
	*s += pl;
	*n -= pl;
	return true;
}

/* One path component: "<id>", "<runtime>-<id>.scope" */
static bool component_id(const char *s, size_t n, char *id)
{
	static const char *const prefixes[] = { "cri-containerd-", "crio-", "docker-",
						"containerd-", "libpod-" };

	if (n > 6 && !memcmp(s + n - 6, ".scope", 6)) {
		n -= 6;
		for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
			if (strip_prefix(&s, &n, prefixes[i]))
				break;
	}
	if (!is_id(s, n))
		return false;
	memcpy(id, s, n);
	id[n] = '\0';
	return true;
}

int tw_k8s_cgroup_path_id(const char *path, size_t len, char id[TW_CONTAINER_ID_LEN + 1])
{
	size_t end = len;

	while (end > 0) {
		size_t start = end;

		while (start > 0 && path[start - 1] != '/')
			start--;
		if (end > start && component_id(path + start, end - start, id))
			return 0;
		end = start ? start - 1 : 0;
	}
	return -ENODATA;
}

int tw_k8s_cgroup_text_id(const char *text, char id[TW_CONTAINER_ID_LEN + 1])
{
	const char *line = text;

	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *c1 = memchr(line, ':', len);
		const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;

		if (c2 && !tw_k8s_cgroup_path_id(c2 + 1, len - (size_t)(c2 + 1 - line), id))
			return 0;
		if (!nl)
			break;
		line = nl + 1;
	}
	return -ENODATA;
}

int tw_k8s_cgroup_pid_id(const char *proc, unsigned pid, char id[TW_CONTAINER_ID_LEN + 1])
{
	char path[256], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%u/cgroup", proc ? proc : "/proc", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	return tw_k8s_cgroup_text_id(buf, id);
}

int tw_k8s_status_container_id(const char *s, char id[TW_CONTAINER_ID_LEN + 1])
{
	const char *p = strstr(s, "://");

	if (!p || !is_id(p + 3, strlen(p + 3)))
		return -EINVAL;
	memcpy(id, p + 3, TW_CONTAINER_ID_LEN + 1);
	return 0;
}
