#!/usr/bin/env bash
# Autobahn|Testsuite over wss://: start the release `wsecho` with a self-signed certificate made here (openssl CLI)
# on a free loopback port, run the fuzzingclient against it, stop it.
#   tools/autobahn/wsecho-tls.sh [extra wsecho args...]   (AGENT overrides the report name; default wsecho-tls)
# wstest's fuzzingclient (Twisted, ssl.ClientContextFactory) does not verify the server certificate, so a
# self-signed one is enough; the run still negotiates TLS with ringmux's rustls session on every case.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
agent=${AGENT:-wsecho-tls}
certs=$repo_root/target/autobahn/$agent-certs
mkdir -p "$certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$certs/key.pem" -out "$certs/cert.pem" 2>/dev/null
port=$(free_port)
start_wsecho "$port" "$agent" --tls-cert "$certs/cert.pem" --tls-key "$certs/key.pem" "$@"
# The server must really speak TLS: a handshake with the certificate just made has to succeed.
openssl s_client -connect "127.0.0.1:$port" -CAfile "$certs/cert.pem" -verify_return_error -alpn http/1.1 \
  </dev/null >"$certs/s_client.log" 2>&1 || { echo "wsecho-tls: TLS handshake failed (see $certs/s_client.log)" >&2; exit 1; }
bash "$here/run.sh" "wss://127.0.0.1:$port" "$agent"
