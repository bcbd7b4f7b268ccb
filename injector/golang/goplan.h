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
	TW_GS_SERVE = 0,     /* net/http.serverHandler.ServeHTTP, entry */
	TW_GS_ROUNDTRIP,     /* net/http.(*persistConn).roundTrip, entry */
	TW_GS_CONNWRITE,     /* net/http.persistConnWriter.Write, entry */
	TW_GS_SPAWN_PARENT,  /* runtime.newproc.func1: its call of newproc1 (RBX: parent g),
			      * when there is no g.parentGoid */
	TW_GS_SPAWN,         /* runtime.newproc.func1: its call of runqput (RBX: new g) */
	/* Fallbacks, on instructions the kernel single-steps (slower): */
	TW_GS_NEWPROC,       /* runtime.newproc1, entry (no call sites found, no parentGoid) */
	TW_GS_NEWPROC_RET,   /* ... each RET (no call sites found) */
	TW_GS_CONNWRITE_RET, /* persistConnWriter.Write, each RET (no write(2) exit program) */
	TW_GS_CONNREAD_RET,  /* net/http.(*connReader).Read, each RET (no read(2) exit program) */
	/* Go HTTPS plaintext (crypto/tls), for any binary that has it: */
	TW_GS_TLS_READ,      /* crypto/tls.(*Conn).Read, entry: parks the call */
	TW_GS_TLS_READ_RET,  /* ... each RET: records what it read */
	TW_GS_TLS_WRITE,     /* crypto/tls.(*Conn).Write, entry: records what it writes */
	/* grpc-go (docs/go.md "gRPC"), for a binary with its server and client: */
	TW_GS_GRPC_SERVER,   /* transport.(*http2Server).operateHeaders, entry: a server
			      * stream's ids, on the reader goroutine */
	TW_GS_GRPC_PUT,      /* transport.(*controlBuffer).executeAndPut, entry: a client
			      * stream's *headerFrame queued by a goroutine */
	TW_GS_GRPC_LOOPY,    /* transport.(*loopyWriter).headerHandler, entry: its stream id
			      * and socket */
	TW_GS_KINDS,
};

#define TW_GOPLAN_MAX_RETS 32 /* per function */
#define TW_GOPLAN_MAX_SITES (12 + 4 * TW_GOPLAN_MAX_RETS)

struct tw_gosite {
	uint8_t kind;       /* enum tw_gosite_kind */
	uint64_t cookie;    /* the plan's offsets and this site's TW_GO_COOKIE_AT_* */
	uint64_t addr;      /* virtual address (for logs and tests) */
	uint64_t file_off;  /* what the uprobe is attached at */
};

struct tw_goplan {
	char version[48];   /* "go1.19.8" */
	unsigned major, minor;
	bool funcs_pclntab; /* functions found in .gopclntab (stripped binary) */
	bool fields_dwarf;  /* offsets from DWARF, else tracewire's table */
	bool client;        /* net/http client functions probed (goroutine parentage) */
	bool server;        /* net/http server functions probed */
	bool tls;           /* crypto/tls (*Conn).Read and Write probed (Go HTTPS spans) */
	char tls_why[96];   /* when not: why not ("no crypto/tls in the binary", ...) */
	bool grpc;          /* grpc-go's transport probed (server stream -> client streams) */
	char grpc_why[96];  /* when not: why not ("" when the binary has no grpc-go) */
	uint32_t goid_off;
	uint32_t parent_goid_off; /* 0: none known: the parent is taken at newproc1's call */
	bool sock_chain;    /* ServeHTTP can find its socket (response -> fd) */
	uint8_t sock_offs[4]; /* ... the chain's offsets: TW_GO_COOKIE_SOCK's arguments */
	bool tls_chain;     /* a *tls.Conn's socket can be found (tls.Conn -> netFD) */
	uint8_t tls_offs[5]; /* ... the chain's offsets: TW_GO_COOKIE_TLS's arguments */
	int16_t net_offs[4]; /* TCPConn -> *netFD, netFD -> fd, .family, .sotype; -1: unknown */
	int16_t grpc_offs[10]; /* grpc-go's and x/net/http2's fields (goplan.c G_*); -1: unknown */
	struct tw_gosite sites[TW_GOPLAN_MAX_SITES];
	size_t n_sites;
	char why[160];      /* when the binary gets no probes: why not */
};

/*
 * The probes for executable path. 0 with plan filled; -ENOTSUP with
 * plan->why set when it is not a Go binary tracewire can probe (not Go, too
 * old, neither a net/http client nor crypto/tls, offsets unknown, ...); a
 * binary that has one of them gets its probes (plan->client, plan->tls;
 * plan->tls_why says why crypto/tls is not probed); other negative errno
 * (unreadable file), also with plan->why.
 */
int tw_goplan_build(const char *path, struct tw_goplan *plan);
/* The same on an open executable (the caller keeps fd): what the daemon
 * does, so that the file analysed is the one the probes are attached to.
 * -ETIMEDOUT with plan->why set when the thread's time budget
 * (gobudget.h) ran out. */
int tw_goplan_build_fd(int fd, struct tw_goplan *plan);
/* "ServeHTTP" etc. */
const char *tw_gosite_name(unsigned kind);
/* Drops the sites of one kind (fallbacks not needed). */
void tw_goplan_drop(struct tw_goplan *plan, unsigned kind);
/* Drops the crypto/tls probes (--tls-capture off), why: for the log. true
 * when nothing is left to probe (plan->why says so). */
bool tw_goplan_drop_tls(struct tw_goplan *plan, const char *why);
/* Drops the grpc-go probes (their programs did not load), why: for the
 * log, and the goroutine-creation probes when only they needed them. true
 * when nothing is left to probe (plan->why says so). */
bool tw_goplan_drop_grpc(struct tw_goplan *plan, const char *why);
/* "go1.19.8, functions from .symtab, offsets from DWARF (goid +152), 6
 * probes: ServeHTTP (jbe), ..." for the log. */
void tw_goplan_describe(const struct tw_goplan *plan, char *buf, size_t len);

#endif
