#!/usr/bin/env bash
# tracewire inserts traceparent into HTTP/1.x requests only: no stream that is
# not an HTTP/1.x request (or no longer is one: after 101 Switching Protocols,
# inside a CONNECT tunnel) may lose, gain or change a byte, and no hostile
# byte of an incoming tracestate may reach the next hop. tracewire runs with
# default options, selecting every pod but ucli (so sk_msg is on the selected
# clients' sockets).
#
#   streams  cli (servers/proto_client.py) -> peer (servers/proto_peer.py):
#            each stream on its own connection, the peer logs sha256 and length
#            of what each connection delivered; per stream the client checks
#            that log against what it wrote, and what came back (echo or the
#            protocol's answers). h2c with prior knowledge (python3-h2, 6
#            requests on one connection), the bare h2 preface, RTSP/1.0,
#            SIP/2.0 INVITE, ICAP/1.0, HTTP/3.0 and HTTP/2.0 request lines,
#            lowercase "get / http/1.1", bare-LF line ends, binary garbage
#            starting "XQZT " / "ABCD ", HTTP/0.9 (alone and followed by a
#            blank line), Redis RESP and inline, PostgreSQL startup + query,
#            MQTT CONNECT + PUBLISH, a TLS ClientHello, FTP, NATS, STOMP, SSH
#            banner, a response sent as a request; websocket frames after a 101 (HTTP-looking payloads, a
#            frame header and its plain-text payload in separate writes), h2
#            after an h2c Upgrade, HTTP requests inside a CONNECT tunnel (the
#            upgrade / CONNECT request itself is HTTP/1.1: one traceparent
#            there is allowed), an SMTP dialogue, real TLS (certificate made
#            here by openssl; raw records compared too); some over IPv6 again.
#            Run first without tracewire: the harness must find every stream
#            intact.
#   grpc     cli -> peer: grpcio unary and server-streaming calls (h2c).
#   services gcli -> gsrv (both selected): 4 channels (connections), 40 unary
#            and 8 server-streaming calls, all must succeed.
#   tracestate  ucli (NOT selected, raw socket) -> mid (servers/header_echo.py
#            /call/, selected) -> down (servers/raw_head_echo.py: answers the
#            raw head it got): a valid traceparent with a tracestate holding a
#            bare CR + "X-Evil: 1", a bare LF, a NUL, control and non-ASCII
#            bytes: down's head has no X-Evil, no bare CR/LF, no NUL, one
#            traceparent, tracestate (if any) only W3C-legal characters; a
#            valid "foo=1,bar=2" arrives as such with the trace id sent.
#   At the end the exit counters (every skip_*, injected, fail_open) are
#   printed. Every sub-check runs; the test fails at the end if any failed.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

P_ECHO=7001 P_UPGRADE=7002 P_CONNECT=7003 P_SMTP=7004 P_TLS=7005 P_H2=7006 P_GRPC=50051
MID_PORT=8080 DOWN_PORT=8081
PORTS="echo=$P_ECHO,upgrade=$P_UPGRADE,connect=$P_CONNECT,smtp=$P_SMTP,tls=$P_TLS,h2=$P_H2"

lab_init
lab_pod cli 198.18.40.20/24
lab_pod peer 198.18.40.10/24
lab_pod gcli 198.18.40.21/24
lab_pod gsrv 198.18.40.11/24
lab_pod ucli 198.18.40.22/24
lab_pod mid 198.18.40.12/24
lab_pod down 198.18.40.13/24
PEER=$(lab_ip peer) PEER6=$(lab_ip6 peer)

"$LAB_PY" -c 'import grpc, h2' 2>/dev/null ||
	fail "$LAB_PY lacks grpc or h2: run scripts/install-deps.sh (python3-grpcio python3-h2)"

lab_step "peer servers (self-signed certificate for peer.tw.test)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=peer.tw.test -addext subjectAltName=DNS:peer.tw.test \
	-keyout "$LAB_DIR/key.pem" -out "$LAB_DIR/cert.pem" 2>"$LAB_DIR/openssl.err" ||
	{ lab__show_file "$LAB_DIR/openssl.err" "openssl"; fail "openssl req failed"; }
PEER_LOG=$LAB_DIR/peer.jsonl
listen=()
for kp in echo=$P_ECHO upgrade=$P_UPGRADE connect=$P_CONNECT smtp=$P_SMTP tls=$P_TLS h2=$P_H2; do
	listen+=(--listen "${kp%%=*}=[$PEER6]:${kp#*=}" --listen "${kp%%=*}=$PEER:${kp#*=}")
done
lab_run_in_pod peer "$LAB_PY" "$LAB_SERVERS/proto_peer.py" --log "$PEER_LOG" \
	--cert "$LAB_DIR/cert.pem" --key "$LAB_DIR/key.pem" "${listen[@]}"
peer_pid=$LAB_LAST_PID
for p in $P_ECHO $P_UPGRADE $P_CONNECT $P_SMTP $P_TLS $P_H2; do
	lab_wait_port peer "$PEER" "$p" 20 "$peer_pid"
done
lab_start_cmd peer "$PEER" "$P_GRPC" "$LAB_PY" "$LAB_SERVERS/grpc_echo.py" serve "$PEER" "$P_GRPC"
lab_start_cmd gsrv "$(lab_ip gsrv)" "$P_GRPC" \
	"$LAB_PY" "$LAB_SERVERS/grpc_echo.py" serve "$(lab_ip gsrv)" "$P_GRPC"
lab_start_cmd down "$(lab_ip down)" "$DOWN_PORT" \
	"$LAB_PY" "$LAB_SERVERS/raw_head_echo.py" "$(lab_ip down)" "$DOWN_PORT"
lab_start_cmd mid "$(lab_ip mid)" "$MID_PORT" \
	"$LAB_PY" "$LAB_SERVERS/header_echo.py" "$(lab_ip mid)" "$MID_PORT"

# streams LABEL: proto_client.py from pod cli; its report in $LAB_DIR/streams.LABEL.txt
streams() {
	local rc=0
	LAB_EXEC_TIMEOUT=60 lab_exec_in_pod cli "$LAB_PY" "$LAB_SERVERS/proto_client.py" \
		--peer "$PEER" --peer6 "$PEER6" --ports "$PORTS" --peer-log "$PEER_LOG" \
		--ca "$LAB_DIR/cert.pem" --out "$LAB_DIR/streams.$1.jsonl" || rc=$?
	cp "$LAB_LAST_OUT" "$LAB_DIR/streams.$1.txt"
	cat "$LAB_LAST_OUT"
	[ ! -s "$LAB_LAST_ERR" ] || lab__show_file "$LAB_LAST_ERR" "proto_client stderr"
	return "$rc"
}
# grpc_calls POD TARGET ARGS...: grpc_echo.py call
grpc_calls() {
	local pod=$1 rc=0
	shift
	LAB_EXEC_TIMEOUT=60 lab_exec_in_pod "$pod" "$LAB_PY" "$LAB_SERVERS/grpc_echo.py" call "$@" || rc=$?
	cat "$LAB_LAST_OUT"
	[ ! -s "$LAB_LAST_ERR" ] || lab__show_file "$LAB_LAST_ERR" "grpc_echo stderr"
	return "$rc"
}

lab_step "self-test without tracewire: every stream must arrive intact, every call succeed"
streams self || fail "self-test: the harness sees damage without tracewire"
n_streams=$(grep -c '^ok ' "$LAB_DIR/streams.self.txt")
assert_ge "$n_streams" 20 "streams in the self-test"
grpc_calls cli "$PEER:$P_GRPC" --unary 5 --stream 2 || fail "self-test: gRPC calls failed without tracewire"

tw_start --cgroup "$(lab_cgroup cli)" --cgroup "$(lab_cgroup peer)" --cgroup "$(lab_cgroup gcli)" \
	--cgroup "$(lab_cgroup gsrv)" --cgroup "$(lab_cgroup mid)" --cgroup "$(lab_cgroup down)"
assert_file_lacks "$TW_LOG" "propagation: off" "propagation is on (tracewire log)"

FAILED=()
# sub NAME CMD...: run a sub-check, note its outcome, go on either way
sub() {
	local name=$1 rc=0
	shift
	lab_step "sub-check $name"
	"$@" || rc=$?
	if [ "$rc" = 0 ]; then
		echo "SUBCHECK $name: ok"
	else
		echo "SUBCHECK $name: FAIL (status $rc)"
		FAILED+=("$name")
	fi
}

sub streams streams traced
sub grpc grpc_calls cli "$PEER:$P_GRPC" --unary 10 --stream 3 --items 20
sub services grpc_calls gcli "$(lab_ip gsrv):$P_GRPC" --channels 4 --unary 10 --stream 2 --items 20 --parallel 4
tracestate() {
	local rc=0
	lab_exec_in_pod ucli "$LAB_PY" "$LAB_SERVERS/tracestate_client.py" "$(lab_ip mid)" "$MID_PORT" \
		"http://$(lab_ip down):$DOWN_PORT" "$LAB_DIR/tracestate.jsonl" || rc=$?
	cp "$LAB_LAST_OUT" "$LAB_DIR/tracestate.txt"
	cat "$LAB_LAST_OUT"
	[ ! -s "$LAB_LAST_ERR" ] || lab__show_file "$LAB_LAST_ERR" "tracestate_client stderr"
	return "$rc"
}
sub tracestate tracestate

tw_stop
lab_step "exit counters"
grep '^[^ ]* tracewire: info: stats (exit):' "$TW_LOG" | grep -o ' \(skip_[a-z0-9_]*\|injected\|kept_existing\|fail_open\|socks_added\|tracestate_invalid\)=[0-9]*' |
	sed 's/^ /  /' || echo "  (no such counters in the exit stats)"

if [ "${#FAILED[@]}" -gt 0 ]; then
	fail "sub-checks failed: ${FAILED[*]}$(grep -h '^summary: .* failed: ' "$LAB_DIR/streams.traced.txt" \
		"$LAB_DIR/tracestate.txt" 2>/dev/null | sed 's/^summary: /; /' | tr -d '\n' || true)"
fi
lab_step "ok: $n_streams streams intact, every gRPC call succeeded, no hostile tracestate byte went on"
