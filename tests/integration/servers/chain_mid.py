#!/usr/bin/python3
"""Middle tier of a call chain: an HTTP/1.1 server (ThreadingHTTPServer, one
thread per connection) that calls a downstream service for each request.

Usage: /usr/bin/python3 chain_mid.py ADDR PORT LEAF_ADDR LEAF_PORT [--new-conn] [--pass-path]

Routes (GET/HEAD; a request body is read and ignored):
  /chain/...     GET http://LEAF/ with http.client, then 200 with the leaf's
                 body. The handling thread keeps one keep-alive connection to
                 the leaf (thread-local; with --new-conn a new connection per
                 request, closed after it). With --pass-path the leaf is asked
                 for the incoming request's path and query instead of /. Nothing else of
                 the incoming request
                 (no header) is passed on: any trace context on the outgoing
                 request is tracewire's. A leaf failure is a 502 with the
                 error; the call is never retried (one request in, exactly
                 one request out).
  anything else  404
Standard library only; run with Debian's /usr/bin/python3.
"""

import http.client
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LEAF = None  # (addr, port)
NEW_CONN = False
PASS_PATH = False
_local = threading.local()


def leaf_conn():
    c = getattr(_local, "conn", None)
    if c is None or NEW_CONN:
        c = http.client.HTTPConnection(LEAF[0], LEAF[1], timeout=20)
        _local.conn = c
    return c


def drop_conn():
    c = getattr(_local, "conn", None)
    _local.conn = None
    if c is not None:
        c.close()


def call_leaf(path):
    """GET path on the leaf: (status, body). One attempt."""
    c = leaf_conn()
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        if NEW_CONN or r.will_close:
            drop_conn()
        return r.status, body
    except (OSError, http.client.HTTPException):
        drop_conn()
        raise


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tw-chain-mid"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        path = self.path.split("?", 1)[0]
        if not path.startswith("/chain/") and path != "/chain":
            self.reply(404, b"not found\n")
            return
        try:
            status, body = call_leaf(self.path if PASS_PATH else "/")
        except (OSError, http.client.HTTPException) as e:
            self.reply(502, f"leaf call failed: {e!r}\n".encode())
            return
        if status != 200:
            self.reply(502, b"leaf answered %d\n" % status)
            return
        self.reply(200, body)

    do_GET = do_HEAD = do_POST = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    global LEAF, NEW_CONN, PASS_PATH
    args = sys.argv[1:]
    if "--new-conn" in args:
        NEW_CONN = True
        args.remove("--new-conn")
    if "--pass-path" in args:
        PASS_PATH = True
        args.remove("--pass-path")
    if len(args) != 4:
        sys.exit("usage: chain_mid.py ADDR PORT LEAF_ADDR LEAF_PORT [--new-conn] [--pass-path]")
    addr, port = args[0], int(args[1])
    LEAF = (args[2], int(args[3]))
    Server.address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    srv = Server((addr, port), Handler)
    print(f"chain_mid listening on {addr} port {port}, leaf {LEAF[0]}:{LEAF[1]}"
          f"{' (new connection per call)' if NEW_CONN else ' (keep-alive per thread)'}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
