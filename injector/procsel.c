// SPDX-License-Identifier: BSD-2-Clause
#include "procsel.h"

#include "podsel.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads a small /proc file into buf (NUL-terminated). Bytes read or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

bool tw_cgroup2_is_root(const char *dir)
{
	struct stat st;

	return !stat(dir, &st) && st.st_ino == 1;
}

int tw_cgroup2_root(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096];
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char root[PATH_MAX], mnt[PATH_MAX], *sep = strstr(line, " - ");

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2)
			continue;
		/* In a cgroup namespace of its own (containerd's default) the
		 * host's hierarchy root shows as "/..": the root cgroup is the
		 * directory whose id (inode) is 1, whatever the field says. */
		if (strcmp(root, "/") && !tw_cgroup2_is_root(mnt))
			continue;
		if (strlen(mnt) < size) {
			strcpy(buf, mnt);
			err = 0;
		}
		break;
	}
	fclose(f);
	return err;
}

int tw_procsel_init(struct tw_procsel *ps, const struct tw_config *cfg)
{
	memset(ps, 0, sizeof(*ps));
	ps->cfg = cfg;
	if (!cfg->n_cgroups)
		return 0;
	return tw_cgroup2_root(ps->cg2root, sizeof(ps->cg2root));
}

bool tw_path_under(const char *path, const char *sel)
{
	size_t n = strlen(sel);

	while (n > 1 && sel[n - 1] == '/')
		n--;
	return !strncmp(path, sel, n) && (path[n] == '\0' || path[n] == '/');
}

const char *tw_cgroup2_line(char *text)
{
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		if (!strncmp(line, "0::", 3))
			return line + 3;
	return NULL;
}

int tw_stat_starttime(const char *text, uint64_t *out)
{
	/* comm (field 2) may hold spaces and parentheses: count after the last
	 * ')'; field 3 (state) is the first after it */
	const char *p = strrchr(text, ')');
	char *end;
	int field = 3;

	if (!p)
		return -EINVAL;
	for (p++; *p; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (field == 22) {
			unsigned long long v = strtoull(p, &end, 10);

			if (end == p || (*end && *end != ' ' && *end != '\n'))
				return -EINVAL;
			*out = v;
			return 0;
		}
		while (*p && *p != ' ')
			p++;
	}
	return -EINVAL;
}

int tw_proc_starttime(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	return tw_stat_starttime(buf, out);
}

static bool comm_selected(const struct tw_config *cfg, pid_t pid)
{
	char path[64], comm[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (read_small(path, comm, sizeof(comm)) <= 0)
		return false;
	comm[strcspn(comm, "\n")] = '\0';
	for (size_t i = 0; i < cfg->n_comms; i++)
		if (!strncmp(comm, cfg->comms[i], TW_COMM_LEN - 1))
			return true;
	return false;
}

static bool cgroup_selected(const struct tw_procsel *ps, pid_t pid)
{
	char path[64], text[4096], full[PATH_MAX];
	const char *rel;

	if (!ps->cg2root[0])
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (read_small(path, text, sizeof(text)) <= 0 || !(rel = tw_cgroup2_line(text)))
		return false;
	snprintf(full, sizeof(full), "%s%s", ps->cg2root, strcmp(rel, "/") ? rel : "");
	for (size_t i = 0; i < ps->cfg->n_cgroups; i++)
		if (tw_path_under(full, ps->cfg->cgroups[i].path))
			return true;
	return false;
}

bool tw_procsel_match(const struct tw_procsel *ps, pid_t pid)
{
	const struct tw_config *cfg = ps->cfg;

	if (pid == getpid())
		return false;
	if (!cfg->n_pids && !cfg->n_cgroups && !cfg->n_comms && cfg->pod_mode == TW_PODS_OFF)
		return true;
	if (cfg->pod_mode != TW_PODS_OFF && tw_podsel_pid_selected(pid))
		return true;
	for (size_t i = 0; i < cfg->n_pids; i++)
		if ((pid_t)cfg->pids[i] == pid)
			return true;
	if (cfg->n_cgroups && cgroup_selected(ps, pid))
		return true;
	return cfg->n_comms && comm_selected(cfg, pid);
}
