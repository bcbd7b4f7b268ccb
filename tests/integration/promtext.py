#!/usr/bin/python3
"""Strict parser of the Prometheus text exposition format (version 0.0.4), for
tracewire's /metrics (--metrics-addr).

Usage:
  promtext.py check FILE            parse; print "N families, M samples"
  promtext.py get FILE SERIES       print the value of SERIES, e.g.
                                    'tracewire_spans_total' or
                                    'tracewire_feature_enabled{feature="capture"}'
                                    (labels in any order); exit 1 if absent
  promtext.py monotonic OLD NEW     every counter series of OLD is in NEW with a
                                    value at least as large
  promtext.py selftest              malformed inputs are refused, good ones taken

What is refused (exit 1, with the line): a line that is neither a comment, a
HELP, a TYPE nor a sample; a metric or label name outside
[a-zA-Z_:][a-zA-Z0-9_:]* / [a-zA-Z_][a-zA-Z0-9_]*; a label value with an escape
other than \\\\, \\" and \\n, or unterminated; a repeated label name; a value
that is no Go float (digits, NaN, +Inf, -Inf); a TYPE other than counter,
gauge, histogram, summary, untyped, given twice or after the family's first
sample; a HELP given twice; a family whose samples are not contiguous; a
repeated series; a sample with no TYPE (stricter than Prometheus: every family
of tracewire is typed and documented, so a HELP is required too); a counter
that is negative or whose name does not end in _total; a missing final
newline; blank lines.
Standard library only; run with Debian's /usr/bin/python3.
"""

import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
FLOAT = re.compile(r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Inf|inf|NaN)$")


class Bad(Exception):
    pass


def family_of(name, families):
    """The family a sample name belongs to (histogram/summary suffixes)."""
    if name in families:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in families:
            return name[: -len(suffix)]
    return name


def parse_labels(text, lineno):
    """text starts after '{'; returns (labels dict, rest after '}')."""
    labels = {}
    i = 0
    while True:
        if text[i:i + 1] == "}":
            return labels, text[i + 1:]
        m = re.match(LABEL, text[i:])
        if not m:
            raise Bad(f"line {lineno}: bad label name at '{text[i:i + 20]}'")
        key = m.group(0)
        i += len(key)
        if text[i:i + 2] != '="':
            raise Bad(f"line {lineno}: label {key}: expected =\"")
        i += 2
        value = []
        while True:
            if i >= len(text):
                raise Bad(f"line {lineno}: label {key}: unterminated value")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise Bad(f"line {lineno}: label {key}: bad escape \\{nxt}")
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise Bad(f"line {lineno}: label {key}: newline in value")
            else:
                value.append(c)
                i += 1
        if key in labels:
            raise Bad(f"line {lineno}: label {key} repeated")
        labels[key] = "".join(value)
        if text[i:i + 1] == ",":
            i += 1
            if text[i:i + 1] == "}":  # a trailing comma is allowed
                return labels, text[i + 1:]
        elif text[i:i + 1] != "}":
            raise Bad(f"line {lineno}: expected , or }} after label {key}")


def parse_value(s, lineno):
    if not FLOAT.match(s):
        raise Bad(f"line {lineno}: not a float: '{s}'")
    return float(s.replace("Inf", "inf"))


def parse(text):
    """{family: {"type", "help", "samples": {(name, labels tuple): value}}}"""
    if not text.endswith("\n"):
        raise Bad("no final newline")
    families = {}
    order = []  # family of each sample line, to check contiguity
    done = set()  # families whose samples ended
    for lineno, line in enumerate(text[:-1].split("\n"), 1):
        if not line.strip():
            raise Bad(f"line {lineno}: blank line")
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not re.fullmatch(NAME, parts[2]):
                    raise Bad(f"line {lineno}: {parts[1]} without a valid metric name")
                fam = families.setdefault(parts[2], {"type": None, "help": None, "samples": {}})
                if parts[1] == "HELP":
                    if fam["help"] is not None:
                        raise Bad(f"line {lineno}: second HELP for {parts[2]}")
                    doc = parts[3] if len(parts) > 3 else ""
                    if "\\" in re.sub(r"\\[\\n]", "", doc):
                        raise Bad(f"line {lineno}: bad escape in HELP of {parts[2]}")
                    fam["help"] = doc
                else:
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise Bad(f"line {lineno}: bad TYPE line")
                    if fam["type"] is not None:
                        raise Bad(f"line {lineno}: second TYPE for {parts[2]}")
                    if fam["samples"]:
                        raise Bad(f"line {lineno}: TYPE of {parts[2]} after its samples")
                    fam["type"] = parts[3]
            continue  # other comments are allowed
        m = re.match(NAME, line)
        if not m:
            raise Bad(f"line {lineno}: bad metric name: '{line[:40]}'")
        name, rest = m.group(0), line[m.end():]
        labels = {}
        if rest.startswith("{"):
            labels, rest = parse_labels(rest[1:], lineno)
        if not rest.startswith(" "):
            raise Bad(f"line {lineno}: expected a space before the value")
        fields = rest.split(" ")[1:]
        if len(fields) not in (1, 2) or not fields[0]:
            raise Bad(f"line {lineno}: expected VALUE [TIMESTAMP]")
        value = parse_value(fields[0], lineno)
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            raise Bad(f"line {lineno}: bad timestamp '{fields[1]}'")
        famname = family_of(name, families)
        fam = families.get(famname)
        if fam is None or fam["type"] is None:
            raise Bad(f"line {lineno}: {name}: sample without a TYPE line")
        if fam["help"] is None:
            raise Bad(f"line {lineno}: {name}: sample without a HELP line")
        if famname in done:
            raise Bad(f"line {lineno}: samples of {famname} are not contiguous")
        if order and order[-1] != famname:
            done.add(order[-1])
        order.append(famname)
        if fam["type"] == "counter":
            if not name.endswith("_total"):
                raise Bad(f"line {lineno}: counter {name} does not end in _total")
            if value < 0 or math.isnan(value):
                raise Bad(f"line {lineno}: counter {name} is {value}")
        key = (name, tuple(sorted(labels.items())))
        if key in fam["samples"]:
            raise Bad(f"line {lineno}: series {name}{labels} repeated")
        fam["samples"][key] = value
    return families


def series(families):
    out = {}
    for fam in families.values():
        for (name, labels), v in fam["samples"].items():
            out[(name, labels)] = (v, fam["type"])
    return out


def parse_series(s):
    m = re.fullmatch(rf"({NAME})(?:\{{(.*)\}})?", s)
    if not m:
        raise Bad(f"bad series '{s}'")
    labels = {}
    if m.group(2):
        labels, rest = parse_labels(m.group(2) + "}", 0)
        if rest:
            raise Bad(f"bad series '{s}'")
    return (m.group(1), tuple(sorted(labels.items())))


def read(path):
    with open(path, encoding="utf-8") as f:
        return parse(f.read())


GOOD = [
    "# HELP a_total x\n# TYPE a_total counter\na_total 1\n",
    '# HELP b y \\\\ \\n z\n# TYPE b gauge\nb{k="v \\" \\\\ \\n",j="2",} 1.5e3\nb{k="w"} +Inf 1700000000000\n',
    "# comment\n# HELP c c\n# TYPE c gauge\nc NaN\nc{x=\"1\"} -0.5\n",
]
BAD = [
    "# HELP a_total x\n# TYPE a_total counter\na_total 1",                      # no final newline
    "# HELP a_total x\n# TYPE a_total counter\n\na_total 1\n",                # blank line
    "a 1\n",                                                                  # no TYPE
    "# TYPE a gauge\na 1\n",                                                  # no HELP
    "# HELP a x\n# TYPE a gauge\na{k=\"v} 1\n",                                # unterminated
    "# HELP a x\n# TYPE a gauge\na{k=\"\\t\"} 1\n",                             # bad escape
    "# HELP a x\n# TYPE a gauge\na{k=\"1\",k=\"2\"} 1\n",                       # repeated label
    "# HELP a x\n# TYPE a gauge\na{1k=\"1\"} 1\n",                              # bad label name
    "# HELP a x\n# TYPE a gauge\na 1,5\n",                                     # bad value
    "# HELP a x\n# TYPE a gauge\na  1\n",                                      # two spaces
    "# HELP a x\n# TYPE a gauge\na 1\na 2\n",                                  # repeated series
    "# HELP a x\n# TYPE a gauge\n# TYPE a gauge\na 1\n",                       # second TYPE
    "# HELP a x\n# TYPE a bogus\na 1\n",                                       # bad TYPE
    "# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na{k=\"1\"} 2\n",  # not contiguous
    "# HELP a x\n# TYPE a counter\na 1\n",                                     # counter without _total
    "# HELP a_total x\n# TYPE a_total counter\na_total -1\n",                  # negative counter
    "# HELP 9a x\n# TYPE 9a gauge\n9a 1\n",                                    # bad metric name
    "# HELP a x\n# TYPE a gauge\na{k=\"1\"}1\n",                               # no space
]


def selftest():
    for text in GOOD:
        parse(text)
    for text in BAD:
        try:
            parse(text)
        except Bad:
            continue
        raise Bad(f"accepted malformed input: {text!r}")
    print(f"promtext: selftest ok ({len(GOOD)} good, {len(BAD)} malformed refused)")


def main(argv):
    try:
        if len(argv) == 2 and argv[1] == "selftest":
            selftest()
        elif len(argv) == 3 and argv[1] == "check":
            fams = read(argv[2])
            n = sum(len(f["samples"]) for f in fams.values())
            print(f"promtext: {argv[2]}: {len(fams)} families, {n} samples")
        elif len(argv) == 4 and argv[1] == "get":
            s = series(read(argv[2]))
            key = parse_series(argv[3])
            if key not in s:
                print(f"promtext: no series {argv[3]} in {argv[2]}", file=sys.stderr)
                return 1
            v = s[key][0]
            print(int(v) if v == int(v) else v)
        elif len(argv) == 4 and argv[1] == "monotonic":
            old, new = series(read(argv[2])), series(read(argv[3]))
            for key, (v, typ) in old.items():
                if typ != "counter":
                    continue
                if key not in new:
                    raise Bad(f"counter {key} gone from {argv[3]}")
                if new[key][0] < v:
                    raise Bad(f"counter {key} went down: {v} -> {new[key][0]}")
            print("promtext: counters monotonic")
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Bad as e:
        print(f"promtext: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
