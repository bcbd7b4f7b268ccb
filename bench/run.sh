#!/usr/bin/env bash
# `make bench`: every benchmark of issue 5, one after the other (they share
# two CPUs, so never in parallel), then bench/results/README.md: the machine,
# the headline figures of each results file and the targets.
#
# Usage: bench/run.sh [--quick]
#   --quick  short phases and one round each (about 4 minutes), written to
#            bench/results/quick/; the default (3+ rounds, longer phases,
#            about 16 minutes) writes bench/results/.
# Each benchmark checks its own preconditions, cleans up after itself and
# writes bench/results/<name>.md; a failing one fails the run (the others
# still run, so one broken figure does not hide the rest).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
quick=()
case "${1:-}" in
--quick) quick=(--quick) ;;
"") ;;
*) echo "usage: bench/run.sh [--quick]" >&2; exit 2 ;;
esac
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

failed=()
started=$(date +%s)
run() {
	local name=$1; shift
	local t0=$SECONDS
	echo "== bench: $name $*" >&2
	if bash "$here/$name.sh" "$@"; then
		echo "== bench: $name done in $((SECONDS - t0)) s" >&2
	else
		echo "== bench: $name FAILED after $((SECONDS - t0)) s" >&2
		failed+=("$name")
	fi
}

# Configurations of the chain table: (a) none, (b) capture, (c) headers,
# (t) TCP option, (i) IPv4 option. The before/after of issue 5's optimisation step (c0, an
# earlier build in the same rounds) is kept in results/pull-after-insert.md;
# chain.sh still runs it by hand with TW_BEFORE=<binary> --configs "a c0 c".
chain_cfgs=(--configs "a b c t i g")
# --quick keeps to 3 minutes: no (b) there (capture alone is in (c), (t) and (i))
[ ${#quick[@]} -eq 0 ] || chain_cfgs=(--configs "a c t i g")

# quick figures go to results/quick/ and never replace a full run's
res="$here/results"
[ ${#quick[@]} -eq 0 ] || res="$here/results/quick"
mkdir -p "$res"
run user-throughput "${quick[@]}" --out "$res/user-throughput.md"
run kernel-cost "${quick[@]}" --out "$res/kernel-cost.md"
run tracepoint-floor --out "$res/tracepoint-floor.md"
run breakdown --out "$res/breakdown.md"
run chain "${quick[@]}" "${chain_cfgs[@]}" --out "$res/chain.md"
run grpc "${quick[@]}" --out "$res/grpc.md"
run memory "${quick[@]}" --out "$res/memory.md"
run startup "${quick[@]}" --out "$res/startup.md"

# Prints the sections of results/NAME.md whose heading matches the regex,
# headings demoted one level.
section() {
	local f="$res/$1.md"
	echo "## [$1.md]($1.md)"
	echo
	if [ ! -f "$f" ]; then
		echo "(missing)"
		echo
		return
	fi
	awk -v re="$2" '/^## /{on = ($0 ~ re)} on { if (/^## /) print "#" $0; else print }' "$f"
	echo
}

out="$res/README.md"
{
	echo "# tracewire benchmark results"
	echo
	echo "Written by \`make bench${quick:+-quick}\` ($(date -u '+%Y-%m-%d %H:%M UTC'), $(( $(date +%s) - started )) s)."
	echo "Every figure is measured in one run on this machine; configurations are interleaved"
	echo "and repeated where the file says so. Details, method and every table: the files below."
	echo
	bench_machine_md
	echo
	# the sections of each file that carry its figures and the gap to targets
	section chain '^## (Throughput|CPU per request|Targets)'
	section grpc '^## (Throughput|CPU per call|Checks)'
	section kernel-cost '^## Results'
	section breakdown '^## (BPF|tracewire)'
	section user-throughput '^## Results'
	section memory '^## Results'
	section startup '^## Results'
	echo "## Other measurements (not part of this run)"
	echo
	for f in "$res"/*.md; do
		b=$(basename "$f" .md)
		case $b in README | chain | grpc | kernel-cost | breakdown | user-throughput | memory) continue ;; esac
		echo "- [$b.md]($b.md): $(head -1 "$f" | sed 's/^# *//')"
	done
	echo
	if [ ${#failed[@]} -gt 0 ]; then
		echo "**Failed in this run:** ${failed[*]} (its file is from an earlier run)."
	fi
} > "$out"
echo "== bench: summary in ${out#"$repo"/}" >&2
[ ${#failed[@]} -eq 0 ]
