#!/usr/bin/env bash
# Runs each cmocka unit-test binary given as an argument; cmocka prints its
# own counts. Exits non-zero if any binary fails.
set -u
failed=0
for t in "$@"; do
	echo "== $t"
	if ! "$t"; then
		echo "FAILED: $t" >&2
		failed=1
	fi
done
exit $failed
