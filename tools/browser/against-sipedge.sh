#!/usr/bin/env bash
# Runs the browser interop test (run.mjs: JsSIP and SIP.js in Chromium) against sipedge:
#   1. sipedge standalone (embedded registrar), 2 workers;
#   2. sipedge in edge mode in front of Kamailio as the SIP core (deploy/kamailio/core.cfg, UDP on loopback).
# Starts and stops its own processes on free loopback ports.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SIPEDGED:-$root/target/release/sipedged}
[ -x "$bin" ] || (cd "$root" && cargo build --release -p sipedged)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
free_udp_pair() { python3 -c '
import socket
while True:
    a=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); a.bind(("127.0.0.1",0)); p=a.getsockname()[1]
    try:
        b=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); b.bind(("127.0.0.1",p+1)); print(p); break
    except OSError: pass
'; }
wait_tcp() { for _ in $(seq 1 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; return 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/kamailio.pid" ] && kill "$(cat "$work/kamailio.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT
cd "$here"
[ -f dist/jssip-client.js ] || node build.mjs
fail=0

port=$(free_port)
"$bin" --listen "127.0.0.1:$port" --workers 2 --admin "" >"$work/standalone.log" 2>&1 &
pids+=($!)
wait_tcp "$port"
node run.mjs --ws "ws://127.0.0.1:$port" --label sipedge-standalone || { fail=1; tail -20 "$work/standalone.log"; }

core=$(free_port)
kamailio -f "$root/deploy/kamailio/core.cfg" -P "$work/kamailio.pid" -A "CORE_LISTEN=udp:127.0.0.1:$core" -E \
  >"$work/kamailio.log" 2>&1
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
"$bin" --config "$work/edge.toml" >"$work/edge.log" 2>&1 &
pids+=($!)
wait_tcp "$port"
node run.mjs --ws "ws://127.0.0.1:$port" --label sipedge-edge+kamailio || { fail=1; tail -20 "$work/edge.log"; tail -20 "$work/kamailio.log"; }
exit $fail
