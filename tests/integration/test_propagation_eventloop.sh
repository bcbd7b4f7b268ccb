#!/usr/bin/env bash
# Trace completeness where tracewire's parent rules are weakest: an event-loop
# middle service that makes its downstream calls over a few reused keep-alive
# connections. There the connect rule (the thread's server request bound at
# connect(): exact, but only for a connection's first request) covers a
# handful of requests, and every later one falls to the thread rule: the
# client request belongs to the last server request its thread read, which,
# with several requests in flight on one thread, may be another one.
#
#   node:   cli (curl, selected) -> mid (servers/node_mid.js: node http server;
#           per /chain request one http.request to the leaf on a keep-alive
#           http.Agent with maxSockets 4, requests beyond 4 queued in the agent)
#           -> leaf (servers/header_echo.py, python, thread per connection)
#   nginx:  cli (curl, selected) -> mid (nginx, 1 worker, servers/
#           nginx_upstream_ka.conf.tmpl: upstream with `keepalive 8`,
#           proxy_http_version 1.1, Connection "") -> leaf (header_echo.py).
#           nginx passes the client's traceparent on (tracewire injected it on
#           curl's side), so its CLIENT spans are found by that header
#           (forwarded_header), whatever the thread read last.
#   ingress: the same nginx, but the client is not selected (requests that
#           enter the node from outside): no traceparent arrives, nginx's
#           SERVER span is the root (source none) and its CLIENT spans rest on
#           the connect and thread rules alone.
# The middle tier passes the incoming path on, so the leaf's request names
# the request it was made for: spans.py check-chain --attribution compares
# every middle CLIENT span's parent with that truth, per parent source.
#
# Each case runs REQUESTS requests (distinct paths) at concurrency 1 and 8,
# each run in fresh pods with fresh servers (every connection opened after
# tracewire was ready, none reused across runs), with LAB_EXPECT_CODE=200 (a
# request the injection broke fails the run). Per run it prints
#   COMPLETENESS <label> N/M        requests that are one complete trace
#   CORRECT <label> N/M             of those, the ones whose middle CLIENT span
#                                   is under its true parent (a swap of two
#                                   requests' CLIENT spans leaves both complete)
#   PARENT_SOURCES <label> mid.client: SOURCE=N ...
# c=1: one request in flight at a time, so the thread rule is exact: every
# request must be complete. c=8: check-chain's structural rules hold (every
# parent id an exported span of the trace, one root per trace, one request per
# trace, exactly one span per tier and request) and completeness is held to a
# floor (below, with the reasons).
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS=${TW_EVENTLOOP_REQUESTS:-200}

# Floors for c=8 (ratio of REQUESTS). A miss is a request whose middle CLIENT
# span was attributed to another request's SERVER span (or to none), which
# the thread rule allows; the structural checks hold regardless. Every middle
# here passes the incoming path on, so the request-line rule (bpf/lib/
# reqline.h: the one server request in flight with the same method and
# target) finds the parent where no header was forwarded: node and ingress
# now 200/200 in every run (source request_line), hence 0.99. What follows
# is what the thread and connect rules alone gave.
#  node: node_mid.js writes a client request in the event-loop turn that read
#    its server request when a pooled socket is free (thread rule right: the
#    last request read is this one), but a request queued in the agent (all 4
#    sockets busy) is written later, when a leaf response frees a socket, and
#    by then the thread may have read other requests. Measured over 6 runs:
#    20-79 of 200 CLIENT spans attributed to another request (all of them
#    source thread; in the run examined each had another server request
#    start between its own and its write), 131-175 of 200 complete over 12
#    runs (one with both CPUs busy: 147). A wrong attribution usually breaks
#    two traces (the one missing its CLIENT span and the one that got a
#    second); a swap of two leaves both complete, and wrong (CORRECT). The
#    floor, 0.5, is well below the lowest run and far above what a broken
#    rule gives (no context at write: 0 complete).
#  nginx (forwarded header): exact by construction (the rewrite finds the
#    server request by the header, whatever the thread read last); misses
#    only where the header was not seen, as in test_propagation_chain.sh:
#    0.9. Measured: 200/200 in 6 runs.
#  ingress: nginx writes an upstream request in the event that read its
#    client request when a kept-alive upstream connection is free (thread
#    rule right) and after connect() otherwise (connect rule, exact).
#    Measured: 200/200 (0 attributed wrong) in 6 runs; 0.95 leaves room for
#    a few odd cases.
FLOOR_NODE_C8=${TW_EVENTLOOP_FLOOR_NODE:-0.99}
FLOOR_NGINX_C8=${TW_EVENTLOOP_FLOOR_NGINX:-0.9}
FLOOR_INGRESS_C8=${TW_EVENTLOOP_FLOOR_INGRESS:-0.99}

MID_PORT=8081 LEAF_PORT=8082

lab_init

ZERO_COUNTERS=(lost_ringbuf_full conn_map_full copy_faults bad unsynced evicted unanswered
	spans_dropped fail_open skip_split_head skip_head_too_long skip_not_http skip_unframed
	sockhash_full ctx_lost kept_existing)

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

# run_case LABEL KIND PARALLEL N FLOOR: pods cN mN lN (198.18.N.20/.11/.12),
# KIND node|nginx|ingress, REQUESTS requests PARALLEL at a time.
run_case() {
	local label=$1 kind=$2 par=$3 n=$4 floor=$5
	local cli=c$n mid=m$n leaf=l$n mid_ip=198.18.$n.11 leaf_ip=198.18.$n.12 base i
	local -a urls=() cgs=() tiers=() extra=() srcargs=()
	lab_step "$label: pods $cli $mid $leaf, servers"
	lab_pod "$cli" "198.18.$n.20/24"
	lab_pod "$mid" "$mid_ip/24"
	lab_pod "$leaf" "$leaf_ip/24"
	lab_start_cmd "$leaf" "$leaf_ip" "$LEAF_PORT" "$LAB_PY" "$LAB_SERVERS/header_echo.py" "$leaf_ip" "$LEAF_PORT"
	case $kind in
	node)
		lab_start_cmd "$mid" "$mid_ip" "$MID_PORT" \
			node "$LAB_SERVERS/node_mid.js" "$mid_ip" "$MID_PORT" "$leaf_ip" "$LEAF_PORT" 4
		base=http://$mid_ip:$MID_PORT/chain/$label
		;;
	nginx | ingress)
		LAB_NGINX_UPSTREAM=$leaf_ip:$LEAF_PORT LAB_NGINX_WORKERS=1 \
			lab_start_nginx_tmpl "$LAB_SERVERS/nginx_upstream_ka.conf.tmpl" "$mid" "$mid_ip" "$MID_PORT"
		base=http://$mid_ip:$MID_PORT/proxy/$label
		;;
	esac
	for ((i = 0; i < REQUESTS; i++)); do urls+=("$base/$i"); done
	MID_PIDS=$(lab_pod_pids "$mid" | paste -sd, -)
	LEAF_PIDS=$(lab_pod_pids "$leaf" | paste -sd, -)
	[ "$kind" = ingress ] || cgs+=(--cgroup "$(lab_cgroup "$cli")")
	cgs+=(--cgroup "$(lab_cgroup "$mid")" --cgroup "$(lab_cgroup "$leaf")")
	tw_start "${cgs[@]}"
	assert_file_lacks "$TW_LOG" "propagation: off" "propagation is on (tracewire log)"
	lab_step "$label: tracewire ready; $REQUESTS requests, $par at a time"
	LAB_EXPECT_CODE=200 lab_curl_many "$cli" "$REQUESTS" "$par" "${urls[@]}"
	local curl_pid=$LAB_LAST_PID nspans
	echo "  curl opened $LAB_CONNECTS connection(s)"
	[ "$par" = 1 ] || assert_ge "$LAB_CONNECTS" 2 "$label: curl used several connections at once"
	if [ "$kind" = ingress ]; then
		nspans=$((3 * REQUESTS))
		tiers=(--tier "mid=$MID_PIDS" --tier "leaf=$LEAF_PIDS")
		extra=(--entry-server)
	else
		nspans=$((4 * REQUESTS))
		tiers=(--tier "cli=$curl_pid" --tier "mid=$MID_PIDS" --tier "leaf=$LEAF_PIDS")
	fi
	tw_wait_spans "$nspans" 60
	tw_stop
	tw_spans validate
	assert_eq "$nspans" "$(tw_spans count)" "$label: spans in the file (one per tier and request)"

	local out=$LAB_DIR/chain-$label.txt rc=0 line
	tw_spans check-chain "${tiers[@]}" "${extra[@]}" --expect "$REQUESTS" --attribution \
		--min-complete "$floor" --show 3 >"$out" || rc=$?
	sed 's/^/  /' "$out"
	line=$(grep -E '^complete [0-9]+/[0-9]+$' "$out" | tail -n 1 || true)
	echo "COMPLETENESS $label ${line#complete }"
	line=$(grep -E '^  correct .*: [0-9]+/[0-9]+$' "$out" | tail -n 1 || true)
	echo "CORRECT $label ${line##* }"
	IFS=, read -r -a srcargs <<<"$MID_PIDS"
	local -a pidargs=()
	for i in "${srcargs[@]}"; do pidargs+=(--pid "$i"); done
	echo "PARENT_SOURCES $label mid.client: $(tw_spans fields --kind client "${pidargs[@]}" \
		-f attributes.tracewire.parent.source | sort | uniq -c |
		awk '{ printf "%s%s=%s", sep, $2, $1; sep = " " }')"
	[ "$rc" = 0 ] || fail "$label: spans.py check-chain failed (status $rc; details above)"

	grep '^[^ ]* tracewire: info: stats (exit):' "$TW_LOG" | sed 's/^/  /'
	local c
	for c in "${ZERO_COUNTERS[@]}"; do
		check_later 0 "$(tw_exit_counter "$c" || true)" "$label: exit counter $c"
	done
	case $kind in
	node) # curl's requests and node's
		check_later "$((2 * REQUESTS))" "$(tw_exit_counter injected || true)" "$label: exit counter injected"
		check_later 0 "$(tw_exit_counter rewritten || true)" "$label: exit counter rewritten" ;;
	nginx) # curl's; nginx forwards it, rewritten in place
		check_later "$REQUESTS" "$(tw_exit_counter injected || true)" "$label: exit counter injected"
		check_later "$REQUESTS" "$(tw_exit_counter rewritten || true)" "$label: exit counter rewritten" ;;
	ingress) # nginx's only
		check_later "$REQUESTS" "$(tw_exit_counter injected || true)" "$label: exit counter injected"
		check_later 0 "$(tw_exit_counter rewritten || true)" "$label: exit counter rewritten" ;;
	esac
}

run_case node-c1 node 1 1 1.0
run_case node-c8 node 8 2 "$FLOOR_NODE_C8"
run_case nginx-c1 nginx 1 3 1.0
run_case nginx-c8 nginx 8 4 "$FLOOR_NGINX_C8"
run_case ingress-c1 ingress 1 5 1.0
run_case ingress-c8 ingress 8 6 "$FLOOR_INGRESS_C8"

if [ "${#LATER[@]}" -gt 0 ]; then
	printf 'FAIL: %s\n' "${LATER[@]}" >&2
	fail "${#LATER[@]} exit counter(s) off (above)"
fi
lab_step "ok"
