#!/usr/bin/env bash
# Time from SIGTERM to tracewire's exit, and where it goes (issue 16: SIGTERM
# honoured within 1 s). Default options except the Go probes' selection
# (--comm go_exec: only this script's Go processes get probes, not whatever
# else runs on the machine), with 0 and GO_PROCS Go processes (go_exec from
# tests/integration/servers: net/http linked in, so each gets the Go probes),
# each with uprobe_multi links (kernel >= 6.6) and with classic uprobes
# (TRACEWIRE_TEST_NO_UPROBE_MULTI=1, what tracewire did before). No network.
#
# Usage: bench/stop.sh [--quick] [--go N] [--out FILE]  (default bench/results/stop.md)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
rounds=5 goprocs=10 out=$here/results/stop.md
while [ $# -gt 0 ]; do
	case $1 in
	--quick) rounds=3 ;;
	--go) goprocs=$2; shift ;;
	--out) out=$2; shift ;;
	*) echo "usage: bench/stop.sh [--quick] [--go N] [--out FILE]" >&2; exit 2 ;;
	esac
	shift
done
tw=${TRACEWIRE:-$repo/build/tracewire}
[ -x "$tw" ] || { echo "stop: $tw missing: run make" >&2; exit 1; }
command -v go >/dev/null || { echo "stop: go not found" >&2; exit 1; }
work=$(mktemp -d)
gopids=() twpid=
cleanup() {
	[ -z "$twpid" ] || kill -KILL "$twpid" 2>/dev/null || true
	for p in "${gopids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
GOCACHE=$repo/build/gocache GOPATH=$repo/build/gopath GO111MODULE=off GOPROXY=off GOFLAGS='' \
	GOENV=off GOTOOLCHAIN=local CGO_ENABLED=0 \
	go build -o "$work/go_exec" "$repo/tests/integration/servers/go_exec.go"

# one_stop N MODE: "ms links perf_events" into $work/one: ms from SIGTERM
# to exit with N Go processes probed (run in this shell, so that the exit
# trap knows tracewire's pid)
one_stop() {
	local n=$1 mode=$2 log=$work/tw.log deadline t0 t1 comm=go_exec links perf env=()
	[ "$mode" = classic ] && env=(TRACEWIRE_TEST_NO_UPROBE_MULTI=1)
	[ "$n" != 0 ] || comm=tw_no_such_comm # the Go processes are not selected
	env "${env[@]}" "$tw" --exporter none --stats-interval 0 --comm "$comm" --log-level debug \
		>/dev/null 2>"$log" &
	twpid=$!
	# classic uprobes take a while to attach too (160 of them: a minute)
	deadline=$(($(date +%s) + 300))
	# ready, and every Go process probed (bounded)
	until grep -q 'tracewire: info: ready' "$log" &&
		[ "$(grep -c 'attached to pid' "$log" || true)" -ge "$n" ]; do
		[ "$(date +%s)" -lt "$deadline" ] || { echo "stop: not ready/probed in 300 s" >&2; tail -5 "$log" >&2; exit 1; }
		kill -0 "$twpid" 2>/dev/null || { echo "stop: tracewire exited" >&2; tail -20 "$log" >&2; exit 1; }
		sleep 0.02
	done
	links=$(find /proc/"$twpid"/fd -lname 'anon_inode:bpf_link' 2>/dev/null | wc -l)
	perf=$(find /proc/"$twpid"/fd -lname 'anon_inode:\[perf_event\]' 2>/dev/null | wc -l)
	t0=$(date +%s%N)
	kill -TERM "$twpid"
	wait "$twpid" || true
	t1=$(date +%s%N)
	twpid=
	echo "$(((t1 - t0) / 1000000)) $links $perf" >"$work/one"
}

for ((i = 0; i < goprocs; i++)); do
	"$work/go_exec" >/dev/null 2>&1 &
	gopids+=($!)
done
declare -A res
for n in 0 "$goprocs"; do
	for mode in multi classic; do
		[ "$n" = 0 ] && [ "$mode" = classic ] && continue # no uprobes of Go: the same
		key="$n $mode" ms=()
		for ((r = 0; r < rounds; r++)); do
			one_stop "$n" "$mode"
			read -r t l p <"$work/one"
			ms+=("$t")
			res[$key.links]=$l res[$key.perf]=$p
		done
		res[$key]=$(printf '%s\n' "${ms[@]}" | bench_stats)
		echo "stop: $key: ${res[$key]} (median min max ms), ${res[$key.links]} links, ${res[$key.perf]} perf events" >&2
	done
done

row() { # N MODE
	local k="$1 $2" med min max
	read -r med min max <<<"${res[$k]}"
	echo "| $1 | $2 | ${res[$k.links]} | ${res[$k.perf]} | $med | $min – $max |"
}
{
	echo "# Stop: SIGTERM to exit"
	echo
	echo "Written by \`bench/stop.sh\` ($(date -u '+%Y-%m-%d %H:%M UTC')), $rounds stops per row,"
	echo "default options but \`--comm go_exec\` (the Go probes on this script's $goprocs Go"
	echo "processes only; capture's tracepoints and the system libssl's uprobes as always)."
	echo
	bench_machine_md
	echo
	echo "## Results"
	echo
	echo "| Go processes | Go uprobes | BPF links | perf events | ms, median | min – max |"
	echo "| --- | --- | --- | --- | --- | --- |"
	row 0 multi
	row "$goprocs" multi
	row "$goprocs" classic
} >"$out"
echo "stop: written to ${out#"$repo"/}" >&2
