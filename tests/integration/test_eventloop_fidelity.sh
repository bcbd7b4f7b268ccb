#!/usr/bin/env bash
# Event-loop fidelity (issue 18, item 4): through an event-loop middle tier
# that makes its downstream calls over reused keep-alive connections, at
# least 99% of the requests must be one complete, correctly parented trace,
# at 8 and at 32 requests in flight.
#
#   cli (curl, selected) -> mid -> leaf (servers/header_echo.py, python,
#   thread per connection), the middle one of
#     haproxy:  haproxy 2.6, servers/haproxy_reuse.cfg.tmpl, `http-reuse
#               always` (an idle upstream connection goes to whichever request
#               comes next, whatever client connection it came from), 2
#               threads. It forwards the client's headers, the traceparent
#               tracewire put on curl's request among them.
#     nginx:    nginx, servers/nginx_upstream_ka.conf.tmpl (upstream
#               `keepalive 8`, 1 worker); forwards the headers too.
#     node:     servers/node_mid.js, one http.request per request on an
#               http.Agent({keepAlive: true}) with more sockets than requests
#               in flight (1000, as the default's Infinity: no request waits
#               in the agent's queue; that case is test_propagation_eventloop's
#               node-c8). Passes no header on.
#   and the edge cases, where the client is not selected (requests entering
#   the node from outside: no traceparent arrives, the middle's SERVER span is
#   the root):
#     haproxy-edge, nginx-edge: as above.
#     haproxy-edge-close: the same with one client connection per request
#               (Connection: close), as the measurement of issue 18 had it.
#   and *-same: every request the same path (GET /.../same from every client
#   connection: many requests in flight with one request line). Their
#   requests cannot be told apart, so only completeness is required there.
#
# Truth: the middle passes the incoming path on, and every request (but in
# the *-same cases) has a path of its own (/<label>/<i>), so the leaf's SERVER span and the middle's CLIENT
# span name the middle SERVER span they belong to. A request is counted
# correct when its trace is complete (spans.py check-chain: one trace per
# request, every span of every tier in it, each the parent of the next) and
# its middle CLIENT span is the child of the middle SERVER span of the same
# path (check-chain --attribution). Both counts must be >= 99% of the
# requests (FLOOR); every middle CLIENT span must name the rule that found
# its parent (tracewire.parent.source), printed per case:
#   COMPLETENESS <label> N/M
#   CORRECT <label> N/M
#   PARENT_SOURCES <label> mid.client: SOURCE=N ...
# Each case runs in fresh pods with fresh servers (every connection opened
# after tracewire was ready). Counting, not timing: the load is curl's, as
# fast as the chain answers.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS=${TW_FIDELITY_REQUESTS:-200}
FLOOR=${TW_FIDELITY_FLOOR:-0.99}
# *-same: 198-200 of 200 measured. Two CPUs can take the same request as
# parent, or fill one slot, at the same instant (BPF v1, the build's target,
# has no compare-and-swap): a rare double claim costs two traces.
FLOOR_SAME=${TW_FIDELITY_FLOOR_SAME:-0.97}
CASES=${TW_FIDELITY_CASES:-haproxy-c8 haproxy-c32 haproxy-edge-c8 haproxy-edge-c32 haproxy-edge-close-c8 haproxy-edge-close-c32 haproxy-edge-same-c8 haproxy-edge-same-c32 nginx-c8 nginx-c32 nginx-edge-c8 nginx-edge-c32 nginx-edge-same-c8 nginx-edge-same-c32 node-c8 node-c32 node-same-c8 node-same-c32}
MID_PORT=8081 LEAF_PORT=8082
HAPROXY_THREADS=${TW_FIDELITY_HAPROXY_THREADS:-2}

command -v haproxy >/dev/null || { echo "haproxy not found: run scripts/install-deps.sh" >&2; exit 1; }
lab_init

ZERO_COUNTERS=(lost_ringbuf_full conn_map_full copy_faults bad unsynced evicted unanswered
	spans_dropped fail_open skip_split_head skip_head_too_long skip_not_http skip_unframed
	sockhash_full ctx_lost)

FAILED=()
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

# start_haproxy POD ADDR PORT UPSTREAM
start_haproxy() {
	local pod=$1 addr=$2 port=$3 up=$4 dir=$LAB_DIR/haproxy-$1
	mkdir -p "$dir"
	sed -e "s|@BIND@|$addr:$port|" -e "s|@UPSTREAM@|$up|" -e "s|@THREADS@|$HAPROXY_THREADS|" \
		"$LAB_SERVERS/haproxy_reuse.cfg.tmpl" >"$dir/haproxy.cfg"
	haproxy -c -q -f "$dir/haproxy.cfg" || fail "haproxy rejects $dir/haproxy.cfg"
	lab_start_cmd "$pod" "$addr" "$port" haproxy -db -f "$dir/haproxy.cfg"
}

# curl_close POD PARALLEL URL...: like lab_curl_many (every URL once, each
# answered 200), one connection per request (Connection: close).
curl_close() {
	local pod=$1 par=$2 cfg=$LAB_DIR/curl-close.cfg u ok
	shift 2
	for u in "$@"; do
		printf 'url = "%s"\noutput = "/dev/null"\nheader = "Connection: close"\n' "$u"
	done >"$cfg"
	lab_exec_in_pod "$pod" curl --silent --show-error --parallel --parallel-max "$par" \
		--max-time 30 --config "$cfg" --write-out '%{http_code} %{num_connects}\n' ||
		{ fail "curl in pod $pod exited $?"; lab__show_file "$LAB_LAST_ERR" "curl stderr"; return 1; }
	ok=$(awk '$1 == 200' "$LAB_LAST_OUT" | wc -l)
	LAB_CONNECTS=$(awk '{ s += $2 } END { print s + 0 }' "$LAB_LAST_OUT")
	[ "$ok" = "$#" ] || { fail "curl in pod $pod: $ok of $# requests answered 200"; return 1; }
}

# run_case LABEL N: pods cN mN lN (198.18.N.20/.11/.12); LABEL is
# KIND[-edge[-close]]-cPAR.
run_case() {
	local label=$1 n=$2 kind par edge=0
	local cli=c$n mid=m$n leaf=l$n mid_ip=198.18.$n.11 leaf_ip=198.18.$n.12 base i
	local -a urls=() cgs=() tiers=() extra=()
	par=${label##*-c}
	kind=${label%%-*}
	[[ $label != *-edge-* ]] || edge=1
	lab_step "$label: pods $cli $mid $leaf, servers"
	lab_pod "$cli" "198.18.$n.20/24"
	lab_pod "$mid" "$mid_ip/24"
	lab_pod "$leaf" "$leaf_ip/24"
	lab_start_cmd "$leaf" "$leaf_ip" "$LEAF_PORT" "$LAB_PY" "$LAB_SERVERS/header_echo.py" "$leaf_ip" "$LEAF_PORT"
	case $kind in
	haproxy)
		start_haproxy "$mid" "$mid_ip" "$MID_PORT" "$leaf_ip:$LEAF_PORT"
		base=http://$mid_ip:$MID_PORT/proxy/$label
		;;
	nginx)
		LAB_NGINX_UPSTREAM=$leaf_ip:$LEAF_PORT LAB_NGINX_WORKERS=1 \
			lab_start_nginx_tmpl "$LAB_SERVERS/nginx_upstream_ka.conf.tmpl" "$mid" "$mid_ip" "$MID_PORT"
		base=http://$mid_ip:$MID_PORT/proxy/$label
		;;
	node)
		lab_start_cmd "$mid" "$mid_ip" "$MID_PORT" \
			node "$LAB_SERVERS/node_mid.js" "$mid_ip" "$MID_PORT" "$leaf_ip" "$LEAF_PORT" 1000
		base=http://$mid_ip:$MID_PORT/chain/$label
		;;
	*) fail "unknown case $label" ;;
	esac
	if [[ $label == *-same-* ]]; then
		urls=("$base/same") # every request the same line
	else
		for ((i = 0; i < REQUESTS; i++)); do urls+=("$base/$i"); done
	fi
	MID_PIDS=$(lab_pod_pids "$mid" | paste -sd, -)
	LEAF_PIDS=$(lab_pod_pids "$leaf" | paste -sd, -)
	[ "$edge" = 1 ] || cgs+=(--cgroup "$(lab_cgroup "$cli")")
	cgs+=(--cgroup "$(lab_cgroup "$mid")" --cgroup "$(lab_cgroup "$leaf")")
	tw_start "${cgs[@]}"
	assert_file_lacks "$TW_LOG" "propagation: off" "propagation is on (tracewire log)"
	lab_step "$label: tracewire ready; $REQUESTS requests, $par at a time"
	if [[ $label == *-close-* ]]; then
		curl_close "$cli" "$par" "${urls[@]}"
		assert_eq "$REQUESTS" "$LAB_CONNECTS" "$label: one connection per request"
	else
		LAB_EXPECT_CODE=200 lab_curl_many "$cli" "$REQUESTS" "$par" "${urls[@]}"
	fi
	local curl_pid=$LAB_LAST_PID nspans
	echo "  curl opened $LAB_CONNECTS connection(s)"
	assert_ge "$LAB_CONNECTS" $((par / 2)) "$label: curl used several connections at once"
	if [ "$edge" = 1 ]; then
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

	local out=$LAB_DIR/chain-$label.txt rc=0 line complete correct need
	tw_spans check-chain "${tiers[@]}" "${extra[@]}" --expect "$REQUESTS" --attribution \
		--show 3 >"$out" || rc=$?
	sed 's/^/  /' "$out"
	line=$(grep -E '^complete [0-9]+/[0-9]+$' "$out" | tail -n 1 || true)
	complete=${line#complete }
	echo "COMPLETENESS $label $complete"
	line=$(grep -E '^  correct .*: [0-9]+/[0-9]+$' "$out" | tail -n 1 || true)
	correct=${line##* }
	echo "CORRECT $label $correct"
	local -a pidargs=() mp=()
	IFS=, read -r -a mp <<<"$MID_PIDS"
	for i in "${mp[@]}"; do pidargs+=(--pid "$i"); done
	echo "PARENT_SOURCES $label mid.client: $(tw_spans fields --kind client "${pidargs[@]}" \
		-f attributes.tracewire.parent.source | sort | uniq -c |
		awk '{ printf "%s%s=%s", sep, $2, $1; sep = " " }')"
	# every span names the rule that found its parent
	check_later 0 "$(tw_spans count --no-attr tracewire.parent.source || true)" \
		"$label: spans without tracewire.parent.source"
	[ "$rc" = 0 ] || FAILED+=("$label: spans.py check-chain failed (status $rc; above)")
	local floor=$FLOOR
	[[ $label != *-same-* ]] || floor=$FLOOR_SAME
	need=$(LC_ALL=C awk -v r="$REQUESTS" -v f="$floor" 'BEGIN { n = r * f; if (n > int(n)) n = int(n) + 1; print n }')
	[ "${complete%/*}" -ge "$need" ] 2>/dev/null ||
		FAILED+=("$label: $complete complete, fewer than $need ($floor)")
	# (-same-: requests that cannot be told apart have no true parent to check)
	[[ $label == *-same-* ]] || [ "${correct%/*}" -ge "$need" ] 2>/dev/null ||
		FAILED+=("$label: $correct correctly parented, fewer than $need ($FLOOR)")

	grep 'tracewire: info: stats (exit):' "$TW_LOG" | sed 's/^/  /'
	local c
	for c in "${ZERO_COUNTERS[@]}"; do
		# haproxy answering Connection: close requests: one unsynced message
		# per request, before the request-line rule as after it (spans
		# complete all the same); left to the framing work
		[[ $c != unsynced || $label != *-close-* ]] || continue
		check_later 0 "$(tw_exit_counter "$c" || true)" "$label: exit counter $c"
	done
}

n=0
for c in $CASES; do
	n=$((n + 1))
	run_case "$c" "$n"
done

if [ "${#LATER[@]}" -gt 0 ]; then
	printf 'FAIL: %s\n' "${LATER[@]}" >&2
	FAILED+=("${#LATER[@]} exit counter(s) or attribute checks off (above)")
fi
if [ "${#FAILED[@]}" -gt 0 ]; then
	printf 'FAIL: %s\n' "${FAILED[@]}" >&2
	fail "${#FAILED[@]} check(s) failed"
fi
lab_step "ok"
