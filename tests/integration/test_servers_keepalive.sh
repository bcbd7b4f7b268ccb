#!/usr/bin/env bash
# 1000 keep-alive requests, 8 at a time, from curl in a client pod to a real
# server in a server pod, for each of python http.server, node http, Go
# net/http and nginx. tracewire selects both pods' cgroups and must report
# exactly one SERVER span per request (the server's pid, 200, no duplicates)
# and one CLIENT span per request from curl, each pairing with its server
# span on the same connection and enclosing it in time.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS=${TW_KEEPALIVE_REQUESTS:-1000}
PARALLEL=8
PORT=8080

lab_init
lab_build_go_server

i=10
for kind in python node go nginx; do
	lab_step "$kind: pods s$kind and c$kind"
	lab_pod "s$kind" "198.18.0.$i/24"
	lab_pod "c$kind" "198.18.0.$((i + 100))/24"
	i=$((i + 1))
	srv_ip=$(lab_ip "s$kind")
	lab_start_server "$kind" "s$kind" "$srv_ip" "$PORT"
	# nginx serves from its worker; every process in the pod counts as the server.
	mapfile -t srv_pids < <(lab_pod_pids "s$kind")
	pid_args=()
	for p in "${srv_pids[@]}"; do pid_args+=(--pid "$p"); done
	pair_args=()
	for p in "${srv_pids[@]}"; do pair_args+=(--server-pid "$p"); done

	tw_start --cgroup "$(lab_cgroup "s$kind")" --cgroup "$(lab_cgroup "c$kind")"
	lab_step "$kind: tracewire ready; $REQUESTS requests, $PARALLEL in parallel"
	LAB_EXPECT_CODE=200 lab_curl_many "c$kind" "$REQUESTS" "$PARALLEL" "http://$srv_ip:$PORT/"
	curl_pid=$LAB_LAST_PID
	assert_le "$LAB_CONNECTS" 16 "$kind: curl should reuse connections (keep-alive)"
	lab_step "$kind: curl done ($LAB_CONNECTS connections); waiting for spans"
	tw_wait_spans --kind server "${pid_args[@]}" "$REQUESTS" 60
	tw_wait_spans --kind client --pid "$curl_pid" "$REQUESTS" 30
	tw_stop

	tw_spans check-requests --kind server "${pid_args[@]}" --expect "$REQUESTS" \
		--status 200 --otel-status unset --method GET --path /
	tw_spans check-requests --kind client --pid "$curl_pid" --expect "$REQUESTS" \
		--status 200 --otel-status unset --method GET --path /
	tw_spans check-pairs --client-pid "$curl_pid" "${pair_args[@]}" --expect "$REQUESTS" --all-servers
	# Nothing else in these pods made requests.
	n=$(tw_spans count)
	assert_eq "$((2 * REQUESTS))" "$n" "$kind: spans in the file (server + client)"
	# And the daemon saw it the same way: nothing lost or left unparsed.
	for c in lost_ringbuf_full conn_map_full copy_faults bad unsynced evicted unanswered spans_dropped; do
		assert_eq 0 "$(tw_exit_counter "$c")" "$kind: exit counter $c"
	done
	assert_eq "$((2 * REQUESTS))" "$(tw_exit_counter spans)" "$kind: exit counter spans"
	lab_step "$kind: ok"
done
lab_step "all servers ok"
