#!/usr/bin/env bash
# Go HTTPS through the Go probes (issue 15, items 5 and 6): Go does not use
# OpenSSL, so its TLS plaintext is read at crypto/tls (*Conn).Read's RETs
# and (*Conn).Write's entry (docs/go.md, "Go HTTPS").
#
#   cli  servers/go_tls_client.go: REQUESTS GETs over one keep-alive
#        connection, trusting the test's self-signed certificate; started
#        after tracewire (found by the once-a-second /proc rescan)
#   srv  servers/go_tls_server.go: net/http + crypto/tls, HTTP/1.1
#
# Both pods selected with --cgroup. Per Go build (go 1.19 and go 1.23 where
# installed, each also -s -w: functions from .gopclntab, offsets from the
# version table): every request is a SERVER span of the Go server and a
# CLIENT span of the Go client, all with url.scheme https, status 200, the
# right path; none says http; the exit counters show the Go TLS records and
# no socket lookup that failed. Then with --tls-capture off: no crypto/tls
# probe, no span.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS=${TW_GO_TLS_REQUESTS:-20}
GO119=${GO119:-go}
GO123=${GO123:-/usr/lib/go-1.23/bin/go}
BUILDS=${TW_GO_TLS_BUILDS:-go119 go123 go119sw go123sw}

lab_init
command -v openssl >/dev/null || { echo "SKIP: openssl(1) not found"; exit 77; }

# go_build TOOLCHAIN LDFLAGS SRC OUT: offline, standard library only.
go_build() {
	local gobin=$1 ldflags=$2 src=$3 out=$4
	GOCACHE=$LAB_REPO/build/gocache GOPATH=$LAB_REPO/build/gopath GO111MODULE=off \
		GOPROXY=off GOFLAGS='' GOENV=off GOTOOLCHAIN=local CGO_ENABLED=0 \
		"$gobin" build -ldflags="$ldflags" -o "$out" "$src" ||
		{ fail "building $src with $gobin failed"; return 1; }
}

lab_step "building the Go HTTPS server and client"
BIN=$LAB_DIR/bin
mkdir -p "$BIN"
RUN=()
for b in $BUILDS; do
	case $b in
	go119*) gobin=$GO119 ;;
	go123*) gobin=$GO123 ;;
	*) fail "TW_GO_TLS_BUILDS: unknown build '$b' (go119 go123 go119sw go123sw)"; exit 1 ;;
	esac
	if ! command -v "$gobin" >/dev/null; then
		echo "  $b: $gobin not installed: skipped"
		continue
	fi
	ldflags=
	[[ $b == *sw ]] && ldflags="-s -w"
	go_build "$gobin" "$ldflags" "$LAB_SERVERS/go_tls_server.go" "$BIN/go_tls_server.$b"
	go_build "$gobin" "$ldflags" "$LAB_SERVERS/go_tls_client.go" "$BIN/go_tls_client.$b"
	RUN+=("$b")
done
[ ${#RUN[@]} -gt 0 ] || { echo "SKIP: no Go toolchain (go 1.19 or $GO123)"; exit 77; }

# run_build N BUILD: fresh pods sN (server, 198.18.N.10) and cN (client),
# one tracewire run, the checks.
run_build() {
	local n=$1 b=$2 srv_ip=198.18.$1.10 srv_pid cli_pid
	lab_step "$b: pods, certificate, server"
	lab_pod "s$n" "$srv_ip/24"
	lab_pod "c$n" "198.18.$n.20/24"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$LAB_DIR/key.$n.pem" -out "$LAB_DIR/cert.$n.pem" -days 2 -subj "/CN=tracewire-lab" \
		-addext "subjectAltName=IP:$srv_ip" >"$LAB_DIR/openssl.$n.log" 2>&1 ||
		{ lab__show_file "$LAB_DIR/openssl.$n.log" "openssl req"; fail "openssl req failed"; }
	lab_start_cmd "s$n" "$srv_ip" 8443 "$BIN/go_tls_server.$b" "$srv_ip" 8443 \
		"$LAB_DIR/cert.$n.pem" "$LAB_DIR/key.$n.pem"
	srv_pid=$LAB_LAST_PID
	tw_start --cgroup "$(lab_cgroup "s$n")" --cgroup "$(lab_cgroup "c$n")"
	assert_file_contains "$TW_LOG" "go probes: $BIN/go_tls_server\.$b \(pid $srv_pid\): go1\..* tls\.Conn\.Read \(stack check\), tls\.Conn\.Read RET x[0-9]+, tls\.Conn\.Write \(stack check\)" \
		"$b: the server's crypto/tls probed"
	grep 'info: go probes: ' "$TW_LOG" | sed 's/^/  /'

	lab_step "$b: $REQUESTS HTTPS requests from the Go client (started after 2.5 s: found by the rescan)"
	lab_exec_in_pod "c$n" "$BIN/go_tls_client.$b" "https://$srv_ip:8443" "$REQUESTS" \
		"$LAB_DIR/cert.$n.pem" 2500 ||
		{ lab__show_file "$LAB_LAST_ERR" "go_tls_client stderr"; fail "$b: go_tls_client failed"; }
	cli_pid=$LAB_LAST_PID
	assert_eq "ok $REQUESTS/$REQUESTS" "$(cat "$LAB_LAST_OUT")" "$b: go_tls_client: every request answered 200"
	tw_wait_spans --kind server --pid "$srv_pid" "$REQUESTS" 30 || true
	tw_wait_spans --kind client --pid "$cli_pid" "$REQUESTS" 30 || true
	tw_stop
	assert_file_contains "$TW_LOG" "go probes: $BIN/go_tls_client\.$b \(pid $cli_pid\): go1\..* tls\.Conn\.Read" \
		"$b: the client's crypto/tls probed"
	tw_spans list --pid "$srv_pid" | sed -n 1,3p | sed 's/^/  /'
	tw_spans list --pid "$cli_pid" | sed -n 1,3p | sed 's/^/  /'
	tw_spans check-requests --kind server --pid "$srv_pid" --attr url.scheme=https \
		--expect "$REQUESTS" --status 200 || fail "$b: SERVER spans of the Go HTTPS server"
	tw_spans check-requests --kind client --pid "$cli_pid" --attr url.scheme=https \
		--expect "$REQUESTS" --status 200 || fail "$b: CLIENT spans of the Go HTTPS client"
	assert_eq 0 "$(tw_spans count --pid "$srv_pid" --attr url.scheme=http)" "$b: no server span says http"
	assert_eq 0 "$(tw_spans count --pid "$cli_pid" --attr url.scheme=http)" "$b: no client span says http"
	# the paths the client asked for, each once, on both sides
	assert_eq "$(seq 0 $((REQUESTS - 1)) | sed 's|^|/|' | sort)" \
		"$(tw_spans fields --kind server --pid "$srv_pid" -f attributes.url.path | sort)" \
		"$b: the server spans' paths"
	assert_eq "$(seq 0 $((REQUESTS - 1)) | sed 's|^|/|' | sort)" \
		"$(tw_spans fields --kind client --pid "$cli_pid" -f attributes.url.path | sort)" \
		"$b: the client spans' paths"
	assert_ge "$(tw_exit_counter go_tls_read)" "$((2 * REQUESTS))" "$b: exit counter go_tls_read"
	assert_ge "$(tw_exit_counter go_tls_write)" "$((2 * REQUESTS))" "$b: exit counter go_tls_write"
	assert_eq 0 "$(tw_exit_counter go_tls_no_sock)" "$b: exit counter go_tls_no_sock"
	assert_eq 0 "$(tw_exit_counter go_read_faults)" "$b: exit counter go_read_faults"
	assert_eq 0 "$(tw_exit_counter unsynced)" "$b: exit counter unsynced"
}

n=0
for b in "${RUN[@]}"; do
	n=$((n + 1))
	run_build "$n" "$b"
done

# --tls-capture off: no TLS plaintext is read, Go's neither.
n=$((n + 1)) b=${RUN[0]}
lab_step "$b with --tls-capture off: no probe on crypto/tls, no span"
lab_pod "s$n" "198.18.$n.10/24"
lab_pod "c$n" "198.18.$n.20/24"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$LAB_DIR/key.$n.pem" -out "$LAB_DIR/cert.$n.pem" -days 2 -subj "/CN=tracewire-lab" \
	-addext "subjectAltName=IP:198.18.$n.10" >"$LAB_DIR/openssl.$n.log" 2>&1 ||
	{ lab__show_file "$LAB_DIR/openssl.$n.log" "openssl req"; fail "openssl req failed"; }
lab_start_cmd "s$n" "198.18.$n.10" 8443 "$BIN/go_tls_server.$b" "198.18.$n.10" 8443 \
	"$LAB_DIR/cert.$n.pem" "$LAB_DIR/key.$n.pem"
srv_pid=$LAB_LAST_PID
tw_start --tls-capture off --cgroup "$(lab_cgroup "s$n")" --cgroup "$(lab_cgroup "c$n")"
lab_exec_in_pod "c$n" "$BIN/go_tls_client.$b" "https://198.18.$n.10:8443" "$REQUESTS" \
	"$LAB_DIR/cert.$n.pem" 2500 ||
	{ lab__show_file "$LAB_LAST_ERR" "go_tls_client stderr"; fail "$b: go_tls_client failed"; }
cli_pid=$LAB_LAST_PID
sleep 1
tw_stop
assert_file_contains "$TW_LOG" "go probes: $BIN/go_tls_server\.$b \(pid $srv_pid\): not probed: no net/http client in the binary, and crypto/tls not probed \(--tls-capture off\)" \
	"--tls-capture off: the server (crypto/tls only) is not probed"
assert_file_contains "$TW_LOG" "go probes: $BIN/go_tls_client\.$b \(pid $cli_pid\): .*crypto/tls not probed \(--tls-capture off\)" \
	"--tls-capture off: the client gets its net/http probes only"
assert_eq 0 "$(tw_spans count --pid "$srv_pid")" "--tls-capture off: spans of the server"
assert_eq 0 "$(tw_spans count --pid "$cli_pid")" "--tls-capture off: spans of the client"
lab_step "ok"
