#!/usr/bin/env bash
# OTLP/HTTP export, checked by a receiver that decodes with the OpenTelemetry
# JS protobuf module (tests/otlp/receiver.js) and, for every body, by protoc
# with the official .proto files:
#   1. what arrives agrees span by span with tracewire's own JSON lines (ids,
#      times, kinds, names, typed attributes, status, resources), custom headers
#      arrive; plain http;
#   2. gzip over https with a throw-away CA;
#   3. 429 with Retry-After, 503, then 400: retried, retried, dropped;
#   4. backend down, then up: the bounded queue drops and counts, export resumes,
#      every span is accounted for;
#   5. a backend that accepts and never answers: each attempt ends at the
#      timeout, and SIGTERM still exits within the flush bound.
# The receiver listens on loopback in the root namespace, where tracewire runs.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

RECEIVER=$LAB_REPO/tests/otlp/receiver.js
QUERY=$LAB_REPO/tests/otlp/query.js
PROTO_DIR=/usr/include
PROTO=opentelemetry/proto/collector/trace/v1/trace_service.proto
FAST=(--trace-window 50 --bsp-schedule-delay 100)

lab_init
[ -d "$LAB_REPO/tests/otlp/node_modules/@opentelemetry/otlp-transformer" ] ||
	fail "the OTLP receiver's npm packages are missing: run scripts/install-deps.sh"
[ -r "$PROTO_DIR/$PROTO" ] || fail "opentelemetry-proto is missing: run scripts/install-deps.sh"

lab_pod srv 198.18.0.10/24
lab_pod cli 198.18.0.20/24
SRV=http://$(lab_ip srv):8080
lab_start_server python srv "$(lab_ip srv)" 8080
CG=(--cgroup "$(lab_cgroup srv)" --cgroup "$(lab_cgroup cli)")

# otlp_receiver NAME PORT [ARGS...]: start a receiver on 127.0.0.1:PORT (0: any);
# sets OTLP_DIR, OTLP_PORT, OTLP_PID.
otlp_receiver() {
	local name=$1 port=$2 deadline
	shift 2
	OTLP_DIR=$LAB_DIR/otlp-$name
	mkdir -p "$OTLP_DIR"
	node "$RECEIVER" --listen "127.0.0.1:$port" --out "$OTLP_DIR" \
		--ready-file "$OTLP_DIR/ready" "$@" >"$OTLP_DIR/stdout" 2>&1 </dev/null &
	OTLP_PID=$!
	LAB_PIDS+=("$OTLP_PID")
	deadline=$(($(date +%s%N) + 15000000000))
	until [ -s "$OTLP_DIR/ready" ]; do
		if ! lab__alive "$OTLP_PID"; then
			lab__show_file "$OTLP_DIR/stdout" "receiver output"
			fail "the OTLP receiver $name exited before it was ready"
		fi
		[ "$(date +%s%N)" -lt "$deadline" ] || fail "the OTLP receiver $name was not ready within 15 s"
		sleep 0.05
	done
	OTLP_PORT=$(cat "$OTLP_DIR/ready")
}

otlp_stop() {
	kill -TERM "$OTLP_PID" 2>/dev/null || true
	lab_wait_pid "$OTLP_PID" 10 || fail "the OTLP receiver did not exit on SIGTERM"
}

otlp_query() { node "$QUERY" "$OTLP_DIR" "$@"; }

# otlp_wait CMD... -ge N TIMEOUT: poll `otlp_query CMD...` until it prints >= N.
otlp_wait() {
	local n want=${*: -2:1} t=${*: -1} deadline
	local -a q=("${@:1:$#-3}")
	deadline=$(($(date +%s%N) + t * 1000000000))
	while :; do
		n=$(otlp_query "${q[@]}") || fail "query.js ${q[*]} failed"
		[ "$n" -lt "$want" ] || return 0
		[ "$(date +%s%N)" -lt "$deadline" ] || fail "receiver: only $n of $want (${q[*]}) within ${t}s"
		sleep 0.1
	done
}

# protoc's view of every body the receiver accepted: each decodes, and the
# spans in them add up to N.
protoc_agrees() {
	local want=$1 total=0 b n seq
	for seq in $(otlp_query request-field -f seq --status 200); do
		b=$(printf '%s/bodies/%04d.pb' "$OTLP_DIR" "$seq")
		[ -s "$b" ] || fail "no saved body $b"
		protoc --decode=opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest \
			-I "$PROTO_DIR" "$PROTO" <"$b" >"$b.txt" 2>"$b.err" ||
			{ lab__show_file "$b.err" "protoc"; fail "protoc cannot decode $b"; }
		n=$(grep -c '^    spans {$' "$b.txt" || true)
		total=$((total + n))
	done
	assert_eq "$want" "$total" "spans in the accepted bodies, as protoc decodes them"
}

# ---- 1. agreement, headers, resources (plain http) ----------------------------
lab_step "1. plain http: decoded spans agree with tracewire's own record"
otlp_receiver plain 0
tw_start "${CG[@]}" "${FAST[@]}" --exporter otlp --otlp-endpoint "http://127.0.0.1:$OTLP_PORT" \
	--otlp-header X-Scope-OrgID=team-a --otlp-header "Authorization=Basic%20dGVzdDp0ZXN0" \
	--resource-attributes deployment.environment=lab,k8s.cluster.name=eu%2C1
lab_exec_in_pod cli curl -sS -o /dev/null "$SRV/?x=1" -o /dev/null "$SRV/status/404" \
	-o /dev/null "$SRV/status/500" -o /dev/null -d hello "$SRV/" || true
lab_exec_in_pod cli curl -sS -o /dev/null "$SRV/close" || true
tw_wait_spans 10 30
otlp_wait count -ge 10 30
tw_stop
"$LAB_PY" "$LAB_REPO/tests/integration/otlp_compare.py" "$TW_JSONL" "$OTLP_DIR/spans.jsonl" \
	--expect 10 --resource deployment.environment=lab --resource k8s.cluster.name=eu,1
assert_eq team-a "$(otlp_query request-field -f headers.x-scope-orgid | sort -u)" "X-Scope-OrgID arrived"
assert_eq "Basic dGVzdDp0ZXN0" "$(otlp_query request-field -f headers.authorization | sort -u)" \
	"Authorization arrived percent-decoded"
assert_eq application/x-protobuf "$(otlp_query request-field -f content_type | sort -u)" "Content-Type"
assert_eq "$(otlp_query requests)" "$(otlp_query requests --path /v1/traces --status 200)" \
	"every request went to /v1/traces and was accepted"
protoc_agrees 10
assert_eq 10 "$(tw_exit_counter spans_exported)" "exit counter: otlp exported"
otlp_stop

# ---- 2. gzip over https with a private CA -------------------------------------
lab_step "2. gzip over https"
bash "$LAB_REPO/tests/otlp/gen-cert.sh" "$LAB_DIR/tls" 127.0.0.1 >"$LAB_DIR/gen-cert.log" 2>&1 ||
	{ lab__show_file "$LAB_DIR/gen-cert.log" "gen-cert"; fail "gen-cert.sh failed"; }
otlp_receiver tls 0 --tls-cert "$LAB_DIR/tls/server.pem" --tls-key "$LAB_DIR/tls/server.key"
tw_start "${CG[@]}" "${FAST[@]}" --exporter otlp --otlp-endpoint "https://127.0.0.1:$OTLP_PORT" \
	--otlp-certificate "$LAB_DIR/tls/ca.pem" --otlp-compression gzip --otlp-command-line
lab_exec_in_pod cli curl -sS -o /dev/null "$SRV/" -o /dev/null "$SRV/big"
tw_wait_spans 4 30
otlp_wait count -ge 4 30
tw_stop
"$LAB_PY" "$LAB_REPO/tests/integration/otlp_compare.py" "$TW_JSONL" "$OTLP_DIR/spans.jsonl" --expect 4
assert_eq gzip "$(otlp_query request-field -f content_encoding | sort -u)" "Content-Encoding"
assert_eq true "$(otlp_query request-field -f tls | sort -u)" "over TLS"
assert_match "$(otlp_query field -f resource_attrs.process.command_line --kind server | sort -u)" \
	"python_server\.py $(lab_ip srv) 8080\$" "process.command_line with --otlp-command-line"
assert_match "$(otlp_query field -f resource_attrs.process.executable.name --kind server | sort -u)" \
	'^python3[.0-9]*$' "process.executable.name of the server"
protoc_agrees 4
otlp_stop

# ---- 3. 429 + Retry-After, 503, 400 ---------------------------------------------
lab_step "3. 429 (Retry-After: 1), 503, 400"
otlp_receiver retry 0 --script 429:1,503,400
tw_start "${CG[@]}" "${FAST[@]}" --exporter otlp --otlp-endpoint "http://127.0.0.1:$OTLP_PORT"
lab_exec_in_pod cli curl -sS -o /dev/null "$SRV/first"
otlp_wait requests -ge 3 30
lab_exec_in_pod cli curl -sS -o /dev/null "$SRV/second"
tw_wait_spans 4 30
otlp_wait count --attr url.path=/second -ge 2 30
tw_stop
mapfile -t st < <(otlp_query request-field -f status_returned)
assert_eq "429 503 400" "${st[*]:0:3}" "the receiver's answers, in order"
mapfile -t ms < <(otlp_query request-field -f time_ms)
assert_ge $((ms[1] - ms[0])) 950 "the retry after 429 waited for Retry-After: 1 (ms)"
mapfile -t sent < <(otlp_query request-field -f spans)
assert_eq "${sent[0]}" "${sent[1]}" "the 503 attempt resent the 429 batch"
assert_eq "${sent[0]}" "${sent[2]}" "the 400 attempt resent the same batch"
rejected=$(tw_exit_counter dropped_rejected)
exported=$(tw_exit_counter spans_exported)
assert_eq "${sent[2]}" "$rejected" "spans dropped for the 400 (not retried)"
assert_eq 1 "$(otlp_query requests --status 400)" "the 400 was not retried"
assert_ge "$(tw_exit_counter retries)" 2 "retries counted"
assert_eq "$exported" "$(otlp_query count)" "exported spans are the ones the receiver kept"
assert_eq "$(tw_spans count)" "$((exported + rejected))" "every span exported or counted as rejected"
otlp_stop

# ---- 4. backend down, then up ----------------------------------------------------
lab_step "4. backend down, bounded queue, then up"
otlp_receiver probe 0 # only to find a free port
port=$OTLP_PORT
otlp_stop
tw_start "${CG[@]}" "${FAST[@]}" --exporter otlp --otlp-endpoint "http://127.0.0.1:$port" \
	--bsp-max-queue-size 40 --bsp-max-export-batch-size 10
LAB_EXPECT_CODE=200 lab_curl_many cli 60 2 "$SRV/status/200"
tw_wait_spans 120 30
otlp_receiver up "$port"
# What was held through the outage (queue + the batch in flight) goes out first.
otlp_wait count -ge 40 45
LAB_EXPECT_CODE=201 lab_curl_many cli 5 1 "$SRV/status/201"
otlp_wait count --attr url.path=/status/201 -ge 10 45
tw_stop
full=$(tw_exit_counter dropped_queue_full)
exported=$(tw_exit_counter spans_exported)
assert_gt "$full" 0 "spans dropped while the queue was full"
assert_eq "$exported" "$(otlp_query count)" "exported spans are the ones the receiver kept"
assert_eq "$(tw_spans count)" \
	"$((exported + full + $(tw_exit_counter dropped_retries) + $(tw_exit_counter dropped_rejected)))" \
	"every span exported or counted as dropped"
assert_le "$((exported - 10))" 50 "at most queue + one batch in flight were held through the outage"
otlp_stop

# ---- 5. a backend that never answers ------------------------------------------------
lab_step "5. a backend that accepts and never answers; bounded exit"
otlp_receiver hang 0 --script "$(printf 'hang,%.0s' $(seq 50))hang"
tw_start "${CG[@]}" "${FAST[@]}" --exporter otlp --otlp-endpoint "http://127.0.0.1:$OTLP_PORT" \
	--otlp-timeout 500 --bsp-export-timeout 1500
lab_exec_in_pod cli curl -sS -o /dev/null "$SRV/"
otlp_wait requests -ge 2 30 # the first attempt timed out and was retried
t0=$(date +%s%N)
tw_stop
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
assert_le "$elapsed_ms" 5000 "exit after SIGTERM with a hung backend (ms; flush bound 1500)"
assert_eq 0 "$(tw_exit_counter spans_exported)" "nothing exported"
assert_file_contains "$TW_LOG" "OTLP: .*(dropped|gave up)" "the loss is logged"
otlp_stop
lab_step "ok"
