#!/usr/bin/env bash
# sipedge against Kamailio, side by side, one command: the same sipload scenarios against sipedged standalone
# and against Kamailio as a WebSocket edge with an in-memory registrar (deploy/kamailio/ws-edge.cfg), one
# server after the other on loopback, then one table.
#
#   tools/compare/compare.sh                 # CLIENTS=1000 WORKERS=2 SECS=10 HOLD=10 RATE=2000
#   OUT=docs/bench/compare tools/compare/compare.sh     # server logs stay in LOGS (target/compare/logs)
#
# For each server, each run on a fresh start:
#   1. idle:       sipload register  --connections CLIENTS --hold HOLD --duration 0
#                  -> connections held, user-space memory per idle registered client = (Pss held - Pss before) / N,
#                     Pss summed over the server's processes (Kamailio forks workers)
#   2. fixed rate: sipload message   --connections CLIENTS --rate RATE/s --duration SECS
#                  -> MESSAGE p50 / p99 (request sent to 200 received, through the server and the peer client),
#                     server CPU-s per 10k MESSAGE at that rate (utime+stime of the server's processes)
#   3. saturation: sipload message   --connections CLIENTS --flat-out --window WINDOW --duration SECS
#                  -> MESSAGE transactions/s, server CPU-s per 10k MESSAGE
# Each MESSAGE transaction is 4 SIP messages through the server (MESSAGE in and out, 200 in and out).
#
# Kamailio: installed with apt when missing; started with -m SHM_MB -M PKG_MB (shared / private memory, MB; its
# default 64 MB shared memory runs out under flat-out MESSAGE: tm keeps every transaction for its 5 s wait timer,
# about 17 KB each, so 12k MESSAGE/s need about 1 GB; with -m 1024 it answered 500 "out of mem" to a quarter of them),
# tcp_children = WORKERS (WS_CHILDREN). Both servers see the same open-file limit (`ulimit -n`; Kamailio holds
# about that many connections at most).
# Every process it starts is stopped on exit (only those); every step is bounded by `timeout`.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$repo_root"

CLIENTS=${CLIENTS:-1000}
WORKERS=${WORKERS:-2}
SECS=${SECS:-10}
HOLD=${HOLD:-10}
RATE=${RATE:-2000}
WINDOW=${WINDOW:-1}
PROCS=${PROCS:-2}
SHM_MB=${SHM_MB:-4096}
PKG_MB=${PKG_MB:-16}
OUT=${OUT:-target/compare}
LOGS=${LOGS:-target/compare/logs}
SERVERS=${SERVERS:-"sipedge kamailio"}
abs_dirs OUT LOGS

if ! command -v kamailio >/dev/null 2>&1 || [ ! -e /usr/lib/x86_64-linux-gnu/kamailio/modules/websocket.so ]; then
  echo "installing kamailio (apt)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q kamailio kamailio-websocket-modules
fi
build_release 1800 sipedged sipload
sipload=$repo_root/target/release/sipload

echo "machine: $(nproc) cores, nofile $(ulimit -n), $(kamailio -v | head -n1), load $(sys_load)"

server_pid=""
server_kind=""
start_server() { # kind port
  local kind=$1 port=$2
  server_kind=$kind
  case $kind in
    sipedge)
      admin_port=$(free_port)
      start_sipedged "$LOGS/sipedge.server.log" "$port" --listen "127.0.0.1:$port" --workers "$WORKERS" \
        --admin "127.0.0.1:$admin_port"
      server_pid=$sipedged_pid
      ;;
    kamailio)
      start_kamailio "$repo_root/deploy/kamailio/ws-edge.cfg" "$LOGS/kamailio.server.log" -m "$SHM_MB" -M "$PKG_MB" \
        -A "WS_LISTEN=tcp:127.0.0.1:$port" -A "WS_CHILDREN=$WORKERS"
      server_pid=$kamailio_pid
      wait_tcp "$port"
      ;;
  esac
  sleep 1
}

stop_server() {
  if [[ $server_kind == kamailio ]]; then stop_kamailio; else stop_pids "$server_pid"; fi
  sleep 1
}

run() { # name scenario-args...
  local name=$1; shift
  echo "--- $name: sipload $*"
  timeout $((SECS + HOLD + 240)) "$sipload" "$@" --target "ws://127.0.0.1:$port/" --connections "$CLIENTS" \
    --procs "$PROCS" --ramp 2000/s --watch-pid "$server_pid" --json "$OUT/$name.json" --plot "$OUT/$name.svg" \
    | tee "$OUT/$name.txt" || true
  # sipedged's own figures after the run: its /metrics, and the latency its histograms saw.
  if [[ $server_kind == sipedge ]]; then
    python3 "$benchlib" metrics "$admin_port" "$OUT/$name.metrics.json" &&
      python3 "$benchlib" node-latency "$OUT/$name.metrics.json" | tee -a "$OUT/$name.txt"
  fi
}

for s in $SERVERS; do
  port=$(free_port)
  echo "=== $s on 127.0.0.1:$port"
  # A fresh server for each run: nothing left from the one before (Kamailio's tm keeps the transactions of a
  # saturation run for seconds, and its timer then spends CPU freeing them).
  start_server "$s" "$port"
  run "$s-idle" register --hold "$HOLD" --duration 0
  stop_server
  start_server "$s" "$port"
  run "$s-rate" message --rate "$RATE/s" --duration "$SECS"
  stop_server
  start_server "$s" "$port"
  run "$s-saturation" message --flat-out --window "$WINDOW" --duration "$SECS"
  stop_server
done

python3 "$benchlib" compare "$OUT" "$CLIENTS" "$RATE" "$SERVERS" >"$OUT/table.md"
echo
cat "$OUT/table.md"
echo
echo "JSON reports, summaries and SVG plots: $OUT/; server logs: $LOGS/"
