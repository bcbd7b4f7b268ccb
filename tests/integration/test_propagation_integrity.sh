#!/usr/bin/env bash
# Header injection must never damage traffic. A strict HTTP/1.1 server
# (servers/integrity_server.py) in pod srv reports, per request, its
# traceparent headers and the sha256 of what it received; a client
# (servers/integrity_client.py run) in pod cli sends everything a framer can
# get wrong: Content-Length bodies of 0 B .. 8 MiB written in several sends
# that each start with request-looking bytes, chunked uploads with fake
# requests and fake last-chunks in the chunk data, 5 and 10 requests
# pipelined in one send, heads split across sends (request line, mid-header,
# final CRLF, one byte per send), requests carrying the application's own
# traceparent, a long mixed keep-alive sequence over IPv4 and IPv6, and
# (lenient) chunk extensions/trailers/upper-case hex/leading zeros.
#
# First without tracewire (self-test of the harness: nothing injected, every
# byte arrives). Then with tracewire selecting both pods, asserting:
#   - every body and every head (but for traceparent lines) byte-identical,
#     every request reached the server exactly once, nothing else did, no
#     parse error on the server;
#   - at most one traceparent per request; exactly one, valid, sampled, as the
#     first header, for every request whose head went out complete in one
#     send (pipelined ones included); the application's own kept unchanged;
#     split heads zero or one; distinct parent-ids and trace-ids; no tracestate;
#   - tracewire's CLIENT spans of the client process: span_id = the
#     parent-id the server saw, trace_id = its trace-id, a root; for the
#     application's traceparent a child of it (application_header); requests
#     sent behind another one in the same send may have no CLIENT span
#     (capture sees the first bytes of a write), counted; the SERVER spans
#     that continue the injected context of requests sent alone are counted
#     and mismatches printed (WARN), not asserted;
#   - exit stats: injected > 0 and equal to the traceparents the server saw
#     injected, kept_existing = application traceparents in whole heads,
#     skip_split_head = heads split across sends, rewritten 0, fail_open 0,
#     skip_not_http 0, ctx_lost 0, sockhash_full 0, socks_added > 0.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

PORT=8080
# largest body (bytes); smaller values only to narrow down a failure
MAX_BODY=${TW_INTEGRITY_MAX_BODY:-8388608}
IC=$LAB_SERVERS/integrity_client.py
IS=$LAB_SERVERS/integrity_server.py

# ic_check ARGS...: integrity_client.py check; its summary (JSON) in $LAB_DIR/summary.json
ic_check() {
	"$LAB_PY" "$IC" check --summary "$LAB_DIR/summary.json" "$@"
}
# sval KEY: integer KEY of the last summary (0 when absent)
sval() {
	"$LAB_PY" -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))' \
		"$LAB_DIR/summary.json" "$1"
}

lab_init
lab_pod srv 198.18.0.10/24
lab_pod cli 198.18.0.20/24
srv_ip=$(lab_ip srv)
srv_ip6=$(lab_ip6 srv)
SLOG=$LAB_DIR/server.jsonl

lab_step "integrity server in pod srv"
lab_run_in_pod srv "$LAB_PY" "$IS" --listen "$srv_ip:$PORT" --listen "[$srv_ip6]:$PORT" --log "$SLOG"
srv_pid=$LAB_LAST_PID
lab_wait_port srv "$srv_ip" "$PORT" 20 "$srv_pid"

lab_step "self-test without tracewire"
if ! lab_exec_in_pod cli "$LAB_PY" "$IC" run --server "$srv_ip:$PORT" --server6 "[$srv_ip6]:$PORT" \
	--out "$LAB_DIR/client.0.jsonl" --scenarios all,exotic --max-body "$MAX_BODY" --label s0; then
	lab__show_file "$LAB_LAST_ERR" "client stderr"
	fail "client without tracewire"
fi
cat "$LAB_LAST_OUT"
ic_check --client "$LAB_DIR/client.0.jsonl" --server-log "$SLOG" --label s0 --mode none ||
	fail "self-test: the harness itself sees damage or headers without tracewire"

lab_step "tracewire selecting both pods"
tw_start --cgroup "$(lab_cgroup srv)" --cgroup "$(lab_cgroup cli)"
lab_step "client: every scenario"
rc=0
lab_exec_in_pod cli "$LAB_PY" "$IC" run --server "$srv_ip:$PORT" --server6 "[$srv_ip6]:$PORT" \
	--out "$LAB_DIR/client.1.jsonl" --scenarios all,exotic --max-body "$MAX_BODY" --label t1 || rc=$?
cli_pid=$LAB_LAST_PID
cat "$LAB_LAST_OUT"
if [ "$rc" != 0 ]; then
	lab__show_file "$LAB_LAST_ERR" "client stderr"
	# the checker below names every difference; keep going to show them
	echo "client exited $rc (differences above)" >&2
fi

lab_step "checking what the server received"
ic_check --client "$LAB_DIR/client.1.jsonl" --server-log "$SLOG" --label t1 --mode rules --sampled
assert_eq 0 "$rc" "client exit status (every response read and matching)"
injected=$(sval injected)
app=$(sval app)
requests=$(sval requests)
assert_gt "$injected" 0 "requests that arrived with an injected traceparent"
lab_step "$requests requests: $injected injected, $app with the application's traceparent"

lab_step "waiting for the CLIENT spans of the requests with a traceparent"
tw_wait_spans --kind client --pid "$cli_pid" "$(sval with_tp_solo)" 30
tw_wait_spans --kind server --pid "$srv_pid" "$(sval with_tp_solo)" 30
tw_stop

lab_step "cross-check with tracewire's spans"
ic_check --client "$LAB_DIR/client.1.jsonl" --server-log "$SLOG" --label t1 --mode rules --sampled \
	--spans "$TW_JSONL" --client-pid "$cli_pid" --server-pid "$srv_pid" --server-spans=strict
missing=$(sval client_span_missing_pipelined)
# an application header with the sampled flag off: its trace is not exported
unsampled=$(sval app_unsampled_not_exported)
assert_eq "$((injected + app))" "$(($(sval client_span_match) + $(sval app_span_match) + missing + unsampled))" \
	"requests with a traceparent: CLIENT span with the ids on the wire (or none, behind another request in one send, or unsampled)"
lab_step "CLIENT spans: $(sval client_span_match) injected and $(sval app_span_match) application ids matched, $missing pipelined requests without a span"
lab_step "SERVER spans continuing the injected context of requests sent alone: $(sval server_span_match), not: $(sval server_span_mismatch) (any is a failure: --server-spans=strict)"

lab_step "exit stats"
grep '^[^ ]* tracewire: info: stats (exit):' "$TW_LOG" || true
assert_eq "$injected" "$(tw_exit_counter injected)" "exit counter injected = traceparents the server saw injected"
for c in rewritten fail_open skip_not_http ctx_lost sockhash_full; do
	assert_eq 0 "$(tw_exit_counter "$c")" "exit counter $c"
done
assert_gt "$(tw_exit_counter socks_added)" 0 "exit counter socks_added"
assert_eq "$(sval app_complete_heads)" "$(tw_exit_counter kept_existing)" \
	"exit counter kept_existing = requests with the application's traceparent in a head sent whole"
assert_eq "$(sval split_heads)" "$(tw_exit_counter skip_split_head)" \
	"exit counter skip_split_head = requests whose head went out in more than one send"
for c in skip_head_too_long skip_unframed socks_out_of_scope; do
	echo "  $c=$(tw_exit_counter "$c")"
done
lab_step "ok"
