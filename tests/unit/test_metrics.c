// SPDX-License-Identifier: BSD-2-Clause
/* --metrics-addr: the address syntax, the Prometheus text, and the server's
 * answers on /metrics, /healthz and /readyz (a plain socket client on
 * 127.0.0.1, port chosen by the kernel). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "metrics.h"

static void parses_addresses(void **state)
{
	static const char *const good[] = {
		"127.0.0.1:9464", "0.0.0.0:1", ":9464", "localhost:0", "[::1]:9464", "[::]:65535",
	};
	static const char *const bad[] = {
		"", ":", "9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
		"127.0.0.1:+80", "127.0.0.1: 80", "127.0.0.1:80x", "::1:9464", "[::1]9464", "[::1]:",
		"[127.0.0.1]:80", "host.example:80", "1.2.3:80", "127.0.0.1:000009464",
	};
	struct sockaddr_storage ss;
	socklen_t len;
	const char *out = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(tw_metrics_parse_addr(good[i], &ss, &len), 0);
		assert_int_equal(tw_metrics_option(good[i], &out), 0);
		assert_ptr_equal(out, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tw_metrics_parse_addr(bad[i], &ss, &len) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_int_equal(tw_metrics_option("nope", &out), -EINVAL);

	assert_int_equal(tw_metrics_parse_addr(":80", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_ANY));
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 80);
	assert_int_equal(tw_metrics_parse_addr("localhost:81", &ss, &len), 0);
	assert_int_equal(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	assert_int_equal(tw_metrics_parse_addr("[::1]:82", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
}

static const char *prop_name(unsigned idx)
{
	static char names[TW_PC_MAX][16];

	snprintf(names[idx], sizeof(names[idx]), "ev_%u", idx);
	return names[idx];
}

static void sample_snapshot(struct tw_metrics_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->ready = true;
	s->features[TW_FEATURE_CAPTURE] = TW_FEATURE_STATE_ON;
	s->features[TW_FEATURE_TLS] = TW_FEATURE_STATE_FAILED;
	s->kernel[TW_CNT_EVENTS] = 1234;
	s->kernel[TW_CNT_RB_FULL] = 7;
	s->correlator.spans = 42;
	s->correlator.conns_live = 3;
	s->spans_unsampled = 5;
	s->traces.spans_dropped = 2;
	s->propagation = true;
	s->prop[0] = 11;
	s->prop[TW_PC_MAX - 1] = 99;
	s->otlp = true;
	s->otlp_stats.queue_len = 17;
	s->otlp_stats.spans_dropped_rejected = 4;
}

/* Each sample line is NAME[{k="v",...}] VALUE, after a TYPE line of its
 * family; each family's HELP and TYPE come once, before its samples. */
static void check_format(const char *text)
{
	char family[128] = "";
	const char *line = text;
	int samples = 0;

	assert_true(text[0] && text[strlen(text) - 1] == '\n');
	while (*line) {
		const char *end = strchr(line, '\n');
		char buf[512], name[128];
		size_t n;

		assert_non_null(end);
		n = (size_t)(end - line);
		assert_true(n > 0 && n < sizeof(buf));
		memcpy(buf, line, n);
		buf[n] = '\0';
		if (!strncmp(buf, "# HELP ", 7)) {
			assert_int_equal(sscanf(buf + 7, "%127s", name), 1);
			assert_string_not_equal(name, family); /* a family once */
		} else if (!strncmp(buf, "# TYPE ", 7)) {
			char type[32];

			assert_int_equal(sscanf(buf + 7, "%127s %31s", family, type), 2);
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge"));
			if (!strcmp(type, "counter"))
				assert_non_null(strstr(family, "_total"));
		} else {
			size_t fl = strlen(family);
			char *sp = strrchr(buf, ' ');

			assert_true(fl && !strncmp(buf, family, fl) && (buf[fl] == ' ' || buf[fl] == '{'));
			assert_non_null(sp);
			for (const char *d = sp + 1; *d; d++)
				assert_true((*d >= '0' && *d <= '9') || *d == '.');
			samples++;
		}
		line = end + 1;
	}
	assert_true(samples > 40);
}

static void renders_prometheus_text(void **state)
{
	struct tw_metrics_snapshot s;
	struct tw_metrics_process p = { .rss_bytes = 4096 * 10, .open_fds = 12, .max_fds = 20000,
					.loop_age_s = 0.25 };
	char *text;

	(void)state;
	sample_snapshot(&s);
	text = tw_metrics_render(&s, &p, prop_name);
	assert_non_null(text);
	check_format(text);
	assert_non_null(strstr(text, "\ntracewire_kernel_records_total 1234\n"));
	assert_non_null(strstr(text, "\ntracewire_kernel_lost_total{reason=\"ringbuf_full\"} 7\n"));
	assert_non_null(strstr(text, "\ntracewire_spans_total 42\n"));
	assert_non_null(strstr(text, "\ntracewire_connections 3\n"));
	assert_non_null(strstr(text, "\ntracewire_spans_dropped_total{reason=\"unsampled\"} 5\n"));
	assert_non_null(strstr(text, "\ntracewire_spans_dropped_total{reason=\"trace_buffer\"} 2\n"));
	assert_non_null(strstr(text, "\ntracewire_spans_dropped_total{reason=\"otlp_rejected\"} 4\n"));
	assert_non_null(strstr(text, "\ntracewire_otlp_queue_spans 17\n"));
	assert_non_null(strstr(text, "\ntracewire_propagation_total{event=\"ev_0\"} 11\n"));
	assert_non_null(strstr(text, "\ntracewire_feature_enabled{feature=\"capture\"} 1\n"));
	assert_non_null(strstr(text, "\ntracewire_feature_enabled{feature=\"tls\"} 0\n"));
	assert_non_null(strstr(text, "\ntracewire_feature_requested{feature=\"tls\"} 1\n"));
	assert_non_null(strstr(text, "\ntracewire_feature_requested{feature=\"go\"} 0\n"));
	assert_non_null(strstr(text, "\nprocess_resident_memory_bytes 40960\n"));
	assert_non_null(strstr(text, "\nprocess_open_fds 12\n"));
	assert_non_null(strstr(text, "\ntracewire_event_loop_age_seconds 0.250\n"));
	assert_non_null(strstr(text, "tracewire_ready 1\n"));
	free(text);

	/* without propagation and OTLP their families are absent; unnamed counters get pcN */
	s.propagation = false;
	s.otlp = false;
	s.features[TW_FEATURE_CAPTURE] = TW_FEATURE_STATE_FAILED;
	text = tw_metrics_render(&s, &p, NULL);
	assert_non_null(text);
	check_format(text);
	assert_null(strstr(text, "tracewire_propagation_total"));
	assert_null(strstr(text, "tracewire_otlp_"));
	assert_null(strstr(text, "reason=\"otlp_rejected\""));
	assert_non_null(strstr(text, "tracewire_ready 0\n"));
	free(text);
	s.propagation = true;
	text = tw_metrics_render(&s, &p, NULL);
	assert_non_null(strstr(text, "\ntracewire_propagation_total{event=\"pc0\"} 11\n"));
	free(text);
}

static void reads_own_process(void **state)
{
	struct tw_metrics_process p;

	(void)state;
	tw_metrics_read_process(&p);
	assert_true(p.rss_bytes > 0);
	assert_true(p.open_fds >= 3);
	assert_true(p.max_fds > 0);
}

/* One HTTP/1.0 exchange; the status code, the body in body (size cap). */
static int http(uint16_t port, const char *method, const char *path, char *body, size_t cap)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	char req[256], resp[65536];
	size_t got = 0;
	int fd, code = -1;
	ssize_t n;
	char *sep;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: x\r\n\r\n", method, path);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (got < sizeof(resp) - 1 && (n = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/1.%*c %d", &code) != 1)
		return -1;
	sep = strstr(resp, "\r\n\r\n");
	snprintf(body, cap, "%s", sep ? sep + 4 : "");
	if (strstr(path, "metrics") && code == 200)
		assert_non_null(strstr(resp, "Content-Type: text/plain; version=0.0.4"));
	return code;
}

static void serves_probes_and_metrics(void **state)
{
	struct tw_metrics_cfg cfg = { .addr = "127.0.0.1:0", .prop_counter_name = prop_name };
	struct tw_metrics_snapshot s;
	struct tw_metrics *m;
	char body[65536];
	uint16_t port;

	(void)state;
	assert_int_equal(tw_metrics_start(&m, &cfg), 0);
	port = tw_metrics_port(m);
	assert_true(port > 0);

	/* started, nothing published: alive, not ready */
	assert_int_equal(http(port, "GET", "/healthz", body, sizeof(body)), 200);
	assert_int_equal(http(port, "GET", "/readyz", body, sizeof(body)), 503);
	assert_non_null(strstr(body, "starting"));

	sample_snapshot(&s);
	s.ready = false;
	tw_metrics_publish(m, &s);
	assert_int_equal(http(port, "GET", "/readyz", body, sizeof(body)), 503);
	s.ready = true;
	tw_metrics_publish(m, &s);
	assert_int_equal(http(port, "GET", "/readyz", body, sizeof(body)), 200);
	assert_int_equal(http(port, "HEAD", "/readyz", body, sizeof(body)), 200);
	assert_int_equal(http(port, "GET", "/metrics", body, sizeof(body)), 200);
	check_format(body);
	assert_non_null(strstr(body, "\ntracewire_spans_total 42\n"));
	assert_non_null(strstr(body, "\nprocess_resident_memory_bytes "));
	s.correlator.spans = 43;
	tw_metrics_publish(m, &s);
	assert_int_equal(http(port, "GET", "/metrics", body, sizeof(body)), 200);
	assert_non_null(strstr(body, "\ntracewire_spans_total 43\n"));

	/* capture off: not ready, still alive */
	s.features[TW_FEATURE_CAPTURE] = TW_FEATURE_STATE_FAILED;
	tw_metrics_publish(m, &s);
	assert_int_equal(http(port, "GET", "/readyz", body, sizeof(body)), 503);
	assert_non_null(strstr(body, "capture"));
	assert_int_equal(http(port, "GET", "/healthz", body, sizeof(body)), 200);

	assert_int_equal(http(port, "GET", "/nope", body, sizeof(body)), 404);
	assert_int_equal(http(port, "POST", "/metrics", body, sizeof(body)), 405);
	tw_metrics_stop(m);
	tw_metrics_stop(NULL);
}

static void refuses_a_taken_port(void **state)
{
	struct tw_metrics_cfg cfg = { .addr = "127.0.0.1:0" };
	struct tw_metrics *a, *b;
	char addr[32];

	(void)state;
	assert_int_equal(tw_metrics_start(&a, &cfg), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)tw_metrics_port(a));
	cfg.addr = addr;
	assert_true(tw_metrics_start(&b, &cfg) < 0);
	assert_null(b);
	cfg.addr = "no:where";
	assert_int_equal(tw_metrics_start(&b, &cfg), -EINVAL);
	tw_metrics_stop(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_addresses),
		cmocka_unit_test(renders_prometheus_text),
		cmocka_unit_test(reads_own_process),
		cmocka_unit_test(serves_probes_and_metrics),
		cmocka_unit_test(refuses_a_taken_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
