// SPDX-License-Identifier: BSD-2-Clause
#include "procsel.h"

#include "log.h"
#include "podsel.h"

#include <dirent.h>
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
		 * host's hierarchy root shows as "/..", and a mount of the
		 * namespace's own root as "/": the root cgroup is the directory
		 * whose id (inode) is 1, whatever the field says. */
		(void)root;
		if (!tw_cgroup2_is_root(mnt))
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

int tw_path_join_norm(const char *base, const char *rel, char *out, size_t size)
{
	char buf[PATH_MAX];
	size_t n;
	const char *p;

	if ((size_t)snprintf(buf, sizeof(buf), "%s/%s", base, rel) >= sizeof(buf) || size < 2)
		return -ENAMETOOLONG;
	n = 0;
	out[0] = '\0';
	for (p = buf; *p;) {
		size_t len;

		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if (!len)
			break;
		if (len == 1 && p[0] == '.') {
			/* nothing */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--; /* the '/' before the component */
		} else {
			if (n + 1 + len + 1 > size)
				return -ENAMETOOLONG;
			out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		out[n] = '\0';
		p += len;
	}
	if (!n) {
		out[0] = '/';
		out[1] = '\0';
	}
	return 0;
}

struct pid_search {
	pid_t pid;
	unsigned dirs;
	char *out;
	size_t size;
};

static bool procs_list_pid(const char *dir, pid_t pid)
{
	char path[PATH_MAX], line[32];
	bool found = false;
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= sizeof(path))
		return false;
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = atoi(line) == (int)pid;
	fclose(f);
	return found;
}

static int search_pid(struct pid_search *s, const char *dir, int depth)
{
	struct dirent *e;
	DIR *d;
	int rc = -ENOENT;

	if (s->dirs++ > 50000)
		return -ENOENT;
	if (procs_list_pid(dir, s->pid)) {
		if (strlen(dir) >= s->size)
			return -ENAMETOOLONG;
		strcpy(s->out, dir);
		return 0;
	}
	if (depth <= 0 || !(d = opendir(dir)))
		return -ENOENT;
	while (rc == -ENOENT && (e = readdir(d))) {
		char sub[PATH_MAX];

		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name) < sizeof(sub))
			rc = search_pid(s, sub, depth - 1);
	}
	closedir(d);
	return rc;
}

int tw_cgroup_of_pid(const char *cg2root, pid_t pid, int depth, char *out, size_t size)
{
	struct pid_search s = { .pid = pid, .out = out, .size = size };

	return search_pid(&s, cg2root, depth);
}

/* The root of our cgroup namespace under ps->cg2root: our own cgroup (found
 * by our pid in cgroup.procs) with as many trailing components taken off as
 * /proc/self/cgroup shows below the namespace's root. In the host's
 * namespace that is cg2root itself. (Comparing /proc/self/ns/cgroup with
 * /proc/1/ns/cgroup would tell too, where pid 1 may be looked at.) */
static int find_ns_root(struct tw_procsel *ps)
{
	char text[4096], own[PATH_MAX];
	const char *rel = tw_proc_cgroup2_path(0, text, sizeof(text));
	int rc, up = 0;

	if (!rel)
		return -ENOENT;
	rc = tw_cgroup_of_pid(ps->cg2root, getpid(), 32, own, sizeof(own));
	if (rc)
		return rc;
	for (const char *p = rel; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			up++;
	snprintf(ps->ns_root, sizeof(ps->ns_root), "%s", own);
	while (up-- > 0) {
		char *slash = strrchr(ps->ns_root, '/');

		if (!slash || slash == ps->ns_root)
			break;
		*slash = '\0';
	}
	return 0;
}

int tw_procsel_init(struct tw_procsel *ps, const struct tw_config *cfg)
{
	int rc;

	memset(ps, 0, sizeof(*ps));
	ps->cfg = cfg;
	if (!cfg->n_cgroups)
		return 0;
	rc = tw_cgroup2_root(ps->cg2root, sizeof(ps->cg2root));
	if (rc)
		return rc;
	rc = find_ns_root(ps);
	log_debug("procsel: /proc/PID/cgroup paths are relative to %s", ps->ns_root);
	if (rc) {
		log_warn("cgroup namespace: its root was not found (%s): --cgroup selection of the "
			 "Go and TLS probes reads /proc/PID/cgroup as if it were the host's",
			 strerror(-rc));
		snprintf(ps->ns_root, sizeof(ps->ns_root), "%s", ps->cg2root);
	}
	return 0;
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

const char *tw_proc_cgroup2_path(pid_t pid, char *text, size_t size)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/cgroup");
	if (read_small(path, text, size) <= 0)
		return NULL;
	return tw_cgroup2_line(text);
}

static bool cgroup_selected(const struct tw_procsel *ps, pid_t pid)
{
	char text[4096], full[PATH_MAX];
	const char *rel;

	if (!ps->cg2root[0] || !(rel = tw_proc_cgroup2_path(pid, text, sizeof(text))))
		return false;
	/* relative to our cgroup namespace's root, which they may climb out of */
	if (tw_path_join_norm(ps->ns_root, rel, full, sizeof(full)))
		return false;
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
