// SPDX-License-Identifier: BSD-2-Clause
/* Pod metadata: cgroup lines -> container id, kubeconfig, pod objects,
 * the pod cache's lookup by pid (a fake /proc), resource attribute sets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8s_cgroup.h"
#include "k8s_client.h"
#include "k8s_pods.h"
#include "log.h"
#include "otlp_batch.h"
#include "resattr.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void expect_id(const char *text, const char *want)
{
	char id[TW_CONTAINER_ID_LEN + 1] = "";
	int rc = tw_k8s_cgroup_text_id(text, id);

	if (!want) {
		assert_int_equal(rc, -ENODATA);
		return;
	}
	assert_int_equal(rc, 0);
	assert_string_equal(id, want);
}

static void cgroup_lines(void **state)
{
	(void)state;
	/* containerd, systemd driver (cgroup v2) */
	expect_id("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b_3c4d.slice/"
		  "cri-containerd-" ID ".scope\n", ID);
	/* containerd, cgroupfs driver */
	expect_id("0::/kubepods/besteffort/pod1a2b-3c4d/" ID "\n", ID);
	/* CRI-O, systemd driver; its conmon scope is no container */
	expect_id("0::/kubepods.slice/kubepods-pod1.slice/crio-" ID ".scope\n", ID);
	expect_id("0::/kubepods.slice/kubepods-pod1.slice/crio-conmon-" ID ".scope\n", NULL);
	/* docker: systemd and cgroupfs */
	expect_id("0::/system.slice/docker-" ID ".scope\n", ID);
	expect_id("0::/docker/" ID "\n", ID);
	/* cgroup v1 lines (hybrid): the first line naming one wins */
	expect_id("12:pids:/user.slice\n11:memory:/kubepods/burstable/pod1/" ID "\n0::/\n", ID);
	/* a container's own cgroup namespace shows "/" or a short path */
	expect_id("0::/\n", NULL);
	expect_id("0::/" ID "/init\n", ID); /* a sub-cgroup inside the container */
	/* not 64 lowercase hex digits */
	expect_id("0::/kubepods/pod1/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\n", NULL);
	expect_id("0::/kubepods/pod1/cri-containerd-0123.scope\n", NULL);
	expect_id("0::/user.slice/user-0.slice/session-3.scope\n", NULL);
	expect_id("", NULL);
	expect_id("garbage without colons", NULL);
}

static void status_ids(void **state)
{
	char id[TW_CONTAINER_ID_LEN + 1];

	(void)state;
	assert_int_equal(tw_k8s_status_container_id("containerd://" ID, id), 0);
	assert_string_equal(id, ID);
	assert_int_equal(tw_k8s_status_container_id("cri-o://" ID, id), 0);
	assert_int_equal(tw_k8s_status_container_id("docker://" ID, id), 0);
	assert_int_equal(tw_k8s_status_container_id(ID, id), -EINVAL);
	assert_int_equal(tw_k8s_status_container_id("containerd://abc", id), -EINVAL);
}

static char tmpdir[] = "/tmp/tw-k8s-unit.XXXXXX";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void kubeconfig(void **state)
{
	struct tw_k8s_conn c;
	char path[256], err[256] = "";

	(void)state;
	snprintf(path, sizeof(path), "%s/kc", tmpdir);
	write_file(path, "apiVersion: v1\nkind: Config\ncurrent-context: two\n"
			 "contexts:\n- name: one\n  context: {cluster: c1, user: u1}\n"
			 "- name: two\n  context:\n    cluster: c2\n    user: u2\n"
			 "clusters:\n- name: c1\n  cluster: {server: 'http://wrong:1'}\n"
			 "- name: c2\n  cluster:\n    server: https://10.0.0.1:6443/\n"
			 "    certificate-authority-data: aGVsbG8=\n"
			 "users:\n- name: u1\n  user: {token: nope}\n"
			 "- name: u2\n  user:\n    client-certificate: certs/u.crt\n"
			 "    client-key: /abs/u.key\n");
	assert_int_equal(tw_k8s_conn_from_kubeconfig(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.server, "https://10.0.0.1:6443");
	assert_int_equal(c.ca.len, 5);
	assert_memory_equal(c.ca.data, "hello", 5);
	assert_null(c.token);
	assert_non_null(c.cert_file);
	assert_true(strstr(c.cert_file, "/certs/u.crt") && !strncmp(c.cert_file, tmpdir, strlen(tmpdir)));
	assert_string_equal(c.key_file, "/abs/u.key");
	tw_k8s_conn_free(&c);

	write_file(path, "current-context: missing\ncontexts: []\n");
	assert_int_equal(tw_k8s_conn_from_kubeconfig(&c, path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no current-context"));
	write_file(path, "a: [unclosed\n");
	assert_int_equal(tw_k8s_conn_from_kubeconfig(&c, path, err, sizeof(err)), -EINVAL);
	unlink(path);
}

static void base64(void **state)
{
	struct tw_k8s_blob b;

	(void)state;
	assert_int_equal(tw_k8s_base64("Zm9vYmFy", &b), 0);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "foobar", 6);
	free(b.data);
	assert_int_equal(tw_k8s_base64("Zm9v\nYg==", &b), 0);
	assert_int_equal(b.len, 4);
	free(b.data);
	assert_int_equal(tw_k8s_base64("Zm9v!", &b), -EINVAL);
}

static const char pod_text[] =
	"{\"metadata\":{\"name\":\"web-1\",\"namespace\":\"shop\",\"uid\":\"u-1\",\"resourceVersion\":\"7\","
	"\"labels\":{\"app.kubernetes.io/name\":\"storefront\"},"
	"\"ownerReferences\":[{\"kind\":\"Node\",\"name\":\"n\"},"
	"{\"kind\":\"ReplicaSet\",\"name\":\"web-5d\",\"controller\":true}]},"
	"\"status\":{\"containerStatuses\":[{\"name\":\"app\",\"containerID\":\"containerd://" ID "\"},"
	"{\"name\":\"waiting\"}],"
	"\"initContainerStatuses\":[{\"name\":\"init\",\"containerID\":\"containerd://"
	"1111111111111111111111111111111111111111111111111111111111111111\"}]}}";

static void pod_and_lookup(void **state)
{
	struct json_object *obj = json_tokener_parse(pod_text);
	struct tw_k8s_cache *c;
	struct tw_k8s_pod p;
	struct tw_res r;
	char dir[300], path[400];
	const char *k, *v;
	size_t pos = 0;

	(void)state;
	assert_int_equal(tw_k8s_pod_parse(obj, &p), 0);
	json_object_put(obj);
	assert_string_equal(p.owner_kind, "ReplicaSet");
	assert_string_equal(p.owner_name, "web-5d");
	assert_int_equal(p.n_containers, 2);
	assert_string_equal(p.c[1].name, "init");
	snprintf(p.top_kind, sizeof(p.top_kind), "Deployment");
	snprintf(p.top_name, sizeof(p.top_name), "web");

	/* a fake /proc with pid 42 in the pod's container, 43 elsewhere */
	snprintf(dir, sizeof(dir), "%s/proc", tmpdir);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/42", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/42/cgroup", dir);
	write_file(path, "0::/kubepods/burstable/podu-1/" ID "\n");
	snprintf(path, sizeof(path), "%s/43", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/43/cgroup", dir);
	write_file(path, "0::/user.slice\n");

	c = tw_k8s_cache_new("node-a", dir);
	assert_int_equal(tw_k8s_cache_put(c, &p), 0);
	assert_true(tw_k8s_cache_lookup(c, 42, (tw_res_clear(&r), &r)));
	assert_string_equal(r.service, "storefront");
	while (tw_res_next(&r, &pos, &k, &v))
		if (!strcmp(k, "k8s.deployment.name"))
			assert_string_equal(v, "web");
		else if (!strcmp(k, "k8s.pod.name"))
			assert_string_equal(v, "web-1");
		else if (!strcmp(k, "k8s.node.name"))
			assert_string_equal(v, "node-a");
		else if (!strcmp(k, "container.id"))
			assert_string_equal(v, ID);
	assert_int_equal(r.n, 8);
	tw_res_clear(&r);
	assert_false(tw_k8s_cache_lookup(c, 43, &r));
	assert_false(tw_k8s_cache_lookup(c, 44, &r)); /* no such process */

	/* the provider hook */
	tw_res_set_provider(tw_k8s_cache_lookup, c);
	assert_true(tw_res_lookup(42, &r));
	/* deleted: gone from lookups */
	tw_k8s_cache_del(c, "u-1");
	assert_false(tw_res_lookup(42, &r));
	assert_int_equal(r.n, 0);
	/* relist: unseen pods are swept */
	tw_k8s_cache_put(c, &p);
	tw_k8s_cache_mark(c);
	assert_int_equal(tw_k8s_cache_sweep(c), 1);
	assert_int_equal(tw_k8s_cache_count(c), 0);
	tw_res_set_provider(NULL, NULL);
	assert_false(tw_res_lookup(42, &r));
	tw_k8s_cache_free(c);
	unlink(path);
	snprintf(path, sizeof(path), "%s/42/cgroup", dir);
	unlink(path);
}

static void res_set_bounds(void **state)
{
	struct tw_res r;
	char big[2000];

	(void)state;
	tw_res_clear(&r);
	assert_int_equal(tw_res_add(&r, "k", ""), -EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(tw_res_add(&r, "k", big), 0); /* cut to fit */
	assert_int_equal(r.used, TW_RES_BUF);
	assert_int_equal(tw_res_add(&r, "k2", "v"), -ENOSPC);
	tw_res_clear(&r);
	for (int i = 0; i < TW_RES_MAX; i++)
		assert_int_equal(tw_res_add(&r, "k", "v"), 0);
	assert_int_equal(tw_res_add(&r, "k", "v"), -ENOSPC);
}

static bool fake_provider(void *ctx, uint32_t pid, struct tw_res *out)
{
	(void)ctx;
	if (pid != 7)
		return false;
	tw_res_add(out, "k8s.pod.name", "web-1");
	tw_res_add(out, "host.name", "from-provider"); /* tracewire's own wins */
	return true;
}

static bool has_bytes(const struct tw_buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* The provider's attributes reach the OTLP Resource of that pid's spans only. */
static void otlp_resource(void **state)
{
	struct tw_otlp_cfg cfg = { .host_name = "node-x" };
	struct tw_otlp_batch b;
	struct tw_span s = { .pid = 7, .service = "web", .kind = TW_SPAN_SERVER, .method = "GET" };

	(void)state;
	tw_res_set_provider(fake_provider, NULL);
	assert_int_equal(tw_otlp_batch_init(&b, &cfg, 4), 0);
	tw_otlp_item_fill(&b.items[0], &s, NULL, false);
	s.pid = 8;
	tw_otlp_item_fill(&b.items[1], &s, NULL, false);
	assert_int_equal(tw_otlp_batch_encode(&b, 2), 0);
	assert_int_equal(b.ngroups, 2);
	assert_true(has_bytes(&b.body, "k8s.pod.name") && has_bytes(&b.body, "web-1"));
	assert_false(has_bytes(&b.body, "from-provider"));
	assert_int_equal(b.groups[0].n_attrs, b.groups[1].n_attrs + 1);

	/* the process's own OTEL_RESOURCE_ATTRIBUTES: kept, decoded; its
	 * service.name and keys tracewire sets are not taken from it */
	snprintf(b.items[1].resource, sizeof(b.items[1].resource),
		 "deployment.environment=pro%%64,service.name=other, host.name=h2,team=a");
	assert_int_equal(tw_otlp_batch_encode(&b, 2), 0);
	assert_true(has_bytes(&b.body, "deployment.environment") && has_bytes(&b.body, "prod"));
	assert_true(has_bytes(&b.body, "team"));
	assert_false(has_bytes(&b.body, "other") || has_bytes(&b.body, "h2"));
	assert_int_equal(b.groups[1].n_attrs, b.groups[0].n_attrs - 1 + 2);
	tw_res_set_provider(NULL, NULL);
	tw_otlp_batch_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cgroup_lines),
		cmocka_unit_test(status_ids),
		cmocka_unit_test(kubeconfig),
		cmocka_unit_test(base64),
		cmocka_unit_test(pod_and_lookup),
		cmocka_unit_test(res_set_bounds),
		cmocka_unit_test(otlp_resource),
	};
	int rc;

	tw_log_set_level(TW_LOG_ERROR);
	if (!mkdtemp(tmpdir))
		return 1;
	rc = cmocka_run_group_tests_name("k8s", tests, NULL, NULL);
	if (fork() == 0)
		execlp("rm", "rm", "-rf", tmpdir, (char *)NULL);
	return rc;
}
