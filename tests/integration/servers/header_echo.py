#!/usr/bin/python3
"""HTTP/1.1 server (ThreadingHTTPServer, keep-alive) that reports the request
headers it received, and can call a downstream and report what that saw.

Usage: /usr/bin/python3 header_echo.py ADDR PORT

Routes (any method; a request body is read and ignored):
  /call[/...]?to=URL[&keep=1]
                       GET URL (http://HOST:PORT/PATH; a new connection, or
                       with keep=1 the handling thread's kept-alive one to
                       that host and port; no header of the incoming request
                       passed on: any trace context on it is tracewire's),
                       then 200 with
                       {"path": ..., "headers": {...}, "downstream": <URL's JSON>}
                       (502 with {"error": ...} when the call fails; never retried)
  anything else        200 with {"path": ..., "headers": {...}}
"headers": every header as received, names lowercased, in arrival order;
a name sent more than once maps to a list of its values.
Standard library only; run with Debian's /usr/bin/python3.
"""

import http.client
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def headers_of(msg):
    out = {}
    for k, v in msg.items():
        k = k.lower()
        if k in out:
            if not isinstance(out[k], list):
                out[k] = [out[k]]
            out[k].append(v)
        else:
            out[k] = v
    return out


_local = threading.local()


def call(url, keep):
    u = urlsplit(url)
    if u.scheme != "http" or not u.hostname:
        raise ValueError(f"not an http URL: {url!r}")
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    key = (u.hostname, u.port or 80)
    pool = getattr(_local, "conns", None)
    if pool is None:
        pool = _local.conns = {}
    c = pool.pop(key, None) if keep else None
    if c is None:
        c = http.client.HTTPConnection(key[0], key[1], timeout=20)
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
    except BaseException:
        c.close()
        raise
    if keep and not r.will_close:
        pool[key] = c
    else:
        c.close()
    if r.status != 200:
        raise ValueError(f"downstream answered {r.status}")
    return json.loads(body)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tw-header-echo"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        body = (json.dumps(obj, sort_keys=True) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        url = urlsplit(self.path)
        mine = {"path": self.path, "headers": headers_of(self.headers)}
        if url.path == "/call" or url.path.startswith("/call/"):
            q = parse_qs(url.query)
            to = q.get("to", [""])[0]
            try:
                mine["downstream"] = call(to, q.get("keep", [""])[0] == "1")
            except (OSError, ValueError, http.client.HTTPException) as e:
                self.reply(502, {"error": repr(e), **mine})
                return
        self.reply(200, mine)

    do_GET = do_POST = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: header_echo.py ADDR PORT")
    addr, port = sys.argv[1], int(sys.argv[2])
    Server.address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    srv = Server((addr, port), Handler)
    print(f"header_echo listening on {addr} port {port}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
