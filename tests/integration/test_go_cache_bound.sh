#!/usr/bin/env bash
# The Go binaries cache (one analysis per executable) is bounded by the
# memory budget (issue 16): with a bound of 2 (a test-only override of the
# budget's value), six distinct executables started in a selected pod leave
# at most 2 entries, the oldest dropped and counted.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

lab_init
lab_pod px 198.18.0.10/24
BINS=$LAB_DIR/bins
mkdir -p "$BINS"
for i in 1 2 3 4 5 6; do cp "$(command -v sleep)" "$BINS/sleep$i"; done
TRACEWIRE_TEST_GO_BINARIES_MAX=2 tw_start --log-level debug --cgroup "$(lab_cgroup px)"
lab_step "six distinct executables in the pod, one after the other"
for i in 1 2 3 4 5 6; do
	lab_run_in_pod px "$BINS/sleep$i" 30
	# the once-a-second /proc rescan finds it and its analysis ends (debug
	# line "go probes: PATH (pid N): <why not probed>"): then the next
	deadline=$(($(date +%s) + 10))
	until grep -q "go probes: $BINS/sleep$i (pid [0-9]*): [^a]" "$TW_LOG"; do
		[ "$(date +%s)" -lt "$deadline" ] || fail "sleep$i was not analysed within 10 s"
		sleep 0.05
	done
done
tw_stop
line=$(grep 'stats (exit): go probes' "$TW_LOG")
echo "  $line"
cached=$(sed -n 's/.* cached=\([0-9]*\)\/\([0-9]*\) .*/\1/p' <<<"$line")
bound=$(sed -n 's/.* cached=\([0-9]*\)\/\([0-9]*\) .*/\2/p' <<<"$line")
evicted=$(sed -n 's/.* cache_evicted=\([0-9]*\).*/\1/p' <<<"$line")
assert_eq 2 "$bound" "the cache's bound"
assert_le "$cached" 2 "entries cached at exit"
assert_ge "$evicted" 4 "entries dropped at the bound (6 executables, room for 2)"
assert_file_contains "$TW_LOG" "binaries cache at its bound" "the bound is logged"
lab_step "ok"
