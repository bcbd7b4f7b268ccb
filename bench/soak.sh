#!/usr/bin/env bash
# Soak and chaos runs (issue 16, item 7), by hand or nightly; needs root and a
# build (make). Each scenario builds a fresh three-hop chain of lab pods
# (tests/integration/lab.sh) with propagation on (tracewire's default,
# --propagation headers):
#
#   client (bench/soak/soak_client.py, pod sc, not selected)
#     -> nginx proxy_pass, keep-alive upstream pool (pod sp)
#     -> tests/integration/servers/chain_mid.py --pass-path (pod sm)
#     -> tests/integration/servers/integrity_server.py (pod sl)
#
# The client sends GETs and POSTs (0-8 KiB bodies) with a unique ?rid= and
# checks each answer is the leaf's report of its own request; the leaf logs
# every request it got (bench/soak/soak_check.py leaf: duplicates, parse
# errors, traceparent headers per request, traceparent values reused);
# tracewire's spans (jsonl) give complete traces (SERVER spans of nginx, mid
# and leaf and CLIENT spans of nginx and mid in one trace).
#
#   soak   SOAK_REQUESTS (default 10^6) requests, bounded by SOAK_MAX_SECONDS
#          (3600): 0 failed, 0 body mismatch, 0 duplicate traceparent.
#   kill   KILL_REQUESTS (10^5) requests; tracewire is SIGKILLed KILL_AFTER
#          (20) seconds into the load and started again at once, twice: 0
#          failed requests; seconds until traces are complete again after
#          each restart (and the share complete from 5 s after it).
#   otlp   OTLP export to tests/otlp/receiver.js (loopback); the receiver is
#          stopped OUTAGE_SECONDS (600) after OTLP_BEFORE (30) s of load and
#          started again; the load goes on OTLP_AFTER (60) s more. tracewire's
#          RSS is sampled every second (bounded memory), its exit stats give
#          the drops, the receiver's output when export resumed.
#
# Usage: bench/soak.sh [soak] [kill] [otlp]   (default: all three)
# Environment: the counts above, SOAK_CONNS (8, client connections),
# OUT (bench/results/soak.md; each run appends a section).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/integration/lab.sh
. tests/integration/lab.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh

SCENARIOS=${*:-soak kill otlp}
SOAK_REQUESTS=${SOAK_REQUESTS:-1000000}
SOAK_MAX_SECONDS=${SOAK_MAX_SECONDS:-3600}
SOAK_CONNS=${SOAK_CONNS:-8}
KILL_REQUESTS=${KILL_REQUESTS:-100000}
KILL_AFTER=${KILL_AFTER:-20}
OUTAGE_SECONDS=${OUTAGE_SECONDS:-600}
OTLP_BEFORE=${OTLP_BEFORE:-30}
OTLP_AFTER=${OTLP_AFTER:-60}
OUT=${OUT:-bench/results/soak.md}
CLIENT=bench/soak/soak_client.py
CHECK=bench/soak/soak_check.py
RECEIVER=tests/otlp/receiver.js
for s in $SCENARIOS; do
	case $s in soak | kill | otlp) ;; *) echo "unknown scenario '$s' (soak kill otlp)" >&2; exit 2 ;; esac
done

lab_init
BENCH_DIR=$LAB_DIR
MD=$LAB_DIR/soak.md
{
	echo
	echo "## $(date -u '+%Y-%m-%d %H:%M UTC'): bench/soak.sh $SCENARIOS"
	echo
	echo "tracewire $(git describe --always --dirty 2>/dev/null || echo '?'); $(nproc) CPUs, $(uname -r)"
	echo
} >"$MD"

now() { date +%s.%N; }
jget() { "$LAB_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get(sys.argv[2], ""))' "$1" "$2"; }
jline() { "$LAB_PY" -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# chain N: pods scN spN smN slN (198.18.N.20/.10/.11/.12); sets CH_URL,
# CH_LEAF_LOG, CH_CG (tracewire's --cgroup arguments: proxy, mid, leaf) and
# CH_PX, CH_MID, CH_LEAF (their pids).
chain() {
	local n=$1
	lab_pod "sc$n" "198.18.$n.20/24" && lab_pod "sp$n" "198.18.$n.10/24" &&
		lab_pod "sm$n" "198.18.$n.11/24" && lab_pod "sl$n" "198.18.$n.12/24"
	CH_LEAF_LOG=$LAB_DIR/leaf-$n.jsonl
	lab_start_cmd "sl$n" "198.18.$n.12" 8082 "$LAB_PY" "$LAB_SERVERS/integrity_server.py" \
		--listen "198.18.$n.12:8082" --log "$CH_LEAF_LOG"
	lab_start_cmd "sm$n" "198.18.$n.11" 8081 "$LAB_PY" "$LAB_SERVERS/chain_mid.py" \
		"198.18.$n.11" 8081 "198.18.$n.12" 8082 --pass-path
	LAB_NGINX_UPSTREAM=198.18.$n.11:8081 lab_start_server nginx "sp$n" "198.18.$n.10" 8080
	CH_URL=http://198.18.$n.10:8080/proxy/chain
	CH_CG=(--cgroup "$(lab_cgroup "sp$n")" --cgroup "$(lab_cgroup "sm$n")" --cgroup "$(lab_cgroup "sl$n")")
	CH_PX=$(lab_pod_pids "sp$n" | paste -sd, -)
	CH_MID=$(lab_pod_pids "sm$n" | paste -sd, -)
	CH_LEAF=$(lab_pod_pids "sl$n" | paste -sd, -)
	CH_N=$n
}

# client REQUESTS MAX_SECONDS NAME: the load in the chain's client pod, in
# the background (CLIENT_PID; summary in $LAB_DIR/NAME.json, progress in
# $LAB_DIR/NAME.progress)
client() {
	lab_run_in_pod "sc$CH_N" "$LAB_PY" "$CLIENT" --url "$CH_URL" --requests "$1" \
		--conns "$SOAK_CONNS" --max-seconds "$2" --out "$LAB_DIR/$3.json" \
		--progress "$LAB_DIR/$3.progress"
	CLIENT_PID=$LAB_LAST_PID
}

client_wait() {
	local rc=0
	lab_wait_pid "$CLIENT_PID" "$1" || rc=$?
	[ "$rc" = 0 ] || fail "the load client exited $rc"
	[ -s "$LAB_DIR/$2.json" ] || { fail "no client summary"; return 1; }
}

traces() {
	"$LAB_PY" "$CHECK" traces "$1" --tier "px=$CH_PX" --tier "mid=$CH_MID" --tier "leaf=$CH_LEAF" "${@:2}"
}

# ---- soak -------------------------------------------------------------------
scenario_soak() {
	local t0 t1 sum leaf tr peak
	lab_step "soak: $SOAK_REQUESTS requests (at most ${SOAK_MAX_SECONDS}s)"
	chain 221
	tw_start "${CH_CG[@]}"
	t0=$(now)
	client "$SOAK_REQUESTS" "$SOAK_MAX_SECONDS" soak
	client_wait "$((SOAK_MAX_SECONDS + 120))" soak
	t1=$(now)
	peak=$(hwm_kib "$TW_PID")
	sleep 3
	tw_stop
	sum=$LAB_DIR/soak.json
	leaf=$("$LAB_PY" "$CHECK" leaf "$CH_LEAF_LOG")
	tr=$(traces "$TW_JSONL")
	echo "  client: $(cat "$sum" | tr -d '\n' | cut -c1-300)"
	echo "  leaf:   $leaf"
	echo "  traces: $tr"
	{
		echo "### soak: $(jget "$sum" requests) requests through nginx -> python -> leaf"
		echo
		echo "| requests | seconds | req/s | failed | body mismatch | duplicated at leaf | leaf parse errors | >1 traceparent in a request | traceparent reused | requests with traceparent at leaf | traces complete | tracewire peak RSS | injected | lost_ringbuf_full |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		bench_md_row "$(jget "$sum" requests)" "$(jget "$sum" seconds)" "$(jget "$sum" rps)" \
			"$(jget "$sum" failed)" "$(jget "$sum" mismatched)" \
			"$(jline "$leaf" duplicated_requests)" "$(jline "$leaf" parse_errors)" \
			"$(jline "$leaf" multi_traceparent)" "$(jline "$leaf" traceparent_reused)" \
			"$(jline "$leaf" with_traceparent)/$(jline "$leaf" requests)" \
			"$(jline "$tr" complete)/$(jline "$tr" traces)" "$((peak / 1024)) MiB" \
			"$(tw_exit_counter injected || echo ?)" "$(tw_exit_counter lost_ringbuf_full || echo ?)"
		echo
	} >>"$MD"
	[ "$(jget "$sum" failed)" = 0 ] && [ "$(jget "$sum" mismatched)" = 0 ] &&
		[ "$(jline "$leaf" multi_traceparent)" = 0 ] && [ "$(jline "$leaf" traceparent_reused)" = 0 ] &&
		[ "$(jline "$leaf" duplicated_requests)" = 0 ] || fail "soak: failures (see $MD)"
}

# ---- kill -------------------------------------------------------------------
scenario_kill() {
	local sum leaf k t_kill t_ready jsonl ev_json rows=""
	lab_step "kill: $KILL_REQUESTS requests, SIGKILL twice (${KILL_AFTER}s apart)"
	chain 222
	tw_start "${CH_CG[@]}"
	local first_jsonl=$TW_JSONL
	client "$KILL_REQUESTS" 3600 kill
	sleep "$KILL_AFTER"
	for k in 1 2; do
		lab__alive "$CLIENT_PID" || { fail "the load ended before kill $k: raise KILL_REQUESTS"; break; }
		t_kill=$(now)
		kill -KILL "$TW_PID"
		wait "$TW_PID" 2>/dev/null || true
		TW_PID=
		tw_start "${CH_CG[@]}"
		t_ready=$(now)
		# until the next kill (or the end): the restarted tracewire's traces
		sleep "$KILL_AFTER"
		jsonl=$TW_JSONL
		ev_json=$(traces "$jsonl" --event "$t_kill" --window 5)
		echo "  kill $k: ready $(awk -v a="$t_kill" -v b="$t_ready" 'BEGIN { printf "%.2f", b - a }') s after SIGKILL; $ev_json"
		rows+="| $k | $(awk -v a="$t_kill" -v b="$t_ready" 'BEGIN { printf "%.2f", b - a }') | $("$LAB_PY" -c 'import json,sys; e=json.loads(sys.argv[1])["events"][0]; print(e["first_complete_after_s"], "|", e["complete_from_window_on"])' "$ev_json") | $(grep -Eo 'into the sockhash [0-9]+' "$TW_LOG" | grep -Eo '[0-9]+$' || echo 0) |"$'\n'
	done
	client_wait 3600 kill
	tw_stop
	sum=$LAB_DIR/kill.json
	leaf=$("$LAB_PY" "$CHECK" leaf "$CH_LEAF_LOG")
	echo "  client: $(tr -d '\n' <"$sum" | cut -c1-300)"
	echo "  leaf:   $leaf"
	echo "  traces before the first kill: $(traces "$first_jsonl")"
	{
		echo "### kill: $(jget "$sum" requests) requests, tracewire SIGKILLed twice under load and restarted at once"
		echo
		echo "| requests | seconds | req/s | failed | body mismatch | duplicated at leaf | leaf parse errors | >1 traceparent in a request | traceparent reused |"
		echo "|---|---|---|---|---|---|---|---|---|"
		bench_md_row "$(jget "$sum" requests)" "$(jget "$sum" seconds)" "$(jget "$sum" rps)" \
			"$(jget "$sum" failed)" "$(jget "$sum" mismatched)" \
			"$(jline "$leaf" duplicated_requests)" "$(jline "$leaf" parse_errors)" \
			"$(jline "$leaf" multi_traceparent)" "$(jline "$leaf" traceparent_reused)"
		echo
		echo "| kill | SIGKILL -> ready again (s) | SIGKILL -> first complete trace (s) | complete traces from 5 s after the kill to the next | pool connections adopted at restart (into the sockhash) |"
		echo "|---|---|---|---|---|"
		printf '%s' "$rows"
		echo
	} >>"$MD"
	[ "$(jget "$sum" failed)" = 0 ] && [ "$(jget "$sum" mismatched)" = 0 ] || fail "kill: failed requests (see $MD)"
}

# ---- otlp -------------------------------------------------------------------
OTLP_PID=
otlp_receiver() {
	local dir=$1 port=$2 deadline
	mkdir -p "$dir"
	rm -f "$dir/ready"
	node "$RECEIVER" --listen "127.0.0.1:$port" --out "$dir" --ready-file "$dir/ready" \
		>>"$dir/stdout" 2>&1 </dev/null &
	OTLP_PID=$!
	LAB_PIDS+=("$OTLP_PID")
	deadline=$(($(date +%s) + 15))
	until [ -s "$dir/ready" ]; do
		lab__alive "$OTLP_PID" || { fail "the OTLP receiver exited"; return 1; }
		[ "$(date +%s)" -lt "$deadline" ] || { fail "the OTLP receiver was not ready"; return 1; }
		sleep 0.05
	done
	OTLP_PORT=$(cat "$dir/ready")
}

otlp_spans() { if [ -f "$1/spans.jsonl" ]; then wc -l <"$1/spans.jsonl"; else echo 0; fi; }

scenario_otlp() {
	local dir=$LAB_DIR/otlp total t_down t_up t_resume="" n0 rss rss_before=0 rss_max=0 sum i
	total=$((OTLP_BEFORE + OUTAGE_SECONDS + OTLP_AFTER))
	lab_step "otlp: load ${total}s, receiver down ${OUTAGE_SECONDS}s after ${OTLP_BEFORE}s"
	chain 223
	otlp_receiver "$dir" 0
	tw_start "${CH_CG[@]}" --exporter otlp --otlp-endpoint "http://127.0.0.1:$OTLP_PORT" \
		--stats-interval 10
	client 100000000 "$total" otlp
	sleep "$OTLP_BEFORE"
	rss_before=$(rss_kib "$TW_PID")
	echo "  before the outage: $(otlp_spans "$dir") spans received, tracewire RSS $((rss_before / 1024)) MiB"
	t_down=$(now)
	kill -TERM "$OTLP_PID"
	lab_wait_pid "$OTLP_PID" 10 || true
	for ((i = 0; i < OUTAGE_SECONDS; i++)); do
		rss=$(rss_kib "$TW_PID")
		[ "$rss" -le "$rss_max" ] || rss_max=$rss
		echo "$(date +%s) $rss" >>"$LAB_DIR/otlp-rss.txt"
		sleep 1
	done
	n0=$(otlp_spans "$dir")
	otlp_receiver "$dir" "$OTLP_PORT"
	t_up=$(now)
	for ((i = 0; i < 600; i++)); do
		if [ "$(otlp_spans "$dir")" -gt "$n0" ]; then
			t_resume=$(now)
			break
		fi
		sleep 0.1
	done
	client_wait "$((OTLP_AFTER + 120))" otlp
	sleep 5
	rss=$(rss_kib "$TW_PID")
	tw_stop
	sum=$LAB_DIR/otlp.json
	grep 'stats (exit): otlp' "$TW_LOG" | sed 's/^/  /'
	echo "  client: $(tr -d '\n' <"$sum" | cut -c1-300)"
	{
		echo "### otlp: receiver down ${OUTAGE_SECONDS} s under load, then back"
		echo
		echo "| load (s) | requests | failed | RSS before outage | max RSS during outage | RSS at the end | receiver back -> first spans received (s) | spans exported | dropped (queue full) | dropped (retries) | export requests failed |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|"
		bench_md_row "$total" "$(jget "$sum" requests)" "$(jget "$sum" failed)" \
			"$((rss_before / 1024)) MiB" "$((rss_max / 1024)) MiB" "$((rss / 1024)) MiB" \
			"$([ -n "$t_resume" ] && awk -v a="$t_up" -v b="$t_resume" 'BEGIN { printf "%.1f", b - a }' || echo never)" \
			"$(tw_exit_counter spans_exported || echo ?)" "$(tw_exit_counter dropped_queue_full || echo ?)" \
			"$(tw_exit_counter dropped_retries || echo ?)" "$(tw_exit_counter failed || echo ?)"
		echo
	} >>"$MD"
	[ -n "$t_resume" ] || fail "otlp: export did not resume within 60 s of the receiver's return"
}

for s in $SCENARIOS; do
	"scenario_$s"
done
cat "$MD"
mkdir -p "$(dirname "$OUT")"
cat "$MD" >>"$OUT"
lab_step "results appended to $OUT"
