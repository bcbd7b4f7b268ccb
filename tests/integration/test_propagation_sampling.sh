#!/usr/bin/env bash
# --sample-ratio: the sampling decision is made once, where a trace starts,
# travels downstream in the traceparent flags, and decides for every span of
# the trace together.
#
#   cli (curl, NOT selected: requests enter with no trace context)
#     -> srv (servers/header_echo.py, selected): /call/L-i?to=DOWN/echo/L-i
#        calls down (a new connection, or for odd i with keep=1 the handling
#        thread's kept-alive one: the connect and the thread rule) and reports
#        what down received
#     -> down (header_echo.py, selected)
#
# Every request starts a trace at srv's SERVER span (source none), so
# --sample-ratio decides its sampled flag; srv's CLIENT span and down's SERVER
# span inherit it. Each phase runs in fresh pods under a fresh tracewire:
#   ratio 0:   RATIO0_REQUESTS requests; down receives traceparent flags 02
#              (random set, sampled not set) on every one, and no span at all
#              is exported (counted spans_unsampled: 3 per request).
#   default:   (no --sample-ratio, i.e. 1; OTEL_TRACES_SAMPLER unset) flags 03
#              on every one, and every request is one complete trace of 3 spans.
#   ratio 0.5: RATIO5_REQUESTS (200) requests; the number K of sampled ones (flags
#              03 at down) is between 60 and 140 (Binomial(200, 0.5): mean 100,
#              sd 7.07, so +-40 is 5.7 sd: a fair coin fails this about once in
#              10^8 runs); exactly the K sampled requests have spans, all 3 of
#              them, linked, in the trace down received, with the sampled flag;
#              the others have none (srv's SERVER span and its CLIENT child
#              always together); spans_unsampled = 3 * (200 - K).
# Prints "SAMPLED <label> K/N" per phase.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

RATIO0_REQUESTS=${TW_SAMPLING_R0_REQUESTS:-40}
RATIO1_REQUESTS=${TW_SAMPLING_R1_REQUESTS:-40}
RATIO5_REQUESTS=${TW_SAMPLING_R5_REQUESTS:-200}
RATIO5_MIN=${TW_SAMPLING_R5_MIN:-60}
RATIO5_MAX=${TW_SAMPLING_R5_MAX:-140}
PARALLEL=4
SRV_PORT=8080 DOWN_PORT=8081

# The default ratio is 1 unless these say otherwise (README: Options).
unset OTEL_TRACES_SAMPLER OTEL_TRACES_SAMPLER_ARG

lab_init

ZERO_COUNTERS=(lost_ringbuf_full conn_map_full copy_faults bad unsynced evicted unanswered
	spans_dropped fail_open skip_split_head skip_head_too_long skip_not_http skip_unframed
	sockhash_full ctx_lost kept_existing rewritten)

# phase_pods N: pods cN sN dN (198.18.N.20/.10/.11), header_echo.py on sN and
# dN; sets CLI SRV_PID DOWN_PID SRV DOWN CGS.
phase_pods() {
	local n=$1
	CLI=c$n
	lab_pod "c$n" "198.18.$n.20/24"
	lab_pod "s$n" "198.18.$n.10/24"
	lab_pod "d$n" "198.18.$n.11/24"
	lab_start_cmd "d$n" "198.18.$n.11" "$DOWN_PORT" "$LAB_PY" "$LAB_SERVERS/header_echo.py" "198.18.$n.11" "$DOWN_PORT"
	DOWN_PID=$LAB_LAST_PID
	lab_start_cmd "s$n" "198.18.$n.10" "$SRV_PORT" "$LAB_PY" "$LAB_SERVERS/header_echo.py" "198.18.$n.10" "$SRV_PORT"
	SRV_PID=$LAB_LAST_PID
	SRV=http://198.18.$n.10:$SRV_PORT DOWN=http://198.18.$n.11:$DOWN_PORT
	CGS=(--cgroup "$(lab_cgroup "s$n")" --cgroup "$(lab_cgroup "d$n")")
}

# curl_calls LABEL COUNT: one curl process in pod CLI sends COUNT requests,
# PARALLEL at a time: request i is SRV/call/LABEL-i?to=DOWN/echo/LABEL-i (odd
# i: &keep=1), its body in $LAB_DIR/LABEL/i.json; fails unless all are 200.
curl_calls() {
	local label=$1 count=$2 cfg i q ok
	mkdir -p "$LAB_DIR/$label"
	cfg=$LAB_DIR/curl-$label.cfg
	for ((i = 0; i < count; i++)); do
		q=
		[ $((i % 2)) = 0 ] || q='&keep=1'
		printf 'url = "%s/call/%s-%d?to=%s/echo/%s-%d%s"\noutput = "%s/%s/%d.json"\n' \
			"$SRV" "$label" "$i" "$DOWN" "$label" "$i" "$q" "$LAB_DIR" "$label" "$i"
	done >"$cfg"
	lab_exec_in_pod "$CLI" curl --silent --show-error --parallel --parallel-max "$PARALLEL" \
		--max-time 30 --config "$cfg" --write-out '%{http_code}\n' ||
		{ lab__show_file "$LAB_LAST_ERR" "curl stderr"; fail "$label: curl exited non-zero ($cfg)"; }
	ok=$(awk '$1 == 200' "$LAB_LAST_OUT" | wc -l)
	assert_eq "$count" "$ok" "$label: requests answered 200"
}

# check_phase LABEL COUNT MODE: MODE none|all|some: which requests must have
# been sampled. Compares what down received (the bodies) with the exported
# spans; prints "sampled K" last.
check_phase() {
	"$LAB_PY" - "$TW_JSONL" "$LAB_DIR/$1" "$1" "$2" "$3" "$SRV_PID" "$DOWN_PID" <<'EOF'
import json, re, sys
from collections import defaultdict

jsonl, bodies, label, count, mode, srv_pid, down_pid = sys.argv[1:]
count, srv_pid, down_pid = int(count), int(srv_pid), int(down_pid)
TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
errors = []
spans = [json.loads(l) for l in open(jsonl) if l.strip()]
by_path = defaultdict(list)
for s in spans:
    by_path[(s["pid"], s["kind"], s["attributes"].get("url.path"))].append(s)
    if not s["trace_flags"] & 1:
        errors.append(f"exported span without the sampled flag: {s}")
sampled, traces, seen = 0, set(), 0
for i in range(count):
    name = f"{label}-{i}"
    r = json.load(open(f"{bodies}/{i}.json"))
    if "traceparent" in r["headers"] or "tracestate" in r["headers"]:
        errors.append(f"{name}: srv received trace context from the unselected client: {r['headers']}")
    dh = r["downstream"]["headers"]
    tp = dh.get("traceparent")
    m = TP.match(tp) if isinstance(tp, str) else None
    if not m:
        errors.append(f"{name}: down received traceparent {tp!r}, expected one version-00 header")
        continue
    if "tracestate" in dh:
        errors.append(f"{name}: down received a tracestate {dh['tracestate']!r}")
    trace, parent, flags = m.group(1), m.group(2), m.group(3)
    if trace in traces:
        errors.append(f"{name}: trace id {trace} used by another request")
    traces.add(trace)
    if flags not in ("02", "03"):
        errors.append(f"{name}: down received flags {flags}, expected 02 or 03 (random bit set)")
        continue
    is_sampled = flags == "03"
    if (mode == "none" and is_sampled) or (mode == "all" and not is_sampled):
        errors.append(f"{name}: down received flags {flags} (mode {mode})")
    ss = by_path.get((srv_pid, "server", f"/call/{name}"), [])
    sc = by_path.get((srv_pid, "client", f"/echo/{name}"), [])
    ds = by_path.get((down_pid, "server", f"/echo/{name}"), [])
    n = (len(ss), len(sc), len(ds))
    seen += sum(n)
    if not is_sampled:
        if n != (0, 0, 0):
            errors.append(f"{name}: unsampled (flags {flags} at down) but exported spans "
                          f"srv.server/srv.client/down.server = {n}")
        continue
    sampled += 1
    if n != (1, 1, 1):
        errors.append(f"{name}: sampled but exported spans srv.server/srv.client/down.server = {n} "
                      f"(expected all three, together)")
        continue
    ss, sc, ds = ss[0], sc[0], ds[0]
    src = lambda s: s["attributes"].get("tracewire.parent.source")
    want = [
        ("srv.server", ss, trace, "", ("none",)),
        ("srv.client", sc, trace, ss["span_id"], ("connect", "thread")),
        ("down.server", ds, trace, sc["span_id"], ("header",)),
    ]
    for what, s, t, p, srcs in want:
        got = (s["trace_id"], s["parent_span_id"], src(s), s["trace_flags"])
        if got[0] != t or got[1] != p or got[2] not in srcs or got[3] != 3:
            errors.append(f"{name}: {what} (trace, parent, source, flags) = {got}, expected "
                          f"({t}, {p!r}, one of {srcs}, 3)")
    if sc["span_id"] != parent:
        errors.append(f"{name}: down received parent-id {parent}, srv's CLIENT span is {sc['span_id']}")
if seen != len(spans):
    errors.append(f"{len(spans) - seen} exported span(s) belong to no request of this phase")
for e in errors[:15]:
    print(f"  - {e}", file=sys.stderr)
if errors:
    print(f"FAIL: {label}: {len(errors)} problem(s) (above)", file=sys.stderr)
    sys.exit(1)
print(f"sampled {sampled}")
EOF
}

# counters_ok LABEL: the exit counters of the last tracewire: nothing lost or
# skipped; injected one per request; spans_unsampled 3 per unsampled request.
counters_ok() {
	local label=$1 count=$2 sampled=$3 c
	grep '^[^ ]* tracewire: info: stats (exit):' "$TW_LOG" | sed 's/^/  /'
	for c in "${ZERO_COUNTERS[@]}"; do
		assert_eq 0 "$(tw_exit_counter "$c")" "$label: exit counter $c"
	done
	assert_eq "$count" "$(tw_exit_counter injected)" "$label: exit counter injected (srv, one per request)"
	assert_eq "$((3 * (count - sampled)))" "$(tw_exit_counter spans_unsampled)" \
		"$label: exit counter spans_unsampled (3 per unsampled request)"
}

# ---- ratio 0 --------------------------------------------------------------------
lab_step "ratio 0: pods c1 s1 d1"
phase_pods 1
tw_start "${CGS[@]}" --sample-ratio 0
assert_file_contains "$TW_LOG" "sample ratio 0([^.0-9]|$)" "tracewire log names sample ratio 0"
lab_step "ratio 0: tracewire ready; $RATIO0_REQUESTS requests"
curl_calls r0 "$RATIO0_REQUESTS"
# Nothing to wait for: tracewire flushes what it holds when it stops, and
# spans_unsampled below proves it saw every span.
tw_stop
tw_spans validate
assert_eq 0 "$(tw_spans count)" "ratio 0: spans exported"
out=$(check_phase r0 "$RATIO0_REQUESTS" none)
k=${out##* }
assert_eq 0 "$k" "ratio 0: sampled requests"
counters_ok "ratio 0" "$RATIO0_REQUESTS" 0
echo "SAMPLED ratio-0 $k/$RATIO0_REQUESTS"

# ---- default ratio (1) ------------------------------------------------------------
lab_step "default ratio: pods c2 s2 d2"
phase_pods 2
tw_start "${CGS[@]}"
assert_file_contains "$TW_LOG" "sample ratio 1([^.0-9]|$)" "tracewire log names sample ratio 1"
lab_step "default ratio: tracewire ready; $RATIO1_REQUESTS requests"
curl_calls r1 "$RATIO1_REQUESTS"
tw_wait_spans "$((3 * RATIO1_REQUESTS))" 30
tw_stop
tw_spans validate
out=$(check_phase r1 "$RATIO1_REQUESTS" all)
k=${out##* }
assert_eq "$RATIO1_REQUESTS" "$k" "default ratio: sampled requests"
tw_spans check-chain --entry-server --tier "srv=$SRV_PID" --tier "down=$DOWN_PID" \
	--expect "$RATIO1_REQUESTS" --min-complete 1.0 | sed 's/^/  /'
counters_ok "default ratio" "$RATIO1_REQUESTS" "$k"
echo "SAMPLED ratio-1 $k/$RATIO1_REQUESTS"

# ---- ratio 0.5 ----------------------------------------------------------------------
lab_step "ratio 0.5: pods c3 s3 d3"
phase_pods 3
tw_start "${CGS[@]}" --sample-ratio 0.5
assert_file_contains "$TW_LOG" "sample ratio 0\.5([^0-9]|$)" "tracewire log names sample ratio 0.5"
lab_step "ratio 0.5: tracewire ready; $RATIO5_REQUESTS requests"
curl_calls r5 "$RATIO5_REQUESTS"
# How many were sampled is known from what down received: wait for their spans.
k=$("$LAB_PY" -c '
import json, sys
n = 0
for i in range(int(sys.argv[2])):
    tp = json.load(open(f"{sys.argv[1]}/{i}.json"))["downstream"]["headers"].get("traceparent", "")
    n += tp.endswith("-03")
print(n)' "$LAB_DIR/r5" "$RATIO5_REQUESTS")
tw_wait_spans "$((3 * k))" 30
tw_stop
tw_spans validate
out=$(check_phase r5 "$RATIO5_REQUESTS" some)
k=${out##* }
echo "SAMPLED ratio-0.5 $k/$RATIO5_REQUESTS"
assert_ge "$k" "$RATIO5_MIN" "ratio 0.5: sampled requests (root traces exported)"
assert_le "$k" "$RATIO5_MAX" "ratio 0.5: sampled requests (root traces exported)"
assert_eq "$k" "$(tw_spans count --kind server --pid "$SRV_PID" --attr tracewire.parent.source=none)" \
	"ratio 0.5: exported root spans"
tw_spans check-chain --entry-server --tier "srv=$SRV_PID" --tier "down=$DOWN_PID" \
	--expect "$k" --min-complete 1.0 | sed 's/^/  /'
counters_ok "ratio 0.5" "$RATIO5_REQUESTS" "$k"
lab_step "ok"
