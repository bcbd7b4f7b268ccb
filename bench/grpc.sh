#!/usr/bin/env bash
# Call overhead of tracewire on a gRPC chain (issue 19 item 3), the gRPC
# counterpart of chain.sh's go row: load client pod -> mid pod -> leaf pod,
# all grpc-go (tests/integration/servers/go_grpc.go: mid makes each call again
# to the leaf over one shared connection; h2c), configurations interleaved
# in every round (order rotated from round 2 on):
#   a   no tracewire
#   b   tracewire --cgroup MID --cgroup LEAF --exporter none --propagation none
#   c   tracewire --cgroup MID --cgroup LEAF --exporter none --propagation headers
# The load client's pod is not selected; fresh mid and leaf processes for
# every cell, started after tracewire is ready. Per workload (unary calls of
# SIZE bytes, CALLERS callers on one channel, every answer checked byte for
# byte) and configuration: throughput for SECS seconds after a 1 s warm-up,
# as a ratio to (a) of the same round, and CPU per call (cgroup v2 usage of
# the mid and leaf pods plus tracewire's own cgroup over the measured calls),
# as the added µs over (a) of the same round. Checked per cell: no failed or
# corrupted call; (b) and (c) made spans (h2_spans per call printed: 3 when
# every call is one span at the mid's server and client and the leaf's server).
# Results: bench/results/grpc.md (medians and min-max over the rounds).
#
# Usage: bench/grpc.sh [--quick] [--rounds N] [--out FILE]
#   --quick: 1 round, 2 s phases; default 3 rounds of 3 s.
#   Environment: SECS, WORKLOADS (SIZE:CALLERS ..., default "100:4 100:32 32768:4").
#   Needs root; build first (make).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/integration/lab.sh
. tests/integration/lab.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh

CMDLINE="bench/grpc.sh${*:+ $*}"
QUICK=0 ROUNDS="" OUT=bench/results/grpc.md
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--rounds) ROUNDS=$2; shift ;;
	--out) OUT=$2; shift ;;
	*) sed -n '/^# Usage:/,/^# *Environment/p' "$0" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then ROUNDS=${ROUNDS:-1} SECS=${SECS:-2}; else ROUNDS=${ROUNDS:-3} SECS=${SECS:-3}; fi
WORKLOADS=${WORKLOADS:-100:4 100:32 32768:4}
CFGS=(a b c)
declare -A TITLE=([a]="(a) no tracewire" [b]="(b) capture only" [c]="(c) capture + headers")
declare -A TWARGS=([a]="" [b]="--exporter none --propagation none" [c]="--exporter none --propagation headers")

lab_init
BENCH_DIR=$LAB_DIR
T0=$(date +%s)
bench_need go
[ -x "$TRACEWIRE" ] || { fail "build first: make"; exit 1; }
[ -d /usr/share/gocode/src/google.golang.org/grpc ] || { fail "run scripts/install-deps.sh (golang-google-grpc-dev)"; exit 1; }
mkdir -p "$BENCH_BIN"
GOCACHE=$BENCH_REPO/build/gocache GOPATH=$BENCH_REPO/build/gopath:/usr/share/gocode GO111MODULE=off \
	GOPROXY=off GOFLAGS='' GOENV=off GOTOOLCHAIN=local CGO_ENABLED=0 \
	go build -o "$BENCH_BIN/go_grpc" tests/integration/servers/go_grpc.go || { fail "building go_grpc.go failed"; exit 1; }
G=$BENCH_BIN/go_grpc
IP_CLI=198.18.9.20 IP_MID=198.18.9.10 IP_LEAF=198.18.9.11
lab_pod gcli "$IP_CLI/24"
lab_pod gmid "$IP_MID/24"
lab_pod gleaf "$IP_LEAF/24"
FOREIGN=$(bench_foreign_tracewire)
declare -A RATE=() CPU=() SPC=() DROP=()

# cell ROUND CFG SIZE:CALLERS: one measurement
cell() {
	local r=$1 cfg=$2 size=${3%:*} callers=${3#*:} key=$1.$2.$3 u0 u1 n calls rate port=$((50300 + $1 * 10))
	# shellcheck disable=SC2086
	[ "$cfg" = a ] || bench_tw_start "$LAB_CG/tw" --cgroup "$(lab_cgroup gmid)" --cgroup "$(lab_cgroup gleaf)" ${TWARGS[$cfg]}
	lab_start_cmd gleaf "$IP_LEAF" "$port" "$G" serve "$IP_LEAF" "$port"
	lab_start_cmd gmid "$IP_MID" $((port + 1)) "$G" mid "$IP_MID" $((port + 1)) "$IP_LEAF:$port"
	lab_exec_in_pod gcli "$G" call "$IP_MID:$((port + 1))" --parallel "$callers" --size "$size" --duration 1s ||
		{ cat "$LAB_LAST_OUT"; fail "$key: warm-up calls failed"; return 1; }
	calls=$(sed -n 's/^load calls \([0-9]*\) .*/\1/p' "$LAB_LAST_OUT")
	u0=$(($(bench_cg_usec "$(lab_cgroup gmid)") + $(bench_cg_usec "$(lab_cgroup gleaf)") + $(bench_cg_usec "$LAB_CG/tw")))
	lab_exec_in_pod gcli "$G" call "$IP_MID:$((port + 1))" --parallel "$callers" --size "$size" --duration "${SECS}s" ||
		{ cat "$LAB_LAST_OUT"; fail "$key: a call failed or an answer was corrupted"; return 1; }
	u1=$(($(bench_cg_usec "$(lab_cgroup gmid)") + $(bench_cg_usec "$(lab_cgroup gleaf)") + $(bench_cg_usec "$LAB_CG/tw")))
	read -r n rate < <(sed -n 's|^load calls \([0-9]*\) failed 0 rate \([0-9.]*\)/s$|\1 \2|p' "$LAB_LAST_OUT")
	RATE[$key]=$rate CPU[$key]=$(bench_div $((u1 - u0)) "$n" %.1f)
	calls=$((calls + n))
	bench_pod_stop gmid && bench_pod_stop gleaf
	if [ "$cfg" != a ]; then
		bench_tw_stop
		SPC[$key]=$(bench_div "$(bench_tw_counter h2_spans)" "$calls" %.2f)
		DROP[$key]=$(bench_div "$(bench_tw_counter h2_streams_dropped)" "$calls" %.2f)
		[ "$(bench_tw_counter h2_spans)" -gt 0 ] || { fail "$key: no spans"; return 1; }
	fi
	echo "  round $r $cfg $size B x $callers: ${RATE[$key]} calls/s, ${CPU[$key]} us CPU per call, spans/call ${SPC[$key]:--}, dropped/call ${DROP[$key]:--}"
}

mkdir -p "$LAB_CG/tw"
for ((r = 1; r <= ROUNDS; r++)); do
	for w in $WORKLOADS; do
		# shellcheck disable=SC2046
		for cfg in $(bench_rotate $((r - 1)) "${CFGS[@]}"); do
			lab_step "round $r, ${w%:*}-byte calls x ${w#*:} callers, ${TITLE[$cfg]}"
			cell "$r" "$cfg" "$w"
		done
	done
done

# med CFG SIZE:CALLERS KIND(ratio|added|rate|cpu|spc): "median (min-max)" over the rounds
med() {
	local cfg=$1 size=$2 kind=$3 r v s
	s=$(for ((r = 1; r <= ROUNDS; r++)); do
		case $kind in
		rate) v=${RATE[$r.$cfg.$size]} ;;
		cpu) v=${CPU[$r.$cfg.$size]} ;;
		spc) v=${SPC[$r.$cfg.$size]} ;;
		drop) v=${DROP[$r.$cfg.$size]} ;;
		ratio) v=$(bench_div "${RATE[$r.$cfg.$size]}" "${RATE[$r.a.$size]}" %.3f) ;;
		added) v=$(LC_ALL=C awk -v x="${CPU[$r.$cfg.$size]}" -v y="${CPU[$r.a.$size]}" 'BEGIN { printf "%.1f", x - y }') ;;
		esac
		echo "$v"
	done | bench_stats)
	read -r m lo hi <<<"$s"
	if [ "$ROUNDS" = 1 ]; then echo "$m"; else echo "$m ($lo–$hi)"; fi
}
{
	echo "# gRPC call overhead: Go chain (client pod → grpc-go mid → grpc-go leaf), tracewire vs none"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ) · \`$CMDLINE\` · $ROUNDS round(s), configurations interleaved (order rotated each round) · $(($(date +%s) - T0)) s"
	echo
	echo "Unary calls of SIZE bytes, CALLERS callers on one channel (one TCP connection client → mid, one shared mid → leaf),"
	echo "${SECS} s per cell after a 1 s warm-up, every answer compared byte for byte (no failure in any cell)."
	echo "Fresh mid and leaf processes per cell; the client pod is not selected. tests/integration/servers/go_grpc.go, grpc-go 1.33.3 (Debian)."
	echo
	bench_machine_md
	[ -z "$FOREIGN" ] || echo "- other tracewire processes were running (figures not clean): $(echo "$FOREIGN" | cut -c1-120 | paste -sd';' -)"
	echo
	echo "## Throughput, ratio to (a) of the same round"
	echo
	bench_md_row "size × callers" "${TITLE[a]} calls/s" "${TITLE[b]}" "${TITLE[c]}"
	bench_md_row --- --- --- ---
	for w in $WORKLOADS; do bench_md_row "${w%:*} B × ${w#*:}" "$(med a "$w" rate)" "$(med b "$w" ratio)" "$(med c "$w" ratio)"; done
	echo
	echo "## CPU per call (mid + leaf pods + tracewire), µs; (b), (c): added over (a) of the same round"
	echo
	bench_md_row "size × callers" "${TITLE[a]}" "${TITLE[b]}" "${TITLE[c]}"
	bench_md_row --- --- --- ---
	for w in $WORKLOADS; do bench_md_row "${w%:*} B × ${w#*:}" "$(med a "$w" cpu)" "$(med b "$w" added)" "$(med c "$w" added)"; done
	echo
	echo "## Checks: spans per call (h2_spans / calls incl. warm-up; 3 = every call a span at mid server, mid client, leaf server), h2_streams_dropped per call"
	echo
	bench_md_row "size × callers" "${TITLE[b]} spans" "${TITLE[c]} spans" "${TITLE[b]} dropped" "${TITLE[c]} dropped"
	bench_md_row --- --- --- --- ---
	for w in $WORKLOADS; do
		bench_md_row "${w%:*} B × ${w#*:}" "$(med b "$w" spc)" "$(med c "$w" spc)" "$(med b "$w" drop)" "$(med c "$w" drop)"
	done
} >"$OUT"
lab_step "results in $OUT"
cat "$OUT"
