// SPDX-License-Identifier: BSD-2-Clause
/* tracewire: HTTP/1.x spans for services that carry no tracing code. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "privileges.h"
#include "probe.h"

/* libbpf's warnings are ours; its info and debug chatter only at debug. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	tw_vlog(level == LIBBPF_WARN ? TW_LOG_WARN : TW_LOG_DEBUG, fmt, ap);
	return 0;
}

int main(int argc, char **argv)
{
	struct tw_config cfg;
	char missing[256];

	libbpf_set_print(libbpf_print);
	if (tw_config_parse(&cfg, argc, argv))
		return TW_EXIT_USAGE;
	if (cfg.help) {
		tw_config_usage(stdout);
		return TW_EXIT_OK;
	}
	tw_log_set_level(cfg.log_level);
	if (tw_missing_privileges(missing, sizeof(missing))) {
		log_error("missing privileges: %s. Run tracewire as root (in Kubernetes: a "
			  "privileged DaemonSet pod with hostPID).", missing);
		return TW_EXIT_FAILURE;
	}
	if (tw_missing_ptrace())
		log_warn("no CAP_SYS_PTRACE: OTEL_SERVICE_NAME of other users' processes is not "
			 "readable; their spans are named after the executable");
	if (cfg.probe_only) {
		tw_ensure_tracefs();
		tw_probe_report(stdout);
		return TW_EXIT_OK;
	}
	return tw_daemon_run(&cfg) ? TW_EXIT_FAILURE : TW_EXIT_OK;
}
