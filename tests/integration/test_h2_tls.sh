#!/usr/bin/env bash
# HTTP/2 over TLS (issue 19, item 1): where the OpenSSL probes see the
# plaintext, a connection that negotiated h2 (ALPN) is framed as HTTP/2 like
# h2c: its plaintext begins with the preface.
#
#   hcli  curl --http2 (libcurl: OpenSSL + nghttp2), N URLs in one run, so
#         N streams on one TLS connection
#   hsrv  nginx (OpenSSL), "listen ... ssl http2", a self-signed certificate
#
# Both pods selected with --cgroup. Expected: N SERVER spans of nginx and N
# CLIENT spans of curl, GET /h2/<i>, 200, network.protocol.version 2,
# url.scheme https; none of them HTTP/1.
set -euo pipefail
# shellcheck source=tests/integration/lab.sh
. "$(dirname "$0")/lab.sh"

N=8 PORT=8443

lab_init
command -v openssl >/dev/null || { echo "SKIP: openssl(1) not found"; exit 77; }
curl -V | grep -q nghttp2 || { echo "SKIP: curl without HTTP/2"; exit 77; }
lab_pod hcli 198.18.41.24/24
lab_pod hsrv 198.18.41.14/24
SRV=$(lab_ip hsrv)

dir=$LAB_DIR/nginx
mkdir -p "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=h2.tw.test -addext subjectAltName=DNS:h2.tw.test \
	-keyout "$dir/key.pem" -out "$dir/cert.pem" 2>"$dir/openssl.err" ||
	{ lab__show_file "$dir/openssl.err" "openssl"; fail "openssl req failed"; }
cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process on;
user root;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 256; }
http {
	default_type text/plain;
	access_log off;
	client_body_temp_path $dir/body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
	server {
		listen $SRV:$PORT ssl http2;
		ssl_certificate $dir/cert.pem;
		ssl_certificate_key $dir/key.pem;
		location /h2/ { return 200 "ok\n"; }
	}
}
CONF

tw_start --cgroup "$(lab_cgroup hcli)" --cgroup "$(lab_cgroup hsrv)"
# started after tracewire: the TLS probes find their libssl when they start
lab_run_in_pod hsrv nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
lab_wait_port hsrv "$SRV" "$PORT" 20 "$LAB_LAST_PID"
# the once-a-second /proc scan probes nginx's libssl: wait for it
deadline=$(($(date +%s) + 15))
until grep -q 'TLS capture: probing' "$TW_LOG"; do
	[ "$(date +%s)" -lt "$deadline" ] || fail "no libssl probed within 15 s"
	sleep 0.2
done

urls=()
for i in $(seq 1 "$N"); do urls+=("https://h2.tw.test:$PORT/h2/$i"); done
lab_step "curl --http2: $N requests on one TLS connection"
LAB_EXEC_TIMEOUT=30 lab_exec_in_pod hcli curl -sS --http2 --cacert "$dir/cert.pem" \
	--resolve "h2.tw.test:$PORT:$SRV" -w '%{http_version} %{http_code}\n' -o /dev/null "${urls[@]}" ||
	{ lab__show_file "$LAB_LAST_ERR" "curl stderr"; fail "curl failed"; }
cat "$LAB_LAST_OUT"
assert_eq "$(grep -c '^2 200$' "$LAB_LAST_OUT")" "$N" "HTTP/2 answers with 200 (curl)"

tw_wait_spans --kind server --attr network.protocol.version=2 "$N" 20
tw_wait_spans --kind client --attr network.protocol.version=2 "$N" 20
tw_stop

for kind in server client; do
	tw_spans check-requests --kind "$kind" --path-prefix /h2/ --expect "$N" --status 200 \
		--attr http.request.method=GET --attr network.protocol.version=2 --attr url.scheme=https ||
		fail "$kind spans of the HTTP/2 requests over TLS"
	assert_eq "$(tw_count --kind "$kind")" "$N" "$kind spans in all"
done
assert_eq "$(tw_exit_counter h2_hpack_errors)" 0 "h2_hpack_errors"
lab_step "ok: $N HTTP/2 requests over TLS, each one SERVER and one CLIENT span"
