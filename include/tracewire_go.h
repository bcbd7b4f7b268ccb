/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the Go probes (bpf/goprobes.bpf.c) and their user-side half
 * (injector/goprobes.c) agree on: the attach cookie that carries a binary's
 * field offsets, and the counters. docs/go.md describes the probes.
 */
#ifndef TRACEWIRE_GO_H
#define TRACEWIRE_GO_H

#ifdef __bpf__
/* vmlinux.h already provides __u8 .. __u64 */
#else
#include <linux/types.h>
#endif

/*
 * Attach cookie (bpf_get_attach_cookie), per probe: the offsets the probes
 * read in the probed binary, so that one program serves every Go version,
 * and where the probe sits.
 *   bits  0-11  runtime.g.goid
 *   bits 12-23  runtime.g.parentGoid; 0: unknown (Go < 1.21, or not in
 *               DWARF nor table): the parent is taken at newproc1's call
 *   bit  24     the probe is on the stack check's jbe: the pass that jumps
 *               to morestack (CF or ZF set) is not the call, skip it
 *   bit  25     ... on a jb instead (CF)
 * From a ServeHTTP's *response to its socket's fd (byte offsets; 0xff in
 * the first: unknown, the probe then trusts its thread's context):
 *   bits 32-39  net/http.response.conn (*conn)
 *   bits 40-47  net/http.conn.rwc + 8 (the net.Conn's data word: *TCPConn)
 *   bits 48-55  net.TCPConn.conn + net.conn.fd (*netFD)
 *   bits 56-63  net.netFD.pfd + internal/poll.FD.Sysfd (int)
 */
#define TW_GO_COOKIE(goid, parent) ((__u64)(goid) | (__u64)(parent) << 12)
#define TW_GO_COOKIE_AT_JBE (1ULL << 24)
#define TW_GO_COOKIE_AT_JB (1ULL << 25)
#define TW_GO_COOKIE_SOCK(resp_conn, conn_rwc, tcp_fd, netfd_sysfd)                    \
	((__u64)(resp_conn) << 32 | (__u64)(conn_rwc) << 40 | (__u64)(tcp_fd) << 48 | \
	 (__u64)(netfd_sysfd) << 56)
#define TW_GO_COOKIE_GOID(c) ((__u32)((c) & 0xfff))
#define TW_GO_COOKIE_PARENT(c) ((__u32)(((c) >> 12) & 0xfff))
#define TW_GO_COOKIE_RESP_CONN(c) ((__u32)(((c) >> 32) & 0xff))
#define TW_GO_COOKIE_CONN_RWC(c) ((__u32)(((c) >> 40) & 0xff))
#define TW_GO_COOKIE_TCP_FD(c) ((__u32)(((c) >> 48) & 0xff))
#define TW_GO_COOKIE_NETFD_SYSFD(c) ((__u32)(((c) >> 56) & 0xff))
#define TW_GO_COOKIE_NO_SOCK 0xff
/*
 * The crypto/tls probes (Go HTTPS plaintext) need no goid: they key a read
 * by its goroutine's g address. Their cookie: the jump bits above, bit 26
 * (TW_GO_COOKIE_TLS_WRITE), and from
 * the *tls.Conn to its socket's fd (byte offsets):
 *   bits  0-7   crypto/tls.Conn.conn + 8 (the net.Conn's data word: *TCPConn)
 *   bits  8-15  net.TCPConn.conn + net.conn.fd (*netFD)
 *   bits 16-23  net.netFD.pfd + internal/poll.FD.Sysfd (int)
 *   bits 32-39  net.netFD.family (int: AF_INET or AF_INET6 for a TCP socket)
 *   bits 40-47  net.netFD.sotype (int: SOCK_STREAM)
 * family and sotype tell a *netFD from whatever else a net.Conn may hold (a
 * wrapper): its fd is only trusted then.
 */
#define TW_GO_COOKIE_TLS(conn, tcp_fd, sysfd, family, sotype)                                \
	((__u64)(conn) | (__u64)(tcp_fd) << 8 | (__u64)(sysfd) << 16 | (__u64)(family) << 32 | \
	 (__u64)(sotype) << 40)
/* bit 26: the site is (*tls.Conn).Write's entry (else a RET of Read) */
#define TW_GO_COOKIE_TLS_WRITE (1ULL << 26)
#define TW_GO_TLS_CONN(c) ((__u32)((c) & 0xff))
#define TW_GO_TLS_TCP_FD(c) ((__u32)(((c) >> 8) & 0xff))
#define TW_GO_TLS_SYSFD(c) ((__u32)(((c) >> 16) & 0xff))
#define TW_GO_TLS_FAMILY(c) ((__u32)(((c) >> 32) & 0xff))
#define TW_GO_TLS_SOTYPE(c) ((__u32)(((c) >> 40) & 0xff))
/*
 * grpc-go (docs/go.md "gRPC"). (*http2Server).operateHeaders, the server's
 * reader goroutine with a new stream's decoded header fields:
 *   bits  0-11  runtime.g.goid (as above); bits 24-25 the jump bits
 *   bits 12-19  http2.MetaHeadersFrame.HeadersFrame (a pointer)
 *   bits 32-39  http2.HeadersFrame.FrameHeader + FrameHeader.StreamID
 *   bits 40-47  http2.MetaHeadersFrame.Fields ([]hpack.HeaderField)
 *   bits 48-55  transport.http2Server.conn + 8 (the net.Conn's data word)
 *   bits 56-63  net.TCPConn.conn + net.conn.fd (*netFD)
 * The fd's offset in the netFD (net.netFD.pfd + poll.FD.Sysfd) goes in
 * bits 20-23 as (offset / 8) (16 in every Go version seen), net.netFD.family
 * in bits 26-31 as (offset / 8); netFD.sotype must follow it (the plan
 * checks): the fd is believed only for a TCP netFD, as for crypto/tls.
 */
#define TW_GO_COOKIE_GRPC_SRV(meta_hf, sid, fields, conn, tcp_fd, sysfd8, family8)          \
	((__u64)(meta_hf) << 12 | (__u64)(sysfd8) << 20 | (__u64)(family8) << 26 |          \
	 (__u64)(sid) << 32 | (__u64)(fields) << 40 | (__u64)(conn) << 48 |                   \
	 (__u64)(tcp_fd) << 56)
#define TW_GO_GS_FAMILY(c) ((__u32)(((c) >> 26) & 0x3f) * 8)
#define TW_GO_GS_META_HF(c) ((__u32)(((c) >> 12) & 0xff))
#define TW_GO_GS_SYSFD(c) ((__u32)(((c) >> 20) & 0xf) * 8)
#define TW_GO_GS_SID(c) ((__u32)(((c) >> 32) & 0xff))
#define TW_GO_GS_FIELDS(c) ((__u32)(((c) >> 40) & 0xff))
#define TW_GO_GS_CONN(c) ((__u32)(((c) >> 48) & 0xff))
#define TW_GO_GS_TCP_FD(c) ((__u32)(((c) >> 56) & 0xff))
/*
 * (*controlBuffer).executeAndPut(f, it cbItem), on the goroutine that opens
 * a client stream (it: the *headerFrame):
 *   bits  0-11  goid; bits 24-25 the jump bits
 *   bits 12-19  transport.headerFrame.initStream (set on client streams only)
 *   bits 32-63  the address of the (*headerFrame, cbItem) itab: other items
 *               are not looked at (0: unknown, every item's data word is)
 */
#define TW_GO_COOKIE_GRPC_PUT(init_stream, itab) \
	((__u64)(init_stream) << 12 | (__u64)(itab) << 32)
#define TW_GO_GP_INIT(c) ((__u32)(((c) >> 12) & 0xff))
#define TW_GO_GP_ITAB(c) ((c) >> 32)
/*
 * (*loopyWriter).headerHandler(h *headerFrame), the connection's writer
 * goroutine, with the stream id assigned:
 *   bits  0-7   transport.headerFrame.streamID
 *   bits  8-15  transport.loopyWriter.framer (*framer)
 *   bits 16-23  transport.framer.writer (*bufWriter)
 *   bits 24-25  the jump bits
 *   bits 32-39  transport.bufWriter.conn + 8 (the net.Conn's data word)
 *   bits 40-47  net.TCPConn.conn + net.conn.fd (*netFD)
 *   bits 48-55  net.netFD.pfd + poll.FD.Sysfd
 *   bits 56-61  net.netFD.family / 8 (sotype after it)
 */
#define TW_GO_COOKIE_GRPC_LOOPY(sid, framer, writer, conn, tcp_fd, sysfd, family8)          \
	((__u64)(sid) | (__u64)(framer) << 8 | (__u64)(writer) << 16 | (__u64)(conn) << 32 | \
	 (__u64)(tcp_fd) << 40 | (__u64)(sysfd) << 48 | (__u64)(family8) << 56)
#define TW_GO_GL_FAMILY(c) ((__u32)(((c) >> 56) & 0x3f) * 8)
#define TW_GO_GL_SID(c) ((__u32)((c) & 0xff))
#define TW_GO_GL_FRAMER(c) ((__u32)(((c) >> 8) & 0xff))
#define TW_GO_GL_WRITER(c) ((__u32)(((c) >> 16) & 0xff))
#define TW_GO_GL_CONN(c) ((__u32)(((c) >> 32) & 0xff))
#define TW_GO_GL_TCP_FD(c) ((__u32)(((c) >> 40) & 0xff))
#define TW_GO_GL_SYSFD(c) ((__u32)(((c) >> 48) & 0xff))
/* largest offsets the cookie holds */
#define TW_GO_MAX_G_OFF 0xfff
#define TW_GO_MAX_OFF 0xfe

/* Indexes of the per-CPU counters (map "go_counters"). */
enum tw_go_counter {
	TW_GC_SERVE = 0,       /* ServeHTTP entered with the SERVER span's ids on its thread */
	TW_GC_SERVE_NO_CTX,    /* ServeHTTP without them: the kernel did not decide them */
	TW_GC_SPAWN_INHERIT,   /* goroutines created by one that serves a request */
	TW_GC_CLIENT,          /* client requests (persistConn.roundTrip) with a goroutine's ids */
	TW_GC_CLIENT_NO_CTX,   /* client requests whose goroutine serves none: roots */
	TW_GC_WRITE,           /* requests' first writes with ids: the thread's context set */
	TW_GC_WRITE_NO_CTX,    /* writes without: the thread's context cleared */
	TW_GC_READ_FAULT,      /* a read of Go memory failed */
	TW_GC_HEAD_MOVED,      /* SERVER span ids moved from a reading thread to its socket
				* at the read(2)'s exit */
	TW_GC_HEAD_MOVED_LATE, /* ... only at connReader.Read's RET */
	TW_GC_SERVE_NO_SOCK,   /* ServeHTTP whose socket was not found (not a *TCPConn) */
	TW_GC_MORESTACK,       /* probe passes skipped: the stack check jumped to morestack */
	TW_GC_TLS_READ,        /* crypto/tls (*Conn).Read calls that returned plaintext: recorded */
	TW_GC_TLS_WRITE,       /* crypto/tls (*Conn).Write calls: recorded */
	TW_GC_TLS_NO_SOCK,     /* crypto/tls calls whose TCP socket was not found from the
				* *tls.Conn (not a *net.TCPConn underneath): not recorded */
	TW_GC_GRPC_SERVER,     /* grpc-go server streams: SERVER span ids chosen at operateHeaders */
	TW_GC_GRPC_SERVER_TP,  /* ... of which with a valid traceparent field */
	TW_GC_GRPC_NO_SOCK,    /* grpc-go probes whose socket was not found (not a *TCPConn) */
	TW_GC_GRPC_CLIENT,     /* grpc-go client streams queued by a goroutine with a context */
	TW_GC_GRPC_STREAM,     /* ... given their (socket, stream id) by the writer goroutine */
	TW_GC_MAX,
};

#endif
