#!/usr/bin/env bash
# deploy/ (issue 17): the manifests parse as YAML and keep what
# deploy/daemonset.yaml promises (tests/deploy/check_manifests.py: RBAC
# read-only on pods and owner kinds, the capability list with a reason each,
# no privileged, read-only mounts, 256Mi memory limit, probes on the port
# --metrics-addr serves, NODE_NAME); the DaemonSet's and the examples' args
# are accepted by this tracewire. Needs no root, cluster or network.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
/usr/bin/python3 -c 'import yaml' 2>/dev/null || { echo "FAIL: python3-yaml missing: run scripts/install-deps.sh" >&2; exit 1; }
/usr/bin/python3 "$repo/tests/deploy/check_manifests.py" "$repo/deploy" "${TRACEWIRE:-$repo/build/tracewire}"
