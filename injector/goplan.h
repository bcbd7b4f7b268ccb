/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The Go probes one executable gets (docs/go.md): which functions, at which
 * file offsets, with which field offsets. Built from the file alone
 * (injector/gobin.h), so the unit tests check it on real Go binaries.
 */
#ifndef TW_GOPLAN_H
#define TW_GOPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tw_gosite_kind {
	TW_GS_SERVE = 0,   /* net/http.serverHandler.ServeHTTP, body start */
	TW_GS_SERVE_RET,   /* ... each RET */
	TW_GS_ROUNDTRIP,   /* net/http.(*persistConn).roundTrip, body start */
	TW_GS_WRITE,       /* net/http.(*Request).write, body start */
	TW_GS_CONNWRITE,   /* net/http.persistConnWriter.Write, body start */
	TW_GS_CONNWRITE_RET, /* ... each RET */
	TW_GS_NEWPROC,     /* runtime.newproc1, body start (no parentGoid offset) */
	TW_GS_NEWPROC_RET, /* ... each RET */
	TW_GS_CONNREAD_RET, /* net/http.(*connReader).Read, each RET */
	TW_GS_KINDS,
};

#define TW_GOPLAN_MAX_RETS 32 /* per function */
#define TW_GOPLAN_MAX_SITES (5 + 4 * TW_GOPLAN_MAX_RETS)

struct tw_gosite {
	uint8_t kind;       /* enum tw_gosite_kind */
	uint64_t addr;      /* virtual address (for logs and tests) */
	uint64_t file_off;  /* what the uprobe is attached at */
};

struct tw_goplan {
	char version[48];   /* "go1.19.8" */
	unsigned major, minor;
	bool funcs_pclntab; /* functions found in .gopclntab (stripped binary) */
	bool fields_dwarf;  /* offsets from DWARF, else tracewire's table */
	bool server;        /* net/http server functions probed */
	uint32_t goid_off;
	uint32_t parent_goid_off; /* 0: none known, newproc1's entry saves the parent */
	uint32_t treq_req_off;
	bool sock_chain;    /* ServeHTTP can find its socket (response -> fd) */
	uint64_t cookie;    /* TW_GO_COOKIE of the offsets */
	struct tw_gosite sites[TW_GOPLAN_MAX_SITES];
	size_t n_sites;
	char why[160];      /* when the binary gets no probes: why not */
};

/*
 * The probes for executable path. 0 with plan filled; -ENOTSUP with
 * plan->why set when it is not a Go binary tracewire can probe (not Go, too
 * old, no net/http client, offsets unknown, ...); other negative errno
 * (unreadable file), also with plan->why.
 */
int tw_goplan_build(const char *path, struct tw_goplan *plan);
/* "ServeHTTP" etc. */
const char *tw_gosite_name(unsigned kind);
/* "go1.19.8, functions from .symtab, offsets from DWARF, 30 probes:
 * ServeHTTP+2 RET, ..." for the log. */
void tw_goplan_describe(const struct tw_goplan *plan, char *buf, size_t len);

#endif
