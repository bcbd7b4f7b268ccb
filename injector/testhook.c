// SPDX-License-Identifier: BSD-2-Clause
#include "testhook.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

#define TW_TEST_HOOK_MS 10000

extern char **environ;

void tw_test_hook(const char *event, const char *what, pid_t pid, const char *path)
{
	static bool announced;
	const char *prog = getenv("TRACEWIRE_TEST_HOOK");
	char pidstr[16];
	char *argv[] = { (char *)prog, (char *)event, (char *)what, pidstr, (char *)path, NULL };
	pid_t child;
	int status, pidfd, err;

	if (!prog || !*prog)
		return;
	if (!announced)
		log_warn("TRACEWIRE_TEST_HOOK=%s: test hook: run (and waited for) where binaries "
			 "are opened and probed", prog);
	announced = true;
	snprintf(pidstr, sizeof(pidstr), "%d", (int)pid);
	err = posix_spawn(&child, prog, NULL, NULL, argv, environ);
	if (err) {
		log_warn("test hook %s: %s", prog, strerror(err));
		return;
	}
	/* bounded: a hook that hangs is killed, tracewire goes on */
	pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	if (pidfd >= 0) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

		if (poll(&pfd, 1, TW_TEST_HOOK_MS) == 0) {
			log_warn("test hook %s %s: still running after %d ms: killed", prog, event,
				 TW_TEST_HOOK_MS);
			kill(child, SIGKILL);
		}
		close(pidfd);
	}
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
}
