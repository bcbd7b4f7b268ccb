/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * grpc-go's part of the Go probes (goprobes.bpf.c, docs/go.md "gRPC"): the
 * map from a queued client stream to the request it was opened for, and the
 * reads behind operateHeaders (a netFD's socket, a decoded header block's
 * one traceparent).
 */
#ifndef TW_BPF_GOGRPC_H
#define TW_BPF_GOGRPC_H

#include "goprobe.h"
#include "hpack_names.h"
#include "sock.h"
#include "tw_tracecontext.h"

/* A client stream's *headerFrame queued by a goroutine that serves a
 * request (executeAndPut) -> that request, until the connection's writer
 * goroutine gives the stream its id (headerHandler), microseconds later.
 * Key: the headerFrame's address. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct tw_go_key);
	__type(value, struct tw_thread_ctx);
} go_grpc_hf SEC(".maps");

/* operateHeaders' work: off the stack (the event header is 160 bytes). */
struct tw_go_grpc_scratch {
	__u64 field[5];    /* hpack.HeaderField: Name (ptr, len), Value (ptr, len), Sensitive */
	__u64 vptr, vlen;  /* the traceparent field's value (kept here, not in registers:
			    * the verifier then sees one state per field, not one per path) */
	__u32 found;
	__u8 name[16];
	__u8 value[TW_TRACEPARENT_LEN + 1];
	struct tw_traceparent tp;
	struct tw_thread_ctx tc;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_go_grpc_scratch);
} go_grpc_scratch SEC(".maps");

/* Header fields looked at per stream: gRPC requests carry about ten. */
#define TW_GO_GRPC_MAX_FIELDS 24

/* The struct sock of a *netFD p, believed only when the netFD says TCP
 * (a net.Conn holding a wrapper, *tls.Conn, would name another fd). */
static __always_inline __u64 tw_go_netfd_sock(__u64 p, __u32 sysfd_off, __u32 family_off)
{
	__u64 family = 0, sotype = 0, fd = 0;

	if (!p || !family_off || !tw_go_read(&family, p + family_off) ||
	    !tw_go_read(&sotype, p + family_off + 8))
		return 0;
	if ((family != AF_INET && family != AF_INET6) || sotype != SOCK_STREAM)
		return 0;
	if (!tw_go_read(&fd, p + sysfd_off) || fd > 0x7fffffff)
		return 0;
	return (__u64)tw_fd_to_tcp_sock((__u32)fd);
}

/* Whether the header fields at fields (n of them) hold exactly one
 * traceparent, valid: then in s->tp. The loop only compares names (the
 * value is parsed once, after it: verified once, not per field). */
static __always_inline bool tw_go_grpc_traceparent(struct tw_go_grpc_scratch *s, __u64 fields,
						   __u64 n)
{
	__u64 vlen;

	s->found = 0;
	s->vptr = 0;
	s->vlen = 0;
	for (__u32 i = 0; i < TW_GO_GRPC_MAX_FIELDS; i++) {
		if (i >= n)
			break;
		if (bpf_probe_read_user(s->field, sizeof(s->field), (void *)(fields + i * 40)))
			return false;
		if (s->field[1] != 11 ||
		    bpf_probe_read_user(s->name, 11, (void *)s->field[0]) ||
		    !tw_hp_is_traceparent(s->name))
			continue;
		s->found++;
		s->vptr = s->field[2];
		s->vlen = s->field[3];
	}
	vlen = s->vlen;
	if (s->found != 1 || vlen < TW_TRACEPARENT_LEN || vlen > 512)
		return false;
	__builtin_memset(s->value, 0, sizeof(s->value));
	if (bpf_probe_read_user(s->value, vlen > TW_TRACEPARENT_LEN ? TW_TRACEPARENT_LEN + 1 :
								  TW_TRACEPARENT_LEN,
				(void *)s->vptr))
		return false;
	return tw_traceparent_parse(s->value, (__u32)vlen, &s->tp);
}

#endif
