#!/usr/bin/env python3
"""Hostile loads for bench/hostile.sh and tests/integration/test_memory_budget.sh.

  hostile_load.py server ADDR PORT
      accepts every connection and reads (and discards) whatever arrives,
      never answering: each request head or pipelined request stays
      unfinished or unanswered for as long as the client holds it
  hostile_load.py heads ADDR PORT N HOLD
      opens N connections, sends on each an unfinished request head (start
      line and a header, no blank line), holds them HOLD seconds, closes
  hostile_load.py pipeline ADDR PORT N K HOLD
      opens N connections, sends K complete pipelined requests on each (one
      send), holds them HOLD seconds (never answered), closes

Clients print "ready N OPENED SECONDS" once every connection has sent, then
"closed" at the end. The open-files limit is raised to N + 1000 (root).
"""
import resource
import selectors
import socket
import sys
import time


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(n, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def server(addr, port):
    raise_nofile(1 << 17)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(4096)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if s is ls:
                while True:
                    try:
                        c, _ = ls.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()


def client(addr, port, n, payload, hold):
    raise_nofile(n + 1000)
    t0 = time.monotonic()
    socks, opened, batch = [], 0, 256
    while opened < n:
        pend = []
        for _ in range(min(batch, n - opened)):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((addr, port))
            pend.append(s)
        sel = selectors.DefaultSelector()
        for s in pend:
            sel.register(s, selectors.EVENT_WRITE)
        deadline = time.monotonic() + 10
        left = len(pend)
        while left and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                sel.unregister(s)
                left -= 1
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    s.setblocking(True)
                    s.sendall(payload)
                    socks.append(s)
                else:
                    s.close()
        sel.close()
        opened += len(pend)
    print("ready %d %d %.1f" % (n, len(socks), time.monotonic() - t0), flush=True)
    time.sleep(hold)
    for s in socks:
        s.close()
    print("closed", flush=True)


def main():
    mode = sys.argv[1]
    addr, port = sys.argv[2], int(sys.argv[3])
    if mode == "server":
        server(addr, port)
    elif mode == "heads":
        n, hold = int(sys.argv[4]), float(sys.argv[5])
        head = b"GET /hostile/head HTTP/1.1\r\nHost: victim\r\nX-Unfinished: " + b"a" * 64
        client(addr, port, n, head, hold)
    elif mode == "pipeline":
        n, k, hold = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
        req = b"GET /hostile/pipelined HTTP/1.1\r\nHost: victim\r\n\r\n"
        client(addr, port, n, req * k, hold)
    else:
        sys.exit("hostile_load.py: unknown mode " + mode)


if __name__ == "__main__":
    main()
