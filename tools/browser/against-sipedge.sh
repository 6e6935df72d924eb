#!/usr/bin/env bash
# Runs the browser interop test (run.mjs: JsSIP and SIP.js in Chromium) against sipedge:
#   1. sipedge standalone (embedded registrar), 2 workers;
#   2. sipedge in edge mode in front of Kamailio as the SIP core (deploy/kamailio/core.cfg, UDP on loopback);
#   3. sipedge standalone over wss:// (a TLS listener with a certificate made here; Chromium told to accept it);
#   4. sipedge standalone with permessage-deflate turned off;
#   5. run 2 with every hop on [::1]: Kamailio on udp:[::1], sipedge's listener, its core URI and local address on
#      [::1], the test page and the browsers' WebSockets too;
#   6. sipedge over wss:// in front of Kamailio as a TLS core (deploy/kamailio/tls-core.cfg) with mutual TLS: a test
#      CA made here signs the core's certificate (core.test), which sipedge checks, and sipedge's (its wss listener,
#      where the core's own requests arrive too, and its client certificate toward the core).
# Chromium offers permessage-deflate: runs 1-3, 5 and 6 assert it was agreed, run 4 that it was not.
# Starts and stops its own processes on free loopback ports.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
# shellcheck source=core-lib.sh
source "$here/core-lib.sh"
sipedged_bin=${SIPEDGED:-$sipedged_bin}
ensure_built "$sipedged_bin" sipedged
cd "$here"
[ -f dist/jssip-client.js ] || node build.mjs
fail=0

port=$(free_port)
start_sipedged "$work/standalone.log" "$port" --listen "127.0.0.1:$port" --workers 2 --admin ""
node run.mjs --ws "ws://127.0.0.1:$port" --extensions permessage-deflate --label sipedge-standalone ||
  { fail=1; tail -20 "$work/standalone.log"; }

# shellcheck disable=SC2119 # no TOML lines to add
start_edge_over_core
node run.mjs --ws "ws://127.0.0.1:$port" --extensions permessage-deflate --label sipedge-edge+kamailio ||
  { fail=1; tail -20 "$work/edge.log"; tail -20 "$work/kamailio.log"; }

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
TOML
start_sipedged "$work/wss.log" "$port" --config "$work/wss.toml" --admin ""
node run.mjs --ws "wss://127.0.0.1:$port" --insecure --extensions permessage-deflate --label sipedge-wss ||
  { fail=1; tail -20 "$work/wss.log"; }

port=$(free_port)
cat >"$work/no-deflate.toml" <<TOML
[[listen]]
address = "127.0.0.1:$port"
[runtime]
workers = 2
[deflate]
enabled = false
TOML
start_sipedged "$work/no-deflate.log" "$port" --config "$work/no-deflate.toml" --admin ""
node run.mjs --ws "ws://127.0.0.1:$port" --extensions none --label sipedge-no-deflate ||
  { fail=1; tail -20 "$work/no-deflate.log"; }

stop_kamailio
core=$(free_udp_pair6)
start_kamailio "$repo_root/deploy/kamailio/core.cfg" "$work/kamailio6.log" -A "CORE_LISTEN=udp:[::1]:$core"
local_base=$(free_udp_pair6)
port=$(free_port6)
cat >"$work/edge6.toml" <<TOML
[[listen]]
address = "[::1]:$port"
[core]
uri = "sip:[::1]:$core"
local_address = "[::1]:$local_base"
[runtime]
workers = 2
TOML
start_sipedged6 "$work/edge6.log" "$port" --config "$work/edge6.toml" --admin ""
node run.mjs --ws "ws://[::1]:$port" --page-host ::1 --extensions permessage-deflate --label sipedge-edge+kamailio-ipv6 ||
  { fail=1; tail -20 "$work/edge6.log"; tail -20 "$work/kamailio6.log"; }

stop_kamailio
make_test_pki "$work/pki"
write_core_tls_cfg "$work/pki" yes
core=$(free_port)
start_tls_core "$core" "$work/pki"
port=$(free_port)
cat >"$work/tls-core.toml" <<TOML
[[listen]]
address = "127.0.0.1:$port"
tls = { cert = "$work/pki/edge.pem", key = "$work/pki/edge.key" }
[core]
uri = "sip:127.0.0.1:$core;transport=tls"
[core.tls]
ca = "$work/pki/ca.pem"
cert = "$work/pki/edge.pem"
key = "$work/pki/edge.key"
server_name = "core.test"
[runtime]
workers = 2
TOML
start_sipedged "$work/tls-core.log" "$port" --config "$work/tls-core.toml" --admin ""
node run.mjs --ws "wss://127.0.0.1:$port" --insecure --extensions permessage-deflate --label sipedge-wss+kamailio-tls ||
  { fail=1; tail -20 "$work/tls-core.log"; tail -20 "$work/kamailio-tls.log"; }
exit $fail
