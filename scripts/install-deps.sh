#!/usr/bin/env bash
# Sets up a Debian 12 machine for building, testing and demoing tracewire.
# Idempotent: installs only the Debian packages that are missing, stops the
# service the nginx package may have started, and mounts bpffs, tracefs and
# (only if there is none) a cgroup2 hierarchy. Prints one line per thing it
# did and nothing when there was nothing to do. Must run as root.
set -euo pipefail

log() { printf 'install-deps: %s\n' "$*"; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
	die "must run as root (it installs packages and mounts bpffs/tracefs/cgroup2); try: sudo bash $0"
fi
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	die "dpkg-query/apt-get not found: this script supports Debian 12 (bookworm) only"
fi

# Build: clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libcurl4-openssl-dev pkg-config make gcc,
# libmicrohttpd-dev (--metrics-addr), libjson-c-dev and libyaml-dev (pod metadata), libnghttp2-dev
# (HPACK decoding of HTTP/2 and gRPC headers). Manifest checks (make deploy-check): python3-yaml.
# Unit tests: libcmocka-dev. Fuzzing (make fuzz): libfuzzer-14-dev (libFuzzer and
# the sanitizer runtimes for clang-14). Integration tests and demo: the rest
# (golang-google-grpc-dev: grpc-go sources for GOPATH builds of servers/go_grpc.go).
packages=(
	clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libcurl4-openssl-dev pkg-config make gcc
	libcmocka-dev valgrind libfuzzer-14-dev
	iproute2 curl wrk nginx-light haproxy golang-go golang-google-grpc-dev python3 python3-grpcio python3-h2 jq procps psmisc coreutils
	protobuf-compiler openssl libnl-3-dev libnl-route-3-dev tcpdump libdw-dev libcapstone-dev nftables
	libmicrohttpd-dev python3-yaml libjson-c-dev libyaml-dev libnghttp2-dev
	qemu-system-x86 busybox-static cpio
)
# From bookworm-backports only: the official OTLP .proto files (protoc's
# second opinion on what the OTLP exporter sends) and Go 1.23 (test-only: Go
# services built by a second toolchain, /usr/lib/go-1.23/bin/go).
backports_packages=(opentelemetry-proto golang-1.23-go)
# A node from elsewhere (e.g. a newer release) is fine for the Node test server.
command -v node >/dev/null 2>&1 || packages+=(nodejs)

# not_installed PKG...: the ones dpkg does not have installed.
not_installed() {
	local p status
	for p in "$@"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[ "$status" = installed ] || printf '%s\n' "$p"
	done
}

apt_out=$(mktemp)
trap 'rm -f "$apt_out"' EXIT

# apt_install [-t RELEASE] PKG...: apt-get update, then install quietly.
apt_install() {
	local release=()
	if [ "$1" = -t ]; then release=(-t "$2"); shift 2; fi
	log "apt-get update"
	if ! apt-get update -qq >"$apt_out" 2>&1; then
		cat "$apt_out" >&2
		die "apt-get update failed"
	fi
	log "installing${release[1]:+ from ${release[1]}}: $*"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${release[@]}" "$@" >"$apt_out" 2>&1; then
		tail -n 40 "$apt_out" >&2
		die "apt-get install failed for: $*"
	fi
}

mapfile -t missing < <(not_installed "${packages[@]}")
mapfile -t backports_missing < <(not_installed "${backports_packages[@]}")

nginx_missing=0
for p in "${missing[@]}"; do [ "$p" = nginx-light ] && nginx_missing=1; done

[ "${#missing[@]}" = 0 ] || apt_install "${missing[@]}"

if [ "${#backports_missing[@]}" -gt 0 ]; then
	if ! grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		echo "deb http://deb.debian.org/debian bookworm-backports main" \
			>/etc/apt/sources.list.d/bookworm-backports.list
		log "added bookworm-backports to apt's sources (only named packages are taken from it)"
	fi
	apt_install -t bookworm-backports "${backports_missing[@]}"
fi

# The OTLP test receiver decodes with the OpenTelemetry JS packages, pinned by
# tests/otlp/package-lock.json.
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$repo/tests/otlp/package-lock.json" ] &&
	! cmp -s "$repo/tests/otlp/package-lock.json" "$repo/tests/otlp/node_modules/.tw-installed-lock" 2>/dev/null; then
	command -v npm >/dev/null 2>&1 || die "npm not found: the OTLP test receiver needs Node.js with npm"
	log "npm ci in tests/otlp"
	if ! (cd "$repo/tests/otlp" && npm ci --no-audit --no-fund --loglevel=error) >/tmp/tw-npm.log 2>&1; then
		tail -n 40 /tmp/tw-npm.log >&2
		die "npm ci in tests/otlp failed"
	fi
	cp "$repo/tests/otlp/package-lock.json" "$repo/tests/otlp/node_modules/.tw-installed-lock"
fi

# The nginx package starts its own service (port 80 on every address) when
# installed; tests run their own nginx in namespaces, so stop the packaged one.
# Only the packaged service is touched: it is the one with /run/nginx.pid.
stop_packaged_nginx() {
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		if systemctl is-active --quiet nginx 2>/dev/null; then
			systemctl stop nginx
			log "stopped the nginx package's service (systemctl stop nginx)"
		fi
		if [ "$nginx_missing" = 1 ] && systemctl is-enabled --quiet nginx 2>/dev/null; then
			systemctl disable --quiet nginx
			log "disabled the nginx package's service at boot"
		fi
		return
	fi
	local pid
	pid=$(cat /run/nginx.pid 2>/dev/null || true)
	case "$pid" in '' | *[!0-9]*) return ;; esac
	[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = nginx ] || return 0
	if command -v service >/dev/null 2>&1; then
		service nginx stop >/dev/null 2>&1 || true
	fi
	if kill -0 "$pid" 2>/dev/null; then
		kill -QUIT "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
	fi
	kill -0 "$pid" 2>/dev/null && die "could not stop the nginx package's service (pid $pid)"
	log "stopped the nginx package's service (pid $pid)"
}
stop_packaged_nginx

# mounted TYPE [DIR]: is a filesystem of TYPE mounted (at DIR)?
mounted() {
	local mnt type
	while read -r _ mnt type _; do
		[ "$type" = "$1" ] || continue
		[ -z "${2:-}" ] || [ "$mnt" = "$2" ] || continue
		return 0
	done </proc/self/mounts
	return 1
}

if ! mounted bpf /sys/fs/bpf; then
	mkdir -p /sys/fs/bpf
	mount -t bpf bpf /sys/fs/bpf || die "mounting bpffs at /sys/fs/bpf failed"
	log "mounted bpffs at /sys/fs/bpf"
fi
if ! mounted tracefs /sys/kernel/tracing; then
	mount -t tracefs tracefs /sys/kernel/tracing || die "mounting tracefs at /sys/kernel/tracing failed"
	log "mounted tracefs at /sys/kernel/tracing"
fi
# Pure v2 systems have it at /sys/fs/cgroup, hybrid ones at /sys/fs/cgroup/unified.
if ! mounted cgroup2; then
	mkdir -p /sys/fs/cgroup/unified || die "cannot create /sys/fs/cgroup/unified"
	mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified || die "mounting cgroup2 at /sys/fs/cgroup/unified failed"
	log "mounted cgroup2 at /sys/fs/cgroup/unified"
fi
exit 0
