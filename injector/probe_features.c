// SPDX-License-Identifier: BSD-2-Clause
/*
 * --probe's second half: can each feature's BPF objects be loaded on this
 * kernel? Each is opened and loaded alone (its own maps, nothing attached,
 * nothing shared), which is exactly the verifier's verdict the daemon would
 * get at start, then closed again.
 */
#include "probe.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "adopt.skel.h"
#include "capture.skel.h"
#include "feature_set.h"
#include "goprobes.skel.h"
#include "headers.skel.h"
#include "ipopt.skel.h"
#include "sockops.skel.h"
#include "tls.skel.h"

/* open + load + destroy of one skeleton type: 0 or negative errno */
#define TRY_LOAD(name, feature)                                               \
	static int try_##name(void)                                           \
	{                                                                     \
		struct name##_bpf *s = name##_bpf__open();                    \
		int err;                                                      \
                                                                              \
		if (!s)                                                       \
			return -errno;                                        \
		tw_fault_inject(s->obj, feature);                             \
		err = name##_bpf__load(s);                                    \
		name##_bpf__destroy(s);                                       \
		return err;                                                   \
	}
TRY_LOAD(capture, TW_FEATURE_CAPTURE)
TRY_LOAD(tls, TW_FEATURE_TLS)
TRY_LOAD(sockops, TW_FEATURE_SOCKOPS)
TRY_LOAD(headers, TW_FEATURE_HEADERS)
TRY_LOAD(ipopt, TW_FEATURE_IP_OPTION)
TRY_LOAD(goprobes, TW_FEATURE_GO)
TRY_LOAD(adopt, TW_FEATURE_SOCKOPS)

static const struct {
	enum tw_feature feature;
	const char *object;
	int (*load)(void);
	const char *what;
} objects[] = {
	{ TW_FEATURE_CAPTURE, "capture.bpf.o", try_capture, "HTTP/1.x spans (required)" },
	{ TW_FEATURE_TLS, "tls.bpf.o", try_tls, "spans of OpenSSL plaintext" },
	{ TW_FEATURE_SOCKOPS, "sockops.bpf.o", try_sockops, "sockets to propagate on, TCP option" },
	{ TW_FEATURE_SOCKOPS, "adopt.bpf.o", try_adopt, "connections open before start" },
	{ TW_FEATURE_HEADERS, "headers.bpf.o", try_headers, "traceparent in HTTP/1.x requests" },
	{ TW_FEATURE_IP_OPTION, "ipopt.bpf.o", try_ipopt, "IPv4 option (--propagation ip)" },
	{ TW_FEATURE_GO, "goprobes.bpf.o", try_goprobes, "goroutine parentage" },
};

int tw_probe_features(FILE *out)
{
	int failed = 0;

	fprintf(out, "\nfeatures (each object loaded alone on this kernel, nothing attached)\n\n");
	fprintf(out, "  %-11s %-15s %-28s %s\n", "feature", "object", "verdict", "what it gives");
	libbpf_set_print(NULL); /* verdicts here, not verifier logs */
	for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
		struct timespec t0, t1;
		char verdict[64];
		int err;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		err = objects[i].load();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (err)
			snprintf(verdict, sizeof(verdict), "off: %s", strerror(-err));
		else
			snprintf(verdict, sizeof(verdict), "loads (%ld ms)",
				 (long)((t1.tv_sec - t0.tv_sec) * 1000 +
					(t1.tv_nsec - t0.tv_nsec) / 1000000));
		failed += err != 0;
		fprintf(out, "  %-11s %-15s %-28s %s\n", tw_feature_name(objects[i].feature),
			objects[i].object, verdict, objects[i].what);
	}
	return failed;
}
