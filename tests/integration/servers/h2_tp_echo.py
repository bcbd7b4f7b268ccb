#!/usr/bin/python3
"""HTTP/2 (h2c, prior knowledge) peers with python3-h2 that show which
traceparent fields a request arrived with, for test_h2_propagation.sh.

Usage:
  /usr/bin/python3 h2_tp_echo.py serve ADDR PORT
      answers every stream with 200 and a body that is the JSON list of the
      traceparent values its request carried, in order.
  /usr/bin/python3 h2_tp_echo.py call ADDR PORT N [--own TP] [--own-first K] [--eager]
      one connection, N GETs /n/<i> one after the other; the first K (default
      N with --own) carry the application's own traceparent TP (python3-h2
      indexes it, so requests after the first refer to it by index). Without
      --eager the client waits for the server's SETTINGS (and acknowledges
      them) before its first request; with it, the first request goes out with
      the preface. Prints one JSON line per request: {"i", "status", "tp"};
      exit 1 unless every answer was 200.
"""

import json
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events
import h2.exceptions


def serve_conn(s):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    try:
        s.sendall(conn.data_to_send())
        while True:
            data = s.recv(65536)
            if not data:
                return
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    tps = [v.decode() for k, v in ev.headers if k == b"traceparent"]
                    body = json.dumps(tps).encode()
                    conn.send_headers(ev.stream_id, [(":status", "200"),
                                                     ("content-length", str(len(body)))])
                    conn.send_data(ev.stream_id, body, end_stream=True)
            out = conn.data_to_send()
            if out:
                s.sendall(out)
    except (OSError, h2.exceptions.ProtocolError) as e:
        print("serve: %s" % e, file=sys.stderr, flush=True)
    finally:
        s.close()


def serve(addr, port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(64)
    print("h2_tp_echo listening on %s:%d" % (addr, port), flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve_conn, args=(c,), daemon=True).start()


class Peer:
    """The client's connection: events read one at a time, answered as
    python3-h2 wants (SETTINGS ACK, flow control)."""

    def __init__(self, s, conn):
        self.s, self.conn, self.queue = s, conn, []

    def event(self):
        while not self.queue:
            data = self.s.recv(65536)
            if not data:
                raise EOFError("connection closed")
            for ev in self.conn.receive_data(data):
                if isinstance(ev, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                self.queue.append(ev)
            out = self.conn.data_to_send()
            if out:
                self.s.sendall(out)
        return self.queue.pop(0)


def call(addr, port, n, own, own_first, eager):
    s = socket.create_connection((addr, port), timeout=5)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    peer = Peer(s, conn)
    conn.initiate_connection()
    if not eager:
        s.sendall(conn.data_to_send())
        while not isinstance(peer.event(), h2.events.RemoteSettingsChanged):
            pass
    ok = 0
    for i in range(n):
        sid = conn.get_next_available_stream_id()
        hdrs = [(":method", "GET"), (":scheme", "http"), (":path", "/n/%d" % i),
                (":authority", "%s:%d" % (addr, port))]
        if own and i < own_first:
            hdrs.append(("traceparent", own))
        conn.send_headers(sid, hdrs, end_stream=True)
        s.sendall(conn.data_to_send())
        status, body = None, b""
        while True:
            ev = peer.event()
            if getattr(ev, "stream_id", None) != sid:
                continue
            if isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers).get(b":status", b"").decode()
            elif isinstance(ev, h2.events.DataReceived):
                body += ev.data
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                break
        ok += status == "200"
        print(json.dumps({"i": i, "status": status, "tp": json.loads(body or b"[]")}), flush=True)
    conn.close_connection()
    s.sendall(conn.data_to_send())
    s.close()
    return ok == n


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "serve":
        serve(a[1], int(a[2]))
        return
    if len(a) >= 4 and a[0] == "call":
        own, own_first, eager, rest = None, None, False, a[4:]
        while rest:
            k = rest.pop(0)
            if k == "--own":
                own = rest.pop(0)
            elif k == "--own-first":
                own_first = int(rest.pop(0))
            elif k == "--eager":
                eager = True
            else:
                sys.exit("unknown option %s" % k)
        n = int(a[3])
        sys.exit(0 if call(a[1], int(a[2]), n, own, n if own_first is None else own_first,
                           eager) else 1)
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
