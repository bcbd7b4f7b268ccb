#!/usr/bin/env bash
# Runs the integration tests: every tests/integration/test_*.sh, each in its own
# bash process under a time limit, and prints PASS/FAIL/SKIP per test and, as
# the last line, "N passed, N failed" (", N skipped" when any were).
#
# Usage: tests/integration/run.sh [PATTERN...]
#   PATTERN   run only tests whose name contains one of the patterns
#             (e.g. "cli" or "keepalive")
# Environment:
#   TRACEWIRE            binary under test (default build/tracewire)
#   TW_TEST_TIMEOUT      seconds per test (default 300)
#   TW_TEST_VERBOSE=1    show each test's output as it runs (else only on failure)
#   LAB_KEEP=1           keep each test's temp dir (logs, spans.jsonl)
# A test exits 0 to pass, 77 to skip, anything else fails. After each test,
# whatever it left behind (namespaces, cgroups, processes in them) is removed
# and the test fails for it. Full logs: build/test-logs/integration/.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/integration/lab.sh
. "$here/lab.sh"

if [ "$(id -u)" != 0 ]; then
	echo "run.sh: the integration tests need root (network namespaces, cgroups, BPF); run as root" >&2
	exit 1
fi
if [ ! -x "$TRACEWIRE" ]; then
	echo "run.sh: $TRACEWIRE is missing: build it first (make)" >&2
	exit 1
fi

timeout_s=${TW_TEST_TIMEOUT:-300}
logdir=$repo/build/test-logs/integration
mkdir -p "$logdir"

tests=()
for t in "$here"/test_*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	if [ $# -gt 0 ]; then
		match=0
		for p in "$@"; do [[ $name == *"$p"* ]] && match=1; done
		[ "$match" = 1 ] || continue
	fi
	tests+=("$t")
done
if [ ${#tests[@]} = 0 ]; then
	echo "run.sh: no test matches: $*" >&2
	echo "0 passed, 0 failed"
	exit 1
fi

passed=0 failed=0 skipped=0 i=0
failed_names=()
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	i=$((i + 1))
	prefix=twr$$t$i
	log=$logdir/$name.log
	echo "RUN  $name"
	t0=$(date +%s%N)
	# (the braces keep bash's "Killed" job notices out of the summary)
	if [ "${TW_TEST_VERBOSE:-0}" = 1 ]; then
		{ LAB_PREFIX=$prefix timeout --kill-after=20 "$timeout_s" bash "$t" </dev/null 2>&1 | tee "$log"; } 2>/dev/null
		rc=${PIPESTATUS[0]}
	else
		{ LAB_PREFIX=$prefix timeout --kill-after=20 "$timeout_s" bash "$t" </dev/null >"$log" 2>&1; } 2>/dev/null
		rc=$?
	fi
	t1=$(date +%s%N)
	secs=$(LC_ALL=C awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
	why=
	if [ "$rc" = 124 ] || { [ "$rc" -gt 128 ] && [ $(((t1 - t0) / 1000000000)) -ge "$timeout_s" ]; }; then
		why="timed out after ${timeout_s}s"
	elif [ "$rc" -gt 128 ]; then
		why="killed by signal $((rc - 128))"
	elif [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		why="exit status $rc"
	fi
	if ! lab_sweep "$prefix" >>"$log" 2>&1; then
		[ -n "$why" ] || why="left namespaces or cgroups behind"
		[ "$rc" != 77 ] || rc=1
	fi
	if [ -z "$why" ] && [ "$rc" = 77 ]; then
		skipped=$((skipped + 1))
		echo "SKIP $name ($secs s): $(tail -n 1 "$log")"
	elif [ -z "$why" ]; then
		passed=$((passed + 1))
		echo "PASS $name ($secs s)"
	else
		failed=$((failed + 1))
		failed_names+=("$name")
		echo "FAIL $name ($secs s): $why; log: $log"
		if [ "${TW_TEST_VERBOSE:-0}" != 1 ]; then
			tail -n 150 "$log" | sed 's/^/    | /'
		fi
	fi
done

[ "$failed" = 0 ] || echo "failed: ${failed_names[*]}"
summary="$passed passed, $failed failed"
[ "$skipped" = 0 ] || summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" = 0 ]
