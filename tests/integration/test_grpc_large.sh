#!/usr/bin/env bash
# Large gRPC messages (issue 19, item 1): the kernel follows each HTTP/2
# direction's frames and leaves DATA payloads out of the records
# (bpf/lib/h2capture.h), so messages of any size keep the connection's
# header blocks, and so its HPACK tables, whole. Before, a call's records
# held its first 4 KiB: a 64 KiB message cost the header blocks behind it,
# and the calls after it on the connection lost their rpc.* attributes.
#
#   gcli  servers/grpc_large.py: ONE channel; small unary calls, unary calls
#         of each size in SIZES, small ones again, a server-streaming call of
#         2 items of each size, then small unary and streaming calls
#   gsrv  servers/grpc_echo.py serve (service tw.Echo)
#
# Expected: every call exactly one SERVER span of gsrv and one CLIENT span of
# gcli, "tw.Echo/<Method>", with rpc.system grpc, rpc.service, rpc.method,
# rpc.grpc.status_code 0 and status unset; each server span's request and
# response body sizes are the call's (DATA lengths are counted though not
# copied); no header block failed to decode, no direction lost its frames
# in user space or in the kernel, no call's header bytes were cut.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

SIZES=${SIZES:-65536,1048576} PORT=50053

lab_init
"$LAB_PY" -c 'import grpc' 2>/dev/null ||
	fail "$LAB_PY lacks grpc: run scripts/install-deps.sh (python3-grpcio)"
lab_pod gcli 198.18.43.20/24
lab_pod gsrv 198.18.43.10/24
SRV=$(lab_ip gsrv)

tw_start --cgroup "$(lab_cgroup gcli)" --cgroup "$(lab_cgroup gsrv)"
lab_start_cmd gsrv "$SRV" "$PORT" "$LAB_PY" "$LAB_SERVERS/grpc_echo.py" serve "$SRV" "$PORT"
srv_pid=$(lab_pod_pids gsrv | head -n 1)

lab_step "gRPC calls with messages of $SIZES bytes, then small ones, on one channel"
rc=0
LAB_EXEC_TIMEOUT=120 lab_exec_in_pod gcli "$LAB_PY" "$LAB_SERVERS/grpc_large.py" "$SRV:$PORT" "$SIZES" || rc=$?
out=$LAB_DIR/grpc_large.out
cp "$LAB_LAST_OUT" "$out"
grep -v '^body ' "$out" || true
[ "$rc" = 0 ] || { lab__show_file "$LAB_LAST_ERR" "grpc_large stderr"; fail "gRPC calls failed under tracewire"; }
read -r _ _ n_unary _ n_stream < <(grep '^calls ' "$out")
total=$((n_unary + n_stream))

lab_step "waiting for $total SERVER and $total CLIENT gRPC spans"
tw_wait_spans --kind server --attr rpc.system=grpc "$total" 30
tw_wait_spans --kind client --attr rpc.system=grpc "$total" 30
tw_stop

check() {
	local kind=$1 method=$2 n=$3
	tw_spans check-requests --kind "$kind" --name "tw.Echo/$method" --expect "$n" --shared-traces \
		--attr rpc.system=grpc --attr rpc.service=tw.Echo --attr "rpc.method=$method" \
		--attr rpc.grpc.status_code=0 --attr http.request.method=POST \
		--attr "url.path=/tw.Echo/$method" --attr network.protocol.version=2 \
		--status 200 --otel-status unset ||
		fail "$kind spans of tw.Echo/$method: expected $n with rpc.* attributes and status code 0"
}
lab_step "checking spans"
for kind in server client; do
	check "$kind" Unary "$n_unary"
	check "$kind" Stream "$n_stream"
done
n=$(tw_count --attr network.protocol.version=2)
assert_eq "$n" "$((2 * total))" "HTTP/2 spans in all (one per call per side, no other)"
n=$(tw_count --kind server --attr rpc.system=grpc --pid "$srv_pid")
assert_eq "$n" "$total" "gRPC server spans of the server's pid"

lab_step "body sizes: the server's spans in call order against the client's"
got=$(tw_spans fields --kind server --attr rpc.system=grpc -f start_ns -f attributes.rpc.method \
	-f attributes.http.request.body.size -f attributes.http.response.body.size |
	sort -n | awk '{ print "body", tolower($2), $3, $4 }')
want=$(grep '^body ' "$out")
[ "$got" = "$want" ] || {
	printf 'want:\n%s\ngot:\n%s\n' "$want" "$got" >&2
	fail "server spans' body sizes differ from the calls'"
}

assert_eq "$(tw_exit_counter h2_hpack_errors)" 0 "h2_hpack_errors"
assert_eq "$(tw_exit_counter h2_unsynced)" 0 "h2_unsynced (user space)"
assert_eq "$(tw_exit_counter h2_kernel_unsynced)" 0 "h2_kernel_unsynced"
assert_eq "$(tw_exit_counter h2_kernel_cut)" 0 "h2_kernel_cut"
assert_eq "$(tw_exit_counter h2_streams_dropped)" 0 "h2_streams_dropped"
assert_eq "$(tw_exit_counter lost_ringbuf_full)" 0 "lost_ringbuf_full"
lab_step "ok: $total gRPC calls with messages up to $SIZES bytes, each one SERVER and one CLIENT span with rpc.* attributes"
