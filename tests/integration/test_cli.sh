#!/usr/bin/env bash
# The command line: --help, --version, usage errors (exit 2, a message naming the
# problem), --probe, and a clean stop on SIGTERM/SIGINT (exit 0, none of
# tracewire's BPF programs left loaded or attached).
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

lab_init
[ -x "$TRACEWIRE" ] || fail "$TRACEWIRE is missing: run make"

lab_step "--help"
assert_exit 0 "--help" "$TRACEWIRE" --help
for opt in --pid --cgroup --comm --exporter --jsonl --trace-window --idle-timeout --max-conns \
	--stats-interval --log-level --probe --help --version; do
	assert_file_contains "$LAB_LAST_OUT" "(^|[^a-z-])$opt([^a-z-]|$)" "--help mentions $opt"
done
assert_exit 0 "-h" "$TRACEWIRE" -h
assert_file_contains "$LAB_LAST_OUT" "Usage" "-h prints the usage"

lab_step "--version"
assert_exit 0 "--version" "$TRACEWIRE" --version
assert_file_contains "$LAB_LAST_OUT" "^tracewire [0-9]+\.[0-9]+\.[0-9]+ \(build [^)]+\)$" \
	"--version prints the version and the build"

lab_step "usage errors"
assert_exit 2 "unknown option" "$TRACEWIRE" --no-such-option
assert_file_contains "$LAB_LAST_ERR" "no-such-option" "the message names the unknown option"
assert_exit 2 "--pid notanumber" "$TRACEWIRE" --pid notanumber
assert_file_contains "$LAB_LAST_ERR" "notanumber" "the message names the bad pid"
assert_exit 2 "--pid without a value" "$TRACEWIRE" --pid
assert_file_contains "$LAB_LAST_ERR" "pid" "the message names --pid"
assert_exit 2 "--cgroup /nonexistent" "$TRACEWIRE" --cgroup /nonexistent
assert_file_contains "$LAB_LAST_ERR" "/nonexistent" "the message names the missing cgroup"
assert_exit 2 "--cgroup of a directory that is not cgroup v2" "$TRACEWIRE" --cgroup "$LAB_DIR"
assert_file_contains "$LAB_LAST_ERR" "$LAB_DIR" "the message names the directory"
assert_exit 2 "--exporter bogus" "$TRACEWIRE" --exporter bogus
assert_file_contains "$LAB_LAST_ERR" "bogus" "the message names the bad exporter"
assert_exit 1 "--jsonl in a missing directory" "$TRACEWIRE" --exporter none \
	--jsonl /nonexistent-dir/spans.jsonl --pid 1
assert_file_contains "$LAB_LAST_ERR" "/nonexistent-dir/spans.jsonl" "the message names the file"

lab_step "without privileges"
# As user nobody with no capabilities; copies, as the checkout may not be
# readable by nobody.
unpriv=$(mktemp -d "$LAB_DIR/unpriv.XXXXXX")
chmod 755 "$LAB_DIR" "$unpriv"
cp "$TRACEWIRE" "$LAB_REPO/Makefile" "$unpriv/"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
assert_exit 1 "tracewire as nobody" as_nobody "$unpriv/tracewire" --pid 1
assert_file_contains "$LAB_LAST_ERR" "missing privileges: CAP_BPF, CAP_PERFMON" \
	"the message names the missing capabilities"
assert_exit 2 "make test as nobody" as_nobody make -s -C "$unpriv" test
assert_file_contains "$LAB_LAST_ERR" "needs root" "make test says it needs root"
# Root without CAP_SYS_PTRACE still runs: only OTEL_SERVICE_NAME is lost.
assert_exit 0 "--probe without CAP_SYS_PTRACE" \
	setpriv --inh-caps=-sys_ptrace --bounding-set=-sys_ptrace "$TRACEWIRE" --probe
assert_file_contains "$LAB_LAST_ERR" "no CAP_SYS_PTRACE" "a warning names the missing CAP_SYS_PTRACE"

lab_step "--probe"
assert_exit 0 "--probe" "$TRACEWIRE" --probe
assert_file_contains "$LAB_LAST_OUT" "tracepoint" "--probe lists tracepoint hooks"
assert_file_contains "$LAB_LAST_OUT" "sys_enter_read" "--probe lists the read tracepoint"

# IDs of loaded BPF programs named tw_* (bpftool shows 15 characters of a name).
tw_prog_ids() {
	bpftool -j prog show | "$LAB_PY" -c '
import json, sys
for p in json.load(sys.stdin):
    if str(p.get("name", "")).startswith("tw_"):
        print(p["id"])'
}
# IDs of BPF links whose program is one of the IDs in file $1.
tw_link_ids() {
	bpftool -j link show | "$LAB_PY" -c '
import json, sys
ids = {int(x) for x in open(sys.argv[1]).read().split()}
for l in json.load(sys.stdin):
    if l.get("prog_id") in ids:
        print(l["id"])' "$1"
}

command -v bpftool >/dev/null || fail "bpftool not found: run scripts/install-deps.sh"
lab_pod p 198.18.0.10/24
for sig in TERM INT; do
	lab_step "SIG$sig while running"
	tw_prog_ids | sort >"$LAB_DIR/progs.before"
	tw_start --cgroup "$(lab_cgroup p)"
	tw_prog_ids | sort >"$LAB_DIR/progs.running"
	comm -13 "$LAB_DIR/progs.before" "$LAB_DIR/progs.running" >"$LAB_DIR/progs.ours"
	assert_gt "$(wc -l <"$LAB_DIR/progs.ours")" 0 "tw_* BPF programs loaded while tracewire runs"
	if [ "$sig" = TERM ]; then
		tw_stop # SIGTERM; fails unless the exit status is 0
	else
		kill -INT "$TW_PID"
		rc=0
		lab_wait_pid "$TW_PID" 15 || rc=$?
		TW_PID=
		assert_eq 0 "$rc" "exit status after SIGINT"
	fi
	# Programs are freed once their last reference goes: poll briefly.
	left=
	for _ in $(seq 100); do
		left=$(tw_prog_ids | sort | comm -12 - "$LAB_DIR/progs.ours" | tr '\n' ' ')
		[ -n "$left" ] || break
		sleep 0.05
	done
	assert_eq "" "$left" "tracewire's BPF programs still loaded after SIG$sig"
	assert_eq "" "$(tw_link_ids "$LAB_DIR/progs.ours" | tr '\n' ' ')" "BPF links left after SIG$sig"
done
lab_step "ok"
