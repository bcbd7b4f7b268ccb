// SPDX-License-Identifier: BSD-2-Clause
/*
 * Span helpers, JSON escaping/writer, JSON-lines exporter and console
 * exporter. JSON output is parsed back by Python's json module (an
 * independent parser, strict about control characters and UTF-8) and its
 * fields are checked here; without python3 those checks are skipped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "export_otlp.h"
#include "exporter.h"
#include "json.h"
#include "span.h"
#include "span_fixtures.h"

/* ---- fixtures ------------------------------------------------------------ */

/* CLIENT child of the root, failed */
static struct tw_span client_span(void)
{
	struct tw_span s = root_span();

	set_id(s.span_id, 8, 2);
	set_id(s.parent_span_id, 8, 1);
	s.kind = TW_SPAN_CLIENT;
	s.start_ns = T0 + 1000000;
	s.end_ns = T0 + 9000000;
	s.tid = 102;
	strcpy(s.method, "POST");
	strcpy(s.path, "/orders");
	s.query[0] = '\0';
	strcpy(s.host, "orders:9090");
	s.status_code = 500;
	s.status = TW_STATUS_ERROR;
	strcpy(s.error_type, "500");
	s.request_body_bytes = 42;
	s.response_body_bytes = 0;
	set_ep(&s.local, AF_INET, "198.18.0.1", 51000);
	set_ep(&s.peer, AF_INET, "198.18.0.2", 9090);
	s.parent_source = "thread";
	return s;
}

/* SERVER grandchild over IPv6 with hostile bytes everywhere */
static struct tw_span hostile_span(void)
{
	struct tw_span s = root_span();

	set_id(s.span_id, 8, 3);
	set_id(s.parent_span_id, 8, 2);
	s.start_ns = T0 + 2000000;
	s.end_ns = T0 + 8000000;
	s.pid = 200;
	s.tid = 200;
	strcpy(s.service, "ord\"ers\\");
	strcpy(s.method, "BREW");
	strcpy(s.path, "/a\"b\\c\x01\x1b[31m\x7f\xff\xc3\xa9\xe2\x82");
	s.query[0] = '\0';
	s.host[0] = '\0';
	s.status_code = 0;
	s.http_minor = 0;
	s.response_body_bytes = 0;
	set_ep(&s.local, AF_INET6, "fd00::2", 9090);
	set_ep(&s.peer, AF_INET6, "fd00:0:0:0:0:0:1:5", 5555);
	s.parent_source = "header";
	return s;
}

/* CLIENT without a Host header, IPv6 peer */
static struct tw_span hostless_client_span(void)
{
	struct tw_span s = client_span();

	set_id(s.span_id, 8, 4);
	s.host[0] = '\0';
	strcpy(s.path, "/x");
	strcpy(s.query, "q=1");
	s.status = TW_STATUS_UNSET;
	s.status_code = 204;
	s.error_type[0] = '\0';
	set_ep(&s.peer, AF_INET6, "fd00::2", 9090);
	return s;
}

static char *slurp(FILE *f)
{
	size_t cap = 4096, len = 0, r;
	char *buf = malloc(cap);

	assert_non_null(buf);
	while ((r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += r;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	buf[len] = '\0';
	return buf;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;

	assert_non_null(f);
	s = slurp(f);
	fclose(f);
	return s;
}

static bool have_python(void)
{
	return system("python3 -c 'import json' >/dev/null 2>&1") == 0;
}

/* Runs a python script with argv[1] = path; returns its stdout ("\n" first,
 * so whole lines can be matched as "\n<line>\n"). Fails the test if python
 * exits non-zero (e.g. a JSON parse error). */
static char *python(const char *script, const char *path)
{
	char cmd[4096], *out, *with_nl;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "python3 -c '%s' '%s'", script, path);
	p = popen(cmd, "r");
	assert_non_null(p);
	out = slurp(p);
	if (pclose(p) != 0) {
		print_error("python failed; output:\n%s\n", out);
		fail();
	}
	with_nl = malloc(strlen(out) + 2);
	assert_non_null(with_nl);
	sprintf(with_nl, "\n%s", out);
	free(out);
	return with_nl;
}

static void assert_line(const char *out, const char *line)
{
	char want[1024];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(out, want)) {
		print_error("missing line: %s\nin:%s\n", line, out);
		fail();
	}
}

static void assert_no_prefix(const char *out, const char *prefix)
{
	char want[256];

	snprintf(want, sizeof(want), "\n%s", prefix);
	if (strstr(out, want)) {
		print_error("unexpected: %s\n", prefix);
		fail();
	}
}

/* ---- span helpers --------------------------------------------------------- */

static void test_span_name(void **state)
{
	static const struct {
		const char *method, *name;
	} cases[] = {
		{ "GET", "GET" },	  { "POST", "POST" },   { "PUT", "PUT" },
		{ "DELETE", "DELETE" }, { "HEAD", "HEAD" },   { "OPTIONS", "OPTIONS" },
		{ "PATCH", "PATCH" },	  { "TRACE", "TRACE" }, { "CONNECT", "CONNECT" },
		{ "QUERY", "QUERY" },	  { "get", "HTTP" },    { "BREW", "HTTP" },
		{ "", "HTTP" },	  { "GETX", "HTTP" },   { "GE", "HTTP" },
	};
	struct tw_span s;

	(void)state;
	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strcpy(s.method, cases[i].method);
		assert_string_equal(tw_span_name(&s), cases[i].name);
	}
	/* an unterminated method field is not read past */
	memset(s.method, 'A', sizeof(s.method));
	assert_string_equal(tw_span_name(&s), "HTTP");
	assert_true(tw_http_method_known("PATCH"));
	assert_false(tw_http_method_known("patch"));
}

static void test_endpoint_addr_str(void **state)
{
	struct tw_endpoint ep;
	char buf[TW_ADDR_STR_MAX];

	(void)state;
	set_ep(&ep, AF_INET, "198.18.0.1", 80);
	assert_string_equal(tw_endpoint_addr_str(&ep, buf, sizeof(buf)), "198.18.0.1");
	assert_int_equal(tw_endpoint_family(&ep), AF_INET);
	set_ep(&ep, AF_INET6, "::ffff:10.1.2.3", 80);
	assert_string_equal(tw_endpoint_addr_str(&ep, buf, sizeof(buf)), "10.1.2.3");
	assert_int_equal(tw_endpoint_family(&ep), AF_INET);
	set_ep(&ep, AF_INET6, "fd00:0000:0000:0000:0000:0000:0000:0001", 80);
	assert_string_equal(tw_endpoint_addr_str(&ep, buf, sizeof(buf)), "fd00::1");
	assert_int_equal(tw_endpoint_family(&ep), AF_INET6);
	set_ep(&ep, AF_INET6, "::1", 80);
	assert_string_equal(tw_endpoint_addr_str(&ep, buf, sizeof(buf)), "::1");
	ep.family = 0;
	assert_string_equal(tw_endpoint_addr_str(&ep, buf, sizeof(buf)), "");
	assert_int_equal(tw_endpoint_family(&ep), 0);
	/* IPv4 is formatted by hand: every byte width, as inet_ntop writes it */
	for (unsigned v = 0; v < 256; v++) {
		uint8_t a[4] = { (uint8_t)v, (uint8_t)(255 - v), (uint8_t)(v * 7), (uint8_t)(v / 3) };
		char want[INET_ADDRSTRLEN];

		memset(&ep, 0, sizeof(ep));
		ep.family = AF_INET;
		memcpy(ep.addr, a, 4);
		assert_non_null(inet_ntop(AF_INET, a, want, sizeof(want)));
		assert_string_equal(tw_endpoint_addr_str(&ep, buf, sizeof(buf)), want);
	}
	/* a buffer too small for any IPv4 address gets "" as before */
	set_ep(&ep, AF_INET, "198.18.0.1", 80);
	assert_string_equal(tw_endpoint_addr_str(&ep, buf, 8), "");
}

/* A string field as readers see it: the bytes up to the NUL, or all. */
static void assert_field_equal(const char *a, const char *b, size_t size)
{
	size_t n = strnlen(a, size);

	assert_int_equal(strnlen(b, size), n);
	assert_memory_equal(a, b, n);
}

/* tw_span_copy gives what *dst = *src gives to every reader of the span,
 * unterminated (full) fields included, whatever dst held before. */
static void test_span_copy(void **state)
{
	struct tw_span src, dst;

	(void)state;
	for (int round = 0; round < 3; round++) {
		memset(&src, 0x5a + round, sizeof(src));
		for (size_t i = 0; i < sizeof(src.trace_id); i++)
			src.trace_id[i] = (uint8_t)(i + round);
		src.start_ns = 1111 + (uint64_t)round;
		src.end_ns = 2222;
		src.pid = 42;
		src.status_code = 503;
		src.request_body_bytes = 7;
		src.response_body_bytes = 9;
		src.peer.port = 8080;
		src.parent_source = "thread";
		strcpy(src.service, round ? "svc" : "");
		strcpy(src.method, "GET");
		if (round == 2) /* unterminated: every byte is the field's */
			memset(src.path, 'p', sizeof(src.path));
		else
			strcpy(src.path, "/api/v1/orders");
		strcpy(src.query, round == 1 ? "page=2" : "");
		memset(src.host, 'h', sizeof(src.host) - 1);
		src.host[sizeof(src.host) - 1] = '\0';
		memset(src.error_type, 'e', sizeof(src.error_type));
		memset(&dst, 0xa5, sizeof(dst));
		tw_span_copy(&dst, &src);
		assert_memory_equal(&dst, &src, offsetof(struct tw_span, service));
		assert_int_equal(dst.status_code, src.status_code);
		assert_memory_equal(&dst.http_minor, &src.http_minor,
				    sizeof(dst) - offsetof(struct tw_span, http_minor));
		assert_field_equal(dst.service, src.service, sizeof(src.service));
		assert_field_equal(dst.method, src.method, sizeof(src.method));
		assert_field_equal(dst.path, src.path, sizeof(src.path));
		assert_field_equal(dst.query, src.query, sizeof(src.query));
		assert_field_equal(dst.host, src.host, sizeof(src.host));
		assert_field_equal(dst.error_type, src.error_type, sizeof(src.error_type));
		assert_ptr_equal(dst.parent_source, src.parent_source);
	}
	/* the NUL at every place in and around the copy's 8-byte words */
	for (size_t len = 0; len < 40; len++) {
		memset(&src, 'x', sizeof(src));
		memset(&dst, 0xa5, sizeof(dst));
		src.path[len] = '\0';
		src.query[len] = '\0';
		tw_span_copy(&dst, &src);
		assert_field_equal(dst.path, src.path, sizeof(src.path));
		assert_field_equal(dst.query, src.query, sizeof(src.query));
		assert_field_equal(dst.service, src.service, sizeof(src.service));
	}
}

static void test_host_split(void **state)
{
	static const struct {
		const char *in, *host;
		uint16_t port;
		int ret;
	} cases[] = {
		{ "example.com", "example.com", 0, 0 },
		{ "example.com:8080", "example.com", 8080, 0 },
		{ " example.com:80 ", "example.com", 80, 0 },
		{ "[::1]:8443", "::1", 8443, 0 },
		{ "[fd00::2]", "fd00::2", 0, 0 },
		{ "fd00::2", "fd00::2", 0, 0 }, /* bare IPv6: no port split */
		{ "host:99999", "host", 0, 0 },
		{ "host:12a", "host", 0, 0 },
		{ "host:", "host", 0, 0 },
		{ "", "", 0, -EINVAL },
		{ ":80", "", 80, -EINVAL },
		{ "[::1", "", 0, -EINVAL },
	};
	char host[TW_HOST_MAX];
	uint16_t port;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = tw_host_split(cases[i].in, host, sizeof(host), &port);

		assert_int_equal(ret, cases[i].ret);
		if (!ret) {
			assert_string_equal(host, cases[i].host);
			assert_int_equal(port, cases[i].port);
		}
	}
	assert_int_equal(tw_host_split("abcdefgh", host, 4, &port), -ENAMETOOLONG);
}

static void test_span_is_root(void **state)
{
	struct tw_span r = root_span(), c = client_span();

	(void)state;
	assert_true(tw_span_is_root(&r));
	assert_false(tw_span_is_root(&c));
	assert_string_equal(tw_span_kind_str(&r), "server");
	assert_string_equal(tw_span_kind_str(&c), "client");
}

/* ---- JSON ------------------------------------------------------------------ */

static void escape_eq(const char *in, size_t n, const char *want)
{
	char out[256];
	size_t need = tw_json_escape(out, sizeof(out), in, n);

	assert_string_equal(out, want);
	assert_int_equal(need, strlen(want));
}

static void test_json_escape(void **state)
{
	(void)state;
	escape_eq("plain", 5, "plain");
	escape_eq("a\"b\\c/", 6, "a\\\"b\\\\c/");
	escape_eq("\x01\n\t\x1f\x7f", 5, "\\u0001\\u000a\\u0009\\u001f\\u007f");
	escape_eq("a\0b", 3, "a\\u0000b");
	escape_eq("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	/* invalid UTF-8: one U+FFFD per maximal invalid subpart */
	escape_eq("\xff", 1, "\xef\xbf\xbd");
	escape_eq("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd");                   /* overlong */
	escape_eq("\xe2\x82" "A", 3, "\xef\xbf\xbd" "A");                        /* truncated */
	escape_eq("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");   /* surrogate */
	escape_eq("\xf4\x90\x80\x80", 4,
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");          /* > U+10FFFF */
	escape_eq("\xf0\x9f\x98", 3, "\xef\xbf\xbd");                            /* cut at end */
	escape_eq("\x80", 1, "\xef\xbf\xbd");
}

static void test_json_escape_cut(void **state)
{
	char out[8];

	(void)state;
	/* cut whole: "ab" fits, the 6-byte escape does not */
	assert_int_equal(tw_json_escape(out, sizeof(out), "ab\x01", 3), 8);
	assert_string_equal(out, "ab");
	/* never half a UTF-8 sequence */
	assert_int_equal(tw_json_escape(out, 6, "abc\xf0\x9f\x98\x80", 7), 7);
	assert_string_equal(out, "abc");
	assert_int_equal(tw_json_escape(NULL, 0, "\"", 1), 2);
}

static void test_json_writer(void **state)
{
	char buf[256];
	struct tw_json j;

	(void)state;
	tw_json_init(&j, buf, sizeof(buf));
	tw_json_object_begin(&j);
	tw_json_kv_string(&j, "a", "x\"y");
	tw_json_kv_int(&j, "b", -5);
	tw_json_kv_uint(&j, "c", UINT64_MAX);
	tw_json_key(&j, "d");
	tw_json_array_begin(&j);
	tw_json_int(&j, 1);
	tw_json_bool(&j, true);
	tw_json_null(&j);
	tw_json_object_begin(&j);
	tw_json_object_end(&j);
	tw_json_array_end(&j);
	tw_json_key(&j, "e");
	tw_json_object_begin(&j);
	tw_json_kv_string_n(&j, "f", "gh", 1);
	tw_json_object_end(&j);
	tw_json_object_end(&j);
	assert_false(j.overflow);
	assert_string_equal(buf, "{\"a\":\"x\\\"y\",\"b\":-5,\"c\":18446744073709551615,"
				 "\"d\":[1,true,null,{}],\"e\":{\"f\":\"g\"}}");
	assert_int_equal(j.len, strlen(buf));

	tw_json_reset(&j);
	tw_json_array_begin(&j);
	tw_json_array_end(&j);
	assert_string_equal(buf, "[]");
}

static void test_json_writer_overflow(void **state)
{
	char buf[64];
	struct tw_json j;

	(void)state;
	for (size_t cap = 0; cap < 24; cap++) {
		memset(buf, 'Z', sizeof(buf));
		tw_json_init(&j, buf, cap);
		tw_json_object_begin(&j);
		tw_json_kv_string(&j, "key", "value\x01");
		tw_json_object_end(&j);
		/* {"key":"value\u0001"} is 21 bytes + NUL */
		assert_int_equal(j.overflow, cap < 22);
		for (size_t i = cap; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 'Z'); /* nothing past cap */
		if (cap)
			assert_non_null(memchr(buf, '\0', cap));
	}
	tw_json_init(&j, buf, sizeof(buf));
	tw_json_object_end(&j); /* unbalanced */
	assert_true(j.overflow);
}

/* Random byte strings, escaped here, decoded by Python: must equal Python's
 * own bytes.decode("utf-8", "replace") of the input. */
static void test_json_escape_matches_python(void **state)
{
	static const char script[] =
		"import json,sys\n"
		"n=0\n"
		"for l in open(sys.argv[1],encoding=\"utf-8\"):\n"
		"  h,j=l.rstrip(\"\\n\").split(\" \",1)\n"
		"  want=bytes.fromhex(h).decode(\"utf-8\",\"replace\")\n"
		"  got=json.loads(j)\n"
		"  assert got==want,(h,j,got,want)\n"
		"  n+=1\n"
		"print(n)\n";
	static const uint8_t interesting[] = { 0x00, 0x01, 0x1f, 0x20, '"', '\\', 'a', 0x7f,
					      0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef,
					      0xf0, 0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x90, 0x8f };
	char path[] = "/tmp/tw_json_fuzz_XXXXXX";
	unsigned seed = 4242;
	char *out;
	int fd;
	FILE *f;

	(void)state;
	if (!have_python())
		skip();
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	for (int i = 0; i < 3000; i++) {
		uint8_t in[24];
		char esc[24 * 6 + 1];
		size_t n = (size_t)(rand_r(&seed) % sizeof(in));

		for (size_t k = 0; k < n; k++)
			in[k] = rand_r(&seed) % 2 ? interesting[rand_r(&seed) % sizeof(interesting)]
						  : (uint8_t)rand_r(&seed);
		for (size_t k = 0; k < n; k++)
			fprintf(f, "%02x", in[k]);
		assert_true(tw_json_escape(esc, sizeof(esc), (const char *)in, n) < sizeof(esc));
		fprintf(f, " \"%s\"\n", esc);
	}
	fclose(f);
	out = python(script, path);
	assert_line(out, "3000");
	free(out);
	unlink(path);
}

/* ---- JSON lines exporter ----------------------------------------------------- */

/* Every key of every line flattened to "<line> <key>=<json value>"; fails on
 * invalid JSON/UTF-8, duplicate keys, or a line without its newline. */
static const char flatten_py[] =
	"import json,sys\n"
	"def nodup(pairs):\n"
	"  d=dict(pairs)\n"
	"  assert len(d)==len(pairs),pairs\n"
	"  return d\n"
	"data=open(sys.argv[1],\"rb\").read().decode(\"utf-8\")\n"
	"assert data.endswith(\"\\n\")\n"
	"for i,l in enumerate(data.split(\"\\n\")[:-1]):\n"
	"  o=json.loads(l,object_pairs_hook=nodup)\n"
	"  for k,v in o.items():\n"
	"    if k==\"attributes\":\n"
	"      for a,av in v.items(): print(\"%d attributes.%s=%s\"%(i,a,json.dumps(av)))\n"
	"    else: print(\"%d %s=%s\"%(i,k,json.dumps(v)))\n"
	"  print(\"%d nkeys=%d\"%(i,len(o)))\n";

static char *export_jsonl(const struct tw_span *spans, size_t n, char *path)
{
	const struct tw_span *ptrs[8];
	struct tw_exporter *e;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	e = tw_jsonl_exporter_new(path);
	assert_non_null(e);
	assert_string_equal(e->ops->name, "jsonl");
	for (size_t i = 0; i < n; i++)
		ptrs[i] = &spans[i];
	assert_int_equal(e->ops->export_trace(e, ptrs, n), 0);
	e->ops->destroy(e);
	return read_file(path);
}

static void test_jsonl_lines_raw(void **state)
{
	struct tw_span spans[2] = { root_span(), hostile_span() };
	char path[] = "/tmp/tw_jsonl_XXXXXX";
	char *text = export_jsonl(spans, 2, path);
	char *nl = strchr(text, '\n');

	(void)state;
	/* two lines, each a complete object; keys in a fixed order */
	assert_non_null(nl);
	assert_int_equal(text[strlen(text) - 1], '\n');
	assert_ptr_equal(strchr(nl + 1, '\n'), text + strlen(text) - 1);
	assert_true(!strncmp(text, "{\"trace_id\":\"" TRACE_HEX "\",\"span_id\":\"a000000000000001\","
				   "\"parent_span_id\":\"\",\"kind\":\"server\",\"name\":\"GET\","
				   "\"start_ns\":1700000000000000000,\"end_ns\":1700000000012345678,",
			     strlen("{\"trace_id\":\"" TRACE_HEX "\",\"span_id\":\"a000000000000001\","
				    "\"parent_span_id\":\"\",\"kind\":\"server\",\"name\":\"GET\","
				    "\"start_ns\":1700000000000000000,\"end_ns\":1700000000012345678,")));
	/* hostile bytes escaped, invalid UTF-8 replaced, no raw ESC */
	assert_non_null(strstr(nl, "\"url.path\":\"/a\\\"b\\\\c\\u0001\\u001b[31m\\u007f"
				   "\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\""));
	assert_null(strchr(text, '\x1b'));
	free(text);
	unlink(path);
}

static void test_jsonl_fields(void **state)
{
	struct tw_span spans[4] = { root_span(), client_span(), hostile_span(),
				    hostless_client_span() };
	char path[] = "/tmp/tw_jsonl_XXXXXX";
	char *text, *out;

	(void)state;
	text = export_jsonl(spans, 4, path);
	free(text);
	if (!have_python()) {
		unlink(path);
		skip();
	}
	out = python(flatten_py, path);

	/* root SERVER: v4-mapped peer shown as IPv4; server.* is the local end */
	assert_line(out, "0 nkeys=13");
	assert_line(out, "0 trace_id=\"" TRACE_HEX "\"");
	assert_line(out, "0 span_id=\"a000000000000001\"");
	assert_line(out, "0 parent_span_id=\"\"");
	assert_line(out, "0 kind=\"server\"");
	assert_line(out, "0 name=\"GET\"");
	assert_line(out, "0 start_ns=1700000000000000000");
	assert_line(out, "0 end_ns=1700000000012345678");
	assert_line(out, "0 service=\"frontend\"");
	assert_line(out, "0 pid=100");
	assert_line(out, "0 tid=101");
	assert_line(out, "0 status=\"unset\"");
	assert_line(out, "0 trace_flags=1");
	assert_line(out, "0 attributes.http.request.method=\"GET\"");
	assert_line(out, "0 attributes.url.path=\"/api/orders\"");
	assert_line(out, "0 attributes.url.query=\"id=7&x=y\"");
	assert_line(out, "0 attributes.url.scheme=\"http\"");
	assert_line(out, "0 attributes.http.response.status_code=200");
	assert_line(out, "0 attributes.network.protocol.version=\"1.1\"");
	assert_line(out, "0 attributes.network.transport=\"tcp\"");
	assert_line(out, "0 attributes.network.type=\"ipv4\"");
	assert_line(out, "0 attributes.network.peer.address=\"198.18.0.9\"");
	assert_line(out, "0 attributes.network.peer.port=40000");
	assert_line(out, "0 attributes.network.local.address=\"198.18.0.1\"");
	assert_line(out, "0 attributes.network.local.port=8080");
	assert_line(out, "0 attributes.server.address=\"198.18.0.1\"");
	assert_line(out, "0 attributes.server.port=8080");
	assert_line(out, "0 attributes.client.address=\"198.18.0.9\"");
	assert_line(out, "0 attributes.client.port=40000");
	assert_line(out, "0 attributes.http.response.body.size=512");
	assert_line(out, "0 attributes.thread.id=101");
	assert_line(out, "0 attributes.process.pid=100");
	assert_line(out, "0 attributes.tracewire.parent.source=\"none\"");
	assert_no_prefix(out, "0 attributes.http.request.body.size=");
	assert_no_prefix(out, "0 attributes.url.full=");
	assert_no_prefix(out, "0 attributes.error.type=");
	assert_no_prefix(out, "0 attributes.http.request.method_original=");

	/* CLIENT: server.* from the Host header and peer port; url.full */
	assert_line(out, "1 parent_span_id=\"a000000000000001\"");
	assert_line(out, "1 kind=\"client\"");
	assert_line(out, "1 name=\"POST\"");
	assert_line(out, "1 status=\"error\"");
	assert_line(out, "1 attributes.server.address=\"orders\"");
	assert_line(out, "1 attributes.server.port=9090");
	assert_line(out, "1 attributes.url.full=\"http://orders:9090/orders\"");
	assert_line(out, "1 attributes.network.peer.address=\"198.18.0.2\"");
	assert_line(out, "1 attributes.network.local.address=\"198.18.0.1\"");
	assert_line(out, "1 attributes.network.local.port=51000");
	assert_line(out, "1 attributes.http.response.status_code=500");
	assert_line(out, "1 attributes.http.request.body.size=42");
	assert_line(out, "1 attributes.error.type=\"500\"");
	assert_line(out, "1 attributes.tracewire.parent.source=\"thread\"");
	assert_no_prefix(out, "1 attributes.client.address=");
	assert_no_prefix(out, "1 attributes.url.query=");
	assert_no_prefix(out, "1 attributes.http.response.body.size=");

	/* hostile SERVER over IPv6: unknown method, escaped strings */
	assert_line(out, "2 name=\"HTTP\"");
	assert_line(out, "2 service=\"ord\\\"ers\\\\\"");
	assert_line(out, "2 attributes.http.request.method=\"_OTHER\"");
	assert_line(out, "2 attributes.http.request.method_original=\"BREW\"");
	assert_line(out, "2 attributes.url.path=\"/a\\\"b\\\\c\\u0001\\u001b[31m\\u007f\\ufffd\\u00e9\\ufffd\"");
	assert_line(out, "2 attributes.network.type=\"ipv6\"");
	assert_line(out, "2 attributes.network.protocol.version=\"1.0\"");
	assert_line(out, "2 attributes.network.peer.address=\"fd00::1:5\"");
	assert_line(out, "2 attributes.client.address=\"fd00::1:5\"");
	assert_line(out, "2 attributes.server.address=\"fd00::2\"");
	assert_no_prefix(out, "2 attributes.http.response.status_code=");

	/* CLIENT without Host: the peer, bracketed in the URL */
	assert_line(out, "3 attributes.server.address=\"fd00::2\"");
	assert_line(out, "3 attributes.url.full=\"http://[fd00::2]:9090/x?q=1\"");
	assert_line(out, "3 attributes.url.query=\"q=1\"");
	assert_line(out, "3 status=\"unset\"");
	assert_no_prefix(out, "3 attributes.error.type=");
	assert_no_prefix(out, "4 ");
	free(out);
	unlink(path);
}

static const struct tw_attr *find_attr(const struct tw_span_attrs *a, const char *key)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->a[i].key, key))
			return &a->a[i];
	return NULL;
}

static void assert_url_full(const struct tw_span *s, const char *want)
{
	struct tw_span_attrs a;
	const struct tw_attr *url;

	tw_span_attrs(s, &a);
	url = find_attr(&a, "url.full");
	assert_non_null(url);
	if (url->len != strlen(want) || memcmp(url->str, want, url->len)) {
		print_error("url.full: got %.*s want %s\n", (int)url->len, url->str, want);
		fail();
	}
}

static void test_jsonl_url_full_default_port(void **state)
{
	struct tw_span s = client_span();
	struct tw_span_attrs a;
	const struct tw_attr *at;

	(void)state;
	strcpy(s.host, "shop.example");
	s.peer.port = 8080; /* a proxy or load-balanced backend: Host has the URL */
	assert_url_full(&s, "http://shop.example/orders");
	strcpy(s.host, "shop.example:80");
	assert_url_full(&s, "http://shop.example/orders");
	strcpy(s.host, "[fd00::9]:8443");
	assert_url_full(&s, "http://[fd00::9]:8443/orders");
	s.host[0] = '\0';
	s.peer.port = 80;
	assert_url_full(&s, "http://198.18.0.2/orders");
	s.peer.port = 81;
	assert_url_full(&s, "http://198.18.0.2:81/orders");

	/* over TLS (OpenSSL plaintext): https, and 443 is its default port */
	s.tls = 1;
	strcpy(s.host, "shop.example:443");
	assert_url_full(&s, "https://shop.example/orders");
	strcpy(s.host, "shop.example:80");
	assert_url_full(&s, "https://shop.example:80/orders");
	tw_span_attrs(&s, &a);
	at = find_attr(&a, "url.scheme");
	assert_non_null(at);
	assert_int_equal(at->len, 5);
	assert_memory_equal(at->str, "https", 5);
	s.tls = 0;
	s.host[0] = '\0';
	s.peer.port = 81;

	/* error span without error_type: semconv's _OTHER */
	s.error_type[0] = '\0';
	tw_span_attrs(&s, &a);
	at = find_attr(&a, "error.type");
	assert_non_null(at);
	assert_int_equal(at->len, 6);
	assert_memory_equal(at->str, "_OTHER", 6);
	/* server.port is the peer's even when Host names another */
	strcpy(s.host, "api:9999");
	tw_span_attrs(&s, &a);
	assert_int_equal(find_attr(&a, "server.port")->num, 81);
	assert_memory_equal(find_attr(&a, "server.address")->str, "api", 3);
}

/* The fullest attribute sets leave room: nothing is silently dropped. */
static void test_attrs_never_fill_up(void **state)
{
	struct tw_span spans[2] = { hostile_span(), client_span() };
	struct tw_span_attrs a;

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct tw_span *s = &spans[i];

		strcpy(s->query, "q");
		s->status_code = 500;
		s->status = TW_STATUS_ERROR;
		s->request_body_bytes = s->response_body_bytes = 1;
		tw_span_attrs(s, &a);
		assert_true(a.n < TW_SPAN_ATTRS_MAX);
		assert_string_equal(a.a[a.n - 1].key, "error.type");
	}
}

static void test_jsonl_max_size_span_fits(void **state)
{
	struct tw_span s = hostile_span();
	const struct tw_span *p = &s;
	char path[] = "/tmp/tw_jsonl_XXXXXX";
	struct tw_exporter *e;
	char *text;
	int fd;

	(void)state;
	/* every string field full of bytes that escape to 6 */
	s.kind = TW_SPAN_CLIENT;
	memset(s.service, 0x01, sizeof(s.service));
	memset(s.method, 0x02, sizeof(s.method));
	memset(s.path, 0x03, sizeof(s.path));
	memset(s.query, 0x04, sizeof(s.query));
	memset(s.host, 0x05, sizeof(s.host));
	memset(s.error_type, 0x06, sizeof(s.error_type));
	s.status = TW_STATUS_ERROR;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	e = tw_jsonl_exporter_new(path);
	assert_non_null(e);
	assert_int_equal(e->ops->export_trace(e, &p, 1), 0);
	e->ops->destroy(e);
	text = read_file(path);
	assert_true(strlen(text) > 6 * (TW_PATH_MAX + TW_QUERY_MAX));
	assert_int_equal(text[strlen(text) - 1], '\n');
	free(text);
	if (have_python())
		free(python(flatten_py, path));
	unlink(path);
}

static void test_jsonl_big_trace_whole_lines(void **state)
{
	enum { N = 1024 };
	struct tw_span *spans = calloc(N, sizeof(*spans));
	const struct tw_span **ptrs = calloc(N, sizeof(*ptrs));
	char path[] = "/tmp/tw_jsonl_XXXXXX";
	struct tw_exporter *e;
	size_t lines = 0;
	char *text;
	int fd;

	(void)state;
	assert_non_null(spans);
	assert_non_null(ptrs);
	for (size_t i = 0; i < N; i++) {
		spans[i] = root_span();
		memset(spans[i].path, 'p', TW_PATH_MAX - 1); /* ~1.5 KiB per line */
		ptrs[i] = &spans[i];
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	e = tw_jsonl_exporter_new(path);
	assert_non_null(e);
	assert_int_equal(e->ops->export_trace(e, ptrs, N), 0);
	assert_int_equal(e->ops->export_trace(e, ptrs, 1), 0);
	/* flushed per trace: all there before destroy */
	text = read_file(path);
	for (char *p = text; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, N + 1);
	assert_int_equal(text[strlen(text) - 1], '\n');
	free(text);
	e->ops->destroy(e);
	free(spans);
	free(ptrs);
	unlink(path);
}

static void test_jsonl_open_errors(void **state)
{
	struct tw_exporter *e;

	(void)state;
	errno = 0;
	assert_null(tw_jsonl_exporter_new("/nonexistent-dir-tw/x.jsonl"));
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_null(tw_jsonl_exporter_new(""));
	assert_int_equal(errno, EINVAL);
	e = tw_jsonl_exporter_new("-");
	assert_non_null(e);
	assert_int_equal(e->ops->flush(e), 0);
	e->ops->destroy(e); /* does not close stdout */
	assert_true(fflush(stdout) == 0);
}

static void test_jsonl_truncates_existing_file(void **state)
{
	char path[] = "/tmp/tw_jsonl_XXXXXX";
	struct tw_exporter *e;
	char *text;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("old content\n", f);
	fclose(f);
	e = tw_jsonl_exporter_new(path);
	assert_non_null(e);
	e->ops->destroy(e);
	text = read_file(path);
	assert_string_equal(text, "");
	free(text);
	unlink(path);
}

/* ---- console exporter -------------------------------------------------------- */

static char *export_console(const struct tw_span *spans, size_t n)
{
	const struct tw_span *ptrs[8];
	struct tw_exporter *e;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	e = tw_console_exporter_new(f);
	assert_non_null(e);
	assert_string_equal(e->ops->name, "console");
	for (size_t i = 0; i < n; i++)
		ptrs[i] = &spans[i];
	assert_int_equal(e->ops->export_trace(e, ptrs, n), 0);
	e->ops->destroy(e);
	fclose(f);
	return buf;
}

/* The line containing needle, copied into line; column of needle in it. */
static long find_line(const char *text, const char *needle, char *line, size_t size)
{
	const char *hit = strstr(text, needle), *start, *end;

	if (!hit) {
		print_error("no line with '%s' in:\n%s\n", needle, text);
		fail();
	}
	start = hit;
	while (start > text && start[-1] != '\n')
		start--;
	end = strchr(hit, '\n');
	assert_non_null(end);
	snprintf(line, size, "%.*s", (int)(end - start), start);
	return hit - start;
}

static const char *bar(int from, int to)
{
	static char b[43];

	memset(b, ' ', sizeof(b));
	b[0] = b[41] = '|';
	memset(b + 1 + from, '=', (size_t)(to - from));
	b[42] = '\0';
	return b;
}

static size_t count_lines(const char *text)
{
	size_t n = 0;

	for (; (text = strchr(text, '\n')); text++)
		n++;
	return n;
}

static void test_console_tree(void **state)
{
	/* orphan: its parent is not in this trace */
	struct tw_span orphan = root_span();
	struct tw_span spans[4];
	char line[1024];
	long c_root, c_client, c_grand, c_orphan;
	char *text;

	(void)state;
	set_id(orphan.span_id, 8, 9);
	set_id(orphan.parent_span_id, 8, 0x77);
	strcpy(orphan.service, "stray");
	orphan.start_ns = T0 + 3000000;
	orphan.end_ns = T0 + 4000000;
	spans[0] = root_span();
	spans[1] = client_span();
	spans[2] = hostile_span();
	spans[3] = orphan;
	text = export_console(spans, 4);

	assert_int_equal(count_lines(text), 5);
	find_line(text, "trace " TRACE_HEX, line, sizeof(line));
	assert_non_null(strstr(line, "4 spans"));
	assert_non_null(strstr(line, "12.345 ms"));
	assert_non_null(strstr(line, "1 error"));
	assert_ptr_equal(strstr(text, "trace "), text); /* header first */

	c_root = find_line(text, "SERVER frontend GET /api/orders?id=7&x=y 200", line, sizeof(line));
	assert_non_null(strstr(line, "12.345 ms"));
	assert_non_null(strstr(line, "from 198.18.0.9:40000"));
	assert_non_null(strstr(line, bar(0, 40)));

	c_client = find_line(text, "CLIENT frontend POST /orders 500", line, sizeof(line));
	assert_int_equal(c_client, c_root + 2);
	assert_non_null(strstr(line, " ! "));
	assert_non_null(strstr(line, "error=500"));
	assert_non_null(strstr(line, "to 198.18.0.2:9090"));
	assert_non_null(strstr(line, "8.000 ms"));
	/* 1..9 ms of 12.345 ms over 40 columns: [3, 30) */
	assert_non_null(strstr(line, bar(3, 30)));

	c_grand = find_line(text, "SERVER ord\"ers\\ BREW", line, sizeof(line));
	assert_int_equal(c_grand, c_client + 2);
	assert_non_null(strstr(line, "\\x01\\x1b[31m\\x7f\\xff\\xc3\\xa9"));
	assert_non_null(strstr(line, " ---"));
	assert_non_null(strstr(line, "from [fd00::1:5]:5555"));
	assert_null(strstr(line, "error="));

	c_orphan = find_line(text, "SERVER stray", line, sizeof(line));
	assert_int_equal(c_orphan, c_root);

	/* the tree is printed depth-first: root, client, grandchild, orphan */
	assert_true(strstr(text, "CLIENT frontend") < strstr(text, "SERVER ord"));
	assert_true(strstr(text, "SERVER ord") < strstr(text, "SERVER stray"));
	assert_null(strchr(text, '\x1b')); /* no raw escapes, no colour on a non-tty */
	free(text);
}

static void test_console_siblings_in_start_order(void **state)
{
	struct tw_span spans[3] = { root_span(), client_span(), client_span() };
	char line[1024];
	char *text;

	(void)state;
	set_id(spans[2].span_id, 8, 5);
	strcpy(spans[2].path, "/second");
	spans[2].start_ns = T0 + 5000000;
	spans[2].status = TW_STATUS_UNSET;
	text = export_console(spans, 3);
	assert_true(strstr(text, "POST /orders") < strstr(text, "POST /second"));
	assert_int_equal(find_line(text, "POST /orders", line, sizeof(line)),
			 find_line(text, "POST /second", line, sizeof(line)));
	free(text);
}

static void test_console_parent_cycle(void **state)
{
	struct tw_span a = root_span(), b = client_span();
	struct tw_span spans[2];
	char *text;

	(void)state;
	memcpy(a.parent_span_id, b.span_id, 8); /* a -> b -> a */
	spans[0] = a;
	spans[1] = b;
	text = export_console(spans, 2);
	assert_int_equal(count_lines(text), 3);
	assert_non_null(strstr(text, "SERVER frontend"));
	assert_non_null(strstr(text, "CLIENT frontend"));
	free(text);
}

static void test_console_self_parent_and_zero_duration(void **state)
{
	struct tw_span s = root_span();
	char line[1024];
	char *text;

	(void)state;
	memcpy(s.parent_span_id, s.span_id, 8);
	s.end_ns = s.start_ns;
	text = export_console(&s, 1);
	assert_int_equal(count_lines(text), 2);
	find_line(text, "trace ", line, sizeof(line));
	assert_non_null(strstr(line, "1 span "));
	assert_non_null(strstr(line, "0.000 ms"));
	find_line(text, "SERVER frontend", line, sizeof(line));
	assert_non_null(strstr(line, bar(0, 40)));
	free(text);
}

static void test_console_deep_chain(void **state)
{
	enum { N = 300 };
	struct tw_span *spans = calloc(N, sizeof(*spans));
	const struct tw_span **ptrs = calloc(N, sizeof(*ptrs));
	struct tw_exporter *e;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(spans);
	assert_non_null(ptrs);
	for (size_t i = 0; i < N; i++) {
		spans[i] = root_span();
		memcpy(spans[i].span_id, &i, sizeof(i));
		spans[i].span_id[7] = 1;
		if (i) {
			memcpy(spans[i].parent_span_id, &spans[i - 1].span_id, 8);
		}
		spans[i].start_ns = T0 + i;
		ptrs[i] = &spans[i];
	}
	e = tw_console_exporter_new(f);
	assert_int_equal(e->ops->export_trace(e, ptrs, N), 0);
	e->ops->destroy(e);
	fclose(f);
	assert_int_equal(count_lines(buf), N + 1);
	free(buf);
	free(spans);
	free(ptrs);
}

/* ---- OTLP: Retry-After ---------------------------------------------------- */

/*
 * delay-seconds and HTTP-dates, with the blanks and CRLF libcurl hands over.
 * Values that overflowed before (secs * 1000 in a long, then ms * 10^6 in
 * the wait) saturate at a year, which exceeds any retry budget: the batch
 * is given up instead of being retried at a wrapped-around time.
 */
static void test_retry_after(void **state)
{
	const time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
	const uint64_t max_ms = TW_OTLP_RETRY_AFTER_MAX_S * 1000;
	uint64_t ms;

	(void)state;
	assert_int_equal(tw_otlp_retry_after(" 120\r\n", now, &ms), 0);
	assert_true(ms == 120000);
	assert_int_equal(tw_otlp_retry_after("0", now, &ms), 0);
	assert_true(ms == 0);
	assert_int_equal(tw_otlp_retry_after("\t7 ", now, &ms), 0);
	assert_true(ms == 7000);
	/* overflow: of a long after * 1000, of strtol, of uint64 */
	assert_int_equal(tw_otlp_retry_after("9223372036854775", now, &ms), 0);
	assert_true(ms == max_ms);
	assert_int_equal(tw_otlp_retry_after("9223372036854775807", now, &ms), 0);
	assert_true(ms == max_ms);
	assert_int_equal(tw_otlp_retry_after("99999999999999999999999999999999", now, &ms), 0);
	assert_true(ms == max_ms);
	assert_int_equal(tw_otlp_retry_after("31622400", now, &ms), 0); /* the bound itself */
	assert_true(ms == max_ms);
	/* HTTP-dates: future, past, far future */
	assert_int_equal(tw_otlp_retry_after(" Tue, 14 Nov 2023 22:15:20 GMT\r\n", now, &ms), 0);
	assert_true(ms == 120000);
	assert_int_equal(tw_otlp_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now, &ms), 0);
	assert_true(ms == 0);
	assert_int_equal(tw_otlp_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now, &ms), 0);
	assert_true(ms == max_ms);
	/* neither form */
	ms = 42;
	assert_int_equal(tw_otlp_retry_after("", now, &ms), -EINVAL);
	assert_int_equal(tw_otlp_retry_after(" \r\n", now, &ms), -EINVAL);
	assert_int_equal(tw_otlp_retry_after("-5", now, &ms), -EINVAL);
	assert_int_equal(tw_otlp_retry_after("+5", now, &ms), -EINVAL);
	assert_int_equal(tw_otlp_retry_after("5 seconds", now, &ms), -EINVAL);
	assert_int_equal(tw_otlp_retry_after("soon", now, &ms), -EINVAL);
	assert_true(ms == 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_span_name),
		cmocka_unit_test(test_endpoint_addr_str),
		cmocka_unit_test(test_span_copy),
		cmocka_unit_test(test_host_split),
		cmocka_unit_test(test_span_is_root),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_json_escape_cut),
		cmocka_unit_test(test_json_writer),
		cmocka_unit_test(test_json_writer_overflow),
		cmocka_unit_test(test_json_escape_matches_python),
		cmocka_unit_test(test_jsonl_lines_raw),
		cmocka_unit_test(test_jsonl_fields),
		cmocka_unit_test(test_jsonl_url_full_default_port),
		cmocka_unit_test(test_attrs_never_fill_up),
		cmocka_unit_test(test_jsonl_max_size_span_fits),
		cmocka_unit_test(test_jsonl_big_trace_whole_lines),
		cmocka_unit_test(test_jsonl_open_errors),
		cmocka_unit_test(test_jsonl_truncates_existing_file),
		cmocka_unit_test(test_console_tree),
		cmocka_unit_test(test_console_siblings_in_start_order),
		cmocka_unit_test(test_console_parent_cycle),
		cmocka_unit_test(test_console_self_parent_and_zero_duration),
		cmocka_unit_test(test_console_deep_chain),
		cmocka_unit_test(test_retry_after),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
