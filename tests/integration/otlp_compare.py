#!/usr/bin/python3
"""Does what an OTLP receiver decoded agree with what tracewire meant?

Usage: otlp_compare.py TRACEWIRE_JSONL RECEIVER_SPANS_JSONL [--resource KEY=VALUE...]
                       [--expect N]

TRACEWIRE_JSONL is what `tracewire --jsonl` wrote in the same run (tracewire's
own account of each span); RECEIVER_SPANS_JSONL is tests/otlp/receiver.js's
output (decoded by the OpenTelemetry JS protobuf module). Every span must be
in both, once, with equal trace/span/parent ids, kind, name, start/end times,
W3C trace flags (low byte of Span.flags), status and every attribute with its type (integers as int_value, the rest as
string_value); each span's resource must say service.name = its service,
process.pid = its pid (int), carry host.name, service.instance.id,
telemetry.sdk.name = tracewire, and every --resource KEY=VALUE given.
With --expect, there must be exactly N spans. Standard library only.
Exit status: 0 agree, 1 they differ, 2 bad usage or unreadable files.
"""

import argparse
import json
import sys

KIND = {"server": 2, "client": 3}
INT_ATTRS = {"http.response.status_code", "server.port", "client.port",
             "network.peer.port", "network.local.port"}


def load(path):
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError as e:
                        sys.exit(f"otlp_compare: {path}:{n}: {e}")
    except OSError as e:
        print(f"otlp_compare: {e}", file=sys.stderr)
        sys.exit(2)
    return out


def typed(value):
    """Receiver's typed AnyValue -> (type, python value)."""
    if not isinstance(value, dict) or len(value) != 1:
        return ("?", value)
    (t, v), = value.items()
    if t == "i":
        return ("int", int(v))
    if t == "s":
        return ("str", v)
    return (t, v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tracewire_jsonl")
    ap.add_argument("receiver_spans")
    ap.add_argument("--resource", action="append", default=[])
    ap.add_argument("--expect", type=int)
    a = ap.parse_args()

    mine = load(a.tracewire_jsonl)
    got = load(a.receiver_spans)
    problems = []
    by_id = {}
    for s in got:
        if s["span_id"] in by_id:
            problems.append(f"span {s['span_id']} received twice")
        by_id[s["span_id"]] = s
    if a.expect is not None and len(mine) != a.expect:
        problems.append(f"tracewire wrote {len(mine)} spans, expected {a.expect}")
    if len(got) != len(mine):
        problems.append(f"receiver decoded {len(got)} spans, tracewire wrote {len(mine)}")
    want_res = {}
    for kv in a.resource:
        k, _, v = kv.partition("=")
        want_res[k] = v

    for m in mine:
        sid = m["span_id"]
        r = by_id.get(sid)
        if r is None:
            problems.append(f"span {sid} ({m['kind']} {m['name']}) never arrived")
            continue
        where = f"span {sid}"
        for key in ("trace_id", "parent_span_id", "name"):
            if m[key] != r[key]:
                problems.append(f"{where}: {key} {r[key]!r}, meant {m[key]!r}")
        if r["kind"] != KIND[m["kind"]]:
            problems.append(f"{where}: kind {r['kind']}, meant {m['kind']}")
        for key in ("start_ns", "end_ns"):
            if int(r[key]) != int(m[key]):
                problems.append(f"{where}: {key} {r[key]}, meant {m[key]}")
        if (int(r.get("flags", 0)) & 0xFF) != int(m["trace_flags"]):
            problems.append(f"{where}: W3C flags {r.get('flags')}, meant {m['trace_flags']}")
        code = (r.get("status") or {}).get("code", 0)
        if (code == 2) != (m["status"] == "error"):
            problems.append(f"{where}: status code {code}, meant {m['status']}")
        if m["status"] == "error":
            msg = (r.get("status") or {}).get("message", "")
            if msg != m["attributes"].get("error.type", ""):
                problems.append(f"{where}: status message {msg!r}, meant the error.type")
        attrs = {k: typed(v) for k, v in (r.get("attributes") or {}).items()}
        for k, v in m["attributes"].items():
            if k not in attrs:
                problems.append(f"{where}: attribute {k} missing")
                continue
            t, val = attrs[k]
            if isinstance(v, int) and not isinstance(v, bool):
                if t != "int" or val != v:
                    problems.append(f"{where}: {k} = {t}:{val!r}, meant int {v}")
            elif t != "str" or val != v:
                problems.append(f"{where}: {k} = {t}:{val!r}, meant string {v!r}")
        for k in attrs:
            if k not in m["attributes"]:
                problems.append(f"{where}: attribute {k} was not meant to be sent")
        res = {k: typed(v) for k, v in (r.get("resource") or {}).items()}
        if res.get("service.name") != ("str", m["service"]):
            problems.append(f"{where}: resource service.name {res.get('service.name')}, meant {m['service']!r}")
        if res.get("process.pid") != ("int", m["pid"]):
            problems.append(f"{where}: resource process.pid {res.get('process.pid')}, meant int {m['pid']}")
        if res.get("telemetry.sdk.name") != ("str", "tracewire"):
            problems.append(f"{where}: resource telemetry.sdk.name {res.get('telemetry.sdk.name')}")
        for k in ("host.name", "service.instance.id"):
            if k not in res or res[k][0] != "str" or not res[k][1]:
                problems.append(f"{where}: resource {k} missing or empty")
        for k, v in want_res.items():
            if res.get(k) != ("str", v):
                problems.append(f"{where}: resource {k} = {res.get(k)}, meant {v!r}")
        scope = r.get("scope") or {}
        if scope.get("name") != "tracewire":
            problems.append(f"{where}: scope {scope}")

    if problems:
        for p in problems[:40]:
            print(f"otlp_compare: FAIL: {p}")
        if len(problems) > 40:
            print(f"otlp_compare: ... and {len(problems) - 40} more")
        return 1
    print(f"otlp_compare: ok: {len(mine)} spans agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
