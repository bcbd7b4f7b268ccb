#!/usr/bin/python3
"""Peer for test_protocol_safety.sh: TCP servers that speak (just enough of)
non-HTTP/1 protocols and record every byte each connection delivered, so the
client (proto_client.py) can prove nothing was altered on the way.

Usage: /usr/bin/python3 proto_peer.py --log FILE --cert PEM --key PEM
                                      --listen KIND=ADDR:PORT ...
  (ADDR: IPv4 or [IPv6]; --listen repeatable)

KIND (one personality per listening port):
  echo     every byte received is sent back as it came; nothing else
  upgrade  reads an HTTP/1.1 head (up to CRLF CRLF), answers 101 Switching
           Protocols (Sec-WebSocket-Accept when the head has a
           Sec-WebSocket-Key), then echoes every byte
  connect  reads a CONNECT head, answers "200 Connection established", then
           echoes every byte (the tunnel)
  smtp     server-first SMTP dialogue: 220 greeting, EHLO/HELO, MAIL, RCPT,
           DATA (till CRLF . CRLF), RSET, NOOP, QUIT
  tls      TLS server (the given certificate) driven through memory BIOs, so
           the raw record bytes are recorded too; echoes the plaintext
  h2       HTTP/2 with prior knowledge (python3-h2): every request is answered
           200 with body b"echo " + path + b" " + sha256(request body), and
           header x-body-len

Each connection is read until the client's EOF (or 20 s of silence); on
protocol errors (h2, tls) the peer stops answering and half-closes, but keeps
recording until EOF. Then
one JSON line is appended to FILE (flushed before the socket is closed):
  {"kind", "remote": [addr, port], "local": [addr, port], "t": accept time, "len", "sha256"
   (everything received), "head_b64", "post_len", "post_sha256" (upgrade,
   connect: the head and what came after it), "first_b64" (the first 512
   bytes received), "plain_len", "plain_sha256"
   (tls: the plaintext), "requests" (h2: requests answered), "error"}
Standard library and python3-h2 only; run with Debian's /usr/bin/python3.
"""

import argparse
import base64
import hashlib
import json
import socket
import ssl
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions

IDLE = 20.0
HEAD_MAX = 65536
FIRST_MAX = 512  # the first bytes are logged, to show what changed

_log_lock = threading.Lock()
_log_file = None


def log(rec):
    with _log_lock:
        _log_file.write(json.dumps(rec, sort_keys=True) + "\n")
        _log_file.flush()


class Conn:
    """A connection whose every received byte is hashed."""

    def __init__(self, sock, kind, remote):
        self.sock = sock
        self.h = hashlib.sha256()
        self.n = 0
        self.first = b""
        local = sock.getsockname()
        self.rec = {"kind": kind, "remote": [remote[0], remote[1]], "local": [local[0], local[1]],
                    "t": time.time()}
        sock.settimeout(IDLE)

    def recv(self, n=65536):
        try:
            d = self.sock.recv(n)
        except (socket.timeout, OSError) as e:
            self.rec.setdefault("error", "recv: %r" % e)
            return b""
        self.h.update(d)
        self.n += len(d)
        if len(self.first) < FIRST_MAX:
            self.first += d[:FIRST_MAX - len(self.first)]
        return d

    def send(self, d):
        try:
            self.sock.sendall(d)
            return True
        except OSError as e:
            self.rec.setdefault("error", "send: %r" % e)
            return False

    def close_write(self):
        """Tell the client we are done (it stops waiting) but keep recording."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def drain(self):
        """Record the rest of the stream up to the client's EOF."""
        while self.recv():
            pass

    def finish(self):
        self.rec["len"] = self.n
        self.rec["sha256"] = self.h.hexdigest()
        self.rec["first_b64"] = base64.b64encode(self.first).decode()
        log(self.rec)
        try:
            self.sock.close()
        except OSError:
            pass


def read_head(c):
    """Bytes up to and including the first CRLF CRLF, and what followed."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > HEAD_MAX:
            return None, buf
        d = c.recv()
        if not d:
            return None, buf
        buf += d
    i = buf.index(b"\r\n\r\n") + 4
    return buf[:i], buf[i:]


def echo_rest(c, first=b""):
    """Echo every byte; returns (count, sha256) of what was echoed."""
    h = hashlib.sha256()
    n = 0
    d = first
    while True:
        if d:
            h.update(d)
            n += len(d)
            if not c.send(d):
                c.drain()
                break
        d = c.recv()
        if not d:
            break
    return n, h.hexdigest()


def serve_echo(c):
    echo_rest(c)


def serve_upgrade(c, connect):
    head, rest = read_head(c)
    if head is None:
        c.rec["error"] = "no complete head"
        c.rec["head_b64"] = base64.b64encode(rest[:4096]).decode()
        c.drain()
        return
    c.rec["head_b64"] = base64.b64encode(head).decode()
    if connect:
        if not head.startswith(b"CONNECT "):
            c.rec["error"] = "not a CONNECT"
        c.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
    else:
        key = None
        proto = b"websocket"
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
            elif name.strip().lower() == b"upgrade":
                proto = value.strip()
        resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + proto + b"\r\nConnection: Upgrade\r\n"
        if key is not None:
            acc = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            resp += b"Sec-WebSocket-Accept: " + acc + b"\r\n"
        c.send(resp + b"\r\n")
    n, sha = echo_rest(c, rest)
    c.rec["post_len"] = n
    c.rec["post_sha256"] = sha


def serve_smtp(c):
    if not c.send(b"220 peer.tw.test ESMTP tw-proto-peer\r\n"):
        return
    buf = b""
    in_data = False
    while True:
        d = c.recv()
        if not d:
            return
        buf += d
        while True:
            if in_data:
                i = buf.find(b"\r\n.\r\n")
                if i < 0:
                    break
                buf = buf[i + 5:]
                in_data = False
                c.send(b"250 2.0.0 queued\r\n")
                continue
            i = buf.find(b"\r\n")
            if i < 0:
                break
            line, buf = buf[:i], buf[i + 2:]
            verb = line.split(b" ", 1)[0].upper()
            if verb in (b"EHLO", b"HELO"):
                c.send(b"250-peer.tw.test\r\n250-8BITMIME\r\n250 SIZE 1000000\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                c.send(b"250 2.0.0 ok\r\n")
            elif verb == b"DATA":
                c.send(b"354 end with <CRLF>.<CRLF>\r\n")
                in_data = True
                # the message may already be in buf: the loop looks for its end
            elif verb == b"QUIT":
                c.send(b"221 2.0.0 bye\r\n")
            else:
                c.rec.setdefault("error", "smtp: unknown command %r" % line[:40])
                c.send(b"500 5.5.1 unknown command\r\n")


def serve_tls(c, ctx):
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=True)
    ph = hashlib.sha256()
    pn = 0

    def flush():
        d = out.read()
        return c.send(d) if d else True

    try:
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                if not flush():
                    return
                d = c.recv()
                if not d:
                    c.rec["error"] = "EOF in handshake"
                    return
                inc.write(d)
        flush()
        while True:
            try:
                p = obj.read(65536)
            except ssl.SSLWantReadError:
                if not flush():
                    return
                d = c.recv()
                if not d:
                    break
                inc.write(d)
                continue
            except ssl.SSLZeroReturnError:
                break
            if not p:
                break
            ph.update(p)
            pn += len(p)
            obj.write(p)
            if not flush():
                return
    except ssl.SSLError as e:
        c.rec["error"] = "tls: %r" % e
        flush()
        c.close_write()
    finally:
        c.rec["plain_len"] = pn
        c.rec["plain_sha256"] = ph.hexdigest()
        c.drain()


def serve_h2(c):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    c.send(conn.data_to_send())
    streams = {}
    served = 0
    try:
        while True:
            d = c.recv()
            if not d:
                break
            for ev in conn.receive_data(d):
                if isinstance(ev, h2.events.RequestReceived):
                    streams[ev.stream_id] = {"headers": dict(ev.headers), "body": b""}
                elif isinstance(ev, h2.events.DataReceived):
                    if ev.stream_id in streams:
                        streams[ev.stream_id]["body"] += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    st = streams.pop(ev.stream_id, None)
                    if st is None:
                        continue
                    path = st["headers"].get(b":path", b"?")
                    body = b"echo " + path + b" " + hashlib.sha256(st["body"]).hexdigest().encode()
                    conn.send_headers(ev.stream_id, [
                        (":status", "200"),
                        ("content-type", "text/plain"),
                        ("content-length", str(len(body))),
                        ("x-body-len", str(len(st["body"]))),
                    ])
                    conn.send_data(ev.stream_id, body, end_stream=True)
                    served += 1
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    pass
            if not c.send(conn.data_to_send()):
                break
    except h2.exceptions.H2Error as e:
        c.rec["error"] = "h2: %r" % e
        try:
            c.send(conn.data_to_send())
        except h2.exceptions.H2Error:
            pass
        c.close_write()
    c.rec["requests"] = served
    c.drain()


def handle(sock, addr, kind, tls_ctx):
    c = Conn(sock, kind, addr)
    try:
        if kind == "echo":
            serve_echo(c)
        elif kind == "upgrade":
            serve_upgrade(c, False)
        elif kind == "connect":
            serve_upgrade(c, True)
        elif kind == "smtp":
            serve_smtp(c)
        elif kind == "tls":
            serve_tls(c, tls_ctx)
        elif kind == "h2":
            serve_h2(c)
        c.drain()
    except Exception as e:  # keep serving; the record says what happened
        c.rec["error"] = "peer: %r" % e
        c.drain()
    finally:
        c.finish()


def listener(kind, addr, port, tls_ctx):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(128)

    def loop():
        while True:
            cs, ca = s.accept()
            cs.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=handle, args=(cs, ca, kind, tls_ctx), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def main():
    global _log_file
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--listen", action="append", required=True, metavar="KIND=ADDR:PORT")
    a = ap.parse_args()
    _log_file = open(a.log, "a")
    tls_ctx = None
    if a.cert:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(a.cert, a.key)
    for spec in a.listen:
        kind, _, hp = spec.partition("=")
        host, _, port = hp.rpartition(":")
        host = host.strip("[]")
        if kind not in ("echo", "upgrade", "connect", "smtp", "tls", "h2"):
            sys.exit("proto_peer: unknown kind %r" % kind)
        if kind == "tls" and tls_ctx is None:
            sys.exit("proto_peer: tls needs --cert and --key")
        listener(kind, host, int(port), tls_ctx)
        print("proto_peer: %s on %s port %s" % (kind, host, port), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
