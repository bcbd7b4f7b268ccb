/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Records the kernel side (bpf/capture.bpf.c) sends to user space through the
 * ring buffer. Both sides include this file; the static asserts make a layout
 * drift a build error on either side rather than garbage at run time.
 *
 * Only fixed-width types, explicit padding, no pointers.
 */
#ifndef TRACEWIRE_EVENT_H
#define TRACEWIRE_EVENT_H

#ifdef __bpf__
/* vmlinux.h already provides __u8 .. __u64 */
#else
#include <linux/types.h>
#endif

/* Bytes of payload copied per syscall. A power of two: the BPF side masks
 * offsets with TW_CAPTURE_MAX - 1 to keep the verifier's bounds simple. */
#define TW_CAPTURE_MAX 512
/* iovecs walked per readv/writev/recvmsg/sendmsg before giving up on capture
 * (the byte count stays exact; only the captured prefix gets shorter). */
#define TW_IOV_MAX 8
#define TW_COMM_LEN 16

enum tw_event_type {
	TW_EV_DATA = 1,  /* bytes read from or written to a tracked socket */
	TW_EV_CLOSE = 2, /* tracked socket closed (close(2) or TCP_CLOSE) */
	TW_EV_CTX = 3,   /* sk_msg wrote trace context into a client request:
			  * hdr.len is the request's stream offset, hdr.ctx the ids */
};

enum tw_direction {
	TW_DIR_INGRESS = 1, /* read/recv*: bytes the process received */
	TW_DIR_EGRESS = 2,  /* write/send*: bytes the process sent */
};

/* How the socket came to be; decides SERVER vs CLIENT spans. */
enum tw_role {
	TW_ROLE_UNKNOWN = 0,
	TW_ROLE_SERVER = 1, /* accept()ed, or first HTTP bytes were a request read */
	TW_ROLE_CLIENT = 2, /* connect()ed, or first HTTP bytes were a request written */
};

/*
 * Where the kernel is in one direction of an HTTP/2 connection's frames
 * (bpf/lib/h2capture.h), kept across calls so that DATA payloads need not
 * be copied: a frame header split over calls waits in fh. All zero: not
 * known (each call's start is looked at for a frame header again).
 */
struct tw_h2_frames {
	__u32 left;     /* payload bytes of the current frame still to come */
	__u8 fh[8];     /* the part of a frame header read so far */
	__u8 state;     /* TW_H2FR_* */
	__u8 fh_n;      /* bytes in fh (9: in a payload) */
	__u8 preface;   /* connection preface bytes still to come */
	__u8 pad;
};

#define TW_H2FR_SYNCED 0x1 /* left, fh and preface are right */
#define TW_H2FR_ELIDE 0x2  /* the current payload is not copied (DATA, unknown types) */
#define TW_H2FR_LEAD 0x4   /* ... but for its first byte (a padded DATA frame's pad length) */

/* Per-socket state in the kernel's "conns" map (key: struct sock address). */
enum tw_conn_http {
	TW_CONN_UNDECIDED = 0, /* no HTTP seen yet: bytes are peeked at, not sent */
	TW_CONN_HTTP = 1,      /* every read/write is sent to user space */
	TW_CONN_OPAQUE = 2,    /* left HTTP (101, CONNECT tunnel), set by user space:
				* nothing more is sent until the socket closes */
};

struct tw_conn_state {
	__u8 http;       /* enum tw_conn_http */
	__u8 role;       /* enum tw_role */
	__u8 in_request; /* server socket: a request was read, its response not yet written */
	__u8 sent_known; /* tracked since connect()/accept(): `sent` counts from byte 0 */
	__u8 tls;        /* an OpenSSL connection: records come from the SSL_* uprobes
			  * (plaintext), the syscalls' ciphertext is ignored, and
			  * `sent` counts plaintext bytes */
	__u8 prop;       /* client socket in propagation's sockhash (set by sock_ops) */
	__u8 h2;         /* began with the HTTP/2 preface: each call's bytes go in
			  * several records (bpf/lib/h2capture.h) */
	__u8 pad;
	__u64 sent;      /* bytes the application has sent on the socket */
	struct tw_h2_frames h2f[2]; /* HTTP/2: [0] bytes read, [1] bytes written */
};

/* Which syscall produced a data event (for debugging and counters). */
enum tw_syscall {
	TW_SC_READ = 1,
	TW_SC_READV,
	TW_SC_RECVFROM,
	TW_SC_RECVMSG,
	TW_SC_WRITE,
	TW_SC_WRITEV,
	TW_SC_SENDTO,
	TW_SC_SENDMSG,
	TW_SC_SENDFILE,
	TW_SC_CLOSE,
	TW_SC_TCP_STATE,
	TW_SC_SSL_READ,  /* plaintext from SSL_read / SSL_read_ex (uprobes) */
	TW_SC_SSL_WRITE, /* plaintext to SSL_write / SSL_write_ex (uprobes) */
};

struct tw_tuple {
	__u8 local_addr[16]; /* IPv4 in the first 4 bytes */
	__u8 peer_addr[16];
	__u16 local_port; /* host byte order */
	__u16 peer_port;  /* host byte order */
	__u8 family;      /* AF_INET (2) or AF_INET6 (10) */
	__u8 pad[3];
};

/*
 * Trace ids the kernel chose (DESIGN decision 1: ids are chosen where the
 * bytes are written). Which record carries which:
 *   TW_CTX_SERVER   ingress DATA record whose bytes begin a server request:
 *                   span_id is that SERVER span's id, parent_span_id the
 *                   caller's (from a valid traceparent) or zero.
 *   TW_CTX_THREAD   egress DATA record on a client socket: the server request
 *                   the writing thread is handling (trace_id, span_id = the
 *                   SERVER span, the parent of client requests in the record).
 *   TW_CTX_INJECTED TW_EV_CTX record: the ids sk_msg put on the wire for the
 *                   client request starting at stream offset hdr.len (bytes
 *                   the application wrote, injected bytes not counted).
 *   TW_CTX_INJECTED_H2  the same for the HTTP/2 stream whose id is hdr.len
 *                   (its first HEADERS frame carried them).
 *   TW_CTX_SERVER_H2  TW_EV_CTX record (ingress, role server): the ids the Go
 *                   probes chose for the SERVER span of the HTTP/2 stream
 *                   whose id is hdr.len (grpc-go's operateHeaders; its
 *                   handler's client streams are children of that span).
 */
enum tw_ctx_kind {
	TW_CTX_NONE = 0,
	TW_CTX_SERVER = 1,
	TW_CTX_THREAD = 2,
	TW_CTX_INJECTED = 3,
	TW_CTX_INJECTED_H2 = 4,
	TW_CTX_SERVER_H2 = 5,
};

/* How a span's parent was found: the tracewire.parent.source attribute. */
enum tw_parent_source {
	TW_PSRC_NONE = 0,        /* "none": root of a new trace */
	TW_PSRC_HEADER = 1,      /* "header": the server request's valid traceparent */
	TW_PSRC_THREAD = 2,      /* "thread": the server request the sending thread handles */
	TW_PSRC_FORWARDED = 3,   /* "forwarded_header": a proxy forwarded the traceparent it
				  * received; its parent-id was rewritten to this span */
	TW_PSRC_APPLICATION = 4, /* "application_header": the application sent its own
				  * traceparent; kept as it was, this span is its child */
	TW_PSRC_CONNECT = 5,     /* "connect": the first request on a connection, parented
				  * by the server request its thread handled at connect()
				  * (exact for event loops that connect per request) */
	TW_PSRC_TCP_OPTION = 6,  /* "tcp_option": the request's first segment carried a TCP
				  * option from a trusted peer (docs/wire-format.md) */
	TW_PSRC_IP_OPTION = 7,   /* "ip_option": its first packet carried the IPv4 option */
	TW_PSRC_GOROUTINE = 8,   /* "goroutine": the server request the Go goroutine that made
				  * the request (or an ancestor) serves (Go probes, docs/go.md) */
	TW_PSRC_REQUEST_LINE = 9, /* "request_line": the one server request in flight in the
				   * process with the same method and target (a proxy
				   * forwarding it; bpf/lib/reqline.h) */
	TW_PSRC_MAX,
};

/* W3C trace-flags bits */
#define TW_FLAG_SAMPLED 0x01
#define TW_FLAG_RANDOM 0x02

struct tw_trace_ctx {
	__u8 trace_id[16];
	__u8 span_id[8];
	__u8 parent_span_id[8];
	__u8 kind;   /* enum tw_ctx_kind; TW_CTX_NONE: the rest is meaningless */
	__u8 flags;  /* W3C trace-flags */
	__u8 source; /* enum tw_parent_source */
	__u8 pad[5];
};

struct tw_event_hdr {
	__u64 ts_ns;   /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 sock_id; /* kernel address of struct sock: unique while the socket lives */
	__u64 len;     /* bytes the syscall moved (may exceed cap) */
	__u32 pid;     /* tgid */
	__u32 tid;
	__u32 cap;     /* bytes of payload that follow this header */
	__u8 type;     /* enum tw_event_type */
	__u8 dir;      /* enum tw_direction */
	__u8 role;     /* enum tw_role */
	__u8 syscall;  /* enum tw_syscall */
	struct tw_tuple tuple;
	char comm[TW_COMM_LEN];
	struct tw_trace_ctx ctx;
	/* TW_HDR_STREAM_OFF: egress DATA records: bytes the application sent on
	 * the socket before this call, the offset TW_EV_CTX records count in */
	__u64 stream_off;
	__u32 hdr_flags; /* TW_HDR_* */
	__u32 pad2;
};

#define TW_HDR_STREAM_OFF 0x1
/* DATA records of a socket the kernel knows as HTTP/2 (tw_conn_state.h2):
 * user space that lost the connection's state (evicted) frames it again */
#define TW_HDR_H2 0x2
/* HTTP/2 records of a direction whose frames the kernel follows
 * (tw_h2_frames): the payloads of DATA frames (but a padded one's first
 * byte) and of frame types RFC 9113 does not define are left out of the
 * captured bytes, which are the rest, in order; len counts them all. Captured
 * bytes that run out before len is reached (a call with more header bytes
 * than its records hold) were not copied. */
#define TW_HDR_H2_FRAMED 0x4
/* ... and the record's first byte begins a frame header */
#define TW_HDR_H2_AT_FRAME 0x8

struct tw_event {
	struct tw_event_hdr hdr;
	__u8 data[TW_CAPTURE_MAX];
};

/* Indexes of the per-CPU counters array (map "counters"). */
enum tw_counter {
	TW_CNT_EVENTS = 0,   /* events submitted */
	TW_CNT_RB_FULL,      /* events lost: ring buffer full */
	TW_CNT_CONN_FULL,    /* sockets not tracked: connection map full */
	TW_CNT_READ_FAULT,   /* payload copy from user memory failed */
	TW_CNT_NOT_HTTP,     /* data on untracked sockets that did not start like HTTP/1.x */
	TW_CNT_SERVER_CONTINUED, /* server requests continuing a valid incoming traceparent */
	TW_CNT_SERVER_INVALID,   /* server requests whose traceparent was invalid: new trace */
	TW_CNT_TLS_RECORDS,      /* records of TLS plaintext (SSL_read/SSL_write uprobes) */
	TW_CNT_TLS_CTX,          /* TLS client requests whose ids went to wire_out (TCP/IP option) */
	TW_CNT_TLS_NO_SOCK,      /* SSL reads/writes whose TCP socket stayed unknown: not captured */
	TW_CNT_TRACESTATE_INVALID, /* incoming tracestate dropped: not W3C-valid (or split over reads) */
	TW_CNT_H2_UNSYNCED,      /* HTTP/2 directions whose frames the kernel lost (a bad frame
				  * header, a call with too many frames or iovecs, a copy fault) */
	TW_CNT_H2_CUT,           /* HTTP/2 calls with more header bytes than their records hold */
	TW_CNT_MAX,
};

/* Indexes of the propagation counters (map "prop_counters", per CPU). */
enum tw_prop_counter {
	TW_PC_INJECTED = 0,       /* traceparent inserted after the request line */
	TW_PC_REWRITTEN,          /* forwarded traceparent: parent-id rewritten in place */
	TW_PC_KEPT_EXISTING,      /* the application's own traceparent kept as it was */
	TW_PC_SKIP_SPLIT_HEAD,    /* head not complete in one send: passed without header */
	TW_PC_SKIP_HEAD_TOO_LONG, /* head longer than the scan window: passed without header */
	TW_PC_SKIP_NOT_HTTP,      /* bytes that are no HTTP/1.x request: socket passed for good */
	TW_PC_SKIP_UNFRAMED,      /* framing lost or doubtful: socket passed for good */
	TW_PC_FAIL_OPEN,          /* a helper or map failed: passed unmodified */
	TW_PC_SOCKS_ADDED,        /* client sockets added to the sockhash */
	TW_PC_SOCKS_OUT_OF_SCOPE, /* selected client sockets to destinations outside the scope */
	TW_PC_SOCKHASH_FULL,      /* client sockets not added: sockhash full */
	TW_PC_CTX_LOST,           /* TW_EV_CTX record lost: ring buffer full */
	TW_PC_SHORT_WRITES,       /* sends the kernel cut short inside a body: framing rewound */
	TW_PC_UNSEEN_SENDS,       /* body bytes the kernel sent without running sk_msg: counted */
	TW_PC_TCPOPT_WRITTEN,     /* TCP option written on a request's first segment */
	TW_PC_TCPOPT_NO_ROOM,     /* no option room on that segment (SACK blocks): skipped */
	TW_PC_TCPOPT_READ,        /* TCP option read from a trusted peer */
	TW_PC_IPOPT_WRITTEN,      /* IPv4 option inserted on a request's first packet */
	TW_PC_IPOPT_NO_ROOM,      /* no room for it (MTU, header full, not linear): skipped */
	TW_PC_IPOPT_READ,         /* IPv4 option read from a trusted peer (and stripped) */
	TW_PC_IPOPT_STRIPPED,     /* IPv4 option stripped without being used (untrusted
				   * peer, or leaving the node out of scope) */
	TW_PC_OPT_UNTRUSTED,      /* TCP or IPv4 option from a peer outside --trust-from: ignored */
	/* connections passed for good because their bytes are no HTTP/1.x
	 * request, by reason (enum tw_gate_reject); their sum is SKIP_NOT_HTTP */
	TW_PC_SKIP_NH_TLS,
	TW_PC_SKIP_NH_H2C,
	TW_PC_SKIP_NH_METHOD,
	TW_PC_SKIP_NH_TARGET,
	TW_PC_SKIP_NH_VERSION,
	TW_PC_SKIP_NH_LINE_END,
	TW_PC_SKIP_NH_HEADER,
	TW_PC_SKIP_TUNNEL,        /* after an Upgrade or CONNECT request: a tunnel, passed unless it begins with the HTTP/2 preface */
	TW_PC_TS_INVALID,         /* = TW_CNT_TRACESTATE_INVALID, shown with these (user space copies it) */
	TW_PC_IPOPT_RETRANSMIT,   /* a request's first packet sent again: no option the second time */
	TW_PC_SOCKS_ADOPTED,      /* client sockets open before start put in the sockhash (adopt.bpf.c) */
	TW_PC_SKIP_RESYNC,        /* sends on an adopted socket passed while no request head began one */
	/* HTTP/2 (bpf/lib/h2inject.h): a stream's first HEADERS frame given a
	 * traceparent, or why not; connections passed for good, by reason */
	TW_PC_H2_CONNS,           /* client connections framed from the preface (first bytes, or a tunnel's) */
	TW_PC_H2_INJECTED,        /* traceparent field added to a stream's first HEADERS frame */
	TW_PC_H2_KEPT_EXISTING,   /* the connection carries the application's own traceparent */
	TW_PC_H2_SKIP_NO_ACK,     /* stream opened before the client acknowledged the server's SETTINGS */
	TW_PC_H2_SKIP_FRAME_SIZE, /* the field would take the frame past 16384 bytes */
	TW_PC_H2_SKIP_SPLIT_FRAME, /* the frame header went out in an earlier send */
	TW_PC_H2_OPAQUE_SPLIT_BLOCK, /* a header block not whole in one send */
	TW_PC_H2_OPAQUE_LONG_BLOCK, /* a header block longer than the scan buffer */
	TW_PC_H2_OPAQUE_CONTINUATION, /* a header block continued in CONTINUATION frames */
	TW_PC_H2_OPAQUE_BAD,      /* a frame or HPACK field that breaks RFC 9113/7541 */
	TW_PC_H2_OPAQUE_LOST,     /* framing lost (sends the kernel cut or skipped, too many frames) */
	TW_PC_H2_OFF,             /* HTTP/2 connections passed untouched: its program is not loaded */
	TW_PC_SKIP_SNDBUF,        /* requests or streams without a header: the send buffer could
				   * not take their whole send (bpf/lib/h1inject.h tw_msg_fits) */
	TW_PC_MAX,
};

/* Why the HTTP/1.x request gate (bpf/lib/h1scan.h) refused a head. */
enum tw_gate_reject {
	TW_REJ_NONE = 0,
	TW_REJ_TLS,      /* a TLS record (0x16 first) */
	TW_REJ_H2C,      /* the HTTP/2 connection preface "PRI * HTTP/2.0" */
	TW_REJ_METHOD,   /* no RFC 9110 token followed by one SP */
	TW_REJ_TARGET,   /* a CTL, SP or non-ASCII byte, or a form the method does not take */
	TW_REJ_VERSION,  /* not exactly HTTP/1.1 or HTTP/1.0 (RTSP, SIP, HTTP/2.0, 3.0, http/1.1) */
	TW_REJ_LINE_END, /* a line not ended by CRLF (bare LF, bare CR) */
	TW_REJ_HEADER,   /* a field line that is not token ":" value (obs-fold, CTL in a value) */
	TW_REJ_MAX,
};

/* Key of the "prop_scope" LPM trie: IPv6, IPv4 as ::ffff:a.b.c.d (prefix + 96). */
struct tw_scope_key {
	__u32 prefixlen;
	__u8 addr[16];
};

_Static_assert(sizeof(struct tw_tuple) == 40, "tw_tuple layout");
_Static_assert(sizeof(struct tw_h2_frames) == 16, "tw_h2_frames layout");
_Static_assert(sizeof(struct tw_conn_state) == 48, "tw_conn_state layout");
_Static_assert(sizeof(struct tw_trace_ctx) == 40, "tw_trace_ctx layout");
_Static_assert(sizeof(struct tw_event_hdr) == 152, "tw_event_hdr layout");
_Static_assert(sizeof(struct tw_scope_key) == 20, "tw_scope_key layout");
_Static_assert(sizeof(struct tw_event) == 152 + TW_CAPTURE_MAX, "tw_event layout");
_Static_assert((TW_CAPTURE_MAX & (TW_CAPTURE_MAX - 1)) == 0, "capture size is a power of two");

#endif
