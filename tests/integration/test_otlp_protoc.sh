#!/usr/bin/env bash
# The OTLP protobuf encoder against protoc, an independent decoder: the
# fixed request of build/tools/otlp_sample, decoded as an
# ExportTraceServiceRequest with the official opentelemetry-proto files, must
# read back exactly as tests/integration/expected/otlp_sample.txt (written by
# hand from what the sample spans mean). Then protoc encodes that text, and
# its bytes must equal ours: the encoding is the canonical one (fields in
# number order, minimal varints, proto3 defaults omitted), which is what
# backends and byte-level tests expect. No network, no root needed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
sample=${OTLP_SAMPLE:-$repo/build/tools/otlp_sample}
expected=$here/expected/otlp_sample.txt
proto_dir=${OTLP_PROTO_DIR:-/usr/include}
proto=opentelemetry/proto/collector/trace/v1/trace_service.proto
msg=opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

command -v protoc >/dev/null || fail "protoc not found: run scripts/install-deps.sh"
[ -r "$proto_dir/$proto" ] || fail "$proto_dir/$proto missing: run scripts/install-deps.sh"
[ -x "$sample" ] || fail "$sample is missing: run make build/tools/otlp_sample"
[ -r "$expected" ] || fail "$expected is missing"

tmp=$(mktemp -d /tmp/tw-otlp-protoc.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$sample" >"$tmp/sample.bin" || fail "$sample exited with status $?"
[ -s "$tmp/sample.bin" ] || fail "$sample wrote nothing"
echo "== sample: $(wc -c <"$tmp/sample.bin") bytes"

echo "== protoc --decode"
if ! protoc --decode="$msg" -I "$proto_dir" "$proto" <"$tmp/sample.bin" \
	>"$tmp/decoded.txt" 2>"$tmp/decode.err"; then
	cat "$tmp/decode.err" >&2
	fail "protoc could not decode the sample"
fi
if [ -s "$tmp/decode.err" ]; then
	cat "$tmp/decode.err" >&2
	fail "protoc warned while decoding the sample"
fi
if ! diff -u "$expected" "$tmp/decoded.txt" >"$tmp/decode.diff"; then
	cat "$tmp/decode.diff"
	fail "decoded sample differs from $expected (- expected, + protoc)"
fi

echo "== protoc --encode of the expectation equals the sample, byte for byte"
if ! protoc --encode="$msg" -I "$proto_dir" "$proto" <"$expected" \
	>"$tmp/reference.bin" 2>"$tmp/encode.err"; then
	cat "$tmp/encode.err" >&2
	fail "protoc could not encode $expected"
fi
if ! cmp "$tmp/reference.bin" "$tmp/sample.bin"; then
	# a field-by-field view of where the bytes part
	diff -u <(protoc --decode_raw <"$tmp/reference.bin") \
		<(protoc --decode_raw <"$tmp/sample.bin") || true
	fail "the sample is not protoc's canonical encoding of the same message"
fi
echo "PASS"
