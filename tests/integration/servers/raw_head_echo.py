#!/usr/bin/python3
"""HTTP/1.x server that answers every request with the exact bytes of the
request head it received (no parsing that could hide a bare CR or a NUL).

Usage: /usr/bin/python3 raw_head_echo.py ADDR PORT

Per connection, one request: the head (up to and including the first
CRLF CRLF, at most 64 KiB, 10 s), then a Content-Length body if any (read
and ignored); answers 200 with Connection: close and the JSON body
{"path": request-target, "raw_head_b64": base64 of the head}. A head that
does not end within the limits gets 400.
Standard library only; run with Debian's /usr/bin/python3.
"""

import base64
import json
import re
import socket
import socketserver
import sys

HEAD_MAX = 65536


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.settimeout(10)
        buf = b""
        try:
            while b"\r\n\r\n" not in buf and len(buf) <= HEAD_MAX:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
        except OSError:
            pass
        if b"\r\n\r\n" not in buf:
            self.reply(400, {"error": "no complete head", "raw_head_b64": base64.b64encode(buf).decode()})
            return
        i = buf.index(b"\r\n\r\n") + 4
        head, rest = buf[:i], buf[i:]
        m = re.search(rb"(?im)^content-length:[ \t]*([0-9]+)[ \t]*\r?$", head)
        want = int(m.group(1)) if m else 0
        try:
            while len(rest) < want:
                d = s.recv(65536)
                if not d:
                    break
                rest += d
        except OSError:
            pass
        parts = head.split(b" ", 2)
        path = parts[1].decode("latin-1") if len(parts) > 1 else ""
        self.reply(200, {"path": path, "raw_head_b64": base64.b64encode(head).decode()})

    def reply(self, code, obj):
        body = (json.dumps(obj, sort_keys=True) + "\n").encode()
        reason = b"OK" if code == 200 else b"Bad Request"
        try:
            self.request.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (code, reason, len(body))
                                 + body)
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: raw_head_echo.py ADDR PORT")
    addr, port = sys.argv[1], int(sys.argv[2])
    Server.address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    srv = Server((addr, port), Handler)
    print("raw_head_echo listening on %s port %d" % (addr, port), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
