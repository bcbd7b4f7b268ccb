// SPDX-License-Identifier: BSD-2-Clause
/* Trace context below the payload (include/tracewire_wire.h): the IPv4
 * option tc inserts and finds, the TCP option sock_ops writes and reads, and
 * the wire maps' tuple form. The kernel runs this very code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tracewire_wire.h"

static const __u8 TRACE[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
				0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
static const __u8 SPAN[8] = { 0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7 };
static const __u8 ZERO[16];

/* ---- IPv4 option ------------------------------------------------------------- */

/* Options as tw_ipopt_find wants them: in a 64-byte buffer (offsets masked
 * with 63 stay inside), what is past optlen set to something that would
 * look like a match if it were read. */
struct opts {
	__u8 b[64];
	__u32 len;
};

static void opts_init(struct opts *o)
{
	memset(o->b, 0, sizeof(o->b));
	o->len = 0;
}

static void opts_put(struct opts *o, const __u8 *bytes, __u32 n)
{
	assert_true(o->len + n <= sizeof(o->b));
	memcpy(o->b + o->len, bytes, n);
	o->len += n;
}

static void opts_put_tw(struct opts *o, __u8 flags)
{
	__u8 room[TW_IPOPT_ROOM];

	tw_ipopt_encode(room, TRACE, SPAN, flags);
	opts_put(o, room, sizeof(room));
}

static void ipopt_encode_layout(void **state)
{
	__u8 room[TW_IPOPT_ROOM];

	(void)state;
	tw_ipopt_encode(room, TRACE, SPAN, 1);
	assert_int_equal(room[0], 1);
	assert_int_equal(room[1], 1);
	assert_int_equal(room[2], 1);
	assert_int_equal(room[3], 0x9e);
	assert_int_equal(room[4], 29);
	assert_int_equal(room[5], 't');
	assert_int_equal(room[6], 'w');
	assert_int_equal(room[7], 1);
	assert_memory_equal(room + 8, TRACE, 16);
	assert_memory_equal(room + 24, SPAN, 8);
	/* a whole header's worth of 32-bit words */
	assert_int_equal(TW_IPOPT_ROOM % 4, 0);
	assert_int_equal(3 + TW_IPOPT_LEN, TW_IPOPT_ROOM);
}

static void ipopt_round_trip(void **state)
{
	struct tw_wire_ctx c;
	struct opts o;

	(void)state;
	for (__u8 flags = 0; flags < 2; flags++) {
		opts_init(&o);
		opts_put_tw(&o, flags);
		memset(&c, 0xaa, sizeof(c));
		assert_int_equal(tw_ipopt_find(o.b, o.len, &c), 3);
		assert_int_equal(c.valid, 1);
		assert_int_equal(c.flags, flags);
		assert_memory_equal(c.trace_id, TRACE, 16);
		assert_memory_equal(c.span_id, SPAN, 8);
	}
}

static void ipopt_truncated(void **state)
{
	struct tw_wire_ctx c;
	struct opts o;

	(void)state;
	opts_init(&o);
	opts_put_tw(&o, 1);
	/* the option's length runs past what the header holds */
	for (__u32 len = 0; len < TW_IPOPT_ROOM; len++) {
		memset(&c, 0xaa, sizeof(c));
		if (tw_ipopt_find(o.b, len, &c) != -1)
			fail_msg("found in %u bytes of options", len);
		assert_int_equal(c.valid, 0);
	}
}

static void ipopt_malformed_lengths(void **state)
{
	static const __u8 len0[] = { 0x44, 0 }, len1[] = { 0x44, 1 }, past[] = { 0x44, 40 };
	const __u8 *bad[] = { len0, len1, past };
	struct tw_wire_ctx c;
	struct opts o;

	(void)state;
	/* an option with length 0, 1, or past the end ends the walk: ours
	 * behind it is not believed */
	for (size_t i = 0; i < 3; i++) {
		opts_init(&o);
		opts_put(&o, bad[i], 2);
		opts_put(&o, (const __u8[]){ 1, 1 }, 2);
		opts_put_tw(&o, 1);
		assert_int_equal(tw_ipopt_find(o.b, o.len, &c), -1);
		assert_int_equal(c.valid, 0);
	}
	/* a type byte as the very last byte: no length to read */
	opts_init(&o);
	opts_put(&o, (const __u8[]){ 1, 1, 1, 0x44 }, 4);
	assert_int_equal(tw_ipopt_find(o.b, o.len, &c), -1);
}

static void ipopt_not_ours(void **state)
{
	__u8 room[TW_IPOPT_ROOM];
	struct tw_wire_ctx c;
	struct opts o;

	(void)state;
	/* same type, other magic or length: someone else's experiment */
	tw_ipopt_encode(room, TRACE, SPAN, 1);
	room[6] = 'x';
	opts_init(&o);
	opts_put(&o, room, sizeof(room));
	assert_int_equal(tw_ipopt_find(o.b, o.len, &c), -1);
	tw_ipopt_encode(room, TRACE, SPAN, 1);
	room[4] = 28;
	room[31] = 1; /* a NOP where the shorter option ends */
	opts_init(&o);
	opts_put(&o, room, sizeof(room));
	assert_int_equal(tw_ipopt_find(o.b, o.len, &c), -1);
	/* other type */
	tw_ipopt_encode(room, TRACE, SPAN, 1);
	room[3] = 0x5e;
	opts_init(&o);
	opts_put(&o, room, sizeof(room));
	assert_int_equal(tw_ipopt_find(o.b, o.len, &c), -1);
}

static void ipopt_eol_and_nops(void **state)
{
	struct tw_wire_ctx c;
	struct opts o;

	(void)state;
	/* end of option list before ours */
	opts_init(&o);
	opts_put(&o, (const __u8[]){ 1, 0, 1, 1 }, 4);
	opts_put_tw(&o, 1);
	assert_int_equal(tw_ipopt_find(o.b, o.len, &c), -1);
	/* NOPs only */
	opts_init(&o);
	for (int i = 0; i < TW_IPOPTS_MAX; i++)
		opts_put(&o, (const __u8[]){ 1 }, 1);
	assert_int_equal(tw_ipopt_find(o.b, o.len, &c), -1);
	/* more NOPs before ours than tracewire writes */
	opts_init(&o);
	opts_put(&o, (const __u8[]){ 1, 1, 1, 1 }, 4);
	opts_put_tw(&o, 1);
	assert_int_equal(tw_ipopt_find(o.b, o.len, &c), 7);
	assert_int_equal(c.valid, 1);
	/* none: ours right at the start */
	{
		__u8 room[TW_IPOPT_ROOM];

		tw_ipopt_encode(room, TRACE, SPAN, 1);
		opts_init(&o);
		opts_put(&o, room + 3, TW_IPOPT_LEN);
		assert_int_equal(tw_ipopt_find(o.b, o.len, &c), 0);
		assert_int_equal(c.valid, 1);
	}
	/* EOL after ours does not matter */
	opts_init(&o);
	opts_put_tw(&o, 1);
	opts_put(&o, (const __u8[]){ 0, 0, 0, 0 }, 4);
	assert_int_equal(tw_ipopt_find(o.b, o.len, &c), 3);
}

static void ipopt_after_other_options(void **state)
{
	/* a record-route option (type 7, length 7) and a 4-byte unknown one */
	static const __u8 rr[] = { 7, 7, 4, 0, 0, 0, 0, 1 }, other[] = { 0x44, 4, 9, 9 };
	struct tw_wire_ctx c;
	struct opts o;

	(void)state;
	opts_init(&o);
	opts_put(&o, rr, sizeof(rr));
	opts_put_tw(&o, 0);
	assert_int_equal(o.len, 40);
	assert_int_equal(tw_ipopt_find(o.b, o.len, &c), 8 + 3);
	assert_int_equal(c.valid, 1);
	assert_int_equal(c.flags, 0);
	assert_memory_equal(c.trace_id, TRACE, 16);
	opts_init(&o);
	opts_put(&o, other, sizeof(other));
	opts_put_tw(&o, 1);
	opts_put(&o, other, sizeof(other));
	assert_int_equal(tw_ipopt_find(o.b, o.len, &c), 4 + 3);
}

static void ipopt_ihl_limits(void **state)
{
	struct tw_wire_ctx c;
	struct opts o;

	(void)state;
	/* ends exactly at the 40th byte (ihl 15) */
	opts_init(&o);
	opts_put(&o, (const __u8[]){ 1, 1, 1, 1, 1, 1, 1, 1 }, 8);
	opts_put_tw(&o, 1);
	assert_int_equal(o.len, TW_IPOPTS_MAX);
	assert_int_equal(tw_ipopt_find(o.b, o.len, &c), 11);
	/* more options than an IPv4 header can hold: nothing believed */
	assert_int_equal(tw_ipopt_find(o.b, TW_IPOPTS_MAX + 1, &c), -1);
	assert_int_equal(tw_ipopt_find(o.b, 60, &c), -1);
	/* no options (ihl 5) */
	assert_int_equal(tw_ipopt_find(o.b, 0, &c), -1);
	assert_int_equal(c.valid, 0);
}

static void ipopt_zero_ids(void **state)
{
	__u8 room[TW_IPOPT_ROOM];
	struct tw_wire_ctx c;
	struct opts o;

	(void)state;
	/* found (so tc still strips it), but its ids are not used */
	tw_ipopt_encode(room, ZERO, SPAN, 1);
	opts_init(&o);
	opts_put(&o, room, sizeof(room));
	assert_int_equal(tw_ipopt_find(o.b, o.len, &c), 3);
	assert_int_equal(c.valid, 0);
	tw_ipopt_encode(room, TRACE, ZERO, 1);
	opts_init(&o);
	opts_put(&o, room, sizeof(room));
	assert_int_equal(tw_ipopt_find(o.b, o.len, &c), 3);
	assert_int_equal(c.valid, 0);
}

/* ---- TCP option ------------------------------------------------------------- */

static void tcpopt_exp(void **state)
{
	__u8 opt[TW_TCPOPT_MAX_LEN];
	struct tw_wire_ctx c;

	(void)state;
	assert_int_equal(tw_tcpopt_encode(opt, TW_TCPOPT_EXP, TRACE, SPAN, TW_FLAG_SAMPLED), 28);
	assert_int_equal(opt[0], 253);
	assert_int_equal(opt[1], 28);
	assert_int_equal(opt[2] << 8 | opt[3], 0x7477);
	assert_memory_equal(opt + 4, TRACE, 16);
	assert_memory_equal(opt + 20, SPAN, 8);
	assert_true(tw_tcpopt_decode(opt, 28, &c));
	assert_int_equal(c.valid, 1);
	assert_int_equal(c.flags, TW_FLAG_SAMPLED);
	assert_memory_equal(c.trace_id, TRACE, 16);
	assert_memory_equal(c.span_id, SPAN, 8);

	assert_int_equal(tw_tcpopt_encode(opt, TW_TCPOPT_EXP, TRACE, SPAN, 0), 28);
	assert_int_equal(opt[2] << 8 | opt[3], 0x7476);
	assert_true(tw_tcpopt_decode(opt, 40, &c));
	assert_int_equal(c.flags, 0);
}

static void tcpopt_obi(void **state)
{
	__u8 opt[TW_TCPOPT_MAX_LEN];
	struct tw_wire_ctx c;

	(void)state;
	/* sampled: the 26 bytes OBI writes */
	assert_int_equal(tw_tcpopt_encode(opt, TW_TCPOPT_OBI, TRACE, SPAN, TW_FLAG_SAMPLED), 26);
	assert_int_equal(opt[0], 25);
	assert_int_equal(opt[1], 26);
	assert_memory_equal(opt + 2, TRACE, 16);
	assert_memory_equal(opt + 18, SPAN, 8);
	assert_true(tw_tcpopt_decode(opt, 26, &c));
	assert_int_equal(c.flags, TW_FLAG_SAMPLED);
	/* unsampled: 27, the flags byte last */
	assert_int_equal(tw_tcpopt_encode(opt, TW_TCPOPT_OBI, TRACE, SPAN, 0), 27);
	assert_int_equal(opt[1], 27);
	assert_int_equal(opt[26], 0);
	assert_true(tw_tcpopt_decode(opt, 27, &c));
	assert_int_equal(c.flags, 0);
	assert_memory_equal(c.trace_id, TRACE, 16);
	/* 27 bytes from someone else, flags as they were sent */
	opt[26] = 0x03;
	assert_true(tw_tcpopt_decode(opt, 27, &c));
	assert_int_equal(c.flags, 0x03);
	/* 26 or 27 only */
	opt[1] = 28;
	assert_false(tw_tcpopt_decode(opt, 28, &c));
	opt[1] = 25;
	assert_false(tw_tcpopt_decode(opt, 28, &c));
}

static void tcpopt_truncated(void **state)
{
	__u8 opt[TW_TCPOPT_MAX_LEN];
	struct tw_wire_ctx c;

	(void)state;
	tw_tcpopt_encode(opt, TW_TCPOPT_EXP, TRACE, SPAN, TW_FLAG_SAMPLED);
	for (__u32 avail = 0; avail < 28; avail++) {
		memset(&c, 0xaa, sizeof(c));
		if (tw_tcpopt_decode(opt, avail, &c))
			fail_msg("decoded from %u bytes", avail);
		assert_int_equal(c.valid, 0);
	}
	tw_tcpopt_encode(opt, TW_TCPOPT_OBI, TRACE, SPAN, TW_FLAG_SAMPLED);
	assert_false(tw_tcpopt_decode(opt, 25, &c));
	assert_true(tw_tcpopt_decode(opt, 26, &c));
}

static void tcpopt_invalid(void **state)
{
	__u8 opt[TW_TCPOPT_MAX_LEN];
	struct tw_wire_ctx c;

	(void)state;
	/* all-zero ids are invalid (W3C) */
	tw_tcpopt_encode(opt, TW_TCPOPT_EXP, ZERO, SPAN, TW_FLAG_SAMPLED);
	assert_false(tw_tcpopt_decode(opt, 28, &c));
	assert_int_equal(c.valid, 0);
	tw_tcpopt_encode(opt, TW_TCPOPT_OBI, TRACE, ZERO, TW_FLAG_SAMPLED);
	assert_false(tw_tcpopt_decode(opt, 26, &c));
	/* another experiment's ExID */
	tw_tcpopt_encode(opt, TW_TCPOPT_EXP, TRACE, SPAN, TW_FLAG_SAMPLED);
	opt[2] = 0x12;
	opt[3] = 0x34;
	assert_false(tw_tcpopt_decode(opt, 28, &c));
	/* kind 253 of another length */
	tw_tcpopt_encode(opt, TW_TCPOPT_EXP, TRACE, SPAN, TW_FLAG_SAMPLED);
	opt[1] = 27;
	assert_false(tw_tcpopt_decode(opt, 28, &c));
	/* another kind */
	tw_tcpopt_encode(opt, TW_TCPOPT_EXP, TRACE, SPAN, TW_FLAG_SAMPLED);
	opt[0] = 254;
	assert_false(tw_tcpopt_decode(opt, 28, &c));
}

/* ---- tuples -------------------------------------------------------------------- */

static void tuple_v4mapped(struct tw_tuple *t, __u32 l, __u32 p)
{
	memset(t, 0, sizeof(*t));
	t->family = 10;
	t->local_addr[10] = t->local_addr[11] = 0xff;
	t->peer_addr[10] = t->peer_addr[11] = 0xff;
	memcpy(t->local_addr + 12, &l, 4);
	memcpy(t->peer_addr + 12, &p, 4);
	t->local_port = 8080;
	t->peer_port = 40000;
}

static void tuple_normalize(void **state)
{
	const __u8 l4[4] = { 198, 18, 0, 10 }, p4[4] = { 198, 18, 0, 20 };
	struct tw_tuple t, want;
	__u32 l, p;

	(void)state;
	memcpy(&l, l4, 4);
	memcpy(&p, p4, 4);
	/* both sides IPv4-mapped: the IPv4 form packets have */
	tuple_v4mapped(&t, l, p);
	tw_tuple_normalize(&t);
	memset(&want, 0, sizeof(want));
	want.family = 2;
	memcpy(want.local_addr, l4, 4);
	memcpy(want.peer_addr, p4, 4);
	want.local_port = 8080;
	want.peer_port = 40000;
	assert_memory_equal(&t, &want, sizeof(t));
	/* already IPv4: untouched */
	tw_tuple_normalize(&t);
	assert_memory_equal(&t, &want, sizeof(t));
	/* one side not mapped (a real IPv6 peer): untouched */
	tuple_v4mapped(&t, l, p);
	memset(t.peer_addr, 0, 16);
	t.peer_addr[15] = 1; /* ::1 */
	want = t;
	tw_tuple_normalize(&t);
	assert_memory_equal(&t, &want, sizeof(t));
	/* a real IPv6 tuple */
	memset(&t, 0, sizeof(t));
	t.family = 10;
	t.local_addr[0] = t.peer_addr[0] = 0xfd;
	t.local_addr[15] = 0x10;
	t.peer_addr[15] = 0x20;
	want = t;
	tw_tuple_normalize(&t);
	assert_memory_equal(&t, &want, sizeof(t));
	/* ::ffff in the wrong place (::ffff:0:0:a.b.c.d is not mapped) */
	tuple_v4mapped(&t, l, p);
	t.local_addr[9] = 0xff;
	t.peer_addr[9] = 0xff;
	want = t;
	tw_tuple_normalize(&t);
	assert_memory_equal(&t, &want, sizeof(t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ipopt_encode_layout),
		cmocka_unit_test(ipopt_round_trip),
		cmocka_unit_test(ipopt_truncated),
		cmocka_unit_test(ipopt_malformed_lengths),
		cmocka_unit_test(ipopt_not_ours),
		cmocka_unit_test(ipopt_eol_and_nops),
		cmocka_unit_test(ipopt_after_other_options),
		cmocka_unit_test(ipopt_ihl_limits),
		cmocka_unit_test(ipopt_zero_ids),
		cmocka_unit_test(tcpopt_exp),
		cmocka_unit_test(tcpopt_obi),
		cmocka_unit_test(tcpopt_truncated),
		cmocka_unit_test(tcpopt_invalid),
		cmocka_unit_test(tuple_normalize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
