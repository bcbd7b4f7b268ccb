#!/usr/bin/env bash
# Stopping (SIGTERM), starting and killing (SIGKILL) tracewire under load
# must not lose, fail or damage a single request.
#
# Load: servers/integrity_client.py load in pod cli, 4 worker threads, each a
# loop of keep-alive connections (a new one every 5..40 requests) sending
# GETs, POSTs with bodies up to 256 KiB in 1..4 sends that each start with
# request-looking bytes, chunked uploads, pipelined pairs and requests with
# the application's own traceparent, checking every response (sha256 and
# length of body and head as the integrity server received them). It runs
# through these phases (each ends after a number of further answered
# requests, all bounded in time):
#   1 tracewire (both pods) running            -> some requests injected
#   2 SIGTERM: tracewire exits 0; its sk_msg/sock_ops programs and its
#     sockhash are gone from the kernel        -> no request sent afterwards is injected
#   3 tracewire started again mid-load         -> new connections injected;
#     the connections already open are left alone (intact)
#   4 SIGKILL: programs and sockhash gone once its fds are (bpftool) -> none
#     injected afterwards, also on connections that were in the sockhash
# Assertions: the load's exit status 0 (no request failed, no response
# differed), every request reached the server exactly once with the body
# and head sent, no server parse error, at most one traceparent per request,
# the application's own kept unchanged, injected ones valid and distinct,
# phases 1 and 3 saw injected requests, phases 2 and 4 none; SIGTERM exit
# stats injected > 0 and fail_open 0.
# Finally tracewire is started once more and a full integrity client run
# (pipelined, split heads, application headers, mixed keep-alive) must be
# injected as the rules say (see test_propagation_integrity.sh).
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

PORT=8080
IC=$LAB_SERVERS/integrity_client.py
IS=$LAB_SERVERS/integrity_server.py
STEP=${TW_STOP_STEP_REQUESTS:-2000}   # answered requests per phase

ic_check() {
	"$LAB_PY" "$IC" check --summary "$LAB_DIR/summary.json" "$@"
}
sval() {
	"$LAB_PY" -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))' \
		"$LAB_DIR/summary.json" "$1"
}
now() { date +%s.%N; }
nlines() {
	if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}

# wait_lines FILE N TIMEOUT PID: until FILE has N lines (answered requests)
wait_lines() {
	local f=$1 want=$2 t=$3 pid=$4 deadline n
	deadline=$(($(date +%s%N) + t * 1000000000))
	while :; do
		n=$(nlines "$f")
		[ "$n" -lt "$want" ] || return 0
		if ! lab__alive "$pid"; then
			fail "the load ended early: $n of $want requests"
			lab__show_file "${LAB_LOG_OF[$pid]:-/dev/null}" "load output"
			return 1
		fi
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			fail "the load answered $n of $want requests within ${t}s"
			lab__show_file "${LAB_LOG_OF[$pid]:-/dev/null}" "load output"
			return 1
		fi
		sleep 0.1
	done
}

# tw_prop_objs: "prog ID" for each sock_ops (13) / sk_msg (16) program and
# "map ID" for each sockhash (18) the running tracewire holds an fd of
tw_prop_objs() {
	local f
	for f in /proc/"$TW_PID"/fdinfo/*; do
		awk '/^prog_type:/ { pt = $2 } /^prog_id:/ { pi = $2 }
			/^map_type:/ { mt = $2 } /^map_id:/ { mi = $2 }
			END { if (pt == 13 || pt == 16) print "prog " pi; if (mt == 18) print "map " mi }' \
			"$f" 2>/dev/null || true
	done | sort -u
}

# wait_objs_gone OBJS TIMEOUT: until bpftool no longer finds any of OBJS
wait_objs_gone() {
	local objs=$1 t=$2 deadline left kind id
	deadline=$(($(date +%s%N) + t * 1000000000))
	while :; do
		left=
		while read -r kind id; do
			[ -n "$id" ] || continue
			if bpftool "$kind" show id "$id" >/dev/null 2>&1; then left+="$kind $id; "; fi
		done <<<"$objs"
		[ -n "$left" ] || return 0
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			fail "still in the kernel ${t}s after tracewire ended: $left"
			while read -r kind id; do
				[ -z "$id" ] || bpftool "$kind" show id "$id" >&2 || true
			done <<<"$objs"
			bpftool cgroup show "$(lab_cgroup cli)" >&2 || true
			return 1
		fi
		sleep 0.05
	done
}

lab_init
command -v bpftool >/dev/null || { echo "SKIP: bpftool not found (needed to see the programs go)"; exit 77; }
lab_pod srv 198.18.0.10/24
lab_pod cli 198.18.0.20/24
srv_ip=$(lab_ip srv)
SLOG=$LAB_DIR/server.jsonl
LOAD=$LAB_DIR/load.jsonl
STOP=$LAB_DIR/load.stop
TWARGS=(--cgroup "$(lab_cgroup srv)" --cgroup "$(lab_cgroup cli)")

lab_step "integrity server in pod srv"
lab_run_in_pod srv "$LAB_PY" "$IS" --listen "$srv_ip:$PORT" --log "$SLOG"
srv_pid=$LAB_LAST_PID
lab_wait_port srv "$srv_ip" "$PORT" 20 "$srv_pid"

lab_step "phase 1: tracewire running, load started"
tw_start "${TWARGS[@]}"
t_ready1=$(now)
objs1=$(tw_prop_objs)
[ -n "$objs1" ] || fail "tracewire holds no sk_msg/sock_ops program or sockhash (propagation not loaded?)"
echo "  propagation objects: $(echo "$objs1" | tr '\n' ' ')"
lab_run_in_pod cli "$LAB_PY" "$IC" load --server "$srv_ip:$PORT" --out "$LOAD" --workers 4 \
	--duration 60 --stop-file "$STOP" --label l
load_pid=$LAB_LAST_PID
wait_lines "$LOAD" "$STEP" 60 "$load_pid"

lab_step "phase 2: SIGTERM ($(nlines "$LOAD") requests so far)"
t_term=$(now)
tw_stop
wait_objs_gone "$objs1" 15
t_gone1=$(now)
grep '^[^ ]* tracewire: info: stats (exit):' "$TW_LOG" || true
term_injected=$(tw_exit_counter injected)
assert_gt "$term_injected" 0 "SIGTERM run: exit counter injected"
assert_eq 0 "$(tw_exit_counter fail_open)" "SIGTERM run: exit counter fail_open"
lab_step "programs gone $(LC_ALL=C awk -v a="$t_term" -v b="$t_gone1" 'BEGIN { printf "%.3f", b - a }') s after SIGTERM"
wait_lines "$LOAD" "$(($(nlines "$LOAD") + STEP))" 60 "$load_pid"

lab_step "phase 3: tracewire started again mid-load ($(nlines "$LOAD") requests so far)"
t_start2=$(now)
tw_start "${TWARGS[@]}"
t_ready2=$(now)
objs2=$(tw_prop_objs)
[ -n "$objs2" ] || fail "restarted tracewire holds no sk_msg/sock_ops program or sockhash"
wait_lines "$LOAD" "$(($(nlines "$LOAD") + 2 * STEP))" 90 "$load_pid"

lab_step "phase 4: SIGKILL ($(nlines "$LOAD") requests so far)"
t_kill=$(now)
kill -KILL "$TW_PID"
rc=0
lab_wait_pid "$TW_PID" 15 || rc=$?
TW_PID=
assert_eq 137 "$rc" "tracewire exit status after SIGKILL"
wait_objs_gone "$objs2" 15
t_gone2=$(now)
lab_step "programs gone $(LC_ALL=C awk -v a="$t_kill" -v b="$t_gone2" 'BEGIN { printf "%.3f", b - a }') s after SIGKILL"
wait_lines "$LOAD" "$(($(nlines "$LOAD") + STEP))" 60 "$load_pid"

lab_step "stopping the load"
touch "$STOP"
rc=0
lab_wait_pid "$load_pid" 60 || rc=$?
tail -n 5 "${LAB_LOG_OF[$load_pid]}"
assert_eq 0 "$rc" "load exit status (no request failed, every response matched)"

lab_step "checking $(nlines "$LOAD") load requests"
ic_check --client "$LOAD" --server-log "$SLOG" --label l --mode at-most-one --sampled \
	--active-window "$t_ready1" "$t_term" --quiet-window "$t_gone1" "$t_start2" \
	--active-window "$t_ready2" "$t_kill" --quiet-window "$t_gone2" 1e12
assert_gt "$(sval injected)" 0 "load requests injected"
lab_step "load: $(sval requests) requests, $(sval injected) injected, $(sval app_kept) application headers kept"

lab_step "tracewire once more: injection works again"
tw_start "${TWARGS[@]}"
if ! lab_exec_in_pod cli "$LAB_PY" "$IC" run --server "$srv_ip:$PORT" --out "$LAB_DIR/client.r.jsonl" \
	--scenarios pipelined,split,app,mixed --max-body 1048576 --label r; then
	lab__show_file "$LAB_LAST_ERR" "client stderr"
	fail "client after the restart saw differences or failures"
fi
cat "$LAB_LAST_OUT"
tw_stop
ic_check --client "$LAB_DIR/client.r.jsonl" --server-log "$SLOG" --label r --mode rules --sampled
assert_gt "$(sval injected)" 0 "injected after the restart"
assert_eq "$(sval injected)" "$(tw_exit_counter injected)" "exit counter injected after the restart"
lab_step "ok"
