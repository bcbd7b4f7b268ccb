/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Streaming HTTP/1.x message framer: one instance per connection direction.
 *
 * It is fed the captured prefix of each syscall's bytes plus the syscall's
 * full length, and reports message boundaries through a callback:
 *
 *   BEGIN  first byte of a message (the caller stamps the message start);
 *          ev->offset is that byte's stream offset: every byte fed before
 *          it, uncaptured ones included (matched against offsets the kernel
 *          reports for the same stream)
 *   HEAD   start line and headers complete; ev->head describes them
 *   END    message complete by its framing; ev->body_bytes
 *   UNSYNC byte sync lost; the message in progress (if any) is abandoned;
 *          ev->head is set when its start line had been read (headers may
 *          be missing, ev->head->body is meaningless)
 *
 * Memory: only prefixes of the start line and of each header line are kept
 * (struct tw_h1_bufs, about 1.2 KiB), and a head may not exceed
 * TW_H1_HEAD_MAX bytes. That buffer is allocated only while a head (or a
 * trailer section) is being framed and freed after it, so an idle framer
 * or one in a body costs sizeof(struct tw_h1) alone; tw_h1_release() frees
 * it for an owner dropping a framer mid-head. An allocation failure costs
 * byte sync (UNSYNC), never a crash. Work is bounded per byte fed.
 *
 * Uncaptured bytes (len > cap) are skipped exactly while inside a body of
 * known remaining length (Content-Length, current chunk data) or a body that
 * runs until close; anywhere else they cost byte sync. An unsynced framer
 * resyncs only on a later feed whose captured bytes begin with a plausible
 * start line ("METHOD " for requests, "HTTP/1." for responses).
 *
 * Callbacks must not call into the framer that emitted the event.
 */
#ifndef TW_HTTP1_H
#define TW_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_H1_HEAD_MAX (8 * 1024) /* start line + headers; beyond: unsync */
#define TW_H1_METHOD_MAX 16       /* method token up to 15 characters */
#define TW_H1_START_KEEP 768      /* start-line prefix kept (request target) */
#define TW_H1_LINE_KEEP 192       /* header-line prefix kept (name + value) */
#define TW_H1_HOST_MAX 128
/* traceparent value bytes kept: a level-2 value is 55, and any longer one
 * parses as its first 56 bytes do (see struct tw_h1_head) */
#define TW_H1_TRACEPARENT_KEEP 64

enum tw_h1_kind {
	TW_H1_REQUEST = 1,
	TW_H1_RESPONSE = 2,
};

enum tw_h1_event_type {
	TW_H1_EV_BEGIN = 1,
	TW_H1_EV_HEAD,
	TW_H1_EV_END,
	TW_H1_EV_UNSYNC,
};

/* How the message body is delimited, as announced by the head. */
enum tw_h1_body {
	TW_H1_BODY_NONE = 0,
	TW_H1_BODY_LENGTH,  /* Content-Length */
	TW_H1_BODY_CHUNKED,
	TW_H1_BODY_CLOSE,   /* responses only: until end of stream */
};

/* Directives the callback may return for a response HEAD event. */
#define TW_H1_NO_BODY 0x1 /* answer to HEAD: whatever the headers say, no body */
#define TW_H1_TUNNEL 0x2  /* 2xx to CONNECT: bytes after this head are opaque */

struct tw_h1_head {
	const char *method;      /* requests; "" for responses */
	const char *target;      /* requests: request-target prefix; "" for responses */
	const char *host;        /* first Host header value (truncated); "" if none */
	/* first traceparent header value, OWS trimmed, at most
	 * TW_H1_TRACEPARENT_KEEP bytes; "" if none. traceparent_truncated: the
	 * value went on past what is kept (longer, or its header line was),
	 * so only a kept value longer than 55 bytes parses as the whole would */
	const char *traceparent;
	bool traceparent_truncated;
	uint8_t n_traceparent;   /* traceparent headers in the head (saturates at 255) */
	uint16_t status;         /* responses: 100..999; 0 for requests */
	uint8_t minor;           /* HTTP/1.<minor> */
	bool target_truncated;
	enum tw_h1_body body;    /* before any callback directive */
	uint64_t content_length; /* when body == TW_H1_BODY_LENGTH */
};

struct tw_h1_event {
	enum tw_h1_event_type type;
	const struct tw_h1_head *head; /* HEAD, some UNSYNC; valid during the call */
	uint64_t body_bytes;           /* END: body bytes (chunk payload if chunked) */
	bool in_message;               /* UNSYNC: a message was cut short */
	uint64_t offset;               /* BEGIN: stream offset of its first byte */
};

/* Return value: TW_H1_* directives for response HEAD events, else 0. */
typedef int (*tw_h1_cb)(void *ctx, const struct tw_h1_event *ev);

/* Coarse state for the owner's bookkeeping. */
enum tw_h1_phase {
	TW_H1_BETWEEN = 0,  /* at a message boundary */
	TW_H1_IN_MESSAGE,   /* inside a message that framing will end */
	TW_H1_UNTIL_CLOSE,  /* inside a body that only end of stream ends */
	TW_H1_UNSYNCED,
	TW_H1_OPAQUE,       /* protocol switched: bytes are ignored for good */
};

/* Kept bytes of the head being framed (private to http1*.c). */
struct tw_h1_bufs {
	char start[TW_H1_START_KEEP + 1];
	char line[TW_H1_LINE_KEEP];
	char tail[12];          /* last bytes of the start line, for the version */
	char host[TW_H1_HOST_MAX];
	char traceparent[TW_H1_TRACEPARENT_KEEP + 1];
};

/* Everything below is private to http1.c; it is here so owners can embed
 * the framer. */
struct tw_h1 {
	tw_h1_cb cb;
	void *ctx;
	uint8_t kind;
	uint8_t state;
	uint8_t flags;          /* H1F_* in http1.c */
	uint8_t minor;
	uint16_t status;
	uint16_t line_kept;     /* bytes of the current line kept */
	uint32_t line_len;      /* bytes of the current line seen (bounded by head) */
	uint32_t head_len;      /* bytes of the current head (or trailer section) */
	uint64_t remaining;     /* body or chunk bytes left */
	uint64_t body_bytes;
	uint64_t content_length;
	uint64_t fed;           /* stream bytes of every feed so far (len, not cap) */
	uint64_t at;            /* stream offset of the byte being stepped */
	uint8_t n_traceparent;
	/* the head's kept bytes: allocated at a message's (or trailer
	 * section's) first byte, freed once its head is framed, so a framer
	 * between heads or in a body holds no buffer (tw_h1_release) */
	struct tw_h1_bufs *b;
};

void tw_h1_init(struct tw_h1 *f, enum tw_h1_kind kind, tw_h1_cb cb, void *ctx);

/* Frees the head buffer, if any (the framer stays usable). */
void tw_h1_release(struct tw_h1 *f);

/* One syscall: the first cap bytes of its len bytes are in data. */
void tw_h1_feed(struct tw_h1 *f, const uint8_t *data, size_t cap, uint64_t len);

/* End of stream: a body that runs until close ends here (END event). */
void tw_h1_eof(struct tw_h1 *f);

/* Give up the current position (no event: the owner abandons the message
 * in progress itself); resync on a plausible start. */
void tw_h1_unsync(struct tw_h1 *f);

/* Ignore every later byte (the other direction switched protocols). */
void tw_h1_set_opaque(struct tw_h1 *f);

enum tw_h1_phase tw_h1_phase(const struct tw_h1 *f);

/* Stream offset of the next byte to be fed: the total len of every feed so
 * far, whatever the framer made of them (unsynced and opaque included). */
uint64_t tw_h1_stream_offset(const struct tw_h1 *f);

/* Body bytes framed so far in the message in progress (IN_MESSAGE,
 * UNTIL_CLOSE); meaningless between messages. */
uint64_t tw_h1_body_bytes(const struct tw_h1 *f);

/* Whether data (cap bytes) begins like a start line of this kind. */
bool tw_h1_plausible_start(enum tw_h1_kind kind, const uint8_t *data, size_t cap);

/*
 * Split a request-target into url.path and url.query (without '?'), each
 * NUL-terminated and truncated to fit. Absolute-form ("http://host/p?q")
 * yields the path of the URL ("/" when empty); authority-form (CONNECT)
 * yields an empty path.
 */
void tw_h1_split_target(const char *target, char *path, size_t path_size,
			char *query, size_t query_size);

#endif
