/* SPDX-License-Identifier: BSD-2-Clause */
#ifndef TW_PRIVILEGES_H
#define TW_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>

/* True when the effective capabilities lack what loading and attaching the
 * programs needs; names the missing ones in buf. */
bool tw_missing_privileges(char *buf, size_t len);

/* True when CAP_SYS_PTRACE is missing: other users' /proc/PID/environ is then
 * unreadable, so OTEL_SERVICE_NAME is not seen and the executable name is used. */
bool tw_missing_ptrace(void);

#endif
