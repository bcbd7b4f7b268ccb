#!/usr/bin/env bash
# HTTP/1.1 semantics as spans show them, against python http.server (and node
# where framing differs): 404 vs 500 status, chunked and large bodies followed
# by another request on the same connection, HEAD, slow responses against
# curl's own timing, IPv6, a connection closed without a response, query
# strings, and a POST whose body looks like a request line.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

lab_init
lab_pod srv 198.18.0.10/24
lab_pod cli 198.18.0.20/24
SRV=$(lab_ip srv)
SRV6=$(lab_ip6 srv)
CLI6=$(lab_ip6 cli)
PY=http://$SRV:8080
PY6=http://[$SRV6]:8081
NODE=http://$SRV:8082

lab_start_server python srv "$SRV" 8080
py_pid=$LAB_LAST_PID
lab_start_server python srv "$SRV6" 8081
py6_pid=$LAB_LAST_PID
lab_start_server node srv "$SRV" 8082
node_pid=$LAB_LAST_PID

tw_start --cgroup "$(lab_cgroup srv)" --cgroup "$(lab_cgroup cli)"
lab_step "tracewire ready"

# curl_cli ARGS...: curl in the client pod; CURL_PID, CURL_RC, output in $LAB_LAST_OUT.
curl_cli() {
	CURL_RC=0
	lab_exec_in_pod cli curl --silent --show-error --max-time 20 "$@" || CURL_RC=$?
	CURL_PID=$LAB_LAST_PID
}
# field ARGS...: one value from spans.py fields (exactly one span must match).
field() {
	local out n
	out=$(tw_spans fields "$@")
	n=$(printf '%s' "$out" | grep -c '' || true)
	[ "$n" = 1 ] || { fail "expected one span for [$*], got $n"; return 1; }
	printf '%s\n' "$out"
}
secs_to_ns() { LC_ALL=C awk -v s="$1" 'BEGIN { printf "%d\n", s * 1e9 }'; }

# ---- traffic ------------------------------------------------------------------
W='%{http_code} %{size_download} %{time_total} %{local_port}\n'
curl_cli -o /dev/null -w "$W" "$PY/status/404"
assert_match "$(cat "$LAB_LAST_OUT")" '^404 ' "GET /status/404"
pid_404=$CURL_PID
curl_cli -o /dev/null -w "$W" "$PY/status/500"
assert_match "$(cat "$LAB_LAST_OUT")" '^500 ' "GET /status/500"
curl_cli -o /dev/null -w "$W" "$PY/chunked?n=5&delay_ms=5" -o /dev/null "$PY/"
assert_eq "200 200" "$(awk '{ printf "%s%s", s, $1; s=" " }' "$LAB_LAST_OUT")" "chunked, then / on the same connection"
pid_chunked=$CURL_PID
curl_cli -o /dev/null -w "$W" "$PY/big" -o /dev/null "$PY/"
assert_eq "200 204800" "$(head -n1 "$LAB_LAST_OUT" | cut -d' ' -f1-2)" "GET /big"
pid_big=$CURL_PID
curl_cli -o /dev/null -w "$W" -I "$PY/" --next --silent --show-error -o /dev/null -w "$W" "$PY/"
assert_eq "200 200" "$(awk '{ printf "%s%s", s, $1; s=" " }' "$LAB_LAST_OUT")" "HEAD then GET"
pid_head=$CURL_PID
curl_cli -o /dev/null -w "$W" "$PY/slow?ms=300"
read -r code _ slow_total _ <"$LAB_LAST_OUT"
assert_eq 200 "$code" "GET /slow?ms=300"
slow_total_ns=$(secs_to_ns "$slow_total")
pid_slow=$CURL_PID
curl_cli -o /dev/null -w "$W" "$PY6/?v=6"
assert_match "$(cat "$LAB_LAST_OUT")" '^200 ' "GET over IPv6"
pid_v6=$CURL_PID
curl_cli -o /dev/null -w "$W" "$PY/close"
assert_eq 52 "$CURL_RC" "curl's status for a connection closed without a response (52: empty reply)"
pid_close=$CURL_PID
# A duplicate of the connection's fd closed mid-request (as a forked child
# that inherited it would) does not end the connection.
curl_cli -o /dev/null -w "$W" "$PY/dup-close" -o /dev/null "$PY/?after=dup"
assert_eq "200 200" "$(awk '{ printf "%s%s", s, $1; s=" " }' "$LAB_LAST_OUT")" "dup-close then /"
pid_dup=$CURL_PID
curl_cli -o /dev/null -w "$W" "$PY/?a=1&b=two%20words"
assert_match "$(cat "$LAB_LAST_OUT")" '^200 ' "GET with a query"
# A body that starts like a request must not become a request of its own.
body=$LAB_DIR/post-body
{
	printf 'GET /fake HTTP/1.1\r\nHost: fake\r\n\r\n'
	head -c 12000 /dev/zero | tr '\0' 'b'
} >"$body"
body_len=$(stat -c %s "$body")
curl_cli -o "$LAB_DIR/post-reply" -w "$W" --data-binary "@$body" "$PY/" \
	--next --silent --show-error -o /dev/null -w "$W" "$PY/"
assert_eq "200 200" "$(awk '{ printf "%s%s", s, $1; s=" " }' "$LAB_LAST_OUT")" "POST then GET"
assert_file_contains "$LAB_DIR/post-reply" "\\($body_len body bytes\\)" "the server got the whole POST body"
pid_post=$CURL_PID
# Over 1 MiB curl sends "Expect: 100-continue": the interim 100 is not the response.
head -c 2000000 /dev/zero >"$LAB_DIR/post-big"
curl_cli -o "$LAB_DIR/post-big-reply" -w "$W" -H 'Content-Type: application/octet-stream' \
	--data-binary "@$LAB_DIR/post-big" "$PY/status/201"
assert_match "$(cat "$LAB_LAST_OUT")" '^201 ' "POST of 2 MB with Expect: 100-continue"
pid_post_big=$CURL_PID
# node: headers and the first chunk in one write, a destroyed socket, a 500.
curl_cli -o /dev/null -w "$W" "$NODE/chunked?n=4&delay_ms=5" -o /dev/null "$NODE/"
assert_eq "200 200" "$(awk '{ printf "%s%s", s, $1; s=" " }' "$LAB_LAST_OUT")" "node: chunked then /"
pid_node_chunked=$CURL_PID
curl_cli -o /dev/null -w "$W" "$NODE/close"
assert_eq 52 "$CURL_RC" "node: curl's status for /close"
curl_cli -o /dev/null -w "$W" "$NODE/status/500"
assert_match "$(cat "$LAB_LAST_OUT")" '^500 ' "node: GET /status/500"

lab_step "traffic done; waiting for spans"
# python 16 + python IPv6 1 + node 4 server spans; as many client spans.
tw_wait_spans --kind server 21 30
tw_wait_spans --kind client 21 30
tw_stop
tw_spans validate

# ---- status codes ---------------------------------------------------------------
lab_step "status codes"
tw_spans check-requests --kind server --pid "$py_pid" --path /status/404 --expect 1 \
	--status 404 --otel-status unset
n=$(tw_count --kind server --path /status/404 --has-attr error.type)
assert_eq 0 "$n" "a server 404 carries no error.type"
tw_spans check-requests --kind client --pid "$pid_404" --expect 1 --status 404 --otel-status error
tw_spans check-requests --kind server --pid "$py_pid" --path /status/500 --expect 1 \
	--status 500 --otel-status error
assert_eq 500 "$(field --kind server --pid "$py_pid" --path /status/500 -f attributes.error.type)" \
	"error.type of a 500 server span"
tw_spans check-requests --kind server --pid "$node_pid" --path /status/500 --expect 1 \
	--status 500 --otel-status error

# ---- framing: the request after a chunked/big/HEAD response is its own span -------
lab_step "chunked, big, HEAD"
for spec in "$pid_chunked:$py_pid:/chunked:GET" "$pid_node_chunked:$node_pid:/chunked:GET" \
	"$pid_big:$py_pid:/big:GET" "$pid_head:$py_pid:/:HEAD"; do
	IFS=: read -r cpid spid path method <<<"$spec"
	tw_spans check-requests --kind client --pid "$cpid" --expect 2 --status 200
	port=$(tw_spans fields --kind client --pid "$cpid" -f attributes.network.local.port | sort -u)
	assert_match "$port" '^[0-9]+$' "both requests of curl $cpid on one connection"
	tw_spans check-requests --kind server --pid "$spid" --attr "client.port=$port" --expect 2 --status 200
	assert_eq 1 "$(tw_count --kind server --pid "$spid" --attr "client.port=$port" --path "$path" \
		--method "$method")" "server span for $method $path on port $port"
	assert_eq 1 "$(tw_count --kind server --pid "$spid" --attr "client.port=$port" --path / \
		--method GET --no-attr url.query)" "server span for the GET / after $method $path on port $port"
	tw_spans check-pairs --client-pid "$cpid" --server-pid "$spid" --expect 2
done
chunk_ns=$(field --kind server --pid "$py_pid" --path /chunked -f duration_ns)
assert_ge "$chunk_ns" 20000000 "python /chunked (5 chunks, 5 ms apart) lasts >= 20 ms"
assert_eq HEAD "$(tw_spans fields --kind server --pid "$py_pid" --method HEAD -f attributes.http.request.method)" \
	"HEAD request span"
assert_eq 1 "$(tw_count --kind client --pid "$pid_head" --method HEAD)" "HEAD client span"

# ---- timing ---------------------------------------------------------------------
lab_step "slow response vs curl's time_total ($slow_total s)"
srv_ns=$(field --kind server --pid "$py_pid" --path /slow -f duration_ns)
cli_ns=$(field --kind client --pid "$pid_slow" -f duration_ns)
assert_ge "$srv_ns" 300000000 "server span of /slow?ms=300 lasts >= 300 ms"
assert_ge "$cli_ns" "$srv_ns" "client span lasts at least as long as the server span"
assert_le "$cli_ns" "$slow_total_ns" "client span is no longer than curl's time_total"
assert_eq "$(printf '/slow\tms=300')" \
	"$(field --kind server --pid "$py_pid" --path /slow -f attributes.url.path -f attributes.url.query)" \
	"url.path and url.query of /slow?ms=300"

# ---- IPv6 --------------------------------------------------------------------------
lab_step "IPv6"
tw_spans check-requests --kind server --pid "$py6_pid" --expect 1 --status 200 \
	--attr network.type=ipv6 --attr "network.peer.address=$CLI6"
tw_spans check-requests --kind client --pid "$pid_v6" --expect 1 --status 200 \
	--attr "network.peer.address=$SRV6" --attr network.peer.port=8081
tw_spans check-pairs --client-pid "$pid_v6" --server-pid "$py6_pid" --expect 1

# ---- connection closed without a response ------------------------------------------
lab_step "closed without a response"
for spid in "$py_pid" "$node_pid"; do
	tw_spans check-requests --kind server --pid "$spid" --path /close --expect 1 \
		--otel-status error --has-attr error.type --no-attr http.response.status_code
done
tw_spans check-requests --kind client --pid "$pid_close" --expect 1 --otel-status error \
	--has-attr error.type

lab_step "a duplicate fd closed"
tw_spans check-requests --kind server --pid "$py_pid" --path /dup-close --expect 1 \
	--status 200 --otel-status unset
tw_spans check-requests --kind client --pid "$pid_dup" --expect 2 --status 200 --otel-status unset
tw_spans check-pairs --client-pid "$pid_dup" --server-pid "$py_pid" --expect 2

# ---- query string, POST body ---------------------------------------------------------
lab_step "query string and POST"
tw_spans check-requests --kind server --pid "$py_pid" --attr "url.query=a=1&b=two%20words" \
	--expect 1 --status 200 --path /
assert_eq 0 "$(tw_count --path-prefix '/?')" "no url.path holds a query"
tw_spans check-requests --kind server --pid "$py_pid" --method POST --expect 1 --status 200 --path /
tw_spans check-requests --kind client --pid "$pid_post" --expect 2 --status 200
assert_eq 0 "$(tw_count --path /fake)" "a POST body that looks like a request is not a request"
tw_spans check-requests --kind server --pid "$py_pid" --method POST --path /status/201 --expect 1 --status 201
tw_spans check-requests --kind client --pid "$pid_post_big" --expect 1 --status 201 --method POST
assert_eq 0 "$(tw_count --code 100)" "no span ends at an interim 100 Continue"
assert_eq 21 "$(tw_count --kind server)" "server spans in all"
assert_eq 21 "$(tw_count --kind client)" "client spans in all"
lab_step "ok"
