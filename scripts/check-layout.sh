#!/usr/bin/env bash
# The user-space folders depend on each other one way only (README "Layout"):
#
#   injector           -> injector/golang, correlator, correlator/export, correlator/util
#   injector/golang    -> correlator/util
#   correlator/export  -> correlator, correlator/util
#   correlator         -> correlator/util
#   correlator/util    -> (nothing)
#
# and every folder may use include/ (the structs shared with the kernel) and
# the headers the build generates (BPF skeletons, tw_build.h). Each
# `#include "name.h"` of each file in these folders is resolved to the one
# folder that holds name.h (a name held by two folders is an error too: which
# one the compiler takes would depend on the -I order) and checked against
# the list above. Prints every include that breaks it; exits 1 if any does.
set -u
cd "$(dirname "$0")/.."

dirs=(injector injector/golang correlator correlator/export correlator/util)
declare -A allowed=(
	[injector]="injector injector/golang correlator correlator/export correlator/util"
	[injector/golang]="injector/golang correlator/util"
	[correlator/export]="correlator/export correlator correlator/util"
	[correlator]="correlator correlator/util"
	[correlator/util]="correlator/util"
)
generated='^([a-z0-9_]+\.skel\.h|tw_build\.h|vmlinux\.h)$'

declare -A home
bad=0
for d in "${dirs[@]}" include; do
	for h in "$d"/*.h; do
		[ -e "$h" ] || continue
		n=${h##*/}
		if [ -n "${home[$n]:-}" ]; then
			echo "check-layout: $n is in both ${home[$n]}/ and $d/" >&2
			bad=1
		fi
		home[$n]=$d
	done
done

for d in "${dirs[@]}"; do
	for f in "$d"/*.[ch]; do
		[ -e "$f" ] || continue
		while IFS=: read -r line name; do
			to=${home[$name]:-}
			if [ -z "$to" ]; then
				[[ $name =~ $generated ]] && continue
				echo "check-layout: $f:$line: \"$name\" is in none of the source folders" >&2
				bad=1
			elif [ "$to" != include ] && [[ " ${allowed[$d]} " != *" $to "* ]]; then
				echo "check-layout: $f:$line: $d/ must not use $to/ (\"$name\")" >&2
				bad=1
			fi
		done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
			sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/')
	done
done
[ "$bad" = 0 ] && echo "check-layout: user-space folders depend one way only"
exit "$bad"
