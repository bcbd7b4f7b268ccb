// SPDX-License-Identifier: BSD-2-Clause
/*
 * HTTP/1.x heads, line by line: prefixes of the start line and of each header
 * line are kept (bounded), parsed when their LF arrives; only the fields that
 * decide framing (Content-Length, Transfer-Encoding), Host and traceparent
 * (the correlator's fallback when the kernel supplied no context) are read.
 */
#include <string.h>
#include <strings.h>

#include "http1_int.h"

static void tail_append(struct tw_h1 *f, const uint8_t *p, size_t n)
{
	if (n >= H1_TAIL_LEN) {
		memcpy(f->b->tail, p + n - H1_TAIL_LEN, H1_TAIL_LEN);
		return;
	}
	memmove(f->b->tail, f->b->tail + n, H1_TAIL_LEN - n);
	memcpy(f->b->tail + H1_TAIL_LEN - n, p, n);
}

/* Byte i of the start line, which must be kept or within the tail. */
static char start_at(const struct tw_h1 *f, size_t i)
{
	if (i < f->line_kept)
		return f->b->start[i];
	return f->b->tail[H1_TAIL_LEN - (f->line_len - i)];
}

void h1_line_append(struct tw_h1 *f, const uint8_t *p, size_t n)
{
	bool start = f->state == ST_START;
	char *buf = start ? f->b->start : f->b->line;
	size_t keep = start ? TW_H1_START_KEEP : TW_H1_LINE_KEEP;

	if (f->line_kept < keep) {
		size_t take = min_size(n, keep - f->line_kept);

		memcpy(buf + f->line_kept, p, take);
		f->line_kept += take;
	}
	f->line_len += n;
	if (start)
		tail_append(f, p, n);
}

/* Reject garbage early instead of buffering up to the head bound. */
bool h1_start_prefix_ok(const struct tw_h1 *f)
{
	size_t n = f->line_kept;

	if (f->kind == TW_H1_RESPONSE)
		return memcmp(f->b->start, "HTTP/1.", min_size(n, 7)) == 0;
	for (size_t i = 0; i < n && i < TW_H1_METHOD_MAX; i++) {
		if (f->b->start[i] == ' ')
			return i > 0;
		if (!is_tchar(f->b->start[i]))
			return false;
	}
	return n < TW_H1_METHOD_MAX;
}

/* Length of the current line without its CR, if it ends with one. */
static size_t start_line_len(const struct tw_h1 *f)
{
	size_t len = f->line_len;

	if (len && f->b->tail[H1_TAIL_LEN - 1] == '\r')
		len--;
	return len;
}

/* METHOD SP request-target SP HTTP/1.d */
static int parse_request_line(struct tw_h1 *f)
{
	size_t len = start_line_len(f);
	size_t m = 0, target_end, kept_end;

	if (len < 12 || start_at(f, len - 9) != ' ')
		return -1;
	for (size_t i = 0; i < 7; i++)
		if (start_at(f, len - 8 + i) != "HTTP/1."[i])
			return -1;
	if (!tw_is_digit(start_at(f, len - 1)))
		return -1;
	while (m < f->line_kept && m < TW_H1_METHOD_MAX && f->b->start[m] != ' ')
		m++;
	if (m == 0 || m >= f->line_kept || m >= TW_H1_METHOD_MAX || f->b->start[m] != ' ')
		return -1;
	target_end = len - 9;
	if (target_end <= m + 1)
		return -1;
	kept_end = min_size(target_end, TW_H1_START_KEEP);
	for (size_t i = m + 1; i < kept_end; i++) {
		uint8_t c = f->b->start[i];

		if (c <= ' ' || c == 0x7f)
			return -1;
	}
	if (target_end > kept_end)
		f->flags |= H1F_TRUNCATED;
	f->minor = start_at(f, len - 1) - '0';
	f->b->start[m] = '\0';
	f->b->start[kept_end] = '\0';
	return 0;
}

/* HTTP/1.d SP 3DIGIT [SP reason-phrase] */
static int parse_status_line(struct tw_h1 *f)
{
	size_t len = start_line_len(f);
	const char *s = f->b->start;

	if (len < 12 || memcmp(s, "HTTP/1.", 7) || !tw_is_digit(s[7]) || s[8] != ' ')
		return -1;
	if (s[9] < '1' || s[9] > '9' || !tw_is_digit(s[10]) || !tw_is_digit(s[11]))
		return -1;
	if (len > 12 && s[12] != ' ')
		return -1;
	f->minor = s[7] - '0';
	f->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	f->b->start[0] = '\0'; /* no method, no target */
	return 0;
}

int h1_parse_start_line(struct tw_h1 *f)
{
	return f->kind == TW_H1_REQUEST ? parse_request_line(f) : parse_status_line(f);
}

static bool name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

static void trim_ows(const char **v, const char **end)
{
	while (*v < *end && is_ows(**v))
		(*v)++;
	while (*end > *v && is_ows((*end)[-1]))
		(*end)--;
}

static int parse_length(const char *v, const char *end, uint64_t *out)
{
	uint64_t n = 0;

	if (v == end)
		return -1;
	for (; v < end; v++) {
		if (!tw_is_digit(*v))
			return -1;
		uint64_t d = (uint64_t)(*v - '0');

		if (n > (BODY_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

/* A list of identical values ("5, 5") is one length (RFC 9110 8.6);
 * anything else leaves the framing unknown. */
static void set_content_length(struct tw_h1 *f, const char *v, const char *end)
{
	while (v <= end) {
		const char *comma = memchr(v, ',', (size_t)(end - v));
		const char *item_end = comma ? comma : end;
		const char *item = v;
		uint64_t n;

		trim_ows(&item, &item_end);
		if (parse_length(item, item_end, &n) < 0 ||
		    ((f->flags & H1F_HAVE_LENGTH) && n != f->content_length)) {
			f->flags |= H1F_BAD_FRAMING;
			return;
		}
		f->content_length = n;
		f->flags |= H1F_HAVE_LENGTH;
		if (!comma)
			break;
		v = comma + 1;
	}
}

/* Only the final transfer coding decides whether the body is chunked. */
static void set_transfer_encoding(struct tw_h1 *f, const char *v, const char *end)
{
	const char *last = end;

	while (last > v && last[-1] != ',')
		last--;
	trim_ows(&last, &end);
	f->flags |= H1F_HAVE_TE;
	if (name_is(last, (size_t)(end - last), "chunked"))
		f->flags |= H1F_CHUNKED;
	else
		f->flags &= ~H1F_CHUNKED;
}

static void set_host(struct tw_h1 *f, const char *v, const char *end)
{
	size_t n = min_size((size_t)(end - v), sizeof(f->b->host) - 1);

	if (f->flags & H1F_HAVE_HOST)
		return;
	memcpy(f->b->host, v, n);
	f->b->host[n] = '\0';
	f->flags |= H1F_HAVE_HOST;
}

/* Only the first value is kept, but every header is counted: W3C makes a
 * request with more than one traceparent carry no valid context. */
static void set_traceparent(struct tw_h1 *f, const char *v, const char *end, bool truncated)
{
	size_t len = (size_t)(end - v);
	size_t n = min_size(len, TW_H1_TRACEPARENT_KEEP);

	if (f->n_traceparent < UINT8_MAX)
		f->n_traceparent++;
	if (f->n_traceparent > 1)
		return;
	memcpy(f->b->traceparent, v, n);
	f->b->traceparent[n] = '\0';
	/* a cut header line hides where the value really ends */
	if (len > n || truncated)
		f->flags |= H1F_TP_TRUNCATED;
}

void h1_header_field(struct tw_h1 *f, const char *line, size_t len, bool truncated)
{
	const char *colon, *v, *end = line + len;
	size_t name_len;

	/* Every field read below starts with c, t or h: most lines of a head
	 * (User-Agent, Accept, Date, X-...) are passed over without a scan. */
	switch (line[0] | 0x20) {
	case 'c':
	case 'h':
	case 't':
		break;
	default:
		return;
	}
	colon = memchr(line, ':', len);
	if (!colon)
		return; /* not a field; the peer will reject it, not our call */
	name_len = (size_t)(colon - line);
	v = colon + 1;
	if (name_is(line, name_len, "content-length")) {
		trim_ows(&v, &end);
		if (truncated)
			f->flags |= H1F_BAD_FRAMING;
		else
			set_content_length(f, v, end);
	} else if (name_is(line, name_len, "transfer-encoding")) {
		trim_ows(&v, &end);
		if (truncated)
			f->flags |= H1F_BAD_FRAMING;
		else
			set_transfer_encoding(f, v, end);
	} else if (name_is(line, name_len, "host")) {
		trim_ows(&v, &end);
		set_host(f, v, end);
	} else if (name_is(line, name_len, "traceparent")) {
		trim_ows(&v, &end);
		set_traceparent(f, v, end, truncated);
	}
}


static void copy_truncated(char *dst, size_t size, const char *src, size_t n)
{
	if (!size)
		return;
	n = min_size(n, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* scheme "://" at the start of an absolute-form target (RFC 3986 3.1) */
static const char *after_scheme(const char *t)
{
	const char *p = t;

	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return NULL;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || tw_is_digit(*p) ||
	       *p == '+' || *p == '-' || *p == '.')
		p++;
	return strncmp(p, "://", 3) == 0 ? p + 3 : NULL;
}

void tw_h1_split_target(const char *target, char *path, size_t path_size,
			char *query, size_t query_size)
{
	const char *p = target, *authority = after_scheme(target);
	const char *q;
	size_t path_len;

	copy_truncated(path, path_size, "", 0);
	copy_truncated(query, query_size, "", 0);
	if (authority)
		p = authority + strcspn(authority, "/?");
	else if (*p != '/' && *p != '*')
		return; /* authority-form (CONNECT host:port): no path */
	q = strchr(p, '?');
	path_len = q ? (size_t)(q - p) : strlen(p);
	if (authority && path_len == 0)
		copy_truncated(path, path_size, "/", 1);
	else
		copy_truncated(path, path_size, p, path_len);
	if (q)
		copy_truncated(query, query_size, q + 1, strlen(q + 1));
}
