#!/usr/bin/python3
"""gRPC (python3-grpcio, insecure channel = h2c) echo service and client for
test_protocol_safety.sh. No generated code: messages are raw bytes.

Usage:
  /usr/bin/python3 grpc_echo.py serve ADDR PORT
      service tw.Echo: Unary(req) -> b"echo:" + req, with the request's
      x-tw-seq metadata sent back as initial metadata; Stream(b"N:data")
      -> N messages b"item-I:" + data
  /usr/bin/python3 grpc_echo.py call TARGET [--channels C] [--unary N]
                                     [--stream S] [--items K] [--parallel P]
      C channels (each its own TCP connection: local subchannel pools), on
      each N unary and S server-streaming calls (K items each), P calls in
      flight at a time; every call must succeed with the expected answer
      within 5 s. Payloads contain HTTP/1-looking bytes. Prints "unary OK/N
      stream OK/S" per channel, each failure (at most 5 printed), then
      "total unary OK/N stream OK/S", and exits 1 unless every call succeeded.
      Stops early (a failure per channel) once 3 calls on a channel failed.
"""

import argparse
import sys
import time
from concurrent import futures

import grpc

OPTS = [("grpc.enable_http_proxy", 0), ("grpc.use_local_subchannel_pool", 1)]
PAYLOAD = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def serve(addr, port):
    def unary(req, ctx):
        seq = dict(ctx.invocation_metadata()).get("x-tw-seq", "")
        ctx.send_initial_metadata((("x-tw-seq", seq),))
        return b"echo:" + req

    def stream(req, ctx):
        n, _, data = req.partition(b":")
        for i in range(int(n)):
            yield b"item-%d:" % i + data

    handler = grpc.method_handlers_generic_handler("tw.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=OPTS)
    server.add_generic_rpc_handlers((handler,))
    target = "[%s]:%d" % (addr, port) if ":" in addr else "%s:%d" % (addr, port)
    if not server.add_insecure_port(target):
        sys.exit("grpc_echo: cannot listen on %s" % target)
    server.start()
    print("grpc_echo listening on %s" % target, flush=True)
    server.wait_for_termination()


def call(a):
    failures = []
    tot_u = tot_s = 0
    for c in range(a.channels):
        ch = grpc.insecure_channel(a.target, options=OPTS)
        unary = ch.unary_unary("/tw.Echo/Unary")
        stream = ch.unary_stream("/tw.Echo/Stream")
        ok_u = ok_s = 0
        bad = [0]

        def one_unary(i):
            req = PAYLOAD + b"channel %d call %d" % (c, i)
            resp, rpc = unary.with_call(req, timeout=5, metadata=(("x-tw-seq", "%d-%d" % (c, i)),))
            if resp != b"echo:" + req:
                raise ValueError("unary %d: answer %r" % (i, resp[:60]))
            md = dict(rpc.initial_metadata())
            if md.get("x-tw-seq") != "%d-%d" % (c, i):
                raise ValueError("unary %d: metadata %r" % (i, md))

        def one_stream(i):
            data = PAYLOAD + b"stream %d" % i
            got = [m for m in stream(b"%d:" % a.items + data, timeout=5)]
            want = [b"item-%d:" % k + data for k in range(a.items)]
            if got != want:
                raise ValueError("stream %d: %d items, first %r" % (i, len(got), got[:1]))

        jobs = [("unary", i, one_unary) for i in range(a.unary)] + \
               [("stream", i, one_stream) for i in range(a.stream)]
        with futures.ThreadPoolExecutor(max_workers=a.parallel) as ex:
            pending = {}
            it = iter(jobs)
            while True:
                while len(pending) < a.parallel and bad[0] < 3:
                    j = next(it, None)
                    if j is None:
                        break
                    pending[ex.submit(j[2], j[1])] = j
                if not pending:
                    break
                done, _ = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
                for f in done:
                    kind, i, _ = pending.pop(f)
                    try:
                        f.result()
                        if kind == "unary":
                            ok_u += 1
                        else:
                            ok_s += 1
                    except (grpc.RpcError, ValueError) as e:
                        bad[0] += 1
                        if isinstance(e, grpc.RpcError):
                            e = "%s %s" % (e.code(), e.details())
                        failures.append("channel %d %s %d: %s" % (c, kind, i, e))
        ch.close()
        print("channel %d: unary %d/%d stream %d/%d" % (c, ok_u, a.unary, ok_s, a.stream), flush=True)
        tot_u += ok_u
        tot_s += ok_s
    for f in failures[:5]:
        print("failed: %s" % f)
    print("total unary %d/%d stream %d/%d" % (tot_u, a.unary * a.channels, tot_s, a.stream * a.channels),
          flush=True)
    return 0 if tot_u == a.unary * a.channels and tot_s == a.stream * a.channels else 1


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "serve" and len(sys.argv) == 4:
        serve(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["call"])
    ap.add_argument("target")
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--unary", type=int, default=10)
    ap.add_argument("--stream", type=int, default=2)
    ap.add_argument("--items", type=int, default=10)
    ap.add_argument("--parallel", type=int, default=4)
    a = ap.parse_args()
    t0 = time.monotonic()
    rc = call(a)
    print("time %.1f s" % (time.monotonic() - t0))
    sys.exit(rc)


if __name__ == "__main__":
    main()
