#!/usr/bin/env bash
# tracewire demo (`make demo`): a few real services in "pods" (network
# namespaces on a bridge), tracewire watching them from outside, 20 requests,
# and the traces tracewire prints. Everything it creates is removed at the end,
# also on failure or Ctrl-C. Needs root and build/tracewire.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/integration/lab.sh
. "$here/../tests/integration/lab.sh"

if [ "$(id -u)" != 0 ]; then
	echo "demo: needs root (network namespaces, cgroups, BPF): run 'sudo make demo'" >&2
	exit 1
fi
if [ ! -x "$TRACEWIRE" ]; then
	echo "demo: $TRACEWIRE is missing: run 'make' first" >&2
	exit 1
fi

bold=
plain=
if [ -t 1 ]; then
	bold=$(printf '\033[1m')
	plain=$(printf '\033[0m')
fi

cat <<EOF
${bold}tracewire demo${plain}

Four "pods" (network namespaces joined by a bridge, each in its own cgroup),
running unmodified services that carry no tracing code:

  front   nginx    198.18.0.10:8080   /, /status/404, /close, and /proxy/... -> api
  api     python   198.18.0.20:8000   python3 http.server
  web     node     198.18.0.30:3000   node http
  client  curl     198.18.0.100

tracewire runs outside them, like a node agent, selecting the four pods by
cgroup. The client sends 20 requests (some fail on purpose); tracewire turns
what it sees in the kernel into spans and prints each trace as a waterfall.
Nothing leaves this machine; all of it is removed at the end.

EOF

lab_init
lab_step "creating pods"
lab_pod front 198.18.0.10/24
lab_pod api 198.18.0.20/24
lab_pod web 198.18.0.30/24
lab_pod client 198.18.0.100/24
FRONT=http://$(lab_ip front):8080
API=http://$(lab_ip api):8000
WEB=http://$(lab_ip web):3000

lab_step "starting nginx, python and node"
lab_start_server python api "$(lab_ip api)" 8000
LAB_NGINX_UPSTREAM=$(lab_ip api):8000 lab_start_server nginx front "$(lab_ip front)" 8080
lab_start_server node web "$(lab_ip web)" 3000

lab_step "starting tracewire"
tw_start --exporter console --cgroup "$(lab_cgroup front)" --cgroup "$(lab_cgroup api)" \
	--cgroup "$(lab_cgroup web)" --cgroup "$(lab_cgroup client)"
console=$LAB_DIR/tracewire.out

requests=(
	"$FRONT/" "$FRONT/proxy/" "$WEB/?user=42" "$API/" "$FRONT/proxy/slow?ms=40"
	"$WEB/chunked" "$FRONT/status/404" "$FRONT/proxy/status/500" "$API/big" "$WEB/?user=7"
	"$FRONT/" "$FRONT/proxy/?page=2" "$WEB/status/503" "$API/slow?ms=25" "$FRONT/close"
	"$WEB/chunked?n=3" "$FRONT/proxy/" "$API/status/201" "$WEB/" "$FRONT/"
)
lab_step "sending ${#requests[@]} requests from the client pod"
curl_pids=()
for url in "${requests[@]}"; do
	rc=0
	lab_exec_in_pod client curl --silent --show-error --max-time 10 -o /dev/null \
		-w '%{http_code} %{time_total}' "$url" || rc=$?
	curl_pids+=(--pid "$LAB_LAST_PID")
	read -r code secs <"$LAB_LAST_OUT" || true
	if [ "$rc" = 0 ]; then
		printf '   GET %-42s -> %s  (%4.1f ms)\n' "$url" "$code" "$(LC_ALL=C awk -v s="$secs" 'BEGIN { print s * 1000 }')"
	else
		printf '   GET %-42s -> no response (curl exit %s: %s)\n' "$url" "$rc" \
			"$(head -c 60 "$LAB_LAST_ERR" | tr -d '\n')"
	fi
done

lab_step "waiting (at most 15 s) for tracewire to finish the traces"
tw_wait_spans --kind client "${curl_pids[@]}" "${#requests[@]}" 15
tw_stop

echo
echo "${bold}What tracewire printed${plain} (one waterfall per trace):"
echo
cat "$console"
echo
total=$(tw_spans count)
servers=$(tw_count --kind server)
errors=$(tw_count --otel-status-is error)
echo "${bold}$total spans${plain} ($servers server, $((total - servers)) client, $errors errors)."
echo "tracewire also writes them as JSON lines (--jsonl) and sends them over OTLP to"
echo "Tempo or Jaeger (--otlp-endpoint URL). A request through nginx to python is one"
echo "trace: tracewire wrote a W3C traceparent into the requests curl and nginx sent"
echo "(the '# propagation' line counts them); none of the services knows about it."
lab_step "cleaning up"
