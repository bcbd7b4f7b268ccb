#!/usr/bin/env bash
# Where the CPU of a traced request goes (issue 18, item 1): wrk in pod cli
# loads nginx (`return 200`) in pod srv, both selected by tracewire
# (--exporter none, header propagation on: the default), and for one load
# window of SECS seconds:
#   - BPF: run_time_ns / run_cnt of every program tracewire holds
#     (kernel.bpf_stats_enabled=1, restored at exit), per call and per request;
#   - user space: tracewire's utime+stime per request and per record (the
#     kernel's records counter), and the functions it spends it in
#     (perf record of its process, top PERF_TOP symbols);
#   - the whole machine: the share of all CPU in the kernel functions behind
#     tracewire's programs (perf record -a), e.g. the ring buffer's wakeups.
# Usage: bench/breakdown.sh [--out FILE] (default bench/results/breakdown.md,
# bench/results/breakdown-SERVER.md for another SERVER)
# Environment: SECS (8), CONNS (16), PERF_TOP (25), TRACEWIRE, SERVER (nginx;
# or node, go, python: tests/integration/servers' trivial servers).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/integration/lab.sh
. tests/integration/lab.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh

OUT=bench/results/breakdown.md OUT_SET=0
while [ $# -gt 0 ]; do
	case $1 in
	--out) OUT=$2 OUT_SET=1; shift 2 ;;
	*) echo "usage: bench/breakdown.sh [--out FILE]" >&2; exit 2 ;;
	esac
done
SECS=${SECS:-8} CONNS=${CONNS:-16} PERF_TOP=${PERF_TOP:-25}
SERVER=${SERVER:-nginx}
bench_need wrk perf bpftool
[ "$SERVER" != nginx ] || bench_need nginx
# another server's run goes beside nginx's, not over it
[ "$SERVER" = nginx ] || [ "$OUT_SET" = 1 ] || OUT=bench/results/breakdown-$SERVER.md

lab_init
BENCH_DIR=$LAB_DIR
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -qw kernel.bpf_stats_enabled=$old_stats; lab_cleanup' EXIT
sysctl -qw kernel.bpf_stats_enabled=1
lab_pod srv 198.18.0.10/24
lab_pod cli 198.18.0.20/24
lab_start_server "$SERVER" srv "$(lab_ip srv)" 8080
bench_tw_start "" --exporter none --cgroup "$(lab_cgroup srv)" --cgroup "$(lab_cgroup cli)"

# {name: [run_time_ns, run_cnt]} of the programs tracewire holds
progs() {
	"$LAB_PY" - "$BENCH_TW_PID" <<-'EOF'
		import json, os, subprocess, sys
		pid, ids = sys.argv[1], set()
		for fd in os.listdir(f"/proc/{pid}/fdinfo"):
		    try:
		        txt = open(f"/proc/{pid}/fdinfo/{fd}").read()
		    except OSError:
		        continue
		    ids.update(int(l.split()[1]) for l in txt.splitlines() if l.startswith("prog_id:"))
		progs = json.loads(subprocess.run(["bpftool", "prog", "show", "-j"], check=True,
		                                  capture_output=True).stdout)
		print(json.dumps({p["name"]: [p.get("run_time_ns", 0), p.get("run_cnt", 0)]
		                  for p in progs if p["id"] in ids}))
	EOF
}

LAB_EXEC_TIMEOUT=$((SECS + 30)) lab_run_in_pod cli wrk -t1 -c"$CONNS" -d"$((SECS + 2))s" \
	"http://$(lab_ip srv):8080/"
wrk_pid=$LAB_LAST_PID wrk_out=$LAB_LAST_LOG
sleep 1 # wrk's connections are up
before=$(progs) cpu0=$(bench_pid_cpu_usec "$BENCH_TW_PID") t0=$(date +%s%N)
perf record -g -p "$BENCH_TW_PID" -o "$LAB_DIR/user.data" -- sleep "$((SECS / 2))" >/dev/null 2>&1
perf record -a -g -o "$LAB_DIR/all.data" -- sleep "$((SECS / 2))" >/dev/null 2>&1
after=$(progs) cpu1=$(bench_pid_cpu_usec "$BENCH_TW_PID") t1=$(date +%s%N)
lab_wait_pid "$wrk_pid" $((SECS + 20)) || fail "wrk failed"
bench_tw_stop
rps=$(awk '/Requests\/sec/ {print $2}' "$wrk_out")
records=$(bench_tw_counter records)
reqs=$(awk -v r="$rps" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", r * (b - a) / 1e9 }')

{
	echo "# Where a traced request's CPU goes (wrk -> $SERVER, both selected)"
	echo
	bench_machine_md
	echo "- load: \`wrk -t1 -c$CONNS\` from pod cli to $SERVER (\`lab_start_server $SERVER\`: a fixed 200) in pod srv; both selected"
	echo "  (\`--cgroup\`), \`--exporter none\`, header propagation on; ${SECS} s window; $rps requests/s"
	echo "- other processes on the machine ran at the same time as they happened to: the"
	echo "  per-call figures are the programs' own, the shares are of everything that ran"
	echo
	echo "## BPF programs (bpf_stats), one request = one client and one server side"
	echo
	echo "| program | calls/request | ns/call | ns/request |"
	echo "| --- | --- | --- | --- |"
	"$LAB_PY" - "$before" "$after" "$reqs" <<-'EOF'
		import json, sys
		b, a, r = json.loads(sys.argv[1]), json.loads(sys.argv[2]), max(int(sys.argv[3]), 1)
		rows, tot = [], 0
		for n, (ns, c) in a.items():
		    ns0, c0 = b.get(n, [0, 0])
		    if c - c0 > 0:
		        rows.append((ns - ns0, n, c - c0)); tot += ns - ns0
		for ns, n, c in sorted(rows, reverse=True):
		    print(f"| `{n}` | {c / r:.2f} | {ns / c:,.0f} | {ns / r:,.0f} |")
		print(f"| all | | | **{tot / r:,.0f}** |")
	EOF
	echo
	echo "Calls of processes that are not selected (every process's read and write run"
	echo "\`tw_exit_io\` up to the selection check) are in the counts and lower the mean."
	echo
	echo "## tracewire's own process"
	echo
	echo "- user+sys CPU: $(bench_div $(( (cpu1 - cpu0) * 1000 )) "$reqs" %.0f) ns per request;"
	echo "  $(bench_div "$records" "$(awk -v r="$rps" -v s="$((SECS + 2))" 'BEGIN{printf "%d", r*s}')" %.1f) records per request,"
	echo "  so about $(bench_div $(( (cpu1 - cpu0) * 1000 )) "$(awk -v n="$reqs" -v rec="$records" -v r="$rps" -v s="$((SECS + 2))" 'BEGIN{printf "%d", n * rec / (r * s)}')" %.0f) ns per record"
	echo
	echo "Top functions (perf record of tracewire, self time):"
	echo
	echo '```'
	perf report -i "$LAB_DIR/user.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
		grep -E '^ +[0-9.]+%' | awk -v n="$PERF_TOP" 'NR <= n' | sed 's/  *-  *-  *$//; s/ *$//'
	echo '```'
	echo
	echo "## The whole machine (perf record -a): BPF programs and what they call"
	echo
	echo '```'
	perf report -i "$LAB_DIR/all.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
		grep -E '^ +[0-9.]+%' |
		{ grep -E 'bpf|ringbuf|native_write_msr|htab|lru|copy_from_(kernel|user)_nofault|sk_msg|task_storage|trace_call' || true; } |
		awk -v n="$PERF_TOP" 'NR <= n' | sed 's/  *-  *-  *$//; s/ *$//'
	echo '```'
	# measurements made apart (variant builds, bench/tracepoint-floor.sh),
	# kept from the file being replaced: this run does not redo them
	if [ -f "$OUT" ] && grep -q '^## Measured apart' "$OUT"; then
		echo
		sed -n '/^## Measured apart/,$p' "$OUT"
	fi
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "breakdown: $OUT"
