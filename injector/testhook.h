/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A test-only hook, never for production: when TRACEWIRE_TEST_HOOK names a
 * program, tracewire runs it at a few points where another process could
 * interfere, and waits for it (10 s at most), so that an integration test
 * can interfere there deterministically (tests/integration/
 * test_binary_opened_once.sh swaps a binary right after tracewire opened
 * it). Unset, each call is one getenv().
 */
#ifndef TW_TESTHOOK_H
#define TW_TESTHOOK_H

#include <sys/types.h>

/* Runs "$TRACEWIRE_TEST_HOOK EVENT WHAT PID [PATH]" and waits for it. */
void tw_test_hook(const char *event, const char *what, pid_t pid, const char *path);

#endif
