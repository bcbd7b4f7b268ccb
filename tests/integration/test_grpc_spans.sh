#!/usr/bin/env bash
# HTTP/2 and gRPC capture (issue 19, item 1): every gRPC call between two
# traced services is one span on each side, with the RPC semantic
# conventions' attributes.
#
#   gcli  servers/grpc_echo.py call: CHANNELS channels (TCP connections, h2c
#         with prior knowledge), on each UNARY unary and STREAM
#         server-streaming calls (ITEMS messages each), 4 in flight; then
#         NOPE calls to a method the server lacks (UNIMPLEMENTED)
#   gsrv  servers/grpc_echo.py serve (service tw.Echo)
#
# Both pods selected with --cgroup. Expected: per method, exactly as many
# SERVER spans of gsrv and CLIENT spans of gcli as calls, named
# "tw.Echo/<Method>", with rpc.system grpc, rpc.service tw.Echo,
# rpc.method, rpc.grpc.status_code 0, http.request.method POST, url.path
# /tw.Echo/<Method>, http.response.status_code 200, network.protocol.version
# 2 and status unset; the UNIMPLEMENTED calls are error spans with status
# code 12 on both sides (error.type UNIMPLEMENTED). The exit counters show
# HTTP/2 connections and no header block that failed to decode.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

CHANNELS=2 UNARY=12 STREAM=4 ITEMS=5 NOPE=3 PORT=50052

lab_init
"$LAB_PY" -c 'import grpc' 2>/dev/null ||
	fail "$LAB_PY lacks grpc: run scripts/install-deps.sh (python3-grpcio)"
lab_pod gcli 198.18.41.20/24
lab_pod gsrv 198.18.41.10/24
SRV=$(lab_ip gsrv)

tw_start --cgroup "$(lab_cgroup gcli)" --cgroup "$(lab_cgroup gsrv)"
# started after tracewire: their connections are seen from the preface on
lab_start_cmd gsrv "$SRV" "$PORT" "$LAB_PY" "$LAB_SERVERS/grpc_echo.py" serve "$SRV" "$PORT"
srv_pid=$(lab_pod_pids gsrv | head -n 1)

lab_step "gRPC calls: $CHANNELS channels x ($UNARY unary + $STREAM streaming), 4 in flight"
rc=0
LAB_EXEC_TIMEOUT=60 lab_exec_in_pod gcli "$LAB_PY" "$LAB_SERVERS/grpc_echo.py" call "$SRV:$PORT" \
	--channels "$CHANNELS" --unary "$UNARY" --stream "$STREAM" --items "$ITEMS" --parallel 4 || rc=$?
cat "$LAB_LAST_OUT"
[ "$rc" = 0 ] || { lab__show_file "$LAB_LAST_ERR" "grpc_echo stderr"; fail "gRPC calls failed under tracewire"; }

lab_step "$NOPE calls to an unimplemented method"
LAB_EXEC_TIMEOUT=30 lab_exec_in_pod gcli "$LAB_PY" -c '
import sys, grpc
ch = grpc.insecure_channel(sys.argv[1], options=[("grpc.enable_http_proxy", 0)])
m = ch.unary_unary("/tw.Echo/Nope")
for i in range(int(sys.argv[2])):
    try:
        m(b"x", timeout=5)
        sys.exit("Nope answered")
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.UNIMPLEMENTED:
            sys.exit("Nope: %s" % e.code())
print("unimplemented %s/%s" % (sys.argv[2], sys.argv[2]))
' "$SRV:$PORT" "$NOPE" || { lab__show_file "$LAB_LAST_ERR" "stderr"; fail "unimplemented calls"; }
cat "$LAB_LAST_OUT"

n_unary=$((CHANNELS * UNARY)) n_stream=$((CHANNELS * STREAM))
total=$((n_unary + n_stream + NOPE))
lab_step "waiting for $total SERVER and $total CLIENT gRPC spans"
tw_wait_spans --kind server --attr rpc.system=grpc "$total" 20
tw_wait_spans --kind client --attr rpc.system=grpc "$total" 20
tw_stop

# check KIND METHOD N [STATUS CODE OTEL]: exactly N such spans, all alike
check() {
	local kind=$1 method=$2 n=$3 code=${4:-0} otel=${5:-unset}
	tw_spans check-requests --kind "$kind" --name "tw.Echo/$method" --expect "$n" --shared-traces \
		--attr rpc.system=grpc --attr rpc.service=tw.Echo --attr "rpc.method=$method" \
		--attr "rpc.grpc.status_code=$code" --attr http.request.method=POST \
		--attr "url.path=/tw.Echo/$method" --attr network.protocol.version=2 \
		--status 200 --otel-status "$otel" ||
		fail "$kind spans of tw.Echo/$method: expected $n with status code $code ($otel)"
}
lab_step "checking spans"
for kind in server client; do
	check "$kind" Unary "$n_unary"
	check "$kind" Stream "$n_stream"
	check "$kind" Nope "$NOPE" 12 error
done
n=$(tw_count --kind server --attr rpc.system=grpc --attr error.type=UNIMPLEMENTED)
assert_eq "$n" "$NOPE" "server spans with error.type UNIMPLEMENTED"
n=$(tw_count --kind server --attr rpc.system=grpc --pid "$srv_pid")
assert_eq "$n" "$total" "gRPC server spans of the server's pid"
n=$(tw_count --attr network.protocol.version=2)
assert_eq "$n" "$((2 * total))" "HTTP/2 spans in all (no other stream made one)"

h2_conns=$(tw_exit_counter h2_conns)
assert_ge "$h2_conns" "$((2 * (CHANNELS + 1)))" "h2_conns (each connection on both sides)"
assert_eq "$(tw_exit_counter h2_hpack_errors)" 0 "h2_hpack_errors"
assert_eq "$(tw_exit_counter h2_unsynced)" 0 "h2_unsynced (no frame header missed, no gap in the offsets)"
assert_eq "$(tw_exit_counter h2_streams_dropped)" 0 "h2_streams_dropped"
lab_step "ok: $total gRPC calls, each one SERVER and one CLIENT span with rpc.* attributes"
