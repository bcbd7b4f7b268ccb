/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * "key1=value1,key2=value2" lists as OpenTelemetry uses them in
 * OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS: W3C Baggage style,
 * blanks around keys and values ignored, values percent-decoded.
 */
#ifndef TW_KVLIST_H
#define TW_KVLIST_H

#include <stddef.h>

#define TW_KV_VALUE_MAX 4096

/* Called per item with the key (not NUL-terminated) and the decoded value
 * (NUL-terminated, cut to TW_KV_VALUE_MAX - 1 bytes). Return non-zero to stop;
 * that value is returned by tw_kvlist_parse. */
typedef int (*tw_kv_fn)(void *ctx, const char *key, size_t key_len, const char *value);

/* Walks list[0..len), reporting every well-formed item. Returns fn's non-zero
 * value if it stopped the walk, else -EINVAL if some item had no '=' or an
 * empty key (those are skipped), else 0. */
int tw_kvlist_parse(const char *list, size_t len, tw_kv_fn fn, void *ctx);

#endif
