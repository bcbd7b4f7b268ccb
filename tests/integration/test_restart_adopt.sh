#!/usr/bin/env bash
# Restart continuity (issue 16, item 6): keep-alive connections that were
# open before tracewire started carry trace context again after it restarts.
#
#   cli (python http.client: ONE keep-alive connection, REQ_RATE requests/s)
#     -> mid (servers/header_echo.py /call?keep=1: the handling thread's ONE
#             kept-alive connection to the leaf, a pool of one)
#     -> leaf (servers/header_echo.py: answers with the headers it received)
#
# All three pods selected (--cgroup). The load starts while tracewire runs,
# so both connections are opened under it (sock_ops watches them). Then:
#   run 1   tracewire running        -> every request a complete trace
#   SIGKILL tracewire, requests go on without it
#   run 2   tracewire started again  -> both connections, open since before
#           this start, are adopted (bpf/adopt.bpf.c); requests on them carry
#           traceparent again: every request from READY2_GRACE s after ready
#           reaches the leaf with exactly one traceparent, and is a complete
#           trace (cli CLIENT -> mid SERVER -> mid CLIENT -> leaf SERVER, each
#           SERVER span parented by the header its request carried)
# Both connections must be the same from the first request to the last (the
# client's and the mid's local ports, `ss` in the mid pod), every request
# answered 200 with the body it should have (the leaf saw the path the client
# asked for, the mid saw the client's), and no request ever carries more
# than one traceparent. Without adoption run 2 has 0 complete traces.
# (Run 1 is judged on the requests whose spans it exported: SIGKILL loses
# the traces it was still assembling.)
# Prints "BEFORE complete N/M" and "AFTER complete N/M".
#
# Beside it, through the same restart, BUSY_WORKERS connections that are
# almost always inside a request: POSTs to the leaf pod (a body checker),
# the head in one send, then the body in BUSY_PIECES sends BUSY_PAUSE s
# apart, each piece starting with a whole, valid request head. Across the
# restart each holds its upload after the first piece (HOLD), so it is
# adopted mid-body for certain: sk_msg must pass the other pieces untouched
# (skip_resync >= BUSY_WORKERS at exit) and join at the next request head:
# every body arrives as sent, and every upload from READY2_GRACE s after the
# restart's ready line carries exactly one traceparent.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQ_RATE=${TW_ADOPT_RATE:-20}     # requests per second on the one connection
PHASE=${TW_ADOPT_PHASE:-40}       # requests per phase
READY2_GRACE=${TW_ADOPT_GRACE:-1} # s after the restart's ready line before every request must be complete
BUSY_WORKERS=2 BUSY_PIECES=4 BUSY_PAUSE=0.05

lab_init
lab_pod cli 198.18.0.20/24
lab_pod mid 198.18.0.11/24
lab_pod leaf 198.18.0.12/24
mid_ip=$(lab_ip mid) leaf_ip=$(lab_ip leaf)
TWARGS=(--cgroup "$(lab_cgroup cli)" --cgroup "$(lab_cgroup mid)" --cgroup "$(lab_cgroup leaf)")
LOAD=$LAB_DIR/load.jsonl
STOP=$LAB_DIR/load.stop
HOLD=$LAB_DIR/busy.hold

cat >"$LAB_DIR/client.py" <<'PY'
"""One keep-alive connection; GET /call?to=LEAF/p/<i>&keep=1 at RATE/s until
STOP exists; one JSON line per request; exit 1 on any failure."""
import http.client, json, os, sys, time
mid, port, leaf, rate, out, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5], sys.argv[6]
c = http.client.HTTPConnection(mid, port, timeout=20)
c.connect()
lport = c.sock.getsockname()[1]
failed = 0
with open(out, "a") as f:
    i = 0
    while not os.path.exists(stop) and i < 100000:
        t0 = time.time()
        path = f"/call?to=http://{leaf}/p/{i}&keep=1"
        rec = {"i": i, "t": t0, "lport": None}
        try:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            rec["status"] = r.status
            rec["lport"] = c.sock.getsockname()[1] if c.sock else None
            d = json.loads(body)
            down = d.get("downstream", {})
            tp_mid = d["headers"].get("traceparent")
            tp_leaf = down.get("headers", {}).get("traceparent")
            rec["tp_mid"] = tp_mid
            rec["tp_leaf"] = tp_leaf
            rec["ok"] = (r.status == 200 and d.get("path") == path and down.get("path") == f"/p/{i}"
                         and not isinstance(tp_mid, list) and not isinstance(tp_leaf, list))
        except Exception as e:  # any failure is the test's
            rec["error"] = repr(e)
            rec["ok"] = False
        if not rec["ok"]:
            failed += 1
        f.write(json.dumps(rec) + "\n")
        f.flush()
        i += 1
        time.sleep(max(0.0, 1.0 / rate - (time.time() - t0)))
print(f"requests={i} failed={failed} first_local_port={lport}", flush=True)
sys.exit(1 if failed else 0)
PY

cat >"$LAB_DIR/body_server.py" <<'PY'
"""POST: 200 with {"path", "sha", "len", "tp": [traceparent values]} of what arrived."""
import hashlib, json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        out = json.dumps({"path": self.path, "sha": hashlib.sha256(body).hexdigest(), "len": len(body),
                          "tp": self.headers.get_all("traceparent") or []}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
PY
cat >"$LAB_DIR/busy_client.py" <<'PY'
"""One connection, POSTs until STOP exists: the head in one send, then the
body in PIECES sends PAUSE s apart, each piece starting with a whole valid
request head; while HOLD exists, an upload waits after its first piece (and
HOLD.NAME says so). One JSON line per request; exit 1 on any failure."""
import hashlib, json, os, random, socket, sys, time
host, port, name, pieces, pause, out, stop, hold = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                                    int(sys.argv[4]), float(sys.argv[5]), sys.argv[6],
                                                    sys.argv[7], sys.argv[8])
MARK = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
rng = random.Random(name)
s = socket.create_connection((host, port), timeout=20)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
f = s.makefile("rb")
failed = i = 0
with open(out, "a") as log:
    while not os.path.exists(stop):
        parts = [MARK + rng.randbytes(rng.randrange(50, 400)) for _ in range(pieces)]
        body = b"".join(parts)
        path = f"/{name}/{i}"
        t0 = time.time()
        rec = {"w": name, "i": i, "t": t0}
        try:
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: b\r\nContent-Length: {len(body)}\r\n\r\n".encode())
            for k, p in enumerate(parts):
                time.sleep(pause)
                s.sendall(p)
                while k == 0 and os.path.exists(hold):
                    open(f"{hold}.{name}", "w").close()
                    time.sleep(0.01)
            status = f.readline()
            n = 0
            while True:
                line = f.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            d = json.loads(f.read(n))
            rec["ntp"] = len(d["tp"])
            rec["ok"] = (status.startswith(b"HTTP/1.1 200") and d["path"] == path and d["len"] == len(body)
                         and d["sha"] == hashlib.sha256(body).hexdigest() and len(d["tp"]) <= 1)
        except Exception as e:
            rec["error"] = repr(e)
            rec["ok"] = False
        failed += not rec["ok"]
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if "error" in rec:
            break
        i += 1
print(f"{name}: requests={i} failed={failed}", flush=True)
sys.exit(1 if failed else 0)
PY

nlines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# wait_requests N TIMEOUT: until the load has answered N requests in all
wait_requests() {
	local want=$1 deadline
	deadline=$(($(date +%s) + $2))
	until [ "$(nlines "$LOAD")" -ge "$want" ]; do
		lab__alive "$load_pid" || { lab__show_file "${LAB_LOG_OF[$load_pid]}" "load output"; fail "the load ended early"; }
		[ "$(date +%s)" -lt "$deadline" ] || fail "the load answered $(nlines "$LOAD") of $want requests within $2 s"
		sleep 0.1
	done
}
# the mid's connections to the leaf: "local-port" lines
mid_leaf_conns() {
	ip netns exec "$(lab_ns mid)" ss -Htn state established dst "$leaf_ip" |
		awk '{ n = split($3, a, ":"); print a[n] }' | sort
}

lab_step "servers: leaf and mid (header_echo.py)"
lab_start_cmd leaf "$leaf_ip" 8082 "$LAB_PY" "$LAB_SERVERS/header_echo.py" "$leaf_ip" 8082
leaf_pid=$LAB_LAST_PID
lab_start_cmd mid "$mid_ip" 8081 "$LAB_PY" "$LAB_SERVERS/header_echo.py" "$mid_ip" 8081
mid_pid=$LAB_LAST_PID
lab_start_cmd leaf "$leaf_ip" 8083 "$LAB_PY" "$LAB_DIR/body_server.py" "$leaf_ip" 8083
BUSY=$LAB_DIR/busy.jsonl

lab_step "run 1: tracewire, then the load ($REQ_RATE/s over one connection)"
tw_start "${TWARGS[@]}"
JSONL1=$TW_JSONL LOG1=$TW_LOG
lab_run_in_pod cli "$LAB_PY" "$LAB_DIR/client.py" "$mid_ip" 8081 "$leaf_ip:8082" "$REQ_RATE" "$LOAD" "$STOP"
load_pid=$LAB_LAST_PID
busy_pids=()
for ((w = 0; w < BUSY_WORKERS; w++)); do
	lab_run_in_pod cli "$LAB_PY" "$LAB_DIR/busy_client.py" "$leaf_ip" 8083 "b$w" "$BUSY_PIECES" "$BUSY_PAUSE" "$BUSY" "$STOP" "$HOLD"
	busy_pids+=("$LAB_LAST_PID")
done
wait_requests "$PHASE" 30
conns1=$(mid_leaf_conns)
[ "$(echo "$conns1" | grep -c .)" = 1 ] || fail "the mid should hold one connection to the leaf, has: $conns1"

lab_step "SIGKILL ($(nlines "$LOAD") requests so far)"
t_kill=$(date +%s.%N)
kill -KILL "$TW_PID"
rc=0
lab_wait_pid "$TW_PID" 15 || rc=$?
TW_PID=
assert_eq 137 "$rc" "tracewire exit status after SIGKILL"
wait_requests "$(($(nlines "$LOAD") + REQ_RATE))" 30

# the uploads wait mid-body while tracewire starts
touch "$HOLD"
deadline=$(($(date +%s) + 10))
for ((w = 0; w < BUSY_WORKERS; w++)); do
	until [ -e "$HOLD.b$w" ]; do
		[ "$(date +%s)" -lt "$deadline" ] || fail "busy upload b$w did not hold within 10 s"
		sleep 0.02
	done
done
lab_step "run 2: tracewire started again ($(nlines "$LOAD") requests so far; uploads held mid-body)"
t_start2=$(date +%s.%N)
tw_start "${TWARGS[@]}"
t_ready2=$(date +%s.%N)
rm -f "$HOLD"
JSONL2=$TW_JSONL LOG2=$TW_LOG
grep '^[^ ]* tracewire: info: adopt:' "$LOG2" | sed 's/^/  /' || true
wait_requests "$(($(nlines "$LOAD") + PHASE + READY2_GRACE * REQ_RATE))" 30
conns2=$(mid_leaf_conns)

lab_step "stopping ($(nlines "$LOAD") requests)"
touch "$STOP"
rc=0
lab_wait_pid "$load_pid" 20 || rc=$?
cat "${LAB_LOG_OF[$load_pid]}"
busy_rc=0
for p in "${busy_pids[@]}"; do
	lab_wait_pid "$p" 20 || busy_rc=$?
	cat "${LAB_LOG_OF[$p]}"
done
tw_stop
grep '^[^ ]* tracewire: info: stats (exit): propagation' "$LOG2" | tr ' ' '\n' | grep -E 'injected|adopted|resync|fail_open' | paste -sd' ' | sed 's/^/  run 2 exit: /' || true
lab_step "checking"
"$LAB_PY" - "$LOAD" "$JSONL1" "$JSONL2" "$load_pid" "$mid_pid" "$leaf_pid" \
	"$t_kill" "$t_start2" "$t_ready2" "$READY2_GRACE" "$BUSY" <<'PY' || fail "checks (above)"
import json, sys
load, j1, j2 = sys.argv[1], sys.argv[2], sys.argv[3]
cli = {int(p) for p in sys.argv[4].split(",") if p}
mid, leaf = int(sys.argv[5]), int(sys.argv[6])
t_kill, t_start2, t_ready2, grace = (float(x) for x in sys.argv[7:11])
reqs = [json.loads(l) for l in open(load) if l.strip()]
busy = [json.loads(l) for l in open(sys.argv[11]) if l.strip()]
ok = True
def bad(msg):
    global ok
    ok = False
    print("FAIL:", msg)

# one connection from the first request to the last
ports = {r["lport"] for r in reqs}
if len(ports) != 1:
    bad(f"the client used more than one connection: local ports {sorted(ports, key=str)}")
for r in reqs:
    if not r.get("ok"):
        bad(f"request {r['i']} failed or came back wrong: {r}")

def spans(path):
    try:
        return [json.loads(l) for l in open(path) if l.strip()]
    except FileNotFoundError:
        return []

def complete(path):
    """{url path of the leaf call (/p/i): True} for every request whose trace is
    cli CLIENT -> mid SERVER -> mid CLIENT -> leaf SERVER, each the parent of
    the next, both SERVER spans parented by a header."""
    ss = spans(path)
    by_id = {(s["trace_id"], s["span_id"]): s for s in ss}
    out = {}
    for s in ss:
        if s["pid"] != leaf or s["kind"] != "server":
            continue
        a = s["attributes"]
        if a.get("tracewire.parent.source") != "header":
            continue
        mc = by_id.get((s["trace_id"], s["parent_span_id"]))
        if not mc or mc["pid"] != mid or mc["kind"] != "client":
            continue
        ms = by_id.get((s["trace_id"], mc["parent_span_id"]))
        if not ms or ms["pid"] != mid or ms["kind"] != "server":
            continue
        if ms["attributes"].get("tracewire.parent.source") != "header":
            continue
        cc = by_id.get((s["trace_id"], ms["parent_span_id"]))
        if not cc or cc["pid"] not in cli or cc["kind"] != "client":
            continue
        out[a.get("url.path")] = True
    return out

def ids(tp):
    p = tp.split("-")
    return p[1], p[2]

def summary(label, path, sel):
    c = complete(path)
    n = sum(1 for r in sel if c.get(f"/p/{r['i']}"))
    wire = sum(1 for r in sel if r.get("tp_leaf") and r.get("tp_mid"))
    print(f"{label} complete {n}/{len(sel)} (traceparent at mid and leaf: {wire}/{len(sel)})")
    return n, wire

# run 1: the requests whose leaf SERVER span it exported (SIGKILL loses the
# traces still being assembled, up to --trace-window before it)
exported1 = {s["attributes"].get("url.path") for s in spans(j1) if s["pid"] == leaf and s["kind"] == "server"}
before = [r for r in reqs if r["t"] < t_kill and f"/p/{r['i']}" in exported1]
gap = [r for r in reqs if t_kill + 0.5 < r["t"] < t_start2]
after = [r for r in reqs if r["t"] > t_ready2 + grace]
n1, w1 = summary("BEFORE", j1, before)
print(f"KILLED: traceparent at mid or leaf on {sum(1 for r in gap if r.get('tp_leaf') or r.get('tp_mid'))}/{len(gap)} requests while no tracewire ran")
n2, w2 = summary("AFTER", j2, after)
if len(before) < 10 or len(after) < 20:
    bad(f"too few requests to judge: before {len(before)}, after {len(after)}")
if n1 != len(before):
    bad(f"run 1: {len(before) - n1} request(s) not a complete trace")
if w2 != len(after):
    bad(f"run 2: {len(after) - w2} request(s) on the adopted connections reached mid or leaf without traceparent")
if n2 != len(after):
    bad(f"run 2: {len(after) - n2} request(s) not a complete trace")
# the header each SERVER span was parented by is the one that arrived
c2 = {s["span_id"]: s for s in spans(j2)}
for r in after:
    if not r.get("tp_leaf"):
        continue
    tid, pid_ = ids(r["tp_leaf"])
    mc = c2.get(pid_)
    if not mc or mc["trace_id"] != tid or mc["pid"] != mid or mc["kind"] != "client":
        bad(f"request {r['i']}: the leaf's traceparent {r['tp_leaf']} names no mid CLIENT span")
        break
# the busy uploads: bodies intact (checked by the client), never two
# traceparents, and one on every request after the restart
for r in busy:
    if not r.get("ok"):
        bad(f"busy upload {r['w']}/{r['i']} failed or arrived changed: {r}")
b_before = [r for r in busy if r["t"] < t_kill - 0.5]
b_after = [r for r in busy if r["t"] > t_ready2 + grace]
print(f"BUSY before: {sum(r.get('ntp') == 1 for r in b_before)}/{len(b_before)} with traceparent; "
      f"after: {sum(r.get('ntp') == 1 for r in b_after)}/{len(b_after)}; "
      f"bodies intact {sum(bool(r.get('ok')) for r in busy)}/{len(busy)}")
if len(b_after) < 5:
    bad(f"too few busy uploads after the restart: {len(b_after)}")
if any(r.get("ntp") != 1 for r in b_after):
    bad("busy uploads after the restart without traceparent")
sys.exit(0 if ok else 1)
PY
assert_eq 0 "$rc" "load exit status (no request failed, every answer as asked)"
assert_eq 0 "$busy_rc" "busy uploads' exit status (every body arrived as sent, at most one traceparent)"
assert_ge "$(tw_exit_counter skip_resync)" "$BUSY_WORKERS" "run 2 exit counter skip_resync (uploads adopted mid-body: pieces passed)"
assert_eq "$conns1" "$conns2" "the mid's one connection to the leaf is the same after the restart"
assert_file_contains "$LOG2" "adopt: .* into the sockhash [1-9][0-9]*," \
	"run 2 adopted connections at start"
assert_ge "$(tw_exit_counter socks_adopted)" 2 "run 2 exit counter socks_adopted (cli->mid, mid->leaf)"
assert_eq 0 "$(tw_exit_counter fail_open)" "run 2 exit counter fail_open"

lab_step "ok"
