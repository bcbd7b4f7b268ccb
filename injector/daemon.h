/* SPDX-License-Identifier: BSD-2-Clause */
/* The daemon: capture -> correlator -> trace assembly -> exporters, driven by
 * one epoll loop (ring buffer, signalfd, timerfd). */
#ifndef TW_DAEMON_H
#define TW_DAEMON_H

#include "config.h"

/* Runs until SIGINT/SIGTERM. 0 on a clean stop, negative errno otherwise. */
int tw_daemon_run(const struct tw_config *cfg);

#endif
