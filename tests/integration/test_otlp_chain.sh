#!/usr/bin/env bash
# Linked traces over OTLP: the call chain of test_propagation_chain.sh
# (curl -> nginx -> python -> node, lab_chain) at concurrency 1, tracewire
# exporting OTLP/HTTP to tests/otlp/receiver.js, which decodes with the
# OpenTelemetry JS protobuf module (independent of tracewire's encoder).
# Checked on the receiver's decoded spans (spans.py from-otlp, then
# check-chain): every request is one complete trace, linked by the ids as
# they arrived: curl CLIENT (root) -> nginx SERVER -> nginx CLIENT -> python
# SERVER -> python CLIENT -> node SERVER, with the sources as attributes.
# Also: what arrived agrees span by span with tracewire's own JSON lines
# (otlp_compare.py: ids, parent ids, flags, attributes, resources), and the
# JSON lines pass the same chain check. The receiver listens on loopback in
# the root namespace, where tracewire runs.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS=${TW_OTLP_CHAIN_REQUESTS:-50}
RECEIVER=$LAB_REPO/tests/otlp/receiver.js
QUERY=$LAB_REPO/tests/otlp/query.js
FAST=(--trace-window 50 --bsp-schedule-delay 100)

lab_init
[ -d "$LAB_REPO/tests/otlp/node_modules/@opentelemetry/otlp-transformer" ] ||
	fail "the OTLP receiver's npm packages are missing: run scripts/install-deps.sh"

# otlp_receiver NAME: a receiver on 127.0.0.1 (a free port); sets OTLP_DIR,
# OTLP_PORT, OTLP_PID. (As in test_otlp_export.sh.)
otlp_receiver() {
	local deadline
	OTLP_DIR=$LAB_DIR/otlp-$1
	mkdir -p "$OTLP_DIR"
	node "$RECEIVER" --listen 127.0.0.1:0 --out "$OTLP_DIR" --ready-file "$OTLP_DIR/ready" \
		>"$OTLP_DIR/stdout" 2>&1 </dev/null &
	OTLP_PID=$!
	LAB_PIDS+=("$OTLP_PID")
	deadline=$(($(date +%s%N) + 15000000000))
	until [ -s "$OTLP_DIR/ready" ]; do
		if ! lab__alive "$OTLP_PID"; then
			lab__show_file "$OTLP_DIR/stdout" "receiver output"
			fail "the OTLP receiver exited before it was ready"
		fi
		[ "$(date +%s%N)" -lt "$deadline" ] || fail "the OTLP receiver was not ready within 15 s"
		sleep 0.05
	done
	OTLP_PORT=$(cat "$OTLP_DIR/ready")
}

otlp_query() { node "$QUERY" "$OTLP_DIR" "$@"; }

# otlp_wait_count N TIMEOUT: poll until the receiver has decoded >= N spans.
otlp_wait_count() {
	local n deadline
	deadline=$(($(date +%s%N) + $2 * 1000000000))
	while :; do
		n=$(otlp_query count) || fail "query.js count failed"
		[ "$n" -lt "$1" ] || return 0
		[ "$(date +%s%N)" -lt "$deadline" ] || fail "receiver: only $n of $1 spans within $2 s"
		sleep 0.1
	done
}

lab_step "pods c1 p1 m1 l1 and their servers; OTLP receiver"
lab_chain 1
otlp_receiver chain
tw_start "${LAB_CHAIN_CG[@]}" "${FAST[@]}" --exporter otlp --otlp-endpoint "http://127.0.0.1:$OTLP_PORT"
assert_file_lacks "$TW_LOG" "propagation: off" "propagation is on (tracewire log)"
lab_step "tracewire ready; $REQUESTS requests one at a time"
LAB_EXPECT_CODE=200 lab_curl_many "$LAB_CHAIN_CLI" "$REQUESTS" 1 "$LAB_CHAIN_URL/otlp"
CURL_PID=$LAB_LAST_PID
tw_wait_spans "$((6 * REQUESTS))" 60
otlp_wait_count "$((6 * REQUESTS))" 60
tw_stop
kill -TERM "$OTLP_PID" 2>/dev/null || true
lab_wait_pid "$OTLP_PID" 10 || fail "the OTLP receiver did not exit on SIGTERM"

TIERS=(--tier "cli=$CURL_PID" --tier "px=$LAB_CHAIN_PX" --tier "mid=$LAB_CHAIN_MID" --tier "leaf=$LAB_CHAIN_LEAF")
assert_eq "$((6 * REQUESTS))" "$(otlp_query count)" "spans the receiver decoded"
assert_eq "$(otlp_query requests)" "$(otlp_query requests --path /v1/traces --status 200)" \
	"every export request accepted"
assert_eq "$((6 * REQUESTS))" "$(tw_exit_counter spans_exported)" "exit counter spans_exported"
"$LAB_PY" "$LAB_REPO/tests/integration/otlp_compare.py" "$TW_JSONL" "$OTLP_DIR/spans.jsonl" \
	--expect "$((6 * REQUESTS))"

lab_step "the chain as decoded by the receiver"
"$LAB_PY" "$LAB_SPANS_PY" from-otlp "$OTLP_DIR/spans.jsonl" -o "$LAB_DIR/otlp-spans.jsonl"
"$LAB_PY" "$LAB_SPANS_PY" check-chain "$LAB_DIR/otlp-spans.jsonl" "${TIERS[@]}" --expect "$REQUESTS" \
	--exact-from mid --min-complete 1.0 | tee "$LAB_DIR/chain-otlp.txt"
line=$(grep -E '^complete [0-9]+/[0-9]+$' "$LAB_DIR/chain-otlp.txt")
echo "COMPLETENESS otlp c=1 ${line#complete }"
# The ids the receiver decoded are the ones tracewire wrote to its own file,
# so its JSON lines must pass the same check (otlp_compare.py saw them equal).
tw_spans check-chain "${TIERS[@]}" --expect "$REQUESTS" --exact-from mid --min-complete 1.0 >/dev/null

# For the record (not asserted): Span.flags as they arrived, by kind and
# parent source (bit 0 sampled; bits 8/9: whether the parent is remote is
# known / it is remote).
lab_step "Span.flags by kind and tracewire.parent.source (receiver's view)"
"$LAB_PY" - "$OTLP_DIR/spans.jsonl" <<'EOF'
import collections, json, sys
c = collections.Counter()
for line in open(sys.argv[1]):
    if line.strip():
        s = json.loads(line)
        src = (s.get("attrs") or {}).get("tracewire.parent.source", "?")
        c[(s.get("kind_name"), src, "0x%03x" % s.get("flags", 0))] += 1
for (kind, src, flags), n in sorted(c.items()):
    print(f"  {kind:<7} {src:<18} flags {flags}: {n}")
EOF
lab_step "ok"
