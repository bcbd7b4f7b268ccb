// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Restart continuity (docs/propagation.md, "Connections open before start"):
 * TCP connections that selected processes opened before tracewire started
 * (a proxy's keep-alive pool after an upgrade or a crash) are adopted, so
 * their next requests carry trace context again. sock_ops saw them become
 * established long ago, so no other hook will ever bring them in.
 *
 * A task-file iterator, run once at start by user space (injector/adopt.c):
 * it sees every open file of every process, whatever network namespace its
 * sockets live in, with the process that owns it, which is what selection
 * is about. (A
 * TCP socket iterator sees only the namespace of whoever runs it, and a
 * socket has no owner process, only a cgroup.) It makes two passes:
 *
 *   TW_PASS_LISTEN  listening TCP sockets (anyone's) go into `listeners` by
 *                   network namespace and port: an established socket on
 *                   such a port was accepted, so it is a server's.
 *   TW_PASS_ADOPT   established TCP sockets of selected processes are put in
 *                   `conns` (capture's) as servers or clients, as accept()
 *                   and connect() would have. For a client socket towards
 *                   the propagation scope that sock_ops did not add, one
 *                   struct tw_adopt_rec is written to the iterator's output
 *                   with the sk_msg state to start from: adopted, not in
 *                   step (lib/msgseq.h, tw_msg_adopted: sk_msg passes its
 *                   sends untouched until one starts between two requests).
 *                   User space puts the state and the socket in place through
 *                   a duplicate of the process's descriptor (pidfd_getfd):
 *                   an iterator gets the socket only as an untrusted pointer
 *                   here, which neither the sockhash nor socket storage take.
 *
 * Kernel >= 5.11 (bpf_sock_from_file in iterators).
 */
#include "lib/msgseq.h"
#include "lib/select.h"
#include "lib/sock.h"
#include "tracewire_adopt.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TW_PASS_LISTEN 1
#define TW_PASS_ADOPT 2

#ifndef TCP_ESTABLISHED_STATE
#define TCP_ESTABLISHED_STATE 1 /* TCP_ESTABLISHED */
#endif
#ifndef TCP_LISTEN_STATE
#define TCP_LISTEN_STATE 10 /* TCP_LISTEN */
#endif

/* as sock_ops has it: --propagate-port given or not */
const volatile __u8 any_port = 1;

/* Set by user space before each pass (writable .bss). */
__u8 pass = 0;
/* sk_msg is attached to the sockhash: clients may go there. */
__u8 headers_on = 0;

/* What the run found (for the log line). */
__u32 n_servers;      /* server sockets in conns */
__u32 n_clients;      /* client sockets in conns */
__u32 n_handed;       /* client records written for user space to adopt */
__u32 n_out_of_scope; /* clients towards a destination outside the scope */
__u32 n_watched;      /* clients sock_ops put in the sockhash itself */
__u32 n_other_role;   /* capture knows the socket in the other role: left alone */
__u32 n_failed;       /* conns (or listeners) full: left alone */

_Static_assert(sizeof(struct tw_msg_state) <= TW_ADOPT_STATE_MAX, "tw_adopt_rec state room");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_adopt_rec);
} adopt_scratch SEC(".maps");

/* sock_ops' --propagate-port set (shared with it) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16); /* host byte order */
	__type(value, __u8);
} prop_ports SEC(".maps");

struct tw_listen_key {
	__u32 netns; /* inode number of the network namespace */
	__u16 port;  /* host byte order */
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tw_listen_key);
	__type(value, __u8);
} listeners SEC(".maps");
/* Some listener did not fit: a socket without one may be a server's, so no
 * socket is taken for a client. */
__u8 listeners_full = 0;

/* ---- which processes: select.h's rules, for any task ------------------------ */

static __always_inline bool tw_task_cgroup_selected(struct task_struct *task)
{
	struct cgroup *cg = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	int depth;

	if (!cg)
		return false;
	depth = BPF_CORE_READ(cg, level);
	for (int level = 0; level < TW_CGROUP_LEVELS; level++) {
		struct cgroup *anc = NULL;
		__u64 id;

		if (level > depth)
			break;
		if (!(cgroup_levels & (1u << level)))
			continue;
		/* what bpf_get_current_ancestor_cgroup_id(level) tells of current */
		if (bpf_core_read(&anc, sizeof(anc), &cg->ancestors[level]) || !anc)
			break;
		id = BPF_CORE_READ(anc, kn, id);
		if (bpf_map_lookup_elem(&selected_cgroups, &id))
			return true;
	}
	return false;
}

static __always_inline bool tw_task_selected(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);

	if (tgid == self_tgid)
		return false;
	if (select_all)
		return true;
	if (select_by_pid && bpf_map_lookup_elem(&selected_pids, &tgid))
		return true;
	if (select_by_cgroup && tw_task_cgroup_selected(task))
		return true;
	if (select_by_comm) {
		char comm[TW_COMM_LEN] = {};

		bpf_probe_read_kernel_str(comm, sizeof(comm), task->comm);
		if (bpf_map_lookup_elem(&selected_comms, comm))
			return true;
	}
	return false;
}

/* ---- which sockets ----------------------------------------------------------- */

static __always_inline void tw_listen_key_of(struct tw_listen_key *k, struct sock *sk)
{
	k->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	k->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	k->pad = 0;
}

static __always_inline bool tw_dest_in_scope(const struct tw_tuple *t)
{
	__u16 port = t->peer_port;

	if (!tw_addr_in(&prop_scope, t->family, t->peer_addr))
		return false;
	return any_port || bpf_map_lookup_elem(&prop_ports, &port);
}

/*
 * The socket in conns in role, unless capture knows it already. A client's
 * bytes sent are counted from here on (sent_known): sk_msg takes the offsets
 * of its TW_EV_CTX records from the same count (tw_msg_adopted), so the
 * correlator matches them exactly. Capture may have met the socket since
 * start (its first bytes looked like HTTP) and counted from a point the
 * correlator cannot tell: the count starts again here too.
 */
static __always_inline struct tw_conn_state *tw_adopt_conn(__u64 key, __u8 role)
{
	struct tw_conn_state fresh = { .http = TW_CONN_UNDECIDED, .role = role,
				       .sent_known = role == TW_ROLE_CLIENT };
	struct tw_conn_state *st;

	bpf_map_update_elem(&conns, &key, &fresh, BPF_NOEXIST);
	st = bpf_map_lookup_elem(&conns, &key);
	if (st && role == TW_ROLE_CLIENT && st->role == TW_ROLE_CLIENT && !st->sent_known) {
		st->sent = 0;
		st->sent_known = 1;
	}
	return st;
}

/* A client socket of a selected process: hand it over when sk_msg should
 * watch it. */
static __always_inline void tw_adopt_client(struct bpf_iter__task_file *ctx, __u32 tgid,
					    struct sock *sk, __u64 key,
					    const struct tw_conn_state *st)
{
	struct tw_msg_state *ms;
	struct tw_adopt_rec *r;
	__u32 zero = 0;

	if (!headers_on)
		return;
	if (st->prop) {
		n_watched++;
		return;
	}
	r = bpf_map_lookup_elem(&adopt_scratch, &zero);
	if (!r)
		return;
	__builtin_memset(&r->tuple, 0, sizeof(r->tuple));
	tw_fill_tuple(&r->tuple, sk);
	if (!tw_dest_in_scope(&r->tuple)) {
		n_out_of_scope++;
		return;
	}
	r->sk = key;
	r->tgid = tgid;
	r->fd = ctx->fd;
	r->state_len = sizeof(struct tw_msg_state);
	__builtin_memset(r->pad, 0, sizeof(r->pad));
	__builtin_memset(r->state, 0, sizeof(r->state));
	ms = (struct tw_msg_state *)r->state;
	ms->adopt = 1;
	if (!bpf_seq_write(ctx->meta->seq, r, sizeof(*r)))
		n_handed++;
}

SEC("iter/task_file")
int tw_adopt(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct tw_listen_key lk;
	struct tw_conn_state *st;
	struct socket *sock;
	struct sock *sk;
	__u16 family;
	__u8 state, one = 1;
	__u64 key;

	if (!task || !file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (tw_sk_type(sk) != SOCK_STREAM || tw_sk_protocol(sk) != IPPROTO_TCP)
		return 0;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (pass == TW_PASS_LISTEN) {
		if (state == TCP_LISTEN_STATE) {
			tw_listen_key_of(&lk, sk);
			if (bpf_map_update_elem(&listeners, &lk, &one, BPF_ANY))
				listeners_full = 1;
		}
		return 0;
	}
	if (pass != TW_PASS_ADOPT || state != TCP_ESTABLISHED_STATE || !tw_task_selected(task))
		return 0;
	key = (__u64)sk;
	tw_listen_key_of(&lk, sk);
	if (bpf_map_lookup_elem(&listeners, &lk)) {
		st = tw_adopt_conn(key, TW_ROLE_SERVER);
		if (!st)
			n_failed++;
		else if (st->role != TW_ROLE_SERVER)
			n_other_role++;
		else
			n_servers++;
		return 0;
	}
	if (listeners_full) {
		n_failed++;
		return 0;
	}
	st = tw_adopt_conn(key, TW_ROLE_CLIENT);
	if (!st) {
		n_failed++;
		return 0;
	}
	if (st->role != TW_ROLE_CLIENT) {
		n_other_role++;
		return 0;
	}
	n_clients++;
	tw_adopt_client(ctx, task->tgid, sk, key, st);
	return 0;
}
