// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Trace-context propagation in HTTP/1.x headers (docs/propagation.md): the
 * sk_msg program user space attaches to sockops.bpf.c's SOCKHASH. It frames
 * each watched socket's outgoing stream and inserts a traceparent header
 * after the request line of every request that passes the HTTP/1.x gate
 * with its head whole in one send (lib/h1inject.h). It always returns
 * SK_PASS: when anything is in doubt the bytes go out as the application
 * wrote them, and a counter says why. An object of its own: when it cannot
 * load, only header propagation is off.
 */
#include "lib/h1inject.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#ifndef SK_PASS
#define SK_PASS 1
#endif

SEC("sk_msg")
int tw_sk_msg(struct sk_msg_md *msg)
{
	struct tw_msg_state *st;
	__u32 pos = 0, orig = tw_msg_size(msg), seq0, tail_bulk = 0;
	__u8 tail_phase = 0;
	__u64 added = 0;
	int step;

	st = bpf_sk_storage_get(&msg_state, msg->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		tw_pcount(TW_PC_FAIL_OPEN);
		return SK_PASS;
	}
	if (st->adopt && !tw_msg_adopted(msg, st)) {
		tw_pcount(TW_PC_SKIP_RESYNC);
		return SK_PASS;
	}
	seq0 = tw_write_seq(msg);
	if (st->seq_valid && st->seq_next != seq0)
		tw_msg_resync(st, (__s32)(seq0 - st->seq_next));
	for (step = 0; step < TW_MSG_STEPS; step++) {
		__u32 size = tw_msg_size(msg), left;
		__u8 phase = st->scan.phase;
		int used;

		if (pos >= size || phase == TW_SP_OPAQUE)
			break;
		left = size - pos;
		if (phase == TW_SP_BODY_LEN || phase == TW_SP_CHUNK_DATA) {
			/* body bytes are skipped, never looked at */
			__u64 skip = st->scan.remaining < left ? st->scan.remaining : left;

			pos += skip;
			st->scan.remaining -= skip;
			tail_bulk = skip;
			tail_phase = phase;
			if (!st->scan.remaining) {
				if (phase == TW_SP_CHUNK_DATA)
					st->scan.phase = TW_SP_CHUNK_DATA_END;
				else
					tw_scan_message_done(&st->scan);
			}
			continue;
		}
		if (phase == TW_SP_REQ_START) {
			__u32 before = tw_msg_size(msg);

			used = tw_msg_request(msg, pos, st->stream_off + pos - added, seq0 + pos);
			added += tw_msg_size(msg) - before;
		} else {
			used = tw_msg_continue(msg, pos);
		}
		if (used <= 0) {
			st->scan.phase = TW_SP_OPAQUE;
			tw_pcount(TW_PC_FAIL_OPEN);
			break;
		}
		pos += used;
		tail_bulk = 0;
	}
	if (pos < tw_msg_size(msg) && st->scan.phase != TW_SP_OPAQUE) {
		/* more requests in one send than this walks: stop touching it */
		st->scan.phase = TW_SP_OPAQUE;
		tw_pcount(TW_PC_SKIP_UNFRAMED);
	}
	st->stream_off += orig;
	st->seq_next = seq0 + tw_msg_size(msg);
	st->tail_bulk = pos >= tw_msg_size(msg) ? tail_bulk : 0;
	st->tail_phase = tail_phase;
	st->seq_valid = 1;
	return SK_PASS;
}
