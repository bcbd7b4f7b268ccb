/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tracewire's version: in `tracewire --version`, the OTLP
 * telemetry.sdk.version and instrumentation scope, and the exporter's
 * User-Agent. (The build, `git describe` at build time, is in the generated
 * tw_build.h that only the agent's main.c includes.)
 */
#ifndef TW_VERSION_H
#define TW_VERSION_H

#define TW_VERSION "0.1.0"

#endif
