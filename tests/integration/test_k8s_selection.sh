#!/usr/bin/env bash
# Selection by pod (issue 17 item 4): --k8s-namespace and --k8s-selector pick
# pods by what the (fake) API server says, with no cgroup path typed; pods in
# kubelet-style cgroups (cgroupfs and systemd drivers, guaranteed and
# burstable/besteffort QoS levels). Each phase sends tagged requests to every
# pod's server and looks at which servers have spans:
#   1. --k8s-namespace shop: web and db, not other's or kube-system's pods; a
#      pod that starts later (its cgroup made during the run) is traced once
#      the API server tells of it; a pod deleted from the API is traced no more
#   2. --k8s-selector 'app in (web)': web and other, across namespaces
#   3. both: --k8s-namespace shop --k8s-selector 'app!=db': web only
#   4. no selection option, KUBECONFIG set: every pod but kube-system's; a
#      process outside any pod is not traced
#   5. API server down at start: no pod selected; it comes up: selected
#   6. usage errors (exit 2): no pod metadata, a bad selector, a bad namespace
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"
# shellcheck source=tests/k8s/lab_k8s.sh
. "$(dirname "$0")/../k8s/lab_k8s.sh"

FAKE=$LAB_REPO/tests/k8s/fake_kube_api.py
TOKEN=sel-token
NODE=lab-node-1
uid() { printf '%08x-0000-4000-8000-%012x' "$1" "$1"; }
cid() { printf '%064x' "$1"; }
UID_WEB=$(uid 1) UID_DB=$(uid 2) UID_OTHER=$(uid 3) UID_SYS=$(uid 4) UID_LATE=$(uid 5)

lab_init
lab_pod web 198.18.0.10/24
lab_pod db 198.18.0.11/24
lab_pod other 198.18.0.12/24
lab_pod sys 198.18.0.13/24
lab_pod late 198.18.0.14/24
lab_pod host 198.18.0.15/24
lab_pod cli 198.18.0.20/24
lab_pod_container web "kubepods/burstable/pod$UID_WEB/$(cid 1)"
lab_pod_container db "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_DB//-/_}.slice/cri-containerd-$(cid 2).scope"
lab_pod_container other "kubepods/pod$UID_OTHER/$(cid 3)"
lab_pod_container sys "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_SYS//-/_}.slice/crio-$(cid 4).scope"
# the late pod's QoS cgroup exists from the start (the kubelet makes those at
# its own start); its pod cgroup comes during the run
mkdir -p "$(lab_cgroup late)/kubepods/besteffort"
declare -A PID
for p in web db other sys host; do
	lab_start_server python "$p" "$(lab_ip "$p")" 8080
	PID[$p]=$LAB_LAST_PID
done

PORT=$(k8s_free_port)
pod_json() { # NAME NS UID CID LABELS_JSON
	printf '{"metadata":{"name":"%s","namespace":"%s","uid":"%s","labels":%s},' "$1" "$2" "$3" "$5"
	printf '"spec":{"nodeName":"%s"},"status":{"containerStatuses":[' "$NODE"
	printf '{"name":"app","containerID":"containerd://%s"}]}}' "$4"
}
POD_WEB=$(pod_json web-1 shop "$UID_WEB" "$(cid 1)" '{"app":"web"}')
POD_DB=$(pod_json db-0 shop "$UID_DB" "$(cid 2)" '{"app":"db"}')
POD_OTHER=$(pod_json web-2 other "$UID_OTHER" "$(cid 3)" '{"app":"web"}')
POD_SYS=$(pod_json coredns-1 kube-system "$UID_SYS" "$(cid 4)" '{"app":"dns"}')
POD_LATE=$(pod_json web-3 shop "$UID_LATE" "$(cid 5)" '{"app":"web","tier":"front"}')
printf '{"pods": [%s, %s, %s, %s]}\n' "$POD_WEB" "$POD_DB" "$POD_OTHER" "$POD_SYS" >"$LAB_DIR/state.json"
k8s_kubeconfig "$LAB_DIR/kubeconfig" "http://127.0.0.1:$PORT" "$TOKEN"

API_PID=
start_api() {
	"$LAB_PY" "$FAKE" --port "$PORT" --token "$TOKEN" --state "$LAB_DIR/state.json" \
		>>"$LAB_DIR/fake-api.log" 2>&1 &
	API_PID=$!
	LAB_PIDS+=("$API_PID")
	for _ in $(seq 50); do
		curl -s -o /dev/null "http://127.0.0.1:$PORT/_test/log" && return 0
		sleep 0.1
	done
	fail "the fake API server did not start"
}
stop_api() {
	kill "$API_PID"
	wait "$API_PID" 2>/dev/null || true
}

# wait_log ERE TIMEOUT: until tracewire's log has a line matching ERE
wait_log() {
	local deadline=$(($(date +%s) + $2))
	until grep -Eq "$1" "$TW_LOG"; do
		[ "$(date +%s)" -lt "$deadline" ] || { fail "no log line /$1/ within $2 s"; return 1; }
		sleep 0.1
	done
}
# wait_pods N: until the selection's last change left N pods (its log line)
wait_pods() {
	local deadline=$(($(date +%s) + 15))
	until grep -E "k8s: tracing [0-9]+ pods" "$TW_LOG" | tail -n 1 | grep -q "tracing $1 pods"; do
		[ "$(date +%s)" -lt "$deadline" ] || { fail "the selection did not reach $1 pods within 15 s"; return 1; }
		sleep 0.1
	done
}

# traced TAG POD...: the pods (of those given) whose server has a span of TAG.
# Every pod gets a request tagged TAG; then a last request to the marker pod
# (traced in every phase) whose span is waited for: spans of the others,
# exported no later, are in by then.
traced() {
	local tag=$1 marker=$2 p out=
	shift 2
	for p in "$@"; do
		lab_exec_in_pod cli curl -sS -o /dev/null --max-time 10 "http://$(lab_ip "$p"):8080/?tag=$tag-$p"
	done
	lab_exec_in_pod cli curl -sS -o /dev/null --max-time 10 "http://$(lab_ip "$marker"):8080/?tag=$tag-mark"
	tw_wait_spans --kind server --attr "url.query=tag=$tag-mark" 1 20 || return 1
	for p in "$@"; do
		[ "$(tw_count --kind server --attr "url.query=tag=$tag-$p")" -gt 0 ] && out+="$p "
	done
	echo "${out% }"
}

start_api

lab_step "1. --k8s-namespace shop"
KUBECONFIG=$LAB_DIR/kubeconfig tw_start --k8s-node "$NODE" --k8s-namespace shop
assert_file_contains "$TW_LOG" "ready: .*tracing pods in namespace shop"
wait_pods 2
assert_eq "web db" "$(traced p1 web web db other sys host)" "pods traced with --k8s-namespace shop"
# a pod that starts later: its cgroup and process come, then the API tells of it
lab_pod_container late "kubepods/besteffort/pod$UID_LATE/$(cid 5)"
lab_start_server python late "$(lab_ip late)" 8080
PID[late]=$LAB_LAST_PID
curl -sS -o /dev/null -X POST --data-binary "$POD_LATE" "http://127.0.0.1:$PORT/_test/pods"
wait_pods 3
assert_eq "web db late" "$(traced p1late web web db late other)" "a pod started during the run"
# deleted from the API: no longer traced
curl -sS -o /dev/null -X DELETE "http://127.0.0.1:$PORT/_test/pods/$UID_DB"
wait_pods 2
assert_eq "web late" "$(traced p1del web web db late)" "after db-0 was deleted"
curl -sS -o /dev/null -X POST --data-binary "$POD_DB" "http://127.0.0.1:$PORT/_test/pods"
wait_pods 3
tw_stop
tw_spans validate

lab_step "2. --k8s-selector 'app in (web)'"
KUBECONFIG=$LAB_DIR/kubeconfig tw_start --k8s-node "$NODE" --k8s-selector 'app in (web)'
wait_pods 3
assert_eq "web other late" "$(traced p2 web web db other sys late host)" "pods traced with app in (web)"
tw_stop

lab_step "3. --k8s-namespace shop --k8s-selector 'app!=db'"
KUBECONFIG=$LAB_DIR/kubeconfig tw_start --k8s-node "$NODE" --k8s-namespace shop --k8s-selector 'app!=db,!tier'
assert_file_contains "$TW_LOG" 'tracing pods in namespace shop with labels app!=db,!tier'
wait_pods 1
assert_eq "web" "$(traced p3 web web db other sys late)" "pods traced with both"
tw_stop

lab_step "4. no selection option in a cluster: every pod but kube-system's"
KUBECONFIG=$LAB_DIR/kubeconfig tw_start --k8s-node "$NODE"
assert_file_contains "$TW_LOG" "ready: .*tracing every pod except kube-system's and tracewire's own"
wait_log "k8s: 5 pods on node $NODE" 15
wait_pods 4
assert_eq "web db other late" "$(traced p4 web web db other sys late host)" "default selection"
tw_stop

lab_step "5. API server down at start"
stop_api
# (and --cgroup with it: either selects; the host pod is the marker)
KUBECONFIG=$LAB_DIR/kubeconfig tw_start --k8s-node "$NODE" --k8s-namespace other --cgroup "$(lab_cgroup host)"
wait_log "k8s: no pod selected until the API server lists" 15
assert_eq "host" "$(traced p5down host web other host)" "no pod selected while the API server is down"
start_api
wait_pods 1
assert_eq "other host" "$(traced p5up host web other host)" "selected once the API server answered"
tw_stop

lab_step "6. usage errors"
assert_exit 2 "--k8s-namespace without pod metadata" env -u KUBECONFIG -u KUBERNETES_SERVICE_HOST \
	"$TRACEWIRE" --k8s-namespace shop
for bad in 'app in web' 'app=a b' ',' 'Bad/app=x'; do
	assert_exit 2 "--k8s-selector '$bad'" env KUBECONFIG="$LAB_DIR/kubeconfig" "$TRACEWIRE" --k8s-selector "$bad"
done
assert_exit 2 "--k8s-namespace Shop" env KUBECONFIG="$LAB_DIR/kubeconfig" "$TRACEWIRE" --k8s-namespace Shop
lab_step "ok"
