#!/usr/bin/env bash
# Hostile load against the memory budget (issue 16, item 1): tracewire with
# --memory-limit (default 64M) selects a server pod whose server reads every
# byte and never answers (bench/hostile_load.py server), then
#   (1) a client pod opens HEADS connections (default 20,000), each holding an
#       unfinished request head, and keeps them open, and meanwhile
#   (2) another client opens PIPE connections (default 2,000) with 64
#       pipelined requests each that are never answered;
# afterwards (every connection closed) 10 normal requests go to a python
# server in the same pod and must become spans (tracing resumes).
# Reports tracewire's peak RSS (VmHWM from /proc/PID/status) against the
# limit, RSS samples, BPF map memory (memlock in /proc/PID/fdinfo), the
# derived bounds and the eviction counters, into bench/results/hostile.md.
# Loopback-free lab namespaces only (198.18.0.0/15). Bounded in time (~1-2 min).
#
# Usage: bench/hostile.sh [--limit 64M] [--heads N] [--pipe N] [--out FILE]
#        TRACEWIRE=path (default build/tracewire); --no-limit runs without
#        --memory-limit (the default budget) for comparison.
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

LIMIT=64M HEADS=20000 PIPE=2000 DEPTH=64 OUT=bench/results/hostile.md NOLIMIT=0
while [ $# -gt 0 ]; do
	case $1 in
	--limit) LIMIT=$2; shift ;;
	--heads) HEADS=$2; shift ;;
	--pipe) PIPE=$2; shift ;;
	--out) OUT=$2; shift ;;
	--no-limit) NOLIMIT=1 ;;
	-h | --help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "hostile: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "hostile: needs root (BPF, namespaces)" >&2; exit 1; }
# the load generators and the never-answering servers hold every connection:
# raise the open-files limit as far as allowed (without CAP_SYS_RESOURCE the
# hard limit stays), and split the load in processes of at most 10,000
ulimit -Hn 262144 2>/dev/null || true
ulimit -n "$(ulimit -Hn)"

limit_bytes=$(python3 -c '
import sys
s = sys.argv[1].upper().rstrip("IB")
m = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
print(int(s[:-1]) * m[s[-1]] if s[-1] in m else int(s))' "$LIMIT")
LIMIT_KIB=$((limit_bytes / 1024))

# shellcheck source=tests/integration/lab.sh
. "$REPO/tests/integration/lab.sh"
# shellcheck disable=SC2034
LAB_PREFIX=hw$$
lab_init
LOAD=$REPO/bench/hostile_load.py
SAMPLES=$LAB_DIR/rss.tsv
: >"$SAMPLES"

lab_pod srv 198.18.0.10/24
lab_pod cli 198.18.0.20/24
srv_ip=$(lab_ip srv)
lab_start_server python srv "$srv_ip" 8080
ok_pid=$LAB_LAST_PID
# one never-answering server per 10,000 connections: 8081 (pipelined), 8090...
lab_start_cmd srv "$srv_ip" 8081 "$LAB_PY" "$LOAD" server "$srv_ip" 8081
NHEADS=$(((HEADS + 9999) / 10000))
for ((k = 0; k < NHEADS; k++)); do
	lab_start_cmd srv "$srv_ip" $((8090 + k)) "$LAB_PY" "$LOAD" server "$srv_ip" $((8090 + k))
done

args=(--cgroup "$(lab_cgroup srv)" --stats-interval 1)
[ "$NOLIMIT" = 1 ] || args+=(--memory-limit "$LIMIT")
tw_start "${args[@]}"
budget=$(grep -m1 'info: memory budget' "$TW_LOG" | sed 's/^[^ ]* tracewire: info: //') || budget="(no budget line)"

status_kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$TW_PID/status"; }
bpf_kib() { # memlock of each map tracewire holds, once per map id
	local fd
	for fd in /proc/"$TW_PID"/fdinfo/*; do
		awk '/^map_type:/ {t=1} /^memlock:/ {if (t) m=$2} /^map_id:/ {if (t) print $2, m}' \
			"$fd" 2>/dev/null || true
	done | sort -u | awk '{s += $2} END {print int(s / 1024)}'
}
sample() { # moment
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$(status_kib VmRSS)" "$(status_kib VmHWM)" \
		"$(status_kib RssAnon)" "$(bpf_kib)" >>"$SAMPLES"
}
sample start

t0=$(date +%s)
lab_step "(1) $HEADS connections with unfinished heads"
heads_pids=() heads_logs=()
for ((k = 0; k < NHEADS; k++)); do
	n=$((HEADS / NHEADS))
	lab_run_in_pod cli "$LAB_PY" "$LOAD" heads "$srv_ip" $((8090 + k)) "$n" 45
	heads_pids+=("$LAB_LAST_PID") heads_logs+=("$LAB_LAST_LOG")
done
heads_ready=
for log in "${heads_logs[@]}"; do
	for ((i = 0; i < 600; i++)); do grep -q '^ready' "$log" && break; sleep 0.1; done
	heads_ready+="$(grep '^ready' "$log") " || fail "heads: not ready in 60 s"
done
sleep 2
sample "(1) $HEADS heads held"

lab_step "(2) $PIPE connections x $DEPTH pipelined unanswered requests"
lab_run_in_pod cli "$LAB_PY" "$LOAD" pipeline "$srv_ip" 8081 "$PIPE" "$DEPTH" 15
pipe_pid=$LAB_LAST_PID pipe_log=$LAB_LAST_LOG
for ((i = 0; i < 600; i++)); do grep -q '^ready' "$pipe_log" && break; sleep 0.1; done
pipe_ready=$(grep '^ready' "$pipe_log") || fail "pipeline: not ready in 60 s"
for s in 1 2 3 4 5; do sleep 1; sample "(1)+(2) held, ${s} s"; done
lab_wait_pid "$pipe_pid" 60 >/dev/null || true
for p in "${heads_pids[@]}"; do lab_wait_pid "$p" 90 >/dev/null || true; done
sleep 3
sample "all closed"

lab_step "after: 10 normal requests"
ok=0
for i in $(seq 1 10); do
	lab_exec_in_pod cli curl -sf -o /dev/null "http://$srv_ip:8080/?after=$i" && ok=$((ok + 1))
done
tw_wait_spans --kind server --pid "$ok_pid" 10 20 || true
spans_after=$(tw_count --kind server --pid "$ok_pid")
sample "after 10 normal requests"
hwm=$(status_kib VmHWM)
elapsed=$(($(date +%s) - t0))
tw_stop
bounds=$(grep 'memory bounds reached (exit)' "$TW_LOG" | sed 's/^[^ ]* tracewire: warn: //') || bounds="(none)"
nbounds=$(grep -c 'warn: memory bounds reached:' "$TW_LOG" || true)
exitstats=$(grep -m1 'stats (exit): kernel' "$TW_LOG" | sed 's/^[^ ]* tracewire: info: //')
verdict=PASS
[ "$NOLIMIT" = 1 ] || [ "$hwm" -lt "$LIMIT_KIB" ] || verdict=FAIL
[ "$spans_after" -ge 10 ] || verdict=FAIL

mkdir -p "$(dirname "$OUT")"
{
	echo "# Hostile load: the memory budget (--memory-limit)"
	echo
	echo "Command: \`bench/hostile.sh$([ "$NOLIMIT" = 1 ] && echo " --no-limit" || echo " --limit $LIMIT") --heads $HEADS --pipe $PIPE\`"
	echo "(tracewire selects the server pod; \`bench/hostile_load.py\`: server reads and never answers)."
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); kernel $(uname -r); nproc $(nproc)"
	echo "- tracewire: $TRACEWIRE"
	echo "- $budget"
	echo "- (1) heads clients ($NHEADS processes: the open-files hard limit here is $(ulimit -Hn)): \`$heads_ready\` (connections, opened, seconds each)"
	echo "- (2) pipeline client: \`$pipe_ready\` ($DEPTH requests each)"
	echo "- load phases took ${elapsed} s; 'memory bounds reached' lines logged while running: $nbounds"
	echo
	echo "| moment | VmRSS KiB | VmHWM KiB | RssAnon KiB | BPF maps KiB (memlock) |"
	echo "| --- | --- | --- | --- | --- |"
	while IFS=$'\t' read -r m a b c d; do echo "| $m | $a | $b | $c | $d |"; done <"$SAMPLES"
	echo
	echo "- **peak RSS (VmHWM): $hwm KiB ($((hwm / 1024)) MiB)** against the limit $LIMIT_KIB KiB ($LIMIT)"
	echo "- bounds at exit: \`$bounds\`"
	echo "- exit stats: \`$exitstats\`"
	echo "- after the load: $ok of 10 normal requests answered, $spans_after SERVER spans of them"
	echo "- verdict: $verdict"
} >"$OUT"
cat "$OUT"
[ "$verdict" = PASS ]
