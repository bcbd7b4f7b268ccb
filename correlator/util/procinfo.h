/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Process information for spans: the service name of a pid, plus its
 * executable name and command line.
 *
 * Service name, first that is set and non-empty:
 *   1. OTEL_SERVICE_NAME in /proc/PID/environ (first occurrence, as getenv),
 *   2. service.name in OTEL_RESOURCE_ATTRIBUTES (OpenTelemetry SDK order),
 *   3. basename of the /proc/PID/exe link,
 *   4. the comm the caller saw (from the kernel event), else the one in stat.
 *
 * Results are cached in a direct-mapped table (slot = pid % max_entries)
 * keyed by pid + start time (/proc/PID/stat field 22), so a reused pid is
 * never given the previous process's name. A cached entry is trusted for
 * revalidate_ns; after that one read of /proc/PID/stat confirms it (a changed
 * comm means the process exec'd: rebuilt). When the process is gone, a cached
 * entry for that pid is still used if its comm matches or it was confirmed
 * alive in the last 10 s: spans often finish after their process exited.
 *
 * Only reads small /proc files with bounded buffers; never blocks on anything
 * but those reads, never fails because a process vanished. Not thread-safe.
 */
#ifndef TW_PROCINFO_H
#define TW_PROCINFO_H

#include <stddef.h>
#include <stdint.h>

#define TW_PROC_COMM_MAX 64    /* comm from stat (kernel threads may exceed 16) */
#define TW_PROC_SERVICE_MAX 64 /* = TW_SERVICE_MAX of spans (checked in otlp_batch.c) */
#define TW_PROC_EXE_MAX 256    /* basename: NAME_MAX + 1 */
#define TW_PROC_CMDLINE_MAX 512
#define TW_PROC_RESOURCE_MAX 512 /* OTEL_RESOURCE_ATTRIBUTES kept for the Resource */
#define TW_PROCINFO_DEFAULT_ENTRIES 4096
#define TW_PROCINFO_DEFAULT_REVALIDATE_NS 1000000000ULL

enum tw_service_source {
	TW_SERVICE_FROM_COMM = 0,
	TW_SERVICE_FROM_ENV = 1,       /* OTEL_SERVICE_NAME */
	TW_SERVICE_FROM_RESOURCE = 2,  /* OTEL_RESOURCE_ATTRIBUTES service.name */
	TW_SERVICE_FROM_EXE = 3,
};

struct tw_procinfo_cfg {
	const char *proc_root;  /* NULL: "/proc"; tests point it at a fake tree */
	size_t max_entries;     /* cache slots; 0: default */
	uint64_t revalidate_ns; /* trust a cached entry this long; 0: default */
	uint64_t (*now_ns)(void); /* monotonic clock; NULL: CLOCK_MONOTONIC (tests fake it) */
};

struct tw_proc {
	uint32_t pid;
	uint64_t start_time;                  /* clock ticks after boot */
	uint8_t service_source;               /* enum tw_service_source */
	char comm[TW_PROC_COMM_MAX];          /* from /proc/PID/stat */
	char service[TW_PROC_SERVICE_MAX];
	char exe[TW_PROC_EXE_MAX];            /* "" if the link was unreadable */
	char cmdline[TW_PROC_CMDLINE_MAX];    /* arguments joined by spaces, cut to fit */
	char resource[TW_PROC_RESOURCE_MAX];  /* its OTEL_RESOURCE_ATTRIBUTES as set ("" none; cut) */
};

struct tw_procinfo_stats {
	uint64_t lookups;
	uint64_t hits;        /* answered from the cache */
	uint64_t builds;      /* entries read from /proc */
	uint64_t pid_reuse;   /* cached pid found with another start time */
	uint64_t execs;       /* cached pid found with another comm */
	uint64_t gone;        /* process not found */
	uint64_t gone_cached; /* ... but answered from the cache */
};

struct tw_procinfo;

/* proc_root NULL: "/proc". NULL with errno set (ENOMEM, or the error
 * opening proc_root). */
struct tw_procinfo *tw_procinfo_new(const char *proc_root);
struct tw_procinfo *tw_procinfo_new_cfg(const struct tw_procinfo_cfg *cfg);
void tw_procinfo_free(struct tw_procinfo *p);

/*
 * Fills out for pid. comm is what the caller knows (may be NULL or "").
 * Returns 0, or -ESRCH when the process is gone and not cached: out then
 * holds only the pid and the fallback service name (comm).
 */
int tw_procinfo_lookup(struct tw_procinfo *p, uint32_t pid, const char *comm, struct tw_proc *out);
/* The same answer without copying its 1.4 KiB (asked twice per span): a
 * pointer into the cache, valid until the next call on p. *err as
 * tw_procinfo_lookup returns. */
const struct tw_proc *tw_procinfo_get(struct tw_procinfo *p, uint32_t pid, const char *comm,
				      int *err);

/* The service name alone into out (always NUL-terminated). out may be the
 * same buffer as comm, e.g. span->service. Returns like tw_procinfo_lookup. */
int tw_procinfo_service(struct tw_procinfo *p, uint32_t pid, const char *comm, char *out,
			size_t size);

void tw_procinfo_stats(const struct tw_procinfo *p, struct tw_procinfo_stats *out);

#endif
