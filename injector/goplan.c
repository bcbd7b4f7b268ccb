// SPDX-License-Identifier: BSD-2-Clause
/* Which probes a Go executable gets, and where (docs/go.md). */
#include "goplan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gobin.h"
#include "tracewire_go.h"

/* The probes read arguments in registers: Go's register ABI (amd64, 1.17+). */
#define GO_MIN_MINOR 17

static const char *const fn_serve = "net/http.serverHandler.ServeHTTP";
static const char *const fn_roundtrip = "net/http.(*persistConn).roundTrip";
static const char *const fn_write = "net/http.(*Request).write";
/* what the transport's bufio.Writer flushes into: the write(2) happens in it */
static const char *const fn_connwrite = "net/http.persistConnWriter.Write";
/* what the server's bufio.Reader reads from: the read(2) of a head is in it */
static const char *const fn_connread = "net/http.(*connReader).Read";
static const char *const fn_newproc = "runtime.newproc1";

enum {
	F_GOID, F_PARENT, F_TREQ,
	/* ServeHTTP's *response -> its connection's fd */
	F_RESP_CONN, F_CONN_RWC, F_TCP_CONN, F_CONN_FD, F_NETFD_PFD, F_FD_SYSFD,
	F_N
};

const char *tw_gosite_name(unsigned kind)
{
	static const char *const names[TW_GS_KINDS] = {
		[TW_GS_SERVE] = "ServeHTTP", [TW_GS_SERVE_RET] = "ServeHTTP RET",
		[TW_GS_ROUNDTRIP] = "persistConn.roundTrip", [TW_GS_WRITE] = "Request.write",
		[TW_GS_CONNWRITE] = "persistConnWriter.Write",
		[TW_GS_CONNWRITE_RET] = "persistConnWriter.Write RET", [TW_GS_NEWPROC] = "newproc1",
		[TW_GS_NEWPROC_RET] = "newproc1 RET", [TW_GS_CONNREAD_RET] = "connReader.Read RET",
	};

	return kind < TW_GS_KINDS ? names[kind] : "?";
}

__attribute__((format(printf, 3, 4)))
static int refuse(struct tw_goplan *plan, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(plan->why, sizeof(plan->why), fmt, ap);
	va_end(ap);
	return err;
}

static int add_site(struct tw_goplan *plan, struct tw_gobin *gb, unsigned kind, uint64_t addr)
{
	struct tw_gosite *s;

	if (plan->n_sites == TW_GOPLAN_MAX_SITES)
		return -E2BIG;
	s = &plan->sites[plan->n_sites];
	if (tw_gobin_file_offset(gb, addr, &s->file_off))
		return -EFAULT;
	s->kind = kind;
	s->addr = addr;
	plan->n_sites++;
	return 0;
}

/* The function's body-start probe (entry_kind) and, with ret_kind, one
 * probe on each RET. */
static int add_func(struct tw_goplan *plan, struct tw_gobin *gb, const struct tw_gofunc *f,
		    int entry_kind, int ret_kind)
{
	uint64_t rets[TW_GOPLAN_MAX_RETS], at;
	int n, err;

	if (entry_kind >= 0) {
		err = tw_gobin_body_start(gb, f, &at);
		if (err)
			return err;
		err = add_site(plan, gb, entry_kind, at);
		if (err)
			return err;
	}
	if (ret_kind < 0)
		return 0;
	n = tw_gobin_rets(gb, f, rets, TW_GOPLAN_MAX_RETS);
	if (n <= 0)
		return n ? n : -ENOENT; /* a function that never returns is no place for a RET probe */
	for (int i = 0; i < n; i++) {
		err = add_site(plan, gb, ret_kind, rets[i]);
		if (err)
			return err;
	}
	return 0;
}

static int plan_fields(struct tw_goplan *plan, struct tw_gobin *gb)
{
	struct tw_gofield f[F_N] = {
		[F_GOID] = { "runtime.g", "goid", -1 },
		[F_PARENT] = { "runtime.g", "parentGoid", -1 },
		[F_TREQ] = { "net/http.transportRequest", "Request", -1 },
		[F_RESP_CONN] = { "net/http.response", "conn", -1 },
		[F_CONN_RWC] = { "net/http.conn", "rwc", -1 },
		[F_TCP_CONN] = { "net.TCPConn", "conn", -1 },
		[F_CONN_FD] = { "net.conn", "fd", -1 },
		[F_NETFD_PFD] = { "net.netFD", "pfd", -1 },
		[F_FD_SYSFD] = { "internal/poll.FD", "Sysfd", -1 },
	};
	int64_t sock[4];
	int err = tw_gobin_dwarf_fields(gb, f, F_N);

	plan->fields_dwarf = !err && f[F_GOID].offset >= 0 && f[F_TREQ].offset >= 0;
	if (!plan->fields_dwarf) {
		err = tw_go_table_fields(plan->major, plan->minor, f, F_N);
		if (err)
			return refuse(plan, -ENOTSUP, "%s without DWARF (built with -w): its field "
				      "offsets are not in tracewire's table", plan->version);
	}
	if (f[F_GOID].offset < 0 || f[F_TREQ].offset < 0)
		return refuse(plan, -ENOTSUP, "runtime.g.goid or net/http.transportRequest.Request "
			      "not found");
	if (f[F_GOID].offset > TW_GO_MAX_G_OFF || f[F_PARENT].offset > TW_GO_MAX_G_OFF ||
	    f[F_TREQ].offset > TW_GO_MAX_OFF)
		return refuse(plan, -ENOTSUP, "field offsets out of range");
	plan->goid_off = (uint32_t)f[F_GOID].offset;
	/* the runtime sets it only from 1.21 on */
	if (f[F_PARENT].offset > 0 && plan->minor >= 21)
		plan->parent_goid_off = (uint32_t)f[F_PARENT].offset;
	plan->treq_req_off = (uint32_t)f[F_TREQ].offset;
	plan->cookie = TW_GO_COOKIE(plan->goid_off, plan->parent_goid_off, plan->treq_req_off);
	/* the socket chain: a *TCPConn in the net.Conn, its *netFD, the fd */
	sock[0] = f[F_RESP_CONN].offset;
	sock[1] = f[F_CONN_RWC].offset < 0 ? -1 : f[F_CONN_RWC].offset + 8;
	sock[2] = f[F_TCP_CONN].offset < 0 || f[F_CONN_FD].offset < 0 ? -1 :
		  f[F_TCP_CONN].offset + f[F_CONN_FD].offset;
	sock[3] = f[F_NETFD_PFD].offset < 0 || f[F_FD_SYSFD].offset < 0 ? -1 :
		  f[F_NETFD_PFD].offset + f[F_FD_SYSFD].offset;
	plan->sock_chain = true;
	for (int i = 0; i < 4; i++)
		if (sock[i] < 0 || sock[i] > TW_GO_MAX_OFF)
			plan->sock_chain = false;
	if (plan->sock_chain)
		plan->cookie |= TW_GO_COOKIE_SOCK(sock[0], sock[1], sock[2], sock[3]);
	else
		plan->cookie |= TW_GO_COOKIE_SOCK(TW_GO_COOKIE_NO_SOCK, 0, 0, 0);
	return 0;
}

static int plan_sites(struct tw_goplan *plan, struct tw_gobin *gb)
{
	struct tw_gofunc serve, rt, wr, cw, np, cr;
	int err;

	if (tw_gobin_func(gb, fn_roundtrip, &rt) || tw_gobin_func(gb, fn_write, &wr) ||
	    tw_gobin_func(gb, fn_connwrite, &cw))
		return refuse(plan, -ENOTSUP, "no net/http client in the binary: nothing to probe");
	if (tw_gobin_func(gb, fn_newproc, &np))
		return refuse(plan, -ENOTSUP, "%s not found", fn_newproc);
	plan->funcs_pclntab = rt.from_pclntab;
	err = add_func(plan, gb, &rt, TW_GS_ROUNDTRIP, -1);
	if (!err)
		err = add_func(plan, gb, &wr, TW_GS_WRITE, -1);
	if (!err)
		err = add_func(plan, gb, &cw, TW_GS_CONNWRITE, TW_GS_CONNWRITE_RET);
	/* Without a net/http server no goroutine serves a request: client
	 * requests are roots, and goroutine creation needs no probe. */
	plan->server = !tw_gobin_func(gb, fn_serve, &serve);
	if (!err && plan->server)
		err = add_func(plan, gb, &serve, TW_GS_SERVE, TW_GS_SERVE_RET);
	if (!err && plan->server)
		err = add_func(plan, gb, &np, plan->parent_goid_off ? -1 : TW_GS_NEWPROC,
			       TW_GS_NEWPROC_RET);
	/* Where a head is read, its SERVER span's ids are moved from the
	 * reading thread to the socket, for ServeHTTP to find wherever it runs. */
	if (!err && plan->server && plan->sock_chain && !tw_gobin_func(gb, fn_connread, &cr))
		err = add_func(plan, gb, &cr, -1, TW_GS_CONNREAD_RET);
	if (err)
		return refuse(plan, -ENOTSUP, "placing the probes failed: %s", strerror(-err));
	return 0;
}

int tw_goplan_build(const char *path, struct tw_goplan *plan)
{
	struct tw_gobin *gb;
	int err;

	memset(plan, 0, sizeof(*plan));
	err = tw_gobin_open(path, &gb);
	if (err == -ENOEXEC)
		return refuse(plan, -ENOTSUP, "not an x86-64 ELF executable");
	if (err)
		return refuse(plan, err, "cannot read it: %s", strerror(-err));
	if (!tw_gobin_is_go(gb)) {
		err = refuse(plan, -ENOTSUP, "not a Go binary");
		goto out;
	}
	snprintf(plan->version, sizeof(plan->version), "%s", tw_gobin_version(gb));
	if (tw_go_parse_version(plan->version, &plan->major, &plan->minor)) {
		err = refuse(plan, -ENOTSUP, "Go version unknown ('%s')", plan->version);
		goto out;
	}
	if (plan->major != 1 || plan->minor < GO_MIN_MINOR) {
		err = refuse(plan, -ENOTSUP, "%s is older than go1.%d (no register ABI)",
			     plan->version, GO_MIN_MINOR);
		goto out;
	}
	err = plan_fields(plan, gb);
	if (!err)
		err = plan_sites(plan, gb);
out:
	tw_gobin_close(gb);
	return err;
}

void tw_goplan_describe(const struct tw_goplan *plan, char *buf, size_t len)
{
	static const struct { unsigned entry, ret; const char *name; } groups[] = {
		{ TW_GS_SERVE, TW_GS_SERVE_RET, "ServeHTTP" },
		{ TW_GS_ROUNDTRIP, TW_GS_KINDS, "persistConn.roundTrip" },
		{ TW_GS_WRITE, TW_GS_KINDS, "Request.write" },
		{ TW_GS_CONNWRITE, TW_GS_CONNWRITE_RET, "persistConnWriter.Write" },
		{ TW_GS_NEWPROC, TW_GS_NEWPROC_RET, "newproc1" },
		{ TW_GS_KINDS, TW_GS_CONNREAD_RET, "connReader.Read" },
	};
	size_t count[TW_GS_KINDS + 1] = { 0 }, off;
	bool first = true;

	for (size_t i = 0; i < plan->n_sites; i++)
		count[plan->sites[i].kind]++;
	off = (size_t)snprintf(buf, len, "%s, functions from %s, offsets from %s (goid +%u%s), "
			       "%zu probes:", plan->version,
			       plan->funcs_pclntab ? ".gopclntab" : ".symtab",
			       plan->fields_dwarf ? "DWARF" : "the version table", plan->goid_off,
			       plan->parent_goid_off ? ", parentGoid" : "", plan->n_sites);
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]) && off < len; g++) {
		size_t e = count[groups[g].entry], r = count[groups[g].ret];

		if (!e && !r)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s %s (%s%s%.0zu%s)", first ? "" : ",",
					groups[g].name, e ? "entry" : "", e && r ? " + " : "", r,
					r ? " RET" : "");
		first = false;
	}
	if (off < len && !plan->server)
		snprintf(buf + off, len - off, "; no net/http server: its client requests are roots");
}
