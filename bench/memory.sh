#!/usr/bin/env bash
# Memory (issue 5, item 5): tracewire's RSS (VmRSS, VmHWM and their parts from
# /proc/PID/status) and BPF map memory (memlock of the maps tracewire holds,
# from /proc/PID/fdinfo, named with bpftool map show -j)
#   (a) while N concurrent keep-alive connections, each having sent one request,
#       are held open to a selected nginx (default 10,000), and
#   (b) while and after wrk sends 1,000,000 requests to a selected nginx
#       `return 200` (in chunks, memory sampled after each).
# Results: bench/results/memory.md. Target (issue 5): RSS <= 64 MiB at 10,000
# connections; both must stay bounded.
#
# Usage: bench/memory.sh [--quick] [--exporter otlp-dead|none] [--out FILE]
#   --quick   2,000 connections and 200,000 requests (about 45 s)
#   default   10,000 connections and 1,000,000 requests (2-4 minutes)
#   --exporter otlp-dead (default): OTLP towards a port where nothing listens,
#             so the exporter's queue fills to its bound (the most memory it
#             can hold); none: --exporter none
# Needs root. Pods, servers, clients and tracewire are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

QUICK=0 EXPORTER=otlp-dead OUT=bench/results/memory.md
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--exporter) EXPORTER=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h | --help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "memory: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
case $EXPORTER in otlp-dead | none) ;; *) echo "memory: --exporter otlp-dead or none" >&2; exit 2 ;; esac
if [ "$QUICK" = 1 ]; then
	NCONN=2000 HOLD=5 NREQ=200000 REQ_BUDGET=30 CHUNK=3
else
	NCONN=10000 HOLD=15 NREQ=1000000 REQ_BUDGET=180 CHUNK=5
fi
CMDLINE=bench/memory.sh
[ "$QUICK" = 0 ] || CMDLINE+=" --quick"
[ "$EXPORTER" = otlp-dead ] || CMDLINE+=" --exporter $EXPORTER"
TARGET_MIB=64

# ---- preconditions --------------------------------------------------------------
[ "$(id -u)" = 0 ] || { echo "memory: needs root (BPF, namespaces)" >&2; exit 1; }
for c in bpftool wrk nginx ip python3; do
	command -v "$c" >/dev/null || { echo "memory: '$c' not found (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x build/tracewire ] || { echo "memory: build/tracewire missing: run make" >&2; exit 1; }
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge $((NCONN + 1000)) ] ||
	ulimit -Hn $((NCONN + 1000)) 2>/dev/null ||
	{ echo "memory: cannot raise the open-files limit to $((NCONN + 1000))" >&2; exit 1; }
ulimit -n $((NCONN + 1000))

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
machine_details() {
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	bench_machine_md
	echo "- command: \`$CMDLINE\`"
}
MACHINE=$(machine_details)

# shellcheck source=SCRIPTDIR/../tests/integration/lab.sh
. "$REPO/tests/integration/lab.sh"
# shellcheck disable=SC2034 # read by lab_init
LAB_PREFIX=bm$$
lab_init
SAMPLES=$LAB_DIR/samples.tsv
: >"$SAMPLES"

# ---- helpers ----------------------------------------------------------------------

TW_ARGS=(--exporter none)
[ "$EXPORTER" = none ] || TW_ARGS=(--exporter otlp --otlp-endpoint http://127.0.0.1:9 --bsp-export-timeout 1000)

bm_tw_start() {
	local deadline
	TW_RUNS=$((TW_RUNS + 1))
	TW_LOG=$LAB_DIR/tracewire.$TW_RUNS.log
	"$TRACEWIRE" "${TW_ARGS[@]}" --stats-interval 1 "$@" >"$LAB_DIR/tracewire.$TW_RUNS.out" \
		2>"$TW_LOG" </dev/null &
	TW_PID=$!
	deadline=$(($(date +%s) + 30))
	until grep -q '^[^ ]* tracewire: info: ready' "$TW_LOG"; do
		lab__alive "$TW_PID" || { TW_PID=; fail "tracewire exited before ready: $*"; cat "$TW_LOG" >&2; return 1; }
		[ "$(date +%s)" -lt "$deadline" ] || { fail "tracewire not ready in 30 s"; cat "$TW_LOG" >&2; return 1; }
		sleep 0.05
	done
}
bm_tw_stop() {
	kill -TERM "$TW_PID" 2>/dev/null || true
	lab_wait_pid "$TW_PID" 20 || { TW_PID=; fail "tracewire did not stop cleanly (see $TW_LOG)"; return 1; }
	TW_PID=
}

# sample PHASE LABEL: one line of memory figures of tracewire into $SAMPLES
sample() {
	"$LAB_PY" - "$TW_PID" "$TW_LOG" "$1" "$2" >>"$SAMPLES" <<-'EOF'
		import os, re, sys
		pid, log, phase, label = sys.argv[1:5]
		st = {}
		for line in open(f"/proc/{pid}/status"):
		    k, _, v = line.partition(":")
		    if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
		        st[k] = int(v.split()[0])
		maps = {}
		progs = 0
		for fd in os.listdir(f"/proc/{pid}/fdinfo"):
		    try:
		        info = dict(l.split(":", 1) for l in open(f"/proc/{pid}/fdinfo/{fd}").read().splitlines() if ":" in l)
		    except OSError:
		        continue
		    if "map_id" in info:
		        maps[int(info["map_id"])] = int(info.get("memlock", 0))
		    elif "prog_id" in info:
		        progs += int(info.get("memlock", 0))
		# the last periodic counters tracewire logged
		conns = spans = records = "-"
		try:
		    for line in open(log):
		        if "stats (periodic)" in line and "correlator" in line:
		            m = re.search(r" conns=(\d+)", line); conns = m.group(1) if m else conns
		            m = re.search(r" spans=(\d+)", line); spans = m.group(1) if m else spans
		            m = re.search(r"kernel records=(\d+)", line); records = m.group(1) if m else records
		except OSError:
		    pass
		print("\t".join(map(str, [phase, label, st.get("VmRSS"), st.get("VmHWM"), st.get("RssAnon"),
		                          st.get("RssFile"), st.get("RssShmem"), sum(maps.values()), progs,
		                          len(maps), conns, spans, records, st.get("Threads")])))
	EOF
}

# Markdown table of tracewire's maps, largest first
map_table() {
	"$LAB_PY" - "$TW_PID" <<-'EOF'
		import json, os, subprocess, sys
		pid = sys.argv[1]
		ids = set()
		for fd in os.listdir(f"/proc/{pid}/fdinfo"):
		    try:
		        for l in open(f"/proc/{pid}/fdinfo/{fd}"):
		            if l.startswith("map_id:"):
		                ids.add(int(l.split()[1]))
		    except OSError:
		        pass
		maps = [m for m in json.loads(subprocess.run(["bpftool", "map", "show", "-j"], check=True,
		                                             capture_output=True).stdout) if m["id"] in ids]
		maps.sort(key=lambda m: -int(m.get("bytes_memlock", 0)))
		print("| map | type | max entries | memlock |")
		print("| --- | --- | --- | --- |")
		tot = 0
		for m in maps:
		    b = int(m.get("bytes_memlock", 0)); tot += b
		    print(f"| `{m.get('name', '?')}` | {m.get('type')} | {m.get('max_entries', '-'):,} | {b / 1048576:.2f} MiB |")
		print(f"| **total** ({len(maps)} maps) | | | **{tot / 1048576:.2f} MiB** |")
	EOF
}

# ---- set-up -------------------------------------------------------------------------

lab_step "pods: srv (nginx, $NCONN connections allowed), cli"
lab_pod srv 198.18.0.10/24
lab_pod cli 198.18.0.20/24
SRV=$(lab_ip srv)
# nginx for many connections: lab.sh's template with room for them
sed -e "s/worker_connections 1024;/worker_connections $((NCONN + 1024));/" \
	-e "s/^worker_processes @WORKERS@;/worker_processes @WORKERS@;\nworker_rlimit_nofile $((2 * NCONN + 2048));/" \
	"$LAB_SERVERS/nginx.conf.tmpl" >"$LAB_DIR/nginx-many.conf.tmpl"
grep -q "worker_connections $((NCONN + 1024));" "$LAB_DIR/nginx-many.conf.tmpl" ||
	{ fail "could not raise worker_connections in the nginx template"; exit 1; }
lab_start_nginx_tmpl "$LAB_DIR/nginx-many.conf.tmpl" srv "$SRV" 8080
lab_exec_in_pod cli curl -sf -o /dev/null "http://$SRV:8080/" || { fail "nginx does not answer"; exit 1; }

# the connection holder: opens N keep-alive connections, one request each,
# prints "ready N" when every one has its response, holds them, closes them
cat >"$LAB_DIR/hold_conns.py" <<'EOF'
import resource, selectors, socket, sys, time
host, port, n, hold, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
need = n + 256
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft != resource.RLIM_INFINITY and soft < need:
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(need, hard) if hard != resource.RLIM_INFINITY else hard))
req = b"GET / HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: tracewire-bench-hold\r\nAccept: */*\r\n\r\n" % (host.encode(), port)
sel = selectors.DefaultSelector()
t0 = time.monotonic()
held, inflight, started, failed = [], 0, 0, 0
WINDOW = 256

def start():
    global inflight, started
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex((host, port))
    sel.register(s, selectors.EVENT_WRITE, [b"", False])
    inflight += 1
    started += 1

while len(held) < n:
    while inflight < WINDOW and started < n:
        start()
    if time.monotonic() - t0 > limit:
        print(f"timeout {len(held)} of {n} connections answered, {failed} failed", flush=True)
        sys.exit(3)
    for key, ev in sel.select(1.0):
        s, st = key.fileobj, key.data
        try:
            if not st[1]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, "connect")
                s.sendall(req)
                st[1] = True
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            chunk = s.recv(4096)
            if not chunk:
                raise OSError("closed by the server")
            st[0] += chunk
            head, sep, body = st[0].partition(b"\r\n\r\n")
            if not sep:
                continue
            cl = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    cl = int(v)
            if len(body) >= cl:
                sel.unregister(s)
                inflight -= 1
                held.append(s)
        except OSError:
            sel.unregister(s)
            s.close()
            inflight -= 1
            failed += 1
            started -= 1  # retried
            if failed > n:
                print(f"failed: {failed} connection errors", flush=True)
                sys.exit(4)
print(f"ready {len(held)} {time.monotonic() - t0:.1f}s {failed} retried", flush=True)
time.sleep(hold)
for s in held:
    s.close()
print("closed", flush=True)
EOF

# ---- (a) N concurrent keep-alive connections ------------------------------------------
lab_step "(a) tracewire --cgroup srv; $NCONN keep-alive connections"
bm_tw_start --cgroup "$(lab_cgroup srv)"
sleep 1.2
sample a "start"
lab_run_in_pod cli "$LAB_PY" "$LAB_DIR/hold_conns.py" "$SRV" 8080 "$NCONN" "$HOLD" 120
holder=$LAB_LAST_PID holder_log=$LAB_LAST_LOG
deadline=$(($(date +%s) + 130))
until grep -q '^ready' "$holder_log"; do
	if ! lab__alive "$holder"; then fail "the connection holder ended early"; cat "$holder_log" >&2; exit 1; fi
	[ "$(date +%s)" -lt "$deadline" ] || { fail "connections not open in time"; cat "$holder_log" >&2; exit 1; }
	sleep 0.2
done
lab_step "(a) $(head -n 1 "$holder_log")"
open_line=$(grep '^ready' "$holder_log")
end=$(($(date +%s) + HOLD - 1))
i=0
while [ "$(date +%s)" -lt "$end" ] && lab__alive "$holder"; do
	i=$((i + 1))
	sample a "held $NCONN, ${i}"
	sleep 1
done
maps_md=$(map_table)
lab_wait_pid "$holder" $((HOLD + 30)) || { fail "the connection holder failed"; cat "$holder_log" >&2; exit 1; }
sleep 3 # the idle timeout (2 s) frees the correlator's connections
sample a "after close"
bm_tw_stop
grep 'stats (exit)' "$TW_LOG" | head -n 1 >"$LAB_DIR/a.exit" || true

# ---- (b) 1,000,000 requests ------------------------------------------------------------
lab_step "(b) tracewire --cgroup srv; wrk until $NREQ requests (at most ${REQ_BUDGET}s)"
bm_tw_start --cgroup "$(lab_cgroup srv)"
sleep 1.2
sample b "0"
total=0
t_end=$(($(date +%s) + REQ_BUDGET))
while [ "$total" -lt "$NREQ" ] && [ "$(date +%s)" -lt "$t_end" ]; do
	LAB_EXEC_TIMEOUT=$((CHUNK + 30)) lab_exec_in_pod cli wrk -t2 -c64 -d"${CHUNK}s" "http://$SRV:8080/" ||
		{ fail "wrk failed"; cat "$LAB_LAST_ERR" >&2; exit 1; }
	n=$(awk '/requests in/ { print $1 }' "$LAB_LAST_OUT")
	[ -n "$n" ] || { fail "no request count from wrk"; cat "$LAB_LAST_OUT" >&2; exit 1; }
	rate=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$LAB_LAST_OUT")
	total=$((total + n))
	sleep 1.1 # the next periodic counters line
	sample b "$total, ${rate:-?} req/s"
done
sleep 3
sample b "$total, idle 3 s"
bm_tw_stop
grep 'stats (exit)' "$TW_LOG" | head -n 1 >"$LAB_DIR/b.exit" || true

# ---- results ------------------------------------------------------------------------------
lab_step "writing $OUT"
sizes=
if command -v gdb >/dev/null; then
	sizes=$(timeout 60 gdb -batch -nx \
		-ex 'printf "struct conn (correlator, per connection) %d B", sizeof(struct conn)' \
		-ex 'printf "; struct pending (per request in flight) %d B", sizeof(struct pending)' \
		-ex 'printf "; struct tw_span %d B", sizeof(struct tw_span)' \
		-ex 'printf "; struct otlp_item (OTLP queue entry) %d B", sizeof(struct otlp_item)' \
		"$TRACEWIRE" 2>/dev/null) || sizes=
fi
first_cap=$(awk '$1 == "#define" && $2 == "FIRST_SPAN_CAP" { print $3 }' correlator/traces.c 2>/dev/null || true)
"$LAB_PY" - "$SAMPLES" "$NCONN" "$NREQ" "$total" "$TARGET_MIB" "$open_line" >"$LAB_DIR/result.md" <<-'EOF'
	import sys
	samples, nconn, nreq, total, target, open_line = sys.argv[1:7]
	nconn, nreq, total, target = int(nconn), int(nreq), int(total), float(target)
	rows = [l.rstrip("\n").split("\t") for l in open(samples) if l.strip()]
	mib = lambda kb: "-" if kb in ("None", "-") else f"{int(kb) / 1024:.1f}"
	mibb = lambda b: f"{int(b) / 1048576:.1f}"
	def table(phase, first):
	    print(f"| {first} | VmRSS MiB | VmHWM MiB | RssAnon | RssFile | RssShmem | BPF maps MiB (memlock) | correlator conns | spans | kernel records |")
	    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	    for r in rows:
	        if r[0] != phase:
	            continue
	        _, label, rss, hwm, anon, file_, shm, maps, progs, nmaps, conns, spans, recs, thr = r
	        print(f"| {label} | {mib(rss)} | {mib(hwm)} | {mib(anon)} | {mib(file_)} | {mib(shm)} | {mibb(maps)} | {conns} | {spans} | {recs} |")
	    print()
	a = [r for r in rows if r[0] == "a"]
	b = [r for r in rows if r[0] == "b"]
	print(f"### (a) {nconn:,} concurrent keep-alive connections to the selected nginx")
	print()
	print(f"Connection holder: `{open_line}` (connections answered, time to open them all, connection attempts retried).")
	print()
	table("a", "moment")
	print(f"### (b) requests to the selected nginx `return 200` ({total:,} of {nreq:,} sent)")
	print()
	table("b", "requests so far, chunk rate")
	held = [r for r in a if r[1].startswith("held")]
	peak_a = max(int(r[3]) for r in a) / 1024 if a else None
	rss_held = max(int(r[2]) for r in held) / 1024 if held else None
	maps_mib = int(a[-1][7]) / 1048576 if a else 0
	print("### Against the target")
	print()
	if rss_held is not None:
	    ok = peak_a <= target
	    settled = int(held[-1][2]) / 1024
	    print(f"- RSS <= {target:.0f} MiB at {nconn:,} connections: VmRSS up to {rss_held:.1f} MiB while they were held "
	          f"(settling at {settled:.1f} MiB once their traces were exported and the idle connections freed), "
	          f"VmHWM (peak) {peak_a:.1f} MiB: {'met' if ok else '**missed**'} ({peak_a / target:.2f}x of the target). "
	          f"BPF maps add {maps_mib:.1f} MiB of kernel memory (memlock), fixed at load: "
	          f"{'within' if peak_a + maps_mib <= target else 'over'} {target:.0f} MiB counted together ({(peak_a + maps_mib) / target:.2f}x).")
	if len(b) >= 3:
	    mid = b[len(b) // 2]
	    last = b[-2]  # after the last chunk, before the idle sample
	    grow = (int(last[2]) - int(mid[2])) / 1024
	    half = (f"{mib(mid[2])} MiB at {int(mid[1].split(',')[0]):,} requests, " if mid is not last else "")
	    second = (f" (second half: {grow:+.1f} MiB)" if mid is not last else "")
	    print(f"- bounded under sustained load: VmRSS {mib(b[1][2])} MiB after the first chunk, {half}"
	          f"{mib(last[2])} MiB at {int(last[1].split(',')[0]):,} requests{second}; "
	          f"VmHWM (peak) {mib(b[-1][3])} MiB; BPF maps {mibb(b[-1][7])} MiB throughout.")
	    if total < nreq:
	        print(f"- only {total:,} of {nreq:,} requests fitted in the time budget (load or machine too slow): "
	              "the boundedness figure covers those.")
EOF
{
	echo "# Memory: tracewire RSS and BPF map memory"
	echo
	echo "tracewire selecting one nginx pod (\`--cgroup srv\`, propagation \`headers\`, the default),"
	if [ "$EXPORTER" = none ]; then
		echo "\`--exporter none\` (spans assembled, then dropped)."
	else
		echo "exporting OTLP to \`http://127.0.0.1:9\` where nothing listens: the exporter retries and"
		echo "its queue (2,048 spans, the default) fills to its bound, the most memory it can hold."
	fi
	echo "Memory from \`/proc/PID/status\` (VmRSS, VmHWM = peak RSS; RssFile includes the pages of the"
	echo "8 MiB ring buffer mapped into tracewire), BPF map memory = memlock of the maps tracewire"
	echo "holds (\`/proc/PID/fdinfo\`). Correlator connections, spans and kernel records are the"
	echo "last counters tracewire logged (\`--stats-interval 1\`)."
	[ "$QUICK" = 0 ] || echo "**Quick mode**: $NCONN connections and $NREQ requests, not the issue's 10,000 and 1,000,000."
	echo
	echo "$MACHINE"
	echo "- (a) connections: a Python selectors client in pod cli opens them (256 at a time),"
	echo "  sends \`GET /\` on each, reads the response, holds all of them ${HOLD} s, closes them;"
	echo "  nginx with worker_connections $((NCONN + 1024)); the client is not selected"
	echo "- (b) requests: \`wrk -t2 -c64 -d${CHUNK}s\` from pod cli, repeated until $NREQ requests"
	echo "  (at most ${REQ_BUDGET} s), memory sampled after each chunk"
	echo
	echo "## Results"
	echo
	cat "$LAB_DIR/result.md"
	echo
	echo "### tracewire's BPF maps (during (a))"
	echo
	echo "$maps_md"
	echo
	echo "### Where the memory goes"
	echo
	echo "- The correlator holds one connection object per tracked socket (freed after"
	echo "  \`--idle-timeout\`, 2 s, without traffic when nothing is pending) and one pending"
	echo "  request per request in flight; trace assembly holds every span until its trace"
	echo "  has been quiet for \`--trace-window\` (1 s), at most 65,536 spans; a trace's span"
	echo "  array starts with room for ${first_cap:-several} spans (FIRST_SPAN_CAP, correlator/traces.c), however"
	echo "  many it will hold. So the peak (VmHWM) of (a) comes when"
	echo "  all connections have just been answered, and (b) holds about a trace window's"
	echo "  worth of traces at the request rate reached."
	if [ -n "$sizes" ]; then
		echo "- Object sizes in this build (gdb on build/tracewire): $sizes."
	fi
	echo "- RssFile is mostly the ring buffer's pages mapped into tracewire (8 MiB of data"
	echo "  mapped twice, as BPF ring buffers are) and the binary and libraries; it does not"
	echo "  grow with load. BPF map memory is preallocated when the programs load."
	echo
	echo "### tracewire's counters at exit"
	echo
	echo "- (a): \`$(sed 's/^[^ ]* tracewire: info: //' "$LAB_DIR/a.exit")\`"
	echo "- (b): \`$(sed 's/^[^ ]* tracewire: info: //' "$LAB_DIR/b.exit")\`"
} >"$LAB_DIR/final.md"
mkdir -p "$(dirname "$OUT")"
cp "$LAB_DIR/final.md" "$OUT"
cat "$OUT"
echo "memory: wrote $OUT" >&2
