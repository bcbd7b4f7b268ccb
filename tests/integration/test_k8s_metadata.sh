#!/usr/bin/env bash
# Pod metadata (issue 17 items 3, 5, 8): tracewire reads pods from a fake API
# server (tests/k8s/fake_kube_api.py: bearer token required) named by
# KUBECONFIG, and each span of a pod's process carries the pod's k8s.*
# attributes and a workload-derived service name. The pods' processes live
# in kubelet-style cgroups (containerd under the cgroupfs driver for pod a,
# under the systemd driver for pod b).
#   1. the API server is down at start: tracing starts anyway, spans have no
#      pod; the server comes up, metadata fills in (retries with backoff)
#   2. pod a (ReplicaSet -> Deployment "web"): every span has its attributes
#   3. pod b added during the run (label app.kubernetes.io/name=shop,
#      StatefulSet "db"): its spans get them; deleted: its spans lose them
#   4. a token the server refuses (401) or that lacks the RBAC rule (403):
#      tracing goes on, the log names the cause and the missing rule
#   5. https: the server's CA from certificate-authority (a file next to the
#      kubeconfig) or certificate-authority-data, the token from tokenFile;
#      without the CA the certificate is refused and named in the log
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"
# shellcheck source=tests/k8s/lab_k8s.sh
. "$(dirname "$0")/../k8s/lab_k8s.sh"

FAKE=$LAB_REPO/tests/k8s/fake_kube_api.py
TOKEN=s3cr3t-token
NODE=lab-node-1
ID_A=$(printf 'a%.0s' {1..64})
ID_B=$(printf '%064x' 48879)
UID_A=11111111-2222-3333-4444-555555555555
UID_B=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee

lab_init
lab_pod a 198.18.0.10/24
lab_pod b 198.18.0.11/24
lab_pod cli 198.18.0.20/24
lab_pod_container a "kubepods/burstable/pod$UID_A/$ID_A"
lab_pod_container b "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_B//-/_}.slice/cri-containerd-$ID_B.scope"
lab_start_server python a "$(lab_ip a)" 8080
a_pid=$LAB_LAST_PID
lab_start_server python b "$(lab_ip b)" 8080
b_pid=$LAB_LAST_PID
A=http://$(lab_ip a):8080
EXE=$(basename "$(readlink "/proc/$a_pid/exe")") # what spans are named without metadata
B=http://$(lab_ip b):8080

FAKE_TLS=() SCHEME=http
PORT=$(k8s_free_port)
pod_json() { # NAME UID ID OWNER_KIND OWNER_NAME LABELS_JSON
	printf '{"metadata":{"name":"%s","namespace":"shop","uid":"%s","labels":%s,' "$1" "$2" "$6"
	printf '"ownerReferences":[{"kind":"%s","name":"%s","controller":true}]},' "$4" "$5"
	printf '"spec":{"nodeName":"%s"},"status":{"containerStatuses":[' "$NODE"
	printf '{"name":"app","containerID":"containerd://%s"}]}}' "$3"
}
POD_A=$(pod_json web-7d9f-x1 "$UID_A" "$ID_A" ReplicaSet web-7d9f '{"app":"web"}')
POD_B=$(pod_json db-0 "$UID_B" "$ID_B" StatefulSet db '{"app.kubernetes.io/name":"shop"}')
OTHER=$(pod_json elsewhere-0 "00000000-0000-0000-0000-000000000009" "$(printf '%064x' 9)" StatefulSet x '{}')
OTHER=${OTHER/\"$NODE\"/\"node-2\"}
cat >"$LAB_DIR/state.json" <<JSON
{"pods": [$POD_A, $OTHER],
 "replicasets": [{"metadata": {"name": "web-7d9f", "namespace": "shop",
   "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": true}]}}]}
JSON
k8s_kubeconfig "$LAB_DIR/kubeconfig" "http://127.0.0.1:$PORT" "$TOKEN"

start_api() {
	"$LAB_PY" "$FAKE" --port "$PORT" --token "$TOKEN" --state "$LAB_DIR/state.json" \
		--forbidden-token norbac "${FAKE_TLS[@]}" \
		>"$LAB_DIR/fake-api.log" 2>&1 &
	API_PID=$!
	LAB_PIDS+=("$API_PID")
	for _ in $(seq 50); do
		curl -sk -o /dev/null "$SCHEME://127.0.0.1:$PORT/_test/log" && return 0
		sleep 0.1
	done
	fail "the fake API server did not start"
}

# res PID [KEY]: the resource values (or KEY's) of that pid's spans, sorted, unique
res() {
	"$LAB_PY" - "$TW_JSONL" "$@" <<'PY'
import json, sys
out = set()
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s["pid"] != int(sys.argv[2]) or s["kind"] != "server":
        continue
    r = s.get("resource", {})
    if len(sys.argv) > 3:
        out.add(r.get(sys.argv[3], "-") if sys.argv[3] != "service" else s["service"])
    else:
        out.add(json.dumps(r, sort_keys=True))
print("\n".join(sorted(out)))
PY
}
# traffic URL TAG: 5 requests, then wait for the span of ?tag=TAG
traffic() {
	local i
	for i in 1 2 3 4; do lab_exec_in_pod cli curl -sS -o /dev/null --max-time 10 "$1/?n=$i-$2"; done
	lab_exec_in_pod cli curl -sS -o /dev/null --max-time 10 "$1/?tag=$2"
	tw_wait_spans --kind server --attr "url.query=tag=$2" 1 30
}
count_phase() { # PID TAG-PREFIX: server spans of that pid whose query names the phase
	"$LAB_PY" - "$TW_JSONL" "$@" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s["pid"] == int(sys.argv[2]) and sys.argv[3] in s["attributes"].get("url.query", ""):
        n += 1
print(n)
PY
}

lab_step "1. API server down at start"
KUBECONFIG=$LAB_DIR/kubeconfig tw_start --cgroup "$LAB_CG/a" --cgroup "$LAB_CG/b" --k8s-node "$NODE"
assert_file_contains "$TW_LOG" "k8s: pod metadata on: pods of node $NODE from http://127.0.0.1:$PORT"
traffic "$A" down
assert_file_contains "$TW_LOG" "API server http://127.0.0.1:$PORT unreachable"
assert_eq "{}" "$(res "$a_pid")" "resource of pod a's spans while the API server is down"
assert_eq "$EXE" "$(res "$a_pid" service)" "service while the API server is down"

lab_step "2. API server up: pod a's spans get its metadata"
t0=$(date +%s.%N)
start_api
# the request without the token is refused
assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/v1/pods")" "no token"
for _ in $(seq 400); do grep -q "k8s: 1 pods on node $NODE" "$TW_LOG" && break; sleep 0.1; done
assert_file_contains "$TW_LOG" "k8s: 1 pods on node $NODE"
lab__say "metadata $(awk -v t="$t0" -v n="$(date +%s.%N)" 'BEGIN{printf "%.1f", n-t}') s after the API server came up"
traffic "$A" up
assert_eq "$(count_phase "$a_pid" up)" 5 "spans of phase up"
want_a='{"container.id": "'$ID_A'", "k8s.container.name": "app", "k8s.deployment.name": "web", "k8s.namespace.name": "shop", "k8s.node.name": "'$NODE'", "k8s.pod.name": "web-7d9f-x1", "k8s.pod.uid": "'$UID_A'", "k8s.replicaset.name": "web-7d9f"}'
got=$("$LAB_PY" - "$TW_JSONL" "$a_pid" <<'PY'
import json, sys
out = set()
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s["pid"] == int(sys.argv[2]) and s["attributes"].get("url.query", "").endswith("up"):
        out.add(json.dumps(s.get("resource", {}), sort_keys=True) + " " + s["service"])
print("\n".join(sorted(out)))
PY
)
assert_eq "$want_a web" "$got" "resource and service of every span of pod a (phase up)"

lab_step "3. pod b added during the run, then deleted"
curl -sS -o /dev/null -X POST --data-binary "$POD_B" "http://127.0.0.1:$PORT/_test/pods"
sleep 1
traffic "$B" added
assert_eq shop "$(res "$b_pid" service)" "pod b: service from app.kubernetes.io/name"
assert_eq db "$(res "$b_pid" k8s.statefulset.name)" "pod b: k8s.statefulset.name"
assert_eq "$ID_B" "$(res "$b_pid" container.id)" "pod b: container.id (systemd cgroup driver)"
assert_eq db-0 "$(res "$b_pid" k8s.pod.name)" "pod b: k8s.pod.name"
curl -sS -o /dev/null -X DELETE "http://127.0.0.1:$PORT/_test/pods/$UID_B"
sleep 1
traffic "$B" deleted
got=$("$LAB_PY" - "$TW_JSONL" "$b_pid" <<'PY'
import json, sys
out = set()
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s["pid"] == int(sys.argv[2]) and s["attributes"].get("url.query", "").endswith("deleted"):
        out.add(json.dumps(s.get("resource", {})) + " " + s["service"])
print("\n".join(sorted(out)))
PY
)
assert_eq "{} $EXE" "$got" "pod b's spans after it was deleted"
tw_stop
tw_spans validate

lab_step "4. 401 and 403"
for tok in wrong norbac; do
	sed "s/token: $TOKEN/token: $tok/" "$LAB_DIR/kubeconfig" >"$LAB_DIR/kubeconfig.$tok"
	KUBECONFIG=$LAB_DIR/kubeconfig.$tok tw_start --cgroup "$LAB_CG/a" --k8s-node "$NODE"
	traffic "$A" "$tok"
	tw_stop
	assert_eq "{}" "$(res "$a_pid")" "resource with token $tok"
done
assert_file_contains "$LAB_DIR/tracewire.2.log" "k8s: listing pods: 401 Unauthorized from http://127.0.0.1:$PORT"
assert_file_contains "$LAB_DIR/tracewire.3.log" 'k8s: listing pods: 403 Forbidden: the service account needs a ClusterRole rule get, list and watch on pods'

lab_step "5. https with a CA"
kill "$API_PID"
wait "$API_PID" 2>/dev/null || true
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$LAB_DIR/api.key" -out "$LAB_DIR/api.crt" \
	-days 1 -subj /CN=fake-api -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
FAKE_TLS=(--tls "$LAB_DIR/api.crt" "$LAB_DIR/api.key") SCHEME=https
start_api
echo "$TOKEN" >"$LAB_DIR/token"
sed -e "s|http://|https://|" -e "s|user: {token: $TOKEN}|user: {tokenFile: token}|" \
	-e "s|cluster: {server: \(.*\)}|cluster: {server: \1, certificate-authority: api.crt}|" \
	"$LAB_DIR/kubeconfig" >"$LAB_DIR/kubeconfig.tls"
sed "s|certificate-authority: api.crt|certificate-authority-data: $(base64 -w0 "$LAB_DIR/api.crt")|" \
	"$LAB_DIR/kubeconfig.tls" >"$LAB_DIR/kubeconfig.tlsdata"
sed "s|, certificate-authority: api.crt||" "$LAB_DIR/kubeconfig.tls" >"$LAB_DIR/kubeconfig.noca"
for kc in tls tlsdata noca; do
	KUBECONFIG=$LAB_DIR/kubeconfig.$kc tw_start --cgroup "$LAB_CG/a" --k8s-node "$NODE"
	for _ in $(seq 100); do grep -q "k8s: 1 pods on node\|k8s: listing pods" "$TW_LOG" && break; sleep 0.1; done
	traffic "$A" "$kc"
	tw_stop
	if [ $kc = noca ]; then
		assert_eq "{}" "$(res "$a_pid")" "resource without the CA"
		assert_file_contains "$TW_LOG" "API server https://127.0.0.1:$PORT unreachable \(SSL certificate problem"
	else
		assert_eq web-7d9f-x1 "$(res "$a_pid" k8s.pod.name)" "k8s.pod.name over https ($kc)"
	fi
done
lab_step "ok"
