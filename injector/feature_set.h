/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tracewire's features, each loaded as BPF objects of its own so that one
 * that cannot load or attach is off alone: its name (for logs, --require
 * and fault injection) and whether it runs. (Not "features.h": with
 * -Iinjector that name would hide glibc's own.)
 */
#ifndef TW_FEATURE_SET_H
#define TW_FEATURE_SET_H

#include <stdbool.h>

enum tw_feature {
	TW_FEATURE_CAPTURE = 0, /* syscall tracepoints: HTTP/1.x spans */
	TW_FEATURE_TLS,         /* OpenSSL uprobes: spans of TLS plaintext */
	TW_FEATURE_HEADERS,     /* sk_msg: traceparent in HTTP/1.x requests */
	TW_FEATURE_SOCKOPS,     /* sock_ops: the sockets propagation watches, and the TCP option */
	TW_FEATURE_IP_OPTION,   /* tc: ids in an IPv4 option */
	TW_FEATURE_GO,          /* Go uprobes: goroutine parentage */
	TW_FEATURE_H2_HEADERS,  /* sk_msg tail call: traceparent in HTTP/2 HEADERS frames */
	TW_FEATURE_MAX,
};

const char *tw_feature_name(enum tw_feature f);
/* The feature called name, or -1. */
int tw_feature_parse(const char *name);

/*
 * Fault injection for tests: when the environment variable
 * TRACEWIRE_FAULT_INJECT lists feature f (comma-separated names), every
 * program of obj is retyped as a socket filter before load, so the kernel's
 * verifier really rejects them and the feature's failure path runs.
 */
struct bpf_object;
void tw_fault_inject(struct bpf_object *obj, enum tw_feature f);
bool tw_fault_injected(enum tw_feature f);
/* TRACEWIRE_FAULT_INJECT names name, a part of a feature (test-only):
 * "go-grpc", grpc-go's Go probes. */
bool tw_fault_listed(const char *name);

#endif
