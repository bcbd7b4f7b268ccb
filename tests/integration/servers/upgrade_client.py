#!/usr/bin/python3
"""Client for python_server.py's /upgrade: switches protocols, then waits for
a go-file before sending COUNT messages that look like HTTP requests but are
echo-protocol payload, checking each echo.

Usage: /usr/bin/python3 upgrade_client.py ADDR PORT GO_FILE COUNT
Waits at most 60 s for GO_FILE. Prints "ok COUNT" and exits 0 on success.
"""

import os
import socket
import sys
import time


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            sys.exit("upgrade_client: connection closed early")
        buf += chunk
    return buf


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: upgrade_client.py ADDR PORT GO_FILE COUNT")
    addr, port, go_file, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    sock = socket.create_connection((addr, port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b"GET /upgrade HTTP/1.1\r\nHost: %s\r\nUpgrade: tw-echo\r\n"
                 b"Connection: Upgrade\r\n\r\n" % addr.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)  # the server sends nothing after the head unasked
        if not chunk:
            sys.exit("upgrade_client: closed before the response head ended")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101 "):
        sys.exit("upgrade_client: expected 101, got %r" % head[:40])
    deadline = time.monotonic() + 60
    while not os.path.exists(go_file):
        if time.monotonic() > deadline:
            sys.exit("upgrade_client: %s did not appear within 60 s" % go_file)
        time.sleep(0.02)
    for i in range(count):
        msg = b"GET /after-upgrade/%d HTTP/1.1\r\n\r\n" % i
        sock.sendall(msg)
        if recv_exact(sock, len(msg)) != msg:
            sys.exit("upgrade_client: echo %d differs" % i)
    sock.close()
    print("ok %d" % count, flush=True)


if __name__ == "__main__":
    main()
