#!/usr/bin/python3
"""Large gRPC messages on one channel, then small calls on the same channel,
against servers/grpc_echo.py serve (service tw.Echo) for
test_grpc_large.sh. No generated code: messages are raw bytes.

Usage:
  /usr/bin/python3 grpc_large.py TARGET SIZE[,SIZE...]
      One channel (one TCP connection, h2c with prior knowledge). In order:
      3 small unary calls; for each SIZE two unary calls with a SIZE-byte
      request; 3 small unary calls; for each SIZE one server-streaming call
      of 2 items of SIZE bytes; then 5 small unary calls and 2 small
      streaming calls (3 items). Calls are made one at a time; every answer
      must be byte-exact (Unary: b"echo:" + request; Stream "N:data": N
      items b"item-I:" + data). Payloads are pseudo-random (no two alike).
      Prints one line per call ("unary SIZE ok", "stream NxSIZE ok"), then
      "calls unary U stream S" and the body sizes the server's spans should
      show, one "body unary|stream REQ RESP" line per call (gRPC's 5-byte
      message prefixes included), and exits 1 at the first failure.
"""

import random
import sys

import grpc

MAX_MSG = 64 << 20
OPTS = [("grpc.enable_http_proxy", 0), ("grpc.use_local_subchannel_pool", 1),
        ("grpc.max_receive_message_length", MAX_MSG), ("grpc.max_send_message_length", MAX_MSG)]
SMALL = 100
rng = random.Random(19)


def main():
    target, sizes = sys.argv[1], [int(s) for s in sys.argv[2].split(",")]
    ch = grpc.insecure_channel(target, options=OPTS)
    unary = ch.unary_unary("/tw.Echo/Unary")
    stream = ch.unary_stream("/tw.Echo/Stream")
    counts = {"unary": 0, "stream": 0}
    bodies = []

    def call_unary(size):
        req = rng.randbytes(size)
        resp = unary(req, timeout=30)
        if resp != b"echo:" + req:
            sys.exit("unary %d: wrong answer (%d bytes)" % (size, len(resp)))
        counts["unary"] += 1
        bodies.append("body unary %d %d" % (size + 5, len(resp) + 5))
        print("unary %d ok" % size, flush=True)

    def call_stream(n, size):
        data = rng.randbytes(size)
        req = b"%d:" % n + data
        items = list(stream(req, timeout=30))
        want = [b"item-%d:" % i + data for i in range(n)]
        if items != want:
            sys.exit("stream %dx%d: wrong answer (%d items)" % (n, size, len(items)))
        counts["stream"] += 1
        bodies.append("body stream %d %d" % (len(req) + 5, sum(len(m) + 5 for m in items)))
        print("stream %dx%d ok" % (n, size), flush=True)

    for _ in range(3):
        call_unary(SMALL)
    for size in sizes:
        call_unary(size)
        call_unary(size)
    for _ in range(3):
        call_unary(SMALL)
    for size in sizes:
        call_stream(2, size)
    for _ in range(5):
        call_unary(SMALL)
    for _ in range(2):
        call_stream(3, SMALL)
    ch.close()
    print("calls unary %d stream %d" % (counts["unary"], counts["stream"]))
    print("\n".join(bodies))


if __name__ == "__main__":
    main()
