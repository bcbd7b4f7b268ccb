// SPDX-License-Identifier: BSD-2-Clause
#include "adopt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "adopt.skel.h"
#include "log.h"
#include "tracewire_adopt.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* bpf/adopt.bpf.c's passes */
#define TW_PASS_LISTEN 1
#define TW_PASS_ADOPT 2

struct tw_adopt {
	struct adopt_bpf *skel;
	struct bpf_link *link;
	int sockhash_fd;  /* sock_ops' client_socks, or -1 (no sk_msg) */
	int state_fd;     /* sk_msg's msg_state */
	int counters_fd;  /* propagation's per-CPU counters */
	/* the run's hand-overs */
	unsigned adopted, watched, gone, refused;
	int pidfd;        /* of pid_of_fd, or -1 */
	uint32_t pid_of_fd;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Is fd the connection the kernel described (a descriptor number may have
 * been closed and reused since the iterator saw it)? */
static bool same_connection(int fd, const struct tw_tuple *t)
{
	struct sockaddr_storage l, p;
	socklen_t ll = sizeof(l), pl = sizeof(p);

	if (getsockname(fd, (struct sockaddr *)&l, &ll) ||
	    getpeername(fd, (struct sockaddr *)&p, &pl))
		return false;
	if (l.ss_family != t->family || p.ss_family != t->family)
		return false;
	if (t->family == AF_INET) {
		const struct sockaddr_in *l4 = (const void *)&l, *p4 = (const void *)&p;

		return ntohs(l4->sin_port) == t->local_port &&
		       ntohs(p4->sin_port) == t->peer_port && !memcmp(&l4->sin_addr, t->local_addr, 4) &&
		       !memcmp(&p4->sin_addr, t->peer_addr, 4);
	}
	if (t->family == AF_INET6) {
		const struct sockaddr_in6 *l6 = (const void *)&l, *p6 = (const void *)&p;

		return ntohs(l6->sin6_port) == t->local_port &&
		       ntohs(p6->sin6_port) == t->peer_port && !memcmp(&l6->sin6_addr, t->local_addr, 16) &&
		       !memcmp(&p6->sin6_addr, t->peer_addr, 16);
	}
	return false;
}

/* Adds n to one of propagation's per-CPU counters (its CPU 0 slot: only
 * this file writes this counter). */
static void count(struct tw_adopt *a, uint32_t idx, uint64_t n)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *v;

	if (ncpu <= 0 || !n)
		return;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return;
	if (!bpf_map_lookup_elem(a->counters_fd, &idx, v)) {
		v[0] += n;
		bpf_map_update_elem(a->counters_fd, &idx, v, BPF_ANY);
	}
	free(v);
}

/*
 * One socket the iterator handed over: its sk_msg state first, then into
 * the sockhash, both through a duplicate of the owner's descriptor (the
 * socket lock taken as for any sockmap update from user space). The state
 * exists already when sk_msg watches or watched the socket: then nothing
 * is changed.
 */
static void adopt_one(struct tw_adopt *a, const struct tw_adopt_rec *r)
{
	__u64 key = r->sk, val;
	int fd, err;

	if (a->pidfd < 0 || a->pid_of_fd != r->tgid) {
		if (a->pidfd >= 0)
			close(a->pidfd);
		a->pid_of_fd = r->tgid;
		a->pidfd = syscall(SYS_pidfd_open, r->tgid, 0);
	}
	fd = a->pidfd < 0 ? -1 : syscall(SYS_pidfd_getfd, a->pidfd, r->fd, 0);
	if (fd < 0) {
		if (errno != ESRCH && errno != EBADF)
			log_debug("adopt: pid %u fd %u: %s", r->tgid, r->fd, strerror(errno));
		a->gone++;
		return;
	}
	if (!same_connection(fd, &r->tuple)) {
		a->gone++;
		goto out;
	}
	if (bpf_map_update_elem(a->state_fd, &fd, r->state, BPF_NOEXIST)) {
		if (errno == EEXIST)
			a->watched++;
		else
			a->refused++;
		goto out;
	}
	val = (__u64)fd;
	if (bpf_map_update_elem(a->sockhash_fd, &key, &val, BPF_NOEXIST)) {
		err = errno;
		bpf_map_delete_elem(a->state_fd, &fd);
		if (err == EEXIST)
			a->watched++;
		else
			a->refused++;
		log_debug("adopt: pid %u fd %u: not put in the sockhash: %s", r->tgid, r->fd,
			  strerror(err));
		goto out;
	}
	a->adopted++;
out:
	close(fd);
}

/* One pass of the iterator over every open file of every process; the
 * records it writes are adopted as they come. */
static int iterate(struct tw_adopt *a, __u8 pass)
{
	static char buf[64 * sizeof(struct tw_adopt_rec)];
	size_t have = 0;
	ssize_t n;
	int fd;

	a->skel->bss->pass = pass;
	fd = bpf_iter_create(bpf_link__fd(a->link));
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		const size_t len = sizeof(struct tw_adopt_rec);
		size_t off = 0;

		have += n;
		for (; have - off >= len; off += len) {
			struct tw_adopt_rec r;

			memcpy(&r, buf + off, len);
			adopt_one(a, &r);
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	if (n < 0)
		n = -errno;
	close(fd);
	return n < 0 ? (int)n : 0;
}

/* Both passes, then one line of what was found. */
static int run(struct tw_adopt *a)
{
	struct adopt_bpf__bss *b = a->skel->bss;
	uint64_t t0 = mono_ns();
	int err;

	err = iterate(a, TW_PASS_LISTEN);
	if (!err)
		err = iterate(a, TW_PASS_ADOPT);
	if (a->pidfd >= 0)
		close(a->pidfd);
	a->pidfd = -1;
	if (err)
		return err;
	count(a, TW_PC_SOCKS_ADOPTED, a->adopted);
	log_info("adopt: %u server and %u client connection%s of selected processes open before "
		 "start (%.1f ms); into the sockhash %u, joined at their next request; left: %u "
		 "watched already, %u out of scope, %u gone, %u in the other role, %u refused",
		 b->n_servers, b->n_clients, b->n_clients == 1 ? "" : "s", (mono_ns() - t0) / 1e6,
		 a->adopted, b->n_watched + a->watched, b->n_out_of_scope, a->gone,
		 b->n_other_role, a->refused + b->n_failed);
	return 0;
}

static void adopt_free(struct tw_adopt *a)
{
	if (!a)
		return;
	bpf_link__destroy(a->link);
	adopt_bpf__destroy(a->skel);
	free(a);
}

int tw_adopt_run(const struct tw_config *cfg, const struct tw_capture *cap,
		 const struct tw_sockops *so, const struct tw_headers *headers)
{
	struct tw_adopt *a = calloc(1, sizeof(*a));
	int err;

	if (!a)
		return -ENOMEM;
	a->sockhash_fd = a->state_fd = a->counters_fd = a->pidfd = -1;
	a->skel = adopt_bpf__open();
	if (!a->skel) {
		err = -errno;
		goto out;
	}
	TW_CAPTURE_RODATA(a->skel->rodata, cfg);
	a->skel->rodata->any_port = cfg->n_propagate_ports == 0;
	/* propagation's maps (scope, counters), sk_msg's (its per-socket
	 * state type), then capture's (connections, selection) */
	err = tw_share_maps(tw_sockops_object(so), a->skel->obj);
	if (!err && headers)
		err = tw_share_maps(tw_headers_object(headers), a->skel->obj);
	if (!err)
		err = tw_capture_share_maps(cap, a->skel->obj);
	if (err)
		goto out;
	err = adopt_bpf__load(a->skel);
	if (err)
		goto out;
	a->counters_fd = tw_sockops_map_fd(so, "prop_counters");
	if (headers) {
		const struct bpf_map *m = bpf_object__find_map_by_name(tw_headers_object(headers),
								       "msg_state");

		a->sockhash_fd = tw_sockops_map_fd(so, "client_socks");
		a->state_fd = m ? bpf_map__fd(m) : -ENOENT;
		if (a->sockhash_fd < 0 || a->state_fd < 0 || a->counters_fd < 0 ||
		    bpf_map__value_size(m) > TW_ADOPT_STATE_MAX) {
			err = -EINVAL;
			goto out;
		}
		a->skel->bss->headers_on = 1;
	}
	a->link = bpf_program__attach_iter(a->skel->progs.tw_adopt, NULL);
	if (!a->link) {
		err = -errno;
		goto out;
	}
	err = run(a);
out:
	if (err)
		log_warn("adopt: off (%s): connections open before start are not adopted; new ones "
			 "are watched as usual", strerror(-err));
	/* nothing of it is needed afterwards: what it adopted lives in the
	 * other objects' maps */
	adopt_free(a);
	return err;
}
