/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Does a buffer start like an HTTP/1.x message? Used only to decide whether
 * an untracked socket carries HTTP; exact parsing happens in user space.
 */
#ifndef TW_BPF_HTTP_H
#define TW_BPF_HTTP_H

#include "compat.h"

#define TW_HTTP_PEEK 8

enum tw_http_start {
	TW_HTTP_NONE = 0,
	TW_HTTP_REQUEST,
	TW_HTTP_RESPONSE,
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
 */
static __always_inline bool tw_http_request_prefix(const __u8 *data, __u32 n)
{
	static const char methods[][TW_HTTP_PEEK] = { "GET ", "HEAD ", "POST ", "PUT ",
						      "PATCH ", "DELETE ", "OPTIONS",
						      "CONNECT", "TRACE " };
	char peek[TW_HTTP_PEEK];

	if (n == 0 || n >= TW_HTTP_PEEK)
		return false;
	__builtin_memcpy(peek, data, TW_HTTP_PEEK);
	for (int m = 0; m < (int)(sizeof(methods) / sizeof(methods[0])); m++) {
		bool ok = true;

		for (int i = 0; i < TW_HTTP_PEEK - 1; i++)
			if ((__u32)i < n && peek[i] != methods[m][i])
				ok = false;
		if (ok)
			return true;
	}
	return false;
}

#endif
