// SPDX-License-Identifier: BSD-2-Clause
#include "ids.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

/* xoshiro256** state; ids need to be unpredictable enough to avoid
 * collisions across nodes, not secret. */
static uint64_t rng_state[4];
static int rng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(void)
{
	uint64_t *s = rng_state;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

static void rng_seed(void)
{
	if (getrandom(rng_state, sizeof(rng_state), 0) != (ssize_t)sizeof(rng_state)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		rng_state[0] = (uint64_t)ts.tv_nsec ^ 0x9e3779b97f4a7c15ULL;
		rng_state[1] = (uint64_t)ts.tv_sec * 0xbf58476d1ce4e5b9ULL;
		rng_state[2] = (uint64_t)(uintptr_t)&ts;
		rng_state[3] = 0x94d049bb133111ebULL;
	}
	if (!(rng_state[0] | rng_state[1] | rng_state[2] | rng_state[3]))
		rng_state[0] = 1;
	rng_seeded = 1;
}

void tw_random_id(uint8_t *out, size_t n)
{
	if (!rng_seeded)
		rng_seed();
	for (;;) {
		uint8_t any = 0;

		for (size_t i = 0; i < n; i += 8) {
			uint64_t r = rng_next();
			size_t chunk = n - i < 8 ? n - i : 8;

			memcpy(out + i, &r, chunk);
		}
		for (size_t i = 0; i < n; i++)
			any |= out[i];
		if (any || n == 0)
			return;
	}
}

void tw_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}
