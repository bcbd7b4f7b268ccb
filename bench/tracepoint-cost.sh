#!/usr/bin/env bash
# What the capture tracepoints cost: nginx `return 200` under wrk on loopback,
# with no tracewire, with tracewire selecting nginx, and with tracewire running
# but selecting nothing that serves (unselected path). Configurations are
# interleaved over ROUNDS rounds; medians and spreads go to bench/results/.
# Usage: bench/tracepoint-cost.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${2:-5}
PORT=18090
BIN=build/tracewire
OUT=bench/results/tracepoint-cost.md
work=$(mktemp -d)
nginx_pid= tw_pid=

cleanup() {
	[ -n "$tw_pid" ] && kill "$tw_pid" 2>/dev/null && wait "$tw_pid" 2>/dev/null
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "bench needs root" >&2; exit 1; }
[ -x "$BIN" ] || { echo "build first: make" >&2; exit 1; }
mkdir -p bench/results "$work/tmp"
cat > "$work/nginx.conf" <<EOF2
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $work/tmp;
	proxy_temp_path $work/tmp;
	fastcgi_temp_path $work/tmp;
	uwsgi_temp_path $work/tmp;
	scgi_temp_path $work/tmp;
	server { listen 127.0.0.1:$PORT; location / { return 200 "ok\n"; } }
}
EOF2
nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 0.05; done

start_tw() {
	"$BIN" --exporter none --stats-interval 0 "$@" 2>"$work/tw.log" &
	tw_pid=$!
	for _ in $(seq 200); do grep -q '^[^ ]* tracewire: info: ready' "$work/tw.log" && return 0; sleep 0.05; done
	cat "$work/tw.log" >&2; return 1
}
stop_tw() { kill -TERM "$tw_pid"; wait "$tw_pid" || true; tw_pid=; }

run_wrk() { wrk -t2 -c32 -d"${SECS}s" "http://127.0.0.1:$PORT/" | awk '/Requests\/sec/ {print $2}'; }

declare -A res
for r in $(seq "$ROUNDS"); do
	res[none]+="$(run_wrk) "
	start_tw --comm nginx; res[selected]+="$(run_wrk) "; stop_tw
	start_tw --comm no-such-proc; res[unselected]+="$(run_wrk) "; stop_tw
	echo "round $r: none=${res[none]##* } ..." >&2
done

stats() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {printf "%.0f %.0f %.0f", a[int((NR+1)/2)], a[1], a[NR]}'; }
read -r none_med none_min none_max <<<"$(echo "${res[none]}" | stats)"
{
	echo "# Capture tracepoint cost: nginx return 200, wrk -t2 -c32 -d${SECS}s, loopback"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ) · $(uname -r) · $(nproc) CPUs · $ROUNDS interleaved rounds"
	echo
	echo "| configuration | req/s median | min | max | ratio to none |"
	echo "| --- | --- | --- | --- | --- |"
	for k in none selected unselected; do
		read -r med mn mx <<<"$(echo "${res[$k]}" | stats)"
		echo "| $k | $med | $mn | $mx | $(awk -v a="$med" -v b="$none_med" 'BEGIN{printf "%.2f", a/b}') |"
	done
	echo
	echo "none: no tracewire · selected: tracewire --comm nginx (wrk unselected) ·"
	echo "unselected: tracewire running, selecting no process that takes part"
} | tee "$OUT"
