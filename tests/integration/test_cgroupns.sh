#!/usr/bin/env bash
# --cgroup selection from inside a cgroup namespace of tracewire's own (what
# containerd gives a pod on cgroup v2): /proc/self/mountinfo then shows the
# host's hierarchy root as "/.." instead of "/". The selected cgroup's depth
# (which ancestor level the BPF programs compare) must still be the real one.
#   srv  python http server; cli  curl (not selected)
#   tracewire runs in its own cgroup under the lab's, after unshare -C.
# Checked: every request is a SERVER span of srv; none without the fix's
# depth (the programs compared the wrong ancestor level: 0 spans).
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS=5
lab_init
lab_pod cli 198.18.0.20/24
lab_pod srv 198.18.0.10/24
lab_start_server python srv "$(lab_ip srv)" 8080
SRV_PID=$LAB_LAST_PID

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
tw_stop
assert_eq "$REQUESTS" "$(tw_spans count --kind server --pid "$SRV_PID")" "SERVER spans of the selected pod"
lab_step "ok"
