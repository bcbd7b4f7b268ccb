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
 * timeout on the server) whose client socket is in sockhash fd_socks. */
static inline bool bt_conn_open(struct bt_conn *c, int fd_socks)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 2 };
	socklen_t alen = sizeof(a);
	static __u32 key;
	int l, one = 1;

	c->cli = c->srv = -1;
	l = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(l >= 0, "socket: %s", strerror(errno));
	if (bind(l, (void *)&a, sizeof(a)) || listen(l, 1) || getsockname(l, (void *)&a, &alen)) {
		close(l);
		CHECK(false, "listen: %s", strerror(errno));
	}
	c->cli = socket(AF_INET, SOCK_STREAM, 0);
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
