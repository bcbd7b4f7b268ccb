#!/usr/bin/env bash
# Lays out the root file system of tracewire's runtime image from a binary
# built on this Debian 12 machine and the Debian packages installed here:
#
#   deploy/image-rootfs.sh BINARY ROOTFS
#
# ROOTFS (emptied first) gets exactly:
#   /usr/local/bin/tracewire       BINARY, debug sections stripped (the BPF
#                                  objects are inside it: skeletons)
#   /usr/lib/x86_64-linux-gnu/...  every shared library BINARY loads (ldd's
#                                  closure) and the dynamic loader, with an
#                                  ld.so.cache; /lib, /lib64 as in Debian
#                                  (usrmerge)
#   /etc/ssl/certs/ca-certificates.crt  CA bundle for OTLP over https
#                                  (libcurl's compiled-in path)
#   /etc/nsswitch.conf, passwd, group, hosts   name resolution (libc's files
#                                  and dns are built in); the runtime mounts
#                                  /etc/hosts and /etc/resolv.conf over them
#   /tmp
#   /usr/share/doc/tracewire/packages.txt   the Debian package and version
#                                  each file came from, and each package's
#                                  copyright file under /usr/share/doc/PKG/
# No shell, no package manager, no other programs. Run as root (the files
# keep root ownership). Prints one summary line.
set -euo pipefail

die() { printf 'image-rootfs: error: %s\n' "$*" >&2; exit 1; }

[ $# = 2 ] || die "usage: $0 BINARY ROOTFS"
bin=$1 root=$2
[ -x "$bin" ] || die "$bin: not an executable (build it first)"
case "$root" in '' | / | /usr | /etc) die "refusing ROOTFS '$root'" ;; esac
command -v dpkg-query >/dev/null || die "dpkg-query missing: this script needs Debian 12"
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
libdir=usr/lib/$multiarch
ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] || die "$ca missing: apt-get install ca-certificates"

rm -rf "$root"
mkdir -p "$root/usr/local/bin" "$root/$libdir" "$root/usr/lib64" "$root/etc/ssl/certs" \
	"$root/usr/share/doc/tracewire" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"

# ldd's closure: "name => /path (addr)" and the loader's "/path (addr)" lines.
# A library ldd cannot find is an error, not a missing file at run time.
deps=$(ldd "$bin") || die "ldd $bin failed"
if grep 'not found' <<<"$deps" >&2; then
	die "$bin needs libraries this machine lacks"
fi
mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$deps" | sort -u)
[ "${#libs[@]}" -gt 0 ] || die "ldd found no libraries in $bin (static?)"

files=()
for lib in "${libs[@]}"; do
	real=$(readlink -f "$lib")
	name=$(basename "$lib")
	install -m 0644 "$real" "$root/$libdir/$name"
	files+=("$real")
done
# the loader is executable and is looked for at /lib64/ld-linux-x86-64.so.2
loader=$(awk '$1 ~ /^\// { print $1; exit }' <<<"$deps")
chmod 0755 "$root/$libdir/$(basename "$loader")"
ln -s "../lib/$multiarch/$(basename "$loader")" "$root/usr/lib64/$(basename "$loader")"

install -m 0755 "$bin" "$root/usr/local/bin/tracewire"
strip --strip-debug "$root/usr/local/bin/tracewire"
install -m 0644 "$(readlink -f "$ca")" "$root$ca"

cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
printf 'root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/:/nonexistent\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"

ldconfig -r "$root" -C /etc/ld.so.cache "/$libdir" 2>/dev/null ||
	ldconfig -r "$root" "/$libdir"

# Provenance: which package (and version) each file came from, with its
# copyright file. dpkg knows the path before usrmerge (/lib/...) for some.
pkgs=()
for f in "${files[@]}"; do
	owner=
	for cand in "$f" "${f#/usr}"; do
		owner=$(dpkg-query -S "$cand" 2>/dev/null | awk -F: 'NR == 1 { print $1 }') || true
		[ -z "$owner" ] || break
	done
	[ -n "$owner" ] || die "$f belongs to no Debian package: only Debian's files go into the image"
	pkgs+=("$owner")
done
# the CA bundle is generated (update-ca-certificates) from this package's files
dpkg-query -W -f='${db:Status-Status}' ca-certificates 2>/dev/null | grep -qx installed ||
	die "package ca-certificates is not installed"
pkgs+=(ca-certificates)
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
{
	echo "# Debian packages the files of this image were taken from (name version)"
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Package} ${Version}\n' "$p"
		if [ -f "/usr/share/doc/$p/copyright" ]; then
			mkdir -p "$root/usr/share/doc/$p"
			install -m 0644 "/usr/share/doc/$p/copyright" "$root/usr/share/doc/$p/copyright"
		fi
	done
} >"$root/usr/share/doc/tracewire/packages.txt"

# It must start in its own root: the loader, the libraries and the binary.
chroot "$root" /usr/local/bin/tracewire --help >/dev/null ||
	die "the rootfs does not run tracewire --help (chroot $root)"

printf 'image-rootfs: %s: tracewire + %d libraries from %d Debian packages, %s\n' \
	"$root" "${#libs[@]}" "${#pkgs[@]}" "$(du -sh "$root" | cut -f1)"
