#!/usr/bin/env bash
# run.sh DIR SECONDS TARGET...: runs each libFuzzer binary DIR/TARGET for
# SECONDS over the seeds in tests/fuzz/corpus/<name>/ (TARGET is
# fuzz_<name>), adding what it finds to DIR/corpus/<name>/. Exits non-zero if
# any target found a crash, a leak, a sanitizer report, a timeout or an
# out-of-memory; its input is left as DIR/<kind>-<sha1>.
set -u
dir=$1 secs=$2
shift 2
failed=()
for t in "$@"; do
	name=${t#fuzz_}
	seeds=tests/fuzz/corpus/$name
	work=$dir/corpus/$name
	mkdir -p "$work"
	args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
		-close_fd_mask=3 -artifact_prefix="$dir/")
	[ -f "tests/fuzz/$t.options" ] && read -r -a extra <"tests/fuzz/$t.options" && args+=("${extra[@]}")
	[ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
	corpora=("$work")
	[ -d "$seeds" ] && corpora+=("$seeds")
	log=$dir/$t.log
	echo "== fuzz: $t for ${secs}s (log: $log)"
	start=$(date +%s)
	if "$dir/$t" "${args[@]}" "${corpora[@]}" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
		echo "   ok: ${runs:-?} runs in $(($(date +%s) - start))s, ${cov:-cov: ?}, corpus $(find "$work" -type f | wc -l) new + seeds"
	else
		echo "FAILED: $t (see $log); the input that failed:" >&2
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*Test unit written to|.*check failed)' "$log" | head -n 8 >&2
		failed+=("$t")
	fi
done
if [ "${#failed[@]}" -gt 0 ]; then
	echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
	exit 1
fi
