#!/usr/bin/env bash
# Runs the web phone and operator page tests (webphone.mjs, operator.mjs) in Chromium against sipedge:
#   1. sipedge standalone (embedded registrar), 2 workers, serving the phone its build embedded at /phone/ (the
#      one users get after `cargo run`; the build needs npm, and this script fails if the phone is missing):
#      operator.mjs on its admin port, then webphone.mjs;
#   2. sipedge in edge mode in front of Kamailio as the SIP core (deploy/kamailio/core.cfg, UDP on loopback):
#      webphone.mjs again.
# Starts and stops its own processes on free loopback ports. SCREENSHOT_DIR=docs/screenshots also writes webphone.png and operator.png.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
sipedged_bin=${SIPEDGED:-$sipedged_bin}
ensure_built "$sipedged_bin" sipedged
shots=()
if [ -n "${SCREENSHOT_DIR:-}" ]; then
  mkdir -p "$SCREENSHOT_DIR"
  shots=(--screenshot "$(cd "$SCREENSHOT_DIR" && pwd)")
fi

[ -d "$here/node_modules" ] || (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

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
TOML
start_sipedged "$work/standalone.log" "$port" --config "$work/standalone.toml"
wait_tcp "$admin"
node operator.mjs --admin "http://127.0.0.1:$admin/" --ws "ws://127.0.0.1:$port/" --label operator "${shots[@]}" \
  || { fail=1; tail -20 "$work/standalone.log"; }
node webphone.mjs --phone "http://127.0.0.1:$port/phone/" --ws "ws://127.0.0.1:$port/" --label standalone \
  --users alice,bob "${shots[@]}" || { fail=1; tail -20 "$work/standalone.log"; }

# shellcheck disable=SC2119 # no extra config lines
start_edge_over_core
node webphone.mjs --phone "http://127.0.0.1:$port/phone/" --ws "ws://127.0.0.1:$port/" --label edge+kamailio \
  || { fail=1; tail -20 "$work/edge.log"; tail -20 "$work/kamailio.log"; }
exit $fail
