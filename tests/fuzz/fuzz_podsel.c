// SPDX-License-Identifier: BSD-2-Clause
/*
 * libFuzzer target for selection by pod and by cgroup: label selectors
 * (--k8s-selector, k8s_select.c), pod uids in the kubelet's cgroup names
 * (podsel.c, names other processes create) and /proc/PID/cgroup paths joined
 * to a cgroup namespace's root (procsel.c).
 *
 * Input: the first byte picks the parser, the rest is its text; for the
 * path join, base and relative path are split at the first NUL.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s_select.h"
#include "podsel.h"
#include "procsel.h"

#include "fuzz_check.h"

static const char *label(void *ctx, const char *key)
{
	/* a pod with one label, app=web */
	(void)ctx;
	return strcmp(key, "app") ? NULL : "web";
}

static void selector(const char *text)
{
	static struct tw_label_selector s, again;
	char err[256], out[8192], out2[8192];

	if (tw_label_selector_parse(text, &s, err, sizeof(err))) {
		CHECK(strstr(err, "at offset"));
		return;
	}
	CHECK(s.n >= 1 && s.n <= TW_LABEL_REQS);
	(void)tw_label_selector_match(&s, label, NULL);
	/* the canonical text parses to the same selector */
	tw_label_selector_format(&s, out, sizeof(out));
	CHECK(!tw_label_selector_parse(out, &again, err, sizeof(err)));
	tw_label_selector_format(&again, out2, sizeof(out2));
	CHECK(!strcmp(out, out2));
	CHECK(tw_label_selector_match(&s, label, NULL) == tw_label_selector_match(&again, label, NULL));
}

static void pod_uid(const char *name)
{
	char uid[37];

	if (!tw_pod_cgroup_uid(name, uid))
		return;
	CHECK(strlen(uid) == 36);
	for (int i = 0; i < 36; i++)
		CHECK(i == 8 || i == 13 || i == 18 || i == 23 ? uid[i] == '-' :
		      (uid[i] >= '0' && uid[i] <= '9') || (uid[i] >= 'a' && uid[i] <= 'f'));
}

static void path_join(const char *base, const char *rel)
{
	char out[512];

	if (tw_path_join_norm(base, rel, out, sizeof(out)))
		return;
	CHECK(out[0] == '/');
	CHECK(!strstr(out, "//") && !strstr(out, "/./") && !strstr(out, "/../"));
	CHECK(strcmp(out, "/") ? out[strlen(out) - 1] != '/' : true);
	CHECK(strlen(out) < 3 || strcmp(out + strlen(out) - 3, "/.."));
	CHECK(strlen(out) < 2 || strcmp(out + strlen(out) - 2, "/."));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	size_t n;

	if (size < 1 || size > 4096)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	text[size] = '\0';
	switch (data[0] % 3) {
	case 0:
		selector(text);
		break;
	case 1:
		pod_uid(text);
		break;
	default:
		n = strlen(text);
		path_join(text, n < size - 1 ? text + n + 1 : "");
		break;
	}
	free(text);
	return 0;
}
