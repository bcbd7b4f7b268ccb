#!/usr/bin/env bash
# Builds tracewire's OCI image with buildah from the binary `make` built here
# and the Debian 12 packages installed here (no base image, no registry):
#
#   deploy/image-build.sh BINARY WORKDIR IMAGE
#
#   WORKDIR/rootfs              the image's file system (deploy/image-rootfs.sh)
#   WORKDIR/tracewire-oci.tar   the image as an OCI archive, for nodes that
#                               cannot reach a registry (ctr -n k8s.io images
#                               import, kind load image-archive, skopeo copy)
#   IMAGE                       in this machine's container storage (buildah
#                               and podman share it), e.g. localhost/tracewire:latest
#
# One layer; its created time is the last commit's, so the same tree built
# with the same packages gives the same layer. Prints the image's size.
set -euo pipefail

die() { printf 'image-build: error: %s\n' "$*" >&2; exit 1; }

[ $# = 3 ] || die "usage: $0 BINARY WORKDIR IMAGE"
bin=$1 work=$2 image=$3
[ "$(id -u)" = 0 ] || die "needs root (buildah's storage and a root-owned file system)"
command -v buildah >/dev/null || die "buildah not found: apt-get install buildah (or make image-deps)"
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

mkdir -p "$work"
bash "$here/image-rootfs.sh" "$bin" "$work/rootfs"

created=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)
revision=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)

ctr=
cleanup() { [ -z "$ctr" ] || buildah rm "$ctr" >/dev/null 2>&1 || true; }
trap cleanup EXIT
ctr=$(buildah from --quiet scratch)
# a tar stream keeps ownership (root), modes, symlinks and the sticky /tmp
tar -C "$work/rootfs" --numeric-owner -cf "$work/rootfs.tar" .
buildah add --quiet "$ctr" "$work/rootfs.tar" / >/dev/null
rm -f "$work/rootfs.tar"
buildah config \
	--entrypoint '["/usr/local/bin/tracewire"]' --cmd '' \
	--env PATH=/usr/local/bin \
	--workingdir / \
	--stop-signal SIGTERM \
	--os linux --arch amd64 \
	--label org.opencontainers.image.title=tracewire \
	--label "org.opencontainers.image.description=eBPF node agent: HTTP/1.x spans of uninstrumented services" \
	--label "org.opencontainers.image.revision=$revision" \
	--label "org.opencontainers.image.source.packages=/usr/share/doc/tracewire/packages.txt" \
	"$ctr"
buildah commit --quiet --format oci --squash --omit-history --timestamp "$created" --rm \
	"$ctr" "$image" >/dev/null
ctr=
rm -f "$work/tracewire-oci.tar"
buildah push --quiet "$image" "oci-archive:$work/tracewire-oci.tar:$image" >/dev/null

size=$(buildah images --noheading --format '{{.Size}}' "$image" | head -n 1)
printf 'image-build: %s: %s (uncompressed), OCI archive %s: %s\n' "$image" "$size" \
	"$work/tracewire-oci.tar" "$(du -h "$work/tracewire-oci.tar" | cut -f1)"
