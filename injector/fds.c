// SPDX-License-Identifier: BSD-2-Clause
#include "fds.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>

/* The kernel refuses a hard limit above fs.nr_open; an RLIM_INFINITY hard
 * limit (which it never reports for NOFILE, but a seccomp'd or emulated
 * getrlimit might) is taken to mean that. */
static rlim_t nr_open(void)
{
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");
	unsigned long long v = 0;

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v ? (rlim_t)v : 1048576;
}

int tw_nofile_raise(struct tw_nofile *out)
{
	struct rlimit rl;
	int err = 0;

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		err = -errno;
		*out = (struct tw_nofile){ 0 };
		return err;
	}
	out->before = rl.rlim_cur;
	out->hard = rl.rlim_max;
	if (rl.rlim_cur != rl.rlim_max) {
		struct rlimit want = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };

		if (want.rlim_cur == RLIM_INFINITY)
			want.rlim_cur = nr_open();
		if (setrlimit(RLIMIT_NOFILE, &want))
			err = -errno;
	}
	out->now = tw_nofile_limit();
	return err;
}

uint64_t tw_nofile_limit(void)
{
	struct rlimit rl;

	return getrlimit(RLIMIT_NOFILE, &rl) ? 0 : rl.rlim_cur;
}

long tw_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}
