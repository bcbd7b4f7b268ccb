#!/usr/bin/env bash
# Per-program kernel cost (issue 5, item 3): with kernel.bpf_stats_enabled=1,
# run_time_ns / run_cnt of every tracewire BPF program while wrk in a client
# pod loads a server in a server pod, both selected by tracewire (--cgroup),
# header propagation on; and the same load with tracewire selecting only an
# idle pod (the unselected cost per call). Configurations alternate over
# ROUNDS rounds; medians and spreads go to bench/results/kernel-cost.md.
#
# Usage: bench/kernel-cost.sh [--quick] [--server nginx|python] [--out FILE]
#   --quick   2 rounds, 3 s of load per configuration (about 30 s)
#   default   3 rounds, 12 s of load per configuration (about 2 minutes)
# Needs root (BPF, network namespaces, the sysctl). The sysctl's old value is
# restored on exit, whatever happens; pods, servers and tracewire are removed.
# Targets (issue 5): sk_msg <= 500 ns per message; tracepoint programs
# <= 150 ns per call on selected processes and <= 30 ns on unselected ones.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

QUICK=0 SERVER=nginx OUT=bench/results/kernel-cost.md
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--server) SERVER=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h | --help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "kernel-cost: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
case $SERVER in nginx | python) ;; *) echo "kernel-cost: --server nginx or python" >&2; exit 2 ;; esac
if [ "$QUICK" = 1 ]; then ROUNDS=2 SECS=3 IDLE=1; else ROUNDS=3 SECS=12 IDLE=3; fi
CONNS=16
CMDLINE=bench/kernel-cost.sh
[ "$QUICK" = 0 ] || CMDLINE+=" --quick"
[ "$SERVER" = nginx ] || CMDLINE+=" --server $SERVER"
STATS=/proc/sys/kernel/bpf_stats_enabled

# ---- preconditions --------------------------------------------------------------
[ "$(id -u)" = 0 ] || { echo "kernel-cost: needs root (BPF, namespaces, sysctl)" >&2; exit 1; }
for c in bpftool wrk ip python3 flock "$SERVER"; do
	command -v "$c" >/dev/null || { echo "kernel-cost: '$c' not found (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x build/tracewire ] || { echo "kernel-cost: build/tracewire missing: run make" >&2; exit 1; }
[ -w "$STATS" ] || { echo "kernel-cost: $STATS is missing or not writable: this kernel cannot report BPF run times" >&2; exit 1; }

# One instance at a time: a second one would take the first one's "1" for
# the value to restore.
exec 9>/tmp/tracewire-bench-kernel-cost.lock
flock -w 900 9 || { echo "kernel-cost: another kernel-cost run holds /tmp/tracewire-bench-kernel-cost.lock" >&2; exit 1; }
OLD_STATS=$(cat "$STATS")
restore_stats() { echo "$OLD_STATS" >"$STATS" 2>/dev/null || echo "kernel-cost: could not restore $STATS to $OLD_STATS" >&2; }
trap restore_stats EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo 1 >"$STATS"

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
machine_details() {
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	bench_machine_md
	echo "- command: \`$CMDLINE\`"
}
MACHINE=$(machine_details)

# The lab runs in a subshell: lab.sh's EXIT trap cleans the pods up when it
# ends, this shell's trap restores the sysctl.
(
	# shellcheck source=SCRIPTDIR/../tests/integration/lab.sh
	. "$REPO/tests/integration/lab.sh"
	# shellcheck disable=SC2034 # read by lab_init
	LAB_PREFIX=bk$$
	lab_init
	# the sysctl goes back as soon as the lab ends, too (the outer trap is the
	# second line of defence): lab.sh's handler then cleans up with the status
	# shellcheck disable=SC2154 # bk_rc is set inside the trap
	trap 'bk_rc=$?; set +e; restore_stats; (exit "$bk_rc"); lab__on_exit' EXIT
	DATA=$LAB_DIR/data.tsv
	: >"$DATA"

	# tracewire as a node agent, nothing exported, no counters logged
	bk_tw_start() {
		local deadline
		TW_RUNS=$((TW_RUNS + 1))
		TW_LOG=$LAB_DIR/tracewire.$TW_RUNS.log
		"$TRACEWIRE" --exporter none --stats-interval 0 "$@" >"$LAB_DIR/tracewire.$TW_RUNS.out" \
			2>"$TW_LOG" </dev/null &
		TW_PID=$!
		deadline=$(($(date +%s) + 30))
		until grep -q '^[^ ]* tracewire: info: ready' "$TW_LOG"; do
			lab__alive "$TW_PID" || { TW_PID=; fail "tracewire exited before ready: $*"; cat "$TW_LOG" >&2; return 1; }
			[ "$(date +%s)" -lt "$deadline" ] || { fail "tracewire not ready in 30 s"; cat "$TW_LOG" >&2; return 1; }
			sleep 0.05
		done
	}
	bk_tw_stop() {
		kill -TERM "$TW_PID" 2>/dev/null || true
		lab_wait_pid "$TW_PID" 15 || { TW_PID=; fail "tracewire did not stop cleanly"; return 1; }
		TW_PID=
	}

	# {name: [type, run_time_ns, run_cnt]} of the BPF programs named PREFIX*
	# that process PID (default: tracewire) holds open
	snap() {
		"$LAB_PY" - "${1:-$TW_PID}" "${2:-tw_}" <<-'EOF'
			import json, os, subprocess, sys
			pid, prefix = sys.argv[1], sys.argv[2]
			ids = set()
			for fd in os.listdir(f"/proc/{pid}/fdinfo"):
			    try:
			        txt = open(f"/proc/{pid}/fdinfo/{fd}").read()
			    except OSError:
			        continue
			    for line in txt.splitlines():
			        if line.startswith("prog_id:"):
			            ids.add(int(line.split()[1]))
			progs = json.loads(subprocess.run(["bpftool", "prog", "show", "-j"], check=True,
			                                  capture_output=True).stdout)
			out = {p["name"]: [p["type"], p.get("run_time_ns", 0), p.get("run_cnt", 0)]
			       for p in progs if p["id"] in ids and p.get("name", "").startswith(prefix)}
			if not out:
			    sys.exit(f"no {prefix}* programs held by pid {pid}")
			print(json.dumps(out))
		EOF
	}

	# window ROUND CONFIG KIND SECONDS BEFORE AFTER REQUESTS: one line per program
	record() {
		"$LAB_PY" - "$@" >>"$DATA" <<-'EOF'
			import json, sys
			rnd, cfg, kind, secs, before, after, reqs = sys.argv[1:8]
			b, a = json.loads(before), json.loads(after)
			for name, (typ, ns, cnt) in sorted(a.items()):
			    _, ns0, cnt0 = b.get(name, [typ, 0, 0])
			    print("\t".join(map(str, [rnd, cfg, kind, secs, name, typ, cnt - cnt0, ns - ns0, reqs])))
		EOF
	}

	load() { # prints the number of requests wrk completed
		LAB_EXEC_TIMEOUT=$((SECS + 30)) lab_exec_in_pod cli wrk -t1 -c"$CONNS" -d"${SECS}s" \
			"http://$(lab_ip srv):8080/" || { fail "wrk failed"; cat "$LAB_LAST_ERR" >&2; return 1; }
		awk '/requests in/ { print $1; found = 1 } END { if (!found) exit 1 }' "$LAB_LAST_OUT" ||
			{ fail "no request count in wrk output"; cat "$LAB_LAST_OUT" >&2; return 1; }
	}

	lab_step "pods: srv ($SERVER), cli (wrk), idle (sleep)"
	lab_pod srv 198.18.0.10/24
	lab_pod cli 198.18.0.20/24
	lab_pod idle 198.18.0.30/24
	lab_start_server "$SERVER" srv "$(lab_ip srv)" 8080
	lab_run_in_pod idle sleep 100000
	lab_exec_in_pod cli curl -sf -o /dev/null "http://$(lab_ip srv):8080/" || { fail "server does not answer"; exit 1; }

	# The floor of the measurement: what bpf_stats reports for programs that do
	# (almost) nothing, on this machine. Its own clock reads are inside run_time_ns.
	calibrate() {
		local pid s0 s1
		command -v clang >/dev/null || { echo "clang not found"; return 1; }
		cat >"$LAB_DIR/cal.bpf.c" <<-'EOF'
			#define SEC(n) __attribute__((section(n), used))
			char LICENSE[] SEC("license") = "GPL";
			SEC("tracepoint/syscalls/sys_enter_read")
			int bkcal_empty(void *ctx) { return 0; }
			SEC("tracepoint/syscalls/sys_enter_write")
			int bkcal_pid_tgid(void *ctx)
			{
				static unsigned long long (*get_pid_tgid)(void) = (void *)14;
				return get_pid_tgid() == 1;
			}
		EOF
		clang -O2 -target bpf -c "$LAB_DIR/cal.bpf.c" -o "$LAB_DIR/cal.bpf.o" 2>"$LAB_DIR/cal.err" || { echo "clang failed"; return 1; }
		cat >"$LAB_DIR/cal.py" <<-'EOF'
			import ctypes, ctypes.util, sys, time
			lib = ctypes.CDLL(ctypes.util.find_library("bpf") or "libbpf.so.1")
			vp = ctypes.c_void_p
			lib.bpf_object__open_file.restype = vp
			lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, vp]
			lib.bpf_object__load.argtypes = [vp]
			lib.bpf_object__next_program.restype = vp
			lib.bpf_object__next_program.argtypes = [vp, vp]
			lib.bpf_program__attach.restype = vp
			lib.bpf_program__attach.argtypes = [vp]
			obj = lib.bpf_object__open_file(sys.argv[1].encode(), None)
			if not obj or lib.bpf_object__load(obj):
			    sys.exit("loading failed")
			prog, links = None, []
			while True:
			    prog = lib.bpf_object__next_program(obj, prog)
			    if not prog:
			        break
			    link = lib.bpf_program__attach(prog)
			    if not link:
			        sys.exit("attaching failed")
			    links.append(link)
			print("attached", flush=True)
			time.sleep(float(sys.argv[2]))
		EOF
		"$LAB_PY" "$LAB_DIR/cal.py" "$LAB_DIR/cal.bpf.o" 30 >"$LAB_DIR/cal.out" 2>>"$LAB_DIR/cal.err" &
		pid=$!
		for _ in $(seq 100); do grep -q attached "$LAB_DIR/cal.out" && break; lab__alive "$pid" || break; sleep 0.05; done
		grep -q attached "$LAB_DIR/cal.out" || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; echo "loader failed: $(tail -n 1 "$LAB_DIR/cal.err")"; return 1; }
		s0=$(snap "$pid" bkcal_)
		dd if=/dev/zero of=/dev/null bs=1 count=200000 2>/dev/null
		s1=$(snap "$pid" bkcal_)
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null || true
		"$LAB_PY" - "$s0" "$s1" <<-'EOF'
			import json, sys
			b, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
			v = {n: (a[n][1] - b[n][1]) / max(1, a[n][2] - b[n][2]) for n in a}
			print(f"{v['bkcal_empty']:.0f} {v['bkcal_pid_tgid']:.0f}")
		EOF
	}

	lab_step "calibrating: an empty BPF program under bpf_stats"
	if cal=$(calibrate) && [[ $cal =~ ^[0-9]+\ [0-9]+$ ]]; then
		FLOOR=${cal% *} FLOOR_PID=${cal#* }
		lab_step "floor: ${FLOOR} ns/call (empty), ${FLOOR_PID} ns/call (one helper call)"
	else
		FLOOR=- FLOOR_PID=-
		lab_step "calibration unavailable: $cal"
	fi

	for r in $(seq "$ROUNDS"); do
		lab_step "round $r/$ROUNDS: selected"
		bk_tw_start --cgroup "$(lab_cgroup srv)" --cgroup "$(lab_cgroup cli)"
		s0=$(snap)
		sleep "$IDLE"
		s1=$(snap)
		record "$r" selected idle "$IDLE" "$s0" "$s1" 0
		s0=$(snap)
		n=$(load)
		s1=$(snap)
		record "$r" selected load "$SECS" "$s0" "$s1" "$n"
		grep -q 'propagation: headers' "$TW_LOG" || { fail "propagation did not start"; cat "$TW_LOG" >&2; exit 1; }
		bk_tw_stop

		lab_step "round $r/$ROUNDS: unselected"
		bk_tw_start --cgroup "$(lab_cgroup idle)"
		s0=$(snap)
		n=$(load)
		s1=$(snap)
		record "$r" unselected load "$SECS" "$s0" "$s1" "$n"
		bk_tw_stop
	done

	lab_step "writing $OUT"
	mkdir -p "$(dirname "$OUT")"
	"$LAB_PY" - "$DATA" "$ROUNDS" "$SECS" "$IDLE" "$CONNS" "$SERVER" "$QUICK" "$FLOOR" "$FLOOR_PID" >"$LAB_DIR/result.md" <<-'EOF'
		import collections, statistics, sys
		data, rounds, secs, idle, conns, server, quick, floor, floor_pid = sys.argv[1:10]
		floor = None if floor == "-" else float(floor)
		rows = [l.rstrip("\n").split("\t") for l in open(data) if l.strip()]
		# (cfg, kind, round) -> {name: (type, cnt, ns, secs, reqs)}
		win = collections.defaultdict(dict)
		for rnd, cfg, kind, s, name, typ, cnt, ns, reqs in rows:
		    win[(cfg, kind, rnd)][name] = (typ, int(cnt), int(ns), float(s), int(reqs))
		names = sorted({r[4] for r in rows}, key=lambda n: ({"tracepoint": 0, "sock_ops": 1, "sk_msg": 2}.get(
		    next(r[5] for r in rows if r[4] == n), 3), n))
		types = {r[4]: r[5] for r in rows}
		rnds = sorted({r[0] for r in rows}, key=int)

		def med(v):
		    return statistics.median(v) if v else None

		def per_call(cfg, name, correct):
		    """ns per call per round; selected: background calls (idle window) taken out."""
		    out, raw = [], []
		    for rnd in rnds:
		        w = win.get((cfg, "load", rnd), {}).get(name)
		        if not w or w[1] == 0:
		            continue
		        _, cnt, ns, s, _ = w
		        raw.append(ns / cnt)
		        i = win.get((cfg, "idle", rnd), {}).get(name)
		        if correct and i and i[3] > 0:
		            f = s / i[3]
		            c2, n2 = cnt - i[1] * f, ns - i[2] * f
		            out.append(n2 / c2 if c2 > 0.5 * cnt and n2 > 0 else ns / cnt)
		        else:
		            out.append(ns / cnt)
		    return out, raw

		def calls_per_req(cfg, name):
		    v = []
		    for rnd in rnds:
		        w = win.get((cfg, "load", rnd), {}).get(name)
		        if w and w[4]:
		            v.append(w[1] / w[4])
		    return med(v)

		def reqs(cfg):
		    return [next(iter(win[(cfg, "load", r)].values()))[4] / float(secs) for r in rnds
		            if (cfg, "load", r) in win]

		def bg_share(name):
		    v = []
		    for rnd in rnds:
		        w = win.get(("selected", "load", rnd), {}).get(name)
		        i = win.get(("selected", "idle", rnd), {}).get(name)
		        if w and i and w[1] and i[3] > 0:
		            v.append(i[1] * w[3] / i[3] / w[1])
		    return med(v)

		def fmt(v, nd=0):
		    return "—" if v is None else f"{v:,.{nd}f}"

		def target(typ, cfg):
		    if typ == "sk_msg":
		        return 500 if cfg == "selected" else None
		    if typ == "tracepoint":
		        return 150 if cfg == "selected" else 30
		    return None

		def verdict(m, t):
		    if m is None or t is None:
		        return "—"
		    return f"<= {t}: {'met' if m <= t else '**missed**'} ({m / t:.2f}x)"

		def net(m):
		    return None if m is None or floor is None else m - floor

		print("| program | type | selected: calls/request | selected: ns/call median (min – max) | raw | net of floor | target | unselected: calls/request | unselected: ns/call median (min – max) | net of floor | target |")
		print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
		gaps = []
		tot = {"selected": [], "unselected": []}
		idle_progs = [n for n in names if not any(
		    win.get((cfg, "load", r), {}).get(n, (0, 0))[1] for cfg in ("selected", "unselected") for r in rnds)]
		for n in names:
		    if n in idle_progs:
		        continue
		    typ = types[n]
		    cells = [f"`{n}`", typ]
		    for cfg in ("selected", "unselected"):
		        v, raw = per_call(cfg, n, cfg == "selected")
		        m = med(v)
		        t = target(typ, cfg)
		        cells.append(fmt(calls_per_req(cfg, n), 2))
		        cells.append(f"{fmt(m)} ({fmt(min(v))} – {fmt(max(v))})" if v else "not run")
		        if cfg == "selected":
		            cells.append(fmt(med(raw)))
		        cells.append(fmt(net(m)))
		        cells.append(verdict(m, t))
		        if t is not None and m is not None:
		            gaps.append((cfg, n, typ, m, t))
		    print("| " + " | ".join(cells) + " |")
		if idle_progs:
		    print()
		    print("Not called in any load window: " + ", ".join(f"`{n}`" for n in idle_progs) + ".")
		print()
		# BPF time per request, all programs
		for cfg in ("selected", "unselected"):
		    per = []
		    for rnd in rnds:
		        w = win.get((cfg, "load", rnd), {})
		        if not w:
		            continue
		        req = next(iter(w.values()))[4]
		        if req:
		            per.append(sum(x[2] for x in w.values()) / req)
		    tot[cfg] = per
		rs, ru = reqs("selected"), reqs("unselected")
		print("| configuration | requests/s median (min – max) | BPF time per request, all programs: ns median (min – max) |")
		print("| --- | --- | --- |")
		for cfg, r in (("selected", rs), ("unselected", ru)):
		    p = tot[cfg]
		    print(f"| {cfg} | {fmt(med(r))} ({fmt(min(r))} – {fmt(max(r))}) | "
		          f"{fmt(med(p))} ({fmt(min(p))} – {fmt(max(p))}) |")
		print()
		print("Gap to the targets (median ns per call):")
		print()
		for typ, cfg, t in (("sk_msg", "selected", 500), ("tracepoint", "selected", 150), ("tracepoint", "unselected", 30)):
		    g = [x for x in gaps if x[2] == typ and x[0] == cfg]
		    if not g:
		        print(f"- {typ} on {cfg} processes <= {t} ns: not measured")
		        continue
		    worst = max(g, key=lambda x: x[3])
		    missed = [x for x in g if x[3] > x[4]]
		    nf = "" if floor is None else f", {worst[3] - floor:,.0f} net of the floor"
		    print(f"- {typ} on {cfg} processes <= {t} ns: worst `{worst[1]}` {worst[3]:,.0f} ns "
		          f"({worst[3] / t:.2f}x{nf}); {len(g) - len(missed)} of {len(g)} programs within the target"
		          + (": over it " + ", ".join(f"`{x[1]}` {x[3]:,.0f}" for x in sorted(missed, key=lambda x: -x[3])) if missed else ""))
		bs = [(n, bg_share(n)) for n in names if types[n] == "tracepoint"
		      and (calls_per_req("selected", n) or 0) >= 0.5]
		bs = [x for x in bs if x[1] is not None]
		if bs:
		    print()
		    print("Background calls (other processes on the machine, measured in an idle window "
		          "with the same selection and scaled to the load window) were "
		          f"{min(x[1] for x in bs) * 100:.1f}–{max(x[1] for x in bs) * 100:.1f}% of the "
		          "calls of the busy tracepoint programs (>= 0.5 calls/request) in the selected load "
		          "windows; the selected ns/call takes them out (raw = without that correction).")
		print()
		if floor is None:
		    print("Measurement floor: not measured (the calibration needs clang and libbpf).")
		else:
		    print(f"Measurement floor on this machine: an empty tracepoint program reports {floor:.0f} ns/call, "
		          f"one calling bpf_get_current_pid_tgid {float(floor_pid):.0f} ns/call "
		          "(bpf_stats times each run with two clock reads, inside run_time_ns). "
		          "\"net of floor\" = ns/call minus the empty program's figure: roughly the program's own work. "
		          "The targets are compared with the measured ns/call.")
	EOF
	{
		echo "# Per-program kernel cost (bpf_stats)"
		echo
		echo "tracewire's BPF programs under load, from \`kernel.bpf_stats_enabled=1\`:"
		echo "run_time_ns and run_cnt of each program tracewire holds (\`bpftool prog show -j\`,"
		echo "matched by id to the programs in tracewire's own fds), differences over each load window."
		[ "$QUICK" = 0 ] || echo "**Quick mode**: short windows, indicative only."
		echo
		echo "$MACHINE"
		echo "- load: \`wrk -t1 -c$CONNS -d${SECS}s\` from pod cli to $SERVER \`GET /\` (\`return 200\` for nginx) in pod srv,"
		echo "  network-namespace pods on a bridge (tests/integration/lab.sh)"
		echo "- configurations, alternated over $ROUNDS rounds, tracewire restarted for each:"
		echo "  **selected**: \`tracewire --cgroup srv --cgroup cli\` (propagation \`headers\`, the"
		echo "  default: sk_msg runs on wrk's sockets), a ${IDLE} s idle window then the load window;"
		echo "  **unselected**: \`tracewire --cgroup idle\` (a pod holding one \`sleep\`), same load"
		echo
		echo "## Results"
		echo
		cat "$LAB_DIR/result.md"
		echo
		echo "## Notes"
		echo
		echo "- ns/call is the kernel's own accounting (run_time_ns / run_cnt): the program run,"
		echo "  including bpf_stats' clock reads around it (the floor above), not the tracepoint"
		echo "  dispatch before it. The unselected figure is what every system call of every"
		echo "  other process on the node pays per attached program (an enter and an exit each)."
		echo "- calls/request: run_cnt over the requests wrk completed in the window; both the"
		echo "  server's and the client's syscalls count (both pods are selected)."
		echo "- Tracepoints fire for every process on the machine; other processes' calls take"
		echo "  the unselected path, so in the selected configuration they are subtracted using"
		echo "  the idle window (see above). sock_ops and sk_msg only run in the selected"
		echo "  configuration: they are attached to the selected cgroups."
	} >"$LAB_DIR/final.md"
	cp "$LAB_DIR/final.md" "$OUT"
	lab_step "done"
)
cat "$OUT"
echo "kernel-cost: wrote $OUT" >&2
