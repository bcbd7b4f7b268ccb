#!/usr/bin/env bash
# --metrics-addr (issue 17): /metrics in the Prometheus text format, parsed
# strictly (promtext.py), whose counters move with traffic; /healthz and
# /readyz for the kubelet.
#
#   cli (curl, selected: its requests get a traceparent) -> srv (python, selected)
#
# tracewire serves on 127.0.0.1:0 (the kernel picks the port; the log names it).
# Checks: /readyz 200 once "ready" is logged, /healthz 200, 404 and 405 for
# other paths and methods; the parser refuses malformed text (selftest); a
# scrape before and after REQUESTS requests: records, spans and the
# propagation counter "injected" moved by at least REQUESTS, no counter went
# down, capture and headers enabled, RSS under the DaemonSet's 256 MiB limit;
# after SIGTERM nothing listens. A bad --metrics-addr exits 2, a port in use
# exits 1 naming it.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

PROM=$LAB_REPO/tests/integration/promtext.py
REQUESTS=8
SRV_PORT=8080

lab_init
"$LAB_PY" "$PROM" selftest

lab_step "command line"
assert_exit 2 "a port above 65535" "$TRACEWIRE" --metrics-addr 127.0.0.1:70000
assert_file_contains "$LAB_LAST_ERR" "--metrics-addr: expected HOST:PORT" "the message names the option"
assert_exit 2 "no port" "$TRACEWIRE" --metrics-addr 127.0.0.1
assert_exit 2 "a host name" "$TRACEWIRE" --metrics-addr metrics.example:9464
"$TRACEWIRE" --help >"$LAB_DIR/help.txt"
assert_file_contains "$LAB_DIR/help.txt" "--metrics-addr HOST:PORT" "--help lists --metrics-addr"

lab_pod cli 198.18.0.20/24
lab_pod srv 198.18.0.10/24
lab_start_server python srv "$(lab_ip srv)" "$SRV_PORT"
SRV_PID=$LAB_LAST_PID

lab_step "tracewire --metrics-addr 127.0.0.1:0"
tw_start --cgroup "$(lab_cgroup cli)" --cgroup "$(lab_cgroup srv)" --metrics-addr 127.0.0.1:0
line=$(grep -m 1 'metrics: serving' "$TW_LOG") || fail "no 'metrics: serving' line in the log"
PORT=$(printf '%s\n' "$line" | sed -n 's/.*(port \([0-9]*\)).*/\1/p')
assert_match "$PORT" '^[1-9][0-9]*$' "the chosen port is logged"
BASE=http://127.0.0.1:$PORT

# get PATH OUT [CURL ARGS...]: prints the status code; the body in OUT
get() {
	local path=$1 out=$2
	shift 2
	curl -sS --max-time 5 -o "$out" -w '%{http_code}' "$@" "$BASE$path" 2>>"$LAB_DIR/curl.err" || true
}
assert_eq 200 "$(get /readyz "$LAB_DIR/readyz")" "/readyz once ready is logged"
assert_file_contains "$LAB_DIR/readyz" '^ready$' "/readyz body"
assert_eq 200 "$(get /healthz "$LAB_DIR/healthz")" "/healthz"
assert_eq 404 "$(get /nope "$LAB_DIR/nope")" "an unknown path"
assert_eq 405 "$(get /metrics "$LAB_DIR/post" -X POST -d x)" "POST /metrics"
assert_eq 200 "$(get /metrics "$LAB_DIR/head" -I)" "HEAD /metrics"

# the loop publishes every second: let a first publish after ready pass
sleep 1.2
assert_eq 200 "$(get /metrics "$LAB_DIR/m1.txt" -D "$LAB_DIR/m1.headers")" "/metrics before traffic"
assert_file_contains "$LAB_DIR/m1.headers" '^Content-Type: text/plain; version=0.0.4' "the text format's content type"
"$LAB_PY" "$PROM" check "$LAB_DIR/m1.txt"
val() { "$LAB_PY" "$PROM" get "$1" "$2"; }
r1=$(val "$LAB_DIR/m1.txt" tracewire_kernel_records_total)
s1=$(val "$LAB_DIR/m1.txt" tracewire_spans_total)
i1=$(val "$LAB_DIR/m1.txt" 'tracewire_propagation_total{event="injected"}')
assert_eq 1 "$(val "$LAB_DIR/m1.txt" 'tracewire_feature_enabled{feature="capture"}')" "capture enabled"
assert_eq 1 "$(val "$LAB_DIR/m1.txt" 'tracewire_feature_enabled{feature="headers"}')" "headers enabled"
assert_eq 0 "$(val "$LAB_DIR/m1.txt" 'tracewire_feature_requested{feature="ip-option"}')" "ip-option not requested"
assert_eq 1 "$(val "$LAB_DIR/m1.txt" tracewire_ready)" "tracewire_ready"

lab_step "$REQUESTS requests cli -> srv"
for ((i = 0; i < REQUESTS; i++)); do
	lab_exec_in_pod cli curl -sS --max-time 10 -o /dev/null "http://$(lab_ip srv):$SRV_PORT/m$i" ||
		fail "request $i failed"
done
tw_wait_spans --kind server --pid "$SRV_PID" "$REQUESTS" 30

# counters move once the loop publishes again (bounded: 10 s)
deadline=$(($(date +%s) + 10))
while :; do
	assert_eq 200 "$(get /metrics "$LAB_DIR/m2.txt")" "/metrics after traffic"
	s2=$(val "$LAB_DIR/m2.txt" tracewire_spans_total)
	[ "$s2" -lt $((s1 + 2 * REQUESTS)) ] || break
	[ "$(date +%s)" -lt "$deadline" ] || fail "tracewire_spans_total $s1 -> $s2 within 10 s, expected +$((2 * REQUESTS))"
	sleep 0.3
done
"$LAB_PY" "$PROM" check "$LAB_DIR/m2.txt"
"$LAB_PY" "$PROM" monotonic "$LAB_DIR/m1.txt" "$LAB_DIR/m2.txt"
r2=$(val "$LAB_DIR/m2.txt" tracewire_kernel_records_total)
i2=$(val "$LAB_DIR/m2.txt" 'tracewire_propagation_total{event="injected"}')
assert_ge "$r2" $((r1 + 2 * REQUESTS)) "tracewire_kernel_records_total moved"
assert_ge "$i2" $((i1 + REQUESTS)) "tracewire_propagation_total{event=\"injected\"} moved (curl's requests)"
assert_ge "$(val "$LAB_DIR/m2.txt" tracewire_correlator_records_total)" $((2 * REQUESTS)) "correlator records"
assert_eq 0 "$(val "$LAB_DIR/m2.txt" 'tracewire_kernel_lost_total{reason="ringbuf_full"}')" "no ring-buffer loss"
rss=$(val "$LAB_DIR/m2.txt" process_resident_memory_bytes)
assert_gt "$rss" $((1 << 20)) "RSS is reported"
assert_lt "$rss" $((256 << 20)) "RSS under the DaemonSet's 256 MiB memory limit"
assert_gt "$(val "$LAB_DIR/m2.txt" process_open_fds)" 10 "open fds"
lab_step "metrics: records $r1 -> $r2, spans $s1 -> $s2, injected $i1 -> $i2, RSS $((rss >> 20)) MiB"

lab_step "a second tracewire on the same port exits 1"
assert_exit 1 "port in use" "$TRACEWIRE" --exporter none --metrics-addr "127.0.0.1:$PORT"
assert_file_contains "$LAB_LAST_ERR" "--metrics-addr 127.0.0.1:$PORT: cannot serve there" "the error names the address"

tw_stop
code=$(curl -sS --max-time 3 -o /dev/null -w '%{http_code}' "$BASE/healthz" 2>/dev/null || true)
assert_eq 000 "$code" "nothing answers after tracewire stopped"
echo "test_metrics: ok"
