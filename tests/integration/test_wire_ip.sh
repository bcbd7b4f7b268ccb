#!/usr/bin/env bash
# Trace context in an IPv4 option (--propagation ip; docs/wire-format.md,
# "IPv4 option (tc)").
#
# tracewire runs as a node agent in the node namespace (where the pods'
# host-side veths p-NAME are: nsenter --net, so its /sys and cgroups are the
# root's), with --tc-iface 'p-*', selecting processes by comm.
#   attach   started while only pods bc, bs exist (attached at start); the
#            chain pods made afterwards are attached as their veths appear
#            (log, and TCX links of this tracewire's programs: 2 per pod).
#   chain    curl -> nginx -> python -> node (lab_chain 1), REQUESTS requests
#            one at a time, no header ever inserted: every request a complete
#            trace, every server span's parent source ip_option. tcpdump on
#            the node's bridge sees the option on the requests to the python
#            tier; tcpdump inside that pod sees no packet with IP options.
#            (Not on the pod's host-side veth: tcpdump there sees a packet
#            entering the pod after tc egress took the option out, and one
#            leaving it before tc ingress put one in.)
#   bulk     1 MiB and 8 MiB uploads and downloads between bc and bs, without
#            and with tracewire: byte-identical, within time, retransmissions
#            (nstat TcpRetransSegs in both pods) no more than without + slack.
#   drop     a path that drops packets with IP options (nftables on p-bc):
#            the first packet of a request carries the option once, its
#            retransmission goes without, so 5 downloads finish intact.
#   trust    --trust-from 198.18.9.0/28: a pod outside it (ux) sends packets
#            with tracewire's option set by setsockopt(IP_OPTIONS), where
#            tracewire puts it and elsewhere: the server's spans do not take
#            those ids, opt_untrusted counts, the server's pod never sees the
#            option; from a pod inside it (tx) the same ids are taken.
#   edge     --tc-edge-iface 'e-*' and --propagate-to 198.18.0.0/16: the
#            option leaves through e-out towards 198.19.200.1 (out of scope)
#            stripped, towards 198.18.200.1 (in scope) kept.
#   kill     SIGKILL during 8 MiB downloads: all finish intact, the TCX links
#            are gone with tracewire; after a restart exactly 2 per pod.
#   clsact   the same with clsact filters (TRACEWIRE_TC_ATTACH=clsact, the
#            fallback for kernels without TCX), next to another tool's
#            filters: after SIGKILL the filters stay and traffic flows; the
#            restart removes them and attaches once; other filters (one at
#            tracewire's own handle and priority) are never touched; exit
#            removes tracewire's.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS=${TW_WIRE_REQUESTS:-100}
TOOLS=$LAB_SERVERS/wire_ip_tools.py
COMMS=(--comm curl --comm nginx --comm python3 --comm node)
IP_ARGS=(--propagation ip --tc-iface 'p-*')

lab_init
lab_node
NODE=$LAB_NODE_NS
command -v tcpdump >/dev/null || { fail "tcpdump not found: run scripts/install-deps.sh"; exit 1; }

# tracewire in the node namespace, keeping its pid (nsenter execs it).
cat >"$LAB_DIR/tracewire-node" <<EOF
#!/bin/sh
exec nsenter --net=/run/netns/$NODE "${TRACEWIRE}" "\$@"
EOF
chmod +x "$LAB_DIR/tracewire-node"
TRACEWIRE=$LAB_DIR/tracewire-node
# The crafted-option client under a comm no --comm selects.
ln -s "$LAB_PY" "$LAB_DIR/twcraft"

# ---- helpers -------------------------------------------------------------------

# tcx_links PID: TCX links tracewire PID holds (its fds' fdinfo; bpftool 7.1
# neither names the link type nor the holder)
tcx_links() {
	grep -l '^link_type:[[:space:]]*tcx' /proc/"$1"/fdinfo/* 2>/dev/null | wc -l
}

# tw_progs: tracewire tc programs loaded at all (any process).
tw_progs() {
	bpftool -j prog show 2>/dev/null | "$LAB_PY" -c '
import json, sys
d = sys.stdin.read().strip()
print(sum(1 for p in (json.loads(d) if d else []) if p.get("name") in ("tw_from_pod", "tw_to_pod", "tw_edge")))'
}

# tw_progs_links: BPF links (any process) of programs named like tracewire's
tw_progs_links() {
	"$LAB_PY" - <<'EOF'
import json, subprocess
def bt(*a):
    out = subprocess.run(["bpftool", "-j", *a], capture_output=True, text=True).stdout.strip()
    return json.loads(out) if out else []
ours = {p["id"] for p in bt("prog", "show") if p.get("name") in ("tw_from_pod", "tw_to_pod", "tw_edge")}
print(sum(1 for l in bt("link", "show") if l.get("prog_id") in ours))
EOF
}

# filters IFACE ingress|egress PATTERN: tc filters on the node's IFACE matching PATTERN
filters() {
	ip netns exec "$NODE" tc filter show dev "$1" "$2" 2>/dev/null | grep -c -- "$3" || true
}

# wait_log ERE TIMEOUT: until tracewire's log has a matching line
wait_log() {
	local deadline=$(($(date +%s) + $2))
	until grep -Eq -- "$1" "$TW_LOG"; do
		[ "$(date +%s)" -lt "$deadline" ] || { fail "no log line /$1/ within $2 s"; lab__show_file "$TW_LOG" "tracewire log"; return 1; }
		sleep 0.1
	done
}

# capture NS IFACE FILTER NAME: tcpdump in namespace NS; CAP_PIDS gets its pid
CAP_PIDS=()
capture() {
	ip netns exec "$1" tcpdump -i "$2" -nn -U -s 256 -w "$LAB_DIR/$4.pcap" "$3" >"$LAB_DIR/$4.tcpdump.log" 2>&1 &
	CAP_PIDS+=($!)
	LAB_PIDS+=($!)
	local deadline=$(($(date +%s) + 10))
	until grep -q "listening on" "$LAB_DIR/$4.tcpdump.log"; do
		[ "$(date +%s)" -lt "$deadline" ] || { fail "tcpdump on $2 did not start"; return 1; }
		sleep 0.05
	done
}
captures_stop() {
	local p
	sleep 0.5
	for p in "${CAP_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${CAP_PIDS[@]}"; do lab_wait_pid "$p" 10 || true; done
	CAP_PIDS=()
}
# pcap_field NAME FIELD: packets|ihl_over_5|tw_option of capture NAME
pcap_field() {
	"$LAB_PY" "$TOOLS" pcap "$LAB_DIR/$1.pcap" | awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }'
}



hex() { "$LAB_PY" -c 'import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))' "$1"; }

# craft POD ADDR PORT LAYOUT TRACE SPAN COUNT: requests with a crafted option
craft() {
	lab_exec_in_pod "$1" "$LAB_DIR/twcraft" "$TOOLS" send-opt "$2" "$3" "$4" "$5" "$6" "$7" ||
		{ lab__show_file "$LAB_LAST_ERR" "send-opt stderr"; fail "send-opt from pod $1 to $2:$3 failed"; }
	assert_eq "$7" "$(grep -c '^HTTP/1.1 200' "$LAB_LAST_OUT" || true)" "requests from $1 with a crafted option answered"
}

# ---- bulk pods and baseline, before tracewire -------------------------------------
lab_step "pods bc, bs; baseline transfers without tracewire"
lab_pod bc 198.18.9.20/24
lab_pod bs 198.18.9.10/24
BULK=$LAB_DIR/bulk
mkdir -p "$BULK"
head -c $((1 << 20)) /dev/urandom >"$BULK/1m"
head -c $((8 << 20)) /dev/urandom >"$BULK/8m"
lab_start_cmd bs 198.18.9.10 8090 "$LAB_PY" "$TOOLS" serve 198.18.9.10 8090 "$BULK"
BS_PID=$LAB_LAST_PID
BULK_URL=http://198.18.9.10:8090
r0=$(lab_retrans bc bs)
lab_bulk_round bc "$BULK_URL" "$BULK" plain
lab_bulk_round bc "$BULK_URL" "$BULK" plain2
BASE=$(($(lab_retrans bc bs) - r0))
echo "  retransmitted segments without tracewire: $BASE"

# ---- attach ------------------------------------------------------------------------
lab_step "attach: tracewire ${IP_ARGS[*]} with pods bc, bs; then chain pods"
tw_start "${COMMS[@]}" "${IP_ARGS[@]}"
assert_file_contains "$TW_LOG" "propagation: ip to " "tracewire says the IPv4 option is on"
assert_file_contains "$TW_LOG" "ip option: p-bc \\(ifindex [0-9]+\\): tw_from_pod at ingress, tw_to_pod at egress \\(tcx links\\)" "p-bc attached at start"
assert_file_contains "$TW_LOG" "ip option: p-bs \\(ifindex [0-9]+\\): tw_from_pod at ingress" "p-bs attached at start"
assert_file_contains "$TW_LOG" "ip option: on \\(tcx links\\); pod interfaces 'p-\\*': 2 now \\(p-b[cs], p-b[cs]\\)" "start summary"
assert_eq 4 "$(tcx_links "$TW_PID")" "attach: TCX links at start (2 pods x 2)"
lab_chain 1
for p in c1 p1 m1 l1; do
	wait_log "ip option: p-$p \\(ifindex [0-9]+\\): tw_from_pod at ingress, tw_to_pod at egress" 10
done
assert_eq 12 "$(tcx_links "$TW_PID")" "attach: TCX links once the chain's pods are there (6 pods x 2)"
assert_file_lacks "$TW_LOG" "^[^ ]* tracewire: (warn|error): (ip option|libbpf)" "attach: no warnings about the IPv4 option"
ip netns exec "$NODE" bpftool net show | sed 's/^/  bpftool net (node): /'

# ---- chain ---------------------------------------------------------------------------
lab_step "chain: $REQUESTS requests one at a time through curl -> nginx -> python -> node"
capture "$NODE" br0 "tcp port 8081" br0
capture "$(lab_ns m1)" eth0 "tcp port 8081" m1
LAB_EXPECT_CODE=200 lab_curl_many "$LAB_CHAIN_CLI" "$REQUESTS" 1 "$LAB_CHAIN_URL/c1"
CURL_PID=$LAB_LAST_PID
mapfile -t LEAF < <(for p in ${LAB_CHAIN_LEAF//,/ }; do printf -- '--pid\n%s\n' "$p"; done)
tw_wait_spans --kind server "${LEAF[@]}" "$REQUESTS" 60
captures_stop
sleep 1.5 # the trace window: the chain's last traces are written
tw_spans check-chain --tier "cli=$CURL_PID" --tier "px=$LAB_CHAIN_PX" --tier "mid=$LAB_CHAIN_MID" \
	--tier "leaf=$LAB_CHAIN_LEAF" --expect "$REQUESTS" --server-source ip_option --exact-from mid \
	--min-complete 1.0 >"$LAB_DIR/chain.txt" || { cat "$LAB_DIR/chain.txt"; fail "chain: spans.py check-chain failed"; }
cat "$LAB_DIR/chain.txt"
echo "COMPLETENESS c=1 $(grep -E '^complete ' "$LAB_DIR/chain.txt" | tail -n 1 | cut -d' ' -f2)"
echo "  bridge: $("$LAB_PY" "$TOOLS" pcap "$LAB_DIR/br0.pcap"); in pod m1: $("$LAB_PY" "$TOOLS" pcap "$LAB_DIR/m1.pcap")"
assert_ge "$(pcap_field br0 tw_option)" "$REQUESTS" "chain: packets with tracewire's option on the bridge (one per request to python)"
assert_gt "$(pcap_field m1 packets)" "$((2 * REQUESTS))" "chain: packets captured in pod m1"
assert_eq 0 "$(pcap_field m1 ihl_over_5)" "chain: packets with IP options inside pod m1"

# ---- bulk ------------------------------------------------------------------------------
lab_step "bulk: with --propagation ip"
r0=$(lab_retrans bc bs) s0=$(LAB_COUNTER=TcpOutSegs lab_retrans bc bs)
lab_bulk_round bc "$BULK_URL" "$BULK" ip
lab_bulk_round bc "$BULK_URL" "$BULK" ip2
WITH=$(($(lab_retrans bc bs) - r0)) SEGS=$(($(LAB_COUNTER=TcpOutSegs lab_retrans bc bs) - s0))
echo "  retransmitted segments with the IPv4 option: $WITH of $SEGS sent (without: $BASE)"
assert_le "$WITH" "$(lab_retrans_storm_limit "$BASE" "$SEGS")" "bulk: no retransmission storm with the option (without: $BASE)"
tw_wait_spans --kind server --pid "$BS_PID" 8 30
assert_eq 8 "$(tw_spans count --kind server --pid "$BS_PID" --attr tracewire.parent.source=ip_option)" \
	"bulk: each transfer's server span parented by the option"
# Requests sent in one write: their first packet is small (1000), one full
# segment, not GSO (1448 = MSS with timestamps at MTU 1500: no room, the MTU
# guard skips it), or a GSO packet (1449, 200000: the option goes in, the
# kernel cuts smaller segments).
lab_step "bulk: requests whose first packet is full-sized or GSO"
SIZES=(1000 1448 1449 200000)
for i in 1 2 3; do
	LAB_EXEC_TIMEOUT=60 lab_exec_in_pod bc "$LAB_PY" "$TOOLS" post 198.18.9.10 8090 "${SIZES[@]}" ||
		{ lab__show_file "$LAB_LAST_ERR" "post stderr"; fail "bulk: POSTs of sizes ${SIZES[*]} failed"; }
done
tw_wait_spans --kind server --pid "$BS_PID" 20 30
for n in 1000 1449 200000; do
	assert_eq 3 "$(tw_spans count --kind server --path "/upload/$n" --attr tracewire.parent.source=ip_option)" \
		"bulk: POST of $n bytes in one write carried the option"
done
assert_eq 3 "$(tw_spans count --kind server --path /upload/1448 --attr tracewire.parent.source=none)" \
	"bulk: POST of one full segment went without it"
# A path that drops every packet with IP options (a router's policy) next to
# p-bc: a request's first packet carries the option once and is lost; its
# retransmission must go without it, or the connection stalls for good.
lab_step "drop: a path that drops packets with IP options; 5 downloads must still finish"
ip netns exec "$NODE" nft -f - <<'NFT' || fail "drop: nft in the node namespace"
table netdev twdropopt {
	chain in { type filter hook ingress device "p-bc" priority 0; meta protocol ip ip hdrlength != 5 counter drop; }
}
NFT
for i in 1 2 3 4 5; do
	LAB_EXEC_TIMEOUT=40 lab_exec_in_pod bc curl --silent --show-error --max-time 30 -o "$BULK/drop.$i" "$BULK_URL/1m" ||
		fail "drop: download $i did not finish: the option went out on every retransmission"
	cmp -s "$BULK/1m" "$BULK/drop.$i" || fail "drop: download $i differs"
done
dropped=$(ip netns exec "$NODE" nft list table netdev twdropopt | awk '/counter/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }')
ip netns exec "$NODE" nft delete table netdev twdropopt
echo "  packets with options dropped on the way: $dropped"
assert_ge "$dropped" 5 "drop: each request's first packet carried the option once (and was dropped)"
tw_stop
assert_ge "$(tw_exit_counter ip_opt_retransmit)" 5 "drop: retransmissions of first packets went without the option"
grep '^[^ ]* tracewire: info: stats (exit): propagation' "$TW_LOG" | sed 's/^/  /'
assert_eq 0 "$(tw_exit_counter injected)" "no header injected"
assert_ge "$(tw_exit_counter ip_opt_written)" "$((3 * REQUESTS + 8))" "options written (3 hops per chain request, 8 transfers)"
assert_ge "$(tw_exit_counter ip_opt_read)" "$((3 * REQUESTS + 8))" "options read"
assert_ge "$(tw_exit_counter ip_opt_no_room)" 3 "exit counter ip_opt_no_room (the full segments)"
for c in fail_open opt_untrusted ip_opt_stripped; do
	assert_eq 0 "$(tw_exit_counter "$c")" "exit counter $c"
done
assert_file_contains "$TW_LOG" "ip option: off; detached from 6 interfaces" "exit: detached from every pod"
assert_eq 0 "$(tw_progs)" "exit: no tc program of tracewire left"

# ---- trust and edge -------------------------------------------------------------------
lab_step "trust, edge: pods ux (untrusted), tx (trusted); namespace out behind e-out"
lab_pod ux 198.18.9.40/24
lab_pod tx 198.18.9.11/24
OUT=$LAB_PREFIX-out
ip netns add "$OUT"
LAB_NETNS+=("$OUT")
ip -n "$NODE" link add e-out type veth peer name eth0 netns "$OUT"
ip -n "$NODE" addr add 198.18.9.1/24 dev br0
ip -n "$NODE" addr add 198.19.200.254/24 dev e-out
ip -n "$NODE" addr add 198.18.200.254/24 dev e-out
ip -n "$NODE" link set e-out up
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1
ip -n "$OUT" link set lo up
ip -n "$OUT" addr add 198.19.200.1/24 dev eth0
ip -n "$OUT" addr add 198.18.200.1/24 dev eth0
ip -n "$OUT" link set eth0 up
ip -n "$OUT" route add 198.18.9.0/24 via 198.19.200.254
ip -n "$(lab_ns ux)" route add 198.19.200.0/24 via 198.18.9.1
ip -n "$(lab_ns ux)" route add 198.18.200.0/24 via 198.18.9.1
ip netns exec "$OUT" "$LAB_PY" "$TOOLS" serve 0.0.0.0 8099 "$BULK" >"$LAB_DIR/out-server.log" 2>&1 &
LAB_PIDS+=($!)
lab_wait_port ux 198.19.200.1 8099 20
tw_start "${COMMS[@]}" "${IP_ARGS[@]}" --tc-edge-iface 'e-*' --propagate-to 198.18.0.0/16 --trust-from 198.18.9.0/28
assert_file_contains "$TW_LOG" "ip option: e-out \\(ifindex [0-9]+\\): tw_edge at egress \\(tcx links\\)" "edge: tw_edge on e-out"
capture "$(lab_ns bs)" eth0 "tcp port 8090" bs
capture "$OUT" eth0 "tcp port 8099 and host 198.19.200.1" out19
capture "$OUT" eth0 "tcp port 8099 and host 198.18.200.1" out18
T_UF=$(hex 16) S_UF=$(hex 8) T_UL=$(hex 16) S_UL=$(hex 8) T_TF=$(hex 16) S_TF=$(hex 8) T_TL=$(hex 16) S_TL=$(hex 8)
craft ux 198.18.9.10 8090 first "$T_UF" "$S_UF" 3
craft ux 198.18.9.10 8090 later "$T_UL" "$S_UL" 3
craft tx 198.18.9.10 8090 first "$T_TF" "$S_TF" 3
craft tx 198.18.9.10 8090 later "$T_TL" "$S_TL" 3
craft ux 198.19.200.1 8099 first "$(hex 16)" "$(hex 8)" 2
craft ux 198.18.200.1 8099 first "$(hex 16)" "$(hex 8)" 2
tw_wait_spans --kind server --pid "$BS_PID" 12 30
captures_stop
tw_stop
grep '^[^ ]* tracewire: info: stats (exit): propagation' "$TW_LOG" | sed 's/^/  /'
for t in "$T_UF" "$T_UL"; do
	assert_eq 0 "$(tw_spans count --trace-id "$t")" "trust: no span in the untrusted sender's trace $t"
done
assert_eq 6 "$(tw_spans count --kind server --pid "$BS_PID" --attr client.address=198.18.9.40 --attr tracewire.parent.source=none)" \
	"trust: the untrusted pod's requests are new roots"
assert_eq 3 "$(tw_spans count --kind server --trace-id "$T_TF" --attr tracewire.parent.source=ip_option)" \
	"trust: the trusted pod's ids taken (option where tracewire puts it)"
assert_eq 3 "$(tw_spans count --kind server --trace-id "$T_TL" --attr tracewire.parent.source=ip_option)" \
	"trust: the trusted pod's ids taken (option elsewhere)"
assert_eq "$S_TF" "$(tw_spans fields --trace-id "$T_TF" -f parent_span_id | sort -u)" "trust: parent span id from the option"
assert_ge "$(tw_exit_counter opt_untrusted)" 6 "trust: untrusted options counted"
assert_ge "$(tw_exit_counter ip_opt_stripped)" 6 "trust: options stripped without use"
echo "  in pod bs: $("$LAB_PY" "$TOOLS" pcap "$LAB_DIR/bs.pcap")"
assert_eq 0 "$(pcap_field bs tw_option)" "trust: the server's pod never sees tracewire's option"
echo "  out of scope: $("$LAB_PY" "$TOOLS" pcap "$LAB_DIR/out19.pcap"); in scope: $("$LAB_PY" "$TOOLS" pcap "$LAB_DIR/out18.pcap")"
assert_gt "$(pcap_field out19 packets)" 0 "edge: packets to 198.19.200.1 captured"
assert_eq 0 "$(pcap_field out19 tw_option)" "edge: no option leaves towards a destination out of scope"
assert_gt "$(pcap_field out18 tw_option)" 0 "edge: the option leaves towards a destination in scope"

# ---- kill (TCX) ----------------------------------------------------------------------------
# kill_during_downloads LABEL: SIGKILL tracewire once the second of 12 8 MiB
# downloads (4 a second) has arrived; all of them must complete intact.
kill_during_downloads() {
	local label=$1 cfg=$LAB_DIR/$1.curl i deadline rc=0 want
	for i in $(seq 1 12); do printf 'url = "%s/8m"\noutput = "%s/%s.%d"\n' "$BULK_URL" "$BULK" "$label" "$i"; done >"$cfg"
	lab_run_in_pod bc curl --silent --show-error --max-time 60 --rate 4/s --config "$cfg"
	local load=$LAB_LAST_PID
	deadline=$(($(date +%s) + 30))
	until [ -s "$BULK/$label.2" ]; do
		[ "$(date +%s)" -lt "$deadline" ] || fail "$label: no download finished within 30 s"
		lab__alive "$load" || break
		sleep 0.05
	done
	kill -KILL "$TW_PID"
	lab_wait_pid "$TW_PID" 10 || true
	TW_PID=
	lab_wait_pid "$load" 90 || rc=$?
	assert_eq 0 "$rc" "$label: the downloads finished (curl exit status)"
	want=$(sha256sum <"$BULK/8m" | cut -d' ' -f1)
	for i in $(seq 1 12); do
		assert_eq "$want" "$(sha256sum <"$BULK/$label.$i" | cut -d' ' -f1)" "$label: download $i intact"
	done
}

PODS=(bc bs c1 p1 m1 l1 ux tx)
lab_step "kill: SIGKILL tracewire (TCX) during 8 MiB downloads"
tw_start "${COMMS[@]}" "${IP_ARGS[@]}"
assert_eq $((2 * ${#PODS[@]})) "$(tcx_links "$TW_PID")" "kill: TCX links before (8 pods x 2)"
kill_during_downloads killtcx
deadline=$(($(date +%s) + 10))
until [ "$(tw_progs)" = 0 ]; do
	[ "$(date +%s)" -lt "$deadline" ] || fail "kill: tracewire's tc programs still loaded 10 s after SIGKILL"
	sleep 0.1
done
echo "  ok: TCX links and programs gone with tracewire"
tw_start "${COMMS[@]}" "${IP_ARGS[@]}"
assert_eq $((2 * ${#PODS[@]})) "$(tcx_links "$TW_PID")" "kill: after restart, exactly 2 TCX links per pod"
assert_eq $((2 * ${#PODS[@]})) "$(tw_progs_links)" "kill: after restart, links of tracewire's tc programs (any process)"
for p in "${PODS[@]}"; do
	assert_eq 0 "$(filters "p-$p" ingress "handle 0x7477")" "kill: no clsact filter on p-$p"
done
lab_bulk_round bc "$BULK_URL" "$BULK" restart
tw_stop

# ---- clsact ---------------------------------------------------------------------------------
lab_step "clsact: TRACEWIRE_TC_ATTACH=clsact next to another tool's filters"
cat >"$LAB_DIR/foreign.c" <<'EOF'
__attribute__((section("tc"), used)) int foreign_pass(void *skb) { return -1; }
char _license[] __attribute__((section("license"), used)) = "GPL";
EOF
clang -O2 -target bpf -c "$LAB_DIR/foreign.c" -o "$LAB_DIR/foreign.o"
ip netns exec "$NODE" tc qdisc add dev p-bs clsact
ip netns exec "$NODE" tc filter add dev p-bs ingress prio 1 handle 1 bpf da obj "$LAB_DIR/foreign.o" sec tc
ip netns exec "$NODE" tc qdisc add dev p-ux clsact
# at tracewire's own handle and priority: still not tracewire's (name)
ip netns exec "$NODE" tc filter add dev p-ux egress prio 29815 handle 0x7477 bpf da obj "$LAB_DIR/foreign.o" sec tc
export TRACEWIRE_TC_ATTACH=clsact
tw_start "${COMMS[@]}" "${IP_ARGS[@]}"
assert_file_contains "$TW_LOG" "p-ux egress: filter foreign_pass at tracewire's handle 0x7477 pref 29815 is not tracewire's: left alone" \
	"clsact: a foreign filter in tracewire's slot is recognised"
assert_file_contains "$TW_LOG" "p-ux \\(ifindex [0-9]+\\): attaching failed" "clsact: p-ux left without the option"
assert_file_lacks "$TW_LOG" "libbpf: Kernel error" "clsact: no tc request the kernel refused"
CLS_PODS=(bc bs c1 p1 m1 l1 tx)
for p in "${CLS_PODS[@]}"; do
	assert_eq 1 "$(filters "p-$p" ingress "handle 0x7477 tw_from_pod")" "clsact: tw_from_pod on p-$p ingress"
	assert_eq 1 "$(filters "p-$p" egress "handle 0x7477 tw_to_pod")" "clsact: tw_to_pod on p-$p egress"
done
assert_eq 0 "$(tcx_links "$TW_PID")" "clsact: no TCX link"
kill_during_downloads killcls
assert_eq 1 "$(filters p-bc ingress "handle 0x7477 tw_from_pod")" "clsact: after SIGKILL the filter stays (no link to die with)"
lab_step "clsact: traffic after SIGKILL, then restart"
lab_bulk_round bc "$BULK_URL" "$BULK" afterkill
tw_start "${COMMS[@]}" "${IP_ARGS[@]}"
assert_eq "$((2 * ${#CLS_PODS[@]}))" "$(grep -c "removed filter tw_.* left by an earlier tracewire run" "$TW_LOG")" \
	"clsact: restart removed every filter the killed run left"
# the pods whose clsact qdisc tracewire itself created (p-bs had one already)
CLS_MADE=(bc c1 p1 m1 l1 tx)
assert_eq "${#CLS_MADE[@]}" "$(grep -c "removed the clsact qdisc an earlier tracewire run created" "$TW_LOG")" \
	"clsact: restart removed every clsact qdisc the killed run created (and made them again)"
for p in "${CLS_PODS[@]}"; do
	assert_eq 1 "$(filters "p-$p" ingress "handle 0x7477 tw_from_pod")" "clsact: after restart one tw_from_pod on p-$p"
	assert_eq 1 "$(filters "p-$p" egress "handle 0x7477 tw_to_pod")" "clsact: after restart one tw_to_pod on p-$p"
done
lab_bulk_round bc "$BULK_URL" "$BULK" clsact
LAB_EXPECT_CODE=200 lab_curl_many "$LAB_CHAIN_CLI" 10 1 "$LAB_CHAIN_URL/cls"
tw_stop
unset TRACEWIRE_TC_ATTACH
# curl's 10 requests to nginx and 4 transfers: nginx's and python's upstream
# connections were opened before this run, and only connections opened
# while tracewire runs are followed
assert_ge "$(tw_exit_counter ip_opt_read)" 14 "clsact: options read (curl -> nginx, transfers)"
for p in "${CLS_PODS[@]}"; do
	assert_eq 0 "$(filters "p-$p" ingress "handle 0x7477")" "clsact: exit removed tracewire's filter on p-$p ingress"
	assert_eq 0 "$(filters "p-$p" egress "handle 0x7477")" "clsact: exit removed tracewire's filter on p-$p egress"
done
assert_eq 1 "$(filters p-bs ingress foreign_pass)" "clsact: the other tool's filter on p-bs is still there"
assert_eq 1 "$(filters p-ux egress foreign_pass)" "clsact: the other tool's filter in tracewire's slot is still there"
for p in "${CLS_MADE[@]}"; do
	assert_eq 0 "$(ip netns exec "$NODE" tc qdisc show dev "p-$p" | grep -c clsact || true)" \
		"clsact: exit removed the clsact qdisc tracewire created on p-$p"
done
for p in bs ux; do
	assert_eq 1 "$(ip netns exec "$NODE" tc qdisc show dev "p-$p" | grep -c clsact || true)" \
		"clsact: the other tool's clsact qdisc on p-$p is still there"
done
assert_eq 0 "$(find /sys/fs/bpf -maxdepth 2 -name "clsact_$(ip netns exec "$NODE" stat -L -c %i /proc/self/ns/net)" | wc -l)" \
	"clsact: exit removed its record of the qdiscs it created (pinned)"
lab_step "ok"
