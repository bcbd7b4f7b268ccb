#!/usr/bin/env bash
# traceparent in HTTP/2 HEADERS frames (issue 19, item 2), as the server sees
# it, with python3-h2 peers (servers/h2_tp_echo.py: the server answers each
# stream with the traceparent values its request carried):
#
#   A  waits for the server's SETTINGS, then N requests: each arrives with
#      exactly one valid traceparent, all span ids distinct; the SERVER span
#      of each is the child of its CLIENT span (source header)
#   B  the application sends its own traceparent on the first K requests
#      (indexed by the encoder: later ones refer to it by index), then
#      N - K without: the server sees exactly the application's value on the
#      first K and nothing on the others (never a second field, never one on
#      a connection that carries its own)
#   C  the first request goes out with the preface, before the server's
#      SETTINGS: that one arrives without a field, the others with one
#
# Exit counters: h2_injected = N + N - 1, h2_kept_existing = N,
# h2_skip_no_settings_ack = 1, nothing made opaque.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

N=6 K=3 PORT=50054
OWN=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01

lab_init
"$LAB_PY" -c 'import h2' 2>/dev/null || fail "$LAB_PY lacks h2: run scripts/install-deps.sh (python3-h2)"
lab_pod hcli 198.18.41.23/24
lab_pod hsrv 198.18.41.13/24
SRV=$(lab_ip hsrv)

tw_start --cgroup "$(lab_cgroup hcli)" --cgroup "$(lab_cgroup hsrv)"
lab_start_cmd hsrv "$SRV" "$PORT" "$LAB_PY" "$LAB_SERVERS/h2_tp_echo.py" serve "$SRV" "$PORT"

run_conn() { # NAME ARGS...: one connection's requests, their answers into $LAB_DIR/NAME.jsonl
	local name=$1
	shift
	LAB_EXEC_TIMEOUT=30 lab_exec_in_pod hcli "$LAB_PY" "$LAB_SERVERS/h2_tp_echo.py" call "$SRV" \
		"$PORT" "$N" "$@" || { lab__show_file "$LAB_LAST_ERR" "stderr"; fail "connection $name failed"; }
	cp "$LAB_LAST_OUT" "$LAB_DIR/$name.jsonl"
}

lab_step "A: $N requests after the server's SETTINGS"
run_conn A
lab_step "B: the application's own traceparent on the first $K of $N"
run_conn B --own "$OWN" --own-first "$K"
lab_step "C: the first request before the server's SETTINGS"
run_conn C --eager

lab_step "what the server saw"
"$LAB_PY" - "$LAB_DIR" "$N" "$K" "$OWN" <<'PY' || fail "traceparent fields as the server saw them"
import json, re, sys
d, n, k, own = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
valid = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
def load(name):
    rows = [json.loads(l) for l in open("%s/%s.jsonl" % (d, name))]
    assert len(rows) == n and all(r["status"] == "200" for r in rows), (name, rows)
    return [r["tp"] for r in rows]
a, b, c = load("A"), load("B"), load("C")
bad = []
for i, tps in enumerate(a):
    if len(tps) != 1 or not valid.match(tps[0]) or tps[0] == own:
        bad.append(("A", i, tps))
spans = [t[0][36:52] for t in a if len(t) == 1]
if len(set(spans)) != len(spans):
    bad.append(("A", "span ids repeat", spans))
for i, tps in enumerate(b):
    if tps != ([own] if i < k else []):
        bad.append(("B", i, tps))
if c[0] != []:
    bad.append(("C", 0, c[0]))
for i, tps in enumerate(c[1:], 1):
    if len(tps) != 1 or not valid.match(tps[0]):
        bad.append(("C", i, tps))
for x in bad:
    print("unexpected:", x)
print("A: %d/%d with one field; B: %d/%d as the application sent them; C: %d/%d"
      % (sum(len(t) == 1 for t in a), n, sum(t == ([own] if i < k else []) for i, t in enumerate(b)),
         n, sum(len(t) == 1 for t in c[1:]), n - 1))
sys.exit(1 if bad else 0)
PY

lab_step "spans: every SERVER span of A is the child of its CLIENT span"
srv_pid=$(lab_pod_pids hsrv | head -n 1)
tw_wait_spans --kind server --pid "$srv_pid" $((3 * N)) 20
tw_wait_spans --kind client $((3 * N)) 20
"$LAB_PY" - "$TW_JSONL" "$LAB_DIR/A.jsonl" <<'PY' || fail "A's spans are not linked"
import json, sys
spans = [json.loads(l) for l in open(sys.argv[1])]
wire = {json.loads(l)["tp"][0][36:52] for l in open(sys.argv[2])}
clients = {s["span_id"]: s for s in spans if s["kind"] == "client"}
linked = [s for s in spans if s["kind"] == "server" and s["parent_span_id"] in wire
          and s["parent_span_id"] in clients and clients[s["parent_span_id"]]["trace_id"] == s["trace_id"]
          and s["attributes"].get("tracewire.parent.source") == "header"]
print("A: %d of %d SERVER spans children of the CLIENT span whose id went on the wire"
      % (len(linked), len(wire)))
sys.exit(0 if len(linked) == len(wire) else 1)
PY

tw_stop
lab_step "counters"
want="h2_injected=$((2 * N - 1)) h2_kept_existing=$N h2_skip_no_settings_ack=1 h2_opaque_bad=0 h2_opaque_lost=0 h2_opaque_split_block=0 h2_opaque_long_block=0 h2_opaque_continuation=0 h2_off=0"
for kv in $want; do
	got=$(tw_exit_counter "${kv%%=*}")
	[ "$got" = "${kv#*=}" ] || fail "${kv%%=*}=$got, want ${kv#*=}"
done
echo "ok: $want"
