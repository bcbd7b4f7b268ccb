#!/usr/bin/env bash
# After 101 Switching Protocols a connection carries no more HTTP: tracewire
# must make no spans of what follows (even bytes that look like requests) and
# must tell the kernel to stop copying that socket's bytes, so an upgraded
# long-lived connection (WebSocket) costs nothing per message.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

MESSAGES=500
lab_init
lab_pod srv 198.18.0.10/24
lab_pod cli 198.18.0.20/24
SRV=$(lab_ip srv)
lab_start_server python srv "$SRV" 8080
srv_pid=$LAB_LAST_PID
tw_start --cgroup "$(lab_cgroup srv)" --cgroup "$(lab_cgroup cli)" --trace-window 100

lab_step "upgrade, then wait until tracewire has seen the 101 on both sides"
go_file=$LAB_DIR/go
lab_run_in_pod cli "$LAB_PY" "$LAB_SERVERS/upgrade_client.py" "$SRV" 8080 "$go_file" "$MESSAGES"
client_pid=$LAB_LAST_PID
client_log=$LAB_LAST_LOG
# A span is handed on before the socket is marked; once both are in the file,
# both sockets are marked.
tw_wait_spans --kind server --path /upgrade 1 30
tw_wait_spans --kind client --path /upgrade 1 30

lab_step "$MESSAGES echo messages over the upgraded connection"
touch "$go_file"
rc=0
lab_wait_pid "$client_pid" 60 || rc=$?
assert_eq 0 "$rc" "upgrade client exit status"
assert_file_contains "$client_log" "^ok $MESSAGES\$" "the client got every echo"
tw_stop

tw_spans validate
tw_spans check-requests --kind server --pid "$srv_pid" --path /upgrade --expect 1 --status 101
tw_spans check-requests --kind client --pid "$client_pid" --path /upgrade --expect 1 --status 101
assert_eq 0 "$(tw_count --path-prefix /after-upgrade)" "spans made of post-upgrade bytes"
assert_eq 2 "$(tw_exit_counter switched)" "connections that left HTTP (server and client side)"
# Each echo is a write and a read on both sides: 4 records a message if the
# kernel kept copying. Only the upgrade exchange and the closes may remain.
records=$(tw_exit_counter records)
assert_le "$records" 40 "kernel records for $MESSAGES post-upgrade messages"
lab_step "ok ($records kernel records)"
