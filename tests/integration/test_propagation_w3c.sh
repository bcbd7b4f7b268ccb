#!/usr/bin/env bash
# W3C Trace Context on the server side, and what goes on to the next service.
#
#   cli (curl, NOT selected: its requests carry exactly the headers we give)
#     -> srv (servers/header_echo.py, selected): /call/CASE?to=DOWN/echo/CASE
#        reports the headers it received and calls down, reporting what down
#        received (a new connection; no header passed on by the application)
#     -> down (header_echo.py, selected)
#
# For each case curl sends one request with a given traceparent (and maybe
# tracestate). Checked from srv's echo (what srv received: as sent, nothing
# injected on the unselected client), down's echo (what tracewire injected)
# and tracewire's spans:
#   valid (lowercase, flags 01 and 03; header name in mixed case; a higher
#   version with and without extra fields): srv's SERVER span continues the
#   trace: same trace_id, parent_span_id = the header's parent-id, source
#   header, trace_flags as sent;
#   invalid (uppercase hex, trace-id of 31 digits, parent-id of 15, all-zero
#   trace-id, all-zero parent-id, version ff, version 00 with extra fields,
#   non-hex flags, garbage; and no header at all): a new trace: another
#   trace_id, no parent, source none, sampled (--sample-ratio default 1);
#   every case: srv's CLIENT span is the SERVER span's child (source connect
#   or thread),
#   down's SERVER span the CLIENT span's (source header), and down received
#   exactly "traceparent: 00-<trace>-<srv client span>-<flags>", and no
#   tracestate;
#   tracestate "vendor=abc" with a valid traceparent reaches down unchanged
#   with the same trace id, on a new connection (connect rule) and on a
#   kept-alive one (thread rule); with an invalid traceparent it is dropped;
#   flags 00 (unsampled): down receives the same trace id with flags 00, and
#   no span of that trace (nor of that request) is exported.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

SRV_PORT=8080 DOWN_PORT=8081

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

hex() { "$LAB_PY" -c 'import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))' "$1"; }
upper() { tr 'a-f' 'A-F' <<<"$1"; }

# jget FILE KEY.KEY...: a value from a JSON file ("" when absent; lists as JSON).
jget() {
	"$LAB_PY" - "$@" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d.get(k) if isinstance(d, dict) else None
print("" if d is None else d if isinstance(d, str) else json.dumps(d))
EOF
}

# Cases: NAME|EXPECT|HEADER-NAME|TRACEPARENT|TRACESTATE|TRACE-ID|PARENT-ID|FLAGS
# EXPECT: cont (continues TRACE-ID under PARENT-ID with FLAGS), new, unsampled.
CASES=()
add_case() { CASES+=("$1|$2|$3|$4|$5|$6|$7|$8"); }
t=$(hex 16) p=$(hex 8); add_case v01 cont traceparent "00-$t-$p-01" "" "$t" "$p" 1
t=$(hex 16) p=$(hex 8); add_case v03 cont traceparent "00-$t-$p-03" "" "$t" "$p" 3
t=$(hex 16) p=$(hex 8); add_case vname cont TraceParent "00-$t-$p-01" "" "$t" "$p" 1
t=$(hex 16) p=$(hex 8); add_case vhigher cont traceparent "01-$t-$p-01-extra" "" "$t" "$p" 1
t=$(hex 16) p=$(hex 8); add_case vhigher55 cont traceparent "01-$t-$p-01" "" "$t" "$p" 1
t=$(hex 16) p=$(hex 8); add_case tstate cont traceparent "00-$t-$p-01" "vendor=abc" "$t" "$p" 1
add_case noheader new "" "" "" "" "" ""
t=$(hex 16) p=$(hex 8); add_case upper new traceparent "00-$(upper "$t")-$(upper "$p")-01" "" "$t" "" ""
t=$(hex 16) p=$(hex 8); add_case tid31 new traceparent "00-${t:0:31}-$p-01" "" "${t:0:31}" "" ""
t=$(hex 16) p=$(hex 8); add_case pid15 new traceparent "00-$t-${p:0:15}-01" "" "$t" "" ""
p=$(hex 8); add_case tid0 new traceparent "00-00000000000000000000000000000000-$p-01" "" "" "" ""
t=$(hex 16); add_case pid0 new traceparent "00-$t-0000000000000000-01" "" "$t" "" ""
t=$(hex 16) p=$(hex 8); add_case verff new traceparent "ff-$t-$p-01" "" "$t" "" ""
t=$(hex 16) p=$(hex 8); add_case v00extra new traceparent "00-$t-$p-01-extra" "" "$t" "" ""
t=$(hex 16) p=$(hex 8); add_case flagsbad new traceparent "00-$t-$p-0g" "" "$t" "" ""
add_case garbage new traceparent "hello world" "" "" "" ""
add_case tsinvalid new traceparent "hello world" "vendor=abc" "" "" ""
t=$(hex 16) p=$(hex 8); add_case unsampled unsampled traceparent "00-$t-$p-00" "" "$t" "$p" 0
UNSAMPLED_TRACE=$t

tw_start --cgroup "$(lab_cgroup srv)" --cgroup "$(lab_cgroup down)"
assert_file_lacks "$TW_LOG" "propagation: off" "propagation is on (tracewire log)"
lab_step "tracewire ready; ${#CASES[@]} cases, one request each"
sampled=0
for c in "${CASES[@]}"; do
	IFS='|' read -r name expect hname tp ts _ <<<"$c"
	args=(-sS --max-time 20 -o "$LAB_DIR/resp.$name.json" -w '%{http_code}')
	[ -z "$hname" ] || args+=(-H "$hname: $tp")
	[ -z "$ts" ] || args+=(-H "tracestate: $ts")
	lab_exec_in_pod cli curl "${args[@]}" "$SRV/call/$name?to=$DOWN/echo/$name" ||
		{ lab__show_file "$LAB_LAST_ERR" "curl stderr"; fail "case $name: curl failed"; }
	assert_eq 200 "$(cat "$LAB_LAST_OUT")" "case $name: HTTP status"
	[ "$expect" = unsampled ] || sampled=$((sampled + 1))
done
# tracestate on both ways a CLIENT span finds its parent: two requests on
# one curl connection, so one srv thread handles both and calls down over
# its one kept-alive connection (keep=1): the first call is the first
# request on that connection (connect rule), the second is not (thread rule).
ka_t1=$(hex 16) ka_p1=$(hex 8) ka_t2=$(hex 16) ka_p2=$(hex 8)
lab_exec_in_pod cli curl -sS --max-time 20 -w '%{http_code} %{num_connects}\n' \
	-H "traceparent: 00-$ka_t1-$ka_p1-01" -H "tracestate: vendor=abc" -o "$LAB_DIR/resp.ka1.json" \
	"$SRV/call/ka1?to=$DOWN/echo/ka1&keep=1" --next -sS --max-time 20 -w '%{http_code} %{num_connects}\n' \
	-H "traceparent: 00-$ka_t2-$ka_p2-01" -H "tracestate: vendor=def,other=1" -o "$LAB_DIR/resp.ka2.json" \
	"$SRV/call/ka2?to=$DOWN/echo/ka2&keep=1" ||
	{ lab__show_file "$LAB_LAST_ERR" "curl stderr"; fail "keep-alive tracestate requests: curl failed"; }
assert_eq "200 1,200 0" "$(paste -sd, "$LAB_LAST_OUT")" "keep-alive tracestate requests: status and connections"
sampled=$((sampled + 2))
lab_step "waiting for the spans of $sampled sampled requests (3 each)"
tw_wait_spans "$((3 * sampled))" 30
tw_stop
tw_spans validate
assert_eq 0 "$(tw_spans count --pid "$SRV_PID" --pid "$DOWN_PID" --no-attr tracewire.parent.source)" \
	"spans without tracewire.parent.source"

# one_span WHAT FILTER...: the fields of exactly one matching span, as
# "trace span parent flags source".
one_span() {
	local what=$1 out n
	shift
	out=$(tw_spans fields "$@" -f trace_id -f span_id -f parent_span_id -f trace_flags \
		-f attributes.tracewire.parent.source)
	n=$(printf '%s' "$out" | grep -c . || true)
	[ "$n" = 1 ] || { fail "$what: $n matching spans, expected 1"; tw_spans list "$@" >&2; return 1; }
	# empty parent: keep the field count with a "-"
	awk -F '\t' '{ printf "%s %s %s %s %s\n", $1, $2, ($3 == "" ? "-" : $3), $4, $5 }' <<<"$out"
}

new_traces=()
for c in "${CASES[@]}"; do
	IFS='|' read -r name expect hname tp ts want_t want_p want_f <<<"$c"
	resp=$LAB_DIR/resp.$name.json
	# What srv received is what curl sent: nothing injected on the client.
	assert_eq "$tp" "$(jget "$resp" headers.traceparent)" "case $name: traceparent srv received"
	assert_eq "$ts" "$(jget "$resp" headers.tracestate)" "case $name: tracestate srv received"
	down_tp=$(jget "$resp" downstream.headers.traceparent)
	down_ts=$(jget "$resp" downstream.headers.tracestate)
	if [ "$expect" = unsampled ]; then
		assert_match "$down_tp" "^00-$want_t-[0-9a-f]{16}-00\$" "case $name: traceparent down received"
		assert_ne "00-$want_t-0000000000000000-00" "$down_tp" "case $name: parent-id down received"
		assert_ne "$tp" "$down_tp" "case $name: down got a new parent-id (srv's client span)"
		assert_eq "" "$down_ts" "case $name: tracestate down received"
		continue
	fi
	x=$(one_span "case $name: srv SERVER span" --kind server --pid "$SRV_PID" --path "/call/$name")
	read -r s_trace s_span s_parent s_flags s_src <<<"$x"
	x=$(one_span "case $name: srv CLIENT span" --kind client --pid "$SRV_PID" --path "/echo/$name")
	read -r c_trace c_span c_parent c_flags c_src <<<"$x"
	x=$(one_span "case $name: down SERVER span" --kind server --pid "$DOWN_PID" --path "/echo/$name")
	read -r d_trace _ d_parent d_flags d_src <<<"$x"
	if [ "$expect" = cont ]; then
		assert_eq "$want_t" "$s_trace" "case $name ($tp): SERVER span trace_id"
		assert_eq "$want_p" "$s_parent" "case $name ($tp): SERVER span parent_span_id"
		assert_eq header "$s_src" "case $name ($tp): SERVER span parent source"
		assert_eq "$want_f" "$s_flags" "case $name ($tp): SERVER span trace_flags"
	else
		[ -z "$want_t" ] || assert_ne "$want_t" "$s_trace" "case $name ($tp): SERVER span trace_id (a new one)"
		assert_eq - "$s_parent" "case $name ($tp): SERVER span parent_span_id (none)"
		assert_eq none "$s_src" "case $name ($tp): SERVER span parent source"
		assert_eq 1 "$((s_flags & 1))" "case $name ($tp): SERVER span sampled (ratio 1)"
		new_traces+=("$s_trace")
	fi
	assert_eq "$s_trace $s_span $s_flags" "$c_trace $c_parent $c_flags" \
		"case $name: srv CLIENT span (trace, parent, flags)"
	# a new connection per call: its first request (connect); thread is as right
	assert_match "$c_src" '^(connect|thread)$' "case $name: srv CLIENT span parent source"
	assert_eq "$s_trace $c_span header $s_flags" "$d_trace $d_parent $d_src $d_flags" \
		"case $name: down SERVER span (trace, parent, source, flags)"
	assert_eq "$(printf '00-%s-%s-%02x' "$s_trace" "$c_span" "$s_flags")" "$down_tp" \
		"case $name: traceparent down received"
	if [ "$name" = tstate ]; then
		assert_eq vendor=abc "$down_ts" "case $name: tracestate down received"
	else
		assert_eq "" "$down_ts" "case $name: tracestate down received"
	fi
	lab_step "case $name ok: $tp -> $down_tp${down_ts:+ (tracestate $down_ts)}"
done
for k in 1 2; do
	resp=$LAB_DIR/resp.ka$k.json
	if [ "$k" = 1 ]; then want_t=$ka_t1 want_ts=vendor=abc; else want_t=$ka_t2 want_ts=vendor=def,other=1; fi
	x=$(one_span "ka$k: srv CLIENT span" --kind client --pid "$SRV_PID" --path "/echo/ka$k")
	read -r c_trace c_span _ _ c_src <<<"$x"
	assert_eq "$want_t" "$c_trace" "ka$k: srv CLIENT span trace_id"
	assert_eq "00-$want_t-$c_span-01" "$(jget "$resp" downstream.headers.traceparent)" \
		"ka$k ($c_src rule): traceparent down received"
	assert_eq "$want_ts" "$(jget "$resp" downstream.headers.tracestate)" \
		"ka$k ($c_src rule): tracestate down received"
	lab_step "ka$k ok: tracestate $want_ts went down ($c_src rule)"
done
assert_eq "${#new_traces[@]}" "$(printf '%s\n' "${new_traces[@]}" | sort -u | wc -l)" \
	"every new trace has its own trace id"
# Flags 00: nothing of that trace, nor of those requests, is exported.
assert_eq 0 "$(tw_spans count --trace-id "$UNSAMPLED_TRACE")" "spans of the unsampled trace"
assert_eq 0 "$(tw_spans count --path /call/unsampled)" "spans of the unsampled request at srv"
assert_eq 0 "$(tw_spans count --path /echo/unsampled)" "spans of the unsampled request's call to down"
lab_step "unsampled $UNSAMPLED_TRACE went down with flags 00, nothing exported"
assert_eq "$((3 * sampled))" "$(tw_spans count)" "spans in the file: srv SERVER + srv CLIENT + down SERVER per sampled request"
lab_step "ok"
