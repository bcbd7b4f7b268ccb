#!/usr/bin/env bash
# Log lines of a real run (issue 17 item 6): with --log-format json every
# line tracewire writes to stderr, libbpf's debug output included, is one
# JSON object {"time","level","msg"} with an RFC 3339 UTC time with
# milliseconds; a warning about an option given before --log-format is JSON
# too; text lines are "<time> tracewire: <level>: "; a bad value exits 2.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

lab_init
[ -x "$TRACEWIRE" ] || fail "$TRACEWIRE is missing: run make"

lab_step "usage errors"
assert_exit 2 "--log-format xml" "$TRACEWIRE" --log-format xml
assert_file_contains "$LAB_LAST_ERR" "--log-format: expected text or json, got 'xml'" \
	"the message names the option and the value"
assert_exit 2 "--log-format without a value" "$TRACEWIRE" --log-format
assert_exit 0 "--help" "$TRACEWIRE" --help
assert_file_contains "$LAB_LAST_OUT" "--log-format FORMAT" "--help names --log-format"

# start_until LOG ERE ARGS...: tracewire in the background (TW_PID, stderr
# in LOG) until LOG has a line matching ERE, its ready line (30 s)
start_until() {
	local deadline log=$1 ready=$2
	shift 2
	TW_LOG=$log
	"$TRACEWIRE" --exporter none "$@" >"$LAB_DIR/tracewire.out" 2>"$TW_LOG" </dev/null &
	TW_PID=$!
	deadline=$(($(date +%s) + 30))
	until grep -Eq "$ready" "$TW_LOG"; do
		lab__alive "$TW_PID" || { lab__show_file "$TW_LOG" "log"; fail "tracewire exited before ready"; return 1; }
		[ "$(date +%s)" -lt "$deadline" ] || { lab__show_file "$TW_LOG" "log"; fail "not ready within 30 s"; return 1; }
		sleep 0.05
	done
}

# A pid that cannot exist: its warning is logged while the command line is
# read, before --log-format (later in argv) is reached by the main pass.
lab_step "json, with libbpf's debug output"
start_until "$LAB_DIR/json.log" '"level":"info","msg":"ready: ' \
	--pid 4194304 --log-format json --log-level debug \
	--tls-capture off --go-probes off --propagation none
tw_stop
"$LAB_PY" - "$LAB_DIR/json.log" <<'EOF' || fail "the JSON log lines"
import json, re, sys
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
bad, levels, libbpf, n = [], {}, 0, 0
with open(sys.argv[1], "rb") as f:
    for i, raw in enumerate(f, 1):
        n += 1
        try:
            o = json.loads(raw.decode("utf-8"))
        except Exception as e:
            bad.append(f"line {i}: not JSON ({e}): {raw[:120]!r}")
            continue
        if list(o) != ["time", "level", "msg"]:
            bad.append(f"line {i}: keys {list(o)}")
        elif not TIME.match(o["time"]):
            bad.append(f"line {i}: time {o['time']!r}")
        elif o["level"] not in ("error", "warn", "info", "debug"):
            bad.append(f"line {i}: level {o['level']!r}")
        levels[o.get("level")] = levels.get(o.get("level"), 0) + 1
        libbpf += "libbpf" in o.get("msg", "")
        if "--pid 4194304: no process has this id now" in o.get("msg", ""):
            levels["pid-warning"] = 1
print(f"  {n} lines, by level {levels}, {libbpf} from libbpf")
for b in bad[:10]:
    print("  " + b)
ok = not bad and levels.get("pid-warning") and levels.get("debug", 0) > 10 and libbpf > 0 \
    and levels.get("info", 0) >= 3
sys.exit(0 if ok else 1)
EOF

lab_step "text (the last --log-format wins): the time, then 'tracewire: <level>: '"
start_until "$LAB_DIR/text.log" "^[^ ]* tracewire: info: ready: " --log-format json \
	--log-format text --tls-capture off --go-probes off --propagation none
tw_stop
assert_file_contains "$TW_LOG" "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z tracewire: info: ready: " \
	"the text ready line"
assert_eq 0 "$(grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z tracewire: (error|warn|info|debug): ' "$TW_LOG" || true)" \
	"text lines without the time and level prefix"
lab_step "ok"
