#!/usr/bin/python3
"""Load client of bench/soak.sh: N requests through a chain, each checked.

Usage: soak_client.py --url http://ADDR:PORT/proxy/chain --requests N
           [--conns C] [--max-seconds S] [--progress FILE] --out SUMMARY.json

C threads, each with one keep-alive connection (http.client, reopened after
an error or after 200 requests), take request numbers 0..N-1 in turn and
send GET URL?rid=RID (every third a POST with a 0..8 KiB body). The chain's
leaf is tests/integration/servers/integrity_server.py, which answers with a
JSON report of the request it received; the middle tier (chain_mid.py
--pass-path) asks it for the incoming path and query and returns its body.
A request is OK when the answer is 200 and its body is that JSON report for
its own rid (target "/chain?rid=RID", a GET as the middle tier sends it,
at most one traceparent). Otherwise it is "failed" (no answer, not 200) or a
"body mismatch" (another request's report, or not a report). A request is
sent once (no retry). Stops after N requests or S seconds.

--progress FILE: one line per second "unix_s ok failed mismatched".
SUMMARY.json: requests, ok, failed, mismatched, multi_tp (answers showing more
than one traceparent), seconds, rps, first_errors.
"""
import argparse
import http.client
import json
import os
import random
import threading
import time
from urllib.parse import urlsplit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--requests", type=int, default=1000000)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--max-seconds", type=float, default=3600)
    ap.add_argument("--progress")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    u = urlsplit(a.url)
    host, port, path = u.hostname, u.port or 80, u.path
    lock = threading.Lock()
    st = {"next": 0, "ok": 0, "failed": 0, "mismatched": 0, "multi_tp": 0, "errors": []}
    t0 = time.time()
    deadline = t0 + a.max_seconds
    stop = threading.Event()

    def take():
        with lock:
            if st["next"] >= a.requests or time.time() >= deadline:
                return None
            st["next"] += 1
            return st["next"] - 1

    def record(kind, rid, what):
        with lock:
            st[kind] += 1
            if len(st["errors"]) < 20:
                st["errors"].append({"t": round(time.time(), 3), "rid": rid, "kind": kind,
                                     "what": what[:300]})

    def worker(w):
        rnd = random.Random(w)
        conn, used = None, 0
        while True:
            rid = take()
            if rid is None:
                break
            if conn is None or used >= 200:
                if conn is not None:
                    conn.close()
                conn, used = http.client.HTTPConnection(host, port, timeout=30), 0
            used += 1
            target = f"{path}?rid={rid}"
            try:
                if rid % 3 == 2:
                    body = os.urandom(rnd.randint(0, 8192))
                    conn.request("POST", target, body=body,
                                 headers={"Content-Type": "application/octet-stream"})
                else:
                    conn.request("GET", target)
                r = conn.getresponse()
                data = r.read()
                if r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                record("failed", rid, repr(e))
                if conn is not None:
                    conn.close()
                conn = None
                continue
            if r.status != 200:
                record("failed", rid, f"status {r.status}: {data[:200]!r}")
                continue
            try:
                rep = json.loads(data)
                good = (rep.get("kind") == "request" and rep.get("method") == "GET"
                        and rep.get("target") == f"/chain?rid={rid}")
            except ValueError:
                good, rep = False, {}
            if not good:
                record("mismatched", rid, f"answer {data[:200]!r}")
                continue
            with lock:
                st["ok"] += 1
                if rep.get("tp_count", 0) > 1:
                    st["multi_tp"] += 1
        if conn is not None:
            conn.close()

    def progress():
        with open(a.progress, "w") as f:
            while not stop.wait(1.0):
                with lock:
                    f.write(f"{time.time():.3f} {st['ok']} {st['failed']} {st['mismatched']}\n")
                f.flush()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.conns)]
    pt = threading.Thread(target=progress) if a.progress else None
    if pt:
        pt.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    if pt:
        pt.join()
    secs = time.time() - t0
    out = {"requests": st["next"], "ok": st["ok"], "failed": st["failed"],
           "mismatched": st["mismatched"], "multi_tp": st["multi_tp"],
           "seconds": round(secs, 1), "rps": round(st["next"] / secs, 1) if secs else 0,
           "first_errors": st["errors"]}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: v for k, v in out.items() if k != "first_errors"}))


if __name__ == "__main__":
    main()
