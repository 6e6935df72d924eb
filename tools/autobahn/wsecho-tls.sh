#!/usr/bin/env bash
# Autobahn|Testsuite over wss://: start the release `wsecho` with a self-signed certificate made here (openssl CLI)
# on a free loopback port, run the fuzzingclient against it, stop it.
#   tools/autobahn/wsecho-tls.sh [extra wsecho args...]   (AGENT overrides the report name; default wsecho-tls)
# wstest's fuzzingclient (Twisted, ssl.ClientContextFactory) does not verify the server certificate, so a
# self-signed one is enough; the run still negotiates TLS with ringmux's rustls session on every case.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$root/target/release/wsecho
[ -x "$bin" ] || (cd "$root" && cargo build --release -p wsecho)
agent=${AGENT:-wsecho-tls}
certs=$root/target/autobahn/$agent-certs
mkdir -p "$certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$certs/key.pem" -out "$certs/cert.pem" 2>/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" --listen "127.0.0.1:$port" --tls-cert "$certs/cert.pem" --tls-key "$certs/key.pem" "$@" \
  >"$root/target/wsecho-$agent.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
  sleep 0.1
done
# The server must really speak TLS: a handshake with the certificate just made has to succeed.
openssl s_client -connect "127.0.0.1:$port" -CAfile "$certs/cert.pem" -verify_return_error -alpn http/1.1 \
  </dev/null >"$certs/s_client.log" 2>&1 || { echo "wsecho-tls: TLS handshake failed (see $certs/s_client.log)" >&2; exit 1; }
bash "$here/run.sh" "wss://127.0.0.1:$port" "$agent"
