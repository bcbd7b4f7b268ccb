#!/usr/bin/env bash
# Creates a throw-away CA and a server certificate for one IP address, for the
# OTLP receiver's https tests:
#   tests/otlp/gen-cert.sh DIR HOST_IP
# writes DIR/ca.pem (trust this: curl --cacert, the exporter's CA file),
# DIR/server.pem and DIR/server.key (receiver.js --tls-cert/--tls-key), plus
# the CA's key and scratch files in DIR. HOST_IP: IPv4 or IPv6; the server
# certificate names it as subjectAltName IP:HOST_IP (and as its CN). EC P-256
# keys, valid for 2 days. Needs openssl.
set -euo pipefail

die() { printf 'gen-cert.sh: %s\n' "$*" >&2; exit 2; }
[ $# = 2 ] || die "usage: gen-cert.sh DIR HOST_IP"
dir=$1 ip=$2
case $ip in
*[!0-9a-fA-F.:]* | '') die "not an IP address: $ip" ;;
esac
command -v openssl >/dev/null 2>&1 || die "openssl not found"
mkdir -p "$dir"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() { "$@" >"$out" 2>&1 || { cat "$out" >&2; die "failed: $*"; }; }

run openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 \
	-subj "/CN=tracewire test CA $(date +%s)-$$" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign"

run openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=$ip"

cat >"$dir/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$ip
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
EXT
run openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
	-CAcreateserial -out "$dir/server.pem" -days 2 -extfile "$dir/server.ext"

run openssl verify -CAfile "$dir/ca.pem" "$dir/server.pem"
chmod 600 "$dir/ca.key" "$dir/server.key"
