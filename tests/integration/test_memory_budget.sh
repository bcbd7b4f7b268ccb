#!/usr/bin/env bash
# Memory budget (--memory-limit, issue 16 item 1), quickly: tracewire with a
# 48 MiB budget (a connection bound of about 1,400) selects a server pod whose
# server reads every byte and never answers; a client pod opens 3,000
# connections, each holding an unfinished request head. The bound must hold:
# connections evicted and counted, the "memory bounds reached" line logged
# (once), tracewire's peak RSS (VmHWM) below the limit; and once the flood is
# gone, normal requests to a server in the same pod become spans again.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

LIMIT_MIB=48
NCONN=${TW_BUDGET_CONNS:-3000}
HOLD=8
LOAD=$LAB_REPO/bench/hostile_load.py

lab_init
lab_pod srv 198.18.0.10/24
lab_pod cli 198.18.0.20/24
srv_ip=$(lab_ip srv)
lab_start_server python srv "$srv_ip" 8080
ok_pid=$LAB_LAST_PID
lab_start_cmd srv "$srv_ip" 8081 "$LAB_PY" "$LOAD" server "$srv_ip" 8081

tw_start --cgroup "$(lab_cgroup srv)" --memory-limit "${LIMIT_MIB}M" --stats-interval 1
budget=$(grep -m1 'info: memory budget' "$TW_LOG") || fail "no 'memory budget' line at start"
lab__say "$budget"
max_conns=$(grep -o 'conns=[0-9]*' <<<"$budget" | head -n 1 | cut -d= -f2)
assert_lt "$max_conns" "$NCONN" "the connection bound of a ${LIMIT_MIB} MiB budget"
assert_match "$budget" 'ringbuf=[0-9]+ KiB' "the budget line names the BPF bounds"

lab_step "$NCONN connections with unfinished heads, held ${HOLD} s"
lab_run_in_pod cli "$LAB_PY" "$LOAD" heads "$srv_ip" 8081 "$NCONN" "$HOLD"
load_pid=$LAB_LAST_PID
for ((i = 0; i < 300; i++)); do
	grep -q '^ready' "$LAB_LAST_LOG" && break
	sleep 0.1
done
grep '^ready' "$LAB_LAST_LOG" || fail "the load generator did not open its connections"
# wait for the correlator to have seen them, then for the bound's log line
for ((i = 0; i < 100; i++)); do
	grep -q 'warn: memory bounds reached: conns_evicted=[1-9]' "$TW_LOG" && break
	sleep 0.1
done
assert_file_contains "$TW_LOG" 'warn: memory bounds reached: conns_evicted=[1-9]' \
	"evictions at the connection bound are logged"
lab_wait_pid "$load_pid" 30 >/dev/null || true

lab_step "after the flood: normal requests"
for i in 1 2 3 4 5; do
	lab_exec_in_pod cli curl -sf -o /dev/null "http://$srv_ip:8080/?after=$i" ||
		fail "request $i after the flood failed"
done
tw_wait_spans --kind server --pid "$ok_pid" 5 20
hwm_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$TW_PID/status")
tw_stop

lab__say "peak RSS ${hwm_kib} KiB; limit $((LIMIT_MIB * 1024)) KiB"
assert_lt "$hwm_kib" $((LIMIT_MIB * 1024)) "tracewire's peak RSS (VmHWM) stays below --memory-limit"
n=$(grep -c 'warn: memory bounds reached:' "$TW_LOG")
assert_eq 1 "$n" "the bounds line is logged at most once a minute"
exit_line=$(grep 'warn: memory bounds reached (exit)' "$TW_LOG") ||
	fail "no bounds line at exit"
evicted=$(grep -o 'conns_evicted=[0-9]*' <<<"$exit_line" | cut -d= -f2)
assert_ge "$evicted" $((NCONN - max_conns)) "connections evicted at the bound"
tw_spans check-requests --kind server --pid "$ok_pid" --expect 5 --status 200
lab_step "ok: bound ${max_conns} connections, ${evicted} evicted, peak RSS ${hwm_kib} KiB"
