# shellcheck shell=bash
# Helpers of the tests that talk to tests/k8s/fake_kube_api.py; source after
# tests/integration/lab.sh.
#   k8s_free_port            a free TCP port on 127.0.0.1
#   k8s_kubeconfig FILE SERVER TOKEN   a kubeconfig whose current context is
#                            SERVER (http://127.0.0.1:PORT) with a bearer TOKEN

k8s_free_port() {
	"$LAB_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

k8s_kubeconfig() {
	cat >"$1" <<YAML
apiVersion: v1
kind: Config
current-context: lab
contexts:
- name: lab
  context: {cluster: fake, user: tracewire}
clusters:
- name: fake
  cluster: {server: "$2"}
users:
- name: tracewire
  user: {token: $3}
YAML
}
