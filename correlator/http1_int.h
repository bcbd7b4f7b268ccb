/* SPDX-License-Identifier: BSD-2-Clause */
/* Internals shared by http1.c (state machine) and http1_head.c (head lines). */
#ifndef TW_HTTP1_INT_H
#define TW_HTTP1_INT_H

#include <string.h>

#include "ascii.h"
#include "http1.h"

enum h1_state {
	ST_IDLE = 0,      /* between messages */
	ST_START,         /* start line */
	ST_HEADERS,       /* header lines */
	ST_BODY_LENGTH,   /* Content-Length body, f->remaining left */
	ST_CHUNK_SIZE,    /* hex digits of a chunk-size line */
	ST_CHUNK_EXT,     /* chunk extensions, up to LF */
	ST_CHUNK_SIZE_LF, /* CR seen after the size, LF must follow */
	ST_CHUNK_DATA,    /* chunk payload, f->remaining left */
	ST_CHUNK_DATA_CR, /* CRLF after chunk payload */
	ST_CHUNK_DATA_LF,
	ST_TRAILERS,      /* trailer section after the last chunk */
	ST_BODY_CLOSE,    /* response body delimited by end of stream */
	ST_UNSYNC,
	ST_OPAQUE,
};

#define H1F_HAVE_LENGTH 0x01
#define H1F_HAVE_TE 0x02
#define H1F_CHUNKED 0x04      /* last transfer coding is chunked */
#define H1F_BAD_FRAMING 0x08  /* a framing header we cannot trust */
#define H1F_HAVE_HOST 0x10
#define H1F_CHUNK_DIGITS 0x20 /* the chunk-size line has a digit */
#define H1F_TRUNCATED 0x40    /* request target longer than kept */
#define H1F_TP_TRUNCATED 0x80 /* first traceparent value longer than kept */

/* Beyond this a length is not a length: leaves room for sums. */
#define BODY_MAX (UINT64_C(1) << 62)
/* A chunk-size line with extensions; real ones are a few bytes. */
#define CHUNK_LINE_MAX 1024
#define H1_TAIL_LEN (sizeof(((struct tw_h1_bufs *)0)->tail))

static inline size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* RFC 9110 tchar */
static inline bool is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

static inline bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* http1_head.c */
void h1_line_append(struct tw_h1 *f, const uint8_t *p, size_t n);
bool h1_start_prefix_ok(const struct tw_h1 *f);
int h1_parse_start_line(struct tw_h1 *f);
void h1_header_field(struct tw_h1 *f, const char *line, size_t len, bool truncated);

#endif
