#!/usr/bin/python3
"""Test HTTP/1.1 server on Python's http.server (ThreadingHTTPServer), keep-alive.

Usage: /usr/bin/python3 python_server.py ADDR PORT   (ADDR: IPv4 or IPv6 literal)

Routes (any method; a request body is read and its length reported):
  /              200, small body with Content-Length
  /status/NNN    status NNN (no body for 1xx/204/304)
  /chunked       chunked body; ?n=CHUNKS (default 4) ?delay_ms=D (default 2)
                 between chunks; each chunk is its own write
  /big           200, 204800-byte body with Content-Length
  /slow?ms=N     200 after N ms (at most 60000)
  /close         closes the connection without any response
  /dup-close     200 after closing a duplicate of the connection's fd, as a
                 forked or spawned child that inherited it would
  /upgrade       101 Switching Protocols (Upgrade: tw-echo), then echoes raw
                 bytes back until the peer closes
  anything else  404
Standard library only; run with Debian's /usr/bin/python3.
"""

import os
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

BIG = (b"0123456789abcdef" * 12800)  # 204800 bytes


def qint(query, name, default, lo, hi):
    try:
        v = int(query.get(name, [default])[0])
    except ValueError:
        return default
    return max(lo, min(hi, v))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tw-python"
    # Headers and body go out in two writes; without TCP_NODELAY the second
    # waits for a delayed ACK (40 ms a request).
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # quiet: thousands of requests per test
        pass

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            total = 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return total
                self.rfile.read(size)
                self.rfile.readline(8)
                total += size
        n = int(self.headers.get("Content-Length") or 0)
        left = n
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                break
            left -= len(chunk)
        return n

    def reply(self, code, body=b"", ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if code >= 200 and code not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body and code not in (204, 304):
            self.wfile.write(body)

    def handle_any(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        got = self.read_body()
        path = url.path
        if path == "/":
            self.reply(200, b"hello from python (%d body bytes)\n" % got)
        elif path.startswith("/status/"):
            try:
                code = int(path[len("/status/"):])
            except ValueError:
                code = 0
            if not 100 <= code <= 599:
                self.reply(400, b"bad status\n")
            else:
                self.reply(code, b"status %d\n" % code)
        elif path == "/chunked":
            n = qint(query, "n", 4, 1, 1000)
            delay = qint(query, "delay_ms", 2, 0, 1000) / 1000.0
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command == "HEAD":
                return
            for i in range(n):
                data = b"chunk %d of %d\n" % (i + 1, n)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                if delay:
                    time.sleep(delay)
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/big":
            self.reply(200, BIG, "application/octet-stream")
        elif path == "/slow":
            time.sleep(qint(query, "ms", 100, 0, 60000) / 1000.0)
            self.reply(200, b"slow\n")
        elif path == "/dup-close":
            os.close(os.dup(self.connection.fileno()))
            self.reply(200, b"still here\n")
        elif path == "/upgrade":
            self.send_response(101)
            self.send_header("Upgrade", "tw-echo")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.close_connection = True
            while True:
                data = self.connection.recv(65536)
                if not data:
                    break
                self.connection.sendall(data)
        elif path == "/close":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        else:
            self.reply(404, b"not found\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: python_server.py ADDR PORT")
    addr, port = sys.argv[1], int(sys.argv[2])
    Server.address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    srv = Server((addr, port), Handler)
    print(f"python_server listening on {addr} port {port}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
