#!/usr/bin/python3
"""HTTP/2 by h2c upgrade (RFC 7540 3.2) with python3-h2, for
test_h2c_upgrade.sh.

Usage:
  /usr/bin/python3 h2c_upgrade.py serve ADDR PORT
      answers an HTTP/1.1 request carrying "Upgrade: h2c" with 101, then
      speaks HTTP/2 on the connection: the upgrade request (stream 1) and
      every later stream get 200 with the body b"ok " + :path; anything
      else gets 400 and is closed.
  /usr/bin/python3 h2c_upgrade.py call ADDR PORT N
      one connection: GET /up by upgrade (stream 1), then N GETs
      /req/<i> one after the other on it; each answer must be 200 with its
      body within 5 s. Prints "upgrade ok" and "requests OK/N"; exit 1
      unless all succeeded.
"""

import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events


def recv_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise EOFError("closed before the head ended")
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def answer(conn, sid, path):
    body = b"ok " + path
    conn.send_headers(sid, [(":status", "200"), ("content-length", str(len(body)))])
    conn.send_data(sid, body, end_stream=True)


def serve_conn(s):
    try:
        head, rest = recv_head(s)
        lines = head.split(b"\r\n")
        fields = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            fields[k.strip().lower()] = v.strip()
        if fields.get(b"upgrade", b"").lower() != b"h2c" or b"http2-settings" not in fields:
            s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        path = lines[0].split(b" ")[1]
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
        conn.initiate_upgrade_connection(fields[b"http2-settings"])
        answer(conn, 1, path)
        s.sendall(conn.data_to_send())
        data = rest
        while True:
            for ev in conn.receive_data(data) if data else []:
                if isinstance(ev, h2.events.RequestReceived):
                    answer(conn, ev.stream_id, dict(ev.headers).get(b":path", b"?"))
            out = conn.data_to_send()
            if out:
                s.sendall(out)
            data = s.recv(65536)
            if not data:
                return
    except (OSError, EOFError, h2.exceptions.ProtocolError):
        return
    finally:
        s.close()


def serve(addr, port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(64)
    print("h2c_upgrade listening on %s:%d" % (addr, port), flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve_conn, args=(c,), daemon=True).start()


def wait_stream(s, conn, sid, pending):
    """Reads until stream sid ended; returns (status, body)."""
    status, body = None, b""
    data = pending
    while True:
        for ev in conn.receive_data(data) if data else []:
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                status = dict(ev.headers).get(b":status")
            elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                body += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                out = conn.data_to_send()
                if out:
                    s.sendall(out)
                return status, body
        out = conn.data_to_send()
        if out:
            s.sendall(out)
        data = s.recv(65536)
        if not data:
            raise EOFError("closed before stream %d ended" % sid)


def call(addr, port, n):
    s = socket.create_connection((addr, port), timeout=5)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    settings = conn.initiate_upgrade_connection()
    s.sendall(b"GET /up HTTP/1.1\r\nHost: %s:%d\r\nConnection: Upgrade, HTTP2-Settings\r\n"
              b"Upgrade: h2c\r\nHTTP2-Settings: %s\r\n\r\n" % (addr.encode(), port, settings))
    head, rest = recv_head(s)
    if not head.startswith(b"HTTP/1.1 101 "):
        sys.exit("no 101: %r" % head[:60])
    s.sendall(conn.data_to_send())
    status, body = wait_stream(s, conn, 1, rest)
    if status != b"200" or body != b"ok /up":
        sys.exit("upgrade request: %r %r" % (status, body))
    print("upgrade ok", flush=True)
    ok = 0
    for i in range(n):
        sid = conn.get_next_available_stream_id()
        path = "/req/%d" % i
        conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":path", path),
                                (":authority", "%s:%d" % (addr, port))], end_stream=True)
        s.sendall(conn.data_to_send())
        status, body = wait_stream(s, conn, sid, b"")
        if status == b"200" and body == b"ok " + path.encode():
            ok += 1
    conn.close_connection()
    s.sendall(conn.data_to_send())
    s.close()
    print("requests %d/%d" % (ok, n), flush=True)
    return 0 if ok == n else 1


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "call":
        sys.exit(call(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
