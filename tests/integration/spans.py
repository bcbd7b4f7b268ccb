#!/usr/bin/python3
"""Checker for the JSON-lines span file that `tracewire --jsonl FILE` writes.

Run with Debian's /usr/bin/python3 (standard library only).

Usage:
  spans.py count  FILE [FILTER...]            print the number of matching spans
  spans.py list   FILE [FILTER...]            one readable line per matching span
  spans.py fields FILE [FILTER...] -f FIELD [-f FIELD...]
        print FIELD values of each matching span, tab-separated, one span a line.
        FIELD: a top-level key (start_ns, pid, ...), attributes.KEY (e.g.
        attributes.url.query, "" when absent), or duration_ns.
  spans.py validate FILE                      every line is a well-formed span
  spans.py check-requests FILE [FILTER...] --expect N [--status CODE]
                                           [--otel-status unset|error] [--shared-traces]
        exactly N matching spans; each is well-formed (see below); span ids are
        distinct; trace ids are distinct unless --shared-traces; with --status,
        every one has http.response.status_code CODE; with --otel-status, every
        one has that span status.
  spans.py check-pairs FILE [--client-pid P...] [--server-pid P...]
                            [--expect N] [--slack-ns NS] [--same-trace] [--all-servers]
        pairs every CLIENT span (of --client-pid, if given) with a SERVER span
        (of --server-pid, if given) of the same connection: the client's
        network.local.address/port equal the server's client.address/port and
        the client's network.peer.address/port equal the server's
        network.local.address/port (when the server span has them). Within one
        connection, the server span must lie inside the client span's interval
        (+/- NS, default 1000000 = 1 ms: both come from one clock). Fails if a
        client span has no partner; with --expect, also unless exactly N pairs;
        with --all-servers, also if a selected server span is left unpaired;
        with --same-trace, the server span must share the client's trace_id and
        have the client's span_id as parent_span_id (propagation).
  spans.py check-chain FILE --tier NAME=PID[,PID...] --tier ... --expect M
                           [--min-complete RATIO] [--exact-from TIER...]
                           [--client-source TIER=SOURCE[,SOURCE]...]
                           [--traceparents FILE] [--show N]
                           [--entry-server] [--attribution] [--fanout TIER=N]
        requests through a call chain, one trace each. The tiers, in call
        order, are given by pid (spans of other pids are ignored): the first
        is the client (CLIENT spans only), the last a server (SERVER spans
        only), every tier between has one SERVER span and one CLIENT span per
        request. A request (a first-tier CLIENT span) is complete when its
        trace holds exactly the 2*(tiers-1) spans
          t0.client -> t1.server -> t1.client -> ... -> tN.server
        each the parent of the next, with tracewire.parent.source none on the
        root, header on every SERVER span and thread, connect,
        forwarded_header or request_line on the CLIENT spans between (--client-source
        TIER=... overrides). With
        --traceparents FILE (the version-00 traceparents the client sent, one
        a line), the client's span and t1.server are both children of the
        header's parent id (not exported) and the client's source is
        application_header. Prints each link's count and sources, then
        "complete N/M". Fails on malformed spans; unless each role has
        exactly M spans; on a parent id that is no exported span of the same
        trace (nor the sent header's); on a trace without exactly one root
        (the header's parent counts as one); on two requests in one trace; on
        an exported span without the sampled flag; with --min-complete, when
        fewer than RATIO*M requests are complete; with --exact-from TIER, when
        not every TIER SERVER span heads a complete chain down to the last
        tier.
        --entry-server: the first tier is no traced client but the service
        requests enter at (its caller not selected): one SERVER span per
        request (the root, source none) and one CLIENT span made while
        handling it, like a tier between; chains start at its SERVER span.
        Not with --traceparents.
        --attribution: the tiers between pass the incoming path on (each
        CLIENT span's url.path and url.query are its SERVER span's, distinct
        per request), which tells the true parent of every CLIENT span of a
        tier between; prints, per such tier and tracewire.parent.source,
        "attribution TIER.client SOURCE: R right, W wrong (another request's
        span), N root / T" and the total as "attribution TIER.client all: ...",
        then "correct N/M": complete traces whose CLIENT spans are all under
        their true parents (two requests' CLIENT spans swapped leave both
        traces complete, and wrong). Only a report: it fails nothing.
        --fanout TIER=N: tier TIER (one between the first and the last)
        makes N downstream calls per request: N CLIENT spans, all children
        of its SERVER span, each the parent of its own chain down to the
        last tier (every role after TIER's SERVER span has N*M spans, a
        complete trace N times as many of them).
  spans.py from-otlp RECEIVER_SPANS [-o OUT]
        tests/otlp/receiver.js's spans.jsonl in this file's format (kind,
        typed attributes, service.name and process.pid from the resource,
        trace_flags = the low byte of flags), for the checks above.

Filters (combined with AND; a repeated --pid/--attr means OR/AND as noted):
  --kind server|client   --service NAME   --name NAME    --method METHOD
  --path PATH (exact url.path)            --path-prefix PREFIX
  --code N (http.response.status_code)    --otel-status-is unset|error
  --pid P (repeatable: any of them)       --tid T
  --trace-id HEX         --attr KEY=VALUE (repeatable, all must hold; compared
                         as text, so --attr server.port=8080 works; *.address
                         values as IP addresses: fd00::0:10 = fd00::10 and
                         ::ffff:198.18.0.1 = 198.18.0.1)
  --has-attr KEY / --no-attr KEY (repeatable)

A well-formed span: trace_id 32 and span_id 16 lowercase hex digits, not all
zero; parent_span_id "" or 16 hex digits, not all zero; kind server|client;
non-empty name; integer unix-ns start_ns <= end_ns; integer pid, tid > 0;
status unset|error; attributes an object with http.request.method and
url.path (starting with "/"); integer ports; url.query without "?" and no "?"
in url.path; error.type present when status is error; server spans with a
5xx code are errors and below 500 are not; client spans with a code >= 400
are errors (OpenTelemetry HTTP semantic conventions).

A last line without a newline is a span being written: count/list/fields
ignore it, validate and check-* report it. Exit status: 0 ok, 1 a check
failed, 2 bad usage or an unreadable/corrupt file.
"""

import argparse
import ipaddress
import json
import re
import sys
from collections import defaultdict

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
MIN_NS = 1_500_000_000 * 10**9  # 2017
MAX_NS = 4_000_000_000 * 10**9  # 2096
MAX_ERRORS_SHOWN = 15


class Corrupt(Exception):
    pass


def load(path, strict):
    """Spans of FILE as dicts. strict: a trailing partial line is an error."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        if strict:
            raise Corrupt(f"{path}: no such file (did tracewire start with --jsonl?)")
        return []
    except OSError as e:
        raise Corrupt(f"{path}: {e}")
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last newline: "" or a line being written
    if tail.strip():
        if strict:
            raise Corrupt(f"{path}: last line has no newline (truncated?): {tail[:120]!r}")
    spans = []
    for no, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise Corrupt(f"{path}:{no}: not JSON ({e}): {raw[:160]!r}")
        if not isinstance(obj, dict):
            raise Corrupt(f"{path}:{no}: not a JSON object: {raw[:160]!r}")
        obj["_line"] = no
        spans.append(obj)
    return spans


def attrs(s):
    a = s.get("attributes")
    return a if isinstance(a, dict) else {}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def as_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def norm_addr(a):
    """Canonical text of an address: IPv4-mapped IPv6 as dotted IPv4."""
    if not isinstance(a, str):
        return None
    try:
        ip = ipaddress.ip_address(a.strip("[]"))
    except ValueError:
        return a
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip)


def hostport(addr, port):
    if isinstance(addr, str) and ":" in addr:
        return f"[{addr}]:{port}"
    return f"{addr}:{port}"


def describe(s):
    a = attrs(s)
    dur = s.get("end_ns", 0) - s.get("start_ns", 0) if is_int(s.get("end_ns")) and is_int(s.get("start_ns")) else "?"
    q = a.get("url.query")
    return (f"line {s.get('_line')}: {s.get('kind')} pid={s.get('pid')} svc={s.get('service')} "
            f"{a.get('http.request.method')} {a.get('url.path')}{'?' + q if q else ''} -> "
            f"{a.get('http.response.status_code')} {s.get('status')} "
            f"err={a.get('error.type', '')} dur_us={dur if dur == '?' else dur // 1000} "
            f"peer={hostport(a.get('network.peer.address'), a.get('network.peer.port'))} "
            f"local={hostport(a.get('network.local.address'), a.get('network.local.port'))} "
            f"trace={s.get('trace_id')} span={s.get('span_id')} parent={s.get('parent_span_id')}")


def span_problems(s):
    """Reasons why s is not a well-formed span (empty list: fine)."""
    p = []
    tid, sid, par = s.get("trace_id"), s.get("span_id"), s.get("parent_span_id")
    if not isinstance(tid, str) or not HEX32.match(tid) or set(tid) == {"0"}:
        p.append(f"trace_id {tid!r} is not 32 lowercase hex digits, non-zero")
    if not isinstance(sid, str) or not HEX16.match(sid) or set(sid) == {"0"}:
        p.append(f"span_id {sid!r} is not 16 lowercase hex digits, non-zero")
    if not isinstance(par, str) or (par != "" and (not HEX16.match(par) or set(par) == {"0"})):
        p.append(f"parent_span_id {par!r} is neither \"\" nor 16 lowercase hex digits, non-zero")
    if par and par == sid:
        p.append("parent_span_id equals span_id")
    kind = s.get("kind")
    if kind not in ("server", "client"):
        p.append(f"kind {kind!r} is not server/client")
    if not isinstance(s.get("name"), str) or not s.get("name"):
        p.append("name missing or empty")
    st, en = s.get("start_ns"), s.get("end_ns")
    if not is_int(st) or not is_int(en):
        p.append(f"start_ns/end_ns not integers: {st!r}/{en!r}")
    else:
        if not (MIN_NS <= st <= MAX_NS):
            p.append(f"start_ns {st} is not a unix-epoch nanosecond time")
        if st > en:
            p.append(f"start_ns {st} > end_ns {en}")
    for k in ("pid", "tid"):
        if not is_int(s.get(k)) or s.get(k) <= 0:
            p.append(f"{k} {s.get(k)!r} is not a positive integer")
    if not isinstance(s.get("service"), str):
        p.append("service missing")
    status = s.get("status")
    if status not in ("unset", "error"):
        p.append(f"status {status!r} is not unset/error")
    tf = s.get("trace_flags")
    if not (is_int(tf) and 0 <= tf <= 255) and not (isinstance(tf, str) and re.match(r"^[0-9a-f]{2}$", tf)):
        p.append(f"trace_flags {tf!r} is not a byte")
    if not isinstance(s.get("attributes"), dict):
        p.append("attributes missing or not an object")
        return p
    a = attrs(s)
    if not isinstance(a.get("http.request.method"), str) or not a.get("http.request.method"):
        p.append("http.request.method missing")
    path = a.get("url.path")
    if not isinstance(path, str) or not path.startswith("/"):
        p.append(f"url.path {path!r} does not start with /")
    elif "?" in path:
        p.append(f"url.path {path!r} contains the query")
    if "url.query" in a and (not isinstance(a["url.query"], str) or a["url.query"].startswith("?")):
        p.append(f"url.query {a['url.query']!r} is not the query text without '?'")
    for k in ("http.response.status_code", "server.port", "client.port", "network.peer.port",
              "network.local.port"):
        if k in a and not is_int(a[k]):
            p.append(f"{k} {a[k]!r} is not an integer")
    code = a.get("http.response.status_code")
    if status == "error" and not a.get("error.type"):
        p.append("status is error but error.type is missing")
    if is_int(code):
        if kind == "server" and code >= 500 and status != "error":
            p.append(f"server span with status code {code} is not an error")
        if kind == "server" and code < 500 and status == "error" and "error.type" not in a:
            p.append(f"server span with status code {code} is an error without error.type")
        if kind == "client" and code >= 400 and status != "error":
            p.append(f"client span with status code {code} is not an error")
    return p


def add_filters(ap):
    g = ap.add_argument_group("filters")
    g.add_argument("--kind", choices=("server", "client"))
    g.add_argument("--service")
    g.add_argument("--name")
    g.add_argument("--method")
    g.add_argument("--path")
    g.add_argument("--path-prefix")
    g.add_argument("--code", type=int)
    g.add_argument("--otel-status-is", choices=("unset", "error"))
    g.add_argument("--pid", type=int, action="append", default=[])
    g.add_argument("--tid", type=int)
    g.add_argument("--trace-id")
    g.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE")
    g.add_argument("--has-attr", action="append", default=[], metavar="KEY")
    g.add_argument("--no-attr", action="append", default=[], metavar="KEY")


def make_filter(o):
    attr_eq = []
    for kv in o.attr:
        if "=" not in kv:
            raise SystemExit(f"spans.py: --attr {kv!r}: expected KEY=VALUE")
        k, v = kv.split("=", 1)
        attr_eq.append((k, v))
    pids = set(o.pid)

    def ok(s):
        a = attrs(s)
        if o.kind and s.get("kind") != o.kind:
            return False
        if o.service is not None and s.get("service") != o.service:
            return False
        if o.name is not None and s.get("name") != o.name:
            return False
        if o.method and a.get("http.request.method") != o.method:
            return False
        if o.path is not None and a.get("url.path") != o.path:
            return False
        if o.path_prefix is not None and not str(a.get("url.path", "")).startswith(o.path_prefix):
            return False
        if o.code is not None and a.get("http.response.status_code") != o.code:
            return False
        if o.otel_status_is and s.get("status") != o.otel_status_is:
            return False
        if pids and s.get("pid") not in pids:
            return False
        if o.tid is not None and s.get("tid") != o.tid:
            return False
        if o.trace_id and s.get("trace_id") != o.trace_id:
            return False
        for k, v in attr_eq:
            if k not in a:
                return False
            if k.endswith(".address"):
                if norm_addr(a[k]) != norm_addr(v):
                    return False
            elif as_text(a[k]) != v:
                return False
        for k in o.has_attr:
            if k not in a:
                return False
        for k in o.no_attr:
            if k in a:
                return False
        return True

    return ok


def report(errors, what):
    if not errors:
        return 0
    print(f"spans.py: FAIL: {what}: {len(errors)} problem(s)", file=sys.stderr)
    for e in errors[:MAX_ERRORS_SHOWN]:
        print(f"  - {e}", file=sys.stderr)
    if len(errors) > MAX_ERRORS_SHOWN:
        print(f"  ... and {len(errors) - MAX_ERRORS_SHOWN} more", file=sys.stderr)
    return 1


def field_value(s, f):
    if f == "duration_ns":
        return s.get("end_ns", 0) - s.get("start_ns", 0)
    if f.startswith("attributes."):
        return attrs(s).get(f[len("attributes."):], "")
    return s.get(f, "")


def cmd_count(o):
    ok = make_filter(o)
    print(sum(1 for s in load(o.file, False) if ok(s)))
    return 0


def cmd_list(o):
    ok = make_filter(o)
    for s in load(o.file, False):
        if ok(s):
            print(describe(s))
    return 0


def cmd_fields(o):
    ok = make_filter(o)
    for s in load(o.file, False):
        if ok(s):
            print("\t".join(as_text(field_value(s, f)) for f in o.field))
    return 0


def cmd_validate(o):
    spans = load(o.file, True)
    errors = []
    ids = defaultdict(list)
    for s in spans:
        errors += [f"line {s['_line']}: {p}" for p in span_problems(s)]
        ids[(s.get("trace_id"), s.get("span_id"))].append(s["_line"])
    errors += [f"span id {k[1]} of trace {k[0]} on lines {v}" for k, v in ids.items() if len(v) > 1]
    rc = report(errors, f"validate {o.file}")
    if not rc:
        print(f"spans.py: ok: {len(spans)} well-formed spans")
    return rc


def cmd_check_requests(o):
    ok = make_filter(o)
    everything = load(o.file, True)
    spans = [s for s in everything if ok(s)]
    errors = []
    if len(spans) != o.expect:
        errors.append(f"expected exactly {o.expect} matching spans, found {len(spans)}")
    for s in spans:
        errors += [f"line {s['_line']}: {p}" for p in span_problems(s)]
        code = attrs(s).get("http.response.status_code")
        if o.status is not None and code != o.status:
            errors.append(f"status code {code!r}, expected {o.status}: {describe(s)}")
        if o.otel_status and s.get("status") != o.otel_status:
            errors.append(f"span status {s.get('status')!r}, expected {o.otel_status}: {describe(s)}")
    for key, what in (("span_id", "span id"), ("trace_id", "trace id")):
        if key == "trace_id" and o.shared_traces:
            continue
        seen = defaultdict(list)
        for s in spans:
            seen[s.get(key)].append(s["_line"])
        dups = {k: v for k, v in seen.items() if len(v) > 1}
        if dups:
            errors.append(f"{len(dups)} duplicate {what}(s), e.g. {next(iter(dups))} on lines "
                          f"{next(iter(dups.values()))[:5]}")
    rc = report(errors, f"check-requests {o.file}")
    if not rc:
        print(f"spans.py: ok: {len(spans)} spans")
    elif spans and len(spans) <= 40:
        print("matching spans:", file=sys.stderr)
        for s in spans:
            print(f"  {describe(s)}", file=sys.stderr)
    if rc and len(spans) < o.expect:
        # Near misses: same kind and pid, other filters ignored.
        pids, taken = set(o.pid), {id(s) for s in spans}
        near = [s for s in everything if id(s) not in taken and (not o.kind or s.get("kind") == o.kind)
                and (not pids or s.get("pid") in pids)]
        if near:
            print(f"spans of the same kind/pid that other filters left out ({len(near)}):", file=sys.stderr)
            for s in near[:10]:
                print(f"  {describe(s)}", file=sys.stderr)
    return rc


def tuple_key(s, side):
    """(client addr, client port, server addr, server port) of a span's connection."""
    a = attrs(s)
    if side == "client":
        return (norm_addr(a.get("network.local.address")), a.get("network.local.port"),
                norm_addr(a.get("network.peer.address")), a.get("network.peer.port"))
    caddr = a.get("client.address", a.get("network.peer.address"))
    cport = a.get("client.port", a.get("network.peer.port"))
    return (norm_addr(caddr), cport, norm_addr(a.get("network.local.address")),
            a.get("network.local.port"))


def cmd_check_pairs(o):
    spans = load(o.file, True)
    cpids, spids = set(o.client_pid), set(o.server_pid)
    clients = [s for s in spans if s.get("kind") == "client" and (not cpids or s.get("pid") in cpids)]
    servers = [s for s in spans if s.get("kind") == "server" and (not spids or s.get("pid") in spids)]
    errors = []
    for s in clients:
        a = attrs(s)
        if "network.local.address" not in a or "network.local.port" not in a:
            errors.append(f"client span lacks network.local.address/port, cannot pair: {describe(s)}")
    if errors:
        return report(errors, f"check-pairs {o.file}")
    # Servers by (client addr, client port); their local side is compared when present.
    by_client = defaultdict(list)
    for s in servers:
        by_client[tuple_key(s, "server")[:2]].append(s)
    for lst in by_client.values():
        lst.sort(key=lambda s: s.get("start_ns", 0))
    used = set()
    pairs = 0
    slack = o.slack_ns
    for c in sorted(clients, key=lambda s: s.get("start_ns", 0)):
        ck = tuple_key(c, "client")
        # Of the unused server spans inside the client span (give or take the
        # slack), the one overlapping it most: with keep-alive, the previous
        # or next request on the connection can sit within the slack.
        match, best = None, -1
        for s in by_client.get(ck[:2], []):
            if id(s) in used:
                continue
            sk = tuple_key(s, "server")
            if sk[2] is not None and sk[3] is not None and (sk[2], sk[3]) != (ck[2], ck[3]):
                continue
            if c["start_ns"] - slack <= s["start_ns"] and s["end_ns"] <= c["end_ns"] + slack:
                overlap = min(s["end_ns"], c["end_ns"]) - max(s["start_ns"], c["start_ns"])
                if overlap > best:
                    match, best = s, overlap
        if match is None:
            errors.append(f"client span without a server span inside it on its connection: {describe(c)}")
            continue
        used.add(id(match))
        pairs += 1
        if o.same_trace:
            if match.get("trace_id") != c.get("trace_id"):
                errors.append(f"server span in another trace than its client: client {describe(c)} / "
                              f"server {describe(match)}")
            elif match.get("parent_span_id") != c.get("span_id"):
                errors.append(f"server span's parent is not its client span: client {describe(c)} / "
                              f"server {describe(match)}")
    if o.all_servers:
        for s in servers:
            if id(s) not in used:
                errors.append(f"server span without a client span: {describe(s)}")
    if o.expect is not None and pairs != o.expect:
        errors.insert(0, f"expected {o.expect} client/server pairs, found {pairs} "
                         f"({len(clients)} client spans, {len(servers)} server spans)")
    rc = report(errors, f"check-pairs {o.file}")
    if not rc:
        print(f"spans.py: ok: {pairs} client/server pairs")
    return rc



# ---- check-chain --------------------------------------------------------------

SOURCES = ("none", "header", "thread", "connect", "forwarded_header", "application_header",
           "tcp_option", "ip_option", "goroutine", "request_line")
W3C_TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def parse_tiers(specs):
    tiers = []
    for spec in specs:
        name, sep, pids = spec.partition("=")
        if not sep or not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", name):
            raise SystemExit(f"spans.py: --tier {spec!r}: expected NAME=PID[,PID...]")
        try:
            ps = {int(p) for p in pids.replace(" ", ",").split(",") if p}
        except ValueError:
            raise SystemExit(f"spans.py: --tier {spec!r}: pids must be integers")
        if not ps:
            raise SystemExit(f"spans.py: --tier {spec!r}: no pid")
        if name in (t[0] for t in tiers):
            raise SystemExit(f"spans.py: --tier {name} given twice")
        tiers.append((name, ps))
    if len(tiers) < 2:
        raise SystemExit("spans.py: check-chain needs at least two --tier (the client and one server)")
    seen = {}
    for name, ps in tiers:
        for p in ps:
            if p in seen:
                raise SystemExit(f"spans.py: pid {p} is in tiers {seen[p]} and {name}")
            seen[p] = name
    return tiers


def read_traceparents(path):
    """trace id -> parent id of the traceparents (version 00) in FILE, one a line."""
    out = {}
    try:
        with open(path, encoding="utf-8") as f:
            for no, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                m = W3C_TP.match(line)
                if not m:
                    raise Corrupt(f"{path}:{no}: not a version-00 traceparent: {line!r}")
                if m.group(1) in out:
                    raise Corrupt(f"{path}:{no}: trace id {m.group(1)} used twice")
                out[m.group(1)] = m.group(2)
    except OSError as e:
        raise Corrupt(f"{path}: {e}")
    return out


def cmd_check_chain(o):
    """Requests through a chain of tiers, each a complete trace?

    Tier 0 is the client (CLIENT spans only), the last tier a server (SERVER
    spans only), every tier between has a SERVER span and, made while handling
    it, a CLIENT span to the next tier. A request is complete when its trace
    holds exactly these 2*(tiers-1) spans, linked
      t0.client -> t1.server -> t1.client -> t2.server -> ... -> tN.server
    (each span's parent_span_id is the previous one's span_id), with the
    expected tracewire.parent.source on each and the sampled flag set.
    """
    tiers = parse_tiers(o.tier)
    names = [t[0] for t in tiers]
    last = len(tiers) - 1
    tier_of = {}
    for i, (_, ps) in enumerate(tiers):
        for p in ps:
            tier_of[p] = i
    ext = read_traceparents(o.traceparents) if o.traceparents else None
    # allowed sources per (tier, kind)
    allowed = {}
    entry = getattr(o, "entry_server", False)
    if entry and ext is not None:
        raise SystemExit("spans.py: check-chain: --entry-server and --traceparents exclude each other")
    if entry:
        allowed[(0, "server")] = {"none"}
        allowed[(0, "client")] = {"thread", "connect", "forwarded_header", "request_line"}
    else:
        allowed[(0, "client")] = {"application_header"} if ext is not None else {"none"}
    server_sources = set(o.server_source.split(",")) if o.server_source else {"header"}
    if not server_sources <= set(SOURCES):
        raise SystemExit(f"spans.py: --server-source {o.server_source!r}: sources are {SOURCES}")
    for i in range(1, len(tiers)):
        allowed[(i, "server")] = server_sources
        if i < last:
            allowed[(i, "client")] = {"thread", "connect", "forwarded_header", "request_line"}
    for spec in o.client_source:
        name, sep, srcs = spec.partition("=")
        if not sep or name not in names:
            raise SystemExit(f"spans.py: --client-source {spec!r}: expected TIER=SOURCE[,SOURCE] "
                             f"with TIER one of {names}")
        i = names.index(name)
        if i == last:
            raise SystemExit(f"spans.py: --client-source: tier {name} is the last (no client spans)")
        ss = set(srcs.split(","))
        bad = ss - set(SOURCES)
        if bad:
            raise SystemExit(f"spans.py: --client-source: unknown source(s) {sorted(bad)}")
        allowed[(i, "client")] = ss

    fan_tier, fan = None, 1
    if getattr(o, "fanout", None):
        name, sep, n = o.fanout.partition("=")
        if not sep or name not in names or names.index(name) in (0, last) or not n.isdigit() \
                or int(n) < 1:
            raise SystemExit(f"spans.py: --fanout {o.fanout!r}: expected TIER=N with TIER one of "
                             f"{names[1:last]} and N >= 1")
        fan_tier, fan = names.index(name), int(n)

    everything = load(o.file, True)
    errors = []  # structural: fail whatever --min-complete says
    spans = []
    for s in everything:
        if s.get("pid") not in tier_of:
            continue
        spans.append(s)
        errors += [f"line {s['_line']}: {p}" for p in span_problems(s)]
    if errors:
        return report(errors, f"check-chain {o.file}: malformed spans")

    def role(s):
        return (tier_of[s["pid"]], s["kind"])

    def label(r):
        return f"{names[r[0]]}.{r[1]}"

    def src(s):
        return attrs(s).get("tracewire.parent.source")

    roles = [(0, "server"), (0, "client")] if entry else [(0, "client")]
    for i in range(1, len(tiers)):
        roles.append((i, "server"))
        if i < last:
            roles.append((i, "client"))
    # spans per request of each role, and children each parent has of it
    mult = {r: (fan if fan_tier is not None and roles.index(r) > roles.index((fan_tier, "server"))
                else 1) for r in roles}
    per_parent_want = {r: (fan if r == (fan_tier, "client") else 1) for r in roles}
    by_role = defaultdict(list)
    for s in spans:
        by_role[role(s)].append(s)
    for r in list(by_role):
        if r not in roles:
            errors.append(f"{len(by_role[r])} {r[1]} span(s) of tier {names[r[0]]}, which should "
                          f"have none, e.g. {describe(by_role[r][0])}")
    M = o.expect
    for r in roles:
        if len(by_role[r]) != M * mult[r]:
            errors.append(f"{label(r)}: {len(by_role[r])} spans, expected {M * mult[r]} "
                          f"({mult[r]} per request)")

    by_trace = defaultdict(list)
    by_id = {}
    for s in spans:
        by_trace[s["trace_id"]].append(s)
        by_id[(s["trace_id"], s["span_id"])] = s
    # Every span id once (per trace; ids are random 64-bit, so also overall).
    ids = defaultdict(list)
    for s in spans:
        ids[s["span_id"]].append(s["_line"])
    dup = {k: v for k, v in ids.items() if len(v) > 1}
    if dup:
        k = next(iter(dup))
        errors.append(f"{len(dup)} span id(s) used more than once, e.g. {k} on lines {dup[k][:5]}")

    # Parents: an exported span of the same trace, or (with --traceparents)
    # the parent id the client sent in that trace's header; never anything else.
    def ext_parent(s):
        return ext.get(s["trace_id"]) if ext is not None else None

    dangling = []
    for s in spans:
        p = s.get("parent_span_id") or ""
        if p and (s["trace_id"], p) not in by_id and p != ext_parent(s):
            dangling.append(s)
    if dangling:
        errors.append(f"{len(dangling)} span(s) whose parent_span_id is no exported span of their "
                      f"trace, e.g. {describe(dangling[0])}")
    multi_root = []
    for t, ss in by_trace.items():
        roots = sum(1 for s in ss if not s.get("parent_span_id"))
        if ext_parent(ss[0]) and any(s.get("parent_span_id") == ext_parent(ss[0]) for s in ss):
            roots += 1
        if roots != 1:
            multi_root.append((t, roots))
    if multi_root:
        t, n = multi_root[0]
        errors.append(f"{len(multi_root)} trace(s) without exactly one root, e.g. trace {t} with {n}")
    # Each request its own trace: one tier-0 CLIENT span per trace.
    req_traces = defaultdict(int)
    for s in by_role[roles[0]]:
        req_traces[s["trace_id"]] += 1
    shared = [t for t, n in req_traces.items() if n > 1]
    if shared:
        errors.append(f"{len(shared)} trace(s) hold more than one request ({label(roles[0])} span), "
                      f"e.g. {shared[0]}")
    if ext is not None:
        missing = set(ext) - set(req_traces)
        if missing:
            errors.append(f"{len(missing)} traceparent(s) sent have no {names[0]} client span in "
                          f"their trace, e.g. trace {next(iter(missing))}")
    unsampled = [s for s in spans if not (int(s["trace_flags"], 16) if isinstance(s["trace_flags"], str)
                                          else s["trace_flags"]) & 1]
    if unsampled:
        errors.append(f"{len(unsampled)} exported span(s) without the sampled flag, "
                      f"e.g. {describe(unsampled[0])}")

    # Links: for each role after the first, how many spans hang off the right
    # parent (the previous role's span in the same trace) with the right source.
    children = defaultdict(list)
    for s in spans:
        children[(s["trace_id"], s.get("parent_span_id") or "")].append(s)

    def link_ok(child, parent_role):
        r = role(child)
        if src(child) not in allowed[r]:
            return False
        if parent_role is None:  # tier 0 client
            want = ext_parent(child) or ""
            return (child.get("parent_span_id") or "") == want
        if r == (1, "server") and ext is not None:
            return child.get("parent_span_id") == ext_parent(child)
        par = by_id.get((child["trace_id"], child.get("parent_span_id") or ""))
        return par is not None and role(par) == parent_role

    # A link counts when the child is linked right and is its parent's only
    # child of that role (two requests' spans under one parent: neither).
    link_counts = []
    for k, r in enumerate(roles):
        pr = roles[k - 1] if k else None
        good = [s for s in by_role[r] if link_ok(s, pr)]
        per_parent = defaultdict(int)
        for s in good:
            per_parent[(s["trace_id"], s.get("parent_span_id") or s["span_id"])] += 1
        n = sum(1 for s in good
                if per_parent[(s["trace_id"], s.get("parent_span_id") or s["span_id"])] == per_parent_want[r])
        link_counts.append((r, pr, n))
    src_counts = {r: defaultdict(int) for r in roles}
    for r in roles:
        for s in by_role[r]:
            src_counts[r][src(s)] += 1

    # Chains down from a span of role k: exactly one child of the next role
    # at each step (--fanout: N of them, each with its own chain), each
    # linked right.
    def chain_from(s, k):
        if k + 1 == len(roles):
            return True
        nxt = roles[k + 1]
        kids = [c for c in children[(s["trace_id"], s["span_id"])] if role(c) == nxt]
        return (len(kids) == per_parent_want[nxt] and
                all(link_ok(c, roles[k]) and chain_from(c, k + 1) for c in kids))

    complete = 0
    incomplete = []
    for root in by_role[roles[0]]:
        ss = by_trace[root["trace_id"]]
        ok = (link_ok(root, None) and len(ss) == sum(mult.values()) and
              req_traces[root["trace_id"]] == 1)
        if ok:
            if ext is not None:
                # t1.server is the client's sibling (both children of the
                # header's parent id); the rest hangs off t1.server.
                s1 = [s for s in ss if role(s) == (1, "server")]
                ok = len(s1) == 1 and link_ok(s1[0], roles[0]) and chain_from(s1[0], 1)
            else:
                ok = chain_from(root, 0)
        if ok:
            complete += 1
        else:
            incomplete.append(root)

    exact_from = {}
    for name in o.exact_from:
        if name not in names or (names.index(name) == 0 and not entry):
            raise SystemExit(f"spans.py: --exact-from {name!r}: one of {names if entry else names[1:]}")
        k = roles.index((names.index(name), "server"))
        n = sum(1 for s in by_role[roles[k]] if chain_from(s, k))
        exact_from[name] = n
        if n != M * mult[roles[k]]:
            errors.append(f"chains from {name}.server down to {names[last]}.server: {n} of "
                          f"{M * mult[roles[k]]} complete, expected all")

    print(f"check-chain: tiers {' -> '.join(f'{n}({len(p)} pid)' for n, p in tiers)}; "
          f"{M} requests; {len(spans)} spans in {len(by_trace)} traces")
    for r, pr, n in link_counts:
        what = (f"{label(pr)} -> {label(r)}" if pr and not (ext is not None and r == (1, 'server'))
                else f"(header parent) -> {label(r)}" if pr else f"(root) {label(r)}")
        srcs = " ".join(f"{k}={v}" for k, v in sorted(src_counts[r].items(), key=lambda kv: str(kv[0])))
        print(f"  link {what:<32} {n}/{len(by_role[r])}   sources: {srcs}")
    for name, n in exact_from.items():
        print(f"  chains from {name}.server: {n}/{M * mult[(names.index(name), 'server')]}")
    print(f"  dangling parents: {len(dangling)}; traces without exactly one root: {len(multi_root)}")
    if getattr(o, "attribution", False):
        truth = print_attribution(roles, by_role, label, src)
        # A complete trace can still be wrong: two requests' CLIENT spans
        # swapped leave both traces whole, each with the other's downstream.
        broken = {id(root) for root in incomplete}
        correct = sum(1 for root in by_role[roles[0]] if id(root) not in broken and
                      all(truth.get(id(s), "right") == "right" for s in by_trace[root["trace_id"]]))
        print(f"  correct (complete, every CLIENT span under its true parent): {correct}/{M}")
    print(f"complete {complete}/{M}")
    if o.min_complete is not None and complete < o.min_complete * M:
        errors.append(f"{complete} of {M} requests are complete traces, below the floor "
                      f"{o.min_complete} ({o.min_complete * M:g})")
    sys.stdout.flush()  # before the details on stderr, also through a pipe
    if errors and incomplete and o.show:
        print(f"first incomplete traces (of {len(incomplete)}):", file=sys.stderr)
        for root in incomplete[:o.show]:
            print(f"  trace {root['trace_id']}:", file=sys.stderr)
            for s in sorted(by_trace[root["trace_id"]], key=lambda s: s["start_ns"]):
                print(f"    [{label(role(s))} src={src(s)}] {describe(s)}", file=sys.stderr)
    return report(errors, f"check-chain {o.file}")


def print_attribution(roles, by_role, label, src):
    """check-chain --attribution: each CLIENT span of a tier between against
    its true parent, the same tier's SERVER span with its url.path/url.query.
    Returns {id(span): right|wrong|root|unknown} for those CLIENT spans."""
    def key(s):
        a = attrs(s)
        return (a.get("url.path"), a.get("url.query", ""))

    truth = {}
    for r in roles:
        if r[1] != "client" or (r[0], "server") not in roles:
            continue
        servers = defaultdict(list)
        for s in by_role[(r[0], "server")]:
            servers[key(s)].append(s)
        tally = defaultdict(lambda: defaultdict(int))
        for c in by_role[r]:
            cands = servers.get(key(c), [])
            par = c.get("parent_span_id") or ""
            if len(cands) != 1:
                what = "unknown"  # no or several SERVER spans with that path
            elif not par:
                what = "root"
            elif par == cands[0]["span_id"] and c["trace_id"] == cands[0]["trace_id"]:
                what = "right"
            else:
                what = "wrong"
            truth[id(c)] = what
            tally[src(c)][what] += 1
            tally["all"][what] += 1
        for source in sorted(tally, key=lambda k: (k == "all", str(k))):
            t = tally[source]
            n = sum(t.values())
            extra = f", {t['unknown']} unknown" if t["unknown"] else ""
            print(f"  attribution {label(r)} {source}: {t['right']} right, {t['wrong']} wrong "
                  f"(another request's span), {t['root']} root{extra} / {n}")
    return truth


# ---- from-otlp -------------------------------------------------------------------

OTLP_KINDS = {2: "server", 3: "client"}


def otlp_value(v):
    if isinstance(v, dict) and len(v) == 1:
        (t, x), = v.items()
        if t == "i":
            return int(x)
        if t in ("s", "b", "d"):
            return x
    return v


def cmd_from_otlp(o):
    """tests/otlp/receiver.js's spans.jsonl -> tracewire's JSON-lines form."""
    out = open(o.output, "w", encoding="utf-8") if o.output != "-" else sys.stdout
    n = 0
    try:
        with open(o.file, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        raise Corrupt(f"{o.file}: {e}")
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError as e:
            raise Corrupt(f"{o.file}:{no}: not JSON ({e})")
        if r.get("problems"):
            raise Corrupt(f"{o.file}:{no}: the receiver found problems: {r['problems']}")
        a = {k: otlp_value(v) for k, v in (r.get("attributes") or {}).items()}
        res = {k: otlp_value(v) for k, v in (r.get("resource") or {}).items()}
        pid = res.get("process.pid", a.get("process.pid"))
        span = {
            "trace_id": r.get("trace_id"),
            "span_id": r.get("span_id"),
            "parent_span_id": r.get("parent_span_id") or "",
            "kind": OTLP_KINDS.get(r.get("kind"), r.get("kind_name")),
            "name": r.get("name"),
            "start_ns": int(r.get("start_ns", 0)),
            "end_ns": int(r.get("end_ns", 0)),
            "service": res.get("service.name", ""),
            "pid": pid,
            "tid": a.get("thread.id"),
            "status": "error" if (r.get("status") or {}).get("code") == 2 else "unset",
            "trace_flags": int(r.get("flags", 0)) & 0xFF,
            "attributes": a,
        }
        out.write(json.dumps(span, sort_keys=True) + "\n")
        n += 1
    if out is not sys.stdout:
        out.close()
    print(f"spans.py: converted {n} spans", file=sys.stderr)
    return 0


def main(argv):
    ap = argparse.ArgumentParser(prog="spans.py", description="check tracewire JSON-lines spans",
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, fn, filt in (("count", cmd_count, True), ("list", cmd_list, True),
                           ("fields", cmd_fields, True), ("validate", cmd_validate, False),
                           ("check-requests", cmd_check_requests, True),
                           ("check-pairs", cmd_check_pairs, False),
                           ("check-chain", cmd_check_chain, False),
                           ("from-otlp", cmd_from_otlp, False)):
        p = sub.add_parser(name)
        p.add_argument("file")
        p.set_defaults(fn=fn)
        if filt:
            add_filters(p)
        if name == "fields":
            p.add_argument("-f", "--field", action="append", required=True)
        if name == "check-requests":
            p.add_argument("--expect", type=int, required=True)
            p.add_argument("--status", type=int)
            p.add_argument("--otel-status", choices=("unset", "error"))
            p.add_argument("--shared-traces", action="store_true")
        if name == "check-pairs":
            p.add_argument("--client-pid", type=int, action="append", default=[])
            p.add_argument("--server-pid", type=int, action="append", default=[])
            p.add_argument("--expect", type=int)
            p.add_argument("--slack-ns", type=int, default=1_000_000)
            p.add_argument("--same-trace", action="store_true")
            p.add_argument("--all-servers", action="store_true")
        if name == "check-chain":
            p.add_argument("--tier", action="append", required=True, metavar="NAME=PID[,PID...]")
            p.add_argument("--expect", type=int, required=True)
            p.add_argument("--min-complete", type=float)
            p.add_argument("--exact-from", action="append", default=[], metavar="TIER")
            p.add_argument("--client-source", action="append", default=[],
                           metavar="TIER=SOURCE[,SOURCE]")
            # what links each server tier to its caller (default header)
            p.add_argument("--server-source", metavar="SOURCE[,SOURCE]")
            p.add_argument("--traceparents", metavar="FILE")
            p.add_argument("--show", type=int, default=3)
            p.add_argument("--entry-server", action="store_true")
            p.add_argument("--attribution", action="store_true")
            p.add_argument("--fanout", metavar="TIER=N")
        if name == "from-otlp":
            p.add_argument("-o", "--output", default="-")
    o = ap.parse_args(argv)
    try:
        return o.fn(o)
    except Corrupt as e:
        print(f"spans.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
