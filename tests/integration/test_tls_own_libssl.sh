#!/usr/bin/env bash
# TLS capture of a process that loads its own copy of libssl (issue 15): a
# container image's, here one under LD_LIBRARY_PATH in the test's directory.
# uprobes live on a file's inode, so the system's libssl being probed does
# not cover it; tracewire must find the copy in /proc/PID/maps and probe it
# through /proc/PID/root.
#
#   srv  tests/integration/servers/tls_chain.py (leaf mode: 200 "leaf ok")
#        started AFTER tracewire is ready, with LD_LIBRARY_PATH on a copied
#        libssl.so.3 + libcrypto.so.3: found by the once-a-second rescan.
#   cli  curl --cacert (not selected), REQUESTS requests.
# Checked: the log names the copy (probed through /proc/PID/root), the
# server really maps the copy and not the system's file, and every request
# is a SERVER span of srv with url.scheme https.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS=10
lab_init
command -v openssl >/dev/null || { echo "SKIP: openssl(1) not found"; exit 77; }
SYSLIB=
for d in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib; do
	[ -e "$d/libssl.so.3" ] && [ -e "$d/libcrypto.so.3" ] && { SYSLIB=$d; break; }
done
[ -n "$SYSLIB" ] || { echo "SKIP: no system libssl.so.3"; exit 77; }

lab_pod cli 198.18.0.20/24
lab_pod srv 198.18.0.10/24
OWN=$LAB_DIR/ownssl
mkdir -p "$OWN"
cp "$SYSLIB/libssl.so.3" "$SYSLIB/libcrypto.so.3" "$OWN/"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$LAB_DIR/key.pem" -out "$LAB_DIR/cert.pem" -days 2 -subj "/CN=tracewire-lab" \
	-addext "subjectAltName=IP:198.18.0.10" >"$LAB_DIR/openssl.log" 2>&1 ||
	{ lab__show_file "$LAB_DIR/openssl.log" "openssl req"; fail "openssl req failed"; }

lab_step "tracewire first, then the server with its own libssl"
tw_start --cgroup "$(lab_cgroup srv)"
lab_start_cmd srv 198.18.0.10 8443 env LD_LIBRARY_PATH="$OWN" \
	"$LAB_PY" "$LAB_SERVERS/tls_chain.py" 198.18.0.10 8443 "$LAB_DIR/cert.pem" "$LAB_DIR/key.pem"
SRV_PID=$(lab_pod_pids srv | head -n 1)
grep -q "$OWN/libssl.so.3" "/proc/$SRV_PID/maps" || fail "the server does not map the copy: test set-up broken"
grep -q "$SYSLIB/libssl.so.3" "/proc/$SRV_PID/maps" && fail "the server maps the system's libssl too: test set-up broken"
# the rescan runs every second: wait for the probe line (bounded)
deadline=$(($(date +%s) + 10))
until grep -q "TLS capture: probing /proc/[0-9]*/root$OWN/libssl.so.3: SSL_read SSL_write" "$TW_LOG"; do
	[ "$(date +%s)" -lt "$deadline" ] || { lab__show_file "$TW_LOG" "tracewire log"; fail "the copy was not probed within 10 s"; }
	sleep 0.1
done
echo "  $(grep -o "TLS capture: probing /proc/[0-9]*/root$OWN/libssl.so.3" "$TW_LOG" | head -n 1)"

lab_step "$REQUESTS HTTPS requests"
for ((i = 0; i < REQUESTS; i++)); do
	lab_exec_in_pod cli curl -sS --max-time 10 --cacert "$LAB_DIR/cert.pem" -o /dev/null \
		"https://198.18.0.10:8443/own/$i" || { lab__show_file "$LAB_LAST_ERR" "curl stderr"; fail "request $i failed"; }
done
tw_wait_spans --kind server --pid "$SRV_PID" "$REQUESTS" 30
tw_stop
assert_eq "$REQUESTS" "$(tw_spans count --kind server --pid "$SRV_PID" --attr url.scheme=https)" \
	"SERVER spans of the server with its own libssl, url.scheme https"
assert_eq 0 "$(tw_spans count --kind server --pid "$SRV_PID" --attr url.scheme=http)" "none of them http"
lab_step "ok"
