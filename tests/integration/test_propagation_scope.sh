#!/usr/bin/env bash
# Where tracewire must not inject, it does not (and traffic stays intact);
# where it must, it does. Integrity server in pod srv (198.18.0.10,
# fd00::10, port 8080), integrity client (servers/integrity_client.py run:
# pipelined, split heads, application traceparents, mixed keep-alive over
# IPv4 and IPv6, bodies up to 64 KiB) in pod cli, one tracewire run per case:
#   (a)  --propagate-to 198.19.200.0/24 (not the server): no traceparent on
#        any request (the application's own kept), injected 0,
#        socks_out_of_scope > 0, socks_added 0
#   (a+) --propagate-to 198.18.0.0/24 --propagate-to fd00::/64: injected as
#        the rules say (positive control for (a))
#   (a6) --propagate-to fd00::/64 only: IPv4 requests none, IPv6 as the rules
#   (b)  only the server pod's cgroup selected (client not selected): none,
#        injected 0
#   (c)  --propagation none (both pods): none, injected 0
#   (d)  --propagate-port 9999: none; --propagate-port 8080: as the rules
# Every case also checks every body and head byte-identical (see
# test_propagation_integrity.sh for the rules).
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

PORT=8080
IC=$LAB_SERVERS/integrity_client.py
IS=$LAB_SERVERS/integrity_server.py
SCEN=pipelined,split,app,mixed,mixed6

ic_check() {
	"$LAB_PY" "$IC" check --summary "$LAB_DIR/summary.json" "$@"
}
sval() {
	"$LAB_PY" -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))' \
		"$LAB_DIR/summary.json" "$1"
}

# run_client LABEL SCENARIOS: client in pod cli; fails unless every response matched
run_client() {
	local label=$1 scen=$2
	if ! lab_exec_in_pod cli "$LAB_PY" "$IC" run --server "$srv_ip:$PORT" --server6 "[$srv_ip6]:$PORT" \
		--out "$LAB_DIR/client.$label.jsonl" --scenarios "$scen" --max-body 65536 --label "$label"; then
		cat "$LAB_LAST_OUT"
		lab__show_file "$LAB_LAST_ERR" "client stderr"
		ic_check --client "$LAB_DIR/client.$label.jsonl" --server-log "$SLOG" --label "$label" \
			--mode at-most-one || true
		fail "$label: client saw differences or failures"
	fi
	tail -n 1 "$LAB_LAST_OUT"
}

# case_none LABEL TW_ARGS...: no request may carry an injected traceparent
case_none() {
	local label=$1
	shift
	lab_step "$label: tracewire $*"
	tw_start "$@"
	run_client "$label" "$SCEN"
	tw_stop
	ic_check --client "$LAB_DIR/client.$label.jsonl" --server-log "$SLOG" --label "$label" --mode none
	assert_gt "$(sval requests)" 100 "$label: requests checked"
	if [ "${PROP_COUNTERS_OPTIONAL:-0}" = 1 ] && ! grep -q '^[^ ]* tracewire: info: stats (exit):.* injected=' "$TW_LOG"; then
		echo "  ($label: no propagation counters in the exit stats)"
	else
		assert_eq 0 "$(tw_exit_counter injected)" "$label: exit counter injected"
	fi
}

# case_rules LABEL TW_ARGS...: injected as the rules say
case_rules() {
	local label=$1
	shift
	lab_step "$label: tracewire $*"
	tw_start "$@"
	run_client "$label" "$SCEN"
	tw_stop
	ic_check --client "$LAB_DIR/client.$label.jsonl" --server-log "$SLOG" --label "$label" --mode rules --sampled
	assert_gt "$(sval injected)" 0 "$label: injected traceparents"
	assert_eq "$(sval injected)" "$(tw_exit_counter injected)" "$label: exit counter injected"
}

lab_init
lab_pod srv 198.18.0.10/24
lab_pod cli 198.18.0.20/24
srv_ip=$(lab_ip srv)
srv_ip6=$(lab_ip6 srv)
SLOG=$LAB_DIR/server.jsonl
SRV=$(lab_cgroup srv)
CLI=$(lab_cgroup cli)

lab_step "integrity server in pod srv ($srv_ip, $srv_ip6 port $PORT)"
lab_run_in_pod srv "$LAB_PY" "$IS" --listen "$srv_ip:$PORT" --listen "[$srv_ip6]:$PORT" --log "$SLOG"
srv_pid=$LAB_LAST_PID
lab_wait_port srv "$srv_ip" "$PORT" 20 "$srv_pid"

# (a) a scope that does not hold the server
case_none a --cgroup "$SRV" --cgroup "$CLI" --propagate-to 198.19.200.0/24
assert_gt "$(tw_exit_counter socks_out_of_scope)" 0 "a: exit counter socks_out_of_scope"
assert_eq 0 "$(tw_exit_counter socks_added)" "a: exit counter socks_added"

# (a+) a scope that holds it, both families
case_rules ap --cgroup "$SRV" --cgroup "$CLI" --propagate-to 198.18.0.0/24 --propagate-to fd00::/64

# (a6) only the IPv6 network: IPv4 requests none, IPv6 ones as the rules say
lab_step "a6: tracewire --propagate-to fd00::/64"
tw_start --cgroup "$SRV" --cgroup "$CLI" --propagate-to fd00::/64
run_client a6v4 pipelined,split,app,mixed
run_client a6v6 mixed6
tw_stop
ic_check --client "$LAB_DIR/client.a6v4.jsonl" --server-log "$SLOG" --label a6v4 --mode none
ic_check --client "$LAB_DIR/client.a6v6.jsonl" --server-log "$SLOG" --label a6v6 --mode rules --sampled
v6=$(sval injected)
assert_gt "$v6" 0 "a6: injected IPv6 requests"
assert_eq "$v6" "$(tw_exit_counter injected)" "a6: exit counter injected (IPv6 only)"
assert_gt "$(tw_exit_counter socks_out_of_scope)" 0 "a6: exit counter socks_out_of_scope (the IPv4 connections)"

# (b) the client pod not selected
case_none b --cgroup "$SRV"
assert_eq 0 "$(tw_exit_counter socks_added)" "b: exit counter socks_added"

# (c) propagation off
PROP_COUNTERS_OPTIONAL=1 case_none c --cgroup "$SRV" --cgroup "$CLI" --propagation none

# (d) port scope
case_none d --cgroup "$SRV" --cgroup "$CLI" --propagate-port 9999
assert_gt "$(tw_exit_counter socks_out_of_scope)" 0 "d: exit counter socks_out_of_scope"
case_rules dp --cgroup "$SRV" --cgroup "$CLI" --propagate-port "$PORT"

lab_step "ok"
