#!/usr/bin/python3
"""Client for test_protocol_safety.sh: sends, over raw sockets (every byte as
given), requests with a valid traceparent and a hostile or a valid
tracestate to a middle service (header_echo.py, /call/...) that calls a
downstream raw_head_echo.py, and checks the head the downstream received.

Usage: /usr/bin/python3 tracestate_client.py MID_ADDR MID_PORT DOWN_URL OUT

DOWN_URL: http://ADDR:PORT of raw_head_echo.py. Cases (tracestate sent):
  cr      congo=x<CR>X-Evil: 1            (bare CR)
  lf      congo=x<LF>X-Evil: 1            (bare LF: ends the line at mid)
  nul     congo=x<NUL>X-Evil: 1
  cr2     rojo=00f067aa0ba902b7<CR>,congo=t61rcWkgMzE
  ctl     congo=x<ESC>[31m<DEL>
  high    congo=<0xC3 0xA9>t<0xE9>
  valid   foo=1,bar=2
For each: mid must answer 200 (it made the downstream call). In the head the
downstream received: no "X-Evil" (any case), no bare CR, no bare LF, no NUL,
exactly one traceparent (tracewire's: the path that carries tracestate on
ran) and at most one tracestate line, every tracestate value only
of W3C-legal characters (0x20-0x7E, HTAB); for "valid" also exactly one
traceparent with the trace id sent and the tracestate exactly "foo=1,bar=2".
Prints "ok CASE ..." / "FAIL CASE: why" and what went down, writes the
details (JSON lines) to OUT, exits 1 when any case failed.
"""

import base64
import json
import re
import secrets
import socket
import sys

CASES = [
    ("cr", b"congo=x\rX-Evil: 1"),
    ("lf", b"congo=x\nX-Evil: 1"),
    ("nul", b"congo=x\x00X-Evil: 1"),
    ("cr2", b"rojo=00f067aa0ba902b7\r,congo=t61rcWkgMzE"),
    ("ctl", b"congo=x\x1b[31m\x7f"),
    ("high", b"congo=\xc3\xa9t\xe9"),
    ("valid", b"foo=1,bar=2"),
]

# W3C Trace Context tracestate list (level 2), for the report only
KEY = rb"(?:[a-z0-9][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
VALUE = rb"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
MEMBER = KEY + rb"=" + VALUE
LIST = re.compile(rb"^(?:[ \t]*(?:" + MEMBER + rb")?[ \t]*)(?:,[ \t]*(?:" + MEMBER + rb")?[ \t]*)*$")


def request(addr, port, raw, timeout=10):
    """One request; the response's status and its Content-Length body."""
    s = socket.create_connection((addr, port), timeout=timeout)
    try:
        s.sendall(raw)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?im)^content-length:[ \t]*([0-9]+)", head)
        want = int(m.group(1)) if m else None
        while want is None or len(body) < want:
            d = s.recv(65536)
            if not d:
                break
            body += d
    finally:
        s.close()
    parts = head.split(b" ", 2)
    status = parts[1].decode("latin-1") if len(parts) > 1 else "?"
    return status, body


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: tracestate_client.py MID_ADDR MID_PORT DOWN_URL OUT")
    addr, port, down, outp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    failed = []
    with open(outp, "w") as out:
        for name, ts in CASES:
            tid, pid = secrets.token_hex(16), secrets.token_hex(8)
            raw = (b"GET /call/ts-%s?to=%s/echo/ts-%s HTTP/1.1\r\nHost: %s:%d\r\n"
                   b"traceparent: 00-%s-%s-01\r\ntracestate: %s\r\nConnection: close\r\n\r\n"
                   % (name.encode(), down.encode(), name.encode(), addr.encode(), port,
                      tid.encode(), pid.encode(), ts))
            errs = []
            rec = {"case": name, "tracestate_sent_b64": base64.b64encode(ts).decode(), "trace_id": tid}
            try:
                status, body = request(addr, port, raw)
            except OSError as e:
                status, body = "?", b""
                errs.append("request to mid: %r" % e)
            rec["mid_status"] = status
            dhead = None
            if status != "200":
                errs.append("mid answered %s (no downstream call): %r" % (status, body[:200]))
            else:
                try:
                    dhead = base64.b64decode(json.loads(body)["downstream"]["raw_head_b64"])
                except (ValueError, KeyError, TypeError) as e:
                    errs.append("mid's answer has no downstream head: %r (%r)" % (e, body[:200]))
            if dhead is not None:
                rec["down_head_b64"] = base64.b64encode(dhead).decode()
                if re.search(rb"(?i)x-evil", dhead):
                    errs.append("X-Evil reached the downstream")
                if re.search(rb"\r(?!\n)", dhead):
                    errs.append("a bare CR reached the downstream")
                if re.search(rb"(?<!\r)\n", dhead):
                    errs.append("a bare LF reached the downstream")
                if b"\0" in dhead:
                    errs.append("a NUL reached the downstream")
                lines = dhead[:-4].split(b"\r\n")[1:]
                tps = [ln.split(b":", 1)[1].strip(b" \t") for ln in lines if re.match(rb"(?i)traceparent:", ln)]
                tss = [ln.split(b":", 1)[1].strip(b" \t") for ln in lines if re.match(rb"(?i)tracestate:", ln)]
                rec["down_traceparent"] = [t.decode("latin-1") for t in tps]
                rec["down_tracestate"] = [t.decode("latin-1") for t in tss]
                if len(tps) != 1:
                    errs.append("%d traceparent lines at the downstream, expected tracewire's one" % len(tps))
                if len(tss) > 1:
                    errs.append("%d tracestate lines at the downstream" % len(tss))
                for v in tss:
                    if not re.fullmatch(rb"[\x20-\x7e\t]*", v):
                        errs.append("tracestate with characters W3C does not allow: %r" % v)
                rec["down_tracestate_w3c_list"] = all(LIST.match(v) is not None for v in tss)
                if name == "valid":
                    if len(tps) != 1 or not re.fullmatch(rb"00-%s-[0-9a-f]{16}-01" % tid.encode(), tps[0]):
                        errs.append("traceparent at the downstream %r, expected 00-%s-<span>-01" % (tps, tid))
                    if tss != [b"foo=1,bar=2"]:
                        errs.append("tracestate at the downstream %r, expected ['foo=1,bar=2']" % tss)
            rec["errors"] = errs
            out.write(json.dumps(rec, sort_keys=True) + "\n")
            went = "nothing"
            if dhead is not None:
                kept = any(t.startswith("00-%s-" % tid) for t in rec["down_traceparent"])
                went = "traceparent %s (%s) tracestate %s" % (
                    rec["down_traceparent"] or "-", "trace id kept" if kept else "new trace",
                    [t.encode("latin-1") for t in rec["down_tracestate"]] or "-")
            if errs:
                failed.append(name)
                print("FAIL %-6s sent %r: %s; downstream got %s" % (name, ts, " | ".join(errs), went))
            else:
                print("ok   %-6s sent %r; downstream got %s" % (name, ts, went))
    print("summary: %d cases, %d failed%s" % (len(CASES), len(failed), (": " + " ".join(failed)) if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
