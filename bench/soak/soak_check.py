#!/usr/bin/python3
"""Checks of bench/soak.sh.

  soak_check.py leaf LOG
      The chain leaf's log (integrity_server.py): requests, rids seen more
      than once (a request duplicated on the way), parse errors, requests
      with more than one traceparent header, traceparent values carried by
      more than one request. One JSON object on stdout.

  soak_check.py traces SPANS.jsonl --tier NAME=PID,PID... [--tier ...]
                [--event T]... [--window S]
      Traces (by trace_id) with a SERVER span in every tier and a CLIENT span
      in every tier but the last: "complete". With --event T (unix seconds,
      e.g. a tracewire restart): the first complete trace starting after T,
      in seconds after T, and the share of complete traces among those that
      start between T+WINDOW and the next event (or the end).
"""
import argparse
import json
import sys
from collections import defaultdict


def leaf(path):
    rids = defaultdict(int)
    errors = multi = n = 0
    tps = defaultdict(int)
    with open(path) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                errors += 1
                continue
            if r.get("kind") == "error":
                errors += 1
                continue
            if r.get("kind") != "request":
                continue
            n += 1
            rids[r.get("target")] += 1
            if r.get("tp_count", 0) > 1:
                multi += 1
            for v in r.get("tp_values") or []:
                tps[v] += 1
    out = {"requests": n, "distinct_targets": len(rids),
           "duplicated_requests": sum(c - 1 for c in rids.values() if c > 1),
           "parse_errors": errors, "multi_traceparent": multi,
           "with_traceparent": sum(tps.values()),
           "traceparent_reused": sum(c - 1 for c in tps.values() if c > 1)}
    print(json.dumps(out))


def traces(a):
    tiers = []
    for t in a.tier:
        name, pids = t.split("=", 1)
        tiers.append((name, {int(p) for p in pids.split(",") if p}))
    tier_of = {}
    for i, (_, pids) in enumerate(tiers):
        for p in pids:
            tier_of[p] = i
    by_trace = defaultdict(lambda: {"kinds": set(), "start": None})
    with open(a.spans) as f:
        for line in f:
            try:
                s = json.loads(line)
            except ValueError:
                continue
            i = tier_of.get(s.get("pid"))
            if i is None:
                continue
            t = by_trace[s.get("trace_id")]
            t["kinds"].add((i, str(s.get("kind", "")).lower()))
            st = s.get("start_ns", 0) / 1e9
            if t["start"] is None or st < t["start"]:
                t["start"] = st
    need = {(i, "server") for i in range(len(tiers))} | {(i, "client") for i in range(len(tiers) - 1)}
    rows = sorted((t["start"], need <= t["kinds"]) for t in by_trace.values() if t["start"])
    out = {"traces": len(rows), "complete": sum(1 for _, c in rows if c)}
    ev = sorted(a.event or [])
    out["events"] = []
    for k, t0 in enumerate(ev):
        t1 = ev[k + 1] if k + 1 < len(ev) else float("inf")
        first = next((s for s, c in rows if s >= t0 and c), None)
        win = [c for s, c in rows if t0 + a.window <= s < t1]
        before = [c for s, c in rows if t0 - 10 <= s < t0]
        out["events"].append({
            "at": round(t0, 3),
            "first_complete_after_s": round(first - t0, 2) if first is not None else None,
            "complete_in_10s_before": f"{sum(before)}/{len(before)}",
            "complete_from_window_on": f"{sum(win)}/{len(win)}",
        })
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("leaf")
    p.add_argument("log")
    p = sub.add_parser("traces")
    p.add_argument("spans")
    p.add_argument("--tier", action="append", required=True)
    p.add_argument("--event", action="append", type=float)
    p.add_argument("--window", type=float, default=5.0)
    a = ap.parse_args()
    if a.cmd == "leaf":
        leaf(a.log)
    else:
        traces(a)


if __name__ == "__main__":
    sys.exit(main())
