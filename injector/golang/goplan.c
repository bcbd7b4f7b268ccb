// SPDX-License-Identifier: BSD-2-Clause
/* Which probes a Go executable gets, and where (docs/go.md). */
#include "goplan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gobin.h"
#include "gobudget.h"
#include "tracewire_go.h"

/* The probes read arguments in registers: Go's register ABI (amd64, 1.17+). */
#define GO_MIN_MINOR 17

static const char *const fn_serve = "net/http.serverHandler.ServeHTTP";
static const char *const fn_roundtrip = "net/http.(*persistConn).roundTrip";
/* what the transport's bufio.Writer flushes into: the write(2) happens in it */
static const char *const fn_connwrite = "net/http.persistConnWriter.Write";
/* what the server's bufio.Reader reads from: the read(2) of a head is in it */
static const char *const fn_connread = "net/http.(*connReader).Read";
/* `go f()`: newproc runs this closure on the system stack; it calls newproc1
 * (which makes the goroutine) and then runqput with the new g */
static const char *const fn_spawn = "runtime.newproc.func1";
static const char *const fn_newproc1 = "runtime.newproc1";
static const char *const fn_runqput = "runtime.runqput";
/* Go HTTPS: the plaintext of every crypto/tls connection passes these */
static const char *const fn_tls_read = "crypto/tls.(*Conn).Read";
static const char *const fn_tls_write = "crypto/tls.(*Conn).Write";

/* grpc-go (docs/go.md "gRPC") */
#define GRPC_T "google.golang.org/grpc/internal/transport."
#define XH2 "golang.org/x/net/http2."
static const char *const fn_grpc_server = GRPC_T "(*http2Server).operateHeaders";
static const char *const fn_grpc_put = GRPC_T "(*controlBuffer).executeAndPut";
static const char *const fn_grpc_loopy = GRPC_T "(*loopyWriter).headerHandler";
/* a binary that opens client streams (the server alone parents nothing) */
static const char *const fn_grpc_newstream = GRPC_T "(*http2Client).NewStream";
/* the itab of a *headerFrame in a cbItem (its "go:" spelling from Go 1.20) */
static const char *const sym_grpc_itab[] = {
	"go.itab.*" GRPC_T "headerFrame," GRPC_T "cbItem",
	"go:itab.*" GRPC_T "headerFrame," GRPC_T "cbItem",
};

/* plan->grpc_offs[] */
enum {
	G_META_HF, G_META_FIELDS, G_HF_FH, G_FH_SID, G_SRV_CONN, G_HDR_SID, G_HDR_INIT,
	G_LOOPY_FRAMER, G_FRAMER_WRITER, G_BUFW_CONN, G_N
};

enum {
	F_GOID, F_PARENT,
	/* ServeHTTP's *response -> its connection's fd */
	F_RESP_CONN, F_CONN_RWC, F_TCP_CONN, F_CONN_FD, F_NETFD_PFD, F_FD_SYSFD,
	/* a *tls.Conn -> its *netFD (then F_NETFD_PFD, F_FD_SYSFD), which must be TCP */
	F_TLS_CONN, F_NETFD_FAMILY, F_NETFD_SOTYPE,
	/* grpc-go: from DWARF only (not Go's: no version table) */
	F_GRPC,
	F_N = F_GRPC + G_N
};

const char *tw_gosite_name(unsigned kind)
{
	static const char *const names[TW_GS_KINDS] = {
		[TW_GS_SERVE] = "ServeHTTP",
		[TW_GS_ROUNDTRIP] = "persistConn.roundTrip",
		[TW_GS_CONNWRITE] = "persistConnWriter.Write",
		[TW_GS_SPAWN_PARENT] = "newproc.func1 call newproc1",
		[TW_GS_SPAWN] = "newproc.func1 call runqput",
		[TW_GS_NEWPROC] = "newproc1",
		[TW_GS_NEWPROC_RET] = "newproc1 RET",
		[TW_GS_CONNWRITE_RET] = "persistConnWriter.Write RET",
		[TW_GS_CONNREAD_RET] = "connReader.Read RET",
		[TW_GS_TLS_READ] = "tls.Conn.Read",
		[TW_GS_TLS_READ_RET] = "tls.Conn.Read RET",
		[TW_GS_TLS_WRITE] = "tls.Conn.Write",
		[TW_GS_GRPC_SERVER] = "grpc http2Server.operateHeaders",
		[TW_GS_GRPC_PUT] = "grpc controlBuffer.executeAndPut",
		[TW_GS_GRPC_LOOPY] = "grpc loopyWriter.headerHandler",
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

static int add_site(struct tw_goplan *plan, struct tw_gobin *gb, unsigned kind, uint64_t addr,
		    uint64_t cookie)
{
	struct tw_gosite *s;

	if (plan->n_sites == TW_GOPLAN_MAX_SITES)
		return -E2BIG;
	s = &plan->sites[plan->n_sites];
	if (tw_gobin_file_offset(gb, addr, &s->file_off))
		return -EFAULT;
	s->kind = kind;
	s->addr = addr;
	s->cookie = cookie;
	plan->n_sites++;
	return 0;
}

/* An entry probe: on the stack check's jump when there is one. */
static int add_entry(struct tw_goplan *plan, struct tw_gobin *gb, const struct tw_gofunc *f,
		     unsigned kind, uint64_t cookie)
{
	struct tw_goentry e;
	int err = tw_gobin_entry(gb, f, &e);

	if (err)
		return err;
	if (!e.branch)
		return add_site(plan, gb, kind, f->addr, cookie);
	cookie |= e.branch_jb ? TW_GO_COOKIE_AT_JB : TW_GO_COOKIE_AT_JBE;
	return add_site(plan, gb, kind, e.branch, cookie);
}

static int add_rets(struct tw_goplan *plan, struct tw_gobin *gb, const struct tw_gofunc *f,
		    unsigned kind, uint64_t cookie)
{
	uint64_t rets[TW_GOPLAN_MAX_RETS];
	int n = tw_gobin_rets(gb, f, rets, TW_GOPLAN_MAX_RETS), err;

	if (n <= 0)
		return n ? n : -ENOENT; /* a function that never returns is no place for a RET probe */
	for (int i = 0; i < n; i++) {
		err = add_site(plan, gb, kind, rets[i], cookie);
		if (err)
			return err;
	}
	return 0;
}

static int plan_fields(struct tw_goplan *plan, struct tw_gobin *gb, uint64_t *cookie)
{
	struct tw_gofield f[F_N] = {
		[F_GOID] = { "runtime.g", "goid", -1 },
		[F_PARENT] = { "runtime.g", "parentGoid", -1 },
		[F_RESP_CONN] = { "net/http.response", "conn", -1 },
		[F_CONN_RWC] = { "net/http.conn", "rwc", -1 },
		[F_TCP_CONN] = { "net.TCPConn", "conn", -1 },
		[F_CONN_FD] = { "net.conn", "fd", -1 },
		[F_NETFD_PFD] = { "net.netFD", "pfd", -1 },
		[F_FD_SYSFD] = { "internal/poll.FD", "Sysfd", -1 },
		[F_TLS_CONN] = { "crypto/tls.Conn", "conn", -1 },
		[F_NETFD_FAMILY] = { "net.netFD", "family", -1 },
		[F_NETFD_SOTYPE] = { "net.netFD", "sotype", -1 },
		[F_GRPC + G_META_HF] = { XH2 "MetaHeadersFrame", "HeadersFrame", -1 },
		[F_GRPC + G_META_FIELDS] = { XH2 "MetaHeadersFrame", "Fields", -1 },
		[F_GRPC + G_HF_FH] = { XH2 "HeadersFrame", "FrameHeader", -1 },
		[F_GRPC + G_FH_SID] = { XH2 "FrameHeader", "StreamID", -1 },
		[F_GRPC + G_SRV_CONN] = { GRPC_T "http2Server", "conn", -1 },
		[F_GRPC + G_HDR_SID] = { GRPC_T "headerFrame", "streamID", -1 },
		[F_GRPC + G_HDR_INIT] = { GRPC_T "headerFrame", "initStream", -1 },
		[F_GRPC + G_LOOPY_FRAMER] = { GRPC_T "loopyWriter", "framer", -1 },
		[F_GRPC + G_FRAMER_WRITER] = { GRPC_T "framer", "writer", -1 },
		[F_GRPC + G_BUFW_CONN] = { GRPC_T "bufWriter", "conn", -1 },
	};
	int64_t sock[4], tls[5];
	int err = tw_gobin_dwarf_fields(gb, f, F_N);

	plan->fields_dwarf = !err && f[F_GOID].offset >= 0;
	if (!plan->fields_dwarf) {
		int dwarf_err = err;

		err = tw_go_table_fields(plan->major, plan->minor, f, F_N);
		if (err && dwarf_err == -EFBIG)
			return refuse(plan, -ENOTSUP, "%s with DWARF of more than 128 MiB (not read): "
				      "its field offsets are not in tracewire's table", plan->version);
		if (err)
			return refuse(plan, -ENOTSUP, "%s without DWARF (built with -w): its field "
				      "offsets are not in tracewire's table", plan->version);
	}
	if (f[F_GOID].offset < 0)
		return refuse(plan, -ENOTSUP, "runtime.g.goid not found");
	if (f[F_GOID].offset > TW_GO_MAX_G_OFF || f[F_PARENT].offset > TW_GO_MAX_G_OFF)
		return refuse(plan, -ENOTSUP, "field offsets out of range");
	plan->goid_off = (uint32_t)f[F_GOID].offset;
	/* the runtime sets it only from 1.21 on */
	if (f[F_PARENT].offset > 0 && plan->minor >= 21)
		plan->parent_goid_off = (uint32_t)f[F_PARENT].offset;
	*cookie = TW_GO_COOKIE(plan->goid_off, plan->parent_goid_off);
	/* the socket chain: a *TCPConn in the net.Conn, its *netFD, the fd */
	sock[0] = f[F_RESP_CONN].offset;
	sock[1] = f[F_CONN_RWC].offset < 0 ? -1 : f[F_CONN_RWC].offset + 8;
	sock[2] = f[F_TCP_CONN].offset < 0 || f[F_CONN_FD].offset < 0 ? -1 :
		  f[F_TCP_CONN].offset + f[F_CONN_FD].offset;
	sock[3] = f[F_NETFD_PFD].offset < 0 || f[F_FD_SYSFD].offset < 0 ? -1 :
		  f[F_NETFD_PFD].offset + f[F_FD_SYSFD].offset;
	plan->sock_chain = true;
	for (int i = 0; i < 4; i++) {
		if (sock[i] < 0 || sock[i] > TW_GO_MAX_OFF)
			plan->sock_chain = false;
		else
			plan->sock_offs[i] = (uint8_t)sock[i];
	}
	plan->net_offs[0] = (int16_t)(sock[2] > TW_GO_MAX_OFF ? -1 : sock[2]);
	plan->net_offs[1] = (int16_t)(sock[3] > TW_GO_MAX_OFF ? -1 : sock[3]);
	plan->net_offs[2] = (int16_t)(f[F_NETFD_FAMILY].offset > TW_GO_MAX_OFF ? -1 :
				      f[F_NETFD_FAMILY].offset);
	plan->net_offs[3] = (int16_t)(f[F_NETFD_SOTYPE].offset > TW_GO_MAX_OFF ? -1 :
				      f[F_NETFD_SOTYPE].offset);
	for (int i = 0; i < G_N; i++)
		plan->grpc_offs[i] = (int16_t)(f[F_GRPC + i].offset > TW_GO_MAX_OFF ? -1 :
					       f[F_GRPC + i].offset);
	/* a *tls.Conn: its net.Conn's data word (a *TCPConn), the *netFD, the
	 * fd, and the netFD's family and type */
	tls[0] = f[F_TLS_CONN].offset < 0 ? -1 : f[F_TLS_CONN].offset + 8;
	tls[1] = sock[2];
	tls[2] = sock[3];
	tls[3] = f[F_NETFD_FAMILY].offset;
	tls[4] = f[F_NETFD_SOTYPE].offset;
	plan->tls_chain = true;
	for (int i = 0; i < 5; i++) {
		if (tls[i] < 0 || tls[i] > TW_GO_MAX_OFF)
			plan->tls_chain = false;
		else
			plan->tls_offs[i] = (uint8_t)tls[i];
	}
	return 0;
}

/* Go HTTPS plaintext: crypto/tls (*Conn).Read's entry and RETs, Write's
 * entry. Never fatal: without them the binary keeps its other probes, and
 * plan->tls_why says why. */
static void plan_tls(struct tw_goplan *plan, struct tw_gobin *gb)
{
	struct tw_gofunc rd, wr;
	size_t n_before = plan->n_sites;
	uint64_t cookie;
	int err;

	if (tw_gobin_func(gb, fn_tls_read, &rd) || tw_gobin_func(gb, fn_tls_write, &wr)) {
		snprintf(plan->tls_why, sizeof(plan->tls_why), "no crypto/tls in the binary");
		return;
	}
	if (!plan->tls_chain) {
		snprintf(plan->tls_why, sizeof(plan->tls_why),
			 "offsets from tls.Conn to its socket unknown for %s", plan->version);
		return;
	}
	cookie = TW_GO_COOKIE_TLS(plan->tls_offs[0], plan->tls_offs[1], plan->tls_offs[2],
				  plan->tls_offs[3], plan->tls_offs[4]);
	err = add_entry(plan, gb, &rd, TW_GS_TLS_READ, cookie);
	if (!err)
		err = add_rets(plan, gb, &rd, TW_GS_TLS_READ_RET, cookie);
	if (!err)
		err = add_entry(plan, gb, &wr, TW_GS_TLS_WRITE, cookie | TW_GO_COOKIE_TLS_WRITE);
	if (err) {
		plan->n_sites = n_before;
		snprintf(plan->tls_why, sizeof(plan->tls_why), "placing its probes failed: %s",
			 strerror(-err));
		return;
	}
	if (!plan->client)
		plan->funcs_pclntab = rd.from_pclntab;
	plan->tls = true;
}

/* Why grpc-go is not probed, for the log line. Returns 0 (not fatal). */
__attribute__((format(printf, 2, 3)))
static int grpc_refuse(struct tw_goplan *plan, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(plan->grpc_why, sizeof(plan->grpc_why), fmt, ap);
	va_end(ap);
	return 0;
}

/* Whether off fits a cookie field of bits bits after dividing by unit. */
static bool fits(int64_t off, unsigned bits, unsigned unit)
{
	return off >= 0 && off % unit == 0 && off / unit < (1 << bits) && off <= TW_GO_MAX_OFF;
}

/* grpc-go: a server stream's SERVER span ids chosen on the connection's
 * reader goroutine (operateHeaders), and the client streams a goroutine
 * opens while it serves one (executeAndPut, then headerHandler on the
 * writer goroutine) given it as their parent. Only in a binary with both
 * (a server alone parents nothing), offsets from DWARF only. Never fatal:
 * without them the binary keeps its other probes, and plan->grpc_why says
 * why. Returns 0. */
static int plan_grpc(struct tw_goplan *plan, struct tw_gobin *gb, uint64_t cookie)
{
	const int16_t *g = plan->grpc_offs, *n = plan->net_offs;
	struct tw_gofunc srv, put, loopy, ns;
	size_t before = plan->n_sites;
	uint64_t itab = 0, c_srv, c_put, c_loopy;
	int err;

	if (tw_gobin_func(gb, fn_grpc_server, &srv) || tw_gobin_func(gb, fn_grpc_newstream, &ns))
		return 0; /* no grpc-go server and client: nothing to say */
	if (tw_gobin_func(gb, fn_grpc_put, &put) || tw_gobin_func(gb, fn_grpc_loopy, &loopy))
		return grpc_refuse(plan, "its transport's executeAndPut or headerHandler not "
				   "found (another grpc-go version?)");
	for (int i = 0; i < G_N; i++)
		if (g[i] < 0)
			return grpc_refuse(plan, "its field offsets not known (no DWARF)");
	if (n[0] < 0 || !fits(n[1], 4, 8) || !fits(n[2], 6, 8) || n[3] != n[2] + 8)
		return grpc_refuse(plan, "net.netFD's layout not as expected");
	if (!fits(g[G_META_HF], 8, 1) || !fits(g[G_HF_FH] + g[G_FH_SID], 8, 1) ||
	    !fits(g[G_META_FIELDS], 8, 1) || !fits(g[G_SRV_CONN] + 8, 8, 1) ||
	    !fits(g[G_HDR_INIT], 8, 1) || !g[G_HDR_INIT] || !fits(g[G_BUFW_CONN] + 8, 8, 1))
		return grpc_refuse(plan, "field offsets out of range");
	for (size_t i = 0; i < sizeof(sym_grpc_itab) / sizeof(sym_grpc_itab[0]); i++)
		if (!tw_gobin_object(gb, sym_grpc_itab[i], &itab))
			break;
	/* no itab (stripped, PIE): every item's data word is looked up */
	if (itab > UINT32_MAX)
		itab = 0;
	cookie &= 0xfff; /* the goid alone: the rest of these cookies is theirs */
	c_srv = cookie | TW_GO_COOKIE_GRPC_SRV(g[G_META_HF], g[G_HF_FH] + g[G_FH_SID],
					       g[G_META_FIELDS], g[G_SRV_CONN] + 8, n[0], n[1] / 8,
					       n[2] / 8);
	c_put = cookie | TW_GO_COOKIE_GRPC_PUT(g[G_HDR_INIT], itab);
	c_loopy = TW_GO_COOKIE_GRPC_LOOPY(g[G_HDR_SID], g[G_LOOPY_FRAMER], g[G_FRAMER_WRITER],
					  g[G_BUFW_CONN] + 8, n[0], n[1], n[2] / 8);
	err = add_entry(plan, gb, &srv, TW_GS_GRPC_SERVER, c_srv);
	if (!err)
		err = add_entry(plan, gb, &put, TW_GS_GRPC_PUT, c_put);
	if (!err)
		err = add_entry(plan, gb, &loopy, TW_GS_GRPC_LOOPY, c_loopy);
	if (err) {
		plan->n_sites = before;
		return grpc_refuse(plan, "placing its probes failed: %s", strerror(-err));
	}
	if (!plan->client && !plan->tls)
		plan->funcs_pclntab = srv.from_pclntab;
	plan->grpc = true;
	return 0;
}

/* Goroutine creation: the calls in newproc.func1 (emulated), else
 * newproc1's entry and RETs. */
static int plan_spawn(struct tw_goplan *plan, struct tw_gobin *gb, uint64_t cookie)
{
	struct tw_gofunc spawn, np, rq;
	uint64_t call_np, call_rq;
	int err;

	if (tw_gobin_func(gb, fn_newproc1, &np))
		return refuse(plan, -ENOTSUP, "%s not found", fn_newproc1);
	if (!tw_gobin_func(gb, fn_spawn, &spawn) && !tw_gobin_func(gb, fn_runqput, &rq) &&
	    !tw_gobin_call_to(gb, &spawn, rq.addr, &call_rq) &&
	    !tw_gobin_call_to(gb, &spawn, np.addr, &call_np) && call_np < call_rq) {
		err = 0;
		if (!plan->parent_goid_off)
			err = add_site(plan, gb, TW_GS_SPAWN_PARENT, call_np, cookie);
		return err ? err : add_site(plan, gb, TW_GS_SPAWN, call_rq, cookie);
	}
	err = plan->parent_goid_off ? 0 : add_entry(plan, gb, &np, TW_GS_NEWPROC, cookie);
	return err ? err : add_rets(plan, gb, &np, TW_GS_NEWPROC_RET, cookie);
}

static int plan_sites(struct tw_goplan *plan, struct tw_gobin *gb, uint64_t cookie)
{
	struct tw_gofunc serve, rt, cw, cr;
	uint64_t sock_cookie;
	int err;

	plan->client = !tw_gobin_func(gb, fn_roundtrip, &rt) && !tw_gobin_func(gb, fn_connwrite, &cw);
	plan_tls(plan, gb);
	(void)plan_grpc(plan, gb, cookie);
	if (!plan->client && !plan->tls && !plan->grpc && plan->grpc_why[0])
		return refuse(plan, -ENOTSUP, "grpc-go not probed (%s), no net/http client, and "
			      "%s: nothing to probe", plan->grpc_why, plan->tls_why);
	if (!plan->client && !plan->tls && !plan->grpc)
		return refuse(plan, -ENOTSUP, "no net/http client in the binary, and %s: nothing "
			      "to probe", plan->tls_why);
	/* Without a net/http client a goroutine's server request parents
	 * nothing but grpc-go's streams: crypto/tls and grpc-go are probed. */
	if (!plan->client) {
		err = plan->grpc ? plan_spawn(plan, gb, cookie) : 0;
		if (err && !plan->why[0])
			refuse(plan, -ENOTSUP, "placing the probes failed: %s", strerror(-err));
		return err;
	}
	plan->funcs_pclntab = rt.from_pclntab;
	err = add_entry(plan, gb, &rt, TW_GS_ROUNDTRIP, cookie);
	if (!err)
		err = add_entry(plan, gb, &cw, TW_GS_CONNWRITE, cookie);
	if (!err)
		err = add_rets(plan, gb, &cw, TW_GS_CONNWRITE_RET, cookie);
	/* Without a net/http server no goroutine serves a request: client
	 * requests are roots, and goroutine creation needs no probe. */
	plan->server = !tw_gobin_func(gb, fn_serve, &serve);
	if (!err && plan->server) {
		sock_cookie = plan->sock_chain ?
			TW_GO_COOKIE_SOCK(plan->sock_offs[0], plan->sock_offs[1],
					  plan->sock_offs[2], plan->sock_offs[3]) :
			TW_GO_COOKIE_SOCK(TW_GO_COOKIE_NO_SOCK, 0, 0, 0);
		err = add_entry(plan, gb, &serve, TW_GS_SERVE, cookie | sock_cookie);
	}
	if (!err && (plan->server || plan->grpc))
		err = plan_spawn(plan, gb, cookie);
	if (err && plan->why[0])
		return err;
	/* The read(2) exit program moves heads' ids to their socket; where it
	 * cannot attach, connReader.Read's RETs do (same thread mostly). */
	if (!err && plan->server && plan->sock_chain && !tw_gobin_func(gb, fn_connread, &cr))
		err = add_rets(plan, gb, &cr, TW_GS_CONNREAD_RET, cookie);
	if (err)
		return refuse(plan, -ENOTSUP, "placing the probes failed: %s", strerror(-err));
	return 0;
}

int tw_goplan_build(const char *path, struct tw_goplan *plan)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0) {
		err = -errno;
		memset(plan, 0, sizeof(*plan));
		return refuse(plan, err, "cannot read it: %s", strerror(-err));
	}
	err = tw_goplan_build_fd(fd, plan);
	close(fd);
	return err;
}

static int build(int fd, struct tw_goplan *plan)
{
	struct tw_gobin *gb;
	uint64_t cookie = 0;
	int err;

	memset(plan, 0, sizeof(*plan));
	err = tw_gobin_open_fd(fd, &gb);
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
	err = plan_fields(plan, gb, &cookie);
	if (!err)
		err = plan_sites(plan, gb, cookie);
out:
	tw_gobin_close(gb);
	return err;
}

int tw_goplan_build_fd(int fd, struct tw_goplan *plan)
{
	int err = build(fd, plan);

	/* a loop gave up on the time budget: whatever it then said is moot */
	if (tw_gobudget_tripped())
		err = refuse(plan, -ETIMEDOUT, "analysis over its time budget");
	return err;
}

void tw_goplan_drop(struct tw_goplan *plan, unsigned kind)
{
	size_t n = 0;

	for (size_t i = 0; i < plan->n_sites; i++)
		if (plan->sites[i].kind != kind)
			plan->sites[n++] = plan->sites[i];
	plan->n_sites = n;
}

bool tw_goplan_drop_tls(struct tw_goplan *plan, const char *why)
{
	tw_goplan_drop(plan, TW_GS_TLS_READ);
	tw_goplan_drop(plan, TW_GS_TLS_READ_RET);
	tw_goplan_drop(plan, TW_GS_TLS_WRITE);
	if (plan->tls)
		snprintf(plan->tls_why, sizeof(plan->tls_why), "%s", why);
	plan->tls = false;
	if (plan->client || plan->grpc)
		return false;
	snprintf(plan->why, sizeof(plan->why), "no net/http client in the binary, and crypto/tls "
		 "not probed (%s): nothing to probe", why);
	return true;
}

bool tw_goplan_drop_grpc(struct tw_goplan *plan, const char *why)
{
	if (!plan->grpc)
		return false;
	tw_goplan_drop(plan, TW_GS_GRPC_SERVER);
	tw_goplan_drop(plan, TW_GS_GRPC_PUT);
	tw_goplan_drop(plan, TW_GS_GRPC_LOOPY);
	plan->grpc = false;
	snprintf(plan->grpc_why, sizeof(plan->grpc_why), "%s", why);
	/* goroutine creation serves the net/http server or grpc-go only */
	if (!plan->server) {
		tw_goplan_drop(plan, TW_GS_SPAWN_PARENT);
		tw_goplan_drop(plan, TW_GS_SPAWN);
		tw_goplan_drop(plan, TW_GS_NEWPROC);
		tw_goplan_drop(plan, TW_GS_NEWPROC_RET);
	}
	if (plan->client || plan->tls)
		return false;
	(void)refuse(plan, -ENOTSUP, "grpc-go not probed (%s), no net/http client, and "
		     "crypto/tls not probed (%s): nothing to probe", why, plan->tls_why);
	return true;
}

void tw_goplan_describe(const struct tw_goplan *plan, char *buf, size_t len)
{
	size_t count[TW_GS_KINDS] = { 0 }, off;
	unsigned at_jump[TW_GS_KINDS] = { 0 };

	for (size_t i = 0; i < plan->n_sites; i++) {
		count[plan->sites[i].kind]++;
		if (plan->sites[i].cookie & (TW_GO_COOKIE_AT_JBE | TW_GO_COOKIE_AT_JB))
			at_jump[plan->sites[i].kind]++;
	}
	off = (size_t)snprintf(buf, len, "%s, functions from %s, offsets from %s (goid +%u%s), "
			       "%zu probes:", plan->version,
			       plan->funcs_pclntab ? ".gopclntab" : ".symtab",
			       plan->fields_dwarf ? "DWARF" : "the version table", plan->goid_off,
			       plan->parent_goid_off ? ", parentGoid" : "", plan->n_sites);
	for (unsigned k = 0, first = 1; k < TW_GS_KINDS && off < len; k++) {
		if (!count[k])
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s %s%s", first ? "" : ",",
					tw_gosite_name(k), at_jump[k] ? " (stack check)" : "");
		if (count[k] > 1 && off < len)
			off += (size_t)snprintf(buf + off, len - off, " x%zu", count[k]);
		first = 0;
	}
	if (off < len && !plan->client && !plan->grpc)
		off += (size_t)snprintf(buf + off, len - off, "; no net/http client: HTTPS capture only");
	else if (off < len && plan->client && !plan->server)
		off += (size_t)snprintf(buf + off, len - off,
					"; no net/http server: its client requests are roots");
	if (off < len && plan->grpc_why[0])
		off += (size_t)snprintf(buf + off, len - off, "; grpc-go not probed (%s)",
					plan->grpc_why);
	if (off < len && !plan->tls)
		snprintf(buf + off, len - off, "; crypto/tls not probed (%s): its HTTPS is not seen",
			 plan->tls_why);
}
