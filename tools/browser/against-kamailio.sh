#!/usr/bin/env bash
# Runs the browser interop test (run.mjs) against Kamailio's WebSocket edge (deploy/kamailio/ws-edge.cfg): the
# reference peer that shows the harness itself is right. Starts Kamailio on a free loopback port and stops it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
port=$(free_port)
start_kamailio "$repo_root/deploy/kamailio/ws-edge.cfg" "$work/kamailio.log" -A "WS_LISTEN=tcp:127.0.0.1:$port"
wait_tcp "$port"
cd "$here"
[ -f dist/jssip-client.js ] || node build.mjs
node run.mjs --ws "ws://127.0.0.1:$port" --label kamailio "$@"
