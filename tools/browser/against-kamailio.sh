#!/usr/bin/env bash
# Runs the browser interop test (run.mjs) against Kamailio's WebSocket edge (deploy/kamailio/ws-edge.cfg): the
# reference peer that shows the harness itself is right. Starts Kamailio on a free loopback port and stops it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d)
kamailio -f "$root/deploy/kamailio/ws-edge.cfg" -P "$work/kamailio.pid" -A "WS_LISTEN=tcp:127.0.0.1:$port" -E \
  >"$work/kamailio.log" 2>&1
trap 'kill "$(cat "$work/kamailio.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
  sleep 0.1
done
cd "$here"
[ -f dist/jssip-client.js ] || node build.mjs
node run.mjs --ws "ws://127.0.0.1:$port" --label kamailio "$@"
