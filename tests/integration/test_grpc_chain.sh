#!/usr/bin/env bash
# gRPC through a three-pod call chain (issue 19 item 3), python grpcio and Go
# (grpc-go) side by side:
#
#   gc  client (servers/grpc_echo.py call, servers/go_grpc.go call)
#   gm  middle tier (... mid): each incoming call made again to the leaf over
#       ONE client connection shared by all calls, the leaf's answer passed back
#   gl  leaf (... serve): service tw.Echo, Unary echoes, Stream returns N items
#
# All three pods selected (--cgroup each). Traffic safety first, in every
# phase: every call must succeed and every answer be byte-exact (the clients
# compare each byte of pseudo-random payloads). Each phase has its own chain
# (mid and leaf processes), so its spans are told apart by pid:
#   early   started BEFORE tracewire; the client opens CHANNELS channels and
#           calls on them (without tracewire: the harness's own check), waits
#           while tracewire starts, then calls again on the same channels
#           (connections tracewire never saw open; their spans are not checked)
#   main    CHANNELS channels, unary and server-streaming calls with small
#           messages, 4 in flight
#   large   1 MiB and 4 MiB payloads (unary and streaming), 2 in flight
#   many    one channel, 64 calls in flight
# Spans: every call of the chains started after tracewire is one CLIENT span
# of its client, one SERVER and one CLIENT span of the mid and one SERVER span
# of the leaf, each named tw.Echo/<Method> with the rpc.* attributes
# test_grpc_spans.sh checks, in every phase (TW_GRPC_STRICT_SPANS=0: only
# main is required, the others printed, "SPANS ..."; before the kernel
# followed HTTP/2 frames and 128 live streams per connection, large and many
# lost spans and attributes).
# Linking (TW_GRPC_EXPECT_LINKS=1, the default; 0 prints without failing):
# each callee SERVER span is the child of its caller's CLIENT span (same
# trace, parent_span_id = that span's span_id, same connection,
# tracewire.parent.source header) for at least LINK_FLOOR of the calls after
# the first call on each connection (a fresh connection's first call may go
# without the header: the kernel waits for proof that the server speaks
# HTTP/2), in the phases whose spans are required. The mid's CLIENT spans
# under its SERVER spans (same trace, parent_span_id that SERVER span's,
# tracewire.parent.source goroutine): for go at least LINK_FLOOR of them
# (TW_GRPC_GO_INNER=1, the default: the Go probes follow grpc-go's reader,
# handler and writer goroutines, docs/go.md "gRPC"; the mid is waited for
# until they are in it); for py counted and printed, not required: grpcio's
# handler thread neither reads nor writes a socket (its C core does both on
# its own threads), so neither the thread rule nor any probe tracewire has
# ties the call it makes to the call it serves.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

EXPECT_LINKS=${TW_GRPC_EXPECT_LINKS:-1}
STRICT_SPANS=${TW_GRPC_STRICT_SPANS:-1}
LINK_FLOOR=${TW_GRPC_LINK_FLOOR:-0.95}
# the Go mid's CLIENT spans under its SERVER spans (grpc-go probes,
# docs/go.md "gRPC"): required unless TW_GRPC_GO_INNER=0 (e.g. a run with
# --go-probes off)
GO_INNER=${TW_GRPC_GO_INNER:-1}
LANGS=${TW_GRPC_LANGS:-py go}
CHANNELS=2
PHASES=(main large many)
EARLY_ARGS="--channels $CHANNELS --unary 8 --stream 2 --items 3 --parallel 4 --size 5000"
# phase_args PHASE: one client run's arguments per line
phase_args() {
	case $1 in
	main) echo "--channels $CHANNELS --unary 24 --stream 6 --items 5 --parallel 4" ;;
	large)
		echo "--channels 1 --unary 4 --stream 2 --items 2 --parallel 2 --size 1048576"
		echo "--channels 1 --unary 3 --stream 1 --items 2 --parallel 2 --size 4194304"
		;;
	many) echo "--channels 1 --unary 160 --stream 32 --items 3 --parallel 64" ;;
	esac
}

lab_init
"$LAB_PY" -c 'import grpc' 2>/dev/null ||
	{ fail "$LAB_PY lacks grpc: run scripts/install-deps.sh (python3-grpcio)"; exit 1; }
if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/google.golang.org/grpc ]; then
	fail "go or the grpc-go sources missing: run scripts/install-deps.sh (golang-go, golang-google-grpc-dev)"
	exit 1
fi

lab_step "building servers/go_grpc.go"
BIN=$LAB_DIR/bin
mkdir -p "$BIN"
GOCACHE=$LAB_REPO/build/gocache GOPATH=$LAB_REPO/build/gopath:/usr/share/gocode GO111MODULE=off \
	GOPROXY=off GOFLAGS='' GOENV=off GOTOOLCHAIN=local CGO_ENABLED=0 \
	go build -o "$BIN/go_grpc" "$LAB_SERVERS/go_grpc.go" || { fail "building go_grpc.go failed"; exit 1; }

lab_pod gc 198.18.43.20/24
lab_pod gm 198.18.43.11/24
lab_pod gl 198.18.43.12/24
MID=$(lab_ip gm) LEAF=$(lab_ip gl)

# cmd LANG: that language's program (two words for python)
cmd() {
	case $1 in
	py) echo "$LAB_PY $LAB_SERVERS/grpc_echo.py" ;;
	go) echo "$BIN/go_grpc" ;;
	esac
}
# port LANG PHASE ROLE(leaf|mid)
port() {
	local p=50100 i=0
	[ "$1" = go ] && p=50200
	case $2 in main) i=1 ;; large) i=2 ;; many) i=3 ;; esac
	[ "$3" = mid ] && p=$((p + 1))
	echo $((p + 2 * i))
}
# go_probed PID: the Go probes are in that go_grpc process (uprobes write
# int3 into its text: memdiff.py compares it with the file; 4 probes at
# least: grpc-go's three and goroutine creation's one or two), so that its
# calls are followed from the first; waits up to 20 s (the daemon rescans
# /proc every second). Only for a chain started after tracewire.
go_probed() {
	local deadline=$(($(date +%s) + 20)) d
	while :; do
		d=$("$LAB_PY" "$LAB_REPO/tests/integration/memdiff.py" "$1" "$BIN/go_grpc" "$BIN/go_grpc" | cut -d' ' -f1)
		[ "${d:-0}" -ge 4 ] && return 0
		[ "$(date +%s)" -lt "$deadline" ] || { fail "go_grpc pid $1: the Go probes never came (memdiff ${d:-?})"; return 1; }
		sleep 0.1
	done
}
declare -A MIDPID=() LEAFPID=() CLIPIDS=() NUNARY=() NSTREAM=()
# start_chain LANG PHASE: leaf, then mid (pointed at the leaf)
start_chain() {
	local lang=$1 ph=$2 lp mp
	lp=$(port "$lang" "$ph" leaf) mp=$(port "$lang" "$ph" mid)
	# shellcheck disable=SC2046
	lab_start_cmd gl "$LEAF" "$lp" $(cmd "$lang") serve "$LEAF" "$lp" || return 1
	LEAFPID[$lang.$ph]=$LAB_LAST_PID
	# shellcheck disable=SC2046
	lab_start_cmd gm "$MID" "$mp" $(cmd "$lang") mid "$MID" "$mp" "$LEAF:$lp" || return 1
	MIDPID[$lang.$ph]=$LAB_LAST_PID
}

# calls LANG PHASE ARGS...: one client run in gc against PHASE's mid; fails
# unless every call succeeded byte-exact; counts the calls and client pids.
calls() {
	local lang=$1 ph=$2 rc=0 u s k=$1.$2
	shift 2
	# shellcheck disable=SC2046
	LAB_EXEC_TIMEOUT=240 lab_exec_in_pod gc $(cmd "$lang") call "$MID:$(port "$lang" "$ph" mid)" \
		--timeout 60 "$@" || rc=$?
	sed "s/^/  $lang $ph: /" "$LAB_LAST_OUT"
	if [ "$rc" != 0 ]; then
		lab__show_file "$LAB_LAST_ERR" "$lang client stderr"
		fail "$lang $ph: a gRPC call failed or an answer was not byte-exact (status $rc; $*)"
		return 1
	fi
	CLIPIDS[$k]=${CLIPIDS[$k]:+${CLIPIDS[$k]},}$LAB_LAST_PID
	read -r u s < <(sed -n 's|^total unary \([0-9]*\)/[0-9]* stream \([0-9]*\)/[0-9]*$|\1 \2|p' "$LAB_LAST_OUT")
	NUNARY[$k]=$((${NUNARY[$k]:-0} + u))
	NSTREAM[$k]=$((${NSTREAM[$k]:-0} + s))
}

lab_step "early chains (started before tracewire), clients make their first round"
declare -A EARLY_PID=() EARLY_LOG=()
for lang in $LANGS; do
	start_chain "$lang" early
	# shellcheck disable=SC2046,SC2086
	lab_run_in_pod gc $(cmd "$lang") call "$MID:$(port "$lang" early mid)" --timeout 60 \
		$EARLY_ARGS --pause "$LAB_DIR/resume.$lang"
	EARLY_PID[$lang]=$LAB_LAST_PID EARLY_LOG[$lang]=$LAB_LAST_LOG
done
for lang in $LANGS; do
	deadline=$(($(date +%s) + 120))
	until grep -qx paused "${EARLY_LOG[$lang]}"; do
		if ! lab__alive "${EARLY_PID[$lang]}" || [ "$(date +%s)" -ge "$deadline" ]; then
			lab__show_file "${EARLY_LOG[$lang]}" "$lang early client"
			fail "$lang early client: its first round (without tracewire) did not finish"
		fi
		sleep 0.1
	done
done

tw_start --cgroup "$(lab_cgroup gc)" --cgroup "$(lab_cgroup gm)" --cgroup "$(lab_cgroup gl)"

lab_step "early channels: the second round, under tracewire"
for lang in $LANGS; do touch "$LAB_DIR/resume.$lang"; done
for lang in $LANGS; do
	rc=0
	lab_wait_pid "${EARLY_PID[$lang]}" 240 || rc=$?
	sed "s/^/  $lang early: /" "${EARLY_LOG[$lang]}"
	[ "$rc" = 0 ] || fail "$lang early: a call on a channel opened before tracewire failed or was not byte-exact (status $rc)"
done

for lang in $LANGS; do
	for ph in "${PHASES[@]}"; do
		lab_step "$lang $ph: a chain started after tracewire"
		start_chain "$lang" "$ph"
		[ "$lang" != go ] || [ "$GO_INNER" = 0 ] || go_probed "${MIDPID[$lang.$ph]}"
		while read -r args; do
			# shellcheck disable=SC2086
			calls "$lang" "$ph" $args
		done < <(phase_args "$ph")
	done
done

# pids ROLE LANG.PHASE: --pid arguments of that chain's ROLE (cli|mid|leaf)
pids() {
	case $1 in
	cli) tr , '\n' <<<"${CLIPIDS[$2]}" | sed 's/^/--pid\n/' ;;
	mid) printf -- '--pid\n%s\n' "${MIDPID[$2]}" ;;
	leaf) printf -- '--pid\n%s\n' "${LEAFPID[$2]}" ;;
	esac
}
ROLES=(cli:client mid:server mid:client leaf:server)
required() { [ "$1" = main ] || [ "$STRICT_SPANS" = 1 ]; }

lab_step "waiting for the spans"
for lang in $LANGS; do
	k=$lang.main n=$((NUNARY[$lang.main] + NSTREAM[$lang.main]))
	for rk in "${ROLES[@]}"; do
		mapfile -t p < <(pids "${rk%:*}" "$k")
		tw_wait_spans --kind "${rk#*:}" "${p[@]}" "$n" 30
	done
done
# A stream whose end was not captured ends when its connection closes: the
# chains' connections close with their processes.
for pid in "${MIDPID[@]}" "${LEAFPID[@]}"; do lab__kill_pid "$pid" 5; done
for lang in $LANGS; do
	for ph in "${PHASES[@]}"; do
		required "$ph" || continue
		k=$lang.$ph n=$((NUNARY[$lang.$ph] + NSTREAM[$lang.$ph]))
		for rk in "${ROLES[@]}"; do
			mapfile -t p < <(pids "${rk%:*}" "$k")
			tw_wait_spans --kind "${rk#*:}" "${p[@]}" "$n" 30
		done
	done
done
tw_stop
echo "  exit counters:$(grep '^[^ ]* tracewire: info: stats (exit):' "$TW_LOG" | grep -o ' h2_[a-z_]*=[0-9]*' | tr -d '\n')"
echo "  go probes:$(grep '^[^ ]* tracewire: info: stats (exit):' "$TW_LOG" | grep -o ' go_grpc_[a-z_]*=[0-9]*\| go_spawn_inherit=[0-9]*' | tr -d '\n')"
grep 'go probes: .*go_grpc' "$TW_LOG" | head -1 | sed 's/^[^ ]* /  /' || true
[ "$STRICT_SPANS" = 0 ] || assert_eq 0 "$(tw_exit_counter h2_hpack_errors)" "h2_hpack_errors"

# check LANG.PHASE ROLE KIND METHOD N: exactly N such spans, with the rpc.* attributes
check() {
	local k=$1 role=$2 kind=$3 method=$4 n=$5
	mapfile -t p < <(pids "$role" "$k")
	tw_spans check-requests --kind "$kind" "${p[@]}" --name "tw.Echo/$method" --expect "$n" --shared-traces \
		--attr rpc.system=grpc --attr rpc.service=tw.Echo --attr "rpc.method=$method" \
		--attr rpc.grpc.status_code=0 --attr http.request.method=POST \
		--attr "url.path=/tw.Echo/$method" --attr network.protocol.version=2 \
		--status 200 --otel-status unset >/dev/null ||
		fail "$k $role: $kind spans of tw.Echo/$method: expected $n with the rpc.* attributes"
}
for lang in $LANGS; do
	for ph in "${PHASES[@]}"; do
		k=$lang.$ph nu=${NUNARY[$lang.$ph]} ns=${NSTREAM[$lang.$ph]}
		lab_step "$k spans: $nu unary and $ns streaming calls, one span per call and role"
		line="" bad=0
		for rk in "${ROLES[@]}"; do
			role=${rk%:*} kind=${rk#*:}
			mapfile -t p < <(pids "$role" "$k")
			all=$(tw_count --kind "$kind" "${p[@]}")
			rpc=$(tw_count --kind "$kind" "${p[@]}" --attr rpc.system=grpc --attr rpc.service=tw.Echo)
			line+=" $role.$kind $all/$((nu + ns)) (rpc.* $rpc)"
			if required "$ph"; then
				assert_eq "$((nu + ns))" "$all" "$k $role: $kind spans in all" || bad=1
				check "$k" "$role" "$kind" Unary "$nu" || bad=1
				check "$k" "$role" "$kind" Stream "$ns" || bad=1
			fi
		done
		echo "  SPANS $k:$line$(required "$ph" || echo " (not required)")"
		[ "$bad" = 0 ] || fail "$k: spans not as expected (see above)"
	done
done

# links CALLER_PIDS CALLEE_PIDS: callee SERVER spans that are children of a
# caller CLIENT span of their connection; prints "linked L/N after-warm-up
# LW/NW connections C (parent from a header: H)" (warm-up: each connection's
# first SERVER span; H: SERVER spans whose source is header, linked or not: a
# caller's CLIENT span not captured leaves its callee's parent unexported).
links() {
	"$LAB_PY" - "$TW_JSONL" "$1" "$2" <<'EOF'
import ipaddress, json, sys
from collections import defaultdict
path = sys.argv[1]
callers, callees = (set(map(int, a.split(","))) for a in sys.argv[2:4])
def addr(a):
    a = ipaddress.ip_address(a)
    return str(a.ipv4_mapped or a) if a.version == 6 else str(a)
spans = [json.loads(l) for l in open(path) if l.endswith("\n")]
cli = {s["span_id"]: s for s in spans if s["kind"] == "client" and s["pid"] in callers}
byconn = defaultdict(list)
for s in spans:
    if s["kind"] == "server" and s["pid"] in callees:
        a = s["attributes"]
        byconn[(addr(a["client.address"]), a["client.port"])].append(s)
n = l = nw = lw = h = 0
for conn, ss in byconn.items():
    ss.sort(key=lambda s: s["start_ns"])
    for i, s in enumerate(ss):
        h += s["attributes"].get("tracewire.parent.source") == "header"
        c = cli.get(s.get("parent_span_id") or "")
        ok = (c is not None and c["trace_id"] == s["trace_id"]
              and s["attributes"].get("tracewire.parent.source") == "header"
              and (addr(c["attributes"]["network.local.address"]),
                   c["attributes"]["network.local.port"]) == conn)
        n += 1
        l += ok
        if i:
            nw += 1
            lw += ok
print("linked %d/%d after-warm-up %d/%d connections %d (parent from a header: %d)"
      % (l, n, lw, nw, len(byconn), h))
EOF
}
# inner MID_PID: the mid's CLIENT spans that are children of its own SERVER
# spans: "K/N (source goroutine: G)", G of the K with that parent source
inner() {
	"$LAB_PY" - "$TW_JSONL" "$1" <<'EOF'
import json, sys
path, pid = sys.argv[1], int(sys.argv[2])
spans = [json.loads(l) for l in open(path) if l.endswith("\n")]
srv = {s["span_id"]: s for s in spans if s["kind"] == "server" and s["pid"] == pid}
cli = [s for s in spans if s["kind"] == "client" and s["pid"] == pid]
kids = [s for s in cli if s.get("parent_span_id") in srv and srv[s["parent_span_id"]]["trace_id"] == s["trace_id"]]
g = sum(1 for s in kids if s["attributes"].get("tracewire.parent.source") == "goroutine")
print("%d/%d (source goroutine: %d)" % (len(kids), len(cli), g))
EOF
}

# Large messages: a send the kernel cannot push whole on a non-blocking
# socket is cut, and the next goes out without sk_msg (tcp_bpf leaves the
# verdict at PASS); when that send holds frame headers, sk_msg no longer
# knows the connection's frames and passes it untouched for good
# (h2_opaque_lost): its later streams get no header. Printed, not required.
hop_required() { required "$1" && [ "$1" != large ]; }
lab_step "linking (TW_GRPC_EXPECT_LINKS=$EXPECT_LINKS, floor $LINK_FLOOR after each connection's first call)"
link_fail=()
for lang in $LANGS; do
	for ph in "${PHASES[@]}"; do
		k=$lang.$ph
		for hop in "client->mid:${CLIPIDS[$k]}:${MIDPID[$k]}" "mid->leaf:${MIDPID[$k]}:${LEAFPID[$k]}"; do
			IFS=: read -r name callers callees <<<"$hop"
			out=$(links "$callers" "$callees")
			echo "  LINKS $k $name: $out$(hop_required "$ph" || echo " (not required)")"
			hop_required "$ph" || continue
			read -r lw nw < <(sed -n 's|.*after-warm-up \([0-9]*\)/\([0-9]*\).*|\1 \2|p' <<<"$out")
			awk -v l="$lw" -v n="$nw" -v f="$LINK_FLOOR" 'BEGIN { exit !(n > 0 && l >= f * n) }' ||
				link_fail+=("$k $name: $lw/$nw")
		done
		out=$(inner "${MIDPID[$k]}")
		if [ "$lang" != go ] || [ "$GO_INNER" = 0 ] || ! required "$ph"; then
			echo "  LINKS $k mid server->mid client (not required): $out"
			continue
		fi
		echo "  LINKS $k mid server->mid client: $out"
		read -r n g < <(sed -n 's|^[0-9]*/\([0-9]*\) (source goroutine: \([0-9]*\))$|\1 \2|p' <<<"$out")
		awk -v l="$g" -v n="$n" -v f="$LINK_FLOOR" 'BEGIN { exit !(n > 0 && l >= f * n) }' ||
			link_fail+=("$k mid server->mid client: $g/$n")
	done
done
if [ "${#link_fail[@]}" -gt 0 ]; then
	if [ "$EXPECT_LINKS" = 1 ]; then
		fail "callee SERVER spans linked to their caller's CLIENT span below $LINK_FLOOR after warm-up: ${link_fail[*]}"
	else
		echo "  below the floor (not required with TW_GRPC_EXPECT_LINKS=0): ${link_fail[*]}"
	fi
fi
lab_step "ok: every gRPC call through the chains succeeded byte-exact; spans as expected"
