#!/usr/bin/env bash
# SIP scale: sipedged standalone with WORKERS workers holds CLIENTS registered, idle SIP-over-WebSocket clients
# (JsSIP-like REGISTER with outbound reg-id / +sip.instance) for HOLD seconds while they re-REGISTER before
# expiry (--expires EXPIRES: each refreshes at 50-75 % of the granted time), send CRLFCRLF keepalives every
# KEEPALIVE seconds (the gateway answers CRLF) and answer its WebSocket pings; then each one refreshes once more.
#
#   tools/scale/sip-scale.sh          # CLIENTS=100000 WORKERS=6 HOLD=120 EXPIRES=60 KEEPALIVE=30
#   OUT=docs/bench/sip-scale tools/scale/sip-scale.sh      # results there; the server log in LOGS
#   SIPLOAD_ARGS="--deflate" tools/scale/sip-scale.sh      # extra sipload arguments (here: permessage-deflate)
#   SIPEDGE_TOML=$'[deflate]\nserver_window_bytes = 0' tools/scale/sip-scale.sh   # extra sipedged configuration
#
# sipload runs as PROCS processes (each below its own open-file limit) from the source addresses SOURCES (each
# address has its own ephemeral port range), ramped at RAMP. sipedged: io_uring direct descriptors (each worker's
# table is capped by RLIMIT_NOFILE, so 6 workers carry 100,000 at a 20,000 limit), [limits] max_connections
# raised to MAX_CONNECTIONS.
# Pass: 0 failed (connections, REGISTERs, refreshes, keepalives, sessions) and user-space memory per client
# <= 1 KiB: (Pss held - Pss before) / CLIENTS of the sipedged process.
# Every process it starts is stopped on exit (only those); every step is bounded by `timeout`.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$repo_root"

CLIENTS=${CLIENTS:-100000}
WORKERS=${WORKERS:-6}
HOLD=${HOLD:-120}
EXPIRES=${EXPIRES:-60}
KEEPALIVE=${KEEPALIVE:-30}
PROCS=${PROCS:-8}
SOURCES=${SOURCES:-127.0.0.2-127.0.0.255}
RAMP=${RAMP:-5000/s}
MAX_CONNECTIONS=${MAX_CONNECTIONS:-120000}
OUT=${OUT:-target/scale/sip}
LOGS=${LOGS:-target/scale/sip-logs}
abs_dirs OUT LOGS

build_release 1800 sipedged sipload
echo "limits: $(sys_limits), load $(sys_load)"

port=$(free_port)
cat >"$work/sipedge.toml" <<EOF
[[listen]]
address = "127.0.0.1:$port"
[runtime]
workers = $WORKERS
io = "uring"
[limits]
max_connections = $MAX_CONNECTIONS
${SIPEDGE_TOML:-}
EOF
cp "$work/sipedge.toml" "$OUT/sipedge.toml"
start_sipedged "$LOGS/sipedged.log" "$port" --config "$work/sipedge.toml" --admin ""
pid=$sipedged_pid
sleep 1

cmd=(target/release/sipload register --target "ws://127.0.0.1:$port/" --connections "$CLIENTS" --procs "$PROCS"
  --sources "$SOURCES" --ramp "$RAMP" --hold "$HOLD" --duration 0 --expires "$EXPIRES" --keepalive "$KEEPALIVE"
  --watch-pid "$pid" --json "$OUT/scale.json" --plot "$OUT/scale.svg")
# shellcheck disable=SC2206 # word splitting intended: SIPLOAD_ARGS is a list of arguments
cmd+=(${SIPLOAD_ARGS:-})
echo "sipedged: $WORKERS workers, pid $pid; ${cmd[*]}" | tee "$OUT/command.txt"
status=0
timeout $((CLIENTS / 1000 + HOLD + 300)) "${cmd[@]}" | tee "$OUT/scale.txt" || status=1
stop_pids "$pid"

python3 "$benchlib" sip-scale "$OUT/scale.json" "$CLIENTS" || status=1
exit $status
