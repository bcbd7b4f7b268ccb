// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for the OTLP encoding (correlator/export/otlp_pb.c,
 * otlp_batch.c, span.c) and the JSON lines exporter (export_jsonl.c,
 * json.c), fed spans whose every string and number comes from the input:
 * what captured bytes and other processes' /proc entries can put into a
 * span, its process (executable, command line) and the node's resource
 * attributes.
 *
 * The encoded batch must be a well-formed ExportTraceServiceRequest: a
 * strict walker below knows the schema (field numbers and wire types of
 * every message tracewire writes), insists on minimal varints, lengths
 * inside their message, ids of their exact size and nothing left over, and
 * requires every `string` field to be valid UTF-8 (collectors refuse the
 * whole request otherwise). It must hold every span once, gzip must inflate
 * back to it, and the JSON lines must be valid UTF-8 without raw control
 * bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zlib.h>

#include "export_otlp.h"
#include "exporter.h"
#include "otlp_batch.h"
#include "otlp_pb.h"
#include "span.h"

#include "fuzz_check.h"

#define MAX_SPANS 8

/* ---- input reader ------------------------------------------------------- */

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

static uint64_t uN(struct in *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)u8(in) << (8 * i);
	return v;
}

static void bytes(struct in *in, void *out, size_t n)
{
	size_t k = n < in->n ? n : in->n;

	memcpy(out, in->p, k);
	memset((uint8_t *)out + k, 0, n - k);
	in->p += k;
	in->n -= k;
}

/* A string field of size bytes: a length byte, then that many bytes. With
 * terminate, it always ends in a NUL; else it may fill the field (span
 * fields are not always terminated: readers use strnlen). */
static void str(struct in *in, char *out, size_t size, bool terminate)
{
	size_t len = u8(in);

	if (len == 255)
		len = u8(in) * 4u; /* long ones too, up to 1020 */
	if (len > size - (terminate ? 1 : 0))
		len = size - (terminate ? 1 : 0);
	memset(out, 0, size);
	bytes(in, out, len);
}

/* ---- strict protobuf walker ------------------------------------------------ */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

enum kind { K_REQ, K_RS, K_RES, K_SS, K_SCOPE, K_SPAN, K_KV, K_ANY, K_STATUS, K_STRING, K_BYTES };

struct field {
	enum kind in;
	uint32_t num;
	unsigned wt;
	enum kind sub; /* WT_LEN: what the bytes are */
	size_t exact;  /* K_BYTES: required length */
	bool repeated;
};

static const struct field schema[] = {
	{ K_REQ, 1, WT_LEN, K_RS, 0, true },        /* resource_spans */
	{ K_RS, 1, WT_LEN, K_RES, 0, false },       /* resource */
	{ K_RS, 2, WT_LEN, K_SS, 0, true },         /* scope_spans */
	{ K_RES, 1, WT_LEN, K_KV, 0, true },        /* attributes */
	{ K_SS, 1, WT_LEN, K_SCOPE, 0, false },     /* scope */
	{ K_SS, 2, WT_LEN, K_SPAN, 0, true },       /* spans */
	{ K_SCOPE, 1, WT_LEN, K_STRING, 0, false }, /* name */
	{ K_SCOPE, 2, WT_LEN, K_STRING, 0, false }, /* version */
	{ K_SPAN, 1, WT_LEN, K_BYTES, 16, false },  /* trace_id */
	{ K_SPAN, 2, WT_LEN, K_BYTES, 8, false },   /* span_id */
	{ K_SPAN, 4, WT_LEN, K_BYTES, 8, false },   /* parent_span_id */
	{ K_SPAN, 5, WT_LEN, K_STRING, 0, false },  /* name */
	{ K_SPAN, 6, WT_VARINT, 0, 0, false },      /* kind */
	{ K_SPAN, 7, WT_I64, 0, 0, false },         /* start_time_unix_nano */
	{ K_SPAN, 8, WT_I64, 0, 0, false },         /* end_time_unix_nano */
	{ K_SPAN, 9, WT_LEN, K_KV, 0, true },       /* attributes */
	{ K_SPAN, 15, WT_LEN, K_STATUS, 0, false }, /* status */
	{ K_SPAN, 16, WT_I32, 0, 0, false },        /* flags */
	{ K_KV, 1, WT_LEN, K_STRING, 0, false },    /* key */
	{ K_KV, 2, WT_LEN, K_ANY, 0, false },       /* value */
	{ K_ANY, 1, WT_LEN, K_STRING, 0, false },   /* string_value */
	{ K_ANY, 3, WT_VARINT, 0, 0, false },       /* int_value */
	{ K_STATUS, 2, WT_LEN, K_STRING, 0, false },/* message */
	{ K_STATUS, 3, WT_VARINT, 0, 0, false },    /* code */
};

struct walk {
	size_t spans;
	uint8_t trace_ids[4 * MAX_SPANS][16];
	uint8_t span_ids[4 * MAX_SPANS][8];
	const uint8_t *last_id; /* the trace id of the span being walked */
};

static uint64_t varint(const uint8_t **p, const uint8_t *end)
{
	uint64_t v = 0;

	for (unsigned shift = 0;; shift += 7) {
		uint8_t c;

		CHECK(*p < end);
		CHECK(shift < 64);
		c = *(*p)++;
		CHECK(shift < 63 || c <= 1); /* no bits beyond 64 */
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			CHECK(shift == 0 || c != 0); /* minimal */
			return v;
		}
	}
}

static bool utf8_ok(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t k;

		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			k = 1;
			cp = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			k = 2;
			cp = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			k = 3;
			cp = p[i] & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

static void walk_msg(struct walk *w, enum kind k, const uint8_t *p, const uint8_t *end)
{
	uint32_t last = 0, count[17] = { 0 };
	unsigned oneof = 0;

	if (k == K_SPAN) {
		CHECK(w->spans < 4 * MAX_SPANS);
		w->spans++;
	}
	while (p < end) {
		uint64_t key = varint(&p, end), len;
		uint32_t num = (uint32_t)(key >> 3);
		unsigned wt = key & 7;
		const struct field *f = NULL;

		for (size_t i = 0; i < sizeof(schema) / sizeof(schema[0]); i++)
			if (schema[i].in == k && schema[i].num == num)
				f = &schema[i];
		if (!f) {
			fprintf(stderr, "message kind %d: unknown field %u\n", k, num);
			abort();
		}
		CHECK(f->wt == wt);
		CHECK(num >= last); /* in field-number order */
		last = num;
		CHECK(f->repeated || count[num]++ == 0);
		if (k == K_ANY)
			CHECK(oneof++ == 0);
		switch (wt) {
		case WT_VARINT:
			varint(&p, end);
			break;
		case WT_I64:
			CHECK(end - p >= 8);
			p += 8;
			break;
		case WT_I32:
			CHECK(end - p >= 4);
			p += 4;
			break;
		case WT_LEN:
			len = varint(&p, end);
			CHECK(len <= (uint64_t)(end - p));
			if (f->sub == K_STRING) {
				if (!utf8_ok(p, len)) {
					fprintf(stderr, "field %u of message kind %d: not UTF-8: '%.*s'\n",
						num, k, (int)len, (const char *)p);
					abort();
				}
			} else if (f->sub == K_BYTES) {
				CHECK(len == f->exact);
				if (num == 1)
					memcpy(w->trace_ids[w->spans - 1], p, 16);
				else if (num == 2)
					memcpy(w->span_ids[w->spans - 1], p, 8);
			} else {
				walk_msg(w, f->sub, p, p + len);
			}
			p += len;
			break;
		}
	}
	CHECK(p == end);
	if (k == K_KV)
		CHECK(count[2] == 1); /* a value, always */
	if (k == K_ANY)
		CHECK(oneof == 1);
	if (k == K_SPAN)
		CHECK(count[1] == 1 && count[2] == 1);
}

/* ---- spans from the input --------------------------------------------------- */

static void endpoint(struct in *in, struct tw_endpoint *ep)
{
	uint8_t fam = u8(in);

	bytes(in, ep->addr, sizeof(ep->addr));
	ep->port = (uint16_t)uN(in, 2);
	ep->family = fam % 3 == 0 ? AF_INET : fam % 3 == 1 ? AF_INET6 : fam;
}

static void span_from(struct in *in, struct tw_otlp_item *it)
{
	struct tw_span *s = &it->span;
	uint8_t flags;

	memset(it, 0, sizeof(*it));
	bytes(in, s->trace_id, 16);
	bytes(in, s->span_id, 8);
	flags = u8(in);
	if (flags & 1)
		bytes(in, s->parent_span_id, 8);
	s->trace_flags = u8(in);
	s->kind = u8(in) % 4;
	s->status = flags & 2 ? TW_STATUS_ERROR : TW_STATUS_UNSET;
	s->start_ns = flags & 4 ? uN(in, 8) : uN(in, 2);
	s->end_ns = s->start_ns + uN(in, 4);
	s->pid = (uint32_t)uN(in, 4);
	s->tid = (uint32_t)uN(in, 4);
	str(in, s->service, sizeof(s->service), true);
	str(in, s->method, sizeof(s->method), false);
	str(in, s->path, sizeof(s->path), false);
	str(in, s->query, sizeof(s->query), false);
	str(in, s->host, sizeof(s->host), false);
	str(in, s->error_type, sizeof(s->error_type), false);
	s->status_code = (int)(int16_t)uN(in, 2);
	s->http_minor = u8(in);
	s->request_body_bytes = flags & 8 ? uN(in, 8) : 0;
	s->response_body_bytes = flags & 16 ? uN(in, 8) : 0;
	endpoint(in, &s->local);
	endpoint(in, &s->peer);
	s->parent_source = tw_parent_source_str(u8(in));
	it->proc_start = uN(in, 8);
	str(in, it->exe, sizeof(it->exe), true);
	str(in, it->cmdline, sizeof(it->cmdline), true);
}

static struct tw_otlp_cfg cfg;
static struct tw_otlp_batch batch;
static int jsonl_fd = -1;
static char jsonl_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	jsonl_fd = memfd_create("fuzz-jsonl", MFD_CLOEXEC);
	CHECK(jsonl_fd >= 0);
	snprintf(jsonl_path, sizeof(jsonl_path), "/proc/self/fd/%d", jsonl_fd);
	return 0;
}

static void check_gzip(const struct tw_buf *body, const struct tw_buf *gz)
{
	uLongf out_len = body->len;
	uint8_t *out = malloc(body->len + 1);
	z_stream z = { 0 };

	CHECK(out);
	CHECK(inflateInit2(&z, 15 + 16) == Z_OK);
	z.next_in = gz->data;
	z.avail_in = (uInt)gz->len;
	z.next_out = out;
	z.avail_out = (uInt)body->len + 1;
	CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
	out_len = z.total_out;
	inflateEnd(&z);
	CHECK(out_len == body->len && !memcmp(out, body->data, body->len));
	free(out);
}

static void check_jsonl(const struct tw_span *const *spans, size_t n)
{
	struct tw_exporter *x = tw_jsonl_exporter_new(jsonl_path);
	size_t lines = 0;
	off_t len;
	uint8_t *buf;

	CHECK(x);
	(void)tw_exporters_export(x, spans, n);
	(void)tw_exporters_flush(x);
	x->ops->destroy(x);
	len = lseek(jsonl_fd, 0, SEEK_END);
	CHECK(len >= 0);
	buf = malloc((size_t)len + 1);
	CHECK(buf);
	CHECK(pread(jsonl_fd, buf, (size_t)len, 0) == len);
	CHECK(utf8_ok(buf, (size_t)len));
	for (off_t i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			CHECK(i > 0 && buf[i - 1] == '}');
			lines++;
		} else {
			CHECK(buf[i] >= 0x20 && buf[i] != 0x7f); /* escaped */
		}
	}
	CHECK(len == 0 || buf[len - 1] == '\n');
	CHECK(lines <= n);
	free(buf);
	CHECK(ftruncate(jsonl_fd, 0) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	const struct tw_span *spans[MAX_SPANS];
	struct walk w;
	size_t n;
	uint8_t flags;

	if (size < 2)
		return 0;
	/* the node's settings */
	tw_otlp_cfg_defaults(&cfg);
	flags = u8(&in);
	n = 1 + flags % MAX_SPANS;
	cfg.command_line = flags & 0x80;
	str(&in, cfg.host_name, sizeof(cfg.host_name), true);
	cfg.n_resource = u8(&in) % 4;
	for (size_t i = 0; i < cfg.n_resource; i++) {
		str(&in, cfg.resource[i].key, sizeof(cfg.resource[i].key), true);
		str(&in, cfg.resource[i].value, sizeof(cfg.resource[i].value), true);
	}
	CHECK(tw_otlp_batch_init(&batch, &cfg, n) == 0);
	for (size_t i = 0; i < n; i++) {
		span_from(&in, &batch.items[i]);
		/* spans of one process share its resource: group some */
		if (i && (flags & 0x40) && batch.items[i].span.pid % 2)
			batch.items[i].span.pid = batch.items[i - 1].span.pid;
		spans[i] = &batch.items[i].span;
	}
	CHECK(tw_otlp_batch_encode(&batch, n) == 0);
	CHECK(batch.ngroups >= 1 && batch.ngroups <= n);

	memset(&w, 0, sizeof(w));
	walk_msg(&w, K_REQ, batch.body.data, batch.body.data + batch.body.len);
	CHECK(w.spans == n);
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t j = 0; j < w.spans && !found; j++)
			found = !memcmp(w.trace_ids[j], spans[i]->trace_id, 16) &&
				!memcmp(w.span_ids[j], spans[i]->span_id, 8);
		CHECK(found);
	}
	CHECK(tw_otlp_batch_gzip(&batch) == 0);
	check_gzip(&batch.body, &batch.gz);
	check_jsonl(spans, n);
	tw_otlp_batch_free(&batch);
	return 0;
}
