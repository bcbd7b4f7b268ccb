#!/usr/bin/env bash
# Self-test of the OTLP/HTTP test receiver (tests/otlp/receiver.js) without
# tracewire: bodies made by protoc from sample-request.txt are POSTed with curl
# to receivers on loopback (kernel-chosen free ports), and what the receiver
# wrote is checked field by field: exact ids, 64-bit times, kinds, typed
# attributes, gzip, rejected requests, --script (429/503/400/hang), https with a
# throw-away CA, IPv6 (::1, when the host has it), logged headers, clean stop
# on SIGTERM/SIGINT with a hung request open.
# Exit 0: pass; 1: a check failed (the message says which); 2: missing tools.
# Also run by tests/integration/test_otlp_receiver.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROTO_DIR=/usr/include
PROTO=opentelemetry/proto/collector/trace/v1/trace_service.proto
MSG=opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest

say() { printf 'selftest: %s\n' "$*"; }
fail() {
	printf 'selftest: FAIL: %s\n' "$*" >&2
	exit 1
}
checks=0
ok() { checks=$((checks + 1)); }
# eq EXPECTED ACTUAL WHAT
eq() {
	[ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
	ok
}
# eq_spans OUT SEQ WHAT: request SEQ's spans are $expected_spans (diff if not).
eq_spans() {
	local got
	got=$(spans_of "$1" "$2")
	if [ "$got" != "$expected_spans" ]; then
		printf 'selftest: %s: decoded spans differ (- expected, + got):\n' "$3" >&2
		diff -u <(jq . <<<"$expected_spans") <(jq . <<<"$got") | tail -n +3 >&2 || true
		fail "$3"
	fi
	ok
}

# ---- preflight ----------------------------------------------------------------
missing=()
for t in node curl protoc openssl gzip jq; do
	command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
[ -f "$PROTO_DIR/$PROTO" ] || missing+=("$PROTO_DIR/$PROTO (Debian package opentelemetry-proto)")
[ -d "$here/node_modules/@opentelemetry/otlp-transformer" ] ||
	missing+=("$here/node_modules (cd tests/otlp && npm ci)")
if [ ${#missing[@]} -gt 0 ]; then
	printf 'selftest: missing: %s\nselftest: scripts/install-deps.sh installs them\n' "${missing[*]}" >&2
	exit 2
fi

tmp=$(mktemp -d /tmp/tw-otlp-selftest.XXXXXX)
bg_pids=()
cleanup() {
	local rc=$? p
	for p in "${bg_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${bg_pids[@]}"; do
		for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	if [ "$rc" != 0 ]; then
		for f in "$tmp"/*.log; do
			[ -e "$f" ] || continue
			echo "---- $(basename "$f")"
			tail -n 30 "$f"
		done >&2
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# wait_exit PID SECONDS: wait for a background child; its status, or fail.
wait_exit() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$1" 2>/dev/null && fail "process $1 still runs after $2 s"
	local rc=0
	wait "$1" || rc=$?
	return "$rc"
}

# start_receiver NAME LISTEN [receiver options]: sets RX_PID, RX_PORT, RX_OUT.
start_receiver() {
	local name=$1 listen=$2 i
	shift 2
	RX_OUT=$tmp/$name
	node "$here/receiver.js" --listen "$listen" --out "$RX_OUT" \
		--ready-file "$tmp/$name.ready" "$@" >"$tmp/$name.log" 2>&1 &
	RX_PID=$!
	bg_pids+=("$RX_PID")
	for ((i = 0; i < 100; i++)); do
		[ -s "$tmp/$name.ready" ] && break
		kill -0 "$RX_PID" 2>/dev/null || fail "receiver $name exited before listening"
		sleep 0.1
	done
	[ -s "$tmp/$name.ready" ] || fail "receiver $name not ready after 10 s"
	RX_PORT=$(cat "$tmp/$name.ready")
	if ! [[ $RX_PORT =~ ^[0-9]+$ ]] || [ "$RX_PORT" = 0 ]; then fail "receiver $name: bad port '$RX_PORT' in ready file"; fi
}

# stop_receiver PID SIGNAL: it must exit 0 within 5 s.
stop_receiver() {
	kill "-$2" "$1"
	local rc=0
	wait_exit "$1" 5 || rc=$?
	eq 0 "$rc" "receiver exit status after SIG$2"
}

# [CT=TYPE] post URL [curl options]: POST with Content-Type TYPE (default
# application/x-protobuf); sets CODE to the HTTP status (000: no answer) and
# CURL_RC to curl's exit status; response headers in $tmp/resp.hdr, body in
# $tmp/resp.body. (Not in a subshell: the variables are the results.)
post() {
	local url=$1
	shift
	CURL_RC=0
	CODE=$(curl -sS -o "$tmp/resp.body" -D "$tmp/resp.hdr" -w '%{http_code}' --max-time 5 \
		-H "Content-Type: ${CT:-application/x-protobuf}" "$@" "$url" 2>>"$tmp/curl.log") || CURL_RC=$?
}

# req_field OUT SEQ JQ-EXPR: a field of request number SEQ in OUT/requests.jsonl.
req_field() { jq -r --argjson s "$2" "select(.seq == \$s) | $3" "$1/requests.jsonl"; }
# wait_lines FILE N SECONDS: until FILE has N lines.
wait_lines() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "$1: fewer than $2 lines after $3 s"
}

Q() { node "$here/query.js" "$@"; }

# ---- the bodies, made by protoc --------------------------------------------------
body=$tmp/body.pb
protoc --encode="$MSG" -I "$PROTO_DIR" "$PROTO" <"$here/sample-request.txt" >"$body" ||
	fail "protoc --encode of sample-request.txt"
body_size=$(stat -c %s "$body")
gzip -c "$body" >"$tmp/body.pb.gz"
gz_size=$(stat -c %s "$tmp/body.pb.gz")

# What every accepted copy of the sample must decode to (sorted keys, compact).
expected_spans=$(jq -S -c . <<'EOF'
{"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174","parent_span_id":"",
 "flags":257,"name":"GET /api/items","kind":2,"kind_name":"server",
 "start_ns":"1700000000123456789","end_ns":"1700000000223456791","duration_ns":"100000002",
 "attributes":{"http.request.method":{"s":"GET"},"url.path":{"s":"/api/items"},
   "http.response.status_code":{"i":"200"},"server.port":{"i":"8080"}},
 "attrs":{"http.request.method":"GET","url.path":"/api/items","http.response.status_code":"200","server.port":"8080"},
 "status":{"code":0,"message":""},
 "resource":{"service.name":{"s":"selftest-svc"},"process.pid":{"i":"4242"}},
 "resource_attrs":{"service.name":"selftest-svc","process.pid":"4242"},
 "scope":{"name":"tracewire","version":"0.1.0","attributes":{}},"problems":[]}
{"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"00f067aa0ba902b7","parent_span_id":"eee19b7ec3c1b174",
 "flags":1,"name":"GET","kind":3,"kind_name":"client",
 "start_ns":"1700000000150000001","end_ns":"9223372036854775809","duration_ns":"7523372036704775808",
 "attributes":{"http.response.status_code":{"i":"503"},"big.int":{"i":"9007199254740993"},"neg.int":{"i":"-42"},
   "ratio":{"d":1.5},"ok":{"b":false},"tags":{"a":[{"s":"a"},{"i":"7"}]},"raw":{"x":"00ff"}},
 "attrs":{"http.response.status_code":"503","big.int":"9007199254740993","neg.int":"-42","ratio":"1.5",
   "ok":"false","tags":"[\"a\",\"7\"]","raw":"00ff"},
 "status":{"code":2,"message":"upstream 503"},
 "resource":{"service.name":{"s":"selftest-svc"},"process.pid":{"i":"4242"}},
 "resource_attrs":{"service.name":"selftest-svc","process.pid":"4242"},
 "scope":{"name":"tracewire","version":"0.1.0","attributes":{}},"problems":[]}
EOF
)
# spans_of OUT SEQ: the spans of request SEQ, in the same projection.
spans_of() {
	jq -S -c --argjson s "$2" 'select(.request_seq == $s) | {trace_id, span_id, parent_span_id, flags, name,
		kind, kind_name, start_ns, end_ns, duration_ns, attributes, attrs, status, resource, resource_attrs,
		scope, problems}' "$1/spans.jsonl"
}

# ---- 1. plain POST over IPv4, exact decoding, headers -----------------------------
say "plain POST: exact ids, times, kinds, typed attributes; headers logged"
start_receiver plain 127.0.0.1:0
A_PID=$RX_PID A_OUT=$RX_OUT A_URL=http://127.0.0.1:$RX_PORT/v1/traces
post "$A_URL" --data-binary @"$body" -H 'X-Selftest: hello-1' -H 'Authorization: Bearer t0ken' \
	-H 'User-Agent: tw-selftest/1'
eq 200 "$CODE" "plain POST: HTTP status"
eq 0 "$(stat -c %s "$tmp/resp.body")" "200 response body size (empty ExportTraceServiceResponse)"
grep -qi '^content-type: application/x-protobuf' "$tmp/resp.hdr" || fail "200 response lacks Content-Type: application/x-protobuf"
ok
eq_spans "$A_OUT" 1 "decoded spans of request 1"
eq 1 "$(wc -l <"$A_OUT/requests.jsonl")" "requests.jsonl lines"
eq "POST /v1/traces 200 null" "$(req_field "$A_OUT" 1 '"\(.method) \(.path) \(.status_returned) \(.error)"')" "request 1 log"
eq "hello-1|Bearer t0ken|tw-selftest/1|application/x-protobuf" \
	"$(req_field "$A_OUT" 1 '"\(.headers["x-selftest"])|\(.headers.authorization)|\(.headers["user-agent"])|\(.headers["content-type"])"')" \
	"logged headers"
eq "null $body_size $body_size 2" "$(req_field "$A_OUT" 1 '"\(.content_encoding) \(.body_bytes) \(.decoded_bytes) \(.spans)"')" \
	"request 1 encoding/sizes/spans"
cmp -s "$body" "$A_OUT/bodies/0001.pb" || fail "bodies/0001.pb differs from the body sent"
ok
protoc --decode="$MSG" -I "$PROTO_DIR" "$PROTO" <"$A_OUT/bodies/0001.pb" >"$tmp/decoded.txt" ||
	fail "protoc --decode of bodies/0001.pb"
grep -q 'string_value: "selftest-svc"' "$tmp/decoded.txt" || fail "protoc --decode output lacks service.name"
ok
# query.js over the same output
eq 2 "$(Q "$A_OUT" count)" "query count"
eq 1 "$(Q "$A_OUT" count --service selftest-svc --kind server --name 'GET /api/items' --attr http.response.status_code=200)" \
	"query count with filters"
eq 0 "$(Q "$A_OUT" count --service other)" "query count --service other"
eq 1 "$(Q "$A_OUT" count --kind client --attr big.int=9007199254740993 --attr ok=false --no-attr url.path)" \
	"query count --attr/--no-attr"
eq /api/items "$(Q "$A_OUT" field -f attrs.url.path --kind server)" "query field attrs.url.path"
eq 9223372036854775809 "$(Q "$A_OUT" field -f end_ns --kind 3)" "query field end_ns"
eq '{"i":"-42"}' "$(Q "$A_OUT" field -f attributes.neg.int --kind client)" "query field typed attribute"
eq 1 "$(Q "$A_OUT" requests --status 200)" "query requests --status 200"
eq hello-1 "$(Q "$A_OUT" request-field -f headers.x-selftest)" "query request-field"
rc=0
Q "$A_OUT" count --kind bogus >/dev/null 2>&1 || rc=$?
eq 2 "$rc" "query.js exit status on bad usage"

# ---- 2. gzip ------------------------------------------------------------------------
say "gzip body"
CODE=$(gzip -c "$body" | curl -sS -o /dev/null -w '%{http_code}' --max-time 5 --data-binary @- \
	-H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: gzip' "$A_URL" 2>>"$tmp/curl.log") || true
eq 200 "$CODE" "gzip POST: HTTP status"
eq_spans "$A_OUT" 2 "decoded spans of the gzip request"
eq "gzip $gz_size $body_size" "$(req_field "$A_OUT" 2 '"\(.content_encoding) \(.body_bytes) \(.decoded_bytes)"')" \
	"gzip request: encoding, wire and decoded sizes"
cmp -s "$body" "$A_OUT/bodies/0002.pb" || fail "bodies/0002.pb is not the decompressed body"
ok

# ---- 3. rejected requests -------------------------------------------------------------
say "rejected requests: 404, 405, 415, 400"
post "${A_URL%/v1/traces}/v1/metrics" --data-binary @"$body"
eq 404 "$CODE" "POST /v1/metrics"
CODE=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$A_URL" 2>>"$tmp/curl.log") || true
eq 405 "$CODE" "GET /v1/traces"
CT=application/json post "$A_URL" --data-binary @"$body"
eq 415 "$CODE" "POST with Content-Type: application/json"
post "$A_URL" --data-binary @"$tmp/body.pb.gz" -H 'Content-Encoding: br'
eq 415 "$CODE" "POST with Content-Encoding: br"
printf '\x0a\xff\x01\x0a' >"$tmp/bad.pb"
post "$A_URL" --data-binary @"$tmp/bad.pb"
eq 400 "$CODE" "POST of a truncated protobuf"
req_field "$A_OUT" 7 .error | grep -q '^decode: ' || fail "request 7: no decode error logged"
ok
post "$A_URL" --data-binary @"$body" -H 'Content-Encoding: gzip'
eq 400 "$CODE" "POST of a non-gzip body labelled gzip"
req_field "$A_OUT" 8 .error | grep -q '^gunzip: ' || fail "request 8: no gunzip error logged"
ok
eq "200 200 404 405 415 415 400 400" "$(jq -r .status_returned "$A_OUT/requests.jsonl" | tr '\n' ' ' | sed 's/ $//')" \
	"status_returned of requests 1-8"
eq 4 "$(wc -l <"$A_OUT/spans.jsonl")" "spans.jsonl lines (rejected requests add none)"
stop_receiver "$A_PID" INT

# ---- 4. --script ---------------------------------------------------------------------
say "--script 429:1,503,400,hang then 200"
start_receiver script 127.0.0.1:0 --script 429:1,503,400,hang
B_PID=$RX_PID B_OUT=$RX_OUT B_URL=http://127.0.0.1:$RX_PORT/v1/traces
post "$B_URL" --data-binary @"$body"
eq 429 "$CODE" "scripted response 1"
eq "1" "$(sed -n 's/^retry-after: *\([^[:space:]]*\).*/\1/Ip' "$tmp/resp.hdr")" "Retry-After of the 429"
post "$B_URL" --data-binary @"$body"
eq 503 "$CODE" "scripted response 2"
post "$B_URL" --data-binary @"$body"
eq 400 "$CODE" "scripted response 3"
t0=$(date +%s%N)
post "$B_URL" --data-binary @"$body" --max-time 2
t1=$(date +%s%N)
eq 000 "$CODE" "scripted hang: no HTTP status"
eq 28 "$CURL_RC" "scripted hang: curl timed out (exit 28)"
[ $(((t1 - t0) / 1000000)) -ge 1900 ] || fail "scripted hang: curl gave up after $(((t1 - t0) / 1000000)) ms, not ~2 s"
ok
post "$B_URL" --data-binary @"$body"
eq 200 "$CODE" "response 5 (script used up)"
post "$B_URL" --data-binary @"$tmp/body.pb.gz" -H 'Content-Encoding: gzip'
eq 200 "$CODE" "response 6"
eq '429 503 400 "hang" 200 200' "$(jq -c .status_returned "$B_OUT/requests.jsonl" | tr '\n' ' ' | sed 's/ $//')" \
	"status_returned in requests.jsonl"
eq '"429:1" "503" "400" "hang" null null' "$(jq -c .scripted "$B_OUT/requests.jsonl" | tr '\n' ' ' | sed 's/ $//')" \
	"scripted in requests.jsonl"
eq "2 2 2 2 2 2" "$(jq -r .spans "$B_OUT/requests.jsonl" | tr '\n' ' ' | sed 's/ $//')" "spans decoded per request"
eq "5 5 6 6" "$(jq -r .request_seq "$B_OUT/spans.jsonl" | tr '\n' ' ' | sed 's/ $//')" \
	"spans.jsonl holds only the accepted requests' spans"
eq_spans "$B_OUT" 5 "decoded spans of request 5"
stop_receiver "$B_PID" TERM

say "SIGTERM with a hung request open"
start_receiver hang 127.0.0.1:0 --script hang
C_PID=$RX_PID C_OUT=$RX_OUT
curl -sS -o /dev/null --max-time 30 -H 'Content-Type: application/x-protobuf' --data-binary @"$body" \
	"http://127.0.0.1:$RX_PORT/v1/traces" >/dev/null 2>>"$tmp/curl.log" &
curl_pid=$!
bg_pids+=("$curl_pid")
wait_lines "$C_OUT/requests.jsonl" 1 10
eq '"hang"' "$(jq -c .status_returned "$C_OUT/requests.jsonl")" "hung request logged"
t0=$(date +%s%N)
stop_receiver "$C_PID" TERM
rc=0
wait_exit "$curl_pid" 5 || rc=$?
t1=$(date +%s%N)
[ "$rc" != 0 ] || fail "curl of the hung request exited 0"
# (the receiver's last resort is to exit 4 s after the signal; it must not need it)
[ $(((t1 - t0) / 1000000)) -lt 2500 ] || fail "the hung connection was not closed at SIGTERM (took $(((t1 - t0) / 1000000)) ms)"
ok
eq 0 "$(wc -l <"$C_OUT/spans.jsonl")" "spans of a hung request are not written"

# ---- 5. https ------------------------------------------------------------------------
say "https with a throw-away CA"
bash "$here/gen-cert.sh" "$tmp/certs" 127.0.0.1 >"$tmp/gen-cert.log" 2>&1 || fail "gen-cert.sh failed"
for f in ca.pem server.pem server.key; do [ -s "$tmp/certs/$f" ] || fail "gen-cert.sh wrote no $f"; done
ok
start_receiver tls 127.0.0.1:0 --tls-cert "$tmp/certs/server.pem" --tls-key "$tmp/certs/server.key"
D_PID=$RX_PID D_OUT=$RX_OUT D_URL=https://127.0.0.1:$RX_PORT/v1/traces
post "$D_URL" --data-binary @"$body"
eq 000 "$CODE" "https without the CA: no response"
eq 60 "$CURL_RC" "https without the CA: certificate rejected (curl exit 60)"
post "$D_URL" --cacert "$tmp/certs/ca.pem" --data-binary @"$body" -H 'X-Selftest: tls'
eq 200 "$CODE" "https POST with --cacert"
eq "true tls 200" "$(req_field "$D_OUT" 1 '"\(.tls) \(.headers["x-selftest"]) \(.status_returned)"')" "https request log"
eq_spans "$D_OUT" 1 "decoded spans of the https request"
stop_receiver "$D_PID" TERM

# ---- 6. IPv6 loopback ---------------------------------------------------------------------
if [ -r /proc/net/if_inet6 ] && grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6; then
	say "IPv6 [::1]"
	start_receiver v6 '[::1]:0'
	E_PID=$RX_PID E_OUT=$RX_OUT
	post "http://[::1]:$RX_PORT/v1/traces" --data-binary @"$body"
	eq 200 "$CODE" "POST over IPv6"
	req_field "$E_OUT" 1 .remote | grep -q '^::1:' || fail "IPv6 request: remote is not ::1"
	ok
	eq_spans "$E_OUT" 1 "decoded spans of the IPv6 request"
	stop_receiver "$E_PID" TERM
else
	say "IPv6 [::1]: not tested (no ::1 on this host)"
fi

say "PASS ($checks checks)"
