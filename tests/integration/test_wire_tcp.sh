#!/usr/bin/env bash
# Trace context in a TCP option (--propagation tcp; docs/wire-format.md).
#
# The chain of test_propagation_chain.sh (curl -> nginx -> python -> node, each
# in its own pod) with no header ever inserted: every server span must find its
# parent in the option sock_ops wrote on the request's first segment.
#   c=1      REQUESTS requests one at a time: every one a complete trace, each
#            server span's parent source tcp_option; no header injected.
#   c=8      8 at a time: python -> node exact for every request (python is
#            thread-per-request); completeness printed and held to a floor
#            (nginx's upstream requests are parented by its one thread: no
#            forwarded header to key them by here).
#   both     --propagation headers,tcp: the header wins on every server span
#            (incoming priority header > TCP option), the options still read.
#   trust    --trust-from excludes the client pod: nginx's server spans ignore
#            its options (new roots, opt_untrusted counted); the hops behind it
#            still use theirs.
#   bulk     1 MiB and 8 MiB uploads and downloads between two pods, without
#            and with tracewire: byte-identical, within time, retransmissions
#            (nstat TcpRetransSegs in both pods) no more than without + slack.
#   loss     3% of TCP packets dropped in both pods: 1 MiB transfers intact,
#            every server span parented by the option or the skip counted.
#   ipv6     one hop over fd00::/8: each server span the child of curl's via the option.
#   kill     SIGKILL of tracewire during 8 MiB downloads: all complete intact;
#            its sock_ops programs are gone with it; after a restart exactly
#            one per pod cgroup again.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS=${TW_WIRE_REQUESTS:-100}
# nginx is one event-loop thread for all 8 connections, and without a header
# to forward, its upstream requests are parented by the connect and thread
# rules alone: a request read while another is being proxied could take the
# wrong parent (nginx proxies in the same event that read the request, so
# measured: 100/100 in each of 3 runs). The mid -> leaf part is checked
# exactly; the floor leaves room for a few nginx misattributions.
C8_FLOOR=${TW_WIRE_C8_FLOOR:-0.8}

lab_init

chain_pods() {
	lab_chain "$1"
	CLI=$LAB_CHAIN_CLI PX_URL=$LAB_CHAIN_URL
	TIERS=(--tier "cli=PID" --tier "px=$LAB_CHAIN_PX" --tier "mid=$LAB_CHAIN_MID"
		--tier "leaf=$LAB_CHAIN_LEAF")
	CG=("${LAB_CHAIN_CG[@]}")
}

# chain_run PARALLEL LABEL: REQUESTS requests by curl in CLI, spans waited
# for, tracewire stopped; TIERS gets curl's pid.
chain_run() {
	LAB_EXPECT_CODE=200 lab_curl_many "$CLI" "$REQUESTS" "$1" "$PX_URL/$2"
	TIERS[1]="cli=$LAB_LAST_PID"
	tw_wait_spans --pid "$LAB_LAST_PID" --kind client "$REQUESTS" 60
	tw_wait_spans "$((6 * REQUESTS))" 60
	tw_stop
	tw_spans validate
	grep '^[^ ]* tracewire: info: stats (exit):' "$TW_LOG" | sed 's/^/  /'
}

# ---- c=1 ---------------------------------------------------------------------
lab_step "c=1: chain 1, --propagation tcp"
chain_pods 1
tw_start "${CG[@]}" --propagation tcp
assert_file_contains "$TW_LOG" "propagation: tcp \\(option kind 253\\)" "tracewire says the TCP option is on"
chain_run 1 c1
lab_chain_check c=1 --server-source tcp_option --exact-from mid --min-complete 1.0
assert_eq 0 "$(tw_exit_counter injected)" "c=1: no header injected"
assert_ge "$(tw_exit_counter tcp_opt_written)" "$((3 * REQUESTS))" "c=1: options written (3 hops per request)"
assert_ge "$(tw_exit_counter tcp_opt_read)" "$((3 * REQUESTS))" "c=1: options read"
assert_eq 0 "$(tw_exit_counter tcp_opt_no_room)" "c=1: no segment without room"
assert_eq 0 "$(tw_exit_counter opt_untrusted)" "c=1: nothing untrusted"
assert_eq 0 "$(tw_exit_counter fail_open)" "c=1: fail_open"

# ---- c=8 ---------------------------------------------------------------------
lab_step "c=8: chain 2, --propagation tcp"
chain_pods 2
tw_start "${CG[@]}" --propagation tcp
chain_run 8 c8
assert_ge "$LAB_CONNECTS" 2 "c=8: curl used several connections at once"
lab_chain_check c=8 --server-source tcp_option --exact-from mid --min-complete "$C8_FLOOR"

# ---- headers and tcp ---------------------------------------------------------
lab_step "both: chain 3, --propagation headers,tcp"
chain_pods 3
tw_start "${CG[@]}" --propagation headers,tcp
chain_run 1 both
lab_chain_check both --server-source header --exact-from mid --min-complete 1.0
assert_eq "$((2 * REQUESTS))" "$(tw_exit_counter injected)" "both: headers injected (curl, python)"
assert_ge "$(tw_exit_counter tcp_opt_read)" "$((3 * REQUESTS))" "both: options read as well"

# ---- trust -------------------------------------------------------------------
lab_step "trust: chain 4, options trusted only from nginx's and python's pods"
chain_pods 4
tw_start "${CG[@]}" --propagation tcp --trust-from 198.18.4.10 --trust-from 198.18.4.11
chain_run 1 trust
# pid_args PIDS: --pid P for each of the comma-separated PIDS
pid_args() { local p; for p in ${1//,/ }; do printf -- '--pid\n%s\n' "$p"; done; }
mapfile -t PX_PIDS < <(pid_args "$LAB_CHAIN_PX")
mapfile -t MID_PIDS < <(pid_args "$LAB_CHAIN_MID")
assert_eq "$REQUESTS" "$(tw_spans count --kind server "${PX_PIDS[@]}" --attr tracewire.parent.source=none)" \
	"trust: nginx server spans are roots (curl's pod is not trusted)"
assert_eq "$REQUESTS" "$(tw_spans count --kind server "${MID_PIDS[@]}" --attr tracewire.parent.source=tcp_option)" \
	"trust: python server spans still take nginx's option"
assert_ge "$(tw_exit_counter opt_untrusted)" "$REQUESTS" "trust: untrusted options counted"

# ---- bulk transfers ----------------------------------------------------------
lab_step "bulk: pods bc, bs; 1 MiB and 8 MiB files"
lab_pod bc 198.18.9.20/24
lab_pod bs 198.18.9.10/24
BULK=$LAB_DIR/bulk
mkdir -p "$BULK"
head -c $((1 << 20)) /dev/urandom >"$BULK/1m"
head -c $((8 << 20)) /dev/urandom >"$BULK/8m"
lab_start_cmd bs 198.18.9.10 8090 "$LAB_PY" "$LAB_SERVERS/bulk_server.py" 198.18.9.10 8090 "$BULK"
BULK_URL=http://198.18.9.10:8090



r0=$(lab_retrans bc bs)
lab_bulk_round bc "$BULK_URL" "$BULK" plain
base=$(($(lab_retrans bc bs) - r0))
echo "  retransmitted segments without tracewire: $base"

lab_step "bulk: with --propagation tcp"
tw_start --cgroup "$(lab_cgroup bc)" --cgroup "$(lab_cgroup bs)" --propagation tcp
r0=$(lab_retrans bc bs) s0=$(LAB_COUNTER=TcpOutSegs lab_retrans bc bs)
lab_bulk_round bc "$BULK_URL" "$BULK" tcp
with=$(($(lab_retrans bc bs) - r0)) segs=$(($(LAB_COUNTER=TcpOutSegs lab_retrans bc bs) - s0))
echo "  retransmitted segments with the TCP option: $with of $segs sent"
tw_wait_spans --kind server 4 30
tw_stop
assert_ge "$(tw_exit_counter tcp_opt_written)" 4 "bulk: options written (one per request)"
assert_eq 4 "$(tw_spans count --kind server --attr tracewire.parent.source=tcp_option)" \
	"bulk: each server span parented by the option"
assert_le "$with" "$(lab_retrans_storm_limit "$base" "$segs")" "bulk: no retransmission storm with options (without: $base)"

# ---- loss --------------------------------------------------------------------
# 3% of the TCP packets with payload entering either pod dropped (nftables;
# pure ACKs are spared: a lost last ACK of the handshake makes the request's
# first segment complete it, and an option on that segment is not parsed
# (docs/wire-format.md, limits); with two connections a run that failed one
# run in ~15, a known gap, not what this round measures): segments are
# retransmitted (a request's first one with its option again, since its byte
# is not acknowledged) and SACK blocks fill the option space of some segments
# (skipped and counted, never squeezed: tcp_opt_no_room). Every byte must
# still arrive; each server span either has its option or was counted.
lab_step "loss: 3% of TCP packets dropped in both pods; 20 downloads and 10 uploads of 1 MiB"
lab_pod lc 198.18.10.20/24
lab_pod ls 198.18.10.10/24
for p in lc ls; do
	ip netns exec "$(lab_ns "$p")" nft -f - <<'NFT' || fail "loss: nft in pod $p"
table inet twloss {
	chain in { type filter hook input priority 0; meta l4proto tcp meta length > 100 numgen random mod 100 < 3 drop; }
}
NFT
done
lab_start_cmd ls 198.18.10.10 8090 "$LAB_PY" "$LAB_SERVERS/bulk_server.py" 198.18.10.10 8090 "$BULK"
tw_start --cgroup "$(lab_cgroup lc)" --cgroup "$(lab_cgroup ls)" --propagation tcp
r0=$(ip netns exec "$(lab_ns lc)" nstat -asz TcpRetransSegs | awk '$1 == "TcpRetransSegs" { print $2 }')
cfg=$LAB_DIR/loss-down.curl
for i in $(seq 1 20); do printf 'url = "http://198.18.10.10:8090/1m"\noutput = "%s/loss.%d"\n' "$BULK" "$i"; done >"$cfg"
LAB_EXEC_TIMEOUT=90 lab_exec_in_pod lc curl --silent --show-error --max-time 60 --config "$cfg" ||
	fail "loss: downloads failed"
want=$(sha256sum <"$BULK/1m" | cut -d' ' -f1)
for i in $(seq 1 20); do
	assert_eq "$want" "$(sha256sum <"$BULK/loss.$i" | cut -d' ' -f1)" "loss: download $i intact"
done
cfg=$LAB_DIR/loss-up.curl
for i in $(seq 1 10); do
	[ "$i" = 1 ] || echo next
	printf 'url = "http://198.18.10.10:8090/upload"\ndata-binary = "@%s/1m"\nheader = "Content-Type: application/octet-stream"\n' "$BULK"
done >"$cfg"
LAB_EXEC_TIMEOUT=90 lab_exec_in_pod lc curl --silent --show-error --max-time 60 --config "$cfg" ||
	fail "loss: uploads failed"
assert_eq 10 "$(grep -c "^$want $((1 << 20))\$" "$LAB_LAST_OUT")" "loss: uploads arrived intact"
r1=$(ip netns exec "$(lab_ns lc)" nstat -asz TcpRetransSegs | awk '$1 == "TcpRetransSegs" { print $2 }')
tw_wait_spans --kind server 30 60
tw_stop
echo "  loss: client pod retransmitted $((r1 - r0)) segments; tcp_opt_no_room=$(tw_exit_counter tcp_opt_no_room)"
assert_gt "$((r1 - r0))" 0 "loss: retransmissions happened (the drop rule works)"
assert_ge "$(($(tw_spans count --kind server --attr tracewire.parent.source=tcp_option) + \
	$(tw_exit_counter tcp_opt_no_room)))" 30 "loss: each server span has its option, or its absence was counted"

# ---- IPv6 --------------------------------------------------------------------
lab_step "ipv6: curl -> python server over fd00::/8, --propagation tcp"
V6=$(lab_ip6 bs)
lab_start_server python bs "$V6" 8091
tw_start --cgroup "$(lab_cgroup bc)" --cgroup "$(lab_cgroup bs)" --propagation tcp
LAB_EXPECT_CODE=200 lab_curl_many bc 20 1 "http://[$V6]:8091/"
tw_wait_spans --kind server 20 30
tw_stop
assert_eq 20 "$(tw_spans count --kind server --attr tracewire.parent.source=tcp_option)" \
	"ipv6: every server span parented by the option"
tw_spans check-pairs --expect 20 --same-trace || fail "ipv6: a server span is not the child of its curl span"

# ---- SIGKILL -----------------------------------------------------------------
lab_step "kill: SIGKILL tracewire during 8 MiB downloads"
sockops_count() {
	bpftool -j cgroup show "$1" 2>/dev/null | "$LAB_PY" -c '
import json, sys
d = sys.stdin.read().strip()
print(sum(1 for p in (json.loads(d) if d else []) if p.get("attach_type") in ("sock_ops", "cgroup_sock_ops")))'
}
tw_start --cgroup "$(lab_cgroup bc)" --cgroup "$(lab_cgroup bs)" --propagation tcp
assert_eq 1 "$(sockops_count "$(lab_cgroup bc)")" "kill: one sock_ops program on the client pod"
cfg=$LAB_DIR/kill.curl
for i in $(seq 1 12); do printf 'url = "%s/8m"\noutput = "%s/kill.%d"\n' "$BULK_URL" "$BULK" "$i"; done >"$cfg"
lab_run_in_pod bc curl --silent --show-error --max-time 60 --rate 4/s --config "$cfg"
LOAD_PID=$LAB_LAST_PID
# kill once the first download has completed, i.e. mid-load
deadline=$(($(date +%s) + 30))
until [ -s "$BULK/kill.2" ]; do
	[ "$(date +%s)" -lt "$deadline" ] || fail "kill: no download finished within 30 s"
	lab__alive "$LOAD_PID" || break
	sleep 0.05
done
kill -KILL "$TW_PID"
lab_wait_pid "$TW_PID" 10 || true
TW_PID=
rc=0
lab_wait_pid "$LOAD_PID" 90 || rc=$?
assert_eq 0 "$rc" "kill: the downloads finished (curl exit status)"
want=$(sha256sum <"$BULK/8m" | cut -d' ' -f1)
for i in $(seq 1 12); do
	assert_eq "$want" "$(sha256sum <"$BULK/kill.$i" | cut -d' ' -f1)" "kill: download $i intact"
done
deadline=$(($(date +%s) + 10))
until [ "$(sockops_count "$(lab_cgroup bc)")" = 0 ]; do
	[ "$(date +%s)" -lt "$deadline" ] || fail "kill: sock_ops still attached 10 s after SIGKILL"
	sleep 0.1
done
echo "  ok: sock_ops gone after SIGKILL"
tw_start --cgroup "$(lab_cgroup bc)" --cgroup "$(lab_cgroup bs)" --propagation tcp
assert_eq 1 "$(sockops_count "$(lab_cgroup bc)")" "kill: after restart, one sock_ops program on the client pod"
assert_eq 1 "$(sockops_count "$(lab_cgroup bs)")" "kill: after restart, one sock_ops program on the server pod"
lab_bulk_round bc "$BULK_URL" "$BULK" restart
tw_stop
lab_step "ok"
