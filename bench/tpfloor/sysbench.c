// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sysbench N ROUNDS: the thread's CPU time per write(2) of one byte to
 * /dev/null, the least over ROUNDS loops of N (CPU time, not wall time: the
 * other tenants of a shared machine take the CPU away, they do not make this
 * thread's syscalls longer).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000, rounds = argc > 2 ? atol(argv[2]) : 15;
	int fd = open("/dev/null", O_WRONLY);
	double best = 1e18;
	char b = 'x';

	if (fd < 0 || n <= 0)
		return 1;
	for (long r = 0; r < rounds; r++) {
		struct timespec t0, t1;
		double ns;

		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
		for (long i = 0; i < n; i++)
			if (write(fd, &b, 1) != 1)
				return 1;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
		ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n;
		if (ns < best)
			best = ns;
	}
	printf("%.1f\n", best);
	return 0;
}
