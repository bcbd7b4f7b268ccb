/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the sk_msg tests (test_h1inject, test_h2inject) share: loopback up in
 * the test's own network namespace, and a loopback TCP connection whose
 * client socket is put in a SOCKHASH the test made, so that the sk_msg
 * program attached to it runs on every send of the client.
 */
#ifndef TW_BT_SOCKHASH_H
#define TW_BT_SOCKHASH_H

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/time.h>

#include "bpf_test.h"

struct bt_conn {
	int cli, srv;
};

static inline void bt_conn_close(struct bt_conn *c)
{
	if (c->cli >= 0)
		close(c->cli);
	if (c->srv >= 0)
		close(c->srv);
	c->cli = c->srv = -1;
}

/* A loopback TCP connection (Nagle off on the client, a 2 s receive
 * timeout on the server) whose client socket is in sockhash fd_socks; with
 * sndbuf / rcvbuf not 0, the client's SO_SNDBUF and the server's SO_RCVBUF
 * (set before the handshake, so the window is small from the start). */
static inline bool bt_conn_open_bufs(struct bt_conn *c, int fd_socks, int sndbuf, int rcvbuf)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 2 };
	socklen_t alen = sizeof(a);
	static __u32 key;
	int l, one = 1;

	c->cli = c->srv = -1;
	l = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(l >= 0, "socket: %s", strerror(errno));
	if (rcvbuf)
		setsockopt(l, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(l, (void *)&a, sizeof(a)) || listen(l, 1) || getsockname(l, (void *)&a, &alen)) {
		close(l);
		CHECK(false, "listen: %s", strerror(errno));
	}
	c->cli = socket(AF_INET, SOCK_STREAM, 0);
	if (c->cli >= 0 && sndbuf)
		setsockopt(c->cli, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (c->cli < 0 || connect(c->cli, (void *)&a, sizeof(a)) ||
	    (c->srv = accept(l, NULL, NULL)) < 0) {
		close(l);
		bt_conn_close(c);
		CHECK(false, "connect: %s", strerror(errno));
	}
	close(l);
	setsockopt(c->cli, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->srv, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	key++;
	if (bpf_map_update_elem(fd_socks, &key, &c->cli, BPF_NOEXIST)) {
		bt_conn_close(c);
		CHECK(false, "sockhash: %s", strerror(errno));
	}
	return true;
}

static inline bool bt_conn_open(struct bt_conn *c, int fd_socks)
{
	return bt_conn_open_bufs(c, fd_socks, 0, 0);
}

/*
 * An event loop's writes into a full send buffer: the client socket made
 * non-blocking, buf sent with as many send()s as it takes; whenever one
 * would block, the server reads a little (into got, *got_n bytes so far)
 * and the client waits to be writable. Bounded in rounds.
 */
static inline bool bt_send_nonblocking(struct bt_conn *c, const void *buf, size_t len, void *got,
				       size_t cap, size_t *got_n)
{
	size_t off = 0;
	int rounds = 0;
	ssize_t n;

	fcntl(c->cli, F_SETFL, fcntl(c->cli, F_GETFL) | O_NONBLOCK);
	while (off < len) {
		struct pollfd p = { .fd = c->cli, .events = POLLOUT };

		CHECK(++rounds < 100000, "no progress at byte %zu", off);
		n = send(c->cli, (const char *)buf + off, len - off, 0);
		if (n > 0) {
			off += n;
			continue;
		}
		CHECK(n < 0 && errno == EAGAIN, "send: %s", strerror(errno));
		n = recv(c->srv, (char *)got + *got_n, cap - *got_n < 3000 ? cap - *got_n : 3000,
			 MSG_DONTWAIT);
		if (n > 0)
			*got_n += n;
		poll(&p, 1, 100);
	}
	return true;
}

/* The server reads until everything the client sent has left its queue. */
static inline bool bt_drain_sent(struct bt_conn *c, void *got, size_t cap, size_t *got_n)
{
	int outq = 1, rounds = 0;
	ssize_t n;

	while (outq) {
		CHECK(++rounds < 100000, "the send queue never drained");
		n = recv(c->srv, (char *)got + *got_n, cap - *got_n, MSG_DONTWAIT);
		if (n > 0)
			*got_n += n;
		CHECK(!ioctl(c->cli, SIOCOUTQ, &outq), "SIOCOUTQ: %s", strerror(errno));
	}
	return true;
}

static inline bool bt_lo_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	bool ok;

	if (s < 0)
		return false;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ok = !ioctl(s, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	ok = ok && !ioctl(s, SIOCSIFFLAGS, &ifr);
	close(s);
	return ok;
}

#endif
