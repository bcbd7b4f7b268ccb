#!/usr/bin/env bash
# Only selected workloads are traced. Two server pods (A: python, B: Go) get
# the same traffic from a client pod; tracewire selects, in turn, A's cgroup,
# A's pid and B's command name. The selected server's spans must all be there
# and there must be no span at all with the other server's pid or curl's.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

N=20
lab_init
lab_build_go_server
lab_pod a 198.18.0.10/24
lab_pod b 198.18.0.11/24
lab_pod cli 198.18.0.20/24
A=http://$(lab_ip a):8080
B=http://$(lab_ip b):8080
lab_start_server python a "$(lab_ip a)" 8080
a_pid=$LAB_LAST_PID
lab_start_server go b "$(lab_ip b)" 8080
b_pid=$LAB_LAST_PID

# traffic_and_check WHAT SELECTED_PID OTHER_PID SELECTED_URL TRACEWIRE-ARGS...
traffic_and_check() {
	local what=$1 sel=$2 other=$3 url=$4 curls=()
	shift 4
	tw_start "$@"
	lab_step "$what: tracewire $*"
	lab_curl_many cli "$N" 2 "$A/" "$A/status/404"
	curls+=("$LAB_LAST_PID")
	lab_curl_many cli "$N" 2 "$B/" "$B/status/404"
	curls+=("$LAB_LAST_PID")
	# One more request to the selected server after all the other traffic:
	# once its span is out, anything earlier would have been too.
	lab_exec_in_pod cli curl -sS -o /dev/null --max-time 10 "$url/?last=1"
	curls+=("$LAB_LAST_PID")
	tw_wait_spans --kind server --pid "$sel" --attr url.query=last=1 1 30
	tw_stop
	tw_spans validate
	tw_spans check-requests --kind server --pid "$sel" --path / --no-attr url.query --expect $((N / 2)) --status 200
	tw_spans check-requests --kind server --pid "$sel" --path /status/404 --expect $((N / 2)) --status 404
	assert_eq 0 "$(tw_count --pid "$other")" "$what: spans of the unselected server (pid $other)"
	for p in "${curls[@]}"; do
		assert_eq 0 "$(tw_count --pid "$p")" "$what: spans of curl (pid $p, its pod is not selected)"
	done
	assert_eq $((N + 1)) "$(tw_spans count)" "$what: spans in all"
}

traffic_and_check "cgroup of pod A" "$a_pid" "$b_pid" "$A" --cgroup "$(lab_cgroup a)"
traffic_and_check "pid of A" "$a_pid" "$b_pid" "$A" --pid "$a_pid"
assert_eq go_server "$(cat "/proc/$b_pid/comm")" "command name of server B"
traffic_and_check "command name of B" "$b_pid" "$a_pid" "$B" --comm go_server
lab_step "ok"
