#!/usr/bin/env bash
# Trace propagation through a four-tier call chain of unmodified services:
#
#   cli (curl) -> px (nginx, /proxy/ reverse proxy, 1 worker, keep-alive upstream)
#              -> mid (python ThreadingHTTPServer, servers/chain_mid.py: for each
#                      /chain/... request one GET / to the leaf over a keep-alive
#                      connection of the handling thread)
#              -> leaf (node http, servers/node_server.js)
#
# tracewire selects all four pods (--cgroup each; default --propagation headers)
# and must report every request as one trace
#   curl CLIENT (root) -> nginx SERVER (parent: curl's span, source header)
#   -> nginx CLIENT -> python SERVER (parent: that nginx span, header)
#   -> python CLIENT (parent: python's SERVER span, source connect or thread)
#   -> node SERVER (parent: python's CLIENT span, header)
# (spans.py check-chain). Three runs, each in its own fresh pods: no request
# passes before tracewire is ready, so it sees every connection open (one
# opened before it started is never injected into) and none is reused across
# runs. The curl processes run with LAB_EXPECT_CODE=200: a request that the
# injection broke fails the run there.
#   c=1   REQUESTS requests one at a time: every one a complete trace.
#   c=8   REQUESTS requests 8 at a time: the python -> node part exact for every
#         request; nothing dangling, one root per trace, one trace per request;
#         completeness printed as "COMPLETENESS c=8 N/M" and held to a floor.
#   tp    REQUESTS requests 8 at a time, each carrying its own valid traceparent
#         (curl -H): curl's header is kept (curl CLIENT span: application_header,
#         child of the header's parent id), nginx forwards it and tracewire
#         rewrites its parent-id (nginx CLIENT span: forwarded_header): every
#         request complete.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS=${TW_CHAIN_REQUESTS:-200}

# Floor for c=8 completeness. nginx is one event-loop thread serving all
# eight connections at once, so the thread rule (the server request its
# thread is handling) cannot tell which request an upstream request belongs
# to: between reading request A and proxying it, the worker may read B; the
# connect rule helps only for the first request on each upstream connection
# (nginx keeps them alive). What keeps the nginx hop right is the
# forwarded-header rule: nginx passes on the traceparent curl's request
# carried (tracewire injected it on curl's side), and the rewrite finds the
# server request by that header's (trace-id, parent-id), whatever the thread.
# So a miss means that rule failed for a request (the header not injected or
# not seen on nginx's SERVER side, its forwarded_ctx entry gone), which
# should be rare: 0.9 leaves room for a handful. A systematic failure (no
# rewrite at all) either falls far below it (nginx's CLIENT spans become
# application_header children of curl's span: 0 complete) or, where the
# thread rule happens to guess right, is caught by the exit counter
# rewritten = REQUESTS below. Measured so far: 199 and 200 of 200; the miss
# was nginx's SERVER span not seeing the injected header (its first read of
# the request held only the request line), which happens at c=1 as well.
C8_FLOOR=${TW_CHAIN_C8_FLOOR:-0.9}

lab_init

# Exit counters that must be zero after every run: nothing lost, unparsed,
# or passed through the proxy unmodified by a failed helper.
ZERO_COUNTERS=(lost_ringbuf_full conn_map_full copy_faults bad unsynced evicted unanswered
	spans_dropped fail_open skip_split_head skip_head_too_long skip_not_http skip_unframed
	sockhash_full ctx_lost)

# chain_pods N: lab_chain N (pods cN pN mN lN and their servers), named the
# short way: CLI, PX_URL, TIER_PX / TIER_MID / TIER_LEAF, CG.
chain_pods() {
	lab_chain "$1"
	CLI=$LAB_CHAIN_CLI PX_URL=$LAB_CHAIN_URL
	TIER_PX=$LAB_CHAIN_PX TIER_MID=$LAB_CHAIN_MID TIER_LEAF=$LAB_CHAIN_LEAF
	CG=("${LAB_CHAIN_CG[@]}")
}

# curl_traceparents POD COUNT PARALLEL URL TPFILE: like lab_curl_many, but
# request i carries header "traceparent: <line i of TPFILE>". Sets
# LAB_LAST_PID (curl's pid) and LAB_CONNECTS.
curl_traceparents() {
	local pod=$1 count=$2 par=$3 url=$4 tps=$5 cfg i ok
	LAB_NPROC=$((LAB_NPROC + 1))
	cfg=$LAB_DIR/curl.$LAB_NPROC.cfg
	mapfile -t tp <"$tps"
	[ "${#tp[@]}" -ge "$count" ] || fail "curl_traceparents: only ${#tp[@]} traceparents"
	{
		for ((i = 0; i < count; i++)); do
			[ "$i" = 0 ] || echo next
			printf 'silent\nshow-error\nmax-time = 30\nurl = "%s/%d"\noutput = "/dev/null"\n' "$url" "$i"
			printf 'header = "traceparent: %s"\nwrite-out = "%%{http_code} %%{num_connects}\\n"\n' "${tp[i]}"
		done
	} >"$cfg"
	lab_exec_in_pod "$pod" curl --silent --parallel --parallel-max "$par" --config "$cfg" ||
		{
			lab__show_file "$LAB_LAST_ERR" "curl stderr"
			fail "curl in pod $pod exited non-zero (requests from $cfg)"
		}
	ok=$(awk '$1 == 200' "$LAB_LAST_OUT" | wc -l)
	LAB_CONNECTS=$(awk '{ s += $2 } END { print s + 0 }' "$LAB_LAST_OUT")
	assert_eq "$count" "$ok" "curl in pod $pod: requests answered 200"
}

# finish_run: wait for the spans of REQUESTS requests by curl pid CURL_PID,
# stop tracewire, validate the spans; sets TIERS (check-chain --tier
# arguments).
finish_run() {
	tw_wait_spans --pid "$CURL_PID" --kind client "$REQUESTS" 60
	tw_wait_spans "$((6 * REQUESTS))" 60
	tw_stop
	tw_spans validate
	TIERS=(--tier "cli=$CURL_PID" --tier "px=$TIER_PX" --tier "mid=$TIER_MID" --tier "leaf=$TIER_LEAF")
}

# Exit counters are checked after all three runs (check_later), so that a
# counter that is off does not hide the traces of the runs after it.
LATER=()
check_later() {
	local want=$1 got=$2 what=$3
	if [ "$want" = "$got" ]; then
		echo "  ok: $what = $got"
	else
		echo "  NOT OK: $what = '$got', expected $want"
		LATER+=("$what: expected $want, got '$got'")
	fi
}

# run_totals NAME: nothing but the chain's spans in the file (6 per request);
# the ZERO_COUNTERS of the last run are 0 (checked later).
run_totals() {
	local c
	assert_eq "$((6 * REQUESTS))" "$(tw_spans count)" "$1: spans in the file (6 per request)"
	grep '^[^ ]* tracewire: info: stats (exit):' "$TW_LOG" | sed 's/^/  /'
	for c in "${ZERO_COUNTERS[@]}"; do
		check_later 0 "$(tw_exit_counter "$c" || true)" "$1: exit counter $c"
	done
}

# ---- c=1 ---------------------------------------------------------------------
lab_step "c=1: pods c1 p1 m1 l1, servers"
chain_pods 1
tw_start "${CG[@]}"
assert_file_lacks "$TW_LOG" "propagation: off" "propagation is on (tracewire log)"
lab_step "c=1: tracewire ready; $REQUESTS requests one at a time"
LAB_EXPECT_CODE=200 lab_curl_many "$CLI" "$REQUESTS" 1 "$PX_URL/c1"
CURL_PID=$LAB_LAST_PID
finish_run
lab_chain_check c=1 --exact-from mid --min-complete 1.0
run_totals c=1
# Every request: curl injected (curl's requests do not carry traceparent),
# nginx forwarded and had it rewritten, python injected.
check_later "$((2 * REQUESTS))" "$(tw_exit_counter injected)" "c=1: exit counter injected (curl + python)"
check_later "$REQUESTS" "$(tw_exit_counter rewritten)" "c=1: exit counter rewritten (nginx)"
# kept_existing: "the application's own traceparent kept as it was"
# (include/tracewire_event.h); nginx's forwarded ones were rewritten.
check_later 0 "$(tw_exit_counter kept_existing)" "c=1: exit counter kept_existing"

# ---- c=8 ---------------------------------------------------------------------
lab_step "c=8: pods c2 p2 m2 l2, servers"
chain_pods 2
tw_start "${CG[@]}"
assert_file_lacks "$TW_LOG" "propagation: off" "propagation is on (tracewire log)"
lab_step "c=8: tracewire ready; $REQUESTS requests, 8 at a time"
LAB_EXPECT_CODE=200 lab_curl_many "$CLI" "$REQUESTS" 8 "$PX_URL/c8"
CURL_PID=$LAB_LAST_PID
assert_ge "$LAB_CONNECTS" 2 "c=8: curl used several connections at once"
finish_run
# Structure is checked whatever the floor: no parent id pointing at a span
# that was not exported, one root per trace, one trace per request, one span
# per tier and request; python is thread-per-request, so from its SERVER span
# down to node's (thread rule, then header) every request must be exact.
lab_chain_check c=8 --exact-from mid --min-complete "$C8_FLOOR"
run_totals c=8
check_later "$((2 * REQUESTS))" "$(tw_exit_counter injected)" "c=8: exit counter injected (curl + python)"
check_later "$REQUESTS" "$(tw_exit_counter rewritten)" "c=8: exit counter rewritten (nginx)"
check_later 0 "$(tw_exit_counter kept_existing)" "c=8: exit counter kept_existing"

# ---- c=8, each request with its own traceparent ------------------------------
lab_step "tp: pods c3 p3 m3 l3, servers"
chain_pods 3
"$LAB_PY" -c '
import secrets, sys
for _ in range(int(sys.argv[1])):
    print(f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01")' "$REQUESTS" >"$LAB_DIR/traceparents.txt"
tw_start "${CG[@]}"
assert_file_lacks "$TW_LOG" "propagation: off" "propagation is on (tracewire log)"
lab_step "tp: tracewire ready; $REQUESTS requests with their own traceparent, 8 at a time"
curl_traceparents "$CLI" "$REQUESTS" 8 "$PX_URL/tp" "$LAB_DIR/traceparents.txt"
CURL_PID=$LAB_LAST_PID
finish_run
# check-chain --traceparents: each request's trace is its header's trace id;
# curl's CLIENT span (application_header) and nginx's SERVER span (header)
# are children of the header's parent id; nginx's CLIENT span is
# forwarded_header (the rule is exact: keyed by the header, not the thread).
lab_chain_check c=8-traceparent --traceparents "$LAB_DIR/traceparents.txt" \
	--client-source px=forwarded_header --exact-from mid --min-complete 1.0
run_totals tp
check_later "$REQUESTS" "$(tw_exit_counter kept_existing)" "tp: exit counter kept_existing (curl's own headers)"
check_later "$REQUESTS" "$(tw_exit_counter rewritten)" "tp: exit counter rewritten (nginx)"
check_later "$REQUESTS" "$(tw_exit_counter injected)" "tp: exit counter injected (python)"
if [ "${#LATER[@]}" -gt 0 ]; then
	printf 'FAIL: %s\n' "${LATER[@]}" >&2
	fail "${#LATER[@]} exit counter(s) off (above); the traces themselves were fine"
fi
lab_step "ok"
