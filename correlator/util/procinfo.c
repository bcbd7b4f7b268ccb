// SPDX-License-Identifier: BSD-2-Clause
#include "procinfo.h"
#include "kvlist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STAT_BUF 2048
#define ENV_ENTRY_MAX 4096        /* longer variables are cut; enough for resource attrs */
#define ENV_READ_MAX (8u << 20)   /* environ is bounded by the exec args limit anyway */
#define ENV_CHUNK 4096
#define STARTTIME_FIELD 22
/* A process that vanished is still trusted to be the cached one if the cache
 * saw it alive this recently (pid reuse needs the pid space to wrap first),
 * whatever the thread comm of the span says. */
#define GONE_TRUST_NS (10ULL * 1000000000ULL)

static const char env_service[] = "OTEL_SERVICE_NAME=";
static const char env_resource[] = "OTEL_RESOURCE_ATTRIBUTES=";

struct slot {
	bool valid;
	uint64_t checked_ns;
	struct tw_proc proc;
};

/* What the environ scan found; reused between lookups (not thread-safe). */
struct env_scan {
	size_t len;
	bool cut;
	char entry[ENV_ENTRY_MAX];
	char chunk[ENV_CHUNK];
	char service[TW_PROC_SERVICE_MAX];
	char resource_service[TW_PROC_SERVICE_MAX];
	char resource[TW_PROC_RESOURCE_MAX];
};

struct tw_procinfo {
	int root_fd;
	size_t nslots;
	uint64_t revalidate_ns;
	uint64_t (*now_ns)(void);
	struct slot *slots;
	struct tw_proc gone; /* tw_procinfo_get's answer for a process not found */
	struct env_scan scan;
	struct tw_procinfo_stats stats;
};

/* Copy at most size-1 bytes, never ending inside a UTF-8 sequence. */
static void copy_cut(char *dst, size_t size, const char *src, size_t len)
{
	if (!size)
		return;
	if (len >= size) {
		len = size - 1;
		while (len && ((unsigned char)src[len] & 0xc0) == 0x80)
			len--;
	}
	memmove(dst, src, len);
	dst[len] = '\0';
}

static int open_proc_file(struct tw_procinfo *p, uint32_t pid, const char *name)
{
	char rel[32];

	snprintf(rel, sizeof(rel), "%u/%s", pid, name);
	return openat(p->root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
}

/* Up to size-1 bytes of the file, NUL-terminated. Length or -errno. */
static ssize_t read_small(struct tw_procinfo *p, uint32_t pid, const char *name, char *buf,
			  size_t size)
{
	int fd = open_proc_file(p, pid, name);
	size_t len = 0;
	ssize_t r = 0;

	if (fd < 0)
		return -errno;
	while (len < size - 1) {
		r = read(fd, buf + len, size - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	if (r < 0)
		r = -errno;
	close(fd);
	buf[len] = '\0';
	return r < 0 ? r : (ssize_t)len;
}

/* "pid (comm) state ppid ...": comm may hold spaces and ')', so it ends at
 * the last ')'. */
static int parse_stat(char *buf, uint64_t *start_time, char *comm, size_t comm_size)
{
	char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	char *p, *end;
	int field = 3;

	if (!open || !close || close < open)
		return -EINVAL;
	copy_cut(comm, comm_size, open + 1, (size_t)(close - open - 1));
	p = close + 1;
	while (field < STARTTIME_FIELD) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EINVAL;
		field++;
	}
	errno = 0;
	*start_time = strtoull(p + 1, &end, 10);
	if (end == p + 1 || errno)
		return -EINVAL;
	return 0;
}

static int read_stat(struct tw_procinfo *p, uint32_t pid, uint64_t *start_time, char *comm,
		     size_t comm_size)
{
	char buf[STAT_BUF];
	ssize_t len = read_small(p, pid, "stat", buf, sizeof(buf));

	if (len < 0)
		return (int)len;
	return parse_stat(buf, start_time, comm, comm_size);
}

struct service_name_out {
	char *out;
	size_t size;
};

static int take_service_name(void *ctx, const char *key, size_t key_len, const char *value)
{
	struct service_name_out *o = ctx;

	if (key_len != 12 || memcmp(key, "service.name", 12) || !*value)
		return 0;
	copy_cut(o->out, o->size, value, strlen(value));
	return 1;
}

/* "k1=v1,service.name=orders,k2=v2" -> "orders"; malformed items are skipped. */
static void resource_service_name(const char *attrs, size_t len, char *out, size_t size)
{
	struct service_name_out o = { out, size };

	out[0] = '\0';
	tw_kvlist_parse(attrs, len, take_service_name, &o);
}

static bool has_prefix(const char *s, size_t len, const char *prefix, size_t plen)
{
	return len >= plen && !memcmp(s, prefix, plen);
}

/* One complete NAME=value entry; the first non-empty occurrence wins, as getenv. */
static void env_entry(struct env_scan *sc)
{
	const char *e = sc->entry;
	size_t n = sc->len;
	size_t ls = sizeof(env_service) - 1, lr = sizeof(env_resource) - 1;

	if (!sc->service[0] && has_prefix(e, n, env_service, ls))
		copy_cut(sc->service, sizeof(sc->service), e + ls, n - ls);
	else if (!sc->resource[0] && has_prefix(e, n, env_resource, lr)) {
		resource_service_name(e + lr, n - lr, sc->resource_service,
				      sizeof(sc->resource_service));
		copy_cut(sc->resource, sizeof(sc->resource), e + lr, n - lr);
	}
}

static void env_feed(struct env_scan *sc, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\0') {
			env_entry(sc);
			sc->len = 0;
			continue;
		}
		if (sc->len < sizeof(sc->entry))
			sc->entry[sc->len++] = buf[i];
	}
}

/* Streams environ: it can be far larger than anything we keep. */
static void scan_environ(struct tw_procinfo *p, uint32_t pid)
{
	struct env_scan *sc = &p->scan;
	size_t total = 0;
	int fd;

	sc->len = 0;
	sc->service[0] = '\0';
	sc->resource_service[0] = '\0';
	sc->resource[0] = '\0';
	fd = open_proc_file(p, pid, "environ");
	if (fd < 0)
		return;
	while (total < ENV_READ_MAX && !(sc->service[0] && sc->resource[0])) {
		ssize_t r = read(fd, sc->chunk, sizeof(sc->chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		env_feed(sc, sc->chunk, (size_t)r);
		total += (size_t)r;
	}
	if (sc->len)
		env_entry(sc); /* last entry without its NUL */
	close(fd);
}

static void read_exe(struct tw_procinfo *p, uint32_t pid, char *out, size_t size)
{
	static const char deleted[] = " (deleted)";
	char rel[32], target[4096];
	const char *base;
	ssize_t len;

	out[0] = '\0';
	snprintf(rel, sizeof(rel), "%u/exe", pid);
	len = readlinkat(p->root_fd, rel, target, sizeof(target) - 1);
	if (len <= 0)
		return;
	target[len] = '\0';
	/* A binary replaced on disk (package upgrade) still names the service. */
	if ((size_t)len > sizeof(deleted) - 1 &&
	    !strcmp(target + len - (sizeof(deleted) - 1), deleted))
		target[len - (sizeof(deleted) - 1)] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	copy_cut(out, size, base, strlen(base));
}

static void read_cmdline(struct tw_procinfo *p, uint32_t pid, char *out, size_t size)
{
	ssize_t len = read_small(p, pid, "cmdline", out, size);

	if (len <= 0) {
		out[0] = '\0';
		return;
	}
	for (ssize_t i = 0; i < len; i++)
		if (out[i] == '\0')
			out[i] = ' ';
	while (len && out[len - 1] == ' ')
		len--;
	copy_cut(out, size, out, (size_t)len);
}

static void choose_service(struct tw_proc *e, const struct env_scan *sc, const char *comm)
{
	const char *src = comm && comm[0] ? comm : e->comm;

	e->service_source = TW_SERVICE_FROM_COMM;
	if (sc->service[0]) {
		src = sc->service;
		e->service_source = TW_SERVICE_FROM_ENV;
	} else if (sc->resource_service[0]) {
		src = sc->resource_service;
		e->service_source = TW_SERVICE_FROM_RESOURCE;
	} else if (e->exe[0]) {
		src = e->exe;
		e->service_source = TW_SERVICE_FROM_EXE;
	}
	copy_cut(e->service, sizeof(e->service), src, strlen(src));
}

static void build(struct tw_procinfo *p, struct slot *s, uint32_t pid, uint64_t start_time,
		  const char *stat_comm, const char *comm, uint64_t now_ns)
{
	struct tw_proc *e = &s->proc;

	memset(e, 0, sizeof(*e));
	e->pid = pid;
	e->start_time = start_time;
	copy_cut(e->comm, sizeof(e->comm), stat_comm, strlen(stat_comm));
	read_exe(p, pid, e->exe, sizeof(e->exe));
	read_cmdline(p, pid, e->cmdline, sizeof(e->cmdline));
	scan_environ(p, pid);
	choose_service(e, &p->scan, comm);
	memcpy(e->resource, p->scan.resource, sizeof(e->resource));
	s->valid = true;
	s->checked_ns = now_ns;
	p->stats.builds++;
}

static bool same_comm(const char *cached, const char *comm)
{
	/* The kernel's comm is at most 15 bytes; stat may show it in full. */
	return !comm || !comm[0] || !strncmp(cached, comm, 15);
}

/* The process is gone: a cached entry of that pid is the best answer if it
 * plausibly is the same program. The caller's comm is a thread's name (Java,
 * Go name their threads), so a recent sighting also counts. */
static bool plausibly_same(const struct slot *s, uint32_t pid, const char *comm, uint64_t now_ns)
{
	if (!s->valid || s->proc.pid != pid)
		return false;
	if (same_comm(s->proc.comm, comm))
		return true;
	return now_ns >= s->checked_ns && now_ns - s->checked_ns <= GONE_TRUST_NS;
}

static const struct tw_proc *lookup_gone(struct tw_procinfo *p, struct slot *s, uint32_t pid,
					 const char *comm, uint64_t now_ns, int *err)
{
	struct tw_proc *out = &p->gone;

	p->stats.gone++;
	if (plausibly_same(s, pid, comm, now_ns)) {
		p->stats.gone_cached++;
		return &s->proc;
	}
	memset(out, 0, sizeof(*out));
	out->pid = pid;
	if (comm)
		copy_cut(out->comm, sizeof(out->comm), comm, strlen(comm));
	copy_cut(out->service, sizeof(out->service), out->comm, strlen(out->comm));
	*err = -ESRCH;
	return out;
}

const struct tw_proc *tw_procinfo_get(struct tw_procinfo *p, uint32_t pid, const char *comm,
				      int *err)
{
	struct slot *s = &p->slots[pid % p->nslots];
	char stat_comm[TW_PROC_COMM_MAX];
	uint64_t start_time, now_ns = p->now_ns();

	*err = 0;
	p->stats.lookups++;
	if (s->valid && s->proc.pid == pid && now_ns >= s->checked_ns &&
	    now_ns - s->checked_ns < p->revalidate_ns) {
		p->stats.hits++;
		return &s->proc;
	}
	if (read_stat(p, pid, &start_time, stat_comm, sizeof(stat_comm)) < 0)
		return lookup_gone(p, s, pid, comm, now_ns, err);

	if (s->valid && s->proc.pid == pid) {
		if (s->proc.start_time != start_time) {
			p->stats.pid_reuse++;
		} else if (strcmp(s->proc.comm, stat_comm)) {
			p->stats.execs++;
		} else {
			p->stats.hits++;
			s->checked_ns = now_ns;
			return &s->proc;
		}
	}
	build(p, s, pid, start_time, stat_comm, comm, now_ns);
	return &s->proc;
}

int tw_procinfo_lookup(struct tw_procinfo *p, uint32_t pid, const char *comm, struct tw_proc *out)
{
	int err;

	*out = *tw_procinfo_get(p, pid, comm, &err);
	return err;
}

int tw_procinfo_service(struct tw_procinfo *p, uint32_t pid, const char *comm, char *out,
			size_t size)
{
	char comm_copy[TW_PROC_COMM_MAX] = "";
	const struct tw_proc *proc;
	int err;

	/* out may alias comm */
	if (comm)
		copy_cut(comm_copy, sizeof(comm_copy), comm, strnlen(comm, sizeof(comm_copy) - 1));
	proc = tw_procinfo_get(p, pid, comm_copy, &err);
	copy_cut(out, size, proc->service, strlen(proc->service));
	return err;
}

/* Read twice per span only to know whether an entry is older than
 * revalidate_ns (1 s): the coarse clock (a tick's resolution) answers that
 * without reading the TSC, at a fraction of the cost. */
static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct tw_procinfo *tw_procinfo_new(const char *proc_root)
{
	struct tw_procinfo_cfg cfg = { .proc_root = proc_root };

	return tw_procinfo_new_cfg(&cfg);
}

struct tw_procinfo *tw_procinfo_new_cfg(const struct tw_procinfo_cfg *cfg)
{
	const char *root = cfg && cfg->proc_root ? cfg->proc_root : "/proc";
	struct tw_procinfo *p = calloc(1, sizeof(*p));
	int saved;

	if (!p)
		return NULL;
	p->nslots = cfg && cfg->max_entries ? cfg->max_entries : TW_PROCINFO_DEFAULT_ENTRIES;
	p->revalidate_ns = cfg && cfg->revalidate_ns ? cfg->revalidate_ns
						     : TW_PROCINFO_DEFAULT_REVALIDATE_NS;
	p->now_ns = cfg && cfg->now_ns ? cfg->now_ns : monotonic_ns;
	p->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (p->root_fd < 0)
		goto fail;
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	if (!p->slots) {
		errno = ENOMEM;
		goto fail;
	}
	return p;
fail:
	saved = errno;
	tw_procinfo_free(p);
	errno = saved;
	return NULL;
}

void tw_procinfo_free(struct tw_procinfo *p)
{
	if (!p)
		return;
	if (p->root_fd >= 0)
		close(p->root_fd);
	free(p->slots);
	free(p);
}

void tw_procinfo_stats(const struct tw_procinfo *p, struct tw_procinfo_stats *out)
{
	*out = p->stats;
}
