#!/usr/bin/python3
"""HTTP/1.1 client that tries hard to make a header injector corrupt traffic,
and the checker that judges the result.

Runs against integrity_server.py (which answers each request with what it
received: method, target, traceparent headers, sha256 and length of the head
without traceparent lines and of the de-chunked body). Standard library only.

  integrity_client.py run --server ADDR:PORT [--server6 [ADDR6]:PORT]
        --out FILE [--scenarios LIST] [--max-body BYTES] [--seed N] [--label L]
      Scenarios (comma-separated, default "all" = every one but "exotic",
      which is added only by name):
        bodies     POST bodies of 0, 1, 100 B, 64 KiB, 1 MiB, 8 MiB (at most
                   --max-body) written in several send()s, every send of body
                   bytes starting with request-looking bytes ("GET / HTTP/1.1\\r\\n",
                   "POST /x HTTP/1.1\\r\\n", whole fake heads); head alone, or head
                   and the first body bytes in one send; head and a whole 1 MiB
                   / 8 MiB body in one send, each followed by a GET
        chunked    chunked uploads: chunk data starting with "GET ", holding fake
                   last-chunks ("0\\r\\n\\r\\n"), size line / data / CRLF in
                   separate sends or all in one; big chunks
        pipelined  5 requests (GET, POST with bodies, chunked) in ONE sendall,
                   three times on one connection; and one more batch
        split      request line split ("GE" + "T /split ..."), head split in the
                   middle of a header, after the request line, between the
                   final CRLFs, one byte per send; a split head followed by a
                   whole request in the same send
        app        requests that carry the application's own traceparent (and
                   tracestate), alone, pipelined, with a split head
        mixed      a seeded random keep-alive sequence of all of the above
        mixed6     the same over IPv6 (needs --server6)
        exotic     chunk extensions, trailers, upper-case hex, leading zeros,
                   size line split across sends, Content-Length with leading
                   zeros; expectations lenient (zero or one traceparent)
      Each request goes to ?rid=<unique id>. Every response is read and
      compared with what was sent (method, target, head without traceparent
      lines, body length and sha256); one JSON line per request is written to
      --out. Exit status 1 when anything differed or a request failed.

  integrity_client.py load --server ADDR:PORT --out FILE [--workers 4]
        [--duration 20] [--max-requests N] [--stop-file F] [--seed N] [--label L]
      WORKERS threads, each a loop of keep-alive connections (a new one every
      5 to 40 requests) sending GETs, POSTs with marked bodies in 1 to 4
      sends (up to 256 KiB), chunked uploads and pipelined pairs, reading and
      checking every response, until DURATION s, N requests per worker or
      STOP-FILE exists. Same records; failures are recorded and the worker
      reconnects (at most 20 per worker). Exit status 1 on any failure.

  integrity_client.py check --client FILE [--client FILE...] --server-log FILE
        --mode rules|none|at-most-one [--sampled]
        [--spans FILE --client-pid PID [--server-pid PID] [--server-spans]]
        [--quiet-window T0 T1]... [--active-window T0 T1]... [--summary FILE]
        [--label L]
      Joins the client records with the server's log (by rid) and checks:
        integrity: no server errors, every request reached the server exactly
        once with the body and head the client sent, nothing else reached it;
        at most one traceparent per request, and an application's own
        traceparent arrives exactly once and unchanged (all modes);
        rules: a request whose head went out complete in one send (and within
        its first 4 KiB) has exactly one valid traceparent, as the first
        header; other requests zero or one; none: no request has one besides
        the application's; at-most-one: zero or one;
        every traceparent present is valid W3C (version 00, non-zero ids;
        with --sampled the sampled flag is set); injected ones have distinct
        parent-ids and distinct trace-ids, and no tracestate is added;
        --quiet-window: requests sent within (T0, T1) (unix seconds) carry no
        injected traceparent; --active-window: at least one sent within does.
      With --spans (tracewire's --jsonl file): for each injected traceparent,
      exactly one CLIENT span of --client-pid for that rid, whose span_id is
      the traceparent's parent-id and trace_id its trace-id, a root (no
      parent, source "none"); for each application traceparent, the CLIENT
      span is its child (source "application_header"). A request sent behind
      another in the same send may lack its CLIENT span (capture copies only
      the first bytes of a write): counted as client_span_missing_pipelined,
      but a span that is there must carry the ids. With --server-spans[=warn],
      requests sent alone with an injected traceparent should have a SERVER
      span of --server-pid continuing it (same trace, parent = the CLIENT
      span): counted (server_span_match / server_span_mismatch) and printed;
      --server-spans=strict makes a mismatch a failure.
      Prints a summary (JSON) and writes it to --summary; exit 1 on failure.
"""

import argparse
import hashlib
import json
import os
import random
import re
import socket
import sys
import threading
import time
from collections import Counter, defaultdict

MARKERS = [
    b"GET / HTTP/1.1\r\n",
    b"POST /x HTTP/1.1\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
    b"GET / HTTP/1.1\r\ntraceparent: 00-00000000000000000000000000000001-0000000000000001-01\r\n\r\n",
]
TP_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
# a head that starts this far into a send may be in the kernel's second sk_msg
# chunk of that send: not a "head complete in one send" for the rules
HEAD_WINDOW = 4096
TIMEOUT = 60.0


# ---------------------------------------------------------------------------
# requests and connection plans


def head_no_tp(head):
    """sha256 of the head with every traceparent line left out (as the server computes it)."""
    lines = head[:-4].split(b"\r\n")
    kept = [lines[0]] + [ln for ln in lines[1:] if ln.partition(b":")[0].lower() != b"traceparent"]
    return hashlib.sha256(b"\r\n".join(kept) + b"\r\n\r\n").hexdigest()


def rand_tp(rng):
    return "00-%032x-%016x-01" % (rng.getrandbits(128) | 1, rng.getrandbits(64) | 1)


class Req:
    def __init__(self, rid, scenario, method, path, body=b"", chunked=False, headers=(), app_tp=None,
                 app_ts=None, version="1.1", clen_text=None):
        self.rid = rid
        self.scenario = scenario
        self.method = method
        self.target = f"{path}?rid={rid}"
        self.body = body
        self.chunked = chunked
        self.app_tp = app_tp
        self.app_ts = app_ts
        h = [f"{method} {self.target} HTTP/{version}".encode(), b"Host: integrity.test"]
        h += [x.encode() if isinstance(x, str) else x for x in headers]
        if chunked:
            h.append(b"Transfer-Encoding: chunked")
        elif clen_text is not None:
            h.append(b"Content-Length: " + clen_text.encode())
        elif body or method == "POST":
            h.append(b"Content-Length: %d" % len(body))
        self.head = b"\r\n".join(h) + b"\r\n\r\n"
        self.start = self.head_end = None
        self.expect = None
        self.solo = False
        self.split = False
        self.t_send = None


class Plan:
    """One connection: a list of sends and response reads. Requests are
    registered (req) right before their first byte is emitted, so each one's
    stream offset is known; the expectations follow from the send boundaries."""

    def __init__(self, name, label, rng, family=4, lenient=False):
        self.name = name
        self.label = label
        self.rng = rng
        self.family = family
        self.lenient = lenient
        self.steps = []  # ("send", bytes) | ("recv", n)
        self.reqs = []
        self.cur = bytearray()
        self.off = 0  # stream bytes emitted so far
        self.n = 0

    def req(self, scenario, method, path, **kw):
        r = Req(f"{self.label}-{self.name}-{self.n}", scenario, method, path, **kw)
        self.n += 1
        r.start = self.off
        r.head_end = self.off + len(r.head)
        self.reqs.append(r)
        return r

    def emit(self, data):
        self.cur += data
        self.off += len(data)

    def flush(self):
        if self.cur:
            self.steps.append(("send", bytes(self.cur)))
            self.cur = bytearray()

    def recv(self, n=1):
        self.flush()
        self.steps.append(("recv", n))

    def finish(self):
        self.flush()
        # send boundaries in stream offsets
        bounds = []
        o = 0
        for kind, v in self.steps:
            if kind == "send":
                bounds.append((o, o + len(v)))
                o += len(v)
        answered_upto = 0  # requests answered before the current step
        o = 0
        solo_ok = {}
        for kind, v in self.steps:
            if kind == "send":
                for r in self.reqs:
                    if o <= r.start < o + len(v):
                        idx = self.reqs.index(r)
                        solo_ok[r.rid] = (r.start == o and idx == answered_upto)
                o += len(v)
            else:
                answered_upto += v
        for r in self.reqs:
            s0, s1 = next((a, b) for a, b in bounds if a <= r.start < b)
            one = r.head_end <= s1 and r.head_end - s0 <= HEAD_WINDOW
            r.split = r.head_end > s1
            r.expect = "zero_or_one" if (self.lenient or not one) else "one"
            r.solo = solo_ok.get(r.rid, False)
        assert answered_upto == len(self.reqs), f"{self.name}: {answered_upto} reads for {len(self.reqs)} requests"
        return self


def split_sizes(n, k, rng):
    """k (or fewer, when n < k) positive sizes summing to n."""
    if n == 0:
        return []
    k = max(1, min(k, n))
    cuts = sorted(rng.sample(range(1, n), k - 1)) if k > 1 else []
    out, prev = [], 0
    for c in cuts + [n]:
        out.append(c - prev)
        prev = c
    return out


def marked_body(n, pieces, rng):
    """n random bytes; every piece starts with a request-looking marker."""
    b = bytearray(rng.randbytes(n))
    off = 0
    for i, ps in enumerate(pieces):
        m = MARKERS[(i + n) % len(MARKERS)][:ps]
        b[off:off + len(m)] = m
        off += ps
    return bytes(b)


def chunk_parts(datas, size_fmt="%x", ext=b"", trailers=b""):
    """[(size line, data, CRLF)...], last chunk (with trailers)."""
    parts = [((size_fmt % len(d)).encode() + ext + b"\r\n", d, b"\r\n") for d in datas]
    return parts, b"0\r\n" + trailers + b"\r\n"


# ---- building blocks (each emits one request and its response read) --------

def cl_post(p, scen, size, k, joined, recv=True, path="/x"):
    rng = p.rng
    pieces = split_sizes(size, k, rng)
    body = marked_body(size, pieces, rng)
    r = p.req(scen, "POST", path, body=body)
    p.emit(r.head)
    if not joined:
        p.flush()
    off = 0
    for ps in pieces:
        p.emit(body[off:off + ps])
        p.flush()
        off += ps
    p.flush()
    if recv:
        p.recv(1)
    return r


def plain_get(p, scen, path="/g", recv=True, **kw):
    r = p.req(scen, "GET", path, **kw)
    p.emit(r.head)
    p.flush()
    if recv:
        p.recv(1)
    return r


def chunked_post(p, scen, datas, mode, path="/c", **kw):
    """mode: 'separate' (head | size | data | CRLF ... | last), 'joined' (all in
    one send), 'perchunk' (head | size+data+CRLF ... | last), 'headfirst'
    (head+first size+first half of data | rest in pieces starting with markers)."""
    body = b"".join(datas)
    r = p.req(scen, "POST", path, body=body, chunked=True, **kw)
    parts, last = chunk_parts(datas)
    if mode == "joined":
        p.emit(r.head + b"".join(a + d + c for a, d, c in parts) + last)
    elif mode == "separate":
        p.emit(r.head)
        p.flush()
        for a, d, c in parts:
            for x in (a, d, c):
                p.emit(x)
                p.flush()
        p.emit(last)
    elif mode == "perchunk":
        p.emit(r.head)
        for a, d, c in parts:
            p.flush()
            p.emit(a + d + c)
        p.flush()
        p.emit(last)
    elif mode == "headfirst":
        p.emit(r.head)
        for i, (a, d, c) in enumerate(parts):
            p.emit(a)
            half = len(d) // 2
            p.emit(d[:half])
            p.flush()
            p.emit(d[half:])
            p.flush()
            p.emit(c)
        p.emit(last)
    p.recv(1)
    return r


def marked_chunks(rng, sizes):
    out = []
    for i, n in enumerate(sizes):
        d = bytearray(rng.randbytes(n))
        m = MARKERS[i % len(MARKERS)][:n]
        d[:len(m)] = m
        out.append(bytes(d))
    return out


# ---- scenarios ---------------------------------------------------------------

BODY_SIZES = [(0, 0), (1, 1), (100, 3), (64 * 1024, 5), (1 << 20, 8), (8 << 20, 12)]


def sc_bodies(p, maxb):
    for size, k in BODY_SIZES:
        if size > maxb:
            continue
        for joined in (False, True):
            cl_post(p, f"cl-{size}-{'joined' if joined else 'sep'}", size, k, joined)
        plain_get(p, "get-between")
    # head and the whole body in ONE send: the kernel hands a send this big to
    # sk_msg in several parts (and may wait for send buffer space in between)
    rng = p.rng
    for size in (1 << 20, 8 << 20):
        if size <= maxb:
            cl_post(p, f"cl-{size}-onesend", size, 1, True)
            plain_get(p, "get-between")
    # bodies whose sends are exactly fake heads
    for m in MARKERS:
        body = m * 3
        r = p.req("cl-fakeheads", "POST", "/x", body=body)
        p.emit(r.head)
        p.flush()
        for i in range(3):
            p.emit(m)
            p.flush()
        p.recv(1)
    # a body that is a complete request with a body of its own
    inner = b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789"
    r = p.req("cl-inner-request", "POST", "/x", body=inner)
    p.emit(r.head + inner)
    p.recv(1)
    # Content-Length body whose first bytes are in the head's send, and the
    # rest arriving in one byte sends
    body = marked_body(24, [6] * 4, rng)
    r = p.req("cl-bytewise", "POST", "/x", body=body)
    p.emit(r.head + body[:6])
    for i in range(6, 24):
        p.flush()
        p.emit(body[i:i + 1])
    p.recv(1)


def sc_chunked(p, maxb):
    rng = p.rng
    chunked_post(p, "chunked-separate", marked_chunks(rng, [16, 100, 3, 40]), "separate")
    chunked_post(p, "chunked-joined", marked_chunks(rng, [30, 1, 200]), "joined")
    chunked_post(p, "chunked-perchunk", marked_chunks(rng, [50, 60, 70]), "perchunk")
    chunked_post(p, "chunked-headfirst", marked_chunks(rng, [64, 33, 17]), "headfirst")
    fake = [b"0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", b"\r\n0\r\n\r\n",
            b"5\r\nGET /\r\n0\r\n\r\nPOST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"]
    chunked_post(p, "chunked-fake-last", fake, "separate")
    chunked_post(p, "chunked-fake-last-joined", fake, "joined")
    chunked_post(p, "chunked-fake-last-perchunk", fake, "perchunk")
    plain_get(p, "get-between")
    if maxb >= 1 << 20:
        chunked_post(p, "chunked-64k-x16", marked_chunks(rng, [64 * 1024] * 16), "perchunk")
        # one 1 MiB chunk written in pieces that each start with a marker
        n = 1 << 20
        pieces = split_sizes(n, 9, rng)
        data = marked_body(n, pieces, rng)
        r = p.req("chunked-1m-one-chunk", "POST", "/c", body=data, chunked=True)
        p.emit(r.head + b"%x\r\n" % n)
        p.flush()
        off = 0
        for ps in pieces:
            p.emit(data[off:off + ps])
            p.flush()
            off += ps
        p.emit(b"\r\n0\r\n\r\n")
        p.recv(1)
    else:
        chunked_post(p, "chunked-4k-x8", marked_chunks(rng, [4096] * 8), "headfirst")
    chunked_post(p, "chunked-empty", [], "joined")


def pipelined_batch(p, scen, body=100):
    rng = p.rng
    r = p.req(scen, "GET", "/p1")
    p.emit(r.head)
    b = marked_body(body, [body // 2, body - body // 2], rng)
    r = p.req(scen, "POST", "/p2", body=b)
    p.emit(r.head + b)
    datas = marked_chunks(rng, [17, 40])
    r = p.req(scen, "POST", "/p3", body=b"".join(datas), chunked=True)
    parts, last = chunk_parts(datas)
    p.emit(r.head + b"".join(a + d + c for a, d, c in parts) + last)
    r = p.req(scen, "GET", "/p4")
    p.emit(r.head)
    r = p.req(scen, "POST", "/p5", body=b"")
    p.emit(r.head)
    p.recv(5)


def sc_pipelined(p, maxb):
    for i in range(3):
        pipelined_batch(p, f"pipelined-{i}", body=100 + 300 * i)
    plain_get(p, "get-between")
    # two requests, the second with a 64 KiB body, in one send
    rng = p.rng
    r = p.req("pipelined-big", "GET", "/p1")
    p.emit(r.head)
    n = min(64 * 1024, maxb)
    b = marked_body(n, split_sizes(n, 4, rng), rng)
    r = p.req("pipelined-big", "POST", "/p2", body=b)
    p.emit(r.head + b)
    p.recv(2)
    # ten small GETs in one send
    for i in range(10):
        r = p.req("pipelined-10", "GET", f"/q{i}")
        p.emit(r.head)
    p.recv(10)


def sc_split(p, maxb):
    rng = p.rng
    r = p.req("split-request-line", "GET", "/split")
    p.emit(r.head[:2])
    p.flush()
    p.emit(r.head[2:])
    p.recv(1)
    plain_get(p, "after-split")
    body = marked_body(100, [50, 50], rng)
    r = p.req("split-mid-header", "POST", "/split2", body=body)
    i = r.head.index(b"Content-Length") + 10
    p.emit(r.head[:i])
    p.flush()
    p.emit(r.head[i:] + body)
    p.recv(1)
    cl_post(p, "after-split", 100, 2, True)
    r = p.req("split-after-request-line", "POST", "/split3", body=body)
    i = r.head.index(b"\r\n") + 2
    p.emit(r.head[:i])
    p.flush()
    p.emit(r.head[i:])
    p.flush()
    p.emit(body)
    p.recv(1)
    plain_get(p, "after-split")
    r = p.req("split-final-crlf", "GET", "/split4")
    p.emit(r.head[:-2])
    p.flush()
    p.emit(r.head[-2:])
    p.recv(1)
    r = p.req("split-last-byte", "GET", "/split5")
    p.emit(r.head[:-1])
    p.flush()
    p.emit(r.head[-1:])
    p.recv(1)
    plain_get(p, "after-split")
    # split head, then a whole request in the same send as the head's rest
    r = p.req("split-then-whole", "GET", "/split6")
    p.emit(r.head[:10])
    p.flush()
    p.emit(r.head[10:])
    r2 = p.req("whole-after-split", "GET", "/whole6")
    p.emit(r2.head)
    p.recv(2)
    # one byte per send
    r = p.req("split-bytewise", "POST", "/split7", body=b"hello")
    for i in range(len(r.head)):
        p.emit(r.head[i:i + 1])
        p.flush()
    p.emit(b"hello")
    p.recv(1)
    cl_post(p, "after-split", 1000, 3, False)
    # a body split over sends right after a split head
    r = p.req("split-head-and-body", "POST", "/split8", body=marked_body(64, [32, 32], rng))
    p.emit(r.head[:5])
    p.flush()
    p.emit(r.head[5:] + r.body[:32])
    p.flush()
    p.emit(r.body[32:])
    p.recv(1)
    plain_get(p, "after-split")


def sc_app(p, maxb):
    rng = p.rng
    tp = rand_tp(rng)
    plain_get(p, "app-first", headers=[f"traceparent: {tp}"], app_tp=tp)
    plain_get(p, "app-normal")
    tp = rand_tp(rng)
    body = marked_body(300, [100, 100, 100], rng)
    r = p.req("app-later-header", "POST", "/app", body=body,
              headers=["Accept: */*", f"Traceparent: {tp}", "X-Other: 1"], app_tp=tp)
    p.emit(r.head)
    p.flush()
    for i in range(3):
        p.emit(body[100 * i:100 * i + 100])
        p.flush()
    p.recv(1)
    tp = rand_tp(rng)
    plain_get(p, "app-with-tracestate", headers=[f"traceparent: {tp}", "tracestate: app=1"],
              app_tp=tp, app_ts="app=1")
    # pipelined: normal, app, normal
    r = p.req("app-pipelined", "GET", "/pa1")
    p.emit(r.head)
    tp = rand_tp(rng)
    r = p.req("app-pipelined", "GET", "/pa2", headers=[f"TRACEPARENT: {tp}"], app_tp=tp)
    p.emit(r.head)
    r = p.req("app-pipelined", "GET", "/pa3")
    p.emit(r.head)
    p.recv(3)
    tp = rand_tp(rng)
    r = p.req("app-split", "GET", "/pa4", headers=[f"traceparent: {tp}"], app_tp=tp)
    p.emit(r.head[:30])
    p.flush()
    p.emit(r.head[30:])
    p.recv(1)
    # an unsampled one
    tp = "00-%032x-%016x-00" % (rng.getrandbits(128) | 1, rng.getrandbits(64) | 1)
    plain_get(p, "app-unsampled", headers=[f"traceparent: {tp}"], app_tp=tp)
    plain_get(p, "app-normal")


def sc_mixed(p, maxb, count=60):
    rng = p.rng
    cap = min(maxb, 256 * 1024)
    for i in range(count):
        k = rng.randrange(9)
        if k == 0:
            plain_get(p, "mixed-get")
        elif k == 1:
            n = rng.choice([0, 1, 5, 100, 1500, 4096, 70000, cap])
            cl_post(p, "mixed-cl", min(n, cap), rng.randrange(1, 5), rng.random() < 0.5)
        elif k == 2:
            sizes = [rng.choice([1, 16, 100, 1000, 9000]) for _ in range(rng.randrange(1, 4))]
            chunked_post(p, "mixed-chunked", marked_chunks(rng, sizes),
                         rng.choice(["separate", "joined", "perchunk", "headfirst"]))
        elif k == 3:
            pipelined_batch(p, "mixed-pipelined", body=rng.randrange(0, 2000))
        elif k == 4:
            r = p.req("mixed-split", "GET", "/ms")
            cut = rng.randrange(1, len(r.head))
            p.emit(r.head[:cut])
            p.flush()
            p.emit(r.head[cut:])
            p.recv(1)
        elif k == 5:
            tp = rand_tp(rng)
            plain_get(p, "mixed-app", headers=[f"traceparent: {tp}"], app_tp=tp)
        elif k == 6:
            # split POST head whose rest comes with the body and a pipelined GET
            body = marked_body(200, [100, 100], rng)
            r = p.req("mixed-split-pipe", "POST", "/msp", body=body)
            cut = rng.randrange(1, len(r.head))
            p.emit(r.head[:cut])
            p.flush()
            p.emit(r.head[cut:] + body)
            r2 = p.req("mixed-split-pipe", "GET", "/msp2")
            p.emit(r2.head)
            p.recv(2)
        elif k == 7:
            n = rng.choice([10, 1000, 20000])
            cl_post(p, "mixed-cl-many", n, rng.randrange(5, 12), False)
        else:
            plain_get(p, "mixed-get-conn-keepalive", headers=["Connection: keep-alive"])


def sc_exotic(p, maxb):
    rng = p.rng
    # chunk extensions and trailers
    datas = marked_chunks(rng, [20, 30])
    r = p.req("exotic-ext-trailer", "POST", "/e1", body=b"".join(datas), chunked=True)
    parts, last = chunk_parts(datas, ext=b";name=value", trailers=b"X-Trailer: 1\r\n")
    p.emit(r.head)
    for a, d, c in parts:
        p.flush()
        p.emit(a + d + c)
    p.flush()
    p.emit(last)
    p.recv(1)
    plain_get(p, "exotic-after")
    # upper-case hex and leading zeros
    datas = marked_chunks(rng, [26, 255])
    r = p.req("exotic-hex", "POST", "/e2", body=b"".join(datas), chunked=True)
    parts, last = chunk_parts(datas, size_fmt="%04X")
    p.emit(r.head + b"".join(a + d + c for a, d, c in parts) + last)
    p.recv(1)
    plain_get(p, "exotic-after")
    # size line and CRLF split across sends
    datas = marked_chunks(rng, [16, 16])
    r = p.req("exotic-size-split", "POST", "/e3", body=b"".join(datas), chunked=True)
    p.emit(r.head + b"1")
    p.flush()
    p.emit(b"0\r\n" + datas[0] + b"\r")
    p.flush()
    p.emit(b"\n10")
    p.flush()
    p.emit(b"\r\n" + datas[1] + b"\r\n0\r")
    p.flush()
    p.emit(b"\n\r\n")
    p.recv(1)
    plain_get(p, "exotic-after")
    # Content-Length with leading zeros
    body = marked_body(100, [100], rng)
    r = p.req("exotic-cl-zeros", "POST", "/e4", body=body, clen_text="00100")
    p.emit(r.head)
    p.flush()
    p.emit(body)
    p.recv(1)
    plain_get(p, "exotic-after")
    # lower-case header names and odd spacing
    r = p.req("exotic-case", "POST", "/e5", body=b"abc", clen_text="3",
              headers=["x-a:b", "X-B:   spaced   "])
    p.emit(r.head + b"abc")
    p.recv(1)
    plain_get(p, "exotic-after")


SCENARIOS = {
    "bodies": (sc_bodies, 4),
    "chunked": (sc_chunked, 4),
    "pipelined": (sc_pipelined, 4),
    "split": (sc_split, 4),
    "app": (sc_app, 4),
    "mixed": (sc_mixed, 4),
    "mixed6": (sc_mixed, 6),
    "exotic": (sc_exotic, 4),
}
DEFAULT = ["bodies", "chunked", "pipelined", "split", "app", "mixed", "mixed6"]


# ---------------------------------------------------------------------------
# wire


class Resp:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise ConnectionError("server closed the connection")
        self.buf += d

    def read(self):
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if len(self.buf) > 65536:
                raise ValueError("response head too long")
            self._fill()
        head = bytes(self.buf[:i])
        del self.buf[:i + 4]
        lines = head.split(b"\r\n")
        m = re.match(rb"^HTTP/1\.1 (\d{3}) ", lines[0])
        if not m:
            raise ValueError(f"bad status line {lines[0][:100]!r}")
        clen = None
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            if k.strip().lower() == b"content-length":
                clen = int(v.strip())
        if clen is None:
            raise ValueError("response without Content-Length")
        while len(self.buf) < clen:
            self._fill()
        body = bytes(self.buf[:clen])
        del self.buf[:clen]
        return int(m.group(1)), json.loads(body)


def parse_hostport(s):
    m = re.match(r"^\[([0-9A-Fa-f:.]+)\]:(\d+)$", s) or re.match(r"^([0-9.]+):(\d+)$", s)
    if not m:
        raise argparse.ArgumentTypeError(f"expected ADDR:PORT or [ADDR6]:PORT, got {s!r}")
    return m.group(1), int(m.group(2))


def connect(addr):
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect(addr)
    la = s.getsockname()
    local = f"[{la[0]}]:{la[1]}" if fam == socket.AF_INET6 else f"{la[0]}:{la[1]}"
    return s, local


def compare(r, code, rec):
    """Problems with the server's account of request r."""
    p = []
    if code != 200:
        return [f"status {code}: {rec}"]
    want = {
        "kind": "request", "method": r.method, "target": r.target, "body_len": len(r.body),
        "body_sha256": hashlib.sha256(r.body).hexdigest(), "head_sha256_no_tp": head_no_tp(r.head),
        "chunked": r.chunked,
    }
    for k, v in want.items():
        if rec.get(k) != v:
            p.append(f"{k}: sent {v!r}, server got {rec.get(k)!r}")
    return p


def record(r, local, conn, code, rec, problems):
    return {
        "rid": r.rid, "conn": conn, "local": local, "scenario": r.scenario, "method": r.method,
        "target": r.target, "body_len": len(r.body), "body_sha256": hashlib.sha256(r.body).hexdigest(),
        "head_sha256_no_tp": head_no_tp(r.head), "expect": r.expect, "solo": r.solo, "split": r.split,
        "app_tp": r.app_tp, "app_ts": r.app_ts, "t_send": r.t_send,
        "status": code, "server": rec, "problems": problems,
    }


class Out:
    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8")
        self.lock = threading.Lock()

    def write(self, obj):
        with self.lock:
            self.f.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self.f.flush()


def run_plan(plan, addr, out):
    """Execute a connection plan; returns (requests, problems)."""
    s, local = connect(addr)
    resp = Resp(s)
    o = 0
    nread = 0
    bad = 0
    try:
        for kind, v in plan.steps:
            if kind == "send":
                t = time.time()
                for r in plan.reqs:
                    if o <= r.start < o + len(v):
                        r.t_send = t
                s.sendall(v)
                o += len(v)
            else:
                for _ in range(v):
                    r = plan.reqs[nread]
                    nread += 1
                    code, rec = resp.read()
                    probs = compare(r, code, rec)
                    bad += bool(probs)
                    out.write(record(r, local, plan.name, code, rec, probs))
                    for x in probs:
                        print(f"MISMATCH {r.rid} ({r.scenario}): {x}", file=sys.stderr)
    except (OSError, ValueError) as e:
        for r in plan.reqs[nread:]:
            out.write(record(r, local, plan.name, None, None, [f"failed: {e!r}"]))
        print(f"FAILED {plan.name} after {nread} of {len(plan.reqs)} responses: {e!r}", file=sys.stderr)
        return len(plan.reqs), bad + len(plan.reqs) - nread
    finally:
        s.close()
    return len(plan.reqs), bad


def cmd_run(a):
    names = []
    for x in a.scenarios.split(","):
        names += DEFAULT if x == "all" else [x]
    out = Out(a.out)
    total = bad = 0
    for i, name in enumerate(names):
        if name not in SCENARIOS:
            sys.exit(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
        fn, fam = SCENARIOS[name]
        addr = a.server6 if fam == 6 else a.server
        if addr is None:
            sys.exit(f"scenario {name} needs --server6")
        rng = random.Random(a.seed * 1000 + list(SCENARIOS).index(name))
        plan = Plan(name, a.label, rng, family=fam, lenient=(name == "exotic"))
        fn(plan, a.max_body)
        plan.finish()
        t0 = time.time()
        n, b = run_plan(plan, addr, out)
        total += n
        bad += b
        print(f"{name}: {n} requests, {b} bad, {time.time() - t0:.2f} s", flush=True)
    print(f"total: {total} requests, {bad} bad", flush=True)
    return 1 if bad else 0


# ---- load ----------------------------------------------------------------------

def cmd_load(a):
    out = Out(a.out)
    deadline = time.time() + a.duration
    stats = {"requests": 0, "failed": 0, "bad": 0}
    lock = threading.Lock()

    def stop():
        return time.time() >= deadline or (a.stop_file and os.path.exists(a.stop_file))

    def worker(w):
        rng = random.Random(a.seed * 100 + w)
        done = fails = c = 0
        while done < a.max_requests and not stop() and fails < 20:
            c += 1
            plan = Plan(f"w{w}c{c}", a.label, rng)
            n = rng.randrange(5, 41)
            for _ in range(n):
                k = rng.randrange(6)
                if k == 0:
                    plain_get(plan, "load-get")
                elif k in (1, 2):
                    size = rng.choice([0, 1, 100, 3000, 20000, 100000, 256 * 1024])
                    cl_post(plan, "load-cl", size, rng.randrange(1, 5), rng.random() < 0.5)
                elif k == 3:
                    sizes = [rng.choice([1, 100, 5000, 40000]) for _ in range(rng.randrange(1, 4))]
                    chunked_post(plan, "load-chunked", marked_chunks(rng, sizes),
                                 rng.choice(["separate", "joined", "perchunk", "headfirst"]))
                elif k == 4:
                    r = plan.req("load-pipe", "GET", "/lp1")
                    plan.emit(r.head)
                    body = marked_body(500, [250, 250], rng)
                    r = plan.req("load-pipe", "POST", "/lp2", body=body)
                    plan.emit(r.head + body)
                    plan.recv(2)
                else:
                    tp = rand_tp(rng)
                    plain_get(plan, "load-app", headers=[f"traceparent: {tp}"], app_tp=tp)
            plan.finish()
            # run step by step so that the stop conditions are seen between requests
            steps = plan.steps
            s = None
            try:
                s, local = connect(a.server)
                resp = Resp(s)
                o = nread = 0
                for kind, v in steps:
                    if kind == "send":
                        if nread == sum(1 for r in plan.reqs if r.start < o) and stop():
                            break
                        t = time.time()
                        for r in plan.reqs:
                            if o <= r.start < o + len(v):
                                r.t_send = t
                        s.sendall(v)
                        o += len(v)
                    else:
                        for _ in range(v):
                            r = plan.reqs[nread]
                            nread += 1
                            code, rec = resp.read()
                            probs = compare(r, code, rec)
                            out.write(record(r, local, plan.name, code, rec, probs))
                            with lock:
                                stats["requests"] += 1
                                stats["bad"] += bool(probs)
                            for x in probs:
                                print(f"MISMATCH {r.rid} ({r.scenario}): {x}", file=sys.stderr, flush=True)
                            done += 1
            except (OSError, ValueError) as e:
                fails += 1
                started = [r for r in plan.reqs[nread:] if r.t_send is not None]
                for r in started:
                    out.write(record(r, None, plan.name, None, None, [f"failed: {e!r}"]))
                with lock:
                    stats["failed"] += max(1, len(started))
                print(f"FAILED {plan.name} after {nread} responses: {e!r}", file=sys.stderr, flush=True)
            finally:
                if s is not None:
                    s.close()

    ts = [threading.Thread(target=worker, args=(w,)) for w in range(a.workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(f"load: {stats['requests']} requests answered, {stats['bad']} bad, {stats['failed']} failed",
          flush=True)
    return 1 if stats["bad"] or stats["failed"] else 0


# ---- check ---------------------------------------------------------------------

def load_jsonl(path):
    out = []
    with open(path, "rb") as f:
        for no, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                break  # being written
            if line.strip():
                out.append(json.loads(line))
    return out


def rid_of(target):
    m = re.search(r"[?&]rid=([^&]+)", target or "")
    return m.group(1) if m else None


def cmd_check(a):
    fails = []

    def fail(msg):
        fails.append(msg)

    crecs = []
    for path in a.client:
        crecs += load_jsonl(path)
    srecs = load_jsonl(a.server_log)
    errors = [s for s in srecs if s.get("kind") == "error"]
    for e in errors:
        fail(f"server error on conn {e.get('conn')} ({e.get('peer')}) request {e.get('seq')}: "
             f"{e.get('error')}; near {e.get('near', '')[:120]!r}")
    sreq = [s for s in srecs if s.get("kind") == "request"]
    if a.label:
        sreq = [s for s in sreq if (rid_of(s.get("target")) or "").startswith(a.label + "-")]
    by_rid = defaultdict(list)
    for s in sreq:
        by_rid[rid_of(s.get("target"))].append(s)
    seen = Counter(c["rid"] for c in crecs)
    for rid, n in seen.items():
        if n > 1:
            fail(f"client record for {rid} appears {n} times")
    for rid, lst in by_rid.items():
        if rid not in seen:
            fail(f"server got a request nobody sent: {lst[0].get('method')} {lst[0].get('target')!r} "
                 f"(conn {lst[0].get('conn')})")
        if len(lst) > 1:
            fail(f"server got {rid} {len(lst)} times")

    injected = []  # (client record, server record, trace, span, flags)
    summary = Counter()
    exp_counts = Counter()
    prev_of = {}  # rid -> the request before it on its connection
    last = {}
    for c in crecs:
        prev_of[c["rid"]] = last.get(c.get("conn"))
        last[c.get("conn")] = c
    for c in crecs:
        summary["requests"] += 1
        exp_counts[c["expect"]] += 1
        summary["split_heads"] += bool(c.get("split"))
        summary["app_complete_heads"] += bool(c.get("app_tp") and not c.get("split"))
        rid = c["rid"]
        for p in c.get("problems") or []:
            fail(f"{rid} ({c['scenario']}): {p}")
        lst = by_rid.get(rid, [])
        if not lst:
            if not c.get("problems"):
                fail(f"{rid} ({c['scenario']}): answered but not in the server's log")
            continue
        s = lst[0]
        if c.get("server") and c["server"].get("tp_values") != s.get("tp_values"):
            fail(f"{rid}: the response and the server's log disagree")
        for k in ("method", "target", "body_len", "body_sha256", "head_sha256_no_tp"):
            if s.get(k) != c.get(k):
                fail(f"{rid} ({c['scenario']}): {k} sent {c.get(k)!r}, server logged {s.get(k)!r}")
        tps = s.get("tp_values") or []
        n = len(tps)
        app = c.get("app_tp")
        where = f"{rid} ({c['scenario']}, expect {c['expect']})"
        summary[f"tp_count_{n}"] += 1
        if n > 1:
            fail(f"{where}: {n} traceparent headers: {tps}")
            continue
        if app:
            summary["app"] += 1
            if tps != [app]:
                fail(f"{where}: the application's traceparent {app!r} arrived as {tps}")
            else:
                summary["app_kept"] += 1
            want_ts = [c["app_ts"]] if c.get("app_ts") else []
            if (s.get("ts_values") or []) != want_ts:
                fail(f"{where}: tracestate {s.get('ts_values')} (sent {want_ts})")
            continue
        if s.get("ts_values"):
            fail(f"{where}: tracestate added: {s.get('ts_values')}")
        if n == 1:
            m = TP_RE.match(tps[0])
            if not m or set(m.group(1)) == {"0"} or set(m.group(2)) == {"0"}:
                fail(f"{where}: invalid traceparent {tps[0]!r}")
                continue
            trace, span, flags = m.group(1), m.group(2), int(m.group(3), 16)
            if a.sampled and not flags & 1:
                fail(f"{where}: traceparent {tps[0]} is not sampled (default --sample-ratio 1)")
            if s.get("tp_index") != [0]:
                fail(f"{where}: injected traceparent is header #{s.get('tp_index')}, not the first "
                     f"(headers {s.get('headers')})")
            injected.append((c, s, trace, span, flags))
            summary["injected"] += 1
            summary[f"injected_{c['expect']}"] += 1
        if a.mode == "rules" and c["expect"] == "one" and n != 1:
            pv = prev_of.get(rid)
            fail(f"{where}: head complete in one send but {n} traceparent headers"
                 + (f" (before it on this connection: {pv['rid']} {pv['scenario']}, "
                    f"{pv['body_len']} B body)" if pv else ""))
        if a.mode == "none" and n != 0:
            fail(f"{where}: traceparent {tps} present, none expected")
        for t0, t1 in a.quiet_window:
            if n and c.get("t_send") and t0 < c["t_send"] < t1:
                fail(f"{where}: sent at {c['t_send']:.3f}, inside a window without tracewire "
                     f"({t0:.3f}, {t1:.3f}), but carries {tps[0]}")
    for t0, t1 in a.active_window:
        k = sum(1 for c, *_ in injected if c.get("t_send") and t0 < c["t_send"] < t1)
        inside = sum(1 for c in crecs if c.get("t_send") and t0 < c["t_send"] < t1)
        summary[f"injected_in_window_{t0:.0f}"] = k
        if k == 0:
            fail(f"no injected traceparent among the {inside} requests sent while tracewire ran "
                 f"({t0:.3f}, {t1:.3f})")
    # distinct ids
    for what, idx in (("parent-id", 3), ("trace-id", 2)):
        cnt = Counter(x[idx] for x in injected)
        dups = {k: v for k, v in cnt.items() if v > 1}
        if dups:
            k = next(iter(dups))
            rids = [x[0]["rid"] for x in injected if x[idx] == k]
            fail(f"{len(dups)} injected {what}s used more than once, e.g. {k} on {rids[:6]}")
    summary["flags"] = dict(Counter("%02x" % x[4] for x in injected))
    summary["expect"] = dict(exp_counts)
    summary["zero_or_one_with_tp"] = sum(1 for x in injected if x[0]["expect"] == "zero_or_one")
    # requests with a traceparent sent alone: each must get its CLIENT span
    summary["with_tp_solo"] = sum(1 for c in crecs if c.get("solo") and c["rid"] in by_rid
                                  and by_rid[c["rid"]][0].get("tp_count") == 1)

    if a.spans:
        def sfail(msg):
            summary["server_span_mismatch"] += 1
            if a.server_spans == "strict":
                fail(msg)
            else:
                print(f"WARN: {msg}", file=sys.stderr)

        spans = load_jsonl(a.spans)
        cspans = defaultdict(list)
        sspans = defaultdict(list)
        for sp in spans:
            at = sp.get("attributes") or {}
            rid = rid_of("?" + (at.get("url.query") or ""))
            if sp.get("kind") == "client" and sp.get("pid") == a.client_pid:
                cspans[rid].append(sp)
            elif sp.get("kind") == "server" and a.server_pid and sp.get("pid") == a.server_pid:
                sspans[rid].append(sp)
        summary["client_spans"] = sum(len(v) for v in cspans.values())
        summary["server_spans"] = sum(len(v) for v in sspans.values())
        for c, s, trace, span, flags in injected:
            lst = cspans.get(c["rid"], [])
            where = f"{c['rid']} ({c['scenario']})"
            if not lst and not c.get("solo"):
                # behind another request in the same send: capture copies only
                # the first TW_CAPTURE_MAX bytes of a write, so it may not see it
                summary["client_span_missing_pipelined"] += 1
                continue
            if len(lst) != 1:
                fail(f"{where}: {len(lst)} CLIENT spans of pid {a.client_pid} for an injected request")
                continue
            sp = lst[0]
            src = (sp.get("attributes") or {}).get("tracewire.parent.source")
            if sp.get("span_id") != span or sp.get("trace_id") != trace:
                fail(f"{where}: CLIENT span {sp.get('trace_id')}/{sp.get('span_id')} but the server got "
                     f"{trace}/{span}")
                continue
            if sp.get("parent_span_id") != "" or src != "none":
                fail(f"{where}: CLIENT span should be a root (nothing served), has parent "
                     f"{sp.get('parent_span_id')!r}, source {src!r}")
                continue
            summary["client_span_match"] += 1
            if a.server_spans and c["expect"] == "one" and c.get("solo"):
                ss = sspans.get(c["rid"], [])
                if len(ss) != 1:
                    sfail(f"{where}: {len(ss)} SERVER spans of pid {a.server_pid}")
                elif ss[0].get("trace_id") != trace or ss[0].get("parent_span_id") != span:
                    src = (ss[0].get("attributes") or {}).get("tracewire.parent.source")
                    sfail(f"{where}: SERVER span {ss[0].get('trace_id')}/parent "
                          f"{ss[0].get('parent_span_id')!r} (source {src!r}) does not continue {trace}/{span}")
                else:
                    summary["server_span_match"] += 1
        for c in crecs:
            app = c.get("app_tp")
            if not app:
                continue
            where = f"{c['rid']} ({c['scenario']})"
            lst = cspans.get(c["rid"], [])
            if not (int(app.split("-")[3], 16) & 1):
                # unsampled by the application: its trace is not recorded,
                # so tracewire exports no span of it
                if lst:
                    fail(f"{where}: {len(lst)} CLIENT spans exported for an unsampled traceparent")
                else:
                    summary["app_unsampled_not_exported"] = summary.get("app_unsampled_not_exported", 0) + 1
                continue
            if not lst and not c.get("solo"):
                summary["client_span_missing_pipelined"] += 1
                continue
            if len(lst) != 1:
                fail(f"{where}: {len(lst)} CLIENT spans for a request with the application's traceparent")
                continue
            sp = lst[0]
            _, atrace, aspan, _ = app.split("-")
            src = (sp.get("attributes") or {}).get("tracewire.parent.source")
            if sp.get("trace_id") != atrace or sp.get("parent_span_id") != aspan or src != "application_header":
                fail(f"{where}: CLIENT span {sp.get('trace_id')}/parent {sp.get('parent_span_id')} "
                     f"source {src!r}; the application sent {app}")
            else:
                summary["app_span_match"] += 1
        summary["requests_without_client_span"] = sum(1 for c in crecs if not cspans.get(c["rid"]))

    out = dict(summary)
    out["failures"] = len(fails)
    text = json.dumps(out, sort_keys=True)
    print(text)
    if a.summary:
        with open(a.summary, "w") as f:
            f.write(text + "\n")
    for m in fails[:40]:
        print(f"FAIL: {m}", file=sys.stderr)
    if len(fails) > 40:
        print(f"FAIL: ... and {len(fails) - 40} more", file=sys.stderr)
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--server", type=parse_hostport, required=True)
    r.add_argument("--server6", type=parse_hostport)
    r.add_argument("--out", required=True)
    r.add_argument("--scenarios", default="all")
    r.add_argument("--max-body", type=int, default=8 << 20)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--label", default="r")
    ld = sub.add_parser("load")
    ld.add_argument("--server", type=parse_hostport, required=True)
    ld.add_argument("--out", required=True)
    ld.add_argument("--workers", type=int, default=4)
    ld.add_argument("--duration", type=float, default=20)
    ld.add_argument("--max-requests", type=int, default=100000)
    ld.add_argument("--stop-file")
    ld.add_argument("--seed", type=int, default=1)
    ld.add_argument("--label", default="l")
    ck = sub.add_parser("check")
    ck.add_argument("--client", action="append", required=True)
    ck.add_argument("--server-log", required=True)
    ck.add_argument("--mode", choices=("rules", "none", "at-most-one"), required=True)
    ck.add_argument("--sampled", action="store_true")
    ck.add_argument("--spans")
    ck.add_argument("--client-pid", type=int)
    ck.add_argument("--server-pid", type=int)
    ck.add_argument("--server-spans", nargs="?", const="warn", choices=("warn", "strict"))
    ck.add_argument("--quiet-window", nargs=2, type=float, action="append", default=[])
    ck.add_argument("--active-window", nargs=2, type=float, action="append", default=[])
    ck.add_argument("--summary")
    ck.add_argument("--label", help="only server requests of this client --label count "
                    "(the server's log may hold other runs)")
    a = ap.parse_args()
    if a.cmd == "run":
        return cmd_run(a)
    if a.cmd == "load":
        return cmd_load(a)
    if a.spans and a.client_pid is None:
        ap.error("--spans needs --client-pid")
    return cmd_check(a)


if __name__ == "__main__":
    sys.exit(main())
