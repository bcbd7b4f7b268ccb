#!/usr/bin/python3
"""HTTPS tier of a call chain: an ssl-wrapped HTTP/1.1 server
(ThreadingHTTPServer, one thread per connection).

Usage: /usr/bin/python3 tls_chain.py ADDR PORT CERT KEY [LEAF_ADDR LEAF_PORT CAFILE]

CERT/KEY (PEM) are the server's certificate and key. The TLS handshake runs
in the connection's thread (a stuck client cannot block accept()).

Without a leaf: every GET/HEAD/POST answers 200 "leaf ok" (a request body is
read and ignored).
With LEAF_ADDR LEAF_PORT CAFILE: /chain/... makes one GET / to
https://LEAF_ADDR:LEAF_PORT (certificate verified against CAFILE) with
http.client over a keep-alive HTTPSConnection of the handling thread, then
answers 200 with the leaf's body. Nothing of the incoming request is passed
on: any trace context that reaches the leaf is tracewire's (through TLS, only
a TCP/IP option can carry it). A leaf failure is a 502; never retried (one
request in, exactly one request out). Anything else is 404.
Standard library only; run with Debian's /usr/bin/python3 (its ssl module
uses the system's libssl.so.3).
"""

import http.client
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVER_CTX = None
LEAF = None  # (addr, port, client ssl context)
_local = threading.local()


def leaf_conn():
    c = getattr(_local, "conn", None)
    if c is None:
        c = http.client.HTTPSConnection(LEAF[0], LEAF[1], timeout=20, context=LEAF[2])
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
        if r.will_close:
            drop_conn()
        return r.status, body
    except (OSError, http.client.HTTPException):
        drop_conn()
        raise


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tw-tls-chain"
    disable_nagle_algorithm = True

    def setup(self):
        # handshake here, in the connection's thread
        self.request = SERVER_CTX.wrap_socket(self.request, server_side=True)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            self.request.close()

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
        if LEAF is None:
            self.reply(200, b"leaf ok\n")
            return
        path = self.path.split("?", 1)[0]
        if not path.startswith("/chain/") and path != "/chain":
            self.reply(404, b"not found\n")
            return
        try:
            status, body = call_leaf("/")
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

    def handle_error(self, request, client_address):
        # a client that gives up mid-handshake is not worth a traceback
        pass


def main():
    global SERVER_CTX, LEAF
    args = sys.argv[1:]
    if len(args) not in (4, 7):
        sys.exit("usage: tls_chain.py ADDR PORT CERT KEY [LEAF_ADDR LEAF_PORT CAFILE]")
    addr, port, cert, key = args[0], int(args[1]), args[2], args[3]
    SERVER_CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    SERVER_CTX.load_cert_chain(cert, key)
    if len(args) == 7:
        cctx = ssl.create_default_context(cafile=args[6])
        LEAF = (args[4], int(args[5]), cctx)
    Server.address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    srv = Server((addr, port), Handler)
    print(f"tls_chain listening on {addr} port {port}"
          + (f", leaf https://{LEAF[0]}:{LEAF[1]} (keep-alive per thread)" if LEAF else " (leaf)"),
          flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
