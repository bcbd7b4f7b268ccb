#!/usr/bin/python3
"""gRPC (python3-grpcio, insecure channel = h2c) echo service, middle tier
and client for test_protocol_safety.sh, test_grpc_spans.sh and
test_grpc_chain.sh. No generated code: messages are raw bytes. The same
protocol as servers/go_grpc.go, so either side can be either language.

Usage:
  /usr/bin/python3 grpc_echo.py serve ADDR PORT
      service tw.Echo: Unary(req) -> b"echo:" + req, with the request's
      x-tw-seq metadata sent back as initial metadata; Stream(b"N:data")
      -> N messages b"item-I:" + data
  /usr/bin/python3 grpc_echo.py mid ADDR PORT LEAF
      the same service; every call is made again to LEAF (host:port) over
      ONE channel shared by all calls, and LEAF's answer (initial metadata,
      messages, status code) is passed back
  /usr/bin/python3 grpc_echo.py call TARGET [--channels C] [--unary N]
                                     [--stream S] [--items K] [--parallel P]
                                     [--size BYTES] [--timeout SEC] [--pause FILE]
      C channels (each its own TCP connection: local subchannel pools), on
      each N unary and S server-streaming calls (K items each), P calls in
      flight at a time; the first unary call of a channel is made alone
      before the others (the warm-up: it opens the connection). Every call
      must succeed with the byte-exact answer within SEC s (default 5).
      Payloads contain HTTP/1-looking bytes, then pseudo-random bytes up to
      BYTES in all (default: no padding). With --pause FILE the channels stay
      open after the calls: "paused" is printed, and once FILE exists (at
      most 300 s) all calls are made once more on the same channels. Prints
      "channel C round R: unary OK/N stream OK/S" per channel and round,
      each failure (at most 5 printed), then "total unary OK/N stream OK/S",
      and exits 1 unless every call succeeded. Stops a channel's round early
      once 3 of its calls failed.
"""

import argparse
import os
import random
import sys
import threading
import time
from concurrent import futures

import grpc

MAX_MSG = 64 << 20
OPTS = [("grpc.enable_http_proxy", 0), ("grpc.use_local_subchannel_pool", 1),
        ("grpc.max_receive_message_length", MAX_MSG), ("grpc.max_send_message_length", MAX_MSG)]
PAYLOAD = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def serve(addr, port, leaf=None):
    def unary(req, ctx):
        seq = dict(ctx.invocation_metadata()).get("x-tw-seq", "")
        ctx.send_initial_metadata((("x-tw-seq", seq),))
        return b"echo:" + req

    def stream(req, ctx):
        n, _, data = req.partition(b":")
        for i in range(int(n)):
            yield b"item-%d:" % i + data

    if leaf:
        ch = grpc.insecure_channel(leaf, options=OPTS)
        leaf_unary = ch.unary_unary("/tw.Echo/Unary")
        leaf_stream = ch.unary_stream("/tw.Echo/Stream")

        def abort(ctx, e):
            ctx.abort(e.code(), "leaf: %s" % e.details())

        def mid_unary(req, ctx):
            seq = dict(ctx.invocation_metadata()).get("x-tw-seq", "")
            try:
                resp, rpc = leaf_unary.with_call(req, timeout=ctx.time_remaining(),
                                                 metadata=(("x-tw-seq", seq),))
            except grpc.RpcError as e:
                abort(ctx, e)
            ctx.send_initial_metadata(tuple(rpc.initial_metadata()))
            return resp

        def mid_stream(req, ctx):
            try:
                for m in leaf_stream(req, timeout=ctx.time_remaining()):
                    yield m
            except grpc.RpcError as e:
                abort(ctx, e)

        unary, stream = mid_unary, mid_stream

    handler = grpc.method_handlers_generic_handler("tw.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
    })
    # enough workers for 64 calls in flight on one channel
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=80), options=OPTS)
    server.add_generic_rpc_handlers((handler,))
    target = "[%s]:%d" % (addr, port) if ":" in addr else "%s:%d" % (addr, port)
    if not server.add_insecure_port(target):
        sys.exit("grpc_echo: cannot listen on %s" % target)
    server.start()
    print("grpc_echo listening on %s" % target, flush=True)
    server.wait_for_termination()


def payload(size, tag):
    p = PAYLOAD + tag
    if size <= len(p):
        return p
    return p + random.Random(tag).randbytes(size - len(p))


def call_round(a, c, r, ch, failures):
    """One channel's calls in round r; returns (unary ok, stream ok)."""
    unary = ch.unary_unary("/tw.Echo/Unary")
    stream = ch.unary_stream("/tw.Echo/Stream")
    ok = {"unary": 0, "stream": 0}
    bad = [0]
    lock = threading.Lock()

    def one_unary(i):
        seq = "r%d-c%d-unary%d" % (r, c, i)
        req = payload(a.size, b"round %d channel %d call %d" % (r, c, i))
        resp, rpc = unary.with_call(req, timeout=a.timeout, metadata=(("x-tw-seq", seq),))
        if resp != b"echo:" + req:
            raise ValueError("unary %d: answer of %d bytes differs from the %d expected (%r)"
                             % (i, len(resp), len(req) + 5, resp[:60]))
        md = dict(rpc.initial_metadata())
        if md.get("x-tw-seq") != seq:
            raise ValueError("unary %d: metadata %r" % (i, md))

    def one_stream(i):
        data = payload(a.size, b"round %d channel %d stream %d" % (r, c, i))
        got = [m for m in stream(b"%d:" % a.items + data, timeout=a.timeout)]
        want = [b"item-%d:" % k + data for k in range(a.items)]
        if got != want:
            raise ValueError("stream %d: %d items, %d of %d right" % (
                i, len(got), sum(1 for x, y in zip(got, want) if x == y), a.items))

    def run(j):
        kind, i, fn = j
        try:
            fn(i)
            with lock:
                ok[kind] += 1
        except (grpc.RpcError, ValueError) as e:
            if isinstance(e, grpc.RpcError):
                e = "%s %s" % (e.code(), e.details())
            with lock:
                bad[0] += 1
                failures.append("channel %d round %d %s %d: %s" % (c, r, kind, i, e))

    jobs = [("unary", i, one_unary) for i in range(a.unary)] + \
           [("stream", i, one_stream) for i in range(a.stream)]
    if jobs and jobs[0][0] == "unary":
        run(jobs.pop(0))  # the warm-up, alone
    with futures.ThreadPoolExecutor(max_workers=a.parallel) as ex:
        pending = set()
        it = iter(jobs)
        while True:
            while len(pending) < a.parallel and bad[0] < 3:
                j = next(it, None)
                if j is None:
                    break
                pending.add(ex.submit(run, j))
            if not pending:
                break
            done, pending = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
    print("channel %d round %d: unary %d/%d stream %d/%d" % (c, r, ok["unary"], a.unary,
                                                             ok["stream"], a.stream), flush=True)
    return ok["unary"], ok["stream"]


def wait_file(path):
    print("paused", flush=True)
    deadline = time.monotonic() + 300
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit("grpc_echo: %s did not appear within 300 s" % path)
        time.sleep(0.05)


def call(a):
    failures = []
    tot_u = tot_s = 0
    chans = [grpc.insecure_channel(a.target, options=OPTS) for _ in range(a.channels)]
    rounds = 2 if a.pause else 1
    for r in range(rounds):
        if r:
            wait_file(a.pause)
        for c, ch in enumerate(chans):
            u, st = call_round(a, c, r, ch, failures)
            tot_u += u
            tot_s += st
    for ch in chans:
        ch.close()
    for f in failures[:5]:
        print("failed: %s" % f)
    want_u, want_s = a.unary * a.channels * rounds, a.stream * a.channels * rounds
    print("total unary %d/%d stream %d/%d" % (tot_u, want_u, tot_s, want_s), flush=True)
    return 0 if tot_u == want_u and tot_s == want_s else 1


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "serve" and len(sys.argv) == 4:
        serve(sys.argv[2], int(sys.argv[3]))
        return
    if len(sys.argv) >= 2 and sys.argv[1] == "mid" and len(sys.argv) == 5:
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["call"])
    ap.add_argument("target")
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--unary", type=int, default=10)
    ap.add_argument("--stream", type=int, default=2)
    ap.add_argument("--items", type=int, default=10)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=5)
    ap.add_argument("--pause")
    a = ap.parse_args()
    t0 = time.monotonic()
    rc = call(a)
    print("time %.1f s" % (time.monotonic() - t0))
    sys.exit(rc)


if __name__ == "__main__":
    main()
