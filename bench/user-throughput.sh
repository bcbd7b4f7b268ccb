#!/usr/bin/env bash
# User-side throughput with no kernel involved (issue 5, item 4): runs
# build/bench/replay (bench/replay.c), which replays synthetic ring-buffer
# records into the correlator, trace assembly and OTLP encoding on one pinned
# CPU, and writes bench/results/user-throughput.md.
#
# Usage: bench/user-throughput.sh [--quick] [--cpu N] [--out FILE]
#   --quick   3 repetitions of 0.3 s per measurement (about 10 s in all)
#   default   5 repetitions of 2 s per measurement (about 1 minute)
# Needs no root and no BPF. Targets (issue 5): correlator >= 1,000,000
# records/s on one core; OTLP encoding >= 1,000,000 spans/s without gzip.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0 CPU='' OUT=bench/results/user-throughput.md
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--cpu) CPU=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h | --help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "user-throughput: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then SECS=0.3 REPS=3; else SECS=1 REPS=5; fi
CMDLINE=bench/user-throughput.sh
[ "$QUICK" = 0 ] || CMDLINE+=" --quick"
[ -z "$CPU" ] || CMDLINE+=" --cpu $CPU"

BIN=build/bench/replay
work=$(mktemp -d /tmp/tw-bench-user.XXXXXX)
trap 'rm -rf "$work"' EXIT

# ---- preconditions --------------------------------------------------------------
for c in make cc awk; do
	command -v "$c" >/dev/null || { echo "user-throughput: '$c' not found (scripts/install-deps.sh)" >&2; exit 1; }
done
if [ ! -x "$BIN" ] || [ bench/replay.c -nt "$BIN" ]; then
	echo "user-throughput: building $BIN" >&2
	make --no-print-directory -s "$BIN" >&2 || { echo "user-throughput: building $BIN failed" >&2; exit 1; }
fi

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
machine_details() {
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	bench_machine_md
	echo "- command: \`$CMDLINE\`"
}

args=(--seconds "$SECS" --reps "$REPS")
[ -z "$CPU" ] || args+=(--cpu "$CPU")
# bounded: replay arms its own alarm; this is the outer bound
timeout 600 "$BIN" "${args[@]}" >"$work/table.md" 2>"$work/log" || {
	rc=$?
	echo "user-throughput: replay failed (status $rc):" >&2
	tail -n 20 "$work/log" >&2
	exit 1
}
grep -q '^| correlator' "$work/table.md" || { echo "user-throughput: no results from replay" >&2; exit 1; }

# cells of the table: field ROW-PREFIX UNIT COLUMN (3 = median per CPU-second, 6 = target)
field() {
	awk -F' \\| ' -v row="$1" -v unit="$2" -v col="$3" '
		index($1, "| " row) == 1 && $2 == unit { print $col; exit }' "$work/table.md"
}
corr="$(field "correlator (on_span counts)" records/s 3) records/s ($(field "correlator (on_span counts)" records/s 6))"
enc="$(field "OTLP encode (tw_otlp_encode_request)" spans/s 3) spans/s ($(field "OTLP encode (tw_otlp_encode_request)" spans/s 6))"
pipe="$(field "pipeline: correlator" records/s 3) records/s, $(field "pipeline: correlator" spans/s 3) spans/s; with gzip $(field "pipeline + gzip" records/s 3) records/s, $(field "pipeline + gzip" spans/s 3) spans/s"

mkdir -p "$(dirname "$OUT")"
{
	echo "# User-side throughput (no kernel)"
	echo
	echo "Synthetic ring-buffer records, built as the BPF programs build them, replayed into"
	echo "the correlator, trace assembly and OTLP encoding on one CPU pinned with"
	echo "\`sched_setaffinity\` (\`build/bench/replay\`, source \`bench/replay.c\`)."
	[ "$QUICK" = 0 ] || echo "**Quick mode**: short repetitions, indicative only."
	echo
	machine_details
	echo "- repetitions: $REPS of ${SECS} s each per measurement; median, then min – max"
	echo
	echo "## Results"
	echo
	grep '^|' "$work/table.md"
	echo
	echo "Gap to the targets (median per CPU-second, ratio to the target):"
	echo
	echo "- correlator >= 1,000,000 events (records)/s on one core: $corr"
	echo "- OTLP encoding >= 1,000,000 spans/s without gzip: $enc"
	echo "- not a target, for scale: the whole user-side path on one core: $pipe"
	echo
	echo "## What is measured"
	echo
	echo "Workload: a two-hop chain with header propagation. Each call is 7 records and 3"
	echo "spans: A reads the client's request (ids in the record, TW_CTX_SERVER), sk_msg's"
	echo "TW_EV_CTX record for A's request to B, A's write of it (TW_CTX_THREAD, stream"
	echo "offset), B's read of it with the injected traceparent, B's response, A's read of"
	echo "it, A's response (every 8th chunked; every 4th client request a POST with a JSON"
	echo "body; 1 in 50 calls to B a 503). Heads are 150–300 bytes, bodies 30–60 bytes;"
	echo "64 client keep-alive connections to A and 16 from A to B, each closed (CLOSE"
	echo "records) after 100 requests. Before measuring, one pass is checked: every record"
	echo "well-formed, every span found with the kernel's ids, every TW_EV_CTX matched."
	echo
	echo "- **correlator**: \`tw_correlator_handle\` per record, \`tw_correlator_tick\` every"
	echo "  20 ms; \`on_span\` only counts. Records/s is the target's \"events/s\"."
	echo "- **pipeline**: the daemon's \`on_span\` (procinfo service name, \`tw_traces_add\`"
	echo "  with the daemon's 1 s window and 65,536-span bound, ticked every 20 ms) and an"
	echo "  exporter doing, inline on the same core, what the OTLP exporter does on its"
	echo "  event-loop side and worker thread: copy + procinfo lookup per span, then per 512"
	echo "  spans sort by process, build resources, \`tw_otlp_encode_request\`. No HTTP."
	echo "  What is buffered at the end of a repetition is flushed and encoded inside the"
	echo "  timing. **pipeline + gzip** adds zlib level 1 per batch, as the exporter sends it."
	echo "- **OTLP encode**: \`tw_otlp_encode_request\` alone on 512-span requests (2 resources,"
	echo "  prepared beforehand from the correlator's own spans); **+ gzip** adds deflate"
	echo "  level 1; **batch step** is the exporter's whole per-batch work without gzip."
	echo "- Rates are per CPU-second of the pinned thread (\`CLOCK_THREAD_CPUTIME_ID\`), the"
	echo "  per-core figure even when other work shares the CPU; wall-clock medians beside."
	echo "  Not included: libbpf's ring-buffer consume loop and the OTLP HTTP POST."
	echo "- Synthetic data compresses better than real traffic would (repeated header"
	echo "  values): the gzip byte count is a lower bound."
} >"$OUT"
cat "$OUT"
echo "user-throughput: wrote $OUT" >&2
