#!/usr/bin/env bash
# "The binary is opened once" (issue 16, item 3): tracewire opens a file it
# will probe once, and its identity, its analysis and the attach (through
# /proc/self/fd/N) all use that open file. A binary swapped between the open
# and the attach must not get the probes. The swap is made deterministic by
# tracewire's test-only hook (TRACEWIRE_TEST_HOOK, injector/testhook.h): it
# runs hook.sh right after it opened a binary ("opened") and right after it
# attached ("attached"), and waits for it. Whether probes are in a process is
# read from the process itself: uprobes write int3 into its copy of the text
# pages (memdiff.py compares them with the file).
#
#   Go   go_exec (net/http linked in, so it gets probes) runs twice, selected
#        by --comm go_exec_a. At "opened" for the first one, hook.sh makes it
#        exec go_exec_b, a copy of the same bytes (another inode, another
#        comm). Checked at "attached": the second (control) process has
#        breakpoints in its text, the swapped one none (attached by path,
#        /proc/PID/exe would name go_exec_b by then and the plan's probes
#        would land in it).
#   TLS  a server with its own libssl copy (as test_tls_own_libssl.sh). At
#        "opened" for that copy, hook.sh renames a fresh copy over its path
#        (another inode; the server still maps the first). Checked: the
#        server's mapped libssl has breakpoints, and REQUESTS HTTPS requests
#        are SERVER spans with url.scheme https (attached by path, the
#        probes would be on the new file, which nothing maps: no span).
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS=10
lab_init
command -v go >/dev/null || { echo "SKIP: go not found"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: openssl(1) not found"; exit 77; }
SYSLIB=
for d in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib; do
	[ -e "$d/libssl.so.3" ] && [ -e "$d/libcrypto.so.3" ] && { SYSLIB=$d; break; }
done
[ -n "$SYSLIB" ] || { echo "SKIP: no system libssl.so.3"; exit 77; }

HOOKDIR=$LAB_DIR/hook
mkdir -p "$HOOKDIR"
# hook.sh EVENT WHAT PID [PATH], run by tracewire (bounded there: 10 s)
cat >"$LAB_DIR/hook.sh" <<'HOOK'
#!/usr/bin/env bash
set -u
event=$1 what=$2 pid=$3 path=${4:-}
echo "$event $what $pid $path" >>"$HOOK_DIR/calls"
case "$event $what" in
"opened go")
	[ "$pid" = "$HOOK_GO_SWAP_PID" ] || exit 0
	kill -USR1 "$pid"
	# until the process runs the other binary (bounded: 5 s)
	for _ in $(seq 500); do
		[ "$(readlink "/proc/$pid/exe")" = "$HOOK_GO_B" ] && { echo swapped >"$HOOK_DIR/go.swapped"; exit 0; }
		sleep 0.01
	done
	echo "go_exec $pid did not exec $HOOK_GO_B within 5 s" >"$HOOK_DIR/go.error"
	;;
"attached go")
	exe=$(readlink "/proc/$pid/exe")
	"$HOOK_PY" "$HOOK_MEMDIFF" "$pid" "$exe" "$exe" >"$HOOK_DIR/go.$pid.diff" 2>&1
	;;
"opened tls")
	[ "$path" = "/proc/$pid/root$HOOK_TLS_LIB" ] && [ ! -e "$HOOK_DIR/tls.swapped" ] || exit 0
	cp "$HOOK_TLS_LIB" "$HOOK_TLS_LIB.new" && mv -f "$HOOK_TLS_LIB.new" "$HOOK_TLS_LIB" &&
		echo "$pid" >"$HOOK_DIR/tls.swapped"
	;;
"attached tls")
	[ "$path" = "/proc/$pid/root$HOOK_TLS_LIB" ] || exit 0
	"$HOOK_PY" "$HOOK_MEMDIFF" "$pid" "$HOOK_TLS_LIB" "$HOOK_TLS_LIB" >"$HOOK_DIR/tls.diff" 2>&1
	;;
esac
exit 0
HOOK
chmod +x "$LAB_DIR/hook.sh"
export TRACEWIRE_TEST_HOOK=$LAB_DIR/hook.sh HOOK_DIR=$HOOKDIR HOOK_PY=$LAB_PY
export HOOK_MEMDIFF=$LAB_REPO/tests/integration/memdiff.py

# wait_file FILE SECONDS WHAT: until FILE exists (bounded)
wait_file() {
	local deadline=$(($(date +%s) + $2))
	until [ -s "$1" ]; do
		[ "$(date +%s)" -lt "$deadline" ] || { lab__show_file "$TW_LOG" "tracewire log"; fail "$3: not within $2 s"; }
		sleep 0.05
	done
}

lab_step "Go: a process that execs a copy of its binary between tracewire's open and attach"
lab_pod gox 198.18.0.30/24
GO_A=$LAB_DIR/go_exec_a GO_B=$LAB_DIR/go_exec_b
GOCACHE=$LAB_REPO/build/gocache GOPATH=$LAB_REPO/build/gopath GO111MODULE=off GOPROXY=off \
	GOFLAGS='' GOENV=off GOTOOLCHAIN=local CGO_ENABLED=0 \
	go build -o "$GO_A" "$LAB_SERVERS/go_exec.go" || fail "building go_exec.go failed"
cp "$GO_A" "$GO_B"
lab_run_in_pod gox "$GO_A" "$GO_B"
SWAP_PID=$LAB_LAST_PID SWAP_LOG=$LAB_LAST_LOG
lab_run_in_pod gox "$GO_A"
CTRL_PID=$LAB_LAST_PID CTRL_LOG=$LAB_LAST_LOG
wait_file "$SWAP_LOG" 10 "go_exec (to be swapped) ready"
wait_file "$CTRL_LOG" 10 "go_exec (control) ready"
export HOOK_GO_SWAP_PID=$SWAP_PID HOOK_GO_B=$GO_B
tw_start --log-level debug --comm go_exec_a --tls-capture off
wait_file "$HOOKDIR/go.$CTRL_PID.diff" 15 "the control process probed"
wait_file "$HOOKDIR/go.$SWAP_PID.diff" 15 "the swapped process probed"
[ ! -e "$HOOKDIR/go.error" ] || fail "$(cat "$HOOKDIR/go.error")"
assert_eq swapped "$(cat "$HOOKDIR/go.swapped" 2>/dev/null)" "the first process was swapped during the hook"
assert_eq "$GO_B" "$(readlink "/proc/$SWAP_PID/exe")" "the swapped process runs go_exec_b"
echo "  control (go_exec_a): $(cat "$HOOKDIR/go.$CTRL_PID.diff") (differing, compared bytes)"
echo "  swapped (go_exec_b): $(cat "$HOOKDIR/go.$SWAP_PID.diff")"
read -r ctrl_diff _ <"$HOOKDIR/go.$CTRL_PID.diff"
read -r swap_diff _ <"$HOOKDIR/go.$SWAP_PID.diff"
assert_ge "$ctrl_diff" 1 "breakpoints in the control process's text (the check sees probes)"
assert_eq 0 "$swap_diff" "breakpoints in the swapped-in binary's text"
tw_stop

lab_step "TLS: a server's own libssl renamed over between tracewire's open and attach"
lab_pod cli 198.18.0.20/24
lab_pod srv 198.18.0.10/24
OWN=$LAB_DIR/ownssl
mkdir -p "$OWN"
cp "$SYSLIB/libssl.so.3" "$SYSLIB/libcrypto.so.3" "$OWN/"
export HOOK_TLS_LIB=$OWN/libssl.so.3
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$LAB_DIR/key.pem" -out "$LAB_DIR/cert.pem" -days 2 -subj "/CN=tracewire-lab" \
	-addext "subjectAltName=IP:198.18.0.10" >"$LAB_DIR/openssl.log" 2>&1 ||
	{ lab__show_file "$LAB_DIR/openssl.log" "openssl req"; fail "openssl req failed"; }
tw_start --cgroup "$(lab_cgroup srv)"
lab_start_cmd srv 198.18.0.10 8443 env LD_LIBRARY_PATH="$OWN" \
	"$LAB_PY" "$LAB_SERVERS/tls_chain.py" 198.18.0.10 8443 "$LAB_DIR/cert.pem" "$LAB_DIR/key.pem"
SRV_PID=$(lab_pod_pids srv | head -n 1)
grep -q "$OWN/libssl.so.3" "/proc/$SRV_PID/maps" || fail "the server does not map the copy: test set-up broken"
# found by the once-a-second rescan: swapped at "opened", checked at "attached"
wait_file "$HOOKDIR/tls.diff" 15 "the server's libssl probed"
assert_eq "$SRV_PID" "$(cat "$HOOKDIR/tls.swapped" 2>/dev/null)" "libssl renamed over during the hook"
grep -q "$OWN/libssl.so.3 (deleted)" "/proc/$SRV_PID/maps" ||
	fail "the server does not map the first copy (deleted) any more: test set-up broken"
echo "  server's mapped libssl: $(cat "$HOOKDIR/tls.diff") (differing, compared bytes)"
read -r tls_diff _ <"$HOOKDIR/tls.diff"
assert_ge "$tls_diff" 1 "breakpoints in the libssl the server maps"
for ((i = 0; i < REQUESTS; i++)); do
	lab_exec_in_pod cli curl -sS --max-time 10 --cacert "$LAB_DIR/cert.pem" -o /dev/null \
		"https://198.18.0.10:8443/once/$i" || { lab__show_file "$LAB_LAST_ERR" "curl stderr"; fail "request $i failed"; }
done
tw_wait_spans --kind server --pid "$SRV_PID" "$REQUESTS" 30 || true
tw_stop
assert_eq "$REQUESTS" "$(tw_spans count --kind server --pid "$SRV_PID" --attr url.scheme=https)" \
	"SERVER spans of the server, url.scheme https"
lab_step "ok"
