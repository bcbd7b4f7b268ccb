// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Tests of the sk_msg program (bpf/headers.bpf.c, bpf/lib/h1inject.h), which
 * BPF_PROG_TEST_RUN cannot run: as the kernel's sockmap selftests do, a
 * real TCP connection over loopback in a network namespace of its own, the
 * client socket in a SOCKHASH made here with the real object's program
 * attached to it (maps of its own: nothing shared with a running tracewire,
 * nothing attached anywhere else). Crafted messages are sent from the
 * client and read on the server: what arrives is compared byte for byte,
 * and the object's prop_counters say why.
 */
#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "bt_sockhash.h"
#include "tracewire_event.h"
#include "headers.skel.h"

#define TP_LINE_LEN 70 /* "traceparent: 00-" 32 "-" 16 "-" 2 "\r\n" */

static struct headers_bpf *skel;
static int fd_socks, fd_cnt;

/* ---- a connection (bt_sockhash.h) -------------------------------------------- */

static bool send_all(int fd, const void *buf, size_t len)
{
	/* one sendmsg, one run of the verdict program */
	ssize_t n = send(fd, buf, len, 0);

	CHECK(n == (ssize_t)len, "send: %zd of %zu: %s", n, len, strerror(errno));
	return true;
}

/* Everything the server gets until the client shuts down its side. */
static bool recv_all(struct bt_conn *c, char *buf, size_t cap, size_t *len)
{
	ssize_t n;

	*len = 0;
	CHECK(!shutdown(c->cli, SHUT_WR), "shutdown: %s", strerror(errno));
	while ((n = recv(c->srv, buf + *len, cap - *len, 0)) > 0)
		*len += n;
	CHECK(n == 0, "recv: %s", strerror(errno));
	return true;
}

/* Sends each message (one send apiece) on a fresh connection; out is what
 * arrived. Counters are zeroed first. */
static bool exchange(const char *const *msgs, const size_t *lens, int n, char *out,
		     size_t cap, size_t *out_len)
{
	struct bt_conn c;
	bool ok = true;

	CHECK(bt_pcount_reset(fd_cnt, TW_PC_MAX), "counters");
	CHECK(bt_conn_open(&c, fd_socks), "connection");
	for (int i = 0; i < n && ok; i++) {
		ok = send_all(c.cli, msgs[i], lens[i]);
		/* let each arrive first: sends stay apart on the wire too */
		usleep(20000);
	}
	ok = ok && recv_all(&c, out, cap, out_len);
	bt_conn_close(&c);
	return ok;
}

/* ---- what arrived ------------------------------------------------------------ */

static bool is_hex(const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (!isxdigit((unsigned char)p[i]) || isupper((unsigned char)p[i]))
			return false;
	return true;
}

/* A traceparent line as tw_inject writes it, with a valid trace-id and
 * parent-id (not all zero). */
static bool tp_line_ok(const char *p)
{
	CHECK(!memcmp(p, "traceparent: 00-", 16), "'%.16s'", p);
	CHECK(is_hex(p + 16, 32) && p[48] == '-' && is_hex(p + 49, 16) && p[65] == '-' &&
		      is_hex(p + 66, 2) && !memcmp(p + 68, "\r\n", 2),
	      "'%.70s'", p);
	CHECK(memcmp(p + 16, "00000000000000000000000000000000", 32) &&
		      memcmp(p + 49, "0000000000000000", 16),
	      "all-zero id: '%.70s'", p);
	return true;
}

static int count_of(const char *buf, size_t len, const char *needle)
{
	size_t nl = strlen(needle);
	int n = 0;

	for (size_t i = 0; i + nl <= len; i++)
		if (!memcmp(buf + i, needle, nl))
			n++;
	return n;
}

/* out == in with one traceparent line at each offset of at[] (offsets in
 * in, ascending). */
static bool injected_at(const char *in, size_t in_len, const char *out, size_t out_len,
			const size_t *at, int n)
{
	size_t i = 0, o = 0;

	CHECK(out_len == in_len + (size_t)n * TP_LINE_LEN, "got %zu bytes, want %zu: '%.*s'",
	      out_len, in_len + n * TP_LINE_LEN, (int)out_len, out);
	for (int k = 0; k <= n; k++) {
		size_t end = k < n ? at[k] : in_len;

		CHECK(!memcmp(out + o, in + i, end - i), "bytes %zu..%zu differ", i, end);
		o += end - i;
		i = end;
		if (k < n) {
			CHECK(tp_line_ok(out + o), "traceparent line %d", k);
			o += TP_LINE_LEN;
		}
	}
	return true;
}

static size_t line_end(const char *s)
{
	return strstr(s, "\r\n") - s + 2;
}

static bool counts(__u64 injected, __u64 not_http, int nh_reason, __u64 kept)
{
	for (__u32 i = 0; i < TW_PC_MAX; i++) {
		__u64 want = 0, got = bt_pcount(fd_cnt, i);

		if (i == TW_PC_INJECTED)
			want = injected;
		else if (i == TW_PC_SKIP_NOT_HTTP)
			want = not_http;
		else if (i == TW_PC_KEPT_EXISTING)
			want = kept;
		else if (nh_reason && i == (__u32)(TW_PC_SKIP_NH_TLS + nh_reason - TW_REJ_TLS))
			want = not_http;
		CHECK(got == want, "prop_counters[%u] = %llu, want %llu", i,
		      (unsigned long long)got, (unsigned long long)want);
	}
	return true;
}

/* ---- tests ------------------------------------------------------------------ */

static const char GET[] = "GET /a?b=c HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n";

static bool test_get(void)
{
	const char *m[] = { GET };
	size_t l[] = { sizeof(GET) - 1 }, at[] = { line_end(GET) }, n;
	char out[4096];

	CHECK(exchange(m, l, 1, out, sizeof(out), &n), "exchange");
	CHECK(injected_at(GET, l[0], out, n, at, 1), "GET");
	CHECK(counts(1, 0, 0, 0), "counters");
	return true;
}

/* Requests one after another, one send each: a header in every head. */
static bool test_keepalive(void)
{
	static const char head[] = "HEAD / HTTP/1.0\r\n\r\n";
	const char *m[] = { GET, head, GET };
	size_t l[] = { sizeof(GET) - 1, sizeof(head) - 1, sizeof(GET) - 1 }, n;
	char in[4096], out[4096];
	size_t at[3], in_len = 0;

	for (int i = 0; i < 3; i++) {
		at[i] = in_len + line_end(m[i]);
		memcpy(in + in_len, m[i], l[i]);
		in_len += l[i];
	}
	CHECK(exchange(m, l, 3, out, sizeof(out), &n), "exchange");
	CHECK(injected_at(in, in_len, out, n, at, 3), "three requests");
	CHECK(counts(3, 0, 0, 0), "counters");
	return true;
}

/* A body is skipped, never looked at: a request line in it gets nothing,
 * and the request after the body gets its own. */
static bool test_post_body(void)
{
	static const char body[] = "GET / HTTP/1.1\r\nHost: inner\r\n\r\n";
	char post[512], in[1024], out[4096];
	size_t n, at[2], in_len;
	const char *m[2];
	size_t l[2];

	snprintf(post, sizeof(post),
		 "POST /submit HTTP/1.1\r\nHost: example\r\nContent-Length: %zu\r\n\r\n%s",
		 sizeof(body) - 1, body);
	m[0] = post;
	l[0] = strlen(post);
	m[1] = GET;
	l[1] = sizeof(GET) - 1;
	memcpy(in, post, l[0]);
	memcpy(in + l[0], GET, l[1]);
	in_len = l[0] + l[1];
	at[0] = line_end(post);
	at[1] = l[0] + line_end(GET);
	CHECK(exchange(m, l, 2, out, sizeof(out), &n), "exchange");
	CHECK(injected_at(in, in_len, out, n, at, 2), "POST, then GET");
	CHECK(counts(2, 0, 0, 0), "counters");
	/* the same, in one send: still only the real heads */
	m[0] = in;
	l[0] = in_len;
	CHECK(exchange(m, l, 1, out, sizeof(out), &n), "exchange");
	CHECK(injected_at(in, in_len, out, n, at, 2), "POST and GET in one send");
	CHECK(count_of(out, n, "traceparent") == 2, "traceparent lines");
	CHECK(counts(2, 0, 0, 0), "counters");
	return true;
}

/*
 * A non-blocking sender into a full send buffer (an event loop): a POST of
 * 192 KiB and a GET in one write get no header (skip_sndbuf: a push cut
 * short would make the application send bytes again, tw_msg_fits); a GET
 * written once everything has left may get one. What arrives is what was
 * sent, with at most that one line.
 */
static bool test_full_send_buffer(void)
{
	static char in[256 * 1024], out[300 * 1024];
	size_t len, first, at[1], n = 0;
	struct bt_conn c;
	__u64 injected;
	ssize_t r;
	bool ok;

	len = (size_t)snprintf(in, sizeof(in),
			       "POST /up HTTP/1.1\r\nHost: example\r\nContent-Length: %d\r\n\r\n",
			       192 * 1024);
	memset(in + len, 'b', 192 * 1024);
	len += 192 * 1024;
	memcpy(in + len, GET, sizeof(GET) - 1);
	first = len += sizeof(GET) - 1;
	memcpy(in + len, GET, sizeof(GET) - 1);
	len += sizeof(GET) - 1;
	at[0] = first + line_end(GET);

	CHECK(bt_pcount_reset(fd_cnt, TW_PC_MAX), "counters");
	CHECK(bt_conn_open_bufs(&c, fd_socks, 4096, 4096), "connection");
	ok = bt_send_nonblocking(&c, in, first, out, sizeof(out), &n) &&
	     bt_drain_sent(&c, out, sizeof(out), &n) &&
	     bt_send_nonblocking(&c, in + first, len - first, out, sizeof(out), &n);
	if (ok)
		shutdown(c.cli, SHUT_WR);
	while (ok && (r = recv(c.srv, out + n, sizeof(out) - n, 0)) > 0)
		n += r;
	bt_conn_close(&c);
	CHECK(ok, "sends");
	injected = bt_pcount(fd_cnt, TW_PC_INJECTED);
	/* the cut pushes leave sends sk_msg does not see, which can cost the
	 * framing (skip_unframed): the last GET may go without, never wrong */
	CHECK(injected <= 1 && injected_at(in, len, out, n, at, (int)injected),
	      "%llu headers: only the last GET may have one", (unsigned long long)injected);
	CHECK(bt_pcount(fd_cnt, TW_PC_SKIP_SNDBUF) >= 1, "skip_sndbuf %llu",
	      (unsigned long long)bt_pcount(fd_cnt, TW_PC_SKIP_SNDBUF));
	return true;
}

/* Bytes that are no HTTP/1.x request pass as they are, and the connection
 * is left alone from then on: a valid GET later gets no header either. */
static bool passes(const char *what, const char *msg, size_t len, int reason)
{
	const char *m[] = { msg, GET };
	size_t l[] = { len, sizeof(GET) - 1 }, n;
	char in[4096], out[4096];

	memcpy(in, msg, len);
	memcpy(in + len, GET, sizeof(GET) - 1);
	CHECK(exchange(m, l, 2, out, sizeof(out), &n), "%s: exchange", what);
	CHECK(n == len + l[1] && !memcmp(in, out, n), "%s: changed (%zu bytes, want %zu)", what, n,
	      len + l[1]);
	CHECK(counts(0, 1, reason, 0), "%s: counters", what);
	return true;
}

/* The whole preface first: HTTP/2's own program frames the connection; it
 * is not loaded here, so the connection passes untouched, counted. */
static bool test_h2c_preface(void)
{
	/* the preface, then an empty SETTINGS frame */
	static const char h2[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
	const char *m[] = { h2, GET };
	size_t l[] = { sizeof(h2) - 1, sizeof(GET) - 1 }, n;
	char in[4096], out[4096];

	memcpy(in, h2, l[0]);
	memcpy(in + l[0], GET, l[1]);
	CHECK(exchange(m, l, 2, out, sizeof(out), &n), "exchange");
	CHECK(n == l[0] + l[1] && !memcmp(in, out, n), "changed");
	for (__u32 i = 0; i < TW_PC_MAX; i++) {
		__u64 want = i == TW_PC_H2_CONNS || i == TW_PC_H2_OFF ? 1 : 0;

		CHECK(bt_pcount(fd_cnt, i) == want, "prop_counters[%u] = %llu, want %llu", i,
		      (unsigned long long)bt_pcount(fd_cnt, i), (unsigned long long)want);
	}
	return true;
}

/* Part of the preface in the first send: the HTTP/1 gate refuses it. */
static bool test_h2c_partial_preface(void)
{
	static const char h2[] = "PRI * HTTP/2.0\r\n";

	return passes("h2c partial preface", h2, sizeof(h2) - 1, TW_REJ_H2C);
}

static bool test_tls(void)
{
	/* the start of a TLS 1.2 record holding a ClientHello */
	static const unsigned char hello[] = {
		0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03, 'G',	'E',
		'T',  ' ',  '/',  ' ',  'H',  'T',  'T',  'P',	'/',  '1',  '.',  '1',	'\r',
		'\n', 0,    0,	  0,	0,    0,    0,	  0,	0,    0,    0,	  0,	0,
		0,    0,    0,	  0,	0,    0,    0,	  0x00, 0x02, 0x13, 0x01, 0x01, 0x00,
	};

	return passes("TLS ClientHello", (const char *)hello, sizeof(hello), TW_REJ_TLS);
}

static bool test_rtsp(void)
{
	static const char rtsp[] = "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n";

	return passes("RTSP/1.0", rtsp, sizeof(rtsp) - 1, TW_REJ_VERSION);
}

static bool test_bare_lf(void)
{
	static const char lf[] = "GET / HTTP/1.1\nHost: example\n\n";

	return passes("bare LF", lf, sizeof(lf) - 1, TW_REJ_LINE_END);
}

/* The application's own traceparent is kept, and no second one added. */
static bool test_existing_traceparent(void)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: example\r\n"
				  "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
				  "\r\n";
	const char *m[] = { req };
	size_t l[] = { sizeof(req) - 1 }, n;
	char out[4096];

	CHECK(exchange(m, l, 1, out, sizeof(out), &n), "exchange");
	CHECK(n == l[0] && !memcmp(out, req, n), "changed: '%.*s'", (int)n, out);
	CHECK(counts(0, 0, 0, 1), "counters");
	return true;
}

/* ---- setup ------------------------------------------------------------------ */

int main(void)
{
	static const struct bt_case cases[] = {
		{ "get", test_get },
		{ "keepalive", test_keepalive },
		{ "post_body", test_post_body },
		{ "full_send_buffer", test_full_send_buffer },
		{ "h2c_preface", test_h2c_preface },
		{ "h2c_partial_preface", test_h2c_partial_preface },
		{ "tls", test_tls },
		{ "rtsp", test_rtsp },
		{ "bare_lf", test_bare_lf },
		{ "existing_traceparent", test_existing_traceparent },
	};
	int rc = 1, prog;

	if (geteuid() != 0) {
		fprintf(stderr, "test_h1inject: needs root (loads BPF programs)\n");
		return 1;
	}
	if (unshare(CLONE_NEWNET) || !bt_lo_up()) {
		fprintf(stderr, "test_h1inject: network namespace: %s\n", strerror(errno));
		return 1;
	}
	skel = headers_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "test_h1inject: loading headers.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	fd_cnt = bpf_map__fd(skel->maps.prop_counters);
	prog = bpf_program__fd(skel->progs.tw_sk_msg);
	fd_socks = bpf_map_create(BPF_MAP_TYPE_SOCKHASH, "bt_socks", sizeof(__u32), sizeof(__u32),
				  64, NULL);
	if (fd_socks < 0 || bpf_prog_attach(prog, fd_socks, BPF_SK_MSG_VERDICT, 0)) {
		fprintf(stderr, "test_h1inject: sockhash: %s\n", strerror(errno));
		goto out;
	}
	rc = bt_run("test_h1inject", cases, sizeof(cases) / sizeof(cases[0]));
out:
	if (fd_socks >= 0)
		close(fd_socks);
	headers_bpf__destroy(skel);
	return rc;
}
