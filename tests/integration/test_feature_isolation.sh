#!/usr/bin/env bash
# A feature whose BPF programs cannot load costs only itself (issue 15).
#
#   cli (curl, not selected) -> srv (servers/header_echo.py, selected):
#   /call/N?to=DOWN/echo/N reports what srv received and what down received
#   from srv's own call -> down (header_echo.py, selected).
#
# TRACEWIRE_FAULT_INJECT=NAME retypes that feature's programs so the kernel's
# verifier really rejects them (injector/feature_set.c).
#   tls       TLS capture off (one warning, "features: ... tls OFF"); srv and
#             down still get SERVER spans, and down still receives the
#             traceparent srv's sk_msg inserted.
#   headers   sk_msg off: no traceparent reaches down (injected=0), spans are
#             still captured, the TLS object still loads.
#   go        the Go probes off; everything else on.
#   go-grpc   grpc-go's Go probes rejected: the Go probes load again without
#             them (one warning) and stay on; everything else on.
#   --probe   lists every feature's objects as loading or off (headers, with
#             the fault) without attaching anything.
#   --require the same fault with --require tls: tracewire exits 1 at start
#             naming the feature; --require with an unknown name exits 2.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

SRV_PORT=8080 DOWN_PORT=8081
REQUESTS=5

lab_init
lab_pod cli 198.18.0.20/24
lab_pod srv 198.18.0.10/24
lab_pod down 198.18.0.11/24
lab_start_cmd down "$(lab_ip down)" "$DOWN_PORT" \
	"$LAB_PY" "$LAB_SERVERS/header_echo.py" "$(lab_ip down)" "$DOWN_PORT"
DOWN_PID=$LAB_LAST_PID
lab_start_cmd srv "$(lab_ip srv)" "$SRV_PORT" \
	"$LAB_PY" "$LAB_SERVERS/header_echo.py" "$(lab_ip srv)" "$SRV_PORT"
SRV_PID=$LAB_LAST_PID
SRV=http://$(lab_ip srv):$SRV_PORT
DOWN=http://$(lab_ip down):$DOWN_PORT
CG=(--cgroup "$(lab_cgroup srv)" --cgroup "$(lab_cgroup down)")

# down_traceparents LABEL: REQUESTS calls; prints how many reached down with
# a traceparent.
down_traceparents() {
	local label=$1 i n=0 resp
	for ((i = 0; i < REQUESTS; i++)); do
		resp=$LAB_DIR/resp.$label.$i.json
		lab_exec_in_pod cli curl -sS --max-time 20 -o "$resp" "$SRV/call/$label$i?to=$DOWN/echo/$label$i" ||
			{ lab__show_file "$LAB_LAST_ERR" "curl stderr"; fail "$label: request $i failed"; }
		"$LAB_PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["downstream"]["headers"].get("traceparent") else 1)' \
			"$resp" && n=$((n + 1))
	done
	echo "$n"
}

lab_step "tls: its programs rejected; capture and header propagation go on"
TRACEWIRE_FAULT_INJECT=tls tw_start "${CG[@]}"
assert_file_contains "$TW_LOG" "TLS capture: off: its BPF programs could not be loaded" "tls: one warning says TLS capture is off"
assert_file_contains "$TW_LOG" "features: capture on, tls OFF, headers on, sockops on" "tls: the features line"
n=$(down_traceparents tls)
tw_wait_spans --kind server --pid "$DOWN_PID" "$REQUESTS" 30
tw_stop
assert_eq "$REQUESTS" "$n" "tls: down received srv's traceparent on every call"
assert_eq "$REQUESTS" "$(tw_spans count --kind server --pid "$SRV_PID")" "tls: srv's SERVER spans"
assert_eq "$REQUESTS" "$(tw_spans count --kind server --pid "$DOWN_PID" --attr tracewire.parent.source=header)" \
	"tls: down's SERVER spans parented by the header"

lab_step "headers: sk_msg rejected; capture and TLS go on, nothing is inserted"
TRACEWIRE_FAULT_INJECT=headers tw_start "${CG[@]}"
assert_file_contains "$TW_LOG" "propagation: sk_msg off: its program could not be loaded" "headers: one warning says sk_msg is off"
assert_file_contains "$TW_LOG" "features: capture on, tls on, headers OFF, sockops on" "headers: the features line"
n=$(down_traceparents hdr)
tw_wait_spans --kind server --pid "$DOWN_PID" "$REQUESTS" 30
tw_stop
assert_eq 0 "$n" "headers: no traceparent reached down"
assert_eq 0 "$(tw_exit_counter injected)" "headers: exit counter injected"
assert_eq "$REQUESTS" "$(tw_spans count --kind server --pid "$SRV_PID")" "headers: srv's SERVER spans"
assert_eq "$REQUESTS" "$(tw_spans count --kind client --pid "$SRV_PID")" "headers: srv's CLIENT spans"

lab_step "go: the Go probes rejected; the rest on"
TRACEWIRE_FAULT_INJECT=go tw_start "${CG[@]}"
assert_file_contains "$TW_LOG" "features: capture on, tls on, headers on, sockops on, ip-option off, go OFF" "go: the features line"
n=$(down_traceparents go)
tw_stop
assert_eq "$REQUESTS" "$n" "go: down received srv's traceparent on every call"

lab_step "go-grpc: grpc-go's programs rejected; the other Go probes on"
TRACEWIRE_FAULT_INJECT=go-grpc tw_start "${CG[@]}"
assert_file_contains "$TW_LOG" "go probes: loading the uprobe programs failed: .*again without grpc-go's" "go-grpc: the warning"
assert_file_contains "$TW_LOG" "features: capture on, tls on, headers on, sockops on, ip-option off, go on" "go-grpc: the features line"
n=$(down_traceparents go-grpc)
tw_stop
assert_eq "$REQUESTS" "$n" "go-grpc: down received srv's traceparent on every call"

lab_step "--probe: each feature's objects loaded alone, the rejected one named"
TRACEWIRE_FAULT_INJECT=headers timeout 60 "$TRACEWIRE" --probe >"$LAB_DIR/probe.out" 2>"$LAB_DIR/probe.err" ||
	fail "--probe exited $?"
assert_file_contains "$LAB_DIR/probe.out" "^  headers +headers\.bpf\.o +off: " "--probe: headers off"
for f in capture tls go; do
	assert_file_contains "$LAB_DIR/probe.out" "^  $f +[a-z]+\.bpf\.o +loads " "--probe: $f loads"
done

lab_step "--require: a required feature that is off stops the start"
rc=0
TRACEWIRE_FAULT_INJECT=tls timeout 60 "$TRACEWIRE" --exporter none "${CG[@]}" --require capture,tls \
	>/dev/null 2>"$LAB_DIR/require.log" || rc=$?
assert_eq 1 "$rc" "--require tls with TLS rejected: exit status"
assert_file_contains "$LAB_DIR/require.log" "--require tls: the feature is off" "--require: the message names the feature"
assert_file_lacks "$LAB_DIR/require.log" "^[^ ]* tracewire: info: ready" "--require: never ready"
rc=0
timeout 10 "$TRACEWIRE" --require capture,nonsense >/dev/null 2>"$LAB_DIR/require2.log" || rc=$?
assert_eq 2 "$rc" "--require with an unknown feature: exit status"
assert_file_contains "$LAB_DIR/require2.log" "unknown feature 'nonsense'" "--require: the unknown name is named"
lab_step "ok"
