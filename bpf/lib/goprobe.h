/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Go probes' state and helpers (goprobes.bpf.c, docs/go.md): the maps
 * that follow a request from the goroutine that serves it to the thread that
 * writes its client request, the goroutine id from r14, reads of user
 * memory that count their faults, and the stack-check pass filter.
 */
#ifndef TW_BPF_GOPROBE_H
#define TW_BPF_GOPROBE_H

#include "compat.h"
#include "maps.h"
#include "tracewire_go.h"

/* arch/x86/include/uapi/asm/processor-flags.h (macros are not in BTF) */
#ifndef X86_EFLAGS_CF
#define X86_EFLAGS_CF 0x0001
#define X86_EFLAGS_ZF 0x0040
#endif

/* A goroutine (id) or a Go object (address) of one process. */
struct tw_go_key {
	__u32 tgid;
	__u32 pad;
	__u64 id;
};

/* The SERVER span whose head was read on a server socket (key: struct sock
 * address), from the read to the ServeHTTP that serves it: the conn
 * goroutine may run them on different threads (exitsyscall hands it to
 * another thread when its P was taken during the read; it parks when the
 * head came in pieces), and another goroutine's read on the first thread
 * would replace what capture left there. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tw_go_key);
	__type(value, struct tw_thread_ctx);
} go_sock_ctx SEC(".maps");

/* Processes with Go probes (user space keeps it): the read(2) and write(2)
 * exit programs act for them only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tgid */
	__type(value, __u8);
} go_pids SEC(".maps");

/* The server request a goroutine works for: set at ServeHTTP for the conn
 * goroutine, copied to each goroutine it (or a descendant) creates. LRU:
 * goroutines end without a probe telling. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tw_go_key);
	__type(value, struct tw_thread_ctx);
} go_ctx SEC(".maps");

/* A client request on its way (key: the *persistConn that writes it; one at
 * a time per connection in HTTP/1) -> the server request it is made for:
 * from persistConn.roundTrip (caller's goroutine) to the connection's next
 * write (write-loop goroutine). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tw_go_key);
	__type(value, struct tw_thread_ctx);
} go_pc SEC(".maps");

/* A persistConnWriter.Write in progress (key: its goroutine), for the RET
 * fallback: the thread whose thread_ctx entry it set, so that its RET takes
 * back that entry even when the goroutine moved to another thread. */
struct tw_go_writer {
	__u32 tid;
	__u32 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tw_go_key);
	__type(value, struct tw_go_writer);
} go_writer SEC(".maps");

/* newproc1's call -> runqput's call (or newproc1's entry -> its RET), on
 * the same thread (the system stack): the parent's goid, for Go versions
 * without g.parentGoid. Only while the parent serves a request. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, __u64);
} go_spawn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TW_GC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} go_counters SEC(".maps");

static __always_inline void tw_gcount(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&go_counters, &idx);

	if (v)
		*v += 1;
}

static __always_inline bool tw_go_read(__u64 *dst, __u64 addr)
{
	if (bpf_probe_read_user(dst, sizeof(*dst), (void *)addr)) {
		tw_gcount(TW_GC_READ_FAULT);
		return false;
	}
	return true;
}

/* The goid of goroutine g (a *runtime.g). */
static __always_inline bool tw_go_goid(__u64 g, __u64 cookie, __u64 *goid)
{
	return g && tw_go_read(goid, g + TW_GO_COOKIE_GOID(cookie));
}

/* The running goroutine: Go's register ABI keeps it in r14. */
static __always_inline bool tw_go_self(struct pt_regs *ctx, __u64 cookie, struct tw_go_key *k)
{
	k->tgid = bpf_get_current_pid_tgid() >> 32;
	k->pad = 0;
	return tw_go_goid(ctx->r14, cookie, &k->id);
}

/* An entry probe on the stack check's jump: false for the pass that jumps
 * to morestack (the function starts over once the stack has grown). */
static __always_inline bool tw_go_pass(struct pt_regs *ctx, __u64 cookie)
{
	__u64 flags = ctx->flags;

	if (((cookie & TW_GO_COOKIE_AT_JBE) && (flags & (X86_EFLAGS_CF | X86_EFLAGS_ZF))) ||
	    ((cookie & TW_GO_COOKIE_AT_JB) && (flags & X86_EFLAGS_CF))) {
		tw_gcount(TW_GC_MORESTACK);
		return false;
	}
	return true;
}

#endif
