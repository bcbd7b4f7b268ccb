// SPDX-License-Identifier: BSD-2-Clause
/*
 * User-side throughput, no kernel involved (issue 5, item 4).
 *
 * Builds ring-buffer records exactly as bpf/capture.bpf.c and
 * bpf/headers.bpf.c emit them (struct tw_event_hdr + captured payload,
 * 8-byte aligned as in a BPF ring buffer) for a two-hop service: a client
 * calls service A over keep-alive connections, A's handler calls service B
 * over its own keep-alive connections, with header propagation on. Per call
 * chain that is 7 records and 3 spans:
 *
 *   A  ingress DATA   client's request head        (TW_CTX_SERVER: new trace)
 *   A  TW_EV_CTX      ids sk_msg put on A's request to B (stream offset)
 *   A  egress DATA    A's request to B, as A wrote it (TW_CTX_THREAD, stream_off)
 *   B  ingress DATA   that request with the injected traceparent (TW_CTX_SERVER)
 *   B  egress DATA    B's response
 *   A  ingress DATA   B's response, on A's client socket
 *   A  egress DATA    A's response to the client
 *
 * plus CLOSE records when a connection has served --reqs-per-conn requests
 * (and for every connection at the end of a pass). One pass is generated
 * once and replayed as often as the time budget allows.
 *
 * Measurements (each repetition bounded by --seconds, median of --reps):
 *   correlator   records -> tw_correlator_handle, on_span only counts
 *   pipeline     as the daemon: on_span -> procinfo service name ->
 *                tw_traces_add (1 s window, 65536 spans) -> an exporter that
 *                does what the OTLP exporter does per span and per batch of
 *                512 (copy + procinfo lookup, sort by process, resources,
 *                tw_otlp_encode_request), inline on the same core, no HTTP
 *   pipeline+gz  the same, and each batch gzipped (zlib level 1, as sent)
 *   encode       tw_otlp_encode_request of 512-span requests (2 resources)
 *   encode+gz    the same plus gzip level 1
 *   batch        the exporter's batch step: sort, group, resources, encode
 *
 * Rates are per CPU second of this thread (CLOCK_THREAD_CPUTIME_ID, pinned
 * to one CPU with sched_setaffinity), which is the per-core figure even when
 * other work shares the CPU; wall-clock rates are printed alongside.
 *
 * --dump FILE instead writes the OTLP bodies of one pipeline pass to FILE
 * (each a 4-byte little-endian length, then the bytes) from inputs made
 * deterministic (fixed clocks, init's pid and one no process has, no ticks), so that two
 * builds can be compared byte for byte: an optimisation must not change
 * what is exported.
 *
 * Usage: replay [--seconds S] [--reps N] [--cpu N] [--chains N]
 *               [--reqs-per-conn N] [--conns N] [--only LIST] [--dump FILE]
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#include "correlator.h"
#include "exporter.h"
#include "otlp_batch.h"
#include "otlp_pb.h"
#include "procinfo.h"
#include "span.h"
#include "traces.h"
#include "tracewire_event.h"

#define BATCH 512             /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE default */
#define TICK_NS 20000000ull   /* the daemon's TW_TICK_MS */
#define WINDOW_NS 1000000000ull /* --trace-window default */
#define MAX_SPANS (1u << 16)  /* the daemon's tw_traces max_spans */
#define IDLE_NS 2000000000ull /* --idle-timeout default */
#define MAX_CONNS 65536       /* --max-conns default */
#define DUMP_MONO_NS 1000000000000000ull      /* --dump: the records' clock at start */
#define DUMP_UNIX_NS 1795000000000000000ull   /* --dump: mono_to_unix_ns */

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "replay: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- options -------------------------------------------------------------- */

static struct {
	double seconds;
	int reps;
	int cpu;
	unsigned chains;
	unsigned reqs_per_conn;
	unsigned conns;
	const char *only;
	const char *dump; /* --dump FILE: see the top of this file */
} opt = {
	.seconds = 1.0,
	.reps = 5,
	.cpu = -1,
	.chains = 20000,
	.reqs_per_conn = 100,
	.conns = 64,
	.only = "correlator,pipeline,pipeline-gz,encode,encode-gz,batch",
};

static bool selected(const char *name)
{
	size_t n = strlen(name);

	for (const char *p = opt.only; (p = strstr(p, name)); p += n)
		if ((p == opt.only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* ---- deterministic random numbers (generation only) ----------------------- */

static uint64_t rs = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t z = (rs += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rnd_id(uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t r = rnd() | 1; /* never all zero */

		memcpy(out + i, &r, n - i < 8 ? n - i : 8);
	}
}

static void hex(char *out, const uint8_t *id, size_t n)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[id[i] >> 4];
		out[2 * i + 1] = d[id[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ---- the record stream ---------------------------------------------------- */

struct recbuf {
	uint8_t *data;
	size_t len, cap;
	uint64_t records, chains, spans_expected, closes, payload_bytes;
};

/* As a BPF ring buffer lays records out: an 8-byte header (length), the
 * record, padding to 8 bytes. */
static void rb_put(struct recbuf *rb, const struct tw_event_hdr *h, const void *payload)
{
	size_t size = sizeof(*h) + h->cap;
	size_t need = 8 + ((size + 7) & ~(size_t)7);
	uint32_t len32 = (uint32_t)size;

	if (rb->len + need > rb->cap) {
		size_t cap = rb->cap ? rb->cap * 2 : 1 << 22;
		uint8_t *p;

		while (cap < rb->len + need)
			cap *= 2;
		p = realloc(rb->data, cap);
		if (!p)
			die("out of memory for %zu bytes of records", cap);
		rb->data = p;
		rb->cap = cap;
	}
	memset(rb->data + rb->len, 0, need);
	memcpy(rb->data + rb->len, &len32, 4);
	memcpy(rb->data + rb->len + 8, h, sizeof(*h));
	if (h->cap)
		memcpy(rb->data + rb->len + 8 + sizeof(*h), payload, h->cap);
	rb->len += need;
	rb->records++;
	rb->payload_bytes += h->cap;
}

struct ep {
	uint8_t addr[4];
	uint16_t port;
};

struct gconn {
	uint64_t sock;
	unsigned nreq;
	uint64_t sent;   /* bytes the application sent (the kernel's st->sent) */
	uint16_t port;   /* ephemeral port of the connecting side */
	bool open;
};

struct proc {
	uint32_t pid;
	const char *comm;
	struct ep listen;
};

struct gen {
	struct recbuf *rb;
	uint64_t next_sock;
	uint16_t next_port;
	uint64_t ts;
	struct proc a, b;
	struct ep client;
};

static void set_tuple(struct tw_tuple *t, const struct ep *local, const struct ep *peer)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->local_addr, local->addr, 4);
	memcpy(t->peer_addr, peer->addr, 4);
	t->local_port = local->port;
	t->peer_port = peer->port;
	t->family = AF_INET;
}

static void base_hdr(struct tw_event_hdr *h, uint8_t type, uint64_t sock, const struct proc *p,
		     uint32_t tid, uint64_t ts)
{
	memset(h, 0, sizeof(*h));
	h->type = type;
	h->sock_id = sock;
	h->pid = p->pid;
	h->tid = tid;
	h->ts_ns = ts;
	strncpy(h->comm, p->comm, sizeof(h->comm) - 1);
}

static void new_conn(struct gen *g, struct gconn *c)
{
	/* kernel struct sock addresses: slab objects in the direct map */
	c->sock = 0xffff888100000000ull + (g->next_sock++) * 0x980;
	c->port = g->next_port++;
	if (g->next_port < 32768)
		g->next_port = 32768;
	c->nreq = 0;
	c->sent = 0;
	c->open = true;
}

static void emit_close(struct gen *g, struct gconn *c, const struct proc *p, uint8_t role,
		       const struct tw_tuple *tuple, uint64_t ts)
{
	struct tw_event_hdr h;

	base_hdr(&h, TW_EV_CLOSE, c->sock, p, p->pid, ts);
	h.role = role;
	h.syscall = TW_SC_CLOSE;
	h.tuple = *tuple;
	rb_put(g->rb, &h, NULL);
	g->rb->closes++;
	c->open = false;
}

/* A DATA record. ctx: the ids the kernel put in it (NULL: none); egress
 * records carry the socket's stream offset, as for sockets tracked since
 * connect()/accept(). */
static void emit_data(struct gen *g, struct gconn *c, const struct proc *p, uint32_t tid,
		      uint64_t ts, uint8_t dir, uint8_t role, uint8_t syscall,
		      const struct tw_tuple *tuple, const struct tw_trace_ctx *ctx,
		      const char *payload, size_t len)
{
	struct tw_event_hdr h;

	if (len > TW_CAPTURE_MAX)
		die("payload of %zu bytes exceeds the capture", len);
	base_hdr(&h, TW_EV_DATA, c->sock, p, tid, ts);
	h.dir = dir;
	h.role = role;
	h.syscall = syscall;
	h.len = len;
	h.cap = (uint32_t)len;
	h.tuple = *tuple;
	if (ctx)
		h.ctx = *ctx;
	if (dir == TW_DIR_EGRESS) {
		h.stream_off = c->sent;
		h.hdr_flags = TW_HDR_STREAM_OFF;
		c->sent += len;
	}
	rb_put(g->rb, &h, payload);
}

/* One call chain on connections sa (client -> A), ca (A -> B, A's side) and
 * sb (the same connection, B's side). */
static void gen_chain(struct gen *g, unsigned i, struct gconn *sa, struct gconn *ca,
		      struct gconn *sb)
{
	struct recbuf *rb = g->rb;
	struct tw_tuple t_sa, t_ca, t_sb;
	struct ep a_cli = { .port = ca->port }, c_ep = g->client;
	struct tw_event_hdr h;
	struct tw_trace_ctx srv_a = { 0 }, inj = { 0 }, srv_b = { 0 }, thr = { 0 };
	uint32_t tid_a = g->a.pid + 1 + i % 4, tid_b = g->b.pid + 1 + i % 2;
	char req_a[512], req_ab[512], req_b[640], resp_b[512], resp_a[512], tp[96], body[128];
	char tid_hex[33], sid_hex[17];
	int n_req_a, n_req_ab, n_req_b, n_resp_b, n_resp_a, n_body;
	bool post = i % 4 == 3, chunked = i % 8 == 5, fail = i % 50 == 7;
	uint64_t ts = g->ts;

	memcpy(a_cli.addr, g->a.listen.addr, 4);
	c_ep.port = sa->port;
	set_tuple(&t_sa, &g->a.listen, &c_ep);
	set_tuple(&t_ca, &a_cli, &g->b.listen);
	set_tuple(&t_sb, &g->b.listen, &a_cli);

	/* ids as the kernel chooses them */
	srv_a.kind = TW_CTX_SERVER;
	rnd_id(srv_a.trace_id, 16);
	rnd_id(srv_a.span_id, 8);
	srv_a.flags = TW_FLAG_SAMPLED | TW_FLAG_RANDOM;
	srv_a.source = TW_PSRC_NONE;
	inj.kind = TW_CTX_INJECTED;
	memcpy(inj.trace_id, srv_a.trace_id, 16);
	rnd_id(inj.span_id, 8);
	memcpy(inj.parent_span_id, srv_a.span_id, 8);
	inj.flags = srv_a.flags;
	inj.source = TW_PSRC_THREAD;
	srv_b.kind = TW_CTX_SERVER;
	memcpy(srv_b.trace_id, srv_a.trace_id, 16);
	rnd_id(srv_b.span_id, 8);
	memcpy(srv_b.parent_span_id, inj.span_id, 8);
	srv_b.flags = srv_a.flags;
	srv_b.source = TW_PSRC_HEADER;

	/* 1. A reads the client's request */
	if (post) {
		n_body = snprintf(body, sizeof(body), "{\"sku\":%u,\"qty\":%u,\"cart\":\"c-%05u\"}",
				  1000 + i % 9000, 1 + i % 5, i % 100000);
		n_req_a = snprintf(req_a, sizeof(req_a),
				   "POST /api/v1/cart/items HTTP/1.1\r\n"
				   "Host: frontend.shop.svc.cluster.local:8080\r\n"
				   "User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench/1.0\r\n"
				   "Accept: application/json\r\n"
				   "Content-Type: application/json\r\n"
				   "Content-Length: %d\r\n"
				   "X-Request-Id: %016llx\r\n"
				   "\r\n%s",
				   n_body, (unsigned long long)rnd(), body);
	} else {
		n_req_a = snprintf(req_a, sizeof(req_a),
				   "GET /api/v1/orders/%u?page=%u&include=items HTTP/1.1\r\n"
				   "Host: frontend.shop.svc.cluster.local:8080\r\n"
				   "User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench/1.0\r\n"
				   "Accept: application/json\r\n"
				   "Accept-Encoding: gzip, deflate\r\n"
				   "X-Request-Id: %016llx\r\n"
				   "Connection: keep-alive\r\n"
				   "\r\n",
				   10000 + i % 90000, 1 + i % 7, (unsigned long long)rnd());
	}
	emit_data(g, sa, &g->a, tid_a, ts, TW_DIR_INGRESS, TW_ROLE_SERVER, TW_SC_READ, &t_sa,
		  &srv_a, req_a, (size_t)n_req_a);

	/* 2. sk_msg on A's request to B: a TW_EV_CTX record at its offset */
	ts += 15000;
	n_req_ab = snprintf(req_ab, sizeof(req_ab),
			    "GET /inventory/items/%u HTTP/1.1\r\n"
			    "Host: inventory.shop.svc.cluster.local:9090\r\n"
			    "User-Agent: python-requests/2.31.0\r\n"
			    "Accept-Encoding: gzip, deflate\r\n"
			    "Accept: */*\r\n"
			    "Connection: keep-alive\r\n"
			    "\r\n",
			    1000 + i % 9000);
	base_hdr(&h, TW_EV_CTX, ca->sock, &g->a, tid_a, ts + 2000);
	h.dir = TW_DIR_EGRESS;
	h.role = TW_ROLE_CLIENT;
	h.len = ca->sent;
	h.ctx = inj;
	rb_put(rb, &h, NULL);

	/* 3. A's write of that request, as the application wrote it */
	thr.kind = TW_CTX_THREAD;
	memcpy(thr.trace_id, srv_a.trace_id, 16);
	memcpy(thr.span_id, srv_a.span_id, 8);
	thr.flags = srv_a.flags;
	thr.source = TW_PSRC_THREAD;
	emit_data(g, ca, &g->a, tid_a, ts, TW_DIR_EGRESS, TW_ROLE_CLIENT, TW_SC_SENDTO, &t_ca, &thr,
		  req_ab, (size_t)n_req_ab);

	/* 4. B reads it with the traceparent sk_msg inserted after the request line */
	ts += 20000;
	hex(tid_hex, inj.trace_id, 16);
	hex(sid_hex, inj.span_id, 8);
	snprintf(tp, sizeof(tp), "traceparent: 00-%s-%s-%02x\r\n", tid_hex, sid_hex, inj.flags);
	{
		const char *eol = strstr(req_ab, "\r\n") + 2;
		size_t first = (size_t)(eol - req_ab);

		n_req_b = snprintf(req_b, sizeof(req_b), "%.*s%s%s", (int)first, req_ab, tp, eol);
	}
	emit_data(g, sb, &g->b, tid_b, ts, TW_DIR_INGRESS, TW_ROLE_SERVER, TW_SC_RECVFROM, &t_sb,
		  &srv_b, req_b, (size_t)n_req_b);

	/* 5. B responds */
	ts += 60000;
	n_body = snprintf(body, sizeof(body), "{\"sku\":%u,\"stock\":%u,\"warehouse\":\"eu-west-1\"}",
			  1000 + i % 9000, i % 977);
	n_resp_b = snprintf(resp_b, sizeof(resp_b),
			    "HTTP/1.1 %s\r\n"
			    "Server: gunicorn\r\n"
			    "Date: Sun, 22 Nov 2026 09:09:00 GMT\r\n"
			    "Connection: keep-alive\r\n"
			    "Content-Type: application/json\r\n"
			    "Content-Length: %d\r\n"
			    "\r\n%s",
			    fail ? "503 Service Unavailable" : "200 OK", n_body, body);
	emit_data(g, sb, &g->b, tid_b, ts, TW_DIR_EGRESS, TW_ROLE_SERVER, TW_SC_SENDTO, &t_sb,
		  NULL, resp_b, (size_t)n_resp_b);

	/* 6. A reads B's response */
	ts += 20000;
	emit_data(g, ca, &g->a, tid_a, ts, TW_DIR_INGRESS, TW_ROLE_CLIENT, TW_SC_RECVFROM, &t_ca,
		  NULL, resp_b, (size_t)n_resp_b);

	/* 7. A responds to the client (nginx-like; every 8th chunked) */
	ts += 30000;
	n_body = snprintf(body, sizeof(body), "{\"order\":%u,\"items\":[%u],\"status\":\"%s\"}",
			  10000 + i % 90000, 1000 + i % 9000, fail ? "degraded" : "ok");
	if (chunked)
		n_resp_a = snprintf(resp_a, sizeof(resp_a),
				    "HTTP/1.1 200 OK\r\n"
				    "Server: nginx\r\n"
				    "Date: Sun, 22 Nov 2026 09:09:00 GMT\r\n"
				    "Content-Type: application/json\r\n"
				    "Transfer-Encoding: chunked\r\n"
				    "Connection: keep-alive\r\n"
				    "\r\n%x\r\n%s\r\n0\r\n\r\n",
				    n_body, body);
	else
		n_resp_a = snprintf(resp_a, sizeof(resp_a),
				    "HTTP/1.1 %s\r\n"
				    "Server: nginx\r\n"
				    "Date: Sun, 22 Nov 2026 09:09:00 GMT\r\n"
				    "Content-Type: application/json\r\n"
				    "Content-Length: %d\r\n"
				    "Connection: keep-alive\r\n"
				    "\r\n%s",
				    post ? "201 Created" : "200 OK", n_body, body);
	emit_data(g, sa, &g->a, tid_a, ts, TW_DIR_EGRESS, TW_ROLE_SERVER, TW_SC_WRITEV, &t_sa, NULL,
		  resp_a, (size_t)n_resp_a);

	sa->nreq++;
	ca->nreq++;
	sb->nreq++;
	rb->chains++;
	rb->spans_expected += 3;
	/* chains overlap in time as concurrent requests do: the next starts
	 * before this one's last record */
	g->ts += 40000;
}

static void gen_pass(struct recbuf *rb)
{
	unsigned nc = opt.conns, nab = opt.conns / 4 ? opt.conns / 4 : 1;
	struct gconn *sa = calloc(nc, sizeof(*sa)), *ca = calloc(nab, sizeof(*ca)),
		     *sb = calloc(nab, sizeof(*sb));
	struct gen g = {
		.rb = rb,
		.next_port = 32768,
		.ts = opt.dump ? DUMP_MONO_NS : clock_ns(CLOCK_MONOTONIC),
		/* --dump: pids whose /proc answers do not change between runs: A is
		 * init (procinfo's cached path), B above any pid_max (2^22, not found) */
		.a = { .pid = opt.dump ? 1u : (uint32_t)getpid(), .comm = "frontend",
		       .listen = { { 10, 1, 0, 10 }, 8080 } },
		.b = { .pid = opt.dump ? 4194311u : (uint32_t)getppid(), .comm = "inventory",
		       .listen = { { 10, 1, 0, 11 }, 9090 } },
		.client = { { 10, 1, 0, 20 }, 0 },
	};

	if (!sa || !ca || !sb)
		die("out of memory");
	for (unsigned i = 0; i < nc; i++)
		new_conn(&g, &sa[i]);
	for (unsigned i = 0; i < nab; i++) {
		new_conn(&g, &ca[i]);
		sb[i] = ca[i];
		sb[i].sock = 0xffff888100000000ull + (g.next_sock++) * 0x980;
	}
	for (unsigned i = 0; i < opt.chains; i++) {
		struct gconn *a = &sa[i % nc], *c = &ca[i % nab], *b = &sb[i % nab];
		struct tw_tuple t;
		struct ep cli = g.client, acli = { { 10, 1, 0, 10 }, c->port };

		if (a->nreq >= opt.reqs_per_conn) {
			cli.port = a->port;
			set_tuple(&t, &g.a.listen, &cli);
			emit_close(&g, a, &g.a, TW_ROLE_SERVER, &t, g.ts);
			new_conn(&g, a);
		}
		if (c->nreq >= opt.reqs_per_conn) {
			set_tuple(&t, &acli, &g.b.listen);
			emit_close(&g, c, &g.a, TW_ROLE_CLIENT, &t, g.ts);
			set_tuple(&t, &g.b.listen, &acli);
			emit_close(&g, b, &g.b, TW_ROLE_SERVER, &t, g.ts);
			new_conn(&g, c);
			*b = *c;
			b->sock = 0xffff888100000000ull + (g.next_sock++) * 0x980;
		}
		gen_chain(&g, i, a, c, b);
	}
	/* everything closes at the end of a pass: the next starts from nothing */
	for (unsigned i = 0; i < nc; i++) {
		struct tw_tuple t;
		struct ep cli = g.client;

		cli.port = sa[i].port;
		set_tuple(&t, &g.a.listen, &cli);
		emit_close(&g, &sa[i], &g.a, TW_ROLE_SERVER, &t, g.ts);
	}
	for (unsigned i = 0; i < nab; i++) {
		struct tw_tuple t;
		struct ep acli = { { 10, 1, 0, 10 }, ca[i].port };

		set_tuple(&t, &acli, &g.b.listen);
		emit_close(&g, &ca[i], &g.a, TW_ROLE_CLIENT, &t, g.ts);
		set_tuple(&t, &g.b.listen, &acli);
		emit_close(&g, &sb[i], &g.b, TW_ROLE_SERVER, &t, g.ts);
	}
	free(sa);
	free(ca);
	free(sb);
}

/* ---- the exporter's batch step: correlator/export/otlp_batch.c, as the worker runs it */

struct bench_exporter {
	struct tw_exporter base; /* first */
	struct tw_procinfo *procinfo;
	bool gzip;
	struct tw_otlp_cfg cfg;  /* host name only */
	struct tw_otlp_batch b;
	FILE *dump; /* --dump: every body written here */
	size_t n;
	uint64_t spans_encoded, batches, bytes_pb, bytes_gz;
};

static void encode_batch(struct bench_exporter *x)
{
	if (!x->n)
		return;
	if (tw_otlp_batch_encode(&x->b, x->n))
		die("tw_otlp_batch_encode failed");
	x->bytes_pb += x->b.body.len;
	if (x->dump) {
		uint32_t len = (uint32_t)x->b.body.len;

		if (fwrite(&len, 4, 1, x->dump) != 1 ||
		    fwrite(x->b.body.data, 1, len, x->dump) != len)
			die("writing the dump: %s", strerror(errno));
	}
	if (x->gzip) {
		if (tw_otlp_batch_gzip(&x->b))
			die("gzip failed");
		x->bytes_gz += x->b.gz.len;
	}
	x->spans_encoded += x->n;
	x->batches++;
	x->n = 0;
}

static int bx_export(struct tw_exporter *e, const struct tw_span *const *spans, size_t n)
{
	struct bench_exporter *x = (struct bench_exporter *)e;

	for (size_t i = 0; i < n; i++) {
		tw_otlp_item_fill(&x->b.items[x->n++], spans[i], x->procinfo, false);
		if (x->n == BATCH)
			encode_batch(x);
	}
	return 0;
}

static int bx_flush(struct tw_exporter *e)
{
	encode_batch((struct bench_exporter *)e);
	return 0;
}

static void bx_destroy(struct tw_exporter *e)
{
	struct bench_exporter *x = (struct bench_exporter *)e;

	tw_otlp_batch_free(&x->b);
	free(x);
}

static const struct tw_exporter_ops bx_ops = {
	.name = "bench-otlp",
	.export_trace = bx_export,
	.flush = bx_flush,
	.destroy = bx_destroy,
};

static struct bench_exporter *bx_new(struct tw_procinfo *procinfo, bool gzip)
{
	struct bench_exporter *x = calloc(1, sizeof(*x));

	if (!x)
		die("out of memory");
	x->base.ops = &bx_ops;
	x->procinfo = procinfo;
	x->gzip = gzip;
	if (gethostname(x->cfg.host_name, sizeof(x->cfg.host_name) - 1))
		strcpy(x->cfg.host_name, "bench");
	if (tw_otlp_batch_init(&x->b, &x->cfg, BATCH))
		die("out of memory");
	return x;
}

/* ---- running ---------------------------------------------------------------- */

struct run {
	uint64_t spans, unsampled;
	uint32_t pass;
	bool no_tick; /* --dump: nothing depends on the wall clock */
	struct tw_procinfo *procinfo;
	struct tw_traces *traces;
	/* span pool collection */
	struct tw_span *pool;
	size_t pool_n, pool_cap;
};

static void on_span_count(void *ctx, struct tw_span *span)
{
	struct run *r = ctx;

	(void)span;
	r->spans++;
}

/* The daemon's on_span (injector/daemon.c), plus a per-pass trace id twist
 * so that replayed passes never join an earlier pass's traces. */
static void on_span_pipeline(void *ctx, struct tw_span *span)
{
	struct run *r = ctx;
	uint32_t twist;

	r->spans++;
	memcpy(&twist, span->trace_id + 8, 4);
	twist ^= r->pass;
	memcpy(span->trace_id + 8, &twist, 4);
	if (!(span->trace_flags & TW_FLAG_SAMPLED)) {
		r->unsampled++;
		return;
	}
	tw_procinfo_service(r->procinfo, span->pid, span->service, span->service,
			    sizeof(span->service));
	tw_traces_add(r->traces, span, r->no_tick ? 0 : clock_ns(CLOCK_MONOTONIC));
}

static void on_span_collect(void *ctx, struct tw_span *span)
{
	struct run *r = ctx;

	r->spans++;
	if (r->pool_n < r->pool_cap) {
		if (r->procinfo)
			tw_procinfo_service(r->procinfo, span->pid, span->service, span->service,
					    sizeof(span->service));
		r->pool[r->pool_n++] = *span;
	}
}

struct sample {
	double cpu_rate, wall_rate;     /* primary unit per second */
	double cpu_rate2, wall_rate2;   /* secondary (spans) per second */
	double extra;                   /* bytes per span etc. */
	double extra2;
};

static struct tw_correlator *correlator_new(tw_span_cb cb, struct run *r)
{
	struct tw_correlator_cfg cfg = {
		.max_conns = MAX_CONNS,
		.idle_ns = IDLE_NS,
		.mono_to_unix_ns = opt.dump ? (int64_t)DUMP_UNIX_NS
					    : (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC)),
		.on_span = cb,
		.ctx = r,
	};
	struct tw_correlator *c = tw_correlator_new(&cfg);

	if (!c)
		die("tw_correlator_new: %s", strerror(errno));
	return c;
}

/*
 * Feeds records until the deadline (checked every 1024 records), passes
 * repeated. Ticks the correlator (with the newest record stamp as "now", as
 * the daemon's clock would read) and the trace assembler every TICK_NS.
 * Returns records handled.
 */
static uint64_t feed(const struct recbuf *rb, struct tw_correlator *c, struct run *r,
		     uint64_t deadline, uint64_t max_passes)
{
	uint64_t n = 0, next_tick = clock_ns(CLOCK_MONOTONIC) + TICK_NS;

	for (uint64_t pass = 0; pass < max_passes; pass++) {
		const uint8_t *p = rb->data, *end = rb->data + rb->len;

		r->pass = (uint32_t)pass;
		while (p < end) {
			uint32_t len;

			memcpy(&len, p, 4);
			tw_correlator_handle(c, p + 8, len);
			n++;
			if (!(n & 1023) && !r->no_tick) {
				uint64_t now = clock_ns(CLOCK_MONOTONIC);

				if (now >= next_tick) {
					uint64_t rec_ts;

					memcpy(&rec_ts, p + 8, 8);
					tw_correlator_tick(c, rec_ts);
					if (r->traces)
						tw_traces_tick(r->traces, now);
					next_tick = now + TICK_NS;
				}
				if (now >= deadline)
					return n;
			}
			p += 8 + ((len + 7) & ~7u);
		}
	}
	return n;
}

static void check_pass(const struct recbuf *rb)
{
	struct run r = { 0 };
	struct tw_correlator *c = correlator_new(on_span_count, &r);
	struct tw_correlator_stats st;

	feed(rb, c, &r, UINT64_MAX, 1);
	tw_correlator_stats(c, &st);
	if (st.bad_records || st.events != rb->records || st.spans != rb->spans_expected ||
	    st.spans_kernel_ids != rb->spans_expected || st.ctx_matched != rb->chains ||
	    st.ctx_unmatched || st.unsynced || st.dropped_unanswered || st.spans_error_closed ||
	    st.conns_live)
		die("the correlator did not read the synthetic records as expected: events %llu/%llu "
		    "bad %llu spans %llu/%llu kernel_ids %llu ctx_matched %llu/%llu unmatched %llu "
		    "unsynced %llu unanswered %llu closed_mid_request %llu conns_live %llu",
		    (unsigned long long)st.events, (unsigned long long)rb->records,
		    (unsigned long long)st.bad_records, (unsigned long long)st.spans,
		    (unsigned long long)rb->spans_expected, (unsigned long long)st.spans_kernel_ids,
		    (unsigned long long)st.ctx_matched, (unsigned long long)rb->chains,
		    (unsigned long long)st.ctx_unmatched, (unsigned long long)st.unsynced,
		    (unsigned long long)st.dropped_unanswered,
		    (unsigned long long)st.spans_error_closed, (unsigned long long)st.conns_live);
	tw_correlator_free(c);
}

static uint64_t deadline_from_now(void)
{
	return clock_ns(CLOCK_MONOTONIC) + (uint64_t)(opt.seconds * 1e9);
}

static struct sample run_correlator(const struct recbuf *rb)
{
	struct run r = { 0 };
	struct tw_correlator *c = correlator_new(on_span_count, &r);
	uint64_t w0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), n;
	double wall, cpu;

	n = feed(rb, c, &r, deadline_from_now(), UINT64_MAX);
	cpu = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / 1e9;
	wall = (double)(clock_ns(CLOCK_MONOTONIC) - w0) / 1e9;
	tw_correlator_free(c);
	return (struct sample){ .cpu_rate = (double)n / cpu, .wall_rate = (double)n / wall,
				.cpu_rate2 = (double)r.spans / cpu,
				.wall_rate2 = (double)r.spans / wall };
}

static struct sample run_pipeline(const struct recbuf *rb, bool gzip)
{
	struct run r = { 0 };
	struct bench_exporter *x;
	struct tw_correlator *c;
	uint64_t w0, c0, n;
	double wall, cpu;

	r.procinfo = tw_procinfo_new("/proc");
	if (!r.procinfo)
		die("tw_procinfo_new: %s", strerror(errno));
	x = bx_new(r.procinfo, gzip);
	r.traces = tw_traces_new(&(struct tw_traces_cfg){
		.window_ns = WINDOW_NS,
		.max_spans = MAX_SPANS,
		.exporters = &x->base,
	});
	if (!r.traces)
		die("tw_traces_new: %s", strerror(errno));
	c = correlator_new(on_span_pipeline, &r);
	w0 = clock_ns(CLOCK_MONOTONIC);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	n = feed(rb, c, &r, deadline_from_now(), UINT64_MAX);
	/* what is buffered is part of the work: emitted and encoded in the timing */
	tw_correlator_flush(c);
	tw_traces_flush(r.traces);
	cpu = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / 1e9;
	wall = (double)(clock_ns(CLOCK_MONOTONIC) - w0) / 1e9;
	{
		struct tw_traces_stats ts;

		tw_traces_stats(r.traces, &ts);
		if (ts.spans_dropped || ts.spans_out != x->spans_encoded ||
		    x->spans_encoded != r.spans - r.unsampled)
			die("pipeline lost spans: correlator %llu, assembled out %llu, dropped %llu, "
			    "encoded %llu",
			    (unsigned long long)r.spans, (unsigned long long)ts.spans_out,
			    (unsigned long long)ts.spans_dropped,
			    (unsigned long long)x->spans_encoded);
	}
	struct sample s = {
		.cpu_rate = (double)n / cpu,
		.wall_rate = (double)n / wall,
		.cpu_rate2 = (double)x->spans_encoded / cpu,
		.wall_rate2 = (double)x->spans_encoded / wall,
		.extra = (double)(gzip ? x->bytes_gz : x->bytes_pb) / (double)x->spans_encoded,
	};
	tw_correlator_free(c);
	tw_traces_free(r.traces);
	bx_destroy(&x->base);
	tw_procinfo_free(r.procinfo);
	return s;
}

/* --dump: one pass through the pipeline, every OTLP body into opt.dump. */
static void run_dump(const struct recbuf *rb)
{
	struct run r = { .no_tick = true };
	struct bench_exporter *x;
	struct tw_correlator *c;

	r.procinfo = tw_procinfo_new("/proc");
	if (!r.procinfo)
		die("tw_procinfo_new: %s", strerror(errno));
	x = bx_new(r.procinfo, false);
	x->dump = fopen(opt.dump, "wb");
	if (!x->dump)
		die("%s: %s", opt.dump, strerror(errno));
	r.traces = tw_traces_new(&(struct tw_traces_cfg){
		.window_ns = WINDOW_NS,
		.max_spans = MAX_SPANS,
		.exporters = &x->base,
	});
	if (!r.traces)
		die("tw_traces_new: %s", strerror(errno));
	c = correlator_new(on_span_pipeline, &r);
	feed(rb, c, &r, UINT64_MAX, 1);
	tw_correlator_flush(c);
	tw_traces_flush(r.traces);
	if (fclose(x->dump))
		die("%s: %s", opt.dump, strerror(errno));
	fprintf(stderr, "replay: %llu spans in %llu bodies, %llu bytes, written to %s\n",
		(unsigned long long)x->spans_encoded, (unsigned long long)x->batches,
		(unsigned long long)x->bytes_pb, opt.dump);
	x->dump = NULL;
	tw_correlator_free(c);
	tw_traces_free(r.traces);
	bx_destroy(&x->base);
	tw_procinfo_free(r.procinfo);
}

/*
 * Encoding alone. encode/encode-gz: tw_otlp_encode_request (+ gzip) of
 * 512-span requests prepared beforehand (spans of the pool grouped by
 * process, resources built): only the encoder is timed. batch: the
 * exporter's whole batch step per 512 spans (copy into items, sort by
 * process, group, resources, encode).
 */
#define NREQ 8

static void batch_fill_from_pool(struct tw_otlp_batch *b, const struct tw_span *pool, size_t r)
{
	for (size_t i = 0; i < BATCH; i++) {
		b->items[i].span = pool[r * BATCH + i];
		b->items[i].proc_start = 0;
		b->items[i].exe[0] = b->items[i].cmdline[0] = '\0';
	}
}

static struct sample run_encode(const struct tw_span *pool, size_t pool_n, bool gzip, bool batch)
{
	struct bench_exporter *x = bx_new(NULL, false);
	struct tw_otlp_batch *req = calloc(NREQ, sizeof(*req));
	uint64_t spans = 0, bytes = 0, bytes_gz = 0, deadline, w0, c0;
	size_t nreq = pool_n / BATCH < NREQ ? pool_n / BATCH : NREQ;
	double wall, cpu;

	if (!req)
		die("out of memory");
	if (!nreq)
		die("span pool too small (%zu)", pool_n);
	/* encode/encode-gz time the encoder alone: group once, keep the groups */
	for (size_t r = 0; r < nreq; r++) {
		if (tw_otlp_batch_init(&req[r], &x->cfg, BATCH))
			die("out of memory");
		batch_fill_from_pool(&req[r], pool, r);
		if (tw_otlp_batch_encode(&req[r], BATCH))
			die("tw_otlp_batch_encode failed");
	}
	deadline = deadline_from_now();
	w0 = clock_ns(CLOCK_MONOTONIC);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	for (size_t r = 0; clock_ns(CLOCK_MONOTONIC) < deadline;) {
		for (int k = 0; k < 8; k++, r = (r + 1) % nreq) {
			if (batch) {
				batch_fill_from_pool(&x->b, pool, r);
				x->n = BATCH;
				encode_batch(x);
				bytes += x->b.body.len;
				spans += BATCH;
				continue;
			}
			tw_buf_reset(&req[r].body);
			if (tw_otlp_encode_request(&req[r].body, req[r].groups, req[r].ngroups,
						   &tw_otlp_scope))
				die("tw_otlp_encode_request failed");
			bytes += req[r].body.len;
			if (gzip) {
				if (tw_otlp_batch_gzip(&req[r]))
					die("gzip failed");
				bytes_gz += req[r].gz.len;
			}
			spans += BATCH;
		}
	}
	cpu = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / 1e9;
	wall = (double)(clock_ns(CLOCK_MONOTONIC) - w0) / 1e9;
	for (size_t r = 0; r < nreq; r++)
		tw_otlp_batch_free(&req[r]);
	bx_destroy(&x->base);
	free(req);
	return (struct sample){
		.cpu_rate = (double)spans / cpu,
		.wall_rate = (double)spans / wall,
		.extra = (double)bytes / (double)spans,
		.extra2 = gzip ? (double)bytes_gz / (double)spans : 0,
	};
}

/* ---- statistics and output ---------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct summary {
	double med, min, max;
};

static struct summary summarize(const struct sample *s, int n, size_t field)
{
	double v[64];

	for (int i = 0; i < n; i++)
		memcpy(&v[i], (const char *)&s[i] + field, sizeof(double));
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return (struct summary){ .med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2,
				 .min = v[0],
				 .max = v[n - 1] };
}

static void fmt_rate(char *buf, size_t size, double v)
{
	if (v >= 1e6)
		snprintf(buf, size, "%.2f M", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, size, "%.0f k", v / 1e3);
	else
		snprintf(buf, size, "%.0f", v);
}

static void row(const char *name, const char *unit, const struct sample *s, int n,
		size_t field, size_t wall_field, double target, const char *note)
{
	struct summary c = summarize(s, n, field), w = summarize(s, n, wall_field);
	char med[32], mn[32], mx[32], wmed[32], tgt[64] = "—";

	fmt_rate(med, sizeof(med), c.med);
	fmt_rate(mn, sizeof(mn), c.min);
	fmt_rate(mx, sizeof(mx), c.max);
	fmt_rate(wmed, sizeof(wmed), w.med);
	if (target > 0)
		snprintf(tgt, sizeof(tgt), ">= %.0f k: %s (%.2fx)", target / 1e3,
			 c.med >= target ? "met" : "**missed**", c.med / target);
	printf("| %s | %s | %s | %s – %s | %s | %s | %s |\n", name, unit, med, mn, mx, wmed, tgt,
	       note ? note : "");
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: replay [--seconds S] [--reps N] [--cpu N] [--chains N] [--reqs-per-conn N]\n"
		"              [--conns N] [--only correlator,pipeline,pipeline-gz,encode,encode-gz,batch]\n"
		"              [--dump FILE]\n"
		"Replays synthetic ring-buffer records into the correlator and OTLP encoding\n"
		"on one pinned CPU; prints a Markdown table on stdout, progress on stderr.\n");
}

static void pin(void)
{
	cpu_set_t set;
	int cpu = opt.cpu;

	if (cpu < 0) {
		if (sched_getaffinity(0, sizeof(set), &set))
			die("sched_getaffinity: %s", strerror(errno));
		for (int i = CPU_SETSIZE - 1; i >= 0; i--)
			if (CPU_ISSET(i, &set)) {
				cpu = i;
				break;
			}
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("cannot pin to CPU %d: %s", cpu, strerror(errno));
	opt.cpu = cpu;
}

#define MAXREPS 64

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "chains", required_argument, NULL, 'n' },
		{ "reqs-per-conn", required_argument, NULL, 'k' },
		{ "conns", required_argument, NULL, 'C' },
		{ "only", required_argument, NULL, 'o' },
		{ "dump", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct sample s[MAXREPS];
	struct recbuf rb = { 0 };
	struct run collect = { 0 };
	struct tw_correlator *c;
	unsigned budget;
	int o, nmodes = 0;

	while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (o) {
		case 's': opt.seconds = atof(optarg); break;
		case 'r': opt.reps = atoi(optarg); break;
		case 'c': opt.cpu = atoi(optarg); break;
		case 'n': opt.chains = (unsigned)atoi(optarg); break;
		case 'k': opt.reqs_per_conn = (unsigned)atoi(optarg); break;
		case 'C': opt.conns = (unsigned)atoi(optarg); break;
		case 'o': opt.only = optarg; break;
		case 'd': opt.dump = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (opt.seconds <= 0 || opt.seconds > 60 || opt.reps < 1 || opt.reps > MAXREPS ||
	    opt.chains < 100 || opt.reqs_per_conn < 1 || opt.conns < 1) {
		usage(stderr);
		return 2;
	}
	for (const char *m = opt.only; *m; m++)
		nmodes += *m == ',';
	nmodes++;
	/* a hard bound on the whole run, whatever happens */
	budget = (unsigned)(opt.seconds * opt.reps * nmodes * 3) + 60;
	signal(SIGALRM, SIG_DFL);
	alarm(budget);
	pin();

	gen_pass(&rb);
	fprintf(stderr,
		"replay: one pass: %llu chains, %llu records (%llu close), %.1f MiB, "
		"%.0f payload bytes per data record; CPU %d\n",
		(unsigned long long)rb.chains, (unsigned long long)rb.records,
		(unsigned long long)rb.closes, (double)rb.len / (1 << 20),
		(double)rb.payload_bytes / (double)(rb.records - rb.closes - rb.chains), opt.cpu);
	check_pass(&rb);
	if (opt.dump) {
		run_dump(&rb);
		free(rb.data);
		return 0;
	}

	/* span pool for the encoding runs: real correlator output */
	collect.pool_cap = 8 * BATCH;
	collect.pool = calloc(collect.pool_cap, sizeof(*collect.pool));
	collect.procinfo = tw_procinfo_new("/proc");
	if (!collect.pool || !collect.procinfo)
		die("out of memory");
	c = correlator_new(on_span_collect, &collect);
	feed(&rb, c, &collect, UINT64_MAX, 1);
	tw_correlator_free(c);

	printf("| measurement | unit | median (per CPU-second) | min – max | median (wall) | target | notes |\n");
	printf("| --- | --- | --- | --- | --- | --- | --- |\n");
	fflush(stdout);

#define REPS(expr, label)                                                                   \
	do {                                                                                \
		for (int i = 0; i < opt.reps; i++) {                                        \
			s[i] = (expr);                                                      \
			fprintf(stderr, "replay: %s rep %d: %.0f/s (cpu) %.0f/s (wall)\n", label, \
				i + 1, s[i].cpu_rate, s[i].wall_rate);                      \
		}                                                                           \
	} while (0)
#define F(f) offsetof(struct sample, f)

	if (selected("correlator")) {
		REPS(run_correlator(&rb), "correlator");
		row("correlator (on_span counts)", "records/s", s, opt.reps, F(cpu_rate), F(wall_rate),
		    1e6, NULL);
		row("correlator (on_span counts)", "spans/s", s, opt.reps, F(cpu_rate2),
		    F(wall_rate2), 0, NULL);
	}
	if (selected("pipeline")) {
		char note[128];

		REPS(run_pipeline(&rb, false), "pipeline");
		snprintf(note, sizeof(note), "%.0f protobuf bytes/span",
			 summarize(s, opt.reps, F(extra)).med);
		row("pipeline: correlator + procinfo + traces + OTLP batch encode", "records/s", s,
		    opt.reps, F(cpu_rate), F(wall_rate), 0, NULL);
		row("pipeline: correlator + procinfo + traces + OTLP batch encode", "spans/s", s,
		    opt.reps, F(cpu_rate2), F(wall_rate2), 0, note);
	}
	if (selected("pipeline-gz")) {
		char note[128];

		REPS(run_pipeline(&rb, true), "pipeline-gz");
		snprintf(note, sizeof(note), "%.0f gzip bytes/span",
			 summarize(s, opt.reps, F(extra)).med);
		row("pipeline + gzip (level 1)", "records/s", s, opt.reps, F(cpu_rate), F(wall_rate),
		    0, NULL);
		row("pipeline + gzip (level 1)", "spans/s", s, opt.reps, F(cpu_rate2), F(wall_rate2),
		    0, note);
	}
	if (selected("encode")) {
		char note[128];

		REPS(run_encode(collect.pool, collect.pool_n, false, false), "encode");
		snprintf(note, sizeof(note), "%.0f bytes/span, 512-span requests, 2 resources",
			 summarize(s, opt.reps, F(extra)).med);
		row("OTLP encode (tw_otlp_encode_request)", "spans/s", s, opt.reps, F(cpu_rate),
		    F(wall_rate), 1e6, note);
	}
	if (selected("encode-gz")) {
		char note[128];

		REPS(run_encode(collect.pool, collect.pool_n, true, false), "encode-gz");
		snprintf(note, sizeof(note), "%.0f → %.0f bytes/span",
			 summarize(s, opt.reps, F(extra)).med, summarize(s, opt.reps, F(extra2)).med);
		row("OTLP encode + gzip (level 1)", "spans/s", s, opt.reps, F(cpu_rate), F(wall_rate),
		    0, note);
	}
	if (selected("batch")) {
		REPS(run_encode(collect.pool, collect.pool_n, false, true), "batch");
		row("OTLP batch step (copy, sort, group, resources, encode)", "spans/s", s, opt.reps,
		    F(cpu_rate), F(wall_rate), 0, NULL);
	}
	fprintf(stderr, "replay: done\n");
	printf("\n<!-- pass: %llu chains, %llu records, %.1f MiB; reps %d x %.2f s; CPU %d -->\n",
	       (unsigned long long)rb.chains, (unsigned long long)rb.records,
	       (double)rb.len / (1 << 20), opt.reps, opt.seconds, opt.cpu);
	tw_procinfo_free(collect.procinfo);
	free(collect.pool);
	free(rb.data);
	return 0;
}
