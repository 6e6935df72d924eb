#!/usr/bin/env bash
# Runs the browser interop test (run.mjs: JsSIP and SIP.js in Chromium) against sipedge:
#   1. sipedge standalone (embedded registrar), 2 workers;
#   2. sipedge in edge mode in front of Kamailio as the SIP core (deploy/kamailio/core.cfg, UDP on loopback);
#   3. sipedge standalone over wss:// (a TLS listener with a certificate made here; Chromium told to accept it).
# Starts and stops its own processes on free loopback ports.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SIPEDGED:-$root/target/release/sipedged}
[ -x "$bin" ] || (cd "$root" && cargo build --release -p sipedged)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
cd "$here"
[ -f dist/jssip-client.js ] || node build.mjs
fail=0

port=$(free_port)
spawn "$bin" --listen "127.0.0.1:$port" --workers 2 --admin "" >"$work/standalone.log" 2>&1
wait_tcp "$port"
node run.mjs --ws "ws://127.0.0.1:$port" --label sipedge-standalone || { fail=1; tail -20 "$work/standalone.log"; }

core=$(free_port)
start_core "$core"
local_base=$(free_udp_pair)
cat >"$work/edge.toml" <<TOML
[[listen]]
address = "127.0.0.1:$(free_port)"
[core]
uri = "sip:127.0.0.1:$core;transport=udp"
local_address = "127.0.0.1:$local_base"
[runtime]
workers = 2
[admin]
listen = ""
TOML
port=$(sed -n 's/^address = "127.0.0.1:\([0-9]*\)"/\1/p' "$work/edge.toml")
spawn "$bin" --config "$work/edge.toml" >"$work/edge.log" 2>&1
wait_tcp "$port"
node run.mjs --ws "ws://127.0.0.1:$port" --label sipedge-edge+kamailio || { fail=1; tail -20 "$work/edge.log"; tail -20 "$work/kamailio.log"; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
port=$(free_port)
cat >"$work/wss.toml" <<TOML
[[listen]]
address = "127.0.0.1:$port"
tls = { cert = "$work/cert.pem", key = "$work/key.pem" }
[runtime]
workers = 2
[admin]
listen = ""
TOML
spawn "$bin" --config "$work/wss.toml" >"$work/wss.log" 2>&1
wait_tcp "$port"
node run.mjs --ws "wss://127.0.0.1:$port" --insecure --label sipedge-wss || { fail=1; tail -20 "$work/wss.log"; }
exit $fail
