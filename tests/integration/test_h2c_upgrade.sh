#!/usr/bin/env bash
# HTTP/2 by h2c upgrade (issue 19, item 1): a connection that starts as
# HTTP/1.1 and switches with "101 Switching Protocols" to h2c goes on being
# traced as HTTP/2, not left alone as other upgrades (WebSocket) are.
#
#   ucli  servers/h2c_upgrade.py call: CONNS connections, each GET /up by
#         upgrade (stream 1), then N GETs /req/<i> on it (python3-h2)
#   usrv  servers/h2c_upgrade.py serve
#
# Both pods selected with --cgroup. Expected, on both sides: each upgrade
# request is one span (GET /up, 200, answered on stream 1, so
# network.protocol.version 2), each later request one span (GET /req/<i>,
# 200, version 2); no HTTP/1 span is left over for the 101; the exit
# counters show CONNS upgrades per side and no connection switched away.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

CONNS=3 N=5 PORT=50053

lab_init
"$LAB_PY" -c 'import h2' 2>/dev/null || fail "$LAB_PY lacks h2: run scripts/install-deps.sh (python3-h2)"
lab_pod ucli 198.18.41.22/24
lab_pod usrv 198.18.41.12/24
SRV=$(lab_ip usrv)

tw_start --cgroup "$(lab_cgroup ucli)" --cgroup "$(lab_cgroup usrv)"
lab_start_cmd usrv "$SRV" "$PORT" "$LAB_PY" "$LAB_SERVERS/h2c_upgrade.py" serve "$SRV" "$PORT"

for i in $(seq 1 "$CONNS"); do
	lab_step "connection $i: upgrade to h2c, then $N requests"
	LAB_EXEC_TIMEOUT=30 lab_exec_in_pod ucli "$LAB_PY" "$LAB_SERVERS/h2c_upgrade.py" call "$SRV" "$PORT" "$N" ||
		{ cat "$LAB_LAST_OUT"; lab__show_file "$LAB_LAST_ERR" "h2c_upgrade stderr"; fail "h2c calls failed"; }
	cat "$LAB_LAST_OUT"
done

total=$((CONNS * (N + 1)))
lab_step "waiting for $total SERVER and $total CLIENT spans"
tw_wait_spans --kind server --attr network.protocol.version=2 "$total" 20
tw_wait_spans --kind client --attr network.protocol.version=2 "$total" 20
tw_stop

lab_step "checking spans"
for kind in server client; do
	tw_spans check-requests --kind "$kind" --path /up --expect "$CONNS" --status 200 \
		--attr http.request.method=GET --attr network.protocol.version=2 ||
		fail "$kind spans of the upgrade requests"
	n=$(tw_count --kind "$kind" --path-prefix /req/ --code 200 --attr network.protocol.version=2)
	assert_eq "$n" "$((CONNS * N))" "$kind spans of requests after the upgrade"
	n=$(tw_count --kind "$kind")
	assert_eq "$n" "$total" "$kind spans in all (none for the 101 alone)"
done
assert_eq "$(tw_exit_counter h2_upgrades)" "$((2 * CONNS))" "h2_upgrades (both sides)"
# propagation: the upgrade request as HTTP/1 (a traceparent line), every
# later stream by a field in its HEADERS frame, framed from the preface the
# client sends as the tunnel's first bytes
tw_spans check-pairs --expect "$total" --same-trace ||
	fail "every SERVER span the child of its CLIENT span"
# (the propagation line's h2_conns: the correlator's, first, counts both sides)
prop=$(grep '^[^ ]* tracewire: info: stats (exit): propagation ' "$TW_LOG" | grep -o ' h2_conns=[0-9]*' || true)
assert_eq "$prop" " h2_conns=$CONNS" "propagation h2_conns: connections framed after the upgrade"
assert_eq "$(tw_exit_counter h2_injected)" "$((CONNS * N))" "h2_injected: one field per stream after the upgrade"
assert_eq "$(tw_exit_counter skip_tunnel)" "$CONNS" "skip_tunnel: counted at each upgrade request"
assert_eq "$(tw_exit_counter switched)" 0 "connections switched away from HTTP"
assert_eq "$(tw_exit_counter h2_hpack_errors)" 0 "h2_hpack_errors"
assert_eq "$(tw_exit_counter h2_unsynced)" 0 "h2_unsynced"
lab_step "ok: $CONNS h2c upgrades, $total requests, each one SERVER and one CLIENT span"
