#!/usr/bin/env bash
# shellcheck disable=SC2046
# (SC2046: per_round's numbers are meant to be split into words)
# Request overhead of tracewire on a two-hop chain (issue 5, item 1) and the
# agent-based peer (item 2): load client pod -> service A pod -> service B pod
# (network-namespace pods of tests/integration/lab.sh, trivial handlers,
# keep-alive on every hop) for four variants:
#   python  A: tests/integration/servers/chain_mid.py (ThreadingHTTPServer, one
#              http.client keep-alive connection to B per thread)
#           B: tests/integration/servers/python_server.py
#   node    A: bench/servers/node_chain.js (keep-alive http.Agent, 16 sockets)
#           B: bench/servers/node_chain.js as a leaf
#   go      A: build/bench/chainsrv (net/http; client: a DefaultTransport clone
#              with 64 idle connections per host)   B: chainsrv as a leaf
#   nginx   A: nginx proxy_pass to an upstream with keepalive 32 (1 worker)
#           B: nginx `return 200` (1 worker)
# under these configurations, interleaved in every round (order rotated from
# round 2 on; round 1 starts with (a), which sets each variant's fixed rate):
#   a     no tracewire
#   b     tracewire --cgroup A --cgroup B --exporter none --propagation none
#   c     tracewire --cgroup A --cgroup B --exporter none --propagation headers
#   t     tracewire --cgroup A --cgroup B --exporter none --propagation tcp
#   i     tracewire --cgroup A --cgroup B --exporter none --propagation ip
#         --tc-iface 'p-*', in the lab's node network namespace (the pods'
#         host-side veths are there)
#   g     (c) with --go-probes on, Go variant only (b, c, t, i: --go-probes off)
#   otel  node variant only, no tracewire: A and B under OpenTelemetry JS
#         auto-instrumentation (node --require bench/otel-node/bootstrap.js),
#         exporting OTLP/HTTP protobuf to tests/otlp/receiver.js in its own pod
# The load client's pod is never selected. Every configuration starts fresh
# service processes after tracewire is ready (propagation applies to
# connections opened after tracewire starts). Per variant and configuration:
#   - throughput at saturation: wrk -t2 -c32 for SAT seconds (after a WARM s
#     warm-up), as a ratio to (a) of the same round;
#   - p50/p99 latency at a fixed rate: build/bench/loadgen (open loop), RATE_FRAC
#     of round 1's (a) saturated throughput, RATE seconds after 0.5 s warm-up;
#   - CPU per request in that fixed-rate phase: cgroup v2 cpu.stat usage_usec of
#     the A and B pods plus tracewire's (it runs in a cgroup of its own), over the
#     requests served; the tables give it minus (a)'s of the same round.
# Each cell is checked: (a)/otel with no tracewire of ours running, (b) with
# propagation off, (c) with injected > 0, every wrk/loadgen answer 2xx, the
# spans tracewire assembled or the receiver got counted against 3 per request.
# Results: bench/results/chain.md (medians and min–max over the rounds).
#
# Usage: bench/chain.sh [--quick] [--rounds N] [--variants "python node go nginx"]
#                       [--configs "a b c"] [--no-otel] [--out FILE]
#   --quick: 1 round, 2 s phases (about 2 minutes); default: 3 rounds, 2 s at
#   saturation and 2 s at the fixed rate (about 11 minutes with 6 configurations).
#   Environment: SAT, RATE, WARM (seconds; SAT and WARM whole), RATE_FRAC (0.3),
#   WRK_THREADS (2), WRK_CONNS (32), LG_CONNS (16), MAX_SECS (900: the run fails
#   past it), CHAIN_FOREIGN_OK=1 (another tracewire that selects every process,
#   e.g. a test run, is only noted instead of failing the run: figures are then
#   not clean). Needs root; build first (make).
# To add a configuration: one cfg_add line below (tracewire arguments, the
# propagation state its exit stats must show) and, if it needs one, a check
# function named check_cfg_NAME (see check_cfg_c).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/integration/lab.sh
. tests/integration/lab.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh

CMDLINE="bench/chain.sh${*:+ $*}"
QUICK=0 ROUNDS="" VARIANTS="python node go nginx" CONFIGS="a b c" OTEL=1
OUT=bench/results/chain.md
usage() { sed -n '/^# Usage:/,/^# To add/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--rounds) ROUNDS=$2; shift ;;
	--variants) VARIANTS=$2; shift ;;
	--configs) CONFIGS=$2; shift ;;
	--no-otel) OTEL=0 ;;
	--out) OUT=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	ROUNDS=${ROUNDS:-1} SAT=${SAT:-2} RATE=${RATE:-2} WARM=${WARM:-1}
else
	ROUNDS=${ROUNDS:-3} SAT=${SAT:-2} RATE=${RATE:-2} WARM=${WARM:-1}
fi
RATE_FRAC=${RATE_FRAC:-0.3}
WRK_THREADS=${WRK_THREADS:-2} WRK_CONNS=${WRK_CONNS:-32} LG_CONNS=${LG_CONNS:-16}
LG_WARM=0.5
MAX_SECS=${MAX_SECS:-900}
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || { echo "bad --rounds '$ROUNDS'" >&2; exit 2; }
for v in $VARIANTS; do
	case $v in python | node | go | nginx) ;; *) echo "unknown variant '$v'" >&2; exit 2 ;; esac
done

# ---- configurations ------------------------------------------------------------
# cfg_add NAME KIND TITLE TRACEWIRE_ARGS PROPAGATION [VARIANTS]
#   KIND: none (no tracewire) | tracewire | otel (agent-based peer)
#   PROPAGATION: what tracewire's exit stats must say: on | off | - (no tracewire)
#   VARIANTS: the variants it applies to (default all)
declare -a CFG_ORDER=()
declare -A CFG_KIND=() CFG_TITLE=() CFG_ARGS=() CFG_PROP=() CFG_ONLY=() CFG_BIN=()
cfg_add() {
	CFG_ORDER+=("$1")
	CFG_KIND[$1]=$2 CFG_TITLE[$1]=$3 CFG_ARGS[$1]=$4 CFG_PROP[$1]=$5 CFG_ONLY[$1]=${6:-}
}
cfg_add a none "(a) no tracewire" "" -
cfg_add b tracewire "(b) capture only" "--exporter none --propagation none --go-probes off" off
# c0: (c) with an earlier build (TW_BEFORE, see bench/run.sh): the before of
# the optimisation step, measured in the same rounds as the after (c); on
# nginx, the variant with the highest request rate, to keep the run short
cfg_add c0 tracewire "${TW_BEFORE_LABEL:-(c) before: no pull after insert}" "--exporter none --propagation headers" on nginx
CFG_BIN[c0]=${TW_BEFORE:-}
cfg_add c tracewire "(c) capture + headers" "--exporter none --propagation headers --go-probes off" on
cfg_add t tracewire "(t) capture + TCP option" "--exporter none --propagation tcp --go-probes off" on
# (i) runs in the lab's node namespace, where the pods' host-side veths
# (p-NAME) are, as a node agent runs in the host's (set-up below)
cfg_add i tracewire "(i) capture + IPv4 option" "--exporter none --propagation ip --tc-iface p-* --go-probes off" on
# (g): (c) with the Go probes (issue 7), on the Go variant; the other
# configurations leave them off so that each column measures one thing
cfg_add g tracewire "(g) capture + headers + Go probes" "--exporter none --propagation headers --go-probes on" on go
cfg_add otel otel "OTel JS agent" "" - node
check_cfg_c0() { check_cfg_c; }

# (c): the headers were really inserted, about once per A -> B request.
check_cfg_c() {
	local inj
	inj=$(bench_tw_counter injected) || return 1
	[ "$inj" -gt 0 ] || { fail "$CELL: propagation on but injected=0"; return 1; }
	M[inj,$CELL_KEY]=$(bench_div "$inj" "$CELL_REQS" %.2f)
}

# (t): the TCP option was really written, about once per A -> B request,
# and no header inserted.
check_cfg_t() {
	local w inj
	w=$(bench_tw_counter tcp_opt_written) || return 1
	inj=$(bench_tw_counter injected) || return 1
	[ "$w" -gt 0 ] || { fail "$CELL: --propagation tcp but tcp_opt_written=0"; return 1; }
	[ "$inj" = 0 ] || { fail "$CELL: --propagation tcp but injected=$inj"; return 1; }
	M[inj,$CELL_KEY]=$(bench_div "$w" "$CELL_REQS" %.2f)
}

# (i): the IPv4 option was really inserted, about once per A -> B request.
check_cfg_i() {
	local w inj
	w=$(bench_tw_counter ip_opt_written) || return 1
	inj=$(bench_tw_counter injected) || return 1
	[ "$w" -gt 0 ] || { fail "$CELL: --propagation ip but ip_opt_written=0"; return 1; }
	[ "$inj" = 0 ] || { fail "$CELL: --propagation ip but injected=$inj"; return 1; }
	M[inj,$CELL_KEY]=$(bench_div "$w" "$CELL_REQS" %.2f)
}

# (g): headers injected, and the Go probes really worked: client requests
# that found their goroutine's server request (go_client).
check_cfg_g() {
	local gc
	check_cfg_c || return 1
	gc=$(bench_tw_counter go_client) || return 1
	[ "$gc" -gt 0 ] || { fail "$CELL: --go-probes on but go_client=0"; return 1; }
}

RUN_CFGS=()
for c in $CONFIGS; do
	[ -n "${CFG_KIND[$c]:-}" ] || { echo "unknown configuration '$c' (${CFG_ORDER[*]})" >&2; exit 2; }
	if [ "$c" = c0 ] && [ ! -x "${TW_BEFORE:-}" ]; then
		echo "configuration c0 needs TW_BEFORE=<an earlier build/tracewire>" >&2; exit 2
	fi
	RUN_CFGS+=("$c")
done
[ "${RUN_CFGS[0]:-}" = a ] || { echo "--configs must start with a (the baseline)" >&2; exit 2; }
[ "$OTEL" = 0 ] || [[ " $VARIANTS " != *" node "* ]] || RUN_CFGS+=(otel)

# ---- set-up ---------------------------------------------------------------------

lab_init
BENCH_DIR=$LAB_DIR
T0=$(date +%s)
bench_need wrk nginx node go python3
[ -x "$TRACEWIRE" ] || { fail "build first: make"; exit 1; }
TW_NOW=$TRACEWIRE
bench_build_tools
if [[ " ${RUN_CFGS[*]} " == *" otel "* ]]; then
	[ -d tests/otlp/node_modules ] || { fail "tests/otlp/node_modules missing: run scripts/install-deps.sh"; exit 1; }
	if [ ! -d bench/otel-node/node_modules ] ||
		[ bench/otel-node/package-lock.json -nt bench/otel-node/node_modules ]; then
		lab_step "npm ci in bench/otel-node (OpenTelemetry JS, pinned)"
		(cd bench/otel-node && npm ci --no-audit --no-fund --loglevel=error) >"$LAB_DIR/npm.log" 2>&1 ||
			{ tail -n 30 "$LAB_DIR/npm.log" >&2; fail "npm ci in bench/otel-node failed"; exit 1; }
		touch bench/otel-node/node_modules
	fi
fi
NET=198.18.7
IP_CLI=$NET.20 IP_A=$NET.10 IP_B=$NET.11 IP_OTLP=$NET.30
PORT_A=8080 PORT_B=8081 PORT_OTLP=4318
URL=http://$IP_A:$PORT_A/chain/x
lab_pod cli "$IP_CLI/24"
lab_pod sva "$IP_A/24"
lab_pod svb "$IP_B/24"
[[ " ${RUN_CFGS[*]} " != *" otel "* ]] || lab_pod otlp "$IP_OTLP/24"
if [[ " ${RUN_CFGS[*]} " == *" i "* ]]; then
	# tracewire in the node namespace, keeping its pid (nsenter execs it)
	printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s "%s" "$@"\n' "$LAB_NODE_NS" "$TW_NOW" \
		>"$LAB_DIR/tracewire-node"
	chmod +x "$LAB_DIR/tracewire-node"
	CFG_BIN[i]=$LAB_DIR/tracewire-node
fi
CG_A=$(lab_cgroup sva) CG_B=$(lab_cgroup svb) CG_TW=$LAB_CG/tw
mkdir -p "$CG_TW"

# One nginx template for both tiers (lab.sh fills in @DIR@ @LISTEN@ @UPSTREAM@
# @WORKERS@): /chain/... goes to the upstream with keep-alive, anything else
# is 200 "ok".
NGINX_TMPL=$LAB_DIR/chain-nginx.conf.tmpl
cat >"$NGINX_TMPL" <<'EOF'
daemon off;
master_process on;
user root;
worker_processes @WORKERS@;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log warn;
events { worker_connections 4096; }
http {
	default_type text/plain;
	access_log off;
	server_tokens off;
	keepalive_timeout 60s;
	keepalive_requests 1000000;
	client_body_temp_path @DIR@/body;
	proxy_temp_path @DIR@/proxy;
	fastcgi_temp_path @DIR@/fastcgi;
	uwsgi_temp_path @DIR@/uwsgi;
	scgi_temp_path @DIR@/scgi;
	upstream chain_up {
		server @UPSTREAM@;
		keepalive 32;
		keepalive_requests 1000000;
	}
	server {
		@LISTEN@
		location /chain/ {
			proxy_pass http://chain_up/;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
		location / { return 200 "ok\n"; }
	}
}
EOF

OTEL_BOOT=$BENCH_REPO/bench/otel-node/bootstrap.js
NODE_CHAIN=$BENCH_REPO/bench/servers/node_chain.js
# start_chain VARIANT MODE: B, then A (MODE plain | otel).
start_chain() {
	local v=$1 mode=$2
	local -a pre=()
	if [ "$mode" = otel ]; then
		# shellcheck disable=SC2054
		pre=(env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://$IP_OTLP:$PORT_OTLP/v1/traces"
			OTEL_NODE_RESOURCE_DETECTORS=env,host,process)
	fi
	case $v in
	python)
		lab_start_server python svb "$IP_B" "$PORT_B" &&
			lab_start_cmd sva "$IP_A" "$PORT_A" "$LAB_PY" "$LAB_SERVERS/chain_mid.py" \
				"$IP_A" "$PORT_A" "$IP_B" "$PORT_B"
		;;
	node)
		if [ "$mode" = otel ]; then
			lab_start_cmd svb "$IP_B" "$PORT_B" "${pre[@]}" OTEL_SERVICE_NAME=chain-b \
				node --require "$OTEL_BOOT" "$NODE_CHAIN" "$IP_B" "$PORT_B" &&
				lab_start_cmd sva "$IP_A" "$PORT_A" "${pre[@]}" OTEL_SERVICE_NAME=chain-a \
					node --require "$OTEL_BOOT" "$NODE_CHAIN" "$IP_A" "$PORT_A" "$IP_B" "$PORT_B" 16
		else
			lab_start_cmd svb "$IP_B" "$PORT_B" node "$NODE_CHAIN" "$IP_B" "$PORT_B" &&
				lab_start_cmd sva "$IP_A" "$PORT_A" node "$NODE_CHAIN" "$IP_A" "$PORT_A" "$IP_B" "$PORT_B" 16
		fi
		;;
	go)
		lab_start_cmd svb "$IP_B" "$PORT_B" "$BENCH_BIN/chainsrv" -listen "$IP_B:$PORT_B" &&
			lab_start_cmd sva "$IP_A" "$PORT_A" "$BENCH_BIN/chainsrv" -listen "$IP_A:$PORT_A" \
				-upstream "http://$IP_B:$PORT_B/" -idle-per-host 64
		;;
	nginx)
		lab_start_nginx_tmpl "$NGINX_TMPL" svb "$IP_B" "$PORT_B" &&
			LAB_NGINX_UPSTREAM=$IP_B:$PORT_B lab_start_nginx_tmpl "$NGINX_TMPL" sva "$IP_A" "$PORT_A"
		;;
	esac
}

# stop_chain MODE: A, then B (otel: SIGINT, the bootstrap's flush-and-exit).
stop_chain() {
	local sig=TERM
	[ "$1" != otel ] || sig=INT
	bench_pod_stop sva "$sig" 12 && bench_pod_stop svb "$sig" 12
}

RECV_DIR=''
start_receiver() {
	RECV_DIR=$LAB_DIR/otlp.$1
	lab_start_cmd otlp "$IP_OTLP" "$PORT_OTLP" node "$LAB_REPO/tests/otlp/receiver.js" \
		--listen "$IP_OTLP:$PORT_OTLP" --out "$RECV_DIR"
}
stop_receiver() {
	bench_pod_stop otlp TERM 5
}

# Nothing of ours may trace the pods in (a) and otel (check_no_tracewire);
# at the start and end of every cell (check_foreign), another tracewire on the machine (other test
# runs) is noted, and one that selects everything (it would trace these pods)
# fails the run.
FOREIGN_SEEN=0
check_foreign() {
	local line seen=0
	while read -r line; do
		[ -n "$line" ] || continue
		case " $line " in
		*"$LAB_CG"*) fail "$CELL: another tracewire selects this run's pods: $line"; return 1 ;;
		*" --probe "* | *" --help "* | *" -h "* | *" --version "*) ;;
		*" --cgroup "* | *" -c "* | *" --pid "* | *" -p "* | *" --comm "* | *" -n "* | *" --cgroup="* | *" --pid="* | *" --comm="*)
			seen=1 ;;
		*)
			if [ "${CHAIN_FOREIGN_OK:-0}" = 1 ]; then
				echo "   note: a tracewire with no selector (it traces these pods too) is running: $line"
				seen=1
			else
				fail "$CELL: a tracewire with no selector (it traces every process, these pods too) is running: $line (CHAIN_FOREIGN_OK=1: note it and go on)"
				return 1
			fi
			;;
		esac
	done < <(bench_foreign_tracewire)
	FOREIGN_SEEN=$((FOREIGN_SEEN + seen))
}
check_no_tracewire() {
	[ -z "$BENCH_TW_PID" ] || { fail "$CELL: our tracewire (pid $BENCH_TW_PID) is running"; return 1; }
	[ ! -s "$CG_TW/cgroup.procs" ] || { fail "$CELL: processes left in $CG_TW: $(tr '\n' ' ' <"$CG_TW/cgroup.procs")"; return 1; }
}

# ---- one measurement cell ------------------------------------------------------------

declare -A M=()      # M[figure,variant/config/round]
declare -A RATE_OF=() # fixed rate per variant
CELL='' CELL_KEY='' CELL_REQS=0

run_cell() {
	local v=$1 cfg=$2 r=$3 kind=${CFG_KIND[$2]} mode=plain reqs cpu0 cpu1 tw0=0 tw1=0 rc0=0 rc1=0
	local spans lost exp prop
	CELL="$v/$cfg round $r" CELL_KEY=$v/$cfg/$r
	[ $(($(date +%s) - T0)) -lt "$MAX_SECS" ] || { fail "over MAX_SECS=$MAX_SECS s: stopping"; return 1; }
	lab_step "$CELL: ${CFG_TITLE[$cfg]}"
	check_foreign
	case $kind in
	none) check_no_tracewire ;;
	otel) check_no_tracewire; mode=otel; start_receiver "$v.$r" ;;
	tracewire)
		# word-split the arguments, but never glob them (--tc-iface p-*)
		set -f
		# shellcheck disable=SC2086
		TRACEWIRE=${CFG_BIN[$cfg]:-$TW_NOW} bench_tw_start "$CG_TW" --cgroup "$CG_A" --cgroup "$CG_B" ${CFG_ARGS[$cfg]}
		set +f
		;;
	esac
	start_chain "$v" "$mode"

	bench_wrk cli "$URL" "$WRK_THREADS" "$WRK_CONNS" "$WARM"
	reqs=$BENCH_WRK_REQS
	[ "$BENCH_WRK_BAD" = 0 ] || { fail "$CELL: warm-up: $BENCH_WRK_BAD bad answers"; cat "$BENCH_WRK_OUT" >&2; return 1; }
	bench_wrk cli "$URL" "$WRK_THREADS" "$WRK_CONNS" "$SAT"
	reqs=$((reqs + BENCH_WRK_REQS))
	[ "$BENCH_WRK_BAD" = 0 ] || { fail "$CELL: saturation: $BENCH_WRK_BAD bad answers"; cat "$BENCH_WRK_OUT" >&2; return 1; }
	M[sat,$CELL_KEY]=$BENCH_WRK_RPS
	if [ -z "${RATE_OF[$v]:-}" ]; then
		[ "$cfg" = a ] || { fail "internal: no rate for $v before (a)"; return 1; }
		RATE_OF[$v]=$(LC_ALL=C awk -v s="$BENCH_WRK_RPS" -v f="$RATE_FRAC" 'BEGIN { r = int(s * f / 10) * 10; print (r < 50 ? 50 : r) }')
	fi

	cpu0=$(($(bench_cg_usec "$CG_A") + $(bench_cg_usec "$CG_B")))
	[ "$kind" != tracewire ] || tw0=$(bench_cg_usec "$CG_TW")
	[ "$kind" != otel ] || rc0=$(bench_cg_usec "$(lab_cgroup otlp)")
	bench_loadgen cli "$URL" "${RATE_OF[$v]}" "$RATE" "$LG_CONNS" "$LG_WARM"
	cpu1=$(($(bench_cg_usec "$CG_A") + $(bench_cg_usec "$CG_B")))
	[ "$kind" != tracewire ] || tw1=$(bench_cg_usec "$CG_TW")
	[ "$kind" != otel ] || rc1=$(bench_cg_usec "$(lab_cgroup otlp)")
	local served=$((BENCH_LG[ok] + BENCH_LG[non2xx] + BENCH_LG[warmup_requests]))
	reqs=$((reqs + served + BENCH_LG[errors]))
	if [ "${BENCH_LG[non2xx]}" != 0 ] || [ "${BENCH_LG[errors]}" != 0 ] || [ "${BENCH_LG[unfinished]}" != 0 ]; then
		fail "$CELL: loadgen at ${RATE_OF[$v]}/s: non2xx=${BENCH_LG[non2xx]} errors=${BENCH_LG[errors]} unfinished=${BENCH_LG[unfinished]}"
		return 1
	fi
	M[p50,$CELL_KEY]=${BENCH_LG[p50_us]} M[p99,$CELL_KEY]=${BENCH_LG[p99_us]}
	M[ach,$CELL_KEY]=${BENCH_LG[achieved_rps]} M[ovf,$CELL_KEY]=${BENCH_LG[overflow]}
	M[cpu,$CELL_KEY]=$(bench_div $((cpu1 - cpu0 + tw1 - tw0)) "$served" %.2f)
	M[twcpu,$CELL_KEY]=$(bench_div $((tw1 - tw0)) "$served" %.2f)
	M[rcvcpu,$CELL_KEY]=$(bench_div $((rc1 - rc0)) "$served" %.2f)

	stop_chain "$mode"
	check_foreign
	[ "$kind" = tracewire ] || check_no_tracewire
	CELL_REQS=$reqs
	exp=$((3 * reqs)) # A server + A client + B server span per request
	case $kind in
	tracewire)
		bench_tw_stop
		prop=$(bench_tw_propagation "$BENCH_TW_LOG")
		[ "$prop" = "${CFG_PROP[$cfg]}" ] ||
			{ fail "$CELL: tracewire's exit stats say propagation $prop, expected ${CFG_PROP[$cfg]}"; return 1; }
		spans=$(bench_tw_counter spans)
		lost=$(bench_tw_counter lost_ringbuf_full)
		[ "$spans" -gt 0 ] || { fail "$CELL: tracewire assembled no span"; return 1; }
		M[spans,$CELL_KEY]=$(bench_div "$spans" "$exp" %.3f)
		M[lost,$CELL_KEY]=$lost
		M[krec,$CELL_KEY]=$(bench_div "$(bench_tw_counter records)" "$reqs" %.1f)
		M[evicted,$CELL_KEY]=$(bench_tw_counter evicted)
		M[unsynced,$CELL_KEY]=$(bench_tw_counter unsynced)
		if [ "${CFG_PROP[$cfg]}" = on ]; then
			M[failopen,$CELL_KEY]=$(bench_tw_counter fail_open)
			M[ctxlost,$CELL_KEY]=$(bench_tw_counter ctx_lost)
		fi
		if declare -F "check_cfg_$cfg" >/dev/null; then "check_cfg_$cfg"; fi
		cp "$BENCH_TW_LOG" "$LAB_DIR/tw.$v.$cfg.$r.log"
		;;
	otel)
		stop_receiver
		spans=$(wc -l <"$RECV_DIR/spans.jsonl" 2>/dev/null || echo 0)
		[ "$spans" -gt 0 ] || { fail "$CELL: the OTLP receiver got no span"; return 1; }
		M[spans,$CELL_KEY]=$(bench_div "$spans" "$exp" %.3f)
		rm -rf "$RECV_DIR/bodies" "$RECV_DIR/spans.jsonl"
		;;
	esac
	CELLS_DONE=$((CELLS_DONE + 1))
	printf '   sat %s req/s · rate %s/s: p50 %s µs p99 %s µs · CPU %s µs/req%s\n' \
		"${M[sat,$CELL_KEY]}" "${RATE_OF[$v]}" "${M[p50,$CELL_KEY]}" "${M[p99,$CELL_KEY]}" \
		"${M[cpu,$CELL_KEY]}" "${M[spans,$CELL_KEY]:+ · spans/expected ${M[spans,$CELL_KEY]}}"
}

# ---- the run ------------------------------------------------------------------------

MACHINE=$(bench_machine_md)
DATE=$(date -u +%Y-%m-%dT%H:%MZ)
# A bash expansion error aborts the whole loop below without tripping set -e:
# the report is written only when every cell has been measured.
CELLS_WANT=0 CELLS_DONE=0
for v in $VARIANTS; do
	for cfg in "${RUN_CFGS[@]}"; do
		[ -z "${CFG_ONLY[$cfg]}" ] || [[ " ${CFG_ONLY[$cfg]} " == *" $v "* ]] || continue
		CELLS_WANT=$((CELLS_WANT + ROUNDS))
	done
done
lab_step "chain bench: rounds=$ROUNDS variants=[$VARIANTS] configs=[${RUN_CFGS[*]}] sat=${SAT}s rate=${RATE}s"
for ((r = 1; r <= ROUNDS; r++)); do
	# shellcheck disable=SC2207
	order=($(bench_rotate $((r - 1)) "${RUN_CFGS[@]}"))
	for v in $VARIANTS; do
		for cfg in "${order[@]}"; do
			[ -z "${CFG_ONLY[$cfg]}" ] || [[ " ${CFG_ONLY[$cfg]} " == *" $v "* ]] || continue
			run_cell "$v" "$cfg" "$r"
		done
	done
done
ELAPSED=$(($(date +%s) - T0))
[ "$CELLS_DONE" = "$CELLS_WANT" ] || { fail "only $CELLS_DONE of $CELLS_WANT cells measured"; exit 1; }

# ---- the report ----------------------------------------------------------------------

# per_round FIGURE V CFG [OP]: the figure of each round, or (OP=ratio) its
# ratio to (a)'s of the same round, or (OP=minus) its difference from (a)'s.
per_round() {
	local fig=$1 v=$2 cfg=$3 op=${4:-} r x b
	for ((r = 1; r <= ROUNDS; r++)); do
		x=${M[$fig,$v/$cfg/$r]:-}
		[ -n "$x" ] || continue
		b=${M[$fig,$v/a/$r]:-}
		case $op in
		ratio) bench_div "$x" "$b" %.4f ;;
		minus) LC_ALL=C awk -v x="$x" -v b="$b" 'BEGIN { printf "%.4f\n", x - b }' ;;
		*) echo "$x" ;;
		esac
	done
}
# cell FMT VALUES...: "MED (MIN–MAX)" (just MED with one round), "—" for none.
cell() {
	local f=$1 med mn mx
	shift
	read -r med mn mx <<<"$(echo "$*" | bench_stats)" || true
	[ -n "${med:-}" ] || { echo "—"; return 0; }
	if [ "$ROUNDS" = 1 ]; then
		bench_fmt "$f" "$med"
	else
		echo "$(bench_fmt "$f" "$med") ($(bench_fmt "$f" "$mn")–$(bench_fmt "$f" "$mx"))"
	fi
}
has() { [ -n "${M[sat,$1/$2/1]:-}" ] || [ -n "${M[sat,$1/$2/$ROUNDS]:-}" ]; }
header() {
	local -a h=("variant")
	local c
	for c in "${RUN_CFGS[@]}"; do h+=("${CFG_TITLE[$c]}"); done
	bench_md_row "${h[@]}"
	bench_md_row $(for _ in "${h[@]}"; do printf -- '--- '; done)
}
table() { # table FIGURE FMT OP [EXTRA_FIG_FOR_COLUMN_A]
	local fig=$1 f=$2 op=$3 v c
	local -a row
	for v in $VARIANTS; do
		row=("$v")
		for c in "${RUN_CFGS[@]}"; do
			if ! has "$v" "$c"; then row+=("—"); continue; fi
			if [ "$c" = a ] && [ -n "$op" ]; then
				row+=("$(cell "$4" $(per_round "$fig" "$v" a))")
			else
				row+=("$(cell "$f" $(per_round "$fig" "$v" "$c" "$op"))$(near_sat "$fig" "$v" "$c")")
			fi
		done
		bench_md_row "${row[@]}"
	done
}
# near_sat FIGURE V CFG: " †" for a latency figure when the fixed rate is at
# least 70% of that configuration's own saturated throughput (median).
near_sat() {
	local sat
	case $1 in p50 | p99) ;; *) return 0 ;; esac
	read -r sat _ <<<"$(per_round sat "$2" "$3" | bench_stats)"
	LC_ALL=C awk -v r="${RATE_OF[$2]:-0}" -v s="${sat:-0}" 'BEGIN { if (s > 0 && r >= 0.7 * s) printf " †" }'
}
cpu_table() {
	local v c med
	local -a row
	for v in $VARIANTS; do
		row=("$v")
		for c in "${RUN_CFGS[@]}"; do
			if ! has "$v" "$c"; then row+=("—"); continue; fi
			if [ "$c" = a ]; then
				row+=("$(cell %.1f $(per_round cpu "$v" a)) total"); continue
			fi
			read -r med _ <<<"$(per_round cpu "$v" "$c" minus | bench_stats)"
			row+=("+$(cell %.2f $(per_round cpu "$v" "$c" minus)) · $(bench_fmt %.2f "$(bench_div "$med" 2 %.4f)")/hop")
		done
		bench_md_row "${row[@]}"
	done
}
gap_rows() {
	local v ratio cpu hop
	for v in $VARIANTS; do
		has "$v" c || continue
		read -r ratio _ <<<"$(per_round sat "$v" c ratio | bench_stats)"
		read -r cpu _ <<<"$(per_round cpu "$v" c minus | bench_stats)"
		hop=$(bench_div "$cpu" 2 %.3f)
		bench_md_row "$v" "$(bench_fmt %.2f "$ratio")" \
			"$(LC_ALL=C awk -v x="$ratio" 'BEGIN { d = x - 0.95; printf "%+.2f %s", d, (d >= 0 ? "met" : "missed") }')" \
			"$(bench_fmt %.2f "$hop")" \
			"$(LC_ALL=C awk -v x="$hop" 'BEGIN { d = x - 2; printf "%+.2f %s", d, (d <= 0 ? "met" : "missed") }')"
	done
}
check_rows() {
	local v c r
	for v in $VARIANTS; do
		for c in "${RUN_CFGS[@]}"; do
			if [ "$c" = a ] || ! has "$v" "$c"; then continue; fi
			local sp="" lo="" inj="" ev="" fo="" ach="" twc="" rcv="" kr=""
			for ((r = 1; r <= ROUNDS; r++)); do
				local k=$v/$c/$r
				[ -n "${M[sat,$k]:-}" ] || continue
				sp+="${M[spans,$k]:-} " lo+="${M[lost,$k]:-} " inj+="${M[inj,$k]:-} "
				ev+="${M[evicted,$k]:-}/${M[unsynced,$k]:-} " fo+="${M[failopen,$k]:-}/${M[ctxlost,$k]:-} "
				ach+="${M[ach,$k]}/${M[ovf,$k]} " twc+="${M[twcpu,$k]:-} " rcv+="${M[rcvcpu,$k]:-} "
				kr+="${M[krec,$k]:-} "
			done
			if [ "${CFG_KIND[$c]}" = otel ]; then
				bench_md_row "$v" "${CFG_TITLE[$c]}" "${sp% }" "—" "—" "—" "—" "—" "receiver ${rcv% }" "${ach% }"
			else
				bench_md_row "$v" "${CFG_TITLE[$c]}" "${sp% }" "${kr% }" "${lo% }" "${ev% }" \
					"$([ "${CFG_PROP[$c]}" = on ] && echo "${inj% }" || echo —)" \
					"$([ "${CFG_PROP[$c]}" = on ] && echo "${fo% }" || echo —)" "${twc% }" "${ach% }"
			fi
		done
	done
}
rates=$(for v in $VARIANTS; do printf '%s %s/s · ' "$v" "${RATE_OF[$v]:-?}"; done)
rates=${rates% · }
tmp=$OUT.tmp
mkdir -p "$(dirname "$OUT")"
{
	echo "# Request overhead: two-hop chain (client pod → A → B), tracewire vs none vs OpenTelemetry JS"
	echo
	echo "$DATE · \`$CMDLINE\` · $ROUNDS round(s), configurations interleaved (order rotated each round) · ${ELAPSED} s"
	echo
	echo "Phases per cell: wrk warm-up ${WARM} s, wrk at saturation ${SAT} s, loadgen at the fixed rate ${RATE} s (+${LG_WARM} s warm-up);"
	echo "WRK_THREADS=$WRK_THREADS WRK_CONNS=$WRK_CONNS LG_CONNS=$LG_CONNS RATE_FRAC=$RATE_FRAC."
	echo
	echo "$MACHINE"
	[ "$FOREIGN_SEEN" = 0 ] ||
		echo "- note: other tracewire processes (other runs, selecting other processes) were seen at $FOREIGN_SEEN of $((2 * CELLS_DONE)) cell starts/ends: their tracepoints also fire on these pods' syscalls (unselected path)"
	echo
	echo "Cells: median over the rounds, (min–max) when there are several. Variants: python = chain_mid.py → python_server.py;"
	echo "node = node_chain.js (keep-alive Agent, 16 sockets) → node_chain.js; go = chainsrv (net/http, DefaultTransport clone,"
	echo "64 idle conns/host) → chainsrv; nginx = nginx proxy_pass (upstream keepalive 32, 1 worker) → nginx return 200 (1 worker)."
	cfgline="Configurations: (a) no tracewire"
	for c in b c t i g; do
		cfgline+="; ($c) \`tracewire --cgroup A --cgroup B ${CFG_ARGS[$c]}\`"
	done
	echo "$cfgline;"
	echo "OTel JS agent: node chain under \`node --require bench/otel-node/bootstrap.js\` (sdk-node 0.223.0, auto-instrumentations-node 0.81.2,"
	echo "exporter-trace-otlp-proto 0.223.0, batch span processor defaults) exporting to tests/otlp/receiver.js in a pod of its own, no tracewire."
	echo "The receiver decodes every span and writes it as JSON on the same CPUs (its CPU per request is in the checks table): at"
	echo "saturation it competes with the chain, as tracewire's own exporting would (here \`--exporter none\`) and a real collector elsewhere would not."
	echo "The load client pod is not selected. Fresh service processes for every cell."
	echo
	echo "## Throughput at saturation (wrk -t$WRK_THREADS -c$WRK_CONNS -d${SAT}s), ratio to (a) of the same round"
	echo
	header
	table sat %.3f ratio %.0f
	echo
	echo "(a): req/s."
	echo
	echo "## Latency at a fixed rate (loadgen, open loop, $LG_CONNS connections, ${RATE}s): p50, µs"
	echo
	echo "Rate: $(awk -v f="$RATE_FRAC" 'BEGIN { printf "%d%%", f * 100 }') of round 1's (a) throughput: $rates."
	echo
	header
	table p50 %.0f ""
	echo
	echo "## Latency at the fixed rate: p99, µs"
	echo
	header
	table p99 %.0f ""
	echo
	echo "†: the fixed rate is at least 70% of this configuration's own saturated throughput (queueing dominates)."
	echo
	echo "## CPU per request at the fixed rate, µs (A and B pods' cgroups + tracewire's own cgroup)"
	echo
	echo "(a): total µs per request; others: added µs per request over (a) of the same round, and per hop (÷ 2)."
	echo "CPU = cpu.stat usage_usec deltas over the fixed-rate phase (with its 0.5 s warm-up) of the A and B pod cgroups and of the"
	echo "cgroup tracewire runs in (utime+stime of all its threads, µs resolution), over the requests answered in that phase."
	echo "OTel JS: the agent's cost inside A and B; the receiver's CPU is not included (see the checks table)."
	echo
	header
	cpu_table
	echo
	echo "## Targets (issue 5) and gap, configuration (c)"
	echo
	bench_md_row variant "throughput (c)/(a)" "gap to ≥ 0.95" "added CPU per hop, µs" "gap to ≤ 2 µs"
	bench_md_row --- --- --- --- ---
	gap_rows
	echo
	echo "## Checks per round (space-separated: round 1, 2, ...)"
	echo
	echo "spans/expected: spans assembled by tracewire (exit counter \`spans\`) or received by the OTLP receiver, over 3 per request sent"
	echo "(A server + A client + B server; warm-up, wrk and loadgen requests, wrk's in-flight ones at its end not counted);"
	echo "records/req: kernel records (exit counter \`records\`: ring-buffer events) per request; lost: \`lost_ringbuf_full\`; evicted/unsynced: correlator counters; injected/req: \`injected\` over requests;"
	echo "fail_open/ctx_lost: propagation counters; own CPU: tracewire's (or the receiver's) µs per request at the fixed rate;"
	echo "achieved/overflow: loadgen's achieved req/s and requests it could not send (all connections busy, queue full)."
	echo
	bench_md_row variant configuration spans/expected "records/req" lost evicted/unsynced injected/req fail_open/ctx_lost "own CPU µs/req" achieved/overflow
	bench_md_row --- --- --- --- --- --- --- --- --- ---
	check_rows
} >"$tmp"
mv -f "$tmp" "$OUT"
lab_step "wrote $OUT (${ELAPSED}s of measurements)"
cat "$OUT"
