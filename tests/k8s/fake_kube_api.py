#!/usr/bin/env python3
"""A small fake Kubernetes API server for tracewire's pod-metadata tests.

    fake_kube_api.py --port PORT --token TOKEN --state FILE [--forbidden-token T] [--tls CERT KEY]

Serves, over plain HTTP (or https with --tls) on 127.0.0.1:PORT, what tracewire's client asks:
  GET /api/v1/pods?fieldSelector=spec.nodeName%3DNODE        PodList
  GET /api/v1/pods?...&watch=1&resourceVersion=RV            watch events,
      one JSON object a line (ADDED, MODIFIED, DELETED, BOOKMARK), streamed
      until timeoutSeconds
  GET /apis/apps/v1/namespaces/NS/replicasets/NAME          from the state
  GET /apis/batch/v1/namespaces/NS/jobs/NAME                 from the state
Every request needs "Authorization: Bearer TOKEN" (else 401 Status;
--forbidden-token T: that token is known but has no rights: 403).

The test drives it through:
  POST /_test/pods      body: a Pod object: ADDED (or MODIFIED if its uid is known)
  DELETE /_test/pods/UID                      DELETED
  GET /_test/log        one line per API request: "METHOD PATH STATUS"
The state FILE (JSON) seeds {"pods": [...], "replicasets": [...], "jobs": [...]}.
"""
import argparse
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Condition()
PODS = {}        # uid -> pod
EVENTS = []      # (rv, type, pod)
OWNERS = {}      # (kind, ns, name) -> object
RV = [100]
LOG = []


def bump(kind, pod):
    RV[0] += 1
    pod = json.loads(json.dumps(pod))
    pod.setdefault("metadata", {})["resourceVersion"] = str(RV[0])
    EVENTS.append((RV[0], kind, pod))
    LOCK.notify_all()
    return pod


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with LOCK:
            LOG.append("%s %s %d" % (self.command, self.path, code))

    def status(self, code, reason):
        self.reply(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                          "reason": reason, "code": code})

    def authorized(self):
        if self.headers.get("Authorization") == "Bearer " + ARGS.token:
            return True
        if ARGS.forbidden_token and self.headers.get("Authorization") == "Bearer " + ARGS.forbidden_token:
            self.status(403, "Forbidden")
            return False
        self.status(401, "Unauthorized")
        return False

    def do_POST(self):
        if self.path != "/_test/pods":
            return self.status(404, "NotFound")
        pod = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        with LOCK:
            uid = pod["metadata"]["uid"]
            kind = "MODIFIED" if uid in PODS else "ADDED"
            PODS[uid] = bump(kind, pod)
        self.reply(200, {"ok": kind})

    def do_DELETE(self):
        uid = self.path.rsplit("/", 1)[-1]
        with LOCK:
            pod = PODS.pop(uid, None)
            if pod:
                bump("DELETED", pod)
        self.reply(200 if pod else 404, {"deleted": bool(pod)})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/_test/log":
            with LOCK:
                return self.reply(200, LOG)
        if not self.authorized():
            return
        parts = url.path.strip("/").split("/")
        if url.path == "/api/v1/pods":
            node = q.get("fieldSelector", "").partition("spec.nodeName=")[2]
            mine = lambda p: p.get("spec", {}).get("nodeName") == node
            if q.get("watch") in ("1", "true"):
                return self.watch(int(q.get("resourceVersion") or 0),
                                  float(q.get("timeoutSeconds", "60")), mine)
            with LOCK:
                items = [p for p in PODS.values() if mine(p)]
                rv = RV[0]
            return self.reply(200, {"kind": "PodList", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": str(rv)}, "items": items})
        if len(parts) == 7 and parts[0] == "apis" and parts[3] == "namespaces":
            obj = OWNERS.get((parts[5], parts[4], parts[6]))
            return self.reply(200, obj) if obj else self.status(404, "NotFound")
        self.status(404, "NotFound")

    def watch(self, since, timeout, mine):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        with LOCK:
            LOG.append("GET %s 200" % self.path)
        end = time.monotonic() + timeout
        sent = since
        try:
            while time.monotonic() < end:
                with LOCK:
                    new = [e for e in EVENTS if e[0] > sent]
                    if not new:
                        LOCK.wait(min(1.0, max(0.0, end - time.monotonic())))
                        continue
                for rv, kind, pod in new:
                    sent = rv
                    if mine(pod):
                        self.wfile.write((json.dumps({"type": kind, "object": pod}) + "\n").encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--forbidden-token", help="a known token without RBAC rights: 403")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve https")
    ARGS = ap.parse_args()
    state = json.load(open(ARGS.state))
    with LOCK:
        for p in state.get("pods", []):
            PODS[p["metadata"]["uid"]] = bump("ADDED", p)
    for kind in ("replicasets", "jobs"):
        for o in state.get(kind, []):
            OWNERS[(kind, o["metadata"]["namespace"], o["metadata"]["name"])] = o
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    if ARGS.tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*ARGS.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("listening on 127.0.0.1:%d" % ARGS.port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
