#!/usr/bin/env bash
# Runs each cmocka unit-test binary given as an argument; cmocka prints its
# own counts. Under valgrind (when installed; TW_VALGRIND=0 turns it off) so
# that a leak or an invalid read in the parsers fails the test, not only a
# crash: malformed and truncated input must never leak. Exits non-zero if any
# binary fails.
set -u
vg=()
if [ "${TW_VALGRIND:-1}" != 0 ]; then
	if command -v valgrind >/dev/null 2>&1; then
		vg=(valgrind -q --error-exitcode=99 --leak-check=full
			--errors-for-leak-kinds=definite,indirect
			--show-leak-kinds=definite,indirect)
	else
		echo "run-unit: valgrind not installed: running without leak and memory checks" >&2
	fi
fi
failed=0
for t in "$@"; do
	echo "== $t${vg:+ (under valgrind)}"
	"${vg[@]}" "$t"
	rc=$?
	if [ $rc = 99 ]; then
		echo "FAILED: $t: valgrind found memory errors or leaks (see above)" >&2
		failed=1
	elif [ $rc != 0 ]; then
		echo "FAILED: $t (exit $rc)" >&2
		failed=1
	fi
done
exit $failed
