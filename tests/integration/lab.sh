# shellcheck shell=bash disable=SC2015,SC2016,SC2034
# (SC2015: 'a && b || fail' chains are meant; SC2016: scripts for sh -c;
#  SC2034: globals are for the tests that source this)
# tracewire integration-test lab: "pods" (network namespaces on a bridge in a
# "node" namespace, each with its own cgroup v2 directory), real servers in
# them, tracewire in the root namespace as a node agent, and assertions.
#
# Source it from a test (bash, `set -euo pipefail` recommended):
#
#   . "$(dirname "$0")/lab.sh"
#   lab_init                                  # temp dir, cgroup parent, traps
#   lab_pod srv 198.18.0.10/24                # netns + veth to the bridge + cgroup
#   lab_pod cli 198.18.0.20/24
#   lab_start_server python srv "$(lab_ip srv)" 8080; srv_pid=$LAB_LAST_PID
#   tw_start --cgroup "$(lab_cgroup srv)" --cgroup "$(lab_cgroup cli)"
#   lab_exec_in_pod cli curl -s "http://$(lab_ip srv):8080/"
#   tw_wait_spans --kind server --pid "$srv_pid" 1 20
#   tw_stop
#   tw_spans check-requests --kind server --pid "$srv_pid" --expect 1 --status 200
#
# Contract (everything else here is internal and named lab__*):
#   lab_init                 LAB_PREFIX (default tw$$; run.sh passes one), LAB_DIR
#                            (temp dir), LAB_CG (cgroup parent of this run); installs
#                            an EXIT trap (INT/TERM/HUP exit, which runs it) that
#                            calls lab_cleanup and keeps the exit status. LAB_DIR is
#                            removed on success, kept (and named) on failure or when
#                            LAB_KEEP=1.
#   lab_node                 the node namespace "$LAB_PREFIX-node" with bridge br0
#                            (lab_pod calls it when needed)
#   lab_pod NAME ADDR4[/LEN] [ADDR6[/LEN]]
#                            namespace "$LAB_PREFIX-NAME": lo up, eth0 (veth to br0)
#                            with ADDR4 (must be in 198.18.0.0/15, default /24) and
#                            ADDR6 (must be in fd00::/8, default fd00::C:D/64 or
#                            fd00::D/64 for ADDR4 A.B.C.D), no IPv6 link-local/DAD; cgroup
#                            "$LAB_CG/NAME". NAME: [a-z][a-z0-9]{0,9}
#   lab_pod_container NAME SUBPATH   kubelet-style: the pod's processes go to the
#                            cgroup "$LAB_CG/NAME/SUBPATH" (e.g. kubepods/burstable/
#                            pod<uid>/cri-containerd-<64 hex>.scope), made here
#   lab_ns / lab_ip / lab_ip6 / lab_cgroup NAME    print the pod's netns, IPv4,
#                            IPv6 (no /LEN), cgroup directory
#   lab_pod_pids NAME        pids now in the pod's cgroup, one a line
#   lab_run_in_pod NAME CMD...   background; the process is put into the pod's
#                            cgroup before `ip netns exec`, so CMD keeps its pid:
#                            LAB_LAST_PID is CMD's pid, LAB_LAST_LOG its stdout+stderr
#   lab_exec_in_pod NAME CMD...  the same in the foreground, bounded by
#                            LAB_EXEC_TIMEOUT seconds (default 120; then killed,
#                            status 124); returns CMD's status; sets LAB_LAST_PID,
#                            LAB_LAST_OUT (stdout file) and LAB_LAST_ERR (stderr file)
#   lab_wait_pid PID TIMEOUT wait for a background child of this shell: its exit
#                            status, or 124 when it outlived TIMEOUT s (then killed)
#   lab_wait_port NAME ADDR PORT TIMEOUT [PID]   poll a TCP connect from pod NAME
#                            (no HTTP request is sent) until it succeeds; fails at
#                            the deadline or as soon as PID (if given) has exited
#   lab_build_go_server      build/testbin/go_server, once, offline
#   lab_start_server KIND POD ADDR PORT   KIND python|node|go|nginx; waits (20 s)
#                            until it listens; LAB_LAST_PID = its pid (nginx: the
#                            master; its worker is in lab_pod_pids). nginx's /proxy/
#                            goes to LAB_NGINX_UPSTREAM (host:port, default
#                            127.0.0.1:9 in the pod) with LAB_NGINX_WORKERS workers (1)
#   lab_start_nginx_tmpl TMPL POD ADDR PORT   nginx from another template (a file
#                            under servers/ with nginx.conf.tmpl's placeholders; same
#                            LAB_NGINX_UPSTREAM/LAB_NGINX_WORKERS); waits like
#                            lab_start_server; LAB_LAST_PID = the master
#   lab_start_cmd POD ADDR PORT CMD...   any server command (e.g. "$LAB_PY"
#                            "$LAB_SERVERS/chain_mid.py" ...) run in POD; waits
#                            (20 s) until ADDR:PORT accepts; LAB_LAST_PID = its pid
#   lab_chain N              a four-tier call chain in fresh pods cN pN mN lN
#                            (198.18.N.20/.10/.11/.12, N 1..254): curl client pod,
#                            nginx /proxy/ (1 worker, keep-alive upstream) -> python
#                            servers/chain_mid.py (one GET / to the leaf per request,
#                            keep-alive per thread) -> node servers/node_server.js;
#                            sets LAB_CHAIN_CLI (client pod), LAB_CHAIN_URL (ends in
#                            /proxy/chain; append /ANYTHING), LAB_CHAIN_PX/MID/LEAF
#                            (comma-separated pids of each tier's pod, for spans.py
#                            check-chain --tier), LAB_CHAIN_CG (--cgroup args, all 4)
#   lab_curl_many POD COUNT PARALLEL URL...   one curl process sends COUNT requests
#                            (URLs used round-robin) over keep-alive connections,
#                            PARALLEL at a time; fails unless every one got an HTTP
#                            response (with LAB_EXPECT_CODE=N set: status N);
#                            LAB_LAST_PID is curl's pid, LAB_CONNECTS the number of
#                            connections it opened
#   lab_step MSG             a "== MSG" progress line with elapsed seconds
#   lab_cleanup              idempotent; kills everything in the run's cgroups,
#                            removes them, deletes the run's namespaces (with their
#                            veths and bridge), stops tracewire
#   lab_sweep PREFIX         remove what a (killed) run with PREFIX left; prints
#                            each thing removed; status 1 if anything was left
# tracewire:
#   tw_start ARGS...         $TRACEWIRE (default build/tracewire) --exporter none
#                            --jsonl $TW_JSONL ARGS..., stderr in $TW_LOG, stdout in
#                            $LAB_DIR/tracewire.out (TW_STDOUT=- keeps the caller's);
#                            waits 30 s for "tracewire: info: ready"; TW_PID.
#                            Each start gets a fresh TW_JSONL/TW_LOG (spans.jsonl,
#                            spans.2.jsonl, ...)
#   tw_stop                  SIGTERM, waits 15 s, fails unless exit status 0
#   tw_wait_spans FILTER... COUNT TIMEOUT   poll until spans.py count >= COUNT
#   tw_spans SUBCOMMAND ARGS...   spans.py SUBCOMMAND $TW_JSONL ARGS...
#   tw_count FILTER...       print the count of matching spans in $TW_JSONL
# assertions (print "FAIL: ..." and return 1; under set -e the test ends there):
#   fail MSG | assert_eq EXPECTED ACTUAL MSG | assert_ne A B MSG |
#   assert_ge / assert_le / assert_gt / assert_lt A B MSG (integers: A op B) |
#   assert_match STRING ERE MSG | assert_file_contains FILE ERE MSG |
#   assert_file_lacks FILE ERE MSG | assert_exit CODE MSG CMD... (runs CMD in the
#   root namespace; its stdout/stderr in LAB_LAST_OUT/LAB_LAST_ERR)

LAB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_PY=/usr/bin/python3
LAB_SPANS_PY=$LAB_REPO/tests/integration/spans.py
LAB_SERVERS=$LAB_REPO/tests/integration/servers
LAB_TESTBIN=$LAB_REPO/build/testbin
TRACEWIRE=${TRACEWIRE:-$LAB_REPO/build/tracewire}

LAB_PREFIX=${LAB_PREFIX:-}
LAB_DIR=
LAB_CG2=
LAB_CG=
LAB_NODE_NS=
LAB_NETNS=()
LAB_PIDS=()
LAB_NPROC=0
LAB_CLEANED=0
LAB_T0=
LAB_LAST_PID=
LAB_LAST_LOG=
LAB_LAST_OUT=
LAB_LAST_ERR=
LAB_CONNECTS=
LAB_CHAIN_CLI=
LAB_CHAIN_URL=
LAB_CHAIN_PX=
LAB_CHAIN_MID=
LAB_CHAIN_LEAF=
LAB_CHAIN_CG=()
declare -A LAB_POD_NS=() LAB_POD_IP4=() LAB_POD_IP6=() LAB_POD_CG=() LAB_LOG_OF=()
TW_PID=
TW_RUNS=0
TW_JSONL=
TW_LOG=
TW_EXIT=

lab__say() { printf 'lab: %s\n' "$*" >&2; }

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	return 1
}

# ---- assertions -------------------------------------------------------------

assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-values differ}: expected '$1', got '$2'"
}
assert_ne() {
	[ "$1" != "$2" ] || fail "${3:-values equal}: both are '$1'"
}
lab__int() {
	[[ $1 =~ ^-?[0-9]+$ ]] || fail "${2:-assertion}: '$1' is not an integer"
}
assert_ge() { lab__int "$1" "$3" && lab__int "$2" "$3" && { [ "$1" -ge "$2" ] || fail "${3:-}: expected $1 >= $2"; }; }
assert_le() { lab__int "$1" "$3" && lab__int "$2" "$3" && { [ "$1" -le "$2" ] || fail "${3:-}: expected $1 <= $2"; }; }
assert_gt() { lab__int "$1" "$3" && lab__int "$2" "$3" && { [ "$1" -gt "$2" ] || fail "${3:-}: expected $1 > $2"; }; }
assert_lt() { lab__int "$1" "$3" && lab__int "$2" "$3" && { [ "$1" -lt "$2" ] || fail "${3:-}: expected $1 < $2"; }; }
assert_match() {
	[[ $1 =~ $2 ]] || fail "${3:-no match}: '$1' does not match /$2/"
}
assert_file_contains() {
	grep -Eq -- "$2" "$1" 2>/dev/null || {
		fail "${3:-missing text}: $1 has no line matching /$2/"
		lab__show_file "$1"
		return 1
	}
}
assert_file_lacks() {
	if grep -Eq -- "$2" "$1" 2>/dev/null; then
		fail "${3:-unexpected text}: $1 has a line matching /$2/:"
		grep -E -m 5 -- "$2" "$1" | sed 's/^/    /' >&2
		return 1
	fi
}
# assert_exit CODE MSG CMD...: CMD (root namespace, stdin /dev/null, bounded by
# LAB_EXEC_TIMEOUT) must exit with CODE.
assert_exit() {
	local want=$1 msg=$2 rc=0
	shift 2
	LAB_NPROC=$((LAB_NPROC + 1))
	LAB_LAST_OUT=$LAB_DIR/cmd.$LAB_NPROC.out
	LAB_LAST_ERR=$LAB_DIR/cmd.$LAB_NPROC.err
	"$@" >"$LAB_LAST_OUT" 2>"$LAB_LAST_ERR" </dev/null &
	lab_wait_pid $! "${LAB_EXEC_TIMEOUT:-120}" || rc=$?
	if [ "$rc" != "$want" ]; then
		fail "$msg: '$*' exited $rc, expected $want"
		lab__show_file "$LAB_LAST_OUT" "stdout"
		lab__show_file "$LAB_LAST_ERR" "stderr"
		return 1
	fi
}

lab__show_file() {
	local f=$1 what=${2:-$1}
	if [ -s "$f" ]; then
		printf -- '---- %s (last 40 lines) ----\n' "$what" >&2
		tail -n 40 "$f" >&2
		printf -- '----\n' >&2
	else
		printf -- '---- %s: empty ----\n' "$what" >&2
	fi
}

lab_step() {
	local now
	now=$(date +%s.%N)
	printf '== [%6.2fs] %s\n' "$(echo "$now - ${LAB_T0:-$now}" | LC_ALL=C awk '{ print $1 - $3 }')" "$*"
}

# ---- processes -------------------------------------------------------------

# Alive and not a zombie.
lab__alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "${st%% *}" != Z ]
}

# lab_wait_pid PID TIMEOUT: wait for a child of this shell; its exit status,
# or 124 after TERM (then KILL) when it outlived TIMEOUT seconds. Polls:
# bash's `wait -n` can miss a child that exited before it was called.
lab_wait_pid() {
	local pid=$1 deadline delay=0.01 rc=0
	deadline=$(($(date +%s%N) + $2 * 1000000000))
	while lab__alive "$pid"; do
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			lab__kill_pid "$pid" 5 || true
			wait "$pid" 2>/dev/null || true
			return 124
		fi
		sleep "$delay"
		case $delay in 0.01) delay=0.02 ;; 0.02) delay=0.05 ;; *) delay=0.1 ;; esac
	done
	wait "$pid" || rc=$?
	return "$rc"
}

# lab__kill_pid PID GRACE: TERM, then KILL after GRACE seconds.
lab__kill_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < $2 * 20; i++)); do
		lab__alive "$pid" || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 40; i++)); do
		lab__alive "$pid" || return 0
		sleep 0.05
	done
	lab__say "pid $pid survived SIGKILL"
	return 1
}

# ---- set-up ------------------------------------------------------------------

lab__cgroup2_mount() {
	local mnt type first=
	while read -r _ mnt type _; do
		[ "$type" = cgroup2 ] || continue
		if [ "$mnt" = /sys/fs/cgroup ]; then
			echo "$mnt"
			return 0
		fi
		[ -n "$first" ] || first=$mnt
	done </proc/self/mounts
	[ -n "$first" ] || return 1
	echo "$first"
}

lab_init() {
	[ "$(id -u)" = 0 ] || { fail "integration tests need root (network namespaces, cgroups, BPF)"; exit 1; }
	local c
	for c in ip curl "$LAB_PY" sed awk grep; do
		command -v "$c" >/dev/null || { fail "'$c' not found: run scripts/install-deps.sh"; exit 1; }
	done
	LAB_PREFIX=${LAB_PREFIX:-tw$$}
	[[ $LAB_PREFIX =~ ^[A-Za-z0-9]{1,24}$ ]] || { fail "LAB_PREFIX '$LAB_PREFIX': letters and digits only"; exit 1; }
	LAB_CG2=$(lab__cgroup2_mount) || { fail "no cgroup2 mount: run scripts/install-deps.sh"; exit 1; }
	# The prefix holds the pid of a live shell (this one or run.sh), so anything
	# already named with it was left by a dead run that had the same pid.
	lab_sweep "$LAB_PREFIX" >/dev/null 2>&1 || true
	LAB_T0=$(date +%s.%N)
	trap lab__on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	LAB_DIR=$(mktemp -d "/tmp/tracewire-lab.$LAB_PREFIX.XXXXXX")
	LAB_CG=$LAB_CG2/tracewire-lab.$LAB_PREFIX
	mkdir "$LAB_CG" || { fail "cannot create cgroup $LAB_CG"; exit 1; }
}

lab__on_exit() {
	local rc=$?
	set +e
	trap - EXIT
	trap "" INT TERM HUP
	lab_cleanup
	if [ "$rc" != 0 ]; then
		lab__say "exit status $rc; logs kept in $LAB_DIR"
	elif [ "${LAB_KEEP:-0}" = 1 ]; then
		lab__say "logs kept in $LAB_DIR"
	elif [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ]; then
		rm -rf -- "$LAB_DIR"
	fi
	exit "$rc"
}

lab_node() {
	[ -n "$LAB_NODE_NS" ] && return 0
	[ -n "$LAB_DIR" ] || { fail "lab_node: call lab_init first"; return 1; }
	local ns=$LAB_PREFIX-node
	ip netns add "$ns" || { fail "ip netns add $ns failed"; return 1; }
	LAB_NETNS+=("$ns")
	lab__nsctl "$ns" &&
		ip -n "$ns" link set lo up &&
		ip -n "$ns" link add br0 type bridge mcast_snooping 0 &&
		ip -n "$ns" link set br0 up ||
		{ fail "setting up the node namespace $ns failed"; return 1; }
	LAB_NODE_NS=$ns
}

# No IPv6 link-local addresses and no DAD in lab namespaces: only the
# addresses the test gives are used, and they are usable at once.
lab__nsctl() {
	ip netns exec "$1" sh -c '
		for k in all default; do
			echo 1 > /proc/sys/net/ipv6/conf/$k/addr_gen_mode
			echo 0 > /proc/sys/net/ipv6/conf/$k/accept_dad
			echo 0 > /proc/sys/net/ipv6/conf/$k/accept_ra
		done' 2>/dev/null || true
}

lab__check_ip4() {
	local a=${1%/*} o1 o2 o3 o4
	IFS=. read -r o1 o2 o3 o4 <<<"$a"
	[[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/[0-9]+)?$ ]] && [ "$o1" = 198 ] &&
		{ [ "$o2" = 18 ] || [ "$o2" = 19 ]; } && [ "$o3" -le 255 ] && [ "$o4" -le 255 ]
}

lab_pod() {
	local name=$1 a4=${2:-} a6=${3:-} ns cg o1 o2 o3 o4
	[[ $name =~ ^[a-z][a-z0-9]{0,9}$ ]] || { fail "lab_pod: bad pod name '$name' ([a-z][a-z0-9]{0,9})"; return 1; }
	[ -z "${LAB_POD_NS[$name]:-}" ] || { fail "lab_pod: pod '$name' exists"; return 1; }
	lab__check_ip4 "$a4" || { fail "lab_pod $name: '$a4' is not an address in 198.18.0.0/15"; return 1; }
	[[ $a4 == */* ]] || a4=$a4/24
	IFS=. read -r o1 o2 o3 o4 <<<"${a4%/*}"
	if [ -z "$a6" ]; then
		if [ "$o3" = 0 ]; then a6=fd00::$o4/64; else a6=fd00::$o3:$o4/64; fi
	fi
	[[ $a6 == */* ]] || a6=$a6/64
	[[ ${a6,,} =~ ^fd[0-9a-f]{2}: ]] || { fail "lab_pod $name: '$a6' is not in fd00::/8"; return 1; }
	lab_node || return 1
	ns=$LAB_PREFIX-$name
	cg=$LAB_CG/$name
	ip netns add "$ns" || { fail "ip netns add $ns failed"; return 1; }
	LAB_NETNS+=("$ns")
	lab__nsctl "$ns"
	mkdir "$cg" || { fail "cannot create cgroup $cg"; return 1; }
	ip -n "$LAB_NODE_NS" link add "p-$name" type veth peer name eth0 netns "$ns" &&
		ip -n "$LAB_NODE_NS" link set "p-$name" master br0 up &&
		ip -n "$ns" link set lo up &&
		ip -n "$ns" addr add "$a4" dev eth0 &&
		ip -n "$ns" addr add "$a6" dev eth0 nodad &&
		ip -n "$ns" link set eth0 up ||
		{ fail "setting up pod $name ($ns) failed"; return 1; }
	LAB_POD_NS[$name]=$ns
	LAB_POD_IP4[$name]=${a4%/*}
	# canonical text, as tracewire prints it
	LAB_POD_IP6[$name]=$("$LAB_PY" -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1]))' "${a6%/*}")
	LAB_POD_CG[$name]=$cg
}

lab__pod() {
	[ -n "${LAB_POD_NS[$1]:-}" ] || { fail "no pod named '$1'"; return 1; }
}
lab_pod_container() {
	lab__pod "$1" || return 1
	mkdir -p "$LAB_CG/$1/$2" || { fail "cannot create cgroup $LAB_CG/$1/$2"; return 1; }
	LAB_POD_CG[$1]=$LAB_CG/$1/$2
}
lab_ns() { lab__pod "$1" && echo "${LAB_POD_NS[$1]}"; }
lab_ip() { lab__pod "$1" && echo "${LAB_POD_IP4[$1]}"; }
lab_ip6() { lab__pod "$1" && echo "${LAB_POD_IP6[$1]}"; }
lab_cgroup() { lab__pod "$1" && echo "${LAB_POD_CG[$1]}"; }
lab_pod_pids() { lab__pod "$1" && cat "${LAB_POD_CG[$1]}/cgroup.procs"; }

# The process joins the cgroup first (ip netns exec remounts /sys, hiding the
# cgroup2 mount), then exec: ip netns exec execs CMD, so the pid stays CMD's.
# shellcheck disable=SC2016
LAB__ENTER='echo $$ > "$1/cgroup.procs" || exit 126; ns=$2; shift 2; exec ip netns exec "$ns" "$@"'

lab_run_in_pod() {
	local name=$1
	shift
	lab__pod "$name" || return 1
	LAB_NPROC=$((LAB_NPROC + 1))
	LAB_LAST_LOG=$LAB_DIR/$name.$LAB_NPROC.log
	sh -c "$LAB__ENTER" lab-run "${LAB_POD_CG[$name]}" "${LAB_POD_NS[$name]}" "$@" \
		>"$LAB_LAST_LOG" 2>&1 </dev/null &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
	LAB_LOG_OF[$LAB_LAST_PID]=$LAB_LAST_LOG
}

lab_exec_in_pod() {
	local name=$1 rc=0
	shift
	lab__pod "$name" || return 1
	LAB_NPROC=$((LAB_NPROC + 1))
	LAB_LAST_OUT=$LAB_DIR/$name.exec.$LAB_NPROC.out
	LAB_LAST_ERR=$LAB_DIR/$name.exec.$LAB_NPROC.err
	sh -c "$LAB__ENTER" lab-exec "${LAB_POD_CG[$name]}" "${LAB_POD_NS[$name]}" "$@" \
		>"$LAB_LAST_OUT" 2>"$LAB_LAST_ERR" </dev/null &
	LAB_LAST_PID=$!
	lab_wait_pid "$LAB_LAST_PID" "${LAB_EXEC_TIMEOUT:-120}" || rc=$?
	[ "$rc" != 124 ] || lab__say "pod $name: '$*' timed out after ${LAB_EXEC_TIMEOUT:-120}s"
	return "$rc"
}

lab_wait_port() {
	local name=$1 addr=$2 port=$3 t=$4 pid=${5:-} deadline
	lab__pod "$name" || return 1
	deadline=$(($(date +%s%N) + t * 1000000000))
	while :; do
		if timeout 2 ip netns exec "${LAB_POD_NS[$name]}" \
			bash -c 'exec 3<>"/dev/tcp/$1/$2"' lab-wait "$addr" "$port" 2>/dev/null; then
			return 0
		fi
		if [ -n "$pid" ] && ! lab__alive "$pid"; then
			fail "pid $pid exited before $addr port $port answered in pod $name"
			lab__show_file "${LAB_LOG_OF[$pid]:-/dev/null}" "its output"
			return 1
		fi
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			fail "nothing answered on $addr port $port in pod $name within ${t}s"
			[ -z "$pid" ] || lab__show_file "${LAB_LOG_OF[$pid]:-/dev/null}" "pid $pid output"
			return 1
		fi
		sleep 0.05
	done
}

# ---- servers ----------------------------------------------------------------

lab_build_go_server() {
	local src=$LAB_SERVERS/go_server.go bin=$LAB_TESTBIN/go_server
	[ -x "$bin" ] && [ "$bin" -nt "$src" ] && return 0
	command -v go >/dev/null || { fail "go not found: run scripts/install-deps.sh"; return 1; }
	mkdir -p "$LAB_TESTBIN"
	if ! GOCACHE=$LAB_REPO/build/gocache GOPATH=$LAB_REPO/build/gopath GO111MODULE=off \
		GOPROXY=off GOFLAGS='' GOENV=off GOTOOLCHAIN=local CGO_ENABLED=0 go build -o "$bin.tmp.$$" "$src"; then
		rm -f "$bin.tmp.$$"
		fail "building $src failed"
		return 1
	fi
	mv -f "$bin.tmp.$$" "$bin"
}

lab__nginx_conf() {
	local dir=$1 addr=$2 port=$3 listen
	mkdir -p "$dir"
	if [[ $addr == *:* ]]; then listen="listen [$addr]:$port;"; else listen="listen $addr:$port;"; fi
	sed -e "s|@DIR@|$dir|g" -e "s|@LISTEN@|$listen|" \
		-e "s|@UPSTREAM@|${LAB_NGINX_UPSTREAM:-127.0.0.1:9}|" \
		-e "s|@WORKERS@|${LAB_NGINX_WORKERS:-1}|" \
		"$LAB_SERVERS/nginx.conf.tmpl" >"$dir/nginx.conf"
	head -c 204800 /dev/zero | tr '\0' 'x' >"$dir/big.bin"
}

lab_start_server() {
	local kind=$1 pod=$2 addr=$3 port=$4 dir
	case $kind in
	python) lab_run_in_pod "$pod" "$LAB_PY" "$LAB_SERVERS/python_server.py" "$addr" "$port" ;;
	node) lab_run_in_pod "$pod" node "$LAB_SERVERS/node_server.js" "$addr" "$port" ;;
	go)
		lab_build_go_server || return 1
		lab_run_in_pod "$pod" "$LAB_TESTBIN/go_server" "$addr" "$port"
		;;
	nginx)
		dir=$LAB_DIR/nginx-$pod-$port
		lab__nginx_conf "$dir" "$addr" "$port"
		lab_run_in_pod "$pod" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
		;;
	*) fail "lab_start_server: unknown kind '$kind' (python, node, go, nginx)"; return 1 ;;
	esac || return 1
	lab_wait_port "$pod" "$addr" "$port" 20 "$LAB_LAST_PID"
}

# lab_start_nginx_tmpl TMPL POD ADDR PORT: see the contract above.
lab_start_nginx_tmpl() {
	local tmpl=$1 pod=$2 addr=$3 port=$4 dir listen
	[ -f "$tmpl" ] || { fail "lab_start_nginx_tmpl: no template $tmpl"; return 1; }
	dir=$LAB_DIR/nginx-$pod-$port
	mkdir -p "$dir"
	if [[ $addr == *:* ]]; then listen="listen [$addr]:$port;"; else listen="listen $addr:$port;"; fi
	sed -e "s|@DIR@|$dir|g" -e "s|@LISTEN@|$listen|" \
		-e "s|@UPSTREAM@|${LAB_NGINX_UPSTREAM:-127.0.0.1:9}|" \
		-e "s|@WORKERS@|${LAB_NGINX_WORKERS:-1}|" \
		"$tmpl" >"$dir/nginx.conf" || { fail "lab_start_nginx_tmpl: writing $dir/nginx.conf failed"; return 1; }
	lab_run_in_pod "$pod" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" || return 1
	lab_wait_port "$pod" "$addr" "$port" 20 "$LAB_LAST_PID"
}

# lab_start_cmd POD ADDR PORT CMD...
lab_start_cmd() {
	local pod=$1 addr=$2 port=$3
	shift 3
	[ $# -gt 0 ] || { fail "lab_start_cmd: no command"; return 1; }
	lab_run_in_pod "$pod" "$@" || return 1
	lab_wait_port "$pod" "$addr" "$port" 20 "$LAB_LAST_PID"
}

# lab_chain N: see the contract above.
lab_chain() {
	local n=$1 cli=c$1 px=p$1 mid=m$1 leaf=l$1 p
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 254 ] || { fail "lab_chain: bad N '$n'"; return 1; }
	lab_pod "$cli" "198.18.$n.20/24" &&
		lab_pod "$px" "198.18.$n.10/24" &&
		lab_pod "$mid" "198.18.$n.11/24" &&
		lab_pod "$leaf" "198.18.$n.12/24" || return 1
	lab_start_server node "$leaf" "198.18.$n.12" 8082 || return 1
	lab_start_cmd "$mid" "198.18.$n.11" 8081 \
		"$LAB_PY" "$LAB_SERVERS/chain_mid.py" "198.18.$n.11" 8081 "198.18.$n.12" 8082 || return 1
	LAB_NGINX_UPSTREAM=198.18.$n.11:8081 lab_start_server nginx "$px" "198.18.$n.10" 8080 || return 1
	LAB_CHAIN_CLI=$cli
	LAB_CHAIN_URL=http://198.18.$n.10:8080/proxy/chain
	# nginx: master and worker; every process of a pod is its tier.
	LAB_CHAIN_PX=$(lab_pod_pids "$px" | paste -sd, -)
	LAB_CHAIN_MID=$(lab_pod_pids "$mid" | paste -sd, -)
	LAB_CHAIN_LEAF=$(lab_pod_pids "$leaf" | paste -sd, -)
	LAB_CHAIN_CG=()
	for p in "$cli" "$px" "$mid" "$leaf"; do LAB_CHAIN_CG+=(--cgroup "${LAB_POD_CG[$p]}"); done
}

# lab_chain_check LABEL CHECK-CHAIN-ARGS...: spans.py check-chain on the
# current spans with the caller's TIERS (--tier arguments) and --expect
# REQUESTS; prints its report and then "COMPLETENESS LABEL N/M" (also when the
# check fails, which then fails).
lab_chain_check() {
	local label=$1 out rc=0 line
	shift
	out=$LAB_DIR/chain-$label.txt
	tw_spans check-chain "${TIERS[@]}" --expect "$REQUESTS" "$@" >"$out" || rc=$?
	cat "$out"
	line=$(grep -E '^complete [0-9]+/[0-9]+$' "$out" | tail -n 1 || true)
	echo "COMPLETENESS $label ${line#complete }"
	[ "$rc" = 0 ] || fail "$label: spans.py check-chain failed (status $rc; details above)"
}

# lab_retrans POD...: TcpRetransSegs (nstat) summed over the pods' namespaces;
# LAB_COUNTER=TcpOutSegs (or another nstat counter) sums that one instead.
lab_retrans() {
	local n=0 p v c=${LAB_COUNTER:-TcpRetransSegs}
	for p in "$@"; do
		v=$(ip netns exec "$(lab_ns "$p")" nstat -asz "$c" | awk -v c="$c" '$1 == c { print $2 }')
		n=$((n + ${v:-0}))
	done
	echo "$n"
}

# lab_retrans_storm_limit BASE SEGS: the most retransmissions a transfer of
# SEGS segments may have where BASE happened without tracewire. veth on these
# 2-CPU VMs retransmits now and then with or without it (0-211 per 2 x 9 MiB
# measured either way), so the bound is a storm's, not a count's: BASE plus
# 5% of the segments sent (an MTU black hole or a broken segment makes every
# full segment go again, and the transfer fail its time limit).
lab_retrans_storm_limit() { echo $(($1 + $2 / 20 + 20)); }

# lab_bulk_round POD URL DIR LABEL: DIR/1m and DIR/8m uploaded (POST URL/upload,
# answered "<sha256> <bytes>") and downloaded (GET URL/1m, URL/8m) by curl in
# POD, every byte checked, each transfer within 30 s; prints the time taken.
lab_bulk_round() {
	local pod=$1 url=$2 dir=$3 label=$4 t0 t1 f want
	t0=$(date +%s%N)
	for f in 1m 8m; do
		want=$(sha256sum <"$dir/$f" | cut -d' ' -f1)
		LAB_EXEC_TIMEOUT=60 lab_exec_in_pod "$pod" curl --silent --show-error --max-time 30 \
			--data-binary "@$dir/$f" -H 'Content-Type: application/octet-stream' "$url/upload" ||
			fail "$label: upload $f failed or stalled (curl $?)"
		assert_eq "$want $(stat -c %s "$dir/$f")" "$(cat "$LAB_LAST_OUT")" "$label: upload $f arrived intact"
		LAB_EXEC_TIMEOUT=60 lab_exec_in_pod "$pod" curl --silent --show-error --max-time 30 \
			-o "$dir/$label.$f" "$url/$f" || fail "$label: download $f failed or stalled (curl $?)"
		assert_eq "$want" "$(sha256sum <"$dir/$label.$f" | cut -d' ' -f1)" "$label: download $f arrived intact"
	done
	t1=$(date +%s%N)
	echo "  $label: (1 MiB + 8 MiB) up and down in $(((t1 - t0) / 1000000)) ms"
}

# lab_curl_many POD COUNT PARALLEL URL...
lab_curl_many() {
	local pod=$1 count=$2 par=$3 cfg i n ok codes
	shift 3
	n=$#
	[ "$n" -gt 0 ] || { fail "lab_curl_many: no URL"; return 1; }
	LAB_NPROC=$((LAB_NPROC + 1))
	cfg=$LAB_DIR/curl.$LAB_NPROC.cfg
	local -a urls=("$@")
	{
		for ((i = 0; i < count; i++)); do
			printf 'url = "%s"\noutput = "/dev/null"\n' "${urls[i % n]}"
		done
	} >"$cfg"
	# shellcheck disable=SC2016
	lab_exec_in_pod "$pod" curl --silent --show-error --parallel --parallel-max "$par" \
		--max-time 30 --config "$cfg" --write-out '%{http_code} %{num_connects}\n' ||
		{
			fail "curl in pod $pod exited $? (requests from $cfg)"
			lab__show_file "$LAB_LAST_ERR" "curl stderr"
			return 1
		}
	codes=$(awk '{ print $1 }' "$LAB_LAST_OUT" | sort | uniq -c | awk '{ printf "%s%sx%s", sep, $1, $2; sep=" " }')
	if [ -n "${LAB_EXPECT_CODE:-}" ]; then
		ok=$(awk -v c="$LAB_EXPECT_CODE" '$1 == c' "$LAB_LAST_OUT" | wc -l)
	else
		ok=$(awk '$1 >= 100 && $1 <= 599' "$LAB_LAST_OUT" | wc -l)
	fi
	LAB_CONNECTS=$(awk '{ s += $2 } END { print s + 0 }' "$LAB_LAST_OUT")
	[ "$ok" = "$count" ] || {
		fail "curl in pod $pod: $ok of $count requests answered as expected (codes: $codes)"
		return 1
	}
}

# ---- tracewire ----------------------------------------------------------------

tw_start() {
	local out deadline
	[ -x "$TRACEWIRE" ] || { fail "$TRACEWIRE is missing: run make"; return 1; }
	[ -z "$TW_PID" ] || { fail "tw_start: tracewire is already running (pid $TW_PID)"; return 1; }
	TW_RUNS=$((TW_RUNS + 1))
	if [ "$TW_RUNS" = 1 ]; then
		TW_JSONL=$LAB_DIR/spans.jsonl TW_LOG=$LAB_DIR/tracewire.log out=$LAB_DIR/tracewire.out
	else
		TW_JSONL=$LAB_DIR/spans.$TW_RUNS.jsonl TW_LOG=$LAB_DIR/tracewire.$TW_RUNS.log
		out=$LAB_DIR/tracewire.$TW_RUNS.out
	fi
	[ "${TW_STDOUT:-}" != - ] || out=/dev/stdout
	"$TRACEWIRE" --exporter none --jsonl "$TW_JSONL" "$@" >"$out" 2>"$TW_LOG" </dev/null &
	TW_PID=$!
	deadline=$(($(date +%s%N) + 30000000000))
	while ! grep -q '^[^ ]* tracewire: info: ready' "$TW_LOG"; do
		if ! lab__alive "$TW_PID"; then
			local rc=0
			wait "$TW_PID" || rc=$?
			TW_PID=
			fail "tracewire exited with status $rc before it was ready: tracewire $*"
			lab__show_file "$TW_LOG" "tracewire log"
			return 1
		fi
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			fail "tracewire not ready within 30 s: tracewire $*"
			lab__show_file "$TW_LOG" "tracewire log"
			return 1
		fi
		sleep 0.05
	done
}

tw_stop() {
	local rc=0
	[ -n "$TW_PID" ] || { fail "tw_stop: tracewire is not running"; return 1; }
	kill -TERM "$TW_PID" 2>/dev/null
	lab_wait_pid "$TW_PID" 15 || rc=$?
	TW_PID=
	TW_EXIT=$rc
	if [ "$rc" = 124 ]; then
		fail "tracewire did not exit within 15 s of SIGTERM (killed)"
		lab__show_file "$TW_LOG" "tracewire log"
		return 1
	fi
	if [ "$rc" != 0 ]; then
		fail "tracewire exited with status $rc after SIGTERM"
		lab__show_file "$TW_LOG" "tracewire log"
		return 1
	fi
}

# tw_exit_counter NAME: the value of counter NAME (e.g. lost_ringbuf_full) in
# the stats lines the last stopped tracewire logged at exit; fails if absent.
tw_exit_counter() {
	local line v
	line=$(grep '^[^ ]* tracewire: info: stats (exit):' "$TW_LOG" || true)
	v=$(printf '%s\n' "$line" | grep -o " $1=[0-9]*" | head -n 1)
	[ -n "$v" ] || { fail "no counter $1 in the exit stats of $TW_LOG"; return 1; }
	echo "${v#*=}"
}

tw_spans() {
	local sub=$1
	shift
	"$LAB_PY" "$LAB_SPANS_PY" "$sub" "$TW_JSONL" "$@"
}

tw_count() {
	tw_spans count "$@"
}

tw_wait_spans() {
	local -a filt=("${@:1:$#-2}")
	local want=${*: -2:1} t=${*: -1} deadline n
	deadline=$(($(date +%s%N) + t * 1000000000))
	while :; do
		n=$(tw_spans count "${filt[@]}") || { fail "spans.py count failed on $TW_JSONL"; return 1; }
		[ "$n" -lt "$want" ] || return 0
		if [ -n "$TW_PID" ] && ! lab__alive "$TW_PID"; then
			fail "tracewire died while waiting for spans (${filt[*]}): $n of $want"
			lab__show_file "$TW_LOG" "tracewire log"
			return 1
		fi
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			fail "only $n of $want spans (${filt[*]}) within ${t}s"
			lab__show_file "$TW_LOG" "tracewire log"
			return 1
		fi
		sleep 0.2
	done
}

# ---- clean-up -------------------------------------------------------------------

# lab__kill_cgroup DIR: end every process in DIR and below (TERM, then KILL).
lab__kill_cgroup() {
	local cg=$1 i pids
	[ -d "$cg" ] || return 0
	lab__populated "$cg" || return 0
	pids=$(lab__cgroup_pids "$cg")
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
	for ((i = 0; i < 60; i++)); do
		lab__populated "$cg" || return 0
		sleep 0.05
	done
	if [ -e "$cg/cgroup.kill" ]; then
		echo 1 >"$cg/cgroup.kill" 2>/dev/null || true
	else
		pids=$(lab__cgroup_pids "$cg")
		# shellcheck disable=SC2086
		[ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
	fi
	for ((i = 0; i < 100; i++)); do
		lab__populated "$cg" || return 0
		sleep 0.05
	done
	lab__say "processes remain in $cg: $(lab__cgroup_pids "$cg" | tr '\n' ' ')"
	return 1
}

# Every pid in cgroup DIR and below.
lab__cgroup_pids() {
	find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null || true
}

lab__populated() {
	grep -qx 'populated 1' "$1/cgroup.events" 2>/dev/null
}

# lab__rm_cgroup DIR: remove DIR and its child directories.
lab__rm_cgroup() {
	local cg=$1 d i
	[ -d "$cg" ] || return 0
	for ((i = 0; i < 50; i++)); do
		# deepest first (lab_pod_container nests them)
		while read -r d; do
			rmdir "$d" 2>/dev/null
		done < <(find "$cg" -mindepth 1 -depth -type d 2>/dev/null)
		rmdir "$cg" 2>/dev/null && return 0
		sleep 0.05
	done
	lab__say "could not remove cgroup $cg"
	return 1
}

lab_cleanup() {
	[ "$LAB_CLEANED" = 0 ] || return 0
	LAB_CLEANED=1
	local ns pid ok=0
	if [ -n "$TW_PID" ]; then
		lab__kill_pid "$TW_PID" 10 || ok=1
		wait "$TW_PID" 2>/dev/null
		TW_PID=
	fi
	if [ -n "$LAB_CG" ]; then
		lab__kill_cgroup "$LAB_CG" || ok=1
	fi
	# Recorded processes that never made it into a cgroup.
	for pid in "${LAB_PIDS[@]}"; do
		if lab__alive "$pid"; then
			lab__kill_pid "$pid" 2 || ok=1
		fi
		wait "$pid" 2>/dev/null
	done
	if [ -n "$LAB_CG" ]; then
		lab__rm_cgroup "$LAB_CG" || ok=1
	fi
	for ns in "${LAB_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null || { lab__say "could not delete netns $ns"; ok=1; }
	done
	if [ -n "$LAB_PREFIX" ]; then
		lab__del_netns_prefix "$LAB_PREFIX" || ok=1
	fi
	LAB_NETNS=()
	return "$ok"
}

lab__del_netns_prefix() {
	local ns rest ok=0
	while read -r ns rest; do
		[[ $ns == "$1"-* ]] || continue
		if ip netns del "$ns" 2>/dev/null; then
			lab__say "removed leftover netns $ns"
		else
			lab__say "could not delete netns $ns"
			ok=1
		fi
	done < <(ip netns list 2>/dev/null)
	return "$ok"
}

lab_sweep() {
	local prefix=$1 cg2 cg found=0
	[[ $prefix =~ ^[A-Za-z0-9]+$ ]] || { fail "lab_sweep: bad prefix '$prefix'"; return 1; }
	if cg2=$(lab__cgroup2_mount); then
		cg=$cg2/tracewire-lab.$prefix
		if [ -d "$cg" ]; then
			found=1
			lab__say "removing leftover cgroup $cg"
			lab__kill_cgroup "$cg"
			lab__rm_cgroup "$cg"
		fi
	fi
	if ip netns list 2>/dev/null | grep -q "^$prefix-"; then
		found=1
		lab__del_netns_prefix "$prefix"
	fi
	return "$found"
}
