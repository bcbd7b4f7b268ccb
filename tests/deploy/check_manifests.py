#!/usr/bin/python3
"""Checks tracewire's Kubernetes manifests (issue 17): parsed with a YAML
parser (python3-yaml), then held to what deploy/daemonset.yaml promises.

Usage: check_manifests.py DEPLOY_DIR [TRACEWIRE]

  every *.yaml under DEPLOY_DIR parses; full objects have apiVersion, kind and
  metadata.name; the patches in examples/ name the tracewire container
  daemonset.yaml:
    Namespace, ServiceAccount, ClusterRole, ClusterRoleBinding, DaemonSet
    ClusterRole: only get/list/watch, only pods and the owner kinds (apps:
      replicasets, deployments, statefulsets, daemonsets; batch: jobs,
      cronjobs), no wildcard; the binding ties it to the pod's ServiceAccount
    DaemonSet: selector matches the template's labels; hostPID; no
      privileged, hostNetwork, hostIPC or privilege escalation anywhere;
      capabilities drop ALL and add only BPF, PERFMON, NET_ADMIN, SYS_PTRACE,
      SYS_RESOURCE, DAC_READ_SEARCH, each under a comment saying why; read-only
      root file system; every volume a hostPath of type Directory, mounted
      read-only; a memory request and a 256Mi memory limit; liveness on
      /healthz and readiness on /readyz at the named port that --metrics-addr
      in args serves; NODE_NAME from spec.nodeName; a toleration
  every args list (the DaemonSet's and the examples' patches, which replace
  it) keeps --metrics-addr on the probes' port; with TRACEWIRE given, each
  is accepted by `tracewire ARGS --help` (exit 0), with the patch's plain
  OTEL_* values in the environment.
Prints one line per check group; exits 1 on the first failure.
"""

import os
import re
import subprocess
import sys

import yaml

CAPS_ALLOWED = {"BPF", "PERFMON", "NET_ADMIN", "SYS_PTRACE", "SYS_RESOURCE", "DAC_READ_SEARCH"}
OWNER_RULES = {
    "": {"pods"},
    "apps": {"replicasets", "deployments", "statefulsets", "daemonsets"},
    "batch": {"jobs", "cronjobs"},
}


class Fail(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise Fail(msg)


def load_all(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise Fail(f"{path}: not YAML: {e}")
    return text, docs


def walk(obj, path=""):
    """(path, key, value) of every mapping entry, recursively."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield path, k, v
            yield from walk(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from walk(v, f"{path}[{i}]")


def metrics_port(args, where):
    need(isinstance(args, list) and all(isinstance(a, str) for a in args), f"{where}: args is a list of strings")
    need("--metrics-addr" in args, f"{where}: args lack --metrics-addr (the probes ask there): {args}")
    i = args.index("--metrics-addr")
    need(i + 1 < len(args), f"{where}: --metrics-addr without a value")
    m = re.fullmatch(r"(?:[0-9.]*|\[[0-9a-fA-F:]*\]):(\d+)", args[i + 1])
    need(m, f"{where}: --metrics-addr {args[i + 1]}: not HOST:PORT")
    need(not args[i + 1].startswith("127.") and not args[i + 1].startswith("[::1]"),
         f"{where}: --metrics-addr {args[i + 1]}: the kubelet probes the pod's address, not loopback")
    return int(m.group(1))


def check_role(docs):
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    seen = {}
    for r in role.get("rules", []):
        need(set(r["verbs"]) <= {"get", "list", "watch"}, f"ClusterRole: verbs beyond get/list/watch: {r['verbs']}")
        need(set(r["verbs"]) == {"get", "list", "watch"}, f"ClusterRole: each rule grants get, list and watch: {r}")
        for key in ("resourceNames", "nonResourceURLs"):
            need(key not in r, f"ClusterRole: unexpected {key}")
        for g in r["apiGroups"]:
            need(g in OWNER_RULES, f"ClusterRole: API group {g!r} not needed")
            for res in r["resources"]:
                need(res != "*" and "/" not in res, f"ClusterRole: resource {res!r}")
                need(res in OWNER_RULES[g], f"ClusterRole: {g or 'core'}/{res} not needed")
                seen.setdefault(g, set()).add(res)
    need(seen == OWNER_RULES, f"ClusterRole: expected {OWNER_RULES}, got {seen}")
    return role


def check_daemonset(path, text, docs):
    kinds = [d.get("kind") for d in docs]
    for k in ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"):
        need(kinds.count(k) == 1, f"{path}: expected one {k}, found {kinds.count(k)}")
    ns = next(d for d in docs if d["kind"] == "Namespace")["metadata"]["name"]
    sa = next(d for d in docs if d["kind"] == "ServiceAccount")
    role = check_role(docs)
    binding = next(d for d in docs if d["kind"] == "ClusterRoleBinding")
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    need(sa["metadata"].get("namespace") == ns and ds["metadata"].get("namespace") == ns,
         "ServiceAccount and DaemonSet in the Namespace")
    need(binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                "name": role["metadata"]["name"]}, "ClusterRoleBinding names the ClusterRole")
    need(binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": ns}],
         "ClusterRoleBinding binds the ServiceAccount only")
    print(f"check_manifests: {path}: RBAC: get/list/watch on pods and owner kinds only, bound to {ns}/{sa['metadata']['name']}")

    spec = ds["spec"]
    tmpl = spec["template"]
    labels = tmpl["metadata"]["labels"]
    for k, v in spec["selector"]["matchLabels"].items():
        need(labels.get(k) == v, f"DaemonSet: selector {k}={v} does not match the template")
    pod = tmpl["spec"]
    need(pod.get("serviceAccountName") == sa["metadata"]["name"], "DaemonSet: runs as the ServiceAccount")
    need(pod.get("hostPID") is True, "DaemonSet: hostPID")
    for _, k, v in walk(ds):
        need(not (k in ("privileged", "hostNetwork", "hostIPC", "allowPrivilegeEscalation") and v is True),
             f"DaemonSet: {k}: true")
    need(pod.get("tolerations"), "DaemonSet: tolerations (every node)")
    need(len(pod["containers"]) == 1, "DaemonSet: one container")
    c = pod["containers"][0]
    need(c["name"] == "tracewire", "the container is named tracewire (the examples patch it by name)")

    sc = c["securityContext"]
    caps = sc["capabilities"]
    need(caps.get("drop") == ["ALL"], "capabilities: drop ALL")
    added = caps.get("add", [])
    need(added and set(added) <= CAPS_ALLOWED, f"capabilities: add only {sorted(CAPS_ALLOWED)}: {added}")
    need(len(set(added)) == len(added), "capabilities: each added once")
    for cap in added:
        # the line before "- CAP" in the add list is a comment saying why
        m = re.search(rf"\n([ \t]*#[^\n]*)\n[ \t]*- {cap}[ \t]*(?:#[^\n]*)?\n", text)
        need(m, f"capability {cap}: no comment above it saying why")
    need(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    need(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
    print(f"check_manifests: {path}: capabilities {', '.join(added)} (all others dropped), each with its reason; no privileged")

    vols = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = c.get("volumeMounts", [])
    need({m["name"] for m in mounts} == set(vols), "every volume mounted, every mount a volume")
    for m in mounts:
        need(m.get("readOnly") is True, f"volumeMount {m['name']} ({m['mountPath']}) read-only")
        hp = vols[m["name"]].get("hostPath")
        need(hp and hp.get("type") == "Directory", f"volume {m['name']}: hostPath of type Directory")
    mount_paths = {m["mountPath"] for m in mounts}
    for p in ("/sys/kernel/tracing", "/sys/fs/cgroup"):
        need(p in mount_paths, f"{p} mounted")

    res = c["resources"]
    need(res["limits"].get("memory") == "256Mi", f"memory limit 256Mi: {res['limits']}")
    need(res.get("requests", {}).get("memory"), "a memory request")

    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    port = metrics_port(c.get("args", []), f"{path}: DaemonSet args")
    for probe, want in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c[probe]["httpGet"]
        need(get["path"] == want, f"{probe} on {want}")
        p = ports.get(get["port"], get["port"])
        need(p == port, f"{probe}: port {get['port']} is not --metrics-addr's {port}")
    env = {e["name"]: e for e in c.get("env", [])}
    need(env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName",
         "NODE_NAME from the downward API (spec.nodeName)")
    need(env.get("POD_UID", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.uid",
         "POD_UID from the downward API (metadata.uid): the default pod selection leaves tracewire's own pod out")
    print(f"check_manifests: {path}: read-only hostPath mounts {sorted(mount_paths)}, memory "
          f"{res['requests']['memory']}..{res['limits']['memory']}, probes /healthz and /readyz on :{port}, NODE_NAME")
    return c, port


def check_args_run(tracewire, args, env_extra, where):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("OTEL_"):
            del env[k]
    env.update(env_extra)
    r = subprocess.run([tracewire] + args + ["--help"], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30, text=True)
    need(r.returncode == 0, f"{where}: tracewire refuses {args}: {r.stderr.strip()}")


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    root, tracewire = argv[1], argv[2] if len(argv) == 3 else None
    try:
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".yaml"))
        need(files, f"no YAML under {root}")
        ds_path = os.path.join(root, "daemonset.yaml")
        need(ds_path in files, f"{ds_path} missing")
        parsed = {}
        for f in files:
            parsed[f] = load_all(f)
            for d in parsed[f][1]:
                need(isinstance(d, dict), f"{f}: a document is not a mapping")
                if "examples" + os.sep not in f:
                    for key in ("apiVersion", "kind", "metadata"):
                        need(key in d, f"{f}: a document without {key}")
                    need(d["metadata"].get("name"), f"{f}: {d['kind']} without a name")
        print(f"check_manifests: {len(files)} files parse as YAML")
        container, port = check_daemonset(ds_path, *parsed[ds_path])
        if tracewire:
            check_args_run(tracewire, container["args"], {}, ds_path)
        for f in files:
            if "examples" + os.sep not in f:
                continue
            for d in parsed[f][1]:
                cs = d.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
                need(cs, f"{f}: no containers to patch")
                for c in cs:
                    need(c.get("name") == "tracewire", f"{f}: patches container {c.get('name')!r}, not tracewire")
                    if "args" in c:
                        p = metrics_port(c["args"], f"{f}: args")
                        need(p == port, f"{f}: --metrics-addr port {p}, the probes ask {port}")
                    if tracewire:
                        env = {e["name"]: e["value"] for e in c.get("env", [])
                               if e["name"].startswith("OTEL_") and "value" in e and "$(" not in e["value"]}
                        check_args_run(tracewire, c.get("args", container["args"]), env, f)
            print(f"check_manifests: {f}: patches the tracewire container, keeps --metrics-addr :{port}"
                  + (", args accepted by tracewire" if tracewire else ""))
    except Fail as e:
        print(f"check_manifests: FAIL: {e}", file=sys.stderr)
        return 1
    print("check_manifests: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
