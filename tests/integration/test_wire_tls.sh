#!/usr/bin/env bash
# Trace context through TLS, where no header can be written: a three-tier
# HTTPS chain of unmodified services,
#
#   cli (curl https, OpenSSL: SSL_read/SSL_write, its own BIO)
#     -> mid (python ThreadingHTTPServer behind ssl, servers/tls_chain.py: for
#             each /chain/... request one GET / to the leaf over the handling
#             thread's keep-alive http.client.HTTPSConnection; SSL_read_ex /
#             SSL_write_ex, SSL_set_fd)
#     -> leaf (the same server, answering itself)
#
# tracewire runs with --propagation tcp and --cgroup for each pod. The
# OpenSSL uprobes turn the plaintext into spans and choose each client
# request's ids before its ciphertext is sent; sock_ops carries them in a TCP
# option on the request's first segment and reads them on the server socket.
# Every request must be one trace:
#   curl CLIENT (root) -> mid SERVER (parent: curl's span, source tcp_option)
#   -> mid CLIENT (parent: mid's SERVER span, connect or thread)
#   -> leaf SERVER (parent: mid's CLIENT span, tcp_option)
# and nothing else may appear: ciphertext read or written by the syscalls
# must never become a span (exactly 4 spans per request).
#   c=1   REQUESTS_C1 requests one at a time: every one a complete trace.
#   c=8   REQUESTS_C8 requests 8 at a time, in fresh pods: held to C8_FLOOR.
# These two runs start tracewire before the servers see their first
# connection, so it sees every connection from connect()/accept() (and
# SSL_set_fd, or curl's handshake).
#   late  one curl, REQUESTS_LATE requests at 5/s over one keep-alive
#         connection, started before tracewire: every SSL object already
#         exists, so each socket is learnt from the syscalls inside
#         SSL_read/SSL_write. Such connections are not propagation's (they
#         are adopted into the sockhash, bpf/adopt.bpf.c, but sk_msg never
#         writes into TLS and the TCP option is not turned on for adopted
#         connections), so each hop is its own trace; what is checked is that
#         the plaintext still becomes the right spans and the ciphertext none.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

REQUESTS_C1=${TW_TLS_REQUESTS_C1:-50}
REQUESTS_C8=${TW_TLS_REQUESTS_C8:-200}
REQUESTS_LATE=${TW_TLS_REQUESTS_LATE:-40}

# Floor for c=8 completeness. Unlike the header chain (nginx: one event-loop
# thread for all connections), nothing here guesses: curl starts a new trace
# per request (no server context in its process), the mid is thread per
# connection (its CLIENT span's parent is the request its thread handles,
# exact), and each hop's ids ride on the segment holding the request's first
# byte (sequence number taken from write_seq before SSL_write encrypts).
# What can still cost a request: a TCP option with no room on its segment
# (SACK blocks next to timestamps: counted as tcp_opt_no_room, none expected
# on an idle veth) or a server span decided before the option was read
# (impossible in order: the option is parsed when the segment arrives, the
# plaintext is read after it). Measured on the 2-core dev VM: 200/200 in each
# of 7 runs, and 2000/2000 in a run of 2000 (TW_TLS_REQUESTS_C8=2000). The
# floor leaves room for a few requests whose option is lost with a
# retransmitted segment or skipped for room under load (4 of 200), and still
# fails on anything systematic (a wrong sequence number, ids chosen after
# the ciphertext left, a socket missed) which costs every request of a
# connection or all of them.
C8_FLOOR=${TW_TLS_C8_FLOOR:-0.98}

lab_init

command -v openssl >/dev/null || { echo "SKIP: openssl(1) not found"; exit 77; }
# the places injector/tls.c looks (python3 and curl use the same file here)
LIBSSL=
for f in /usr/lib/x86_64-linux-gnu/libssl.so.3 /usr/lib/aarch64-linux-gnu/libssl.so.3 \
	/usr/lib64/libssl.so.3 /usr/lib/libssl.so.3; do
	[ -e "$f" ] && { LIBSSL=$f; break; }
done
[ -n "$LIBSSL" ] || { echo "SKIP: no system libssl.so.3"; exit 77; }

# Exit counters that must be zero after each run.
ZERO_COUNTERS=(lost_ringbuf_full conn_map_full copy_faults not_http bad unsynced evicted
	unanswered spans_dropped fail_open skip_split_head skip_head_too_long
	skip_nh_h2c skip_nh_method skip_nh_target skip_nh_version skip_nh_line_end skip_nh_header
	skip_unframed sockhash_full ctx_lost ctx_unmatched tcp_opt_no_room opt_untrusted
	tls_no_socket injected rewritten kept_existing)

LATER=()
check_later() {
	local want=$1 got=$2 what=$3
	if [ "$want" = "$got" ]; then
		echo "  ok: $what = $got"
	else
		echo "  NOT OK: $what = '$got', expected $want"
		LATER+=("$what: expected $want, got '$got'")
	fi
}
check_later_ge() {
	local min=$1 got=$2 what=$3
	if [[ $got =~ ^[0-9]+$ ]] && [ "$got" -ge "$min" ]; then
		echo "  ok: $what = $got (>= $min)"
	else
		echo "  NOT OK: $what = '$got', expected >= $min"
		LATER+=("$what: expected >= $min, got '$got'")
	fi
}

# tls_pods N: pods cN mN lN (198.18.N.20/.11/.12), a certificate for the two
# servers, the leaf and the mid; sets CLI, URL, TIER_MID, TIER_LEAF, CG.
tls_pods() {
	local n=$1 certdir=$LAB_DIR/certs$1
	lab_pod "c$n" "198.18.$n.20/24"
	lab_pod "m$n" "198.18.$n.11/24"
	lab_pod "l$n" "198.18.$n.12/24"
	mkdir -p "$certdir"
	# one self-signed certificate for both servers; clients verify it
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$certdir/key.pem" -out "$certdir/cert.pem" -days 2 -subj "/CN=tracewire-lab" \
		-addext "subjectAltName=IP:198.18.$n.11,IP:198.18.$n.12" >"$certdir/openssl.log" 2>&1 ||
		{ lab__show_file "$certdir/openssl.log" "openssl req"; fail "openssl req failed"; }
	CA=$certdir/cert.pem
	lab_start_cmd "l$n" "198.18.$n.12" 8443 \
		"$LAB_PY" "$LAB_SERVERS/tls_chain.py" "198.18.$n.12" 8443 "$CA" "$certdir/key.pem"
	lab_start_cmd "m$n" "198.18.$n.11" 8443 \
		"$LAB_PY" "$LAB_SERVERS/tls_chain.py" "198.18.$n.11" 8443 "$CA" "$certdir/key.pem" \
		"198.18.$n.12" 8443 "$CA"
	CLI=c$n
	URL=https://198.18.$n.11:8443/chain
	TIER_MID=$(lab_pod_pids "m$n" | paste -sd, -)
	TIER_LEAF=$(lab_pod_pids "l$n" | paste -sd, -)
	CG=(--cgroup "$(lab_cgroup "c$n")" --cgroup "$(lab_cgroup "m$n")" --cgroup "$(lab_cgroup "l$n")")
}

# run LABEL REQUESTS PARALLEL FLOOR
run() {
	local label=$1 requests=$2 par=$3 floor=$4 out rc=0 line c
	tw_start --propagation tcp "${CG[@]}"
	assert_file_lacks "$TW_LOG" "propagation: off" "$label: propagation is on"
	assert_file_contains "$TW_LOG" "TLS capture: probing [^ ]*libssl\.so\.3: SSL_read SSL_write SSL_read_ex SSL_write_ex SSL_set_fd SSL_do_handshake" \
		"$label: the uprobes are on libssl.so.3"
	lab_step "$label: tracewire ready; $requests requests, $par at a time"
	CURL_CA_BUNDLE=$CA LAB_EXPECT_CODE=200 lab_curl_many "$CLI" "$requests" "$par" "$URL/$label"
	CURL_PID=$LAB_LAST_PID
	[ "$par" = 1 ] || assert_ge "$LAB_CONNECTS" 2 "$label: curl used several connections at once"
	tw_wait_spans --pid "$CURL_PID" --kind client "$requests" 60
	tw_wait_spans "$((4 * requests))" 60
	tw_stop
	tw_spans validate
	# ciphertext never became a span: exactly the chain's 4 spans per request
	assert_eq "$((4 * requests))" "$(tw_spans count)" "$label: spans in the file (4 per request)"
	assert_eq "$requests" "$(tw_spans count --pid "$CURL_PID" --kind client --path "/chain/$label" --code 200)" \
		"$label: curl CLIENT spans for /chain/$label, answered 200"
	out=$LAB_DIR/chain-$label.txt
	tw_spans check-chain --tier "cli=$CURL_PID" --tier "mid=$TIER_MID" --tier "leaf=$TIER_LEAF" \
		--expect "$requests" --server-source tcp_option --exact-from mid --min-complete "$floor" \
		>"$out" || rc=$?
	cat "$out"
	line=$(grep -E '^complete [0-9]+/[0-9]+$' "$out" | tail -n 1 || true)
	echo "COMPLETENESS $label ${line#complete }"
	[ "$rc" = 0 ] || fail "$label: spans.py check-chain failed (status $rc; details above)"
	grep '^[^ ]* tracewire: info: stats (exit):' "$TW_LOG" | sed 's/^/  /'
	for c in "${ZERO_COUNTERS[@]}"; do
		check_later 0 "$(tw_exit_counter "$c" || true)" "$label: exit counter $c"
	done
	# sk_msg sees the ciphertext: every connection it passes is passed as TLS
	check_later "$(tw_exit_counter skip_nh_tls || true)" "$(tw_exit_counter skip_not_http || true)" \
		"$label: exit counter skip_not_http (all of them skip_nh_tls)"
	check_later_ge 1 "$(tw_exit_counter skip_nh_tls || true)" "$label: exit counter skip_nh_tls"
	# curl's and the mid's requests: ids chosen in SSL_write, each claimed by
	# its CLIENT span, each carried by one option (retransmits may repeat it)
	check_later "$((2 * requests))" "$(tw_exit_counter tls_ctx || true)" "$label: exit counter tls_ctx"
	check_later "$((2 * requests))" "$(tw_exit_counter ctx_matched || true)" "$label: exit counter ctx_matched"
	check_later_ge "$((2 * requests))" "$(tw_exit_counter tcp_opt_written || true)" "$label: exit counter tcp_opt_written"
	check_later_ge "$((2 * requests))" "$(tw_exit_counter tcp_opt_read || true)" "$label: exit counter tcp_opt_read"
	# every request and response of both hops, read and written: 8 at least
	check_later_ge "$((8 * requests))" "$(tw_exit_counter tls_records || true)" "$label: exit counter tls_records"
}

lab_step "c=1: pods c1 m1 l1, servers"
tls_pods 1
run c1 "$REQUESTS_C1" 1 1.0

lab_step "c=8: pods c2 m2 l2, servers"
tls_pods 2
run c8 "$REQUESTS_C8" 8 "$C8_FLOOR"

lab_step "late: pods c3 m3 l3, servers; curl before tracewire"
tls_pods 3
LAB_NPROC=$((LAB_NPROC + 1))
cfg=$LAB_DIR/curl.late.cfg
for ((i = 0; i < REQUESTS_LATE; i++)); do
	printf 'url = "%s"\noutput = "/dev/null"\n' "$URL/late"
done >"$cfg"
lab_run_in_pod "$CLI" env CURL_CA_BUNDLE="$CA" curl --silent --show-error --rate 5/s --max-time 60 \
	--config "$cfg" --write-out '%{http_code} %{num_connects}\n'
CURL_PID=$LAB_LAST_PID CURL_OUT=$LAB_LAST_LOG
# tracewire starts once a request went all the way (the mid's connection to
# the leaf is up): every connection and SSL of the chain exists by then.
# (curl's --write-out lines are buffered until it exits: not a progress meter)
deadline=$(($(date +%s) + 20))
until [ -n "$(ip netns exec "$(lab_ns m3)" ss -Htn state established dst "$(lab_ip l3)" 2>/dev/null)" ]; do
	[ "$(date +%s)" -lt "$deadline" ] || { lab__show_file "$CURL_OUT" "curl output"; fail "late: no request reached the leaf in 20 s"; }
	lab__alive "$CURL_PID" || { lab__show_file "$CURL_OUT" "curl output"; fail "late: curl exited early"; }
	sleep 0.05
done
T0=$(date +%s%N)
tw_start --propagation tcp "${CG[@]}"
lab_step "late: tracewire ready ($(( ($(date +%s%N) - T0) / 1000000 )) ms after the chain's connections were up)"
lab_wait_pid "$CURL_PID" 60 || { lab__show_file "$CURL_OUT" "curl output"; fail "late: curl failed"; }
assert_eq "$REQUESTS_LATE" "$(grep -c '^200 ' "$CURL_OUT" || true)" "late: requests answered 200"
assert_eq 1 "$(awk '{ s += $2 } END { print s + 0 }' "$CURL_OUT")" "late: curl used one connection"
tw_stop
tw_spans validate
# At 5 requests/s, tracewire (ready in 1-2 s) sees most of them.
AFTER=$(tw_spans count --pid "$CURL_PID" --kind client)
assert_ge "$AFTER" "$((REQUESTS_LATE / 2))" "late: curl CLIENT spans (requests seen)"
grep '^[^ ]* tracewire: info: stats (exit):' "$TW_LOG" | sed 's/^/  /'
# Per tier: how many spans, and that each is the request it should be. A
# server thread already blocked in SSL_read_ex at start misses that one
# request (its entry was never seen), so each tier has AFTER - 2 .. AFTER
# (AFTER: curl's CLIENT spans).
"$LAB_PY" - "$TW_JSONL" "$CURL_PID" "$TIER_MID" "$TIER_LEAF" "$AFTER" <<'PY' || fail "late: spans (above)"
import json, sys
path, cli, mid, leaf, after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
spans = [json.loads(l) for l in open(path) if l.strip()]
want = {(cli, "client"): "/chain/late", (mid, "server"): "/chain/late", (mid, "client"): "/", (leaf, "server"): "/"}
bad, n = [], {k: 0 for k in want}
for s in spans:
    k = (s["pid"], s["kind"])
    a = s["attributes"]
    if k not in want or a.get("url.path") != want[k] or a.get("http.response.status_code") != 200:
        bad.append(f'{s["pid"]} {s["kind"]} {a.get("http.request.method")} {a.get("url.path")} -> {a.get("http.response.status_code")}')
        continue
    n[k] += 1
ids = {(s["trace_id"], s["span_id"]) for s in spans if (s["pid"], s["kind"]) == (mid, "server")}
threaded = sum(1 for s in spans if (s["pid"], s["kind"]) == (mid, "client")
               and (s["trace_id"], s.get("parent_span_id")) in ids)
print("late: spans per tier:", ", ".join(f"{p}.{k}={v}" for (p, k), v in n.items()),
      f"(curl CLIENT spans: {after}); mid CLIENT spans under their SERVER span: {threaded}")
ok = True
if bad:
    print(f"late: {len(bad)} span(s) that are no request of the chain, e.g.:", *bad[:5], sep="\n  ")
    ok = False
for k, v in n.items():
    if not after - 2 <= v <= after:
        print(f"late: {k[1]} spans of pid {k[0]}: {v}, expected {after - 2}..{after}")
        ok = False
if threaded < n[(mid, "client")] - 1:
    print(f"late: only {threaded} mid CLIENT spans have their SERVER span as parent")
    ok = False
sys.exit(0 if ok else 1)
PY
for c in lost_ringbuf_full conn_map_full copy_faults bad spans_dropped fail_open sockhash_full ctx_lost \
	tls_no_socket injected; do
	check_later 0 "$(tw_exit_counter "$c" || true)" "late: exit counter $c"
done
# no pre-existing connection is propagation's: no ids chosen, none on the wire
check_later 0 "$(tw_exit_counter tls_ctx || true)" "late: exit counter tls_ctx"
check_later 0 "$(tw_exit_counter tcp_opt_written || true)" "late: exit counter tcp_opt_written"
check_later 0 "$(tw_exit_counter tcp_opt_read || true)" "late: exit counter tcp_opt_read"

if [ "${#LATER[@]}" -gt 0 ]; then
	printf 'FAIL: %s\n' "${LATER[@]}" >&2
	fail "${#LATER[@]} exit counter(s) off (above)"
fi
lab_step "ok"
