#!/usr/bin/env bash
# Go binary analysis off the event loop (issue 16, item 3; docs/go.md).
#
# The analysis of each selected process's executable runs on a worker
# thread with a time budget (2 s). A slow (crafted) binary is simulated by
# the test-only hook TRACEWIRE_TEST_GO_ANALYSIS_DELAY_MS, which makes every
# analysis spend that long in a loop that checks the budget, as the real
# analysis loops do; TRACEWIRE_TEST_GO_ANALYSIS_BUDGET_MS replaces the budget.
#
#   1 delay 20 s, budget 30 s (an analysis in progress the whole time):
#     start comes up after waiting at most 3 s for the analyses; requests
#     curl -> node still give spans while the analysis runs (the ring buffer
#     is drained); SIGTERM stops tracewire within 1 s (exit 0) although the
#     analysis is still running ("stopped with N analyses unfinished").
#   2 delay 60 s, the default budget: the Go service's analysis gives up
#     after 2 s ("not probed: analysis over its time budget"), the next
#     binary is analysed, spans keep coming.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS=${TW_GOB_REQUESTS:-50}

lab_init
lab_step "pods: client, node server, Go server (started before tracewire)"
lab_pod gbc 198.18.210.20/24
lab_pod gbs 198.18.210.12/24
lab_pod gbg 198.18.210.11/24
lab_start_server node gbs 198.18.210.12 8082
lab_start_server go gbg 198.18.210.11 8081
GO_PID=$(lab_pod_pids gbg | head -n 1)
CG=(--cgroup "$(lab_cgroup gbc)" --cgroup "$(lab_cgroup gbs)" --cgroup "$(lab_cgroup gbg)")

# requests N: N requests curl -> node, all answered 200
requests() {
	local urls=() i
	for ((i = 0; i < $1; i++)); do urls+=("http://198.18.210.12:8082/?r=$i"); done
	LAB_EXPECT_CODE=200 lab_curl_many gbc "$1" 4 "${urls[@]}"
}

ms_now() { echo $(($(date +%s%N) / 1000000)); }

lab_step "1: every analysis takes 20 s (budget 30 s): start, spans meanwhile, SIGTERM"
t_start=$(ms_now)
TRACEWIRE_TEST_GO_ANALYSIS_DELAY_MS=20000 TRACEWIRE_TEST_GO_ANALYSIS_BUDGET_MS=30000 \
	tw_start --log-level debug "${CG[@]}"
t_ready=$(ms_now)
echo "  ready after $((t_ready - t_start)) ms"
assert_file_contains "$TW_LOG" "TRACEWIRE_TEST_GO_ANALYSIS_DELAY_MS=20000: test hook" "the test hook is on"
assert_file_contains "$TW_LOG" "analyses still running after 3000 ms" \
	"start waited a bounded time for the analyses"
assert_lt "$((t_ready - t_start))" 10000 "start (ms) not held up by a 20 s analysis"
requests "$REQUESTS"
tw_wait_spans "$((2 * REQUESTS))" 12
t_spans=$(ms_now)
echo "  $((2 * REQUESTS)) spans exported $((t_spans - t_ready)) ms after ready"
# no analysis has finished yet: the spans came while it ran
assert_file_lacks "$TW_LOG" "go probes: .*\(pid [0-9]+\): (go1\.|not probed)" \
	"no analysis finished before the spans were exported"
assert_lt "$((t_spans - t_start))" 20000 "spans exported (ms after start) while the first analysis still ran"
# SIGTERM: the event loop reads it at once (it is not inside the analysis),
# and the worker gives up its analysis at its next budget check; the rest of
# the exit (flushes, BPF teardown) takes what it takes without an analysis.
t0=$(ms_now)
kill -TERM "$TW_PID"
until grep -q 'info: received Terminated: stopping' "$TW_LOG"; do
	[ "$(($(ms_now) - t0))" -lt 5000 ] || break
	sleep 0.01
done
t_seen=$(ms_now)
tw_stop 2>/dev/null || true # already signalled: waits for the exit
t1=$(ms_now)
join=$(grep -Eo 'the analysis thread returned in [0-9]+ ms' "$TW_LOG" | grep -Eo '[0-9]+' || echo 99999)
echo "  SIGTERM -> 'stopping' logged: $((t_seen - t0)) ms; analysis thread returned in $join ms; exit after $((t1 - t0)) ms"
assert_eq 0 "$TW_EXIT" "tracewire exit status after SIGTERM"
assert_lt "$((t_seen - t0))" 1000 "SIGTERM honoured (ms to 'stopping') during an analysis"
assert_file_contains "$TW_LOG" "go probes: stopped with [1-9][0-9]* analyses unfinished" \
	"an analysis was running at SIGTERM"
assert_lt "$join" 1000 "the analysis thread returned (ms) after it was told to stop"
assert_lt "$((t1 - t0))" 5000 "tracewire exited (ms) after SIGTERM"
assert_file_lacks "$TW_LOG" "did not stop within" "the worker returned at its next budget check"

lab_step "2: every analysis takes 60 s, default budget (2 s)"
TRACEWIRE_TEST_GO_ANALYSIS_DELAY_MS=60000 tw_start --log-level debug "${CG[@]}"
deadline=$(($(date +%s) + 15))
until grep -Eq "go probes: .*go_server \(pid $GO_PID\): not probed: analysis over its time budget \(2000 ms\)" "$TW_LOG"; do
	[ "$(date +%s)" -lt "$deadline" ] || { fail "the Go server's analysis was not given up within 15 s"; lab__show_file "$TW_LOG" "tracewire log"; break; }
	sleep 0.2
done
grep -E 'go probes: .*not probed' "$TW_LOG" | sed 's/^/  /'
took=$(grep -Eo "go_server \(pid $GO_PID\): not probed: .* after [0-9]+ ms" "$TW_LOG" | grep -Eo '[0-9]+ ms$' | grep -Eo '^[0-9]+' || echo 99999)
assert_lt "$took" 2500 "the over-budget analysis gave up after (ms)"
requests "$REQUESTS"
tw_wait_spans "$((2 * REQUESTS))" 12
tw_stop
assert_eq 0 "$TW_EXIT" "tracewire exit status"
assert_eq 0 "$(tw_exit_counter lost_ringbuf_full || echo x)" "exit counter lost_ringbuf_full"
lab_step "ok"
