#!/usr/bin/env bash
# --cgroup selection from inside a cgroup namespace of tracewire's own (what
# containerd gives a pod on cgroup v2): /proc/self/mountinfo then shows the
# host's hierarchy root as "/.." instead of "/". The selected cgroup's depth
# (which ancestor level the BPF programs compare) must still be the real one.
#   srv  python http server; cli  curl (not selected)
#   tracewire runs in its own cgroup under the lab's, after unshare -C.
# Checked: every request is a SERVER span of srv; none without the fix's
# depth (the programs compared the wrong ancestor level: 0 spans).
# The per-process half of the selection too: an HTTPS server in srv with its
# own copy of libssl is found by TLS capture's /proc rescan only if
# /proc/PID/cgroup -- relative to tracewire's namespace root, "/../srv" --
# is read against that root (before: against the hierarchy's root, so the
# copy was never probed and its requests made no https spans).
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS=5
lab_init
lab_pod cli 198.18.0.20/24
lab_pod srv 198.18.0.10/24
lab_start_server python srv "$(lab_ip srv)" 8080
SRV_PID=$LAB_LAST_PID
SYSLIB=
for d in /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do
	[ -e "$d/libssl.so.3" ] && [ -e "$d/libcrypto.so.3" ] && { SYSLIB=$d; break; }
done
[ -n "$SYSLIB" ] || fail "no system libssl.so.3 (the https half needs one)"
OWN=$LAB_DIR/ownssl
mkdir -p "$OWN"
cp "$SYSLIB/libssl.so.3" "$SYSLIB/libcrypto.so.3" "$OWN/"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$LAB_DIR/key.pem" -out "$LAB_DIR/cert.pem" -days 2 -subj "/CN=tracewire-lab" \
	-addext "subjectAltName=IP:$(lab_ip srv)" >"$LAB_DIR/openssl.log" 2>&1 || fail "openssl req failed"

AGENT_CG=$LAB_CG/agent
mkdir -p "$AGENT_CG"
REAL_TW=$TRACEWIRE
cat >"$LAB_DIR/tracewire-cgroupns" <<EOF2
#!/bin/sh
# into the agent's cgroup, then a cgroup namespace of its own; unshare execs
# tracewire in this same process (no fork), so the pid is tracewire's
echo \$\$ > "$AGENT_CG/cgroup.procs"
exec unshare --cgroup "$REAL_TW" "\$@"
EOF2
chmod +x "$LAB_DIR/tracewire-cgroupns"
TRACEWIRE=$LAB_DIR/tracewire-cgroupns

lab_step "tracewire in a private cgroup namespace, --cgroup of pod srv"
tw_start --cgroup "$(lab_cgroup srv)"
# (its /proc/PID/cgroup and mountinfo are shown relative to the reader's
# namespace: compare the namespaces themselves)
[ "$(readlink "/proc/$TW_PID/ns/cgroup")" != "$(readlink /proc/self/ns/cgroup)" ] ||
	fail "tracewire is not in a cgroup namespace of its own (test broken)"
for ((i = 0; i < REQUESTS; i++)); do
	lab_exec_in_pod cli curl -sS --max-time 10 -o /dev/null "http://$(lab_ip srv):8080/ns/$i" ||
		fail "request $i failed"
done
tw_wait_spans --kind server --pid "$SRV_PID" "$REQUESTS" 20

lab_step "an HTTPS server with its own libssl in the selected pod"
lab_start_cmd srv "$(lab_ip srv)" 8443 env LD_LIBRARY_PATH="$OWN" \
	"$LAB_PY" "$LAB_SERVERS/tls_chain.py" "$(lab_ip srv)" 8443 "$LAB_DIR/cert.pem" "$LAB_DIR/key.pem"
TLS_PID=$(lab_pod_pids srv | grep -vx "$SRV_PID" | head -n 1)
deadline=$(($(date +%s) + 10))
until grep -q "TLS capture: probing /proc/$TLS_PID/root$OWN/libssl.so.3" "$TW_LOG"; do
	[ "$(date +%s)" -lt "$deadline" ] || { lab__show_file "$TW_LOG" "tracewire log"; fail "the selected process's libssl was not probed within 10 s"; break; }
	sleep 0.1
done
for ((i = 0; i < REQUESTS; i++)); do
	lab_exec_in_pod cli curl -sS --max-time 10 --cacert "$LAB_DIR/cert.pem" -o /dev/null \
		"https://$(lab_ip srv):8443/ns-tls/$i" || fail "https request $i failed"
done
tw_wait_spans --kind server --pid "$TLS_PID" "$REQUESTS" 20 || true
tw_stop
assert_eq "$REQUESTS" "$(tw_spans count --kind server --pid "$SRV_PID")" "SERVER spans of the selected pod"
assert_eq "$REQUESTS" "$(tw_spans count --kind server --pid "$TLS_PID" --attr url.scheme=https)" \
	"https SERVER spans of the process with its own libssl"
lab_step "ok"
