// SPDX-License-Identifier: BSD-2-Clause
/* traceparent parsing (see tracectx.h); mirrors bpf/lib/tracectx.h rule for rule. */
#include "tracectx.h"

#include <errno.h>
#include <stdbool.h>

/* Lowercase only: W3C makes uppercase hex invalid (ascii.h accepts both). */
static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int hex_byte(const char *s)
{
	int hi = hex_nibble(s[0]), lo = hex_nibble(s[1]);

	if (hi < 0 || lo < 0)
		return -1;
	return hi << 4 | lo;
}

static bool hex_decode(uint8_t *dst, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int b = hex_byte(s + 2 * i);

		if (b < 0)
			return false;
		dst[i] = (uint8_t)b;
	}
	return true;
}

static bool id_zero(const uint8_t *id, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= id[i];
	return acc == 0;
}

int tw_traceparent_parse(const char *v, size_t len, struct tw_traceparent_val *out)
{
	int version, flags;

	if (!v || !out || len < TW_TRACEPARENT_LEN)
		return -EINVAL;
	version = hex_byte(v);
	if (version < 0 || version == 0xff)
		return -EINVAL;
	if (version == 0 && len != TW_TRACEPARENT_LEN)
		return -EINVAL;
	/* a later version may append fields, each after a '-' */
	if (len > TW_TRACEPARENT_LEN && v[TW_TRACEPARENT_LEN] != '-')
		return -EINVAL;
	if (v[2] != '-' || v[35] != '-' || v[52] != '-')
		return -EINVAL;
	if (!hex_decode(out->trace_id, v + 3, sizeof(out->trace_id)) ||
	    !hex_decode(out->parent_id, v + 36, sizeof(out->parent_id)))
		return -EINVAL;
	flags = hex_byte(v + 53);
	if (flags < 0)
		return -EINVAL;
	if (id_zero(out->trace_id, sizeof(out->trace_id)) ||
	    id_zero(out->parent_id, sizeof(out->parent_id)))
		return -EINVAL;
	out->flags = (uint8_t)flags;
	out->version = (uint8_t)version;
	return 0;
}
