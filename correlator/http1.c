// SPDX-License-Identifier: BSD-2-Clause
/*
 * HTTP/1.x framer (see http1.h). A byte-driven state machine: heads are
 * scanned line by line with memchr, bodies are skipped by count, chunk-size
 * lines and trailers byte by byte (they are short and bounded).
 */
#include "http1.h"

#include <stdlib.h>
#include <string.h>

#include "http1_int.h"

static int emit(struct tw_h1 *f, enum tw_h1_event_type type,
		const struct tw_h1_head *head, bool in_message)
{
	struct tw_h1_event ev = {
		.type = type,
		.head = head,
		.body_bytes = f->body_bytes,
		.in_message = in_message,
		.offset = type == TW_H1_EV_BEGIN ? f->at : 0,
	};

	return f->cb ? f->cb(f->ctx, &ev) : 0;
}

static bool synced(const struct tw_h1 *f)
{
	return f->state != ST_UNSYNC && f->state != ST_OPAQUE;
}

static void fill_head(const struct tw_h1 *f, struct tw_h1_head *head)
{
	bool request = f->kind == TW_H1_REQUEST;

	*head = (struct tw_h1_head){
		.method = f->b->start,
		.target = request ? f->b->start + strlen(f->b->start) + 1 : "",
		.host = f->b->host,
		.traceparent = f->b->traceparent,
		.traceparent_truncated = f->flags & H1F_TP_TRUNCATED,
		.n_traceparent = f->n_traceparent,
		.status = f->status,
		.minor = f->minor,
		.target_truncated = f->flags & H1F_TRUNCATED,
		.body = TW_H1_BODY_NONE,
		.content_length = f->content_length,
	};
}

/* A head cut short still names its start line: hand that out, so a large
 * head beyond the capture still yields method, path or status. */
static void lose_sync(struct tw_h1 *f)
{
	bool in_message = f->state != ST_IDLE;
	struct tw_h1_head head;
	bool have_head = f->state == ST_HEADERS;

	if (have_head)
		fill_head(f, &head);
	f->state = ST_UNSYNC;
	emit(f, TW_H1_EV_UNSYNC, have_head ? &head : NULL, in_message);
}

/* Only start line and header lines keep bytes (step_head): the buffer
 * lives while the framer is in one of them. */
static bool in_head(const struct tw_h1 *f)
{
	return f->state == ST_START || f->state == ST_HEADERS;
}

/*
 * Head buffers freed by this thread's framers, for the next head: every
 * message takes one and gives it back, and malloc/free of 1.2 KiB per
 * message cost more than parsing most heads. A few per thread: framers of
 * one thread are fed one at a time, so few heads are open at once.
 */
#define BUFS_SPARE 16
static _Thread_local struct {
	struct tw_h1_bufs *b[BUFS_SPARE];
	unsigned n;
} spare;

static struct tw_h1_bufs *bufs_get(void)
{
	return spare.n ? spare.b[--spare.n] : malloc(sizeof(struct tw_h1_bufs));
}

static void bufs_put(struct tw_h1_bufs *b)
{
	if (b && spare.n < BUFS_SPARE)
		spare.b[spare.n++] = b;
	else
		free(b);
}

static void trim(struct tw_h1 *f)
{
	if (f->b && !in_head(f)) {
		bufs_put(f->b);
		f->b = NULL;
	}
}

static void begin_message(struct tw_h1 *f)
{
	if (!f->b) {
		f->b = bufs_get();
		if (!f->b) {
			lose_sync(f);
			return;
		}
	}
	f->flags = 0;
	f->minor = 0;
	f->status = 0;
	f->line_kept = 0;
	f->line_len = 0;
	f->head_len = 0;
	f->remaining = 0;
	f->body_bytes = 0;
	f->content_length = 0;
	f->b->start[0] = '\0';
	f->b->host[0] = '\0';
	f->b->traceparent[0] = '\0';
	f->n_traceparent = 0;
	f->state = ST_START;
	emit(f, TW_H1_EV_BEGIN, NULL, false);
}

/* The state is set first so the callback sees where the framer is. */
static void end_message(struct tw_h1 *f, bool opaque_after)
{
	f->state = opaque_after ? ST_OPAQUE : ST_IDLE;
	emit(f, TW_H1_EV_END, NULL, false);
}

static void chunk_line_reset(struct tw_h1 *f)
{
	f->remaining = 0;
	f->line_len = 0;
	f->flags &= ~H1F_CHUNK_DIGITS;
	f->state = ST_CHUNK_SIZE;
}

/* ---- head complete: decide the body --------------------------------- */

static int body_framing(const struct tw_h1 *f, enum tw_h1_body *body)
{
	bool bad = f->flags & H1F_BAD_FRAMING;

	if (f->kind == TW_H1_RESPONSE &&
	    (f->status < 200 || f->status == 204 || f->status == 304)) {
		*body = TW_H1_BODY_NONE;
		return 0;
	}
	if (bad)
		return -1;
	if (f->flags & H1F_HAVE_TE) {
		if (f->flags & H1F_CHUNKED)
			*body = TW_H1_BODY_CHUNKED;
		else if (f->kind == TW_H1_RESPONSE)
			*body = TW_H1_BODY_CLOSE;
		else
			return -1; /* RFC 9112 6.3: a server answers 400 */
	} else if (f->flags & H1F_HAVE_LENGTH) {
		*body = TW_H1_BODY_LENGTH;
	} else {
		*body = f->kind == TW_H1_RESPONSE ? TW_H1_BODY_CLOSE : TW_H1_BODY_NONE;
	}
	return 0;
}

static void start_body(struct tw_h1 *f, enum tw_h1_body body, bool opaque_after)
{
	f->body_bytes = 0;
	switch (body) {
	case TW_H1_BODY_LENGTH:
		if (!f->content_length)
			break;
		f->remaining = f->content_length;
		f->state = ST_BODY_LENGTH;
		return;
	case TW_H1_BODY_CHUNKED:
		chunk_line_reset(f);
		return;
	case TW_H1_BODY_CLOSE:
		f->state = ST_BODY_CLOSE;
		return;
	case TW_H1_BODY_NONE:
		break;
	}
	end_message(f, opaque_after);
}

static void head_done(struct tw_h1 *f)
{
	bool request = f->kind == TW_H1_REQUEST;
	struct tw_h1_head head;
	bool opaque_after = !request && f->status == 101;
	int directives;

	fill_head(f, &head);
	if (body_framing(f, &head.body) < 0) {
		lose_sync(f);
		return;
	}
	directives = emit(f, TW_H1_EV_HEAD, &head, false);
	if (!request && (directives & TW_H1_NO_BODY))
		head.body = TW_H1_BODY_NONE;
	if (!request && (directives & TW_H1_TUNNEL)) {
		head.body = TW_H1_BODY_NONE;
		opaque_after = true;
	}
	start_body(f, head.body, opaque_after);
}

/* A header line (without its LF): line_len bytes long, len of them in line
 * (fewer when it was cut at TW_H1_LINE_KEEP). */
static void header_line(struct tw_h1 *f, const char *line, size_t line_len, size_t len)
{
	bool whole = line_len <= TW_H1_LINE_KEEP;

	if (whole && len && line[len - 1] == '\r')
		len--;
	if (whole && len == 0) {
		head_done(f);
		return;
	}
	/* obs-fold continues a field we do not track; framing fields folded
	 * like this get a 400 from any current server */
	if (is_ows(line[0]))
		return;
	h1_header_field(f, line, len, !whole);
}

static void header_line_done(struct tw_h1 *f)
{
	header_line(f, f->b->line, f->line_len,
		    f->line_len <= TW_H1_LINE_KEEP ? f->line_len : f->line_kept);
}

static void line_done(struct tw_h1 *f)
{
	if (f->state == ST_START) {
		int err = h1_parse_start_line(f);

		f->line_kept = 0;
		f->line_len = 0;
		if (err < 0)
			lose_sync(f);
		else
			f->state = ST_HEADERS;
		return;
	}
	header_line_done(f);
	f->line_kept = 0;
	f->line_len = 0;
}

/* ---- per-state steps: each consumes bytes or changes state ---------- */

static size_t step_idle(struct tw_h1 *f, const uint8_t *p)
{
	/* empty lines before a message are tolerated (RFC 9112 2.2) */
	if (p[0] == '\r' || p[0] == '\n')
		return 1;
	if (f->kind == TW_H1_REQUEST ? !is_tchar(p[0]) : p[0] != 'H')
		lose_sync(f);
	else
		begin_message(f);
	return 0;
}

static size_t step_head(struct tw_h1 *f, const uint8_t *p, size_t n)
{
	const uint8_t *lf = memchr(p, '\n', n);
	size_t seg = lf ? (size_t)(lf - p) : n;
	size_t used = lf ? seg + 1 : seg;

	if (used > TW_H1_HEAD_MAX - f->head_len) {
		lose_sync(f);
		return used;
	}
	f->head_len += used;
	/* A header line whole in this feed is read where it is: copying each
	 * line into the framer's buffer first cost more than reading it. */
	if (lf && f->state == ST_HEADERS && f->line_len == 0 && seg <= TW_H1_LINE_KEEP) {
		header_line(f, (const char *)p, seg, seg);
		f->line_kept = 0;
		f->line_len = 0;
		return used;
	}
	h1_line_append(f, p, seg);
	if (f->state == ST_START && !h1_start_prefix_ok(f)) {
		lose_sync(f);
		return used;
	}
	if (lf)
		line_done(f);
	return used;
}

static void chunk_size_done(struct tw_h1 *f)
{
	f->line_len = 0;
	if (f->remaining) {
		f->state = ST_CHUNK_DATA;
		return;
	}
	f->head_len = 0;
	f->state = ST_TRAILERS;
}

static size_t step_chunk_line(struct tw_h1 *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		int d;

		if (++f->line_len > CHUNK_LINE_MAX) {
			lose_sync(f);
			return i + 1;
		}
		if (f->state == ST_CHUNK_EXT) {
			if (c == '\n') {
				chunk_size_done(f);
				return i + 1;
			}
			continue;
		}
		if (f->state == ST_CHUNK_SIZE_LF) {
			if (c == '\n')
				chunk_size_done(f);
			else
				lose_sync(f);
			return i + 1;
		}
		d = tw_hex_digit_value(c);
		if (d >= 0) {
			if (f->remaining > (BODY_MAX >> 4)) {
				lose_sync(f);
				return i + 1;
			}
			f->remaining = (f->remaining << 4) | (uint64_t)d;
			f->flags |= H1F_CHUNK_DIGITS;
			continue;
		}
		if (!(f->flags & H1F_CHUNK_DIGITS)) {
			lose_sync(f);
			return i + 1;
		}
		if (c == ';' || is_ows(c)) {
			f->state = ST_CHUNK_EXT;
		} else if (c == '\r') {
			f->state = ST_CHUNK_SIZE_LF;
		} else if (c == '\n') {
			chunk_size_done(f);
			return i + 1;
		} else {
			lose_sync(f);
			return i + 1;
		}
	}
	return n;
}

static size_t step_trailers(struct tw_h1 *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (++f->head_len > TW_H1_HEAD_MAX) {
			lose_sync(f);
			return i + 1;
		}
		if (p[i] == '\n') {
			if (f->line_len == 0) {
				end_message(f, false);
				return i + 1;
			}
			f->line_len = 0;
		} else if (p[i] != '\r') {
			f->line_len++;
		}
	}
	return n;
}

static size_t step_counted(struct tw_h1 *f, size_t n)
{
	size_t take = (uint64_t)n < f->remaining ? n : (size_t)f->remaining;

	f->remaining -= take;
	f->body_bytes += take;
	if (f->remaining)
		return take;
	if (f->state == ST_BODY_LENGTH)
		end_message(f, false);
	else
		f->state = ST_CHUNK_DATA_CR;
	return take;
}

static size_t step_chunk_crlf(struct tw_h1 *f, uint8_t c)
{
	if (c == '\r' && f->state == ST_CHUNK_DATA_CR)
		f->state = ST_CHUNK_DATA_LF;
	else if (c == '\n')
		chunk_line_reset(f);
	else
		lose_sync(f);
	return 1;
}

static size_t step(struct tw_h1 *f, const uint8_t *p, size_t n)
{
	switch (f->state) {
	case ST_IDLE:
		return step_idle(f, p);
	case ST_START:
	case ST_HEADERS:
		return step_head(f, p, n);
	case ST_BODY_LENGTH:
	case ST_CHUNK_DATA:
		return step_counted(f, n);
	case ST_CHUNK_SIZE:
	case ST_CHUNK_EXT:
	case ST_CHUNK_SIZE_LF:
		return step_chunk_line(f, p, n);
	case ST_CHUNK_DATA_CR:
	case ST_CHUNK_DATA_LF:
		return step_chunk_crlf(f, p[0]);
	case ST_TRAILERS:
		return step_trailers(f, p, n);
	case ST_BODY_CLOSE:
		f->body_bytes += n;
		return n;
	default:
		return n;
	}
}

/* Bytes the kernel did not copy: only a counted body can absorb them. */
static void skip_uncaptured(struct tw_h1 *f, uint64_t skip)
{
	switch (f->state) {
	case ST_BODY_CLOSE:
		f->body_bytes += skip;
		return;
	case ST_BODY_LENGTH:
		if (skip < f->remaining) {
			f->remaining -= skip;
			f->body_bytes += skip;
			return;
		}
		f->body_bytes += f->remaining;
		skip -= f->remaining;
		f->remaining = 0;
		end_message(f, false);
		if (skip)
			lose_sync(f); /* the next message starts where we cannot see */
		return;
	case ST_CHUNK_DATA:
		if (skip > f->remaining) {
			lose_sync(f); /* the next chunk-size line is not visible */
			return;
		}
		f->remaining -= skip;
		f->body_bytes += skip;
		if (!f->remaining)
			f->state = ST_CHUNK_DATA_CR;
		return;
	case ST_UNSYNC:
	case ST_OPAQUE:
		return;
	default:
		lose_sync(f);
	}
}

/* ---- public --------------------------------------------------------- */

void tw_h1_init(struct tw_h1 *f, enum tw_h1_kind kind, tw_h1_cb cb, void *ctx)
{
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->cb = cb;
	f->ctx = ctx;
	f->state = ST_IDLE;
}

void tw_h1_feed(struct tw_h1 *f, const uint8_t *data, size_t cap, uint64_t len)
{
	uint64_t base = f->fed;
	size_t off = 0;

	if (len < cap)
		len = cap;
	/* counted before any early return: offsets must stay those of the
	 * stream even across bytes the framer ignores */
	f->fed += len;
	if (f->state == ST_OPAQUE)
		return;
	if (f->state == ST_UNSYNC) {
		if (!tw_h1_plausible_start(f->kind, data, cap))
			return;
		f->state = ST_IDLE;
	}
	while (off < cap && synced(f)) {
		f->at = base + off;
		off += step(f, data + off, cap - off);
	}
	if (len > cap && synced(f))
		skip_uncaptured(f, len - cap);
	trim(f);
}

void tw_h1_eof(struct tw_h1 *f)
{
	if (f->state == ST_BODY_CLOSE)
		end_message(f, false);
	trim(f);
}

void tw_h1_unsync(struct tw_h1 *f)
{
	if (f->state != ST_OPAQUE)
		f->state = ST_UNSYNC;
	trim(f);
}

void tw_h1_set_opaque(struct tw_h1 *f)
{
	f->state = ST_OPAQUE;
	trim(f);
}

void tw_h1_release(struct tw_h1 *f)
{
	bufs_put(f->b);
	f->b = NULL;
}

enum tw_h1_phase tw_h1_phase(const struct tw_h1 *f)
{
	switch (f->state) {
	case ST_IDLE:
		return TW_H1_BETWEEN;
	case ST_BODY_CLOSE:
		return TW_H1_UNTIL_CLOSE;
	case ST_UNSYNC:
		return TW_H1_UNSYNCED;
	case ST_OPAQUE:
		return TW_H1_OPAQUE;
	default:
		return TW_H1_IN_MESSAGE;
	}
}

uint64_t tw_h1_stream_offset(const struct tw_h1 *f)
{
	return f->fed;
}

uint64_t tw_h1_body_bytes(const struct tw_h1 *f)
{
	return f->body_bytes;
}

/* Stricter than what a synced framer accepts: we are guessing that a
 * syscall boundary is a message boundary, so ask for a familiar shape. */
bool tw_h1_plausible_start(enum tw_h1_kind kind, const uint8_t *data, size_t cap)
{
	if (kind == TW_H1_RESPONSE)
		return cap >= 7 && memcmp(data, "HTTP/1.", 7) == 0;
	for (size_t i = 0; i < cap && i < TW_H1_METHOD_MAX; i++) {
		uint8_t c = data[i];

		if (c == ' ')
			return i > 0;
		if (!((c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
			return false;
	}
	return false;
}
