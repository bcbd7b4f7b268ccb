#!/usr/bin/env bash
# What a process tracewire does NOT select pays per read/write (issue 18), in
# two parts:
#   1. bpf_stats ns per call (CPU time inside each program, robust to other
#      tenants) of programs on the same syscall exits as tw_exit_io: an empty
#      one (the floor: the run itself and bpf_stats' two clock reads), one
#      step of the selection check each, the check as it was before the
#      verdict cache, and tw_exit_io of each tracewire given -- all attached at
#      the same time, for the same write(2)s of one unselected process.
#   2. the thread's CPU time per write(2), bpf_stats off: no program attached,
#      the empty program only (the tracepoint dispatch: an enabled syscall
#      tracepoint puts every task's syscall exit on the slow path, then
#      perf_syscall_exit and trace_call_bpf run), each tracewire alone;
#      least of 15 loops, ROUNDS rounds alternated.
# The unselected process runs in a cgroup at the same depth as the selected
# one (as pods do), so the check does its full ancestor lookup.
#
# Usage: bench/tracepoint-floor.sh [--before OLD_TRACEWIRE] [--out FILE]
#   TRACEWIRE (default build/tracewire) is the one under test; --before adds
#   another build to compare with. BUILD (default build) holds vmlinux.h.
# Needs root, clang, bpftool, libbpf; about a minute.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
TRACEWIRE=${TRACEWIRE:-build/tracewire}
BUILD=${BUILD:-build}
OUT=bench/results/tracepoint-floor.md
BEFORE=
ROUNDS=${ROUNDS:-3}
while [ $# -gt 0 ]; do
	case $1 in
	--before) BEFORE=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*) echo "usage: $0 [--before OLD_TRACEWIRE] [--out FILE]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "tracepoint-floor: needs root" >&2; exit 1; }
for f in "$TRACEWIRE" ${BEFORE:+"$BEFORE"}; do
	[ -x "$f" ] || { echo "tracepoint-floor: $f missing: run make" >&2; exit 1; }
done
[ -r "$BUILD/vmlinux.h" ] || { echo "tracepoint-floor: $BUILD/vmlinux.h missing: run make" >&2; exit 1; }

T=$BUILD/tpfloor
mkdir -p "$T"
clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I"$BUILD" -Ibpf -Iinclude -c bench/tpfloor/floor.bpf.c -o "$T/floor.bpf.o"
bpftool gen skeleton "$T/floor.bpf.o" name floor_bpf >"$T/floor.skel.h"
cc -O2 -Wall -I"$T" bench/tpfloor/floor.c -o "$T/floor" -lbpf
cc -O2 -Wall bench/tpfloor/sysbench.c -o "$T/sysbench"

CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$CG2" ] || { echo "tracepoint-floor: no cgroup2 mount" >&2; exit 1; }
CG=$CG2/tracewire-floor.$$
STATS=/proc/sys/kernel/bpf_stats_enabled
OLD_STATS=$(cat "$STATS")
PIDS=()
cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	exec 3>&- 2>/dev/null
	echo "$OLD_STATS" >"$STATS"
	sleep 0.3
	rmdir "$CG/sel" "$CG/other" "$CG" 2>/dev/null
	rm -f "$T"/tw.*.log "$T/floor.out"
}
trap cleanup EXIT
mkdir -p "$CG/sel" "$CG/other"
ID=$(stat -c %i "$CG/sel")
LEVEL=2

tw_up() { # tw_up BIN TAG: tracewire selecting only the empty cgroup
	"$1" --exporter none --stats-interval 0 --cgroup "$CG/sel" >/dev/null 2>"$T/tw.$2.log" &
	PIDS+=($!)
	for _ in $(seq 300); do
		grep -q 'info: ready' "$T/tw.$2.log" && return 0
		kill -0 "${PIDS[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "tracepoint-floor: $1 did not start:" >&2; cat "$T/tw.$2.log" >&2; exit 1
}
tw_down() { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'; }
floor_up() { # floor_up PROG...
	rm -f "$T/floor.out"
	exec 3> >(exec "$T/floor" "$ID" "$LEVEL" "$@" >"$T/floor.out")
	for _ in $(seq 100); do grep -q attached "$T/floor.out" 2>/dev/null && return 0; sleep 0.1; done
	echo "tracepoint-floor: the floor programs did not attach" >&2; exit 1
}
floor_down() { exec 3>&-; sleep 0.3; }
bench() { sh -c "echo \$\$ >$CG/other/cgroup.procs; exec $T/sysbench ${1:-200000} ${2:-15}"; }
# ids of the programs held by these pids, and their name -> [run_time_ns, run_cnt]
snap() {
	python3 - "$@" <<'PY'
import json, os, subprocess, sys
ids = {}
for tag_pid in sys.argv[1:]:
    tag, pid = tag_pid.split("=")
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try: txt = open(f"/proc/{pid}/fdinfo/{fd}").read()
        except OSError: continue
        for line in txt.splitlines():
            if line.startswith("prog_id:"): ids[int(line.split()[1])] = tag
progs = json.loads(subprocess.run(["bpftool", "prog", "show", "-j"], check=True, capture_output=True).stdout)
out = {}
for p in progs:
    if p["id"] in ids and (p["name"].startswith("f") or p["name"] == "tw_exit_io"):
        name = p["name"] if p["name"].startswith("f") else f"tw_exit_io ({ids[p['id']]})"
        out[name] = [p.get("run_time_ns", 0), p.get("run_cnt", 0)]
print(json.dumps(out))
PY
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# ---- 1. bpf_stats, everything attached at once --------------------------------
echo 1 >"$STATS"
floor_up f0_empty f1_pid f2_cgroup_id f3_lookup f4_selected
FLOOR_PID=$(pgrep -n -x floor)
tags=("floor=$FLOOR_PID")
tw_up "$TRACEWIRE" after; tags+=("after=${PIDS[-1]}")
if [ -n "$BEFORE" ]; then tw_up "$BEFORE" before; tags+=("before=${PIDS[-1]}"); fi
STATS_ROWS=$T/stats.tsv
: >"$STATS_ROWS"
for _ in $(seq "$ROUNDS"); do
	b=$(snap "${tags[@]}")
	bench 1000000 1 >/dev/null
	a=$(snap "${tags[@]}")
	python3 - "$b" "$a" >>"$STATS_ROWS" <<'PY'
import json, sys
b, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for n, (ns, c) in a.items():
    dn, dc = ns - b[n][0], c - b[n][1]
    if dc: print(f"{n}\t{dn / dc:.1f}")
PY
done
while [ ${#PIDS[@]} -gt 0 ]; do tw_down; done
floor_down
echo "$OLD_STATS" >"$STATS"

# ---- 2. CPU time per write(2), bpf_stats off -----------------------------------
echo 0 >"$STATS"
WALL_ROWS=$T/wall.tsv
: >"$WALL_ROWS"
for _ in $(seq "$ROUNDS"); do
	printf 'no program\t%s\n' "$(bench)" >>"$WALL_ROWS"
	floor_up f0_empty
	printf 'empty program\t%s\n' "$(bench)" >>"$WALL_ROWS"
	floor_down
	tw_up "$TRACEWIRE" after
	printf 'tracewire (%s)\t%s\n' "$TRACEWIRE" "$(bench)" >>"$WALL_ROWS"
	tw_down
	if [ -n "$BEFORE" ]; then
		tw_up "$BEFORE" before
		printf 'tracewire (%s)\t%s\n' "$BEFORE" "$(bench)" >>"$WALL_ROWS"
		tw_down
	fi
done
echo "$OLD_STATS" >"$STATS"

python3 - "$STATS_ROWS" "$WALL_ROWS" "$TRACEWIRE" "${BEFORE:-}" "$LOAD0" >"$OUT" <<'PY'
import collections, statistics, subprocess, sys, time
stats, wall, tw, before, load0 = sys.argv[1:6]
def rows(path):
    d = collections.OrderedDict()
    for line in open(path):
        k, v = line.rstrip("\n").split("\t")
        d.setdefault(k, []).append(float(v))
    return d
s, w = rows(stats), rows(wall)
med = lambda v: statistics.median(v)
rng = lambda v: f"{med(v):.0f} ({min(v):.0f} – {max(v):.0f})"
floor = med(s["f0_empty"])
desc = {
    "f0_empty": "empty program (`return 0`): the floor",
    "f1_pid": "bpf_get_current_pid_tgid and a compare",
    "f2_cgroup_id": "bpf_get_current_cgroup_id and a compare",
    "f3_lookup": "the selection check before the verdict cache: pid compare, ancestor cgroup id, `selected_cgroups` lookup",
    "f4_selected": "`tw_selected()` as built now (bpf/lib/select.h)",
    "tw_exit_io (after)": f"tracewire's `tw_exit_io`: `{tw}`",
    "tw_exit_io (before)": f"tracewire's `tw_exit_io`: `{before}`",
}
print("# Unselected processes: the tracepoint floor and tracewire's part\n")
print(f"- date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
print(f"- kernel: {subprocess.run(['uname', '-r'], capture_output=True, text=True).stdout.strip()}; nproc: {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()}; load average at the start: {load0}")
print("- command: `bench/tracepoint-floor.sh" + (f" --before {before}" if before else "") + "`")
print("- load: one process in a cgroup beside the selected one (same depth) writing one byte to /dev/null, 1,000,000 times per round")
print("\n## 1. bpf_stats: ns per call, all programs attached at once\n")
print("| program | ns/call median (min – max) | net of the empty program |")
print("| --- | --- | --- |")
for k, v in s.items():
    print(f"| {desc.get(k, k)} | {rng(v)} | {med(v) - floor:.0f} |")
print("\n## 2. CPU time per write(2), bpf_stats off (least of 15 loops of 200,000; median over rounds)\n")
print("| attached | ns per write(2) median (min – max) | over no program | over the empty program |")
print("| --- | --- | --- | --- |")
none, empty = med(w["no program"]), med(w["empty program"])
for k, v in w.items():
    over_e = "—" if k == "no program" else f"{med(v) - empty:.0f}"
    print(f"| {k} | {rng(v)} | {med(v) - none:.0f} | {over_e} |")
print("\n\"empty program\" over \"no program\" is the dispatch every syscall of every process pays once any")
print("program is on a syscall exit tracepoint (the exit's slow path, perf_syscall_exit, trace_call_bpf,")
print("the run of an empty program): bound to syscall tracepoints, whatever the program does. What is over")
print("the empty program is tracewire's own work.")
PY
echo "tracepoint-floor: $OUT"
