#!/usr/bin/env bash
# Runs the web phone and operator page tests (webphone.mjs, operator.mjs) in Chromium against sipedge:
#   1. sipedge standalone (embedded registrar), 2 workers, serving the built phone at /phone/:
#      operator.mjs on its admin port, then webphone.mjs;
#   2. sipedge in edge mode in front of Kamailio as the SIP core (deploy/kamailio/core.cfg, UDP on loopback):
#      webphone.mjs again.
# Builds the phone (deploy/webphone) when it is missing or older than its sources. Starts and stops its own
# processes on free loopback ports. SCREENSHOT_DIR=docs/screenshots also writes webphone.png and operator.png.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${SIPEDGED:-$root/target/release/sipedged}
[ -x "$bin" ] || (cd "$root" && cargo build --release -p sipedged)
phone="$root/deploy/webphone"
shots=()
if [ -n "${SCREENSHOT_DIR:-}" ]; then
  mkdir -p "$SCREENSHOT_DIR"
  shots=(--screenshot "$(cd "$SCREENSHOT_DIR" && pwd)")
fi

[ -d "$phone/node_modules" ] || (cd "$phone" && npm ci --no-audit --no-fund --loglevel=error)
if [ ! -f "$phone/dist/app.js" ] || [ -n "$(find "$phone/src" "$phone/build.mjs" "$phone/package-lock.json" -newer "$phone/dist/app.js")" ]; then
  (cd "$phone" && npm run --silent build)
fi
[ -d "$here/node_modules" ] || (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

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
fail=0

port=$(free_port)
admin=$(free_port)
cat >"$work/standalone.toml" <<TOML
[[listen]]
address = "127.0.0.1:$port"
[runtime]
workers = 2
[admin]
listen = "127.0.0.1:$admin"
[web]
phone_dir = "$phone/dist"
TOML
"$bin" --config "$work/standalone.toml" >"$work/standalone.log" 2>&1 &
pids+=($!)
wait_tcp "$port"
wait_tcp "$admin"
node operator.mjs --admin "http://127.0.0.1:$admin/" --ws "ws://127.0.0.1:$port/" --label operator "${shots[@]}" \
  || { fail=1; tail -20 "$work/standalone.log"; }
node webphone.mjs --phone "http://127.0.0.1:$port/phone/" --ws "ws://127.0.0.1:$port/" --label standalone \
  --users alice,bob "${shots[@]}" || { fail=1; tail -20 "$work/standalone.log"; }

core=$(free_port)
kamailio -f "$root/deploy/kamailio/core.cfg" -P "$work/kamailio.pid" -A "CORE_LISTEN=udp:127.0.0.1:$core" -E \
  >"$work/kamailio.log" 2>&1
local_base=$(free_udp_pair)
port=$(free_port)
cat >"$work/edge.toml" <<TOML
[[listen]]
address = "127.0.0.1:$port"
[core]
uri = "sip:127.0.0.1:$core;transport=udp"
local_address = "127.0.0.1:$local_base"
[runtime]
workers = 2
[admin]
listen = ""
[web]
phone_dir = "$phone/dist"
TOML
"$bin" --config "$work/edge.toml" >"$work/edge.log" 2>&1 &
pids+=($!)
wait_tcp "$port"
node webphone.mjs --phone "http://127.0.0.1:$port/phone/" --ws "ws://127.0.0.1:$port/" --label edge+kamailio \
  || { fail=1; tail -20 "$work/edge.log"; tail -20 "$work/kamailio.log"; }
exit $fail
