# shellcheck shell=bash disable=SC1007,SC2015,SC2034
# (SC1007: 'A= B=' empties are meant; SC2015: 'a && b || fail' chains are
#  meant; SC2034: the BENCH_* results are for the scripts that source this)
# Shared helpers for tracewire's benchmarks (bench/*.sh). Source it from bash
# after tests/integration/lab.sh when pods are used (the bench_pod_* and
# bench_wrk/bench_loadgen helpers run commands in lab pods; the rest needs
# nothing from lab.sh):
#
#   . tests/integration/lab.sh; . bench/lib.sh
#   lab_init; BENCH_DIR=$LAB_DIR         # where logs go (default: $LAB_DIR)
#   bench_build_tools                    # build/bench/loadgen, build/bench/chainsrv
#   bench_tw_start "$LAB_CG/tw" --cgroup "$(lab_cgroup srv)" --exporter none
#   bench_wrk cli http://198.18.7.10:8080/ 2 32 5; echo "$BENCH_WRK_RPS"
#   bench_loadgen cli http://198.18.7.10:8080/ 1000 5 16; echo "${BENCH_LG[p99_us]}"
#   bench_tw_stop; bench_tw_counter injected
#
# Contract (bench__* names are internal):
#   BENCH_REPO               the repository root
#   BENCH_BIN                build/bench (the Go tools go here)
#   BENCH_DIR                directory for logs (default $LAB_DIR, else a temp dir
#                            made by bench_workdir)
#   bench_workdir            make BENCH_DIR when it is unset (removed at exit only
#                            when the caller's trap does so)
#   bench_need CMD...        fail (status 1, message) unless every CMD is on PATH
#   bench_build_tools        build bench/loadgen (loadgen + chainsrv) offline into
#                            $BENCH_BIN when the sources are newer; Go stdlib only
#   bench_stats              numbers on stdin (whitespace-separated) -> "MEDIAN MIN
#                            MAX" (median of an even count: the mean of the middle
#                            two); nothing for no numbers
#   bench_fmt FMT NUMBER     printf FMT NUMBER with awk ("-" stays "-")
#   bench_div A B [FMT]      A / B formatted (default %.2f); "-" when B is 0 or
#                            either is empty or "-"
#   bench_rotate N WORD...   the words rotated left by N (interleaving orders)
#   bench_cg_usec DIR        cpu.stat usage_usec of cgroup v2 directory DIR (all
#                            its processes, live or exited, and below)
#   bench_pid_cpu_usec PID   utime+stime of PID (all threads) from /proc/PID/stat,
#                            in µs (clock-tick resolution)
#   bench_tw_start CGDIR ARGS...   start $TRACEWIRE (default build/tracewire)
#                            --stats-interval 0 ARGS... inside cgroup CGDIR (created
#                            if missing; "" = stay in ours), stderr in a fresh
#                            $BENCH_DIR/tw.N.log (BENCH_TW_LOG), stdout discarded;
#                            waits 30 s for "tracewire: info: ready". Sets
#                            BENCH_TW_PID and lab.sh's TW_PID (so lab_cleanup stops
#                            it on failure). No --jsonl unless ARGS has one.
#   bench_tw_stop            SIGTERM, waits 15 s (then KILL); fails unless it exited
#                            0; BENCH_TW_EXIT = its status; clears BENCH_TW_PID/TW_PID
#   bench_tw_counter NAME [LOG]   value of counter NAME (e.g. injected, records,
#                            lost_ringbuf_full, spans) in the "stats (exit)" lines
#                            of LOG (default BENCH_TW_LOG); fails if absent. The
#                            first match wins (e.g. "records" is the kernel's)
#   bench_tw_propagation [LOG]   "off" when the exit stats say propagation was off,
#                            else "on"
#   bench_foreign_tracewire  pids and command lines of tracewire processes that
#                            are not BENCH_TW_PID (other runs on the machine), one a
#                            line; nothing when there are none
#   bench_pod_stop POD [SIGNAL] [GRACE]   send SIGNAL (default TERM) to every process
#                            in lab pod POD's cgroup, KILL what is left after GRACE s
#                            (default 5), wait until the cgroup is empty (fails
#                            after 10 more s), and reap any of them that are this
#                            shell's children
#   bench_wrk POD URL THREADS CONNS SECS   wrk in pod POD (SECS: whole seconds;
#                            bounded: SECS + 30 s);
#                            sets BENCH_WRK_RPS (req/s), BENCH_WRK_REQS (requests),
#                            BENCH_WRK_BAD (non-2xx/3xx responses + socket errors)
#                            and BENCH_WRK_OUT (its output file); fails when wrk
#                            fails or printed no rate
#   bench_loadgen POD URL RATE SECS CONNS [WARMUP_SECS]   $BENCH_BIN/loadgen in pod
#                            POD (bounded: WARMUP + SECS + 40 s); its KEY=VALUE
#                            output goes into the associative array BENCH_LG (e.g.
#                            ${BENCH_LG[p99_us]}, [ok], [errors], [overflow]); fails
#                            when loadgen fails
#   bench_machine_md         Markdown lines on the machine: kernel, CPU model,
#                            nproc, memory, distribution and tool versions
#   bench_md_row CELL...     one Markdown table row "| a | b |"

BENCH_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_BIN=$BENCH_REPO/build/bench
BENCH_DIR=${BENCH_DIR:-${LAB_DIR:-}}
TRACEWIRE=${TRACEWIRE:-$BENCH_REPO/build/tracewire}
BENCH_TW_PID=
BENCH_TW_LOG=
BENCH_TW_EXIT=
BENCH_TW_RUNS=0
BENCH_WRK_RPS= BENCH_WRK_REQS= BENCH_WRK_BAD= BENCH_WRK_OUT=
declare -A BENCH_LG=()
TW_PID=${TW_PID:-}

bench__say() { printf 'bench: %s\n' "$*" >&2; }
bench__fail() {
	printf 'FAIL: %s\n' "$*" >&2
	return 1
}

bench_workdir() {
	[ -n "$BENCH_DIR" ] && return 0
	BENCH_DIR=$(mktemp -d /tmp/tracewire-bench.XXXXXX)
}

bench_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || { bench__fail "'$c' not found: run scripts/install-deps.sh"; return 1; }
	done
}

# Go tools, offline: no module proxy, a go.mod without requirements.
bench_build_tools() {
	local src=$BENCH_REPO/bench/loadgen f newest=0 t
	bench_need go || return 1
	mkdir -p "$BENCH_BIN"
	for f in "$src"/go.mod "$src"/*.go "$src"/chainsrv/*.go; do
		t=$(stat -c %Y "$f")
		[ "$t" -le "$newest" ] || newest=$t
	done
	if [ -x "$BENCH_BIN/loadgen" ] && [ -x "$BENCH_BIN/chainsrv" ] &&
		[ "$(stat -c %Y "$BENCH_BIN/loadgen")" -ge "$newest" ] &&
		[ "$(stat -c %Y "$BENCH_BIN/chainsrv")" -ge "$newest" ]; then
		return 0
	fi
	(
		cd "$src" &&
			export GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 \
				GOCACHE=$BENCH_REPO/build/gocache GOPATH=$BENCH_REPO/build/gopath &&
			go build -o "$BENCH_BIN/loadgen.tmp" . &&
			go build -o "$BENCH_BIN/chainsrv.tmp" ./chainsrv &&
			mv -f "$BENCH_BIN/loadgen.tmp" "$BENCH_BIN/loadgen" &&
			mv -f "$BENCH_BIN/chainsrv.tmp" "$BENCH_BIN/chainsrv"
	) || { rm -f "$BENCH_BIN"/*.tmp; bench__fail "building bench/loadgen failed"; return 1; }
}

# ---- numbers ----------------------------------------------------------------

bench_stats() {
	tr -s ' \t' '\n' | grep -E '^-?[0-9.]+([eE][-+]?[0-9]+)?$' | sort -g |
		LC_ALL=C awk '{ a[NR] = $1 } END {
			if (NR == 0) exit
			m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
			printf "%s %s %s\n", m, a[1], a[NR] }'
}

bench_fmt() {
	case ${2:-} in "" | -) echo - ;; *) LC_ALL=C awk -v f="$1" -v n="$2" 'BEGIN { printf f "\n", n }' ;; esac
}

bench_div() {
	case "${1:-}|${2:-}" in *"|" | "|"* | *-\|* | *\|-) echo -; return 0 ;; esac
	LC_ALL=C awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" \
		'BEGIN { if (b + 0 == 0) print "-"; else printf f "\n", a / b }'
}

bench_rotate() {
	local n=$1
	shift
	local -a w=("$@")
	local i k=${#w[@]}
	[ "$k" -gt 0 ] || return 0
	for ((i = 0; i < k; i++)); do printf '%s ' "${w[(i + n) % k]}"; done
	echo
}

# ---- CPU --------------------------------------------------------------------

bench_cg_usec() {
	local v
	v=$(awk '$1 == "usage_usec" { print $2 }' "$1/cpu.stat" 2>/dev/null)
	[ -n "$v" ] || { bench__fail "no usage_usec in $1/cpu.stat"; return 1; }
	echo "$v"
}

bench_pid_cpu_usec() {
	local st hz
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || { bench__fail "no /proc/$1/stat"; return 1; }
	hz=$(getconf CLK_TCK)
	# after "(comm) ": state is field 1, utime 12, stime 13
	awk -v hz="$hz" '{ printf "%.0f\n", ($12 + $13) * 1000000 / hz }' <<<"$st"
}

# ---- tracewire ----------------------------------------------------------------

bench__alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "${st%% *}" != Z ]
}

bench_tw_start() {
	local cg=$1 deadline rc=0
	shift
	[ -x "$TRACEWIRE" ] || { bench__fail "$TRACEWIRE is missing: run make"; return 1; }
	[ -z "$BENCH_TW_PID" ] || { bench__fail "bench_tw_start: tracewire is already running (pid $BENCH_TW_PID)"; return 1; }
	bench_workdir
	BENCH_TW_RUNS=$((BENCH_TW_RUNS + 1))
	BENCH_TW_LOG=$BENCH_DIR/tw.$BENCH_TW_RUNS.log
	if [ -n "$cg" ]; then
		mkdir -p "$cg" || { bench__fail "cannot create cgroup $cg"; return 1; }
		# shellcheck disable=SC2016
		sh -c 'echo $$ > "$1/cgroup.procs" || exit 126; shift; exec "$@"' bench-tw "$cg" \
			"$TRACEWIRE" --stats-interval 0 "$@" >/dev/null 2>"$BENCH_TW_LOG" </dev/null &
	else
		"$TRACEWIRE" --stats-interval 0 "$@" >/dev/null 2>"$BENCH_TW_LOG" </dev/null &
	fi
	BENCH_TW_PID=$!
	TW_PID=$BENCH_TW_PID
	deadline=$(($(date +%s%N) + 30000000000))
	while ! grep -Eq '^([^ ]+ )?tracewire: info: ready' "$BENCH_TW_LOG"; do
		if ! bench__alive "$BENCH_TW_PID"; then
			wait "$BENCH_TW_PID" || rc=$?
			BENCH_TW_PID= TW_PID=
			bench__fail "tracewire exited with status $rc before it was ready: tracewire $*"
			tail -n 20 "$BENCH_TW_LOG" >&2
			return 1
		fi
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			bench__fail "tracewire not ready within 30 s: tracewire $*"
			tail -n 20 "$BENCH_TW_LOG" >&2
			return 1
		fi
		sleep 0.05
	done
}

bench_tw_stop() {
	local pid=$BENCH_TW_PID i rc=0
	[ -n "$pid" ] || { bench__fail "bench_tw_stop: tracewire is not running"; return 1; }
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 300; i++)); do
		bench__alive "$pid" || break
		sleep 0.05
	done
	if bench__alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		BENCH_TW_PID= TW_PID= BENCH_TW_EXIT=124
		bench__fail "tracewire did not exit within 15 s of SIGTERM (killed)"
		return 1
	fi
	wait "$pid" || rc=$?
	BENCH_TW_PID= TW_PID= BENCH_TW_EXIT=$rc
	if [ "$rc" != 0 ]; then
		bench__fail "tracewire exited with status $rc after SIGTERM (log: $BENCH_TW_LOG)"
		tail -n 20 "$BENCH_TW_LOG" >&2
		return 1
	fi
}

bench_tw_counter() {
	local log=${2:-$BENCH_TW_LOG} v
	v=$(grep -E '^([^ ]+ )?tracewire: info: stats \(exit\):' "$log" 2>/dev/null | grep -o " $1=[0-9]*" | head -n 1)
	[ -n "$v" ] || { bench__fail "no counter $1 in the exit stats of $log"; return 1; }
	echo "${v#*=}"
}

bench_tw_propagation() {
	if grep -Eq '^([^ ]+ )?tracewire: info: stats \(exit\): propagation off' "${1:-$BENCH_TW_LOG}" 2>/dev/null; then
		echo off
	else
		echo on
	fi
}

bench_foreign_tracewire() {
	local p exe
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" != "$BENCH_TW_PID" ] || continue
		exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
		[ "${exe##*/}" = tracewire ] || continue
		printf '%s %s\n' "$p" "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
	done
}

# ---- pods (lab.sh) --------------------------------------------------------------

bench_pod_stop() {
	local pod=$1 sig=${2:-TERM} grace=${3:-5} cg pids i p
	cg=$(lab_cgroup "$pod") || return 1
	pids=$(cat "$cg/cgroup.procs" 2>/dev/null)
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill "-$sig" $pids 2>/dev/null || true
	for ((i = 0; i < grace * 20; i++)); do
		grep -qx 'populated 1' "$cg/cgroup.events" 2>/dev/null || break
		sleep 0.05
	done
	if grep -qx 'populated 1' "$cg/cgroup.events" 2>/dev/null; then
		bench__say "pod $pod: processes left after SIG$sig and ${grace}s: KILL"
		pids=$(cat "$cg/cgroup.procs" 2>/dev/null)
		# shellcheck disable=SC2086
		[ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
		for ((i = 0; i < 200; i++)); do
			grep -qx 'populated 1' "$cg/cgroup.events" 2>/dev/null || break
			sleep 0.05
		done
		grep -qx 'populated 1' "$cg/cgroup.events" 2>/dev/null &&
			{ bench__fail "pod $pod: processes survive SIGKILL: $(tr '\n' ' ' <"$cg/cgroup.procs")"; return 1; }
	fi
	# reap the ones this shell started (lab_run_in_pod records them)
	for p in "${LAB_PIDS[@]}"; do
		bench__alive "$p" || wait "$p" 2>/dev/null || true
	done
	return 0
}

# bench__ceil X: the smallest integer >= X (X a decimal number of seconds).
bench__ceil() {
	LC_ALL=C awk -v x="$1" 'BEGIN { if (x !~ /^[0-9]+(\.[0-9]*)?$/) exit 1; i = int(x); print (x > i ? i + 1 : i) }' ||
		{ bench__fail "not a number of seconds: '$1'"; return 1; }
}

bench_wrk() {
	local pod=$1 url=$2 t=$3 c=$4 secs=$5 rc=0 out
	[[ $secs =~ ^[1-9][0-9]*$ ]] || { bench__fail "bench_wrk: SECS must be a whole number of seconds (wrk's), not '$secs'"; return 1; }
	LAB_EXEC_TIMEOUT=$((secs + 30)) lab_exec_in_pod "$pod" \
		wrk "-t$t" "-c$c" "-d${secs}s" --timeout 5s "$url" || rc=$?
	BENCH_WRK_OUT=$LAB_LAST_OUT
	out=$LAB_LAST_OUT
	if [ "$rc" != 0 ]; then
		bench__fail "wrk in pod $pod exited $rc ($url)"
		cat "$LAB_LAST_ERR" "$out" >&2 2>/dev/null
		return 1
	fi
	BENCH_WRK_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
	BENCH_WRK_REQS=$(awk '/ requests in / { print $1 }' "$out")
	BENCH_WRK_BAD=$(awk '
		/Non-2xx or 3xx responses:/ { n += $NF }
		/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
		END { print n + 0 }' "$out")
	[ -n "$BENCH_WRK_RPS" ] && [ -n "$BENCH_WRK_REQS" ] ||
		{ bench__fail "wrk printed no rate ($url)"; cat "$out" >&2; return 1; }
}

bench_loadgen() {
	local pod=$1 url=$2 rate=$3 secs=$4 conns=$5 warm=${6:-0} rc=0 kv bound
	bound=$(bench__ceil "$(LC_ALL=C awk -v a="$secs" -v b="$warm" 'BEGIN { print a + b }')") || return 1
	LAB_EXEC_TIMEOUT=$((bound + 40)) lab_exec_in_pod "$pod" \
		"$BENCH_BIN/loadgen" -url "$url" -rate "$rate" -duration "${secs}s" \
		-warmup "${warm}s" -conns "$conns" -timeout 5s || rc=$?
	if [ "$rc" != 0 ]; then
		bench__fail "loadgen in pod $pod exited $rc ($url at $rate/s)"
		cat "$LAB_LAST_ERR" "$LAB_LAST_OUT" >&2 2>/dev/null
		return 1
	fi
	BENCH_LG=()
	for kv in $(tail -n 1 "$LAB_LAST_OUT"); do
		BENCH_LG[${kv%%=*}]=${kv#*=}
	done
	[ -n "${BENCH_LG[p99_us]:-}" ] || { bench__fail "loadgen printed no figures"; cat "$LAB_LAST_OUT" >&2; return 1; }
	[ ! -s "$LAB_LAST_ERR" ] || sed 's/^/  /' "$LAB_LAST_ERR" >&2
}

# ---- report -------------------------------------------------------------------

bench__ver() { "$@" 2>&1 | head -n 1; }

bench_machine_md() {
	local cpu mem distro
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	distro=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}")
	echo "- kernel: $(uname -r) ($(uname -m)); $distro"
	echo "- CPU: ${cpu:-?}; nproc: $(nproc); memory: $mem"
	echo "- load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- tools: $(bench__ver wrk --version | awk '{ print $1, $2 }') · $(bench__ver go version | sed 's/^go version //') ·" \
		"node $(bench__ver node --version) · $(bench__ver python3 --version) · $(bench__ver nginx -v | sed 's/^nginx version: //') ·" \
		"clang $(bench__ver clang --version | grep -o '[0-9][0-9.]*' | head -n 1)"
	echo "- tracewire: $TRACEWIRE, built $(date -u -r "$TRACEWIRE" +%Y-%m-%dT%H:%MZ 2>/dev/null), sha256 $(sha256sum "$TRACEWIRE" 2>/dev/null | cut -c1-12)"
}

bench_md_row() {
	local out="|" c
	for c in "$@"; do out+=" $c |"; done
	echo "$out"
}
