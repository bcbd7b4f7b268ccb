/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What bpf/adopt.bpf.c's iterator hands injector/adopt.c: one record per
 * client socket, open before tracewire started, that sk_msg should watch.
 * Shared by both sides: fixed-width fields, explicit padding.
 */
#ifndef TRACEWIRE_ADOPT_H
#define TRACEWIRE_ADOPT_H

#include "tracewire_event.h"

/* Room for sk_msg's per-socket state (struct tw_msg_state, bpf/lib/h1inject.h) */
#define TW_ADOPT_STATE_MAX 128

struct tw_adopt_rec {
	__u64 sk;              /* struct sock address: the sockhash key */
	__u32 tgid;            /* a process that has it open ... */
	__u32 fd;              /* ... as this descriptor */
	struct tw_tuple tuple; /* as the kernel has it: checked against the fd */
	__u32 state_len;       /* bytes of state */
	__u8 pad[4];
	__u8 state[TW_ADOPT_STATE_MAX]; /* sk_msg's state to start from */
};

_Static_assert(sizeof(struct tw_adopt_rec) == 16 + 40 + 8 + TW_ADOPT_STATE_MAX,
	       "tw_adopt_rec layout");

#endif
