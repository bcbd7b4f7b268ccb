// SPDX-License-Identifier: BSD-2-Clause
/* GET and WATCH against the API server with libcurl (contract in k8s_client.h). */
#include "k8s_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (64u << 20) /* a pod list of a full node is a few MB */

struct xfer {
	CURL *curl;
	char *buf;
	size_t len, cap;
	bool too_big;
	tw_k8s_line_fn on_line; /* NULL: keep the whole body */
	void *ctx;
	const volatile bool *stop;
	int cb_rc;
};

static int append(struct xfer *x, const char *p, size_t n)
{
	if (x->len + n + 1 > BODY_MAX) {
		x->too_big = true;
		return -1;
	}
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 16384;
		char *b;

		while (cap < x->len + n + 1)
			cap *= 2;
		b = realloc(x->buf, cap);
		if (!b)
			return -1;
		x->buf = b;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return 0;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	long status = 0;
	char *nl;

	if (append(x, p, n))
		return 0;
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	if (!x->on_line || status != 200)
		return n;
	while ((nl = memchr(x->buf, '\n', x->len))) {
		size_t ll = (size_t)(nl - x->buf);

		*nl = '\0';
		if (ll && (x->cb_rc = x->on_line(x->ctx, x->buf, ll)))
			return 0;
		memmove(x->buf, nl + 1, x->len - ll - 1);
		x->len -= ll + 1;
		x->buf[x->len] = '\0';
	}
	return n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct xfer *x = arg;

	(void)a, (void)b, (void)c, (void)d;
	return x->stop && *x->stop;
}

static char *read_token(const char *path)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return strdup(buf);
}

static void set_blob(CURL *h, CURLoption opt, const struct tw_k8s_blob *b)
{
	struct curl_blob blob = { .data = b->data, .len = b->len, .flags = CURL_BLOB_COPY };

	if (b->data)
		curl_easy_setopt(h, opt, &blob);
}

static int request(const struct tw_k8s_conn *c, const char *path, struct xfer *x, long timeout_s,
		   long *status, char *err, size_t errlen)
{
	char url[2048], auth[8300], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	char *tok = c->token_file ? read_token(c->token_file) : NULL;
	CURLcode rc;

	*status = 0;
	x->curl = curl_easy_init();
	if (!x->curl) {
		free(tok);
		return -ENOMEM;
	}
	snprintf(url, sizeof(url), "%s%s", c->server, path);
	if (tok || c->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok ? tok : c->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	curl_easy_setopt(x->curl, CURLOPT_URL, url);
	curl_easy_setopt(x->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(x->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->curl, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(x->curl, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(x->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(x->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->curl, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(x->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(x->curl, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(x->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->ca_file)
		curl_easy_setopt(x->curl, CURLOPT_CAINFO, c->ca_file);
	set_blob(x->curl, CURLOPT_CAINFO_BLOB, &c->ca);
	if (c->cert_file)
		curl_easy_setopt(x->curl, CURLOPT_SSLCERT, c->cert_file);
	if (c->key_file)
		curl_easy_setopt(x->curl, CURLOPT_SSLKEY, c->key_file);
	set_blob(x->curl, CURLOPT_SSLCERT_BLOB, &c->cert);
	set_blob(x->curl, CURLOPT_SSLKEY_BLOB, &c->key);
	if (c->insecure) {
		curl_easy_setopt(x->curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(x->curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	rc = curl_easy_perform(x->curl);
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(x->curl);
	curl_slist_free_all(hdrs);
	free(tok);
	if (rc == CURLE_OK || (x->cb_rc && *status == 200))
		return 0;
	if (x->stop && *x->stop)
		return -EINTR;
	snprintf(err, errlen, "%s", x->too_big ? "answer larger than 64 MiB"
				     : errbuf[0] ? errbuf : curl_easy_strerror(rc));
	return rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
}

int tw_k8s_get(const struct tw_k8s_conn *c, const char *path, char **body, long *status,
	       char *err, size_t errlen)
{
	struct xfer x = { 0 };
	int rc = request(c, path, &x, 30, status, err, errlen);

	if (rc || !x.buf) {
		free(x.buf);
		*body = rc ? NULL : strdup("");
		return rc ? rc : (*body ? 0 : -ENOMEM);
	}
	*body = x.buf;
	return 0;
}

int tw_k8s_watch(const struct tw_k8s_conn *c, const char *path, tw_k8s_line_fn on_line, void *ctx,
		 const volatile bool *stop, long *status, char **body, char *err, size_t errlen)
{
	struct xfer x = { .on_line = on_line, .ctx = ctx, .stop = stop };
	/* the path asks the server to end the watch sooner (timeoutSeconds) */
	int rc = request(c, path, &x, 600, status, err, errlen);

	if (body && *status != 200 && x.buf)
		*body = x.buf;
	else
		free(x.buf);
	return rc;
}
