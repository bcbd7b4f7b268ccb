#!/usr/bin/python3
"""HTTP/1.1 server for large transfers (tests/integration/test_wire_tcp.sh).

Usage: bulk_server.py ADDR PORT DIR

GET /NAME     answers with the bytes of DIR/NAME (Content-Length, keep-alive).
POST /upload  reads the body (Content-Length) and answers with its sha256 in
              hex and its length: "<sha256> <bytes>\\n".
Standard library only; threaded; knows nothing about tracewire.
"""
import hashlib
import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, body, ctype="application/octet-stream"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        name = os.path.basename(self.path)
        try:
            with open(os.path.join(self.server.dir, name), "rb") as f:
                body = f.read()
        except OSError:
            self.send_error(404)
            return
        self._reply(body)

    def do_POST(self):
        left = int(self.headers.get("Content-Length", "0"))
        h = hashlib.sha256()
        n = 0
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
            left -= len(chunk)
        self._reply(f"{h.hexdigest()} {n}\n".encode(), "text/plain")


def main():
    addr, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    srv = http.server.ThreadingHTTPServer((addr, port), Handler)
    srv.daemon_threads = True
    srv.dir = d
    srv.serve_forever()


if __name__ == "__main__":
    main()
