#!/usr/bin/env bash
# Kernel matrix (make kernels): boots each kernel worth supporting under
# qemu (TCG: KVM is not usable on this project's machines) and runs
# bpf_verify in it over every BPF object, so that each program is loaded
# alone, with default and with all-on rodata, and gets the same row as in
# `make verify`. One table per kernel; exit 1 when any program fails (is
# rejected or breaches the headroom) on any kernel, or a guest gives no
# result.
#
# Kernels: Debian 12's stock kernel (linux-image-amd64 from bookworm /
# bookworm-security, 6.1) and, when bookworm-backports has a newer series
# (6.12), that one too. Only Debian's apt is used: `apt-get download` into
# a cache (~/.cache/tracewire-kernels), so a second run downloads nothing.
#
# usage: scripts/kernels.sh BPF_VERIFY OBJ.bpf.o...
# env:   KERNELS        "stock backports" (default) or a subset
#        KERNELS_TIMEOUT seconds per guest (default 900)
#        KERNELS_SMP    guest vCPUs (default: nproc)
set -euo pipefail

die() { echo "kernels: $*" >&2; exit 2; }
log() { echo "kernels: $*" >&2; }

[ $# -ge 2 ] || die "usage: $0 BPF_VERIFY OBJ.bpf.o..."
TOOL=$(realpath "$1"); shift
[ -x "$TOOL" ] || die "$TOOL: not built"
# the guest has no libraries: a dynamic binary would not start there
if readelf -l "$TOOL" 2>/dev/null | grep -q INTERP; then die "$TOOL is not static"; fi
OBJS=()
for o in "$@"; do [ -r "$o" ] || die "$o: missing"; OBJS+=("$(realpath "$o")"); done

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/tracewire-kernels
TIMEOUT=${KERNELS_TIMEOUT:-900}
SMP=${KERNELS_SMP:-$(nproc)}
WANT=${KERNELS:-stock backports}
mkdir -p "$CACHE"

# ---- host tools ----------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "needs ${need[*]} (run as root, or install them)"
	log "installing ${need[*]}"
	timeout 600 apt-get update -qq || true
	DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq \
		--no-install-recommends "${need[@]}" >/dev/null
fi
if readelf -l /bin/busybox 2>/dev/null | grep -q INTERP ||
	! /bin/busybox --list 2>/dev/null | grep -x poweroff >/dev/null; then
	die "/bin/busybox is not a static, full busybox (install busybox-static)"
fi

# ---- which kernel packages -----------------------------------------------
# The same backports entry scripts/install-deps.sh adds; apt takes nothing
# from it unless asked by name or suite.
if [[ " $WANT " == *" backports "* ]] &&
	! grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	if [ "$(id -u)" = 0 ]; then
		echo "deb http://deb.debian.org/debian bookworm-backports main" \
			>/etc/apt/sources.list.d/bookworm-backports.list
		log "added bookworm-backports to apt's sources"
		timeout 600 apt-get update -qq || true
	fi
fi
madison() { apt-cache madison linux-image-amd64 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2 "|" $3}'; }
if [ -z "$(madison)" ]; then
	timeout 600 apt-get update -qq || true
fi
# "version|suite line" per version, newest first (apt's order)
mapfile -t VERSIONS < <(madison)
stock_ver=$(printf '%s\n' "${VERSIONS[@]}" | grep -v backports | head -1 | cut -d'|' -f1 || true)
bpo_ver=$(printf '%s\n' "${VERSIONS[@]}" | grep backports | head -1 | cut -d'|' -f1 || true)
series() { echo "$1" | cut -d. -f1,2; }

# The image package a linux-image-amd64 version depends on.
image_pkg() { apt-cache depends "linux-image-amd64=$1" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }

# Cached vmlinuz of an image package (downloaded and unpacked once).
vmlinuz_of() {
	local pkg=$1 dir=$CACHE/$1 deb
	if ! ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1; then
		deb=$(ls "$CACHE"/"${pkg}"_*.deb 2>/dev/null | head -1 || true)
		if [ -z "$deb" ]; then
			log "downloading $pkg (once, into $CACHE)"
			(cd "$CACHE" && timeout 600 apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null) || return 1
			deb=$(ls "$CACHE"/"${pkg}"_*.deb | head -1)
		fi
		rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp" --wildcards './boot/vmlinuz-*'
		rm -rf "$dir" && mv "$dir.tmp" "$dir"
	fi
	ls "$dir"/boot/vmlinuz-* | head -1
}

KLIST=() # "label|package"
for k in $WANT; do
	case $k in
	stock)
		if [ -z "$stock_ver" ]; then
			# offline: the newest stock image already in the cache
			p=$(cd "$CACHE" && ls -d linux-image-6.1.*/ 2>/dev/null | grep -v '\.tmp/$' | sort -V | tail -1 || true)
			p=${p%/}
			[ -n "$p" ] || die "linux-image-amd64 unknown to apt and nothing cached"
			KLIST+=("stock (cached)|$p")
		else
			KLIST+=("stock $stock_ver|$(image_pkg "$stock_ver")")
		fi
		;;
	backports)
		if [ -z "$bpo_ver" ]; then
			log "bookworm-backports has no linux-image-amd64: stock kernel only"
		elif [ -n "$stock_ver" ] && [ "$(series "$bpo_ver")" = "$(series "$stock_ver")" ]; then
			log "bookworm-backports has no newer kernel series than $stock_ver"
		else
			KLIST+=("bookworm-backports $bpo_ver|$(image_pkg "$bpo_ver")")
		fi
		;;
	*) die "unknown kernel '$k' (stock, backports)" ;;
	esac
done

# ---- the guest's initramfs (the same for every kernel) ---------------------
W=$(mktemp -d /tmp/tw-kernels.XXXXXX)
[ -n "${KERNELS_KEEP:-}" ] && log "keeping $W" || trap 'rm -rf "$W"' EXIT
R=$W/root
mkdir -p "$R"/{bin,sbin,proc,sys,dev,tmp,objs,res}
cp /bin/busybox "$R/bin/"
for a in sh mount cat echo tail poweroff sleep; do ln -s busybox "$R/bin/$a"; done
cp "$TOOL" "$R/sbin/bpf_verify"
i=0
for o in "${OBJS[@]}"; do
	# numbered so the table keeps the order given
	i=$((i + 1)); mkdir -p "$R/objs/$(printf %02d $i)"; cp "$o" "$R/objs/$(printf %02d $i)/"
done
cat >"$R/init" <<'INIT'
#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "=== KERNEL $(cat /proc/sys/kernel/osrelease)"
# one bpf_verify per object, all at once: TCG runs one vCPU per host core
for d in /objs/*; do
	(cd $d; bpf_verify *.bpf.o >/res/${d##*/}.out 2>&1; echo $? >/res/${d##*/}.rc) &
done
wait
first=1; rc=0
for d in /objs/*; do
	n=${d##*/}
	if [ $first = 1 ]; then cat /res/$n.out; first=0; else tail -n +2 /res/$n.out; fi
	r=$(cat /res/$n.rc); [ "$r" = 0 ] || rc=1
done
echo "=== RC $rc"
poweroff -f
INIT
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) >"$W/initrd.gz"

# ---- boot each kernel ------------------------------------------------------
bad=0
for entry in "${KLIST[@]}"; do
	label=${entry%%|*} pkg=${entry#*|}
	echo
	echo "## ${pkg:-?} ($label)"
	if [ -z "$pkg" ] || ! vmlinuz=$(vmlinuz_of "$pkg"); then
		echo "FAIL: could not download $pkg"
		bad=1
		continue
	fi
	t0=$(date +%s)
	# no_timer_check: under TCG on a busy host the kernel's IO-APIC timer
	# check can fail and panic before init runs. A guest that never reached
	# our init (no "=== KERNEL" line) is booted once more, with the kernel's
	# messages on, so that a second failure shows why; a guest that ran the
	# verifier is never retried.
	for attempt in 1 2; do
		append="console=ttyS0 panic=-1 no_timer_check"
		[ "$attempt" = 1 ] && append="$append quiet loglevel=0"
		set +e
		timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp "$SMP" -m 2G \
			-nographic -no-reboot -kernel "$vmlinuz" -initrd "$W/initrd.gz" \
			-append "$append" </dev/null >"$W/vm.log" 2>&1
		qrc=$?
		set -e
		# the serial console: CRLF, and the firmware's terminal escapes
		tr -d '\r' <"$W/vm.log" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1b[a-z]//g; s/.*=== KERNEL/=== KERNEL/' >"$W/vm.txt"
		grep -q '^=== KERNEL' "$W/vm.txt" && break
		[ "$attempt" = 1 ] && echo "the guest did not reach init (qemu exit $qrc): booting it once more"
	done
	t1=$(date +%s)
	sed -n '/^=== KERNEL/,/^=== RC/p' "$W/vm.txt" | grep -v '^=== RC' || true
	rc=$(sed -n 's/^=== RC //p' "$W/vm.txt" | tail -1)
	verdict=ok
	if [ -z "$rc" ]; then
		echo "FAIL: no result from the guest (qemu exit $qrc$([ $qrc = 124 ] && echo ", timed out after ${TIMEOUT}s")); last lines:"
		tail -20 "$W/vm.txt" | sed 's/^/    | /'
		verdict="FAIL (no result)"
	elif [ "$rc" != 0 ]; then
		verdict="FAIL ($(grep -c ' FAIL(' "$W/vm.txt" || true) loads failed)"
	fi
	[ "$verdict" = ok ] || bad=1
	echo "## $pkg: $verdict, $((t1 - t0)) s in the guest (TCG, $SMP vCPUs)"
done
exit $bad
