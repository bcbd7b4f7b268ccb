#!/usr/bin/python3
"""Strict HTTP/1.1 test server that reports exactly what reached it.

Used by the propagation integrity tests (tests/integration/test_propagation_*.sh)
to prove that header injection never changes anything but the head. Standard
library only; knows nothing about tracewire.

Usage: integrity_server.py --listen ADDR:PORT [--listen [ADDR6]:PORT ...] --log FILE

Threaded (one thread per connection), keep-alive, pipelining (requests are
answered in order as they are parsed). The parser is strict and self-written:
request line "METHOD SP TARGET SP HTTP/1.x", header lines "name: value" (token
names, no obs-fold), at most one Content-Length (digits only), Transfer-Encoding
only "chunked" (chunk extensions and trailers accepted), never both.

For each request it appends one JSON line to FILE and answers 200 with the same
object as the body (Content-Type application/json):
  kind "request", conn (connection number), seq (request number on it, from 0),
  peer "addr:port", t (unix time at the end of the head), method, target,
  version, headers (names in order, as sent), tp_count (traceparent headers,
  case-insensitive), tp_values, tp_index (their positions among the headers),
  ts_values (tracestate values), head_len, head_sha256_no_tp (sha256 of the head
  from the request line to the final CRLF CRLF with every traceparent line left
  out), body_len and body_sha256 (after de-chunking), chunked, chunks, trailers.
A request the parser rejects, or a connection that ends inside a request, gives
a line with kind "error" (conn, peer, seq, error, near: the bytes at the failure)
and, for a rejected request, a 400 answer and the connection closed. A clean end
of a connection gives kind "close" with the number of requests. SIGTERM/SIGINT:
exit 0.
"""

import argparse
import hashlib
import json
import os
import re
import signal
import socket
import threading
import time

TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
REQUEST_LINE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP/1\.([01])$")
HEX = re.compile(rb"^[0-9A-Fa-f]+$")
MAX_HEAD = 64 * 1024
MAX_LINE = 8 * 1024
RECV = 256 * 1024


class BadRequest(Exception):
    pass


class Closed(Exception):
    """Peer closed (or reset) the connection."""


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def fill(self):
        if self.eof:
            raise Closed()
        try:
            data = self.sock.recv(RECV)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            raise Closed()
        self.buf += data

    def read_until(self, sep, limit):
        """Bytes up to and including sep (consumed)."""
        start = 0
        while True:
            i = self.buf.find(sep, start)
            if i >= 0:
                end = i + len(sep)
                if end > limit:
                    raise BadRequest(f"line or head longer than {limit} bytes")
                out = bytes(self.buf[:end])
                del self.buf[:end]
                return out
            if len(self.buf) > limit:
                raise BadRequest(f"no {sep!r} within {limit} bytes")
            start = max(0, len(self.buf) - len(sep) + 1)
            self.fill()

    def read_into(self, n, h):
        """Consume n bytes into hash h."""
        while n > 0:
            if not self.buf:
                self.fill()
            take = min(n, len(self.buf))
            h.update(memoryview(self.buf)[:take])
            del self.buf[:take]
            n -= take

    def expect(self, lit):
        while len(self.buf) < len(lit):
            self.fill()
        if self.buf[: len(lit)] != lit:
            raise BadRequest(f"expected {lit!r}, got {bytes(self.buf[:len(lit) + 20])!r}")
        del self.buf[: len(lit)]


class Server:
    def __init__(self, log_path):
        self.log = open(log_path, "a", encoding="utf-8")
        self.lock = threading.Lock()
        self.nconn = 0

    def record(self, obj):
        line = json.dumps(obj, separators=(",", ":")) + "\n"
        with self.lock:
            self.log.write(line)
            self.log.flush()

    def next_conn(self):
        with self.lock:
            self.nconn += 1
            return self.nconn

    def handle(self, sock, peer):
        cid = self.next_conn()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = Conn(sock)
        seq = 0
        try:
            while True:
                try:
                    if not c.buf:
                        c.fill()
                except Closed:
                    self.record({"kind": "close", "conn": cid, "peer": peer, "requests": seq})
                    return
                try:
                    rec, close = self.one_request(c, cid, seq, peer)
                except Closed:
                    self.record({"kind": "error", "conn": cid, "peer": peer, "seq": seq,
                                 "error": "connection ended inside a request",
                                 "near": c.buf[:200].decode("latin-1")})
                    return
                except BadRequest as e:
                    self.record({"kind": "error", "conn": cid, "peer": peer, "seq": seq,
                                 "error": str(e), "near": c.buf[:200].decode("latin-1")})
                    body = json.dumps({"error": str(e)}).encode()
                    try:
                        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                                     b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                    except OSError:
                        pass
                    return
                self.record(rec)
                body = json.dumps(rec, separators=(",", ":")).encode()
                head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n" % len(body))
                if close:
                    head += b"Connection: close\r\n"
                try:
                    sock.sendall(head + b"\r\n" + body)
                except OSError as e:
                    self.record({"kind": "error", "conn": cid, "peer": peer, "seq": seq,
                                 "error": f"sending the response: {e}", "near": ""})
                    return
                seq += 1
                if close:
                    self.record({"kind": "close", "conn": cid, "peer": peer, "requests": seq})
                    return
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def one_request(self, c, cid, seq, peer):
        head = c.read_until(b"\r\n\r\n", MAX_HEAD)
        t = time.time()
        lines = head[:-4].split(b"\r\n")
        m = REQUEST_LINE.match(lines[0])
        if not m:
            raise BadRequest(f"bad request line {lines[0][:200]!r}")
        method, target, minor = m.group(1), m.group(2), int(m.group(3))
        names, tp_values, tp_index, ts_values = [], [], [], []
        kept = [lines[0]]
        clen = None
        te = None
        close = minor == 0
        for i, ln in enumerate(lines[1:]):
            if b"\r" in ln or b"\n" in ln:
                raise BadRequest(f"bare CR or LF in header line {ln[:200]!r}")
            if ln[:1] in (b" ", b"\t"):
                raise BadRequest(f"obs-fold header line {ln[:200]!r}")
            name, sep, value = ln.partition(b":")
            if not sep or not TOKEN.match(name):
                raise BadRequest(f"bad header line {ln[:200]!r}")
            value = value.strip(b" \t")
            lname = name.lower()
            names.append(name.decode("latin-1"))
            if lname == b"traceparent":
                tp_values.append(value.decode("latin-1"))
                tp_index.append(i)
            else:
                kept.append(ln)
            if lname == b"tracestate":
                ts_values.append(value.decode("latin-1"))
            elif lname == b"content-length":
                if clen is not None:
                    raise BadRequest("more than one Content-Length")
                if not value.isdigit():
                    raise BadRequest(f"bad Content-Length {value[:50]!r}")
                clen = int(value)
            elif lname == b"transfer-encoding":
                if te is not None or value.lower() != b"chunked":
                    raise BadRequest(f"unsupported Transfer-Encoding {value[:50]!r}")
                te = value
            elif lname == b"connection":
                v = value.lower()
                if v == b"close":
                    close = True
                elif v == b"keep-alive":
                    close = False
        if clen is not None and te is not None:
            raise BadRequest("both Content-Length and Transfer-Encoding")
        no_tp = b"\r\n".join(kept) + b"\r\n\r\n"
        h = hashlib.sha256()
        blen = 0
        chunks = trailers = 0
        if te is not None:
            while True:
                ln = c.read_until(b"\r\n", MAX_LINE)[:-2]
                size = ln.split(b";", 1)[0].rstrip(b" \t")
                if not HEX.match(size) or len(size) > 15:
                    raise BadRequest(f"bad chunk size line {ln[:100]!r}")
                n = int(size, 16)
                if n == 0:
                    break
                c.read_into(n, h)
                blen += n
                chunks += 1
                c.expect(b"\r\n")
            while True:
                ln = c.read_until(b"\r\n", MAX_LINE)[:-2]
                if not ln:
                    break
                name, sep, _ = ln.partition(b":")
                if not sep or not TOKEN.match(name):
                    raise BadRequest(f"bad trailer line {ln[:100]!r}")
                trailers += 1
        elif clen:
            c.read_into(clen, h)
            blen = clen
        rec = {
            "kind": "request", "conn": cid, "seq": seq, "peer": peer, "t": t,
            "method": method.decode("latin-1"), "target": target.decode("latin-1"),
            "version": f"1.{minor}", "headers": names,
            "tp_count": len(tp_values), "tp_values": tp_values, "tp_index": tp_index,
            "ts_values": ts_values, "head_len": len(head),
            "head_sha256_no_tp": hashlib.sha256(no_tp).hexdigest(),
            "body_len": blen, "body_sha256": h.hexdigest(),
            "chunked": te is not None, "chunks": chunks, "trailers": trailers,
        }
        return rec, close


def parse_listen(s):
    m = re.match(r"^\[([0-9A-Fa-f:.]+)\]:(\d+)$", s) or re.match(r"^([0-9.]+):(\d+)$", s)
    if not m:
        raise argparse.ArgumentTypeError(f"expected ADDR:PORT or [ADDR6]:PORT, got {s!r}")
    return m.group(1), int(m.group(2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", action="append", type=parse_listen, required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    srv = Server(a.log)
    socks = []
    for addr, port in a.listen:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        s.listen(256)
        socks.append(s)

    def acceptor(ls):
        while True:
            try:
                cs, pa = ls.accept()
            except OSError:
                return
            peer = f"[{pa[0]}]:{pa[1]}" if ls.family == socket.AF_INET6 else f"{pa[0]}:{pa[1]}"
            threading.Thread(target=srv.handle, args=(cs, peer), daemon=True).start()

    for s in socks:
        threading.Thread(target=acceptor, args=(s,), daemon=True).start()
    print(f"integrity_server: listening on {', '.join(f'{a}:{p}' for a, p in a.listen)}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(3600):
        pass
    srv.log.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
