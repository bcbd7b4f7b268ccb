/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Does a buffer start like an HTTP/1.x message (or the HTTP/2 connection
 * preface)? Used only to decide whether an untracked socket carries HTTP;
 * exact parsing happens in user space.
 */
#ifndef TW_BPF_HTTP_H
#define TW_BPF_HTTP_H

#include "compat.h"

#define TW_HTTP_PEEK 8

enum tw_http_start {
	TW_HTTP_NONE = 0,
	TW_HTTP_REQUEST,
	TW_HTTP_RESPONSE,
	TW_HTTP_H2,      /* the HTTP/2 connection preface: a request stream */
};

static __always_inline bool tw_prefix(const char *b, const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (b[i] != p[i])
			return false;
	return true;
}

/* b holds TW_HTTP_PEEK bytes (zero padded when the message is shorter). */
static __always_inline enum tw_http_start tw_http_classify(const char *b)
{
	if (tw_prefix(b, "HTTP/1.", 7))
		return TW_HTTP_RESPONSE;
	switch (b[0]) {
	case 'G': return tw_prefix(b, "GET ", 4) ? TW_HTTP_REQUEST : TW_HTTP_NONE;
	case 'H': return tw_prefix(b, "HEAD ", 5) ? TW_HTTP_REQUEST : TW_HTTP_NONE;
	case 'P':
		if (tw_prefix(b, "POST ", 5) || tw_prefix(b, "PUT ", 4) || tw_prefix(b, "PATCH ", 6))
			return TW_HTTP_REQUEST;
		/* the HTTP/2 preface ("PRI * HTTP/2.0...", h2c with prior
		 * knowledge or h2 over TLS): user space frames the connection
		 * (correlator/http2.c) */
		if (tw_prefix(b, "PRI * HT", 8))
			return TW_HTTP_H2;
		return TW_HTTP_NONE;
	case 'D': return tw_prefix(b, "DELETE ", 7) ? TW_HTTP_REQUEST : TW_HTTP_NONE;
	case 'O': return tw_prefix(b, "OPTIONS ", 8) ? TW_HTTP_REQUEST : TW_HTTP_NONE;
	case 'C': return tw_prefix(b, "CONNECT ", 8) ? TW_HTTP_REQUEST : TW_HTTP_NONE;
	case 'T': return tw_prefix(b, "TRACE ", 6) ? TW_HTTP_REQUEST : TW_HTTP_NONE;
	}
	return TW_HTTP_NONE;
}

/*
 * n bytes (0 < n < TW_HTTP_PEEK) that may be the start of a request line,
 * cut short: a method's first n bytes. Go's HTTP server reads one byte
 * ahead on an idle keep-alive connection (conn.backgroundRead); when the
 * next request arrives before it gives up, that read returns the request's
 * first byte alone and the next read the rest of the head.
 *
 * Compared as little-endian words under a mask of n bytes: no loops, which
 * 6.1's verifier refused here ("back-edge from insn" in the nested form).
 */
/* the methods' first seven bytes as little-endian words */
#define TW_W_GET 0x20544547ULL          /* "GET " */
#define TW_W_HEAD 0x2044414548ULL       /* "HEAD " */
#define TW_W_POST 0x2054534f50ULL       /* "POST " */
#define TW_W_PUT 0x20545550ULL          /* "PUT " */
#define TW_W_PATCH 0x204843544150ULL    /* "PATCH " */
#define TW_W_DELETE 0x204554454c4544ULL /* "DELETE " */
#ifndef TW_W_OPTIONS /* h1scan.h has these two too */
#define TW_W_OPTIONS 0x00534e4f4954504fULL /* "OPTIONS" */
#define TW_W_CONNECT 0x005443454e4e4f43ULL /* "CONNECT" */
#endif
#define TW_W_TRACE 0x204543415254ULL    /* "TRACE " */

static __always_inline bool tw_http_request_prefix(const __u8 *data, __u32 n)
{
	__u64 w = 0, mask;

	if (n == 0 || n >= TW_HTTP_PEEK)
		return false;
	__builtin_memcpy(&w, data, TW_HTTP_PEEK);
	mask = (1ULL << (8 * n)) - 1;
	w &= mask;
	return w == (TW_W_GET & mask) || w == (TW_W_HEAD & mask) || w == (TW_W_POST & mask) ||
	       w == (TW_W_PUT & mask) || w == (TW_W_PATCH & mask) || w == (TW_W_DELETE & mask) ||
	       w == (TW_W_OPTIONS & mask) || w == (TW_W_CONNECT & mask) || w == (TW_W_TRACE & mask);
}

#endif
