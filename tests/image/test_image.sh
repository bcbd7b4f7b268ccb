#!/usr/bin/env bash
# make image-test: tracewire's OCI image (make image) run on this machine with
# podman as the DaemonSet runs it (deploy/daemonset.yaml) — host pid
# namespace, the host's tracefs and cgroup file system read-only, a read-only
# root, the capability list instead of --privileged — against a demo:
#
#   cli (curl, not selected) -> mid (servers/chain_mid.py) -> leaf (python_server.py)
#
# three lab pods (network namespaces, 198.18.0.0/15, tests/integration/lab.sh);
# mid and leaf run as user nobody with OTEL_SERVICE_NAME set, so their names
# are read from /proc/PID/environ of another user's process (CAP_SYS_PTRACE
# and CAP_DAC_READ_SEARCH). tracewire in the container selects mid and leaf by
# cgroup and writes JSON lines to a mounted directory. Checks: SERVER and
# CLIENT spans of mid, SERVER spans of leaf parented by mid's injected
# traceparent (one trace per request), the services' names, the features line
# (capture, sockops, headers on), the open-files limit raised without
# CAP_SYS_RESOURCE, a clean exit on SIGTERM (podman stop), and /healthz,
# /readyz, /metrics answered from inside the container's network namespace.
#
# Environment: TW_IMAGE (default localhost/tracewire:latest), TW_OCI_RUNTIME
# (default runc: crun 1.8 refuses a hybrid cgroup v1/v2 host), LAB_KEEP=1.
# Every wait is bounded; the container, pods and processes are removed on any
# exit (lab.sh's trap, plus podman rm here).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lab.sh
. "$here/../integration/lab.sh"

IMAGE=${TW_IMAGE:-localhost/tracewire:latest}
RUNTIME=${TW_OCI_RUNTIME:-runc}
REQUESTS=5
MID_PORT=8080 LEAF_PORT=8081 METRICS_PORT=9464

for c in podman "$RUNTIME" setpriv nsenter; do
	command -v "$c" >/dev/null || { echo "image-test: '$c' not found (make image-deps)" >&2; exit 1; }
done
podman image exists "$IMAGE" || { echo "image-test: no image $IMAGE: run make image" >&2; exit 1; }

lab_init
CTR=tracewire-image-test-$LAB_PREFIX
img__cleanup() {
	if podman container exists "$CTR" 2>/dev/null; then
		timeout 30 podman rm -f -t 5 "$CTR" >/dev/null 2>&1 || lab__say "could not remove container $CTR"
	fi
}
# lab.sh's EXIT trap, with the container removed first and the status kept
# (set +e: under errexit the "(exit $rc)" that hands the status on would end
# the trap before lab__on_exit cleans up)
trap 'rc=$?; set +e; img__cleanup; (exit "$rc"); lab__on_exit' EXIT
img__cleanup

# podman's default seccomp profile allows bpf(2) and perf_event_open(2) only
# with CAP_SYS_ADMIN: the same profile with both allowed (what the
# capabilities then govern) instead of seccomp=unconfined
SECCOMP=$LAB_DIR/seccomp.json
"$LAB_PY" - /usr/share/containers/seccomp.json "$SECCOMP" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
p["syscalls"].insert(0, {"names": ["bpf", "perf_event_open"], "action": "SCMP_ACT_ALLOW"})
json.dump(p, open(sys.argv[2], "w"))
EOF

HARD_NOFILE=$(ulimit -Hn)
CAPS=${TW_IMAGE_CAPS:-BPF,PERFMON,NET_ADMIN,SYS_PTRACE,DAC_READ_SEARCH}
# The wrapper tw_start runs as "tracewire": podman run in the foreground
# (signals proxied to tracewire), its stdout and stderr tracewire's. The lab
# directory is mounted at its own path, so --jsonl and --cgroup paths are
# the same inside. Soft open-files limit 1024 below a hard one: tracewire
# raises it itself, which needs no CAP_SYS_RESOURCE.
WRAPPER=$LAB_DIR/tracewire-in-podman
cat >"$WRAPPER" <<EOF
#!/bin/sh
exec podman --runtime "$RUNTIME" run --rm --name "$CTR" \\
	--pid=host --cgroupns=host --network=none \\
	--cap-drop=all --cap-add=$CAPS \\
	--security-opt seccomp="$SECCOMP" --security-opt no-new-privileges \\
	--read-only --user 0:0 \\
	--ulimit nofile=1024:$HARD_NOFILE --ulimit nproc=4096:4096 \\
	--memory-reservation 64m \\
	-v /sys/kernel/tracing:/sys/kernel/tracing:ro \\
	-v /sys/fs/cgroup:/sys/fs/cgroup:ro,rbind \\
	-v "$LAB_DIR:$LAB_DIR" \\
	"$IMAGE" "\$@"
EOF
chmod +x "$WRAPPER"

lab_pod cli 198.18.0.20/24
lab_pod mid 198.18.0.10/24
lab_pod leaf 198.18.0.11/24
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups env)
lab_start_cmd leaf "$(lab_ip leaf)" "$LEAF_PORT" \
	"${NOBODY[@]}" OTEL_SERVICE_NAME=image-leaf "$LAB_PY" "$LAB_SERVERS/python_server.py" "$(lab_ip leaf)" "$LEAF_PORT"
LEAF_PID=$LAB_LAST_PID
lab_start_cmd mid "$(lab_ip mid)" "$MID_PORT" \
	"${NOBODY[@]}" OTEL_SERVICE_NAME=image-mid "$LAB_PY" "$LAB_SERVERS/chain_mid.py" "$(lab_ip mid)" "$MID_PORT" \
	"$(lab_ip leaf)" "$LEAF_PORT"
MID_PID=$LAB_LAST_PID

lab_step "tracewire from $IMAGE in podman ($RUNTIME; caps $CAPS)"
TRACEWIRE=$WRAPPER tw_start --cgroup "$(lab_cgroup mid)" --cgroup "$(lab_cgroup leaf)" \
	--metrics-addr "127.0.0.1:$METRICS_PORT" --stats-interval 0
assert_file_contains "$TW_LOG" "features: capture on, tls [a-zA-Z]+, headers on, sockops on" \
	"capture, sk_msg and sock_ops run with the capability list"
assert_file_contains "$TW_LOG" "open files limit: raised from 1024 to $HARD_NOFILE" \
	"the soft open-files limit raised to the hard one without CAP_SYS_RESOURCE"
assert_file_lacks "$TW_LOG" "no CAP_SYS_PTRACE" "CAP_SYS_PTRACE is there"
assert_file_lacks "$TW_LOG" "mounted tracefs" "the host's tracefs is used, not mounted"

# the probes, as the kubelet would ask them (from the pod's network namespace)
CPID=$(podman inspect --format '{{.State.Pid}}' "$CTR")
probe() {
	nsenter -t "$CPID" -n curl -sS --max-time 5 -o "$LAB_DIR/probe.out" -w '%{http_code}' \
		"http://127.0.0.1:$METRICS_PORT$1" 2>>"$LAB_DIR/probe.err" || true
}
deadline=$(($(date +%s) + 20))
until [ "$(probe /readyz)" = 200 ]; do
	[ "$(date +%s)" -lt "$deadline" ] || { lab__show_file "$LAB_DIR/probe.err"; fail "/readyz not 200 within 20 s"; }
	sleep 0.2
done
assert_eq 200 "$(probe /healthz)" "/healthz in the container"

lab_step "$REQUESTS requests cli -> mid -> leaf"
for ((i = 0; i < REQUESTS; i++)); do
	lab_exec_in_pod cli curl -sS --max-time 10 -o /dev/null -w '%{http_code}\n' \
		"http://$(lab_ip mid):$MID_PORT/chain/$i" || fail "request $i failed"
	assert_eq 200 "$(cat "$LAB_LAST_OUT")" "request $i"
done
tw_wait_spans --kind server --pid "$LEAF_PID" "$REQUESTS" 30
tw_wait_spans --kind server --pid "$MID_PID" "$REQUESTS" 30

assert_eq 200 "$(probe /metrics)" "/metrics in the container"
assert_file_contains "$LAB_DIR/probe.out" '^tracewire_spans_total [1-9]' "spans counted in /metrics"

lab_step "podman stop: SIGTERM to tracewire, spans flushed, exit status 0"
TW_EXIT=0
timeout 40 podman stop -t 20 "$CTR" >/dev/null || fail "podman stop $CTR failed"
lab_wait_pid "$TW_PID" 20 || TW_EXIT=$?
TW_PID=
assert_eq 0 "$TW_EXIT" "tracewire's exit status in the container"
assert_file_contains "$TW_LOG" "received Terminated: stopping" "SIGTERM reached tracewire"

assert_eq "$REQUESTS" "$(tw_count --kind server --pid "$MID_PID" --service image-mid --code 200)" \
	"mid's SERVER spans, named from OTEL_SERVICE_NAME of a nobody process"
assert_eq "$REQUESTS" "$(tw_count --kind client --pid "$MID_PID" --service image-mid)" "mid's CLIENT spans"
assert_eq "$REQUESTS" "$(tw_count --kind server --pid "$LEAF_PID" --service image-leaf \
	--attr tracewire.parent.source=header)" "leaf's SERVER spans parented by the injected traceparent"
tw_spans check-pairs --client-pid "$MID_PID" --server-pid "$LEAF_PID" --expect "$REQUESTS" --same-trace
lab_step "spans:"
"$LAB_PY" -c '
import json, sys
for line in open(sys.argv[1]):
    s = json.loads(line)
    print("  %-6s %-10s %-4s %-10s %3s trace %s span %s parent %s" % (s["kind"], s["service"],
          s["name"], s.get("attributes", {}).get("url.path", ""), s.get("attributes", {}).get(
          "http.response.status_code", ""), s["trace_id"][:8], s["span_id"][:8], s["parent_span_id"][:8] or "-"))
' "$TW_JSONL" >&2
echo "image-test: PASS ($IMAGE: $REQUESTS requests, spans in $TW_JSONL)"
