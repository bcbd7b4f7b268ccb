#!/usr/bin/python3
"""Client for test_protocol_safety.sh: sends byte streams that are not HTTP/1.x
requests (or no longer are: after 101 Switching Protocols, inside a CONNECT
tunnel) to proto_peer.py, each on its own TCP connection, and proves that the
peer received exactly the bytes written.

Usage: /usr/bin/python3 proto_client.py --peer ADDR [--peer6 ADDR6]
          --ports echo=P,upgrade=P,connect=P,smtp=P,tls=P,h2=P
          --peer-log FILE --ca PEM --out FILE [--only NAME,...] [--list]

Per case it checks:
  - the peer recorded (proto_peer.py's log, matched by the client's source
    address and port and the peer's port) exactly as many bytes as were written, with the same
    sha256; for upgrade/connect cases: the bytes after the head exactly, and
    the head exactly but for at most one traceparent line (the upgrade or
    CONNECT request itself is HTTP/1.1: a header there is allowed; lines that
    start with "traceparent:"/"tracestate:" are removed before comparing);
  - what came back: the echo of every write equals the write (echo kinds),
    the protocol's answers are right (101 with the right
    Sec-WebSocket-Accept, 200 for CONNECT, SMTP reply codes, h2 responses
    naming each request's path and body hash, TLS handshake with certificate
    verification and the plaintext echo);
  - the peer saw no protocol error.
Prints "ok NAME ..." or "FAIL NAME: why" per case, then "summary: N cases, M
failed: NAMES"; writes one JSON object per case to --out; exits 1 when any
case failed. Every socket operation times out after 5 s; the peer log is
awaited at most 10 s.
"""

import argparse
import base64
import hashlib
import json
import os
import random
import re
import socket
import ssl
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions

TIMEOUT = 5.0
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class CaseError(Exception):
    pass


def show(b, n=96):
    r = repr(bytes(b[:n]))
    return r + ("..." if len(b) > n else "")


def first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b)) if len(a) != len(b) else -1


# the Stream of the case that is running (a case that raised still has its
# bytes checked against the peer's record)
CURRENT = {}


class Stream:
    """One TCP connection; every byte written is kept (per part)."""

    def __init__(self, addr, port):
        CURRENT["st"] = self
        self.s = socket.create_connection((addr, port), timeout=TIMEOUT)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local = self.s.getsockname()[:2]
        self.dport = port
        self.parts = {"head": bytearray(), "post": bytearray()}
        self.part = "post"  # plain streams: everything is "post"
        self.back = bytearray()  # everything that came back

    def send(self, d):
        self.s.sendall(d)
        self.parts[self.part] += d

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                d = self.s.recv(n - len(buf))
            except socket.timeout:
                raise CaseError("timed out waiting for %d bytes back (got %s)" % (n, show(buf)))
            if not d:
                raise CaseError("peer closed after %d of %d bytes back (got %s)" % (len(buf), n, show(buf)))
            buf += d
        self.back += buf
        return bytes(buf)

    def recv_until(self, pred, what, limit=65536):
        buf = bytearray()
        while not pred(buf):
            if len(buf) > limit:
                raise CaseError("no %s in %d bytes: %s" % (what, len(buf), show(buf)))
            try:
                d = self.s.recv(4096)
            except socket.timeout:
                raise CaseError("timed out waiting for %s (got %s)" % (what, show(buf)))
            if not d:
                raise CaseError("peer closed before %s (got %s)" % (what, show(buf)))
            buf += d
        self.back += buf
        return bytes(buf)

    def finish(self):
        """Half-close, then read until the peer closes: returns the rest."""
        rest = bytearray()
        try:
            self.s.shutdown(socket.SHUT_WR)
        except OSError:
            self.s.close()
            return b""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                break
            if not d:
                break
            rest += d
        self.s.close()
        return bytes(rest)


def echo_writes(st, writes):
    """Each write, then its echo; the first echo that differs is the error."""
    for i, w in enumerate(writes):
        st.send(w)
        got = st.recv_exact(len(w))
        if got != w:
            k = first_diff(w, got)
            raise CaseError("echo of write %d differs at byte %d: sent %s, came back %s"
                            % (i, k, show(w[max(0, k - 16):]), show(got[max(0, k - 16):])))


# ---- the cases -------------------------------------------------------------

def rnd(seed, n):
    r = random.Random(seed)
    return bytes(r.getrandbits(8) for _ in range(n))


def tls_client_hello():
    ctx = ssl.create_default_context()
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname="peer.tw.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def sip_invite(host):
    sdp = (b"v=0\r\no=bob 2890844526 2890844526 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\n"
           b"t=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % (host, host))
    return (b"INVITE sip:bob@%s SIP/2.0\r\n"
            b"Via: SIP/2.0/TCP client.tw.test:5060;branch=z9hG4bK776asdhds\r\n"
            b"Max-Forwards: 70\r\nTo: Bob <sip:bob@%s>\r\n"
            b"From: Alice <sip:alice@tw.test>;tag=1928301774\r\n"
            b"Call-ID: a84b4c76e66710@client.tw.test\r\nCSeq: 314159 INVITE\r\n"
            b"Contact: <sip:alice@client.tw.test>\r\nContent-Type: application/sdp\r\n"
            b"Content-Length: %d\r\n\r\n" % (host, host, len(sdp))) + sdp


def pg_startup():
    params = b"user\0postgres\0database\0GET / HTTP/1.1\r\n\r\n\0application_name\0tw\0\0"
    startup = struct.pack("!II", 8 + len(params), 196608) + params
    q = b"SELECT 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';\0"
    return [startup, b"Q" + struct.pack("!I", 4 + len(q)) + q, b"X\0\0\0\x04"]


def mqtt():
    def rl(n):  # MQTT remaining length
        out = bytearray()
        while True:
            b, n = n % 128, n // 128
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)
    var = b"\x00\x04MQTT\x04\x02\x00\x3c"
    pay = struct.pack("!H", 9) + b"tw-client"
    connect = b"\x10" + rl(len(var) + len(pay)) + var + pay
    topic = b"GET / HTTP/1.1"
    msg = b"Host: x\r\n\r\n"
    pub = b"\x30" + rl(2 + len(topic) + len(msg)) + struct.pack("!H", len(topic)) + topic + msg
    return [connect, pub, b"\xe0\x00"]


def echo_cases(host):
    """name -> list of writes, for the echo peer."""
    h = host.encode()
    return {
        "h2_preface_alone": [H2_PREFACE],
        "h2_preface_settings": [H2_PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"],
        "rtsp": [b"OPTIONS rtsp://%s:554/media RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: tw-test\r\n\r\n" % h,
                 b"DESCRIBE rtsp://%s:554/media RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n" % h],
        "sip_invite": [sip_invite(h)],
        "icap": [b"REQMOD icap://%s/reqmod ICAP/1.0\r\nHost: %s\r\nEncapsulated: req-hdr=0, null-body=37\r\n\r\n"
                 b"GET / HTTP/1.1\r\nHost: origin.tw.test\r\n\r\n" % (h, h)],
        "http3_line": [b"GET /h3 HTTP/3.0\r\nHost: %s\r\n\r\n" % h],
        "http2_line": [b"GET /h2 HTTP/2.0\r\nHost: %s\r\n\r\n" % h],
        "lowercase": [b"get / http/1.1\r\nhost: %s\r\n\r\n" % h],
        "bare_lf": [b"GET /lf HTTP/1.1\nHost: %s\nAccept: */*\n\n" % h],
        "garbage_upper_crlf": [b"XQZT \xde\xad\xbe\xef\x00\x01 \xff\r\n\r\n" + rnd(1, 200)],
        "garbage_upper": [b"ABCD EFG " + rnd(2, 300)],
        "http09": [b"GET /\r\n"],
        "http09_blank_line": [b"GET /index.html\r\n\r\n"],
        "redis_resp": [b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$16\r\nGET / HTTP/1.1\r\n\r\n",
                       b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"],
        "redis_inline": [b"PING\r\n", b"SET greeting hello\r\n", b"GET greeting\r\n", b"QUIT\r\n"],
        "postgres_startup": pg_startup(),
        "mqtt_connect": mqtt(),
        "tls_client_hello": [tls_client_hello()],
        "ftp": [b"USER anonymous\r\n", b"PASS guest@tw.test\r\n", b"RETR GET / HTTP/1.1\r\n", b"QUIT\r\n"],
        "nats_connect": [b'CONNECT {"verbose":false}\r\nPING\r\n', b"PUB GET 5\r\nhello\r\n"],
        "stomp_connect": [b"CONNECT\naccept-version:1.2\nhost:%s\n\n\x00" % h],
        "ssh_banner": [b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", rnd(3, 120)],
        "response_as_request": [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
    }


# cases run over IPv6 as well (with --peer6)
V6_CASES = ("h2_preface_alone", "rtsp", "sip_invite", "http3_line", "h2c", "websocket")


def run_echo(addr, port, writes):
    st = Stream(addr, port)
    try:
        echo_writes(st, writes)
    finally:
        rest = st.finish()
    if rest:
        return "the peer echoed %d bytes more than were written: %s" % (len(rest), show(rest))
    return None


def ws_frame(op, payload, mask):
    n = len(payload)
    if n < 126:
        hdr = bytes([0x80 | op, 0x80 | n])
    else:
        hdr = bytes([0x80 | op, 0x80 | 126]) + struct.pack("!H", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return hdr + mask, masked


def run_upgrade(addr, port, host, kind):
    st = Stream(addr, port)
    err = None
    try:
        st.part = "head"
        if kind == "websocket":
            key = base64.b64encode(os.urandom(16))
            st.send(b"GET /chat HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (host, key))
        else:  # h2c upgrade (RFC 7540 3.2)
            st.send(b"GET /h2c HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                    b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n" % host)
        resp = st.recv_until(lambda b: b"\r\n\r\n" in b, "101 response head")
        if not resp.startswith(b"HTTP/1.1 101 "):
            raise CaseError("expected 101, got %s" % show(resp))
        st.part = "post"
        if kind == "websocket":
            want = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
            if b"Sec-WebSocket-Accept: " + want + b"\r\n" not in resp:
                raise CaseError("wrong Sec-WebSocket-Accept in %s" % show(resp, 300))
            writes = []
            hdr, pl = ws_frame(1, b"GET / HTTP/1.1\r\n\r\n", os.urandom(4))
            writes.append(hdr + pl)
            # zero mask (legal): the payload goes out as plain text, in its own write
            hdr, pl = ws_frame(1, b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host, b"\0\0\0\0")
            writes += [hdr, pl]
            hdr, pl = ws_frame(2, H2_PREFACE + b"POST /x HTTP/1.0\r\nContent-Length: 0\r\n\r\n", b"\0\0\0\0")
            writes += [hdr, pl]
            hdr, pl = ws_frame(2, rnd(4, 1000), os.urandom(4))
            writes.append(hdr + pl)
            hdr, pl = ws_frame(8, struct.pack("!H", 1000), os.urandom(4))
            writes.append(hdr + pl)
        else:
            writes = [H2_PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00",
                      b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host]
        echo_writes(st, writes)
    finally:
        rest = st.finish()
    if rest:
        err = "%d bytes more came back than were written: %s" % (len(rest), show(rest))
    return err


def run_connect(addr, port, host):
    st = Stream(addr, port)
    err = None
    try:
        st.part = "head"
        st.send(b"CONNECT inner.tw.test:80 HTTP/1.1\r\nHost: inner.tw.test:80\r\n\r\n")
        resp = st.recv_until(lambda b: b"\r\n\r\n" in b, "CONNECT response head")
        if not resp.startswith(b"HTTP/1.1 200 "):
            raise CaseError("expected 200, got %s" % show(resp))
        st.part = "post"
        echo_writes(st, [
            b"GET / HTTP/1.1\r\nHost: inner.tw.test\r\n\r\n",
            b"POST /form HTTP/1.1\r\nHost: inner.tw.test\r\nContent-Length: 5\r\n\r\nhello",
            b"GET /a HTTP/1.1\r\nHost: inner.tw.test\r\n\r\nGET /b HTTP/1.1\r\nHost: inner.tw.test\r\n\r\n",
            H2_PREFACE,
        ])
    finally:
        rest = st.finish()
    if rest:
        err = "%d bytes more came back than were written: %s" % (len(rest), show(rest))
    return err


def smtp_reply(st, code):
    r = st.recv_until(lambda b: re.search(rb"(^|\r\n)\d{3} [^\r\n]*\r\n$", bytes(b)) is not None,
                      "SMTP %s reply" % code)
    last = r.rstrip(b"\r\n").split(b"\r\n")[-1]
    if not last.startswith(code.encode()):
        raise CaseError("SMTP: expected %s, got %s" % (code, show(r)))


def run_smtp(addr, port):
    st = Stream(addr, port)
    try:
        smtp_reply(st, "220")
        for line, code in ((b"EHLO client.tw.test\r\n", "250"), (b"MAIL FROM:<alice@tw.test>\r\n", "250"),
                           (b"RCPT TO:<bob@tw.test>\r\n", "250"), (b"DATA\r\n", "354"),
                           (b"From: alice@tw.test\r\nTo: bob@tw.test\r\nSubject: GET / HTTP/1.1\r\n\r\n"
                            b"GET / HTTP/1.1\r\nHost: inner.tw.test\r\n\r\n.\r\n", "250"),
                           (b"QUIT\r\n", "221")):
            st.send(line)
            smtp_reply(st, code)
    finally:
        st.finish()
    return None


def run_tls(addr, port, ca):
    st = Stream(addr, port)
    ctx = ssl.create_default_context(cafile=ca)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="peer.tw.test")

    def flush():
        d = out.read()
        if d:
            st.send(d)

    def feed():
        try:
            d = st.s.recv(65536)
        except socket.timeout:
            raise CaseError("TLS: timed out waiting for the peer")
        if not d:
            raise CaseError("TLS: the peer closed the connection")
        inc.write(d)

    try:
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                flush()
                feed()
        flush()
        for msg in (b"GET / HTTP/1.1\r\nHost: inner.tw.test\r\n\r\n", rnd(5, 5000), b"PRI * HTTP/2.0\r\n\r\n"):
            obj.write(msg)
            flush()
            got = b""
            while len(got) < len(msg):
                try:
                    got += obj.read(len(msg) - len(got))
                except ssl.SSLWantReadError:
                    feed()
            if got != msg:
                raise CaseError("TLS: plaintext echo differs: %s" % show(got))
    except ssl.SSLError as e:
        raise CaseError("TLS: %r" % e)
    finally:
        st.finish()
    return None


def run_h2c(addr, port, host):
    st = Stream(addr, port)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    st.send(conn.data_to_send())
    want = {}
    try:
        for i in range(6):
            sid = conn.get_next_available_stream_id()
            path = "/h2/%d" % i
            body = (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * (i + 1)) if i % 2 else b""
            hdrs = [(":method", "POST" if body else "GET"), (":path", path), (":scheme", "http"),
                    (":authority", host.decode()), ("user-agent", "tw-proto-client")]
            conn.send_headers(sid, hdrs, end_stream=not body)
            if body:
                conn.send_data(sid, body, end_stream=True)
            want[sid] = b"echo " + path.encode() + b" " + hashlib.sha256(body).hexdigest().encode()
            if i == 2:  # three requests in one write, three in separate ones
                st.send(conn.data_to_send())
        st.send(conn.data_to_send())
        got = {}
        done = set()
        deadline = time.monotonic() + TIMEOUT
        while len(done) < len(want):
            if time.monotonic() > deadline:
                raise CaseError("h2: %d of %d responses within %ds" % (len(done), len(want), TIMEOUT))
            try:
                d = st.s.recv(65536)
            except socket.timeout:
                raise CaseError("h2: timed out; %d of %d responses" % (len(done), len(want)))
            if not d:
                raise CaseError("h2: the peer closed the connection after %d of %d responses"
                                % (len(done), len(want)))
            st.back += d
            for ev in conn.receive_data(d):
                if isinstance(ev, h2.events.ResponseReceived):
                    status = dict(ev.headers).get(b":status")
                    if status != b"200":
                        raise CaseError("h2: stream %d status %r" % (ev.stream_id, status))
                elif isinstance(ev, h2.events.DataReceived):
                    got[ev.stream_id] = got.get(ev.stream_id, b"") + ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    done.add(ev.stream_id)
                elif isinstance(ev, (h2.events.ConnectionTerminated, h2.events.StreamReset)):
                    raise CaseError("h2: %r" % ev)
            d = conn.data_to_send()
            if d:
                st.send(d)
        for sid, w in want.items():
            if got.get(sid) != w:
                raise CaseError("h2: stream %d answered %r, expected %r" % (sid, got.get(sid), w))
        conn.close_connection()
        st.send(conn.data_to_send())
    except h2.exceptions.H2Error as e:
        raise CaseError("h2: %r" % e)
    finally:
        st.finish()
    return None


# ---- checking what the peer recorded ----------------------------------------

def strip_tp(head):
    lines = head.split(b"\r\n")
    keep = [ln for ln in lines if not re.match(rb"(?i)trace(parent|state)\s*:", ln)]
    return b"\r\n".join(keep), len(lines) - len(keep), [ln for ln in lines if re.match(rb"(?i)traceparent\s*:", ln)]


def check_peer(res, rec, st):
    """Compare the peer's record with what was written; returns errors."""
    errs = []
    if rec.get("error"):
        errs.append("peer: %s" % rec["error"])
    sent_all = bytes(st.parts["head"] + st.parts["post"])
    first = base64.b64decode(rec.get("first_b64", ""))
    if res["kind"] in ("upgrade", "connect"):
        head = base64.b64decode(rec.get("head_b64", ""))
        sent_head = bytes(st.parts["head"])
        stripped, removed, tps = strip_tp(head)
        res["head_traceparents"] = len(tps)
        if tps:
            res["head_traceparent"] = tps[0].decode("latin-1")
        if stripped != sent_head:
            k = first_diff(sent_head, stripped)
            errs.append("the %s head arrived altered at byte %d: sent %s, arrived %s"
                        % (res["kind"], k, show(sent_head[max(0, k - 16):]), show(stripped[max(0, k - 16):])))
        if len(tps) > 1:
            errs.append("%d traceparent lines in the %s head" % (len(tps), res["kind"]))
        post = bytes(st.parts["post"])
        if rec.get("post_len") != len(post) or rec.get("post_sha256") != hashlib.sha256(post).hexdigest():
            errs.append("after the head: peer received %s bytes (sha256 %s), written %d (sha256 %s)"
                        % (rec.get("post_len"), str(rec.get("post_sha256"))[:16], len(post),
                           hashlib.sha256(post).hexdigest()[:16]))
        return errs
    if rec.get("len") != len(sent_all) or rec.get("sha256") != hashlib.sha256(sent_all).hexdigest():
        k = first_diff(sent_all[:len(first)], first)
        detail = ""
        if 0 <= k < len(first):
            detail = "; first difference at byte %d: written %s, received %s" % (
                k, show(sent_all[max(0, k - 16):]), show(first[max(0, k - 16):]))
        errs.append("peer received %s bytes (sha256 %s), written %d (sha256 %s)%s"
                    % (rec.get("len"), str(rec.get("sha256"))[:16], len(sent_all),
                       hashlib.sha256(sent_all).hexdigest()[:16], detail))
    return errs


def load_peer_log(path, t0):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r.get("t", 0) < t0 - 1:
                    continue
                out[(norm_addr(r["remote"][0]), r["remote"][1], r["local"][1])] = r
    except FileNotFoundError:
        pass
    return out


def norm_addr(a):
    return a[7:] if a.startswith("::ffff:") else a


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True)
    ap.add_argument("--peer6")
    ap.add_argument("--ports", required=True)
    ap.add_argument("--peer-log", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    ports = dict((k, int(v)) for k, v in (p.split("=") for p in a.ports.split(",")))
    t0 = time.time()

    cases = []  # (name, kind, family address, runner)
    for fam, addr in (("4", a.peer), ("6", a.peer6)):
        if not addr:
            continue
        h = (addr if fam == "4" else "[%s]" % addr).encode()
        sfx = "" if fam == "4" else "_v6"
        for name, writes in echo_cases(h.decode()).items():
            cases.append((name + sfx, "echo", addr, lambda addr=addr, w=writes: run_echo(addr, ports["echo"], w)))
        cases.append(("websocket" + sfx, "upgrade", addr,
                      lambda addr=addr, h=h: run_upgrade(addr, ports["upgrade"], h, "websocket")))
        cases.append(("h2c_upgrade" + sfx, "upgrade", addr,
                      lambda addr=addr, h=h: run_upgrade(addr, ports["upgrade"], h, "h2c")))
        cases.append(("connect_tunnel" + sfx, "connect", addr,
                      lambda addr=addr, h=h: run_connect(addr, ports["connect"], h)))
        cases.append(("smtp" + sfx, "smtp", addr, lambda addr=addr: run_smtp(addr, ports["smtp"])))
        cases.append(("tls" + sfx, "tls", addr, lambda addr=addr: run_tls(addr, ports["tls"], a.ca)))
        cases.append(("h2c" + sfx, "h2", addr, lambda addr=addr, h=h: run_h2c(addr, ports["h2"], h)))
        if fam == "6":
            cases = [c for c in cases if not c[0].endswith("_v6") or c[0][:-3] in V6_CASES]
    if a.only:
        only = set(a.only.split(","))
        cases = [c for c in cases if c[0] in only]

    results = []
    streams = {}
    for name, kind, addr, runner in cases:
        res = {"name": name, "kind": kind, "peer": addr, "errors": []}
        CURRENT.clear()
        try:
            err = runner()
            if err:
                res["errors"].append(err)
        except CaseError as e:
            res["errors"].append(str(e))
        except OSError as e:
            res["errors"].append("socket: %r" % e)
        results.append(res)
        streams[name] = CURRENT.get("st")

    # await the peer's records (one per connection)
    want = {}
    for res in results:
        st = streams.get(res["name"])
        if st is None:
            res["errors"].append("no connection was made")
            continue
        res["local"] = [st.local[0], st.local[1]]
        want[(norm_addr(st.local[0]), st.local[1], st.dport)] = res
    deadline = time.monotonic() + 10
    recs = {}
    while True:
        recs = load_peer_log(a.peer_log, t0)
        if all(k in recs for k in want) or time.monotonic() > deadline:
            break
        time.sleep(0.1)

    failed = []
    with open(a.out, "w") as out:
        for res in results:
            st = streams.get(res["name"])
            if st is not None:
                key = (norm_addr(st.local[0]), st.local[1], st.dport)
                rec = recs.get(key)
                if rec is None:
                    res["errors"].append("the peer logged no record of this connection")
                else:
                    res["peer_len"] = rec.get("len")
                    res["errors"] += check_peer(res, rec, st)
                res["sent_len"] = len(st.parts["head"]) + len(st.parts["post"])
                res["sent_sha256"] = hashlib.sha256(bytes(st.parts["head"] + st.parts["post"])).hexdigest()
            res["ok"] = not res["errors"]
            out.write(json.dumps(res, sort_keys=True) + "\n")
            if res["ok"]:
                extra = ""
                if res.get("head_traceparents"):
                    extra = ", traceparent in the %s head" % res["kind"]
                print("ok   %-22s %-7s %s bytes intact%s" % (res["name"], res["kind"], res.get("sent_len"), extra))
            else:
                failed.append(res["name"])
                print("FAIL %-22s %-7s %s" % (res["name"], res["kind"], " | ".join(res["errors"])))
    print("summary: %d cases, %d failed%s" % (len(results), len(failed), (": " + " ".join(failed)) if failed else ""))
    sys.stdout.flush()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
