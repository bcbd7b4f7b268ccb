// SPDX-License-Identifier: BSD-2-Clause
/* Selection by pod: label selectors as kubectl -l takes them, the pod filter,
 * pod uids in kubelet cgroup names (both cgroup drivers). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "k8s_select.h"
#include "podsel.h"

/* labels as "k=v" strings, NULL-terminated */
static const char *get_label(void *ctx, const char *key)
{
	size_t n = strlen(key);

	for (const char *const *l = ctx; *l; l++)
		if (!strncmp(*l, key, n) && (*l)[n] == '=')
			return *l + n + 1;
	return NULL;
}

static bool matches(const char *selector, const char *const *labels)
{
	struct tw_label_selector s;
	char err[256];

	assert_int_equal(tw_label_selector_parse(selector, &s, err, sizeof(err)), 0);
	return tw_label_selector_match(&s, get_label, (void *)labels);
}

static void selector_semantics(void **state)
{
	static const char *const web[] = { "app=web", "tier=front", "app.kubernetes.io/name=shop", NULL };
	static const char *const none[] = { NULL };

	(void)state;
	assert_true(matches("app=web", web));
	assert_true(matches("app==web", web));
	assert_false(matches("app=db", web));
	assert_true(matches("app!=db", web));
	assert_true(matches("app!=db", none)); /* != holds without the label, as in Kubernetes */
	assert_false(matches("app!=web", web));
	assert_true(matches("app in (db, web)", web));
	assert_false(matches("app in (db)", web));
	assert_false(matches("app in (web)", none));
	assert_true(matches("app notin (db)", web));
	assert_true(matches("app notin (db)", none));
	assert_false(matches("app notin (db,web)", web));
	assert_true(matches("tier", web));
	assert_false(matches("tier", none));
	assert_true(matches("!tier", none));
	assert_false(matches("!tier", web));
	assert_true(matches("app=web,tier=front", web));
	assert_false(matches("app=web,tier=back", web)); /* all requirements must hold */
	assert_true(matches(" app = web , app.kubernetes.io/name in (shop) ", web));
	assert_false(matches("app=", web));
}

static void selector_errors(void **state)
{
	static const char *const bad[] = {
		"", ",", "app=web,", "=web", "app=we b", "app in web", "app in (web", "app in ()",
		"app in (a,)", "app ~ web", "app=-web", "-app=web", "app/=x", "Example.com/app=x",
		"a_b.c/app=x", "app=web!", "app notin", "!app=web", "app=(web)",
		"app=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 64 */
		"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", /* 17 requirements */
		"app in (a,b,c,d,e,f,g,h,i)",      /* 9 values */
	};
	struct tw_label_selector s;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (tw_label_selector_parse(bad[i], &s, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_non_null(strstr(err, "at offset"));
	}
	assert_int_equal(tw_label_selector_parse("example.com/app-name_1.x=v", &s, err, sizeof(err)), 0);
	assert_string_equal(s.reqs[0].key, "example.com/app-name_1.x");
}

static void selector_format(void **state)
{
	struct tw_label_selector s, again;
	char err[256], text[512], text2[512];

	(void)state;
	assert_int_equal(tw_label_selector_parse("app==web, tier in (a, b),!canary,x notin (y),z,q!=r",
						 &s, err, sizeof(err)), 0);
	tw_label_selector_format(&s, text, sizeof(text));
	assert_string_equal(text, "app=web,tier in (a,b),!canary,x notin (y),z,q!=r");
	assert_int_equal(tw_label_selector_parse(text, &again, err, sizeof(err)), 0);
	tw_label_selector_format(&again, text2, sizeof(text2));
	assert_string_equal(text, text2);
}

static void pod_filter(void **state)
{
	static const char *const web[] = { "app=web", NULL };
	struct tw_pod_filter f = { 0 };
	char err[256];

	(void)state;
	assert_false(tw_pod_filter_given(&f));
	assert_true(tw_pod_filter_match(&f, "any", get_label, (void *)web));
	strcpy(f.namespaces[f.n_namespaces++], "shop");
	strcpy(f.namespaces[f.n_namespaces++], "pay");
	assert_true(tw_pod_filter_given(&f));
	assert_true(tw_pod_filter_match(&f, "pay", get_label, (void *)web));
	assert_false(tw_pod_filter_match(&f, "other", get_label, (void *)web));
	assert_int_equal(tw_label_selector_parse("app=db", &f.selector, err, sizeof(err)), 0);
	f.has_selector = true;
	assert_false(tw_pod_filter_match(&f, "shop", get_label, (void *)web));
	assert_true(tw_namespace_valid("kube-system"));
	assert_false(tw_namespace_valid("Kube"));
	assert_false(tw_namespace_valid("-a"));
	assert_false(tw_namespace_valid(""));
	assert_false(tw_namespace_valid("a.b"));
}

static void pod_cgroup_names(void **state)
{
	char uid[37];

	(void)state;
	assert_true(tw_pod_cgroup_uid("pod11111111-2222-3333-4444-555555555555", uid));
	assert_string_equal(uid, "11111111-2222-3333-4444-555555555555");
	assert_true(tw_pod_cgroup_uid("kubepods-besteffort-podaaaaaaaa_bbbb_cccc_dddd_eeeeeeeeeeee.slice", uid));
	assert_string_equal(uid, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
	assert_true(tw_pod_cgroup_uid("kubepods-pod01234567_89ab_cdef_0123_456789abcdef.slice", uid));
	assert_string_equal(uid, "01234567-89ab-cdef-0123-456789abcdef");
	assert_false(tw_pod_cgroup_uid("kubepods.slice", uid));
	assert_false(tw_pod_cgroup_uid("kubepods-burstable.slice", uid));
	assert_false(tw_pod_cgroup_uid("pod11111111_2222_3333_4444_555555555555", uid)); /* cgroupfs uses '-' */
	assert_false(tw_pod_cgroup_uid("kubepods-pod11111111-2222-3333-4444-555555555555.slice", uid));
	assert_false(tw_pod_cgroup_uid("pod11111111-2222-3333-4444-55555555555", uid)); /* short */
	assert_false(tw_pod_cgroup_uid("pod11111111-2222-3333-4444-55555555555X", uid));
	assert_false(tw_pod_cgroup_uid("pod11111111-2222-3333-4444-555555555555x", uid));
	assert_false(tw_pod_cgroup_uid("cri-containerd-0123.scope", uid));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(selector_semantics),
		cmocka_unit_test(selector_errors),
		cmocka_unit_test(selector_format),
		cmocka_unit_test(pod_filter),
		cmocka_unit_test(pod_cgroup_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
