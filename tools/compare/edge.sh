#!/usr/bin/env bash
# Edge mode side by side: the same Kamailio core (deploy/kamailio/core.cfg, UDP) behind either sipedged in edge
# mode or Kamailio as a WebSocket edge proxy (deploy/kamailio/ws-edge-proxy.cfg: Path with `received`, double
# Record-Route, nathelper aliases), the same sipload clients, each run on a fresh start of both the core and the
# edge, then one table (tools/benchlib_edge.py).
#
#   tools/compare/edge.sh      # CLIENTS=1000 IDLE_CLIENTS=10000 LEVELS="500 2000 8000" SECS=10 WORKERS=2
#   OUT=docs/bench/edge tools/compare/edge.sh
#
# Per edge: idle (IDLE_CLIENTS registered and held HOLD s: user-space memory per client, Pss of the edge's
# processes), MESSAGE at each rate of LEVELS, and flat out (--window WINDOW). CPU is the edge's own (its processes,
# the core's excluded); latency is end to end (client, edge, core, edge, client: the edge is passed twice each
# way). Each MESSAGE transaction is MESSAGE and 200 through the edge twice: 8 SIP messages in and out of it.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$repo_root"
CLIENTS=${CLIENTS:-1000}
IDLE_CLIENTS=${IDLE_CLIENTS:-10000}
LEVELS=${LEVELS:-"500 2000 8000"}
SECS=${SECS:-10}
HOLD=${HOLD:-10}
WINDOW=${WINDOW:-1}
# Seconds each client stays after its own traffic, answering what its partner's MESSAGEs still bring: flat out,
# the core (on the same two cores) drops datagrams and a MESSAGE may arrive seconds late, retransmitted.
LINGER=${LINGER:-5}
WORKERS=${WORKERS:-2}
PROCS=${PROCS:-2}
EDGES=${EDGES:-"sipedge kamailio"}
OUT=${OUT:-target/edge}
abs_dirs OUT
build_release 1800 sipedged sipload
sipload=$repo_root/target/release/sipload
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), nofile $(ulimit -n), $(kamailio -v | head -n1)" |
  tee "$OUT/machine.txt"

# Start the core and then the edge KIND on fresh ports; sets $port (the WebSocket port) and $edge_pid.
start_pair() {
  local kind=$1 core local_base
  core=$(free_port)
  kamailio -f "$repo_root/deploy/kamailio/core.cfg" -P "$work/core.pid" -m 4096 -M 16 -b 4194304 \
    -A "CORE_LISTEN=udp:127.0.0.1:$core" -E >"$OUT/core.log" 2>&1
  local_base=$(free_udp_pair)
  port=$(free_port)
  case $kind in
    sipedge)
      cat >"$work/edge.toml" <<TOML
[[listen]]
address = "127.0.0.1:$port"
[core]
uri = "sip:127.0.0.1:$core;transport=udp"
local_address = "127.0.0.1:$local_base"
[runtime]
workers = $WORKERS
[limits]
max_connections = $((IDLE_CLIENTS + 1000))
TOML
      start_sipedged "$OUT/sipedge.log" "$port" --config "$work/edge.toml" --admin off
      edge_pid=$sipedged_pid
      ;;
    kamailio)
      kamailio -f "$repo_root/deploy/kamailio/ws-edge-proxy.cfg" -P "$work/edge.pid" -m 4096 -M 16 -b 4194304 \
        -A "WS_LISTEN=tcp:127.0.0.1:$port" -A "CORE_SIDE=udp:127.0.0.1:$local_base" \
        -A "CORE_URI=\"sip:127.0.0.1:$core\"" -A "WS_CHILDREN=$WORKERS" -E >"$OUT/kamailio-edge.log" 2>&1
      edge_pid=$(cat "$work/edge.pid")
      wait_tcp "$port"
      ;;
  esac
  sleep 1
}

stop_pair() {
  local p pids=()
  for p in "$work/edge.pid" "$work/core.pid"; do [[ -f $p ]] && pids+=("$(cat "$p")") && rm -f "$p"; done
  [[ -n ${sipedged_pid:-} ]] && pids+=("$sipedged_pid") && sipedged_pid=""
  stop_pids "${pids[@]}"
  sleep 1
}
trap 'stop_pair; cleanup_spawned' EXIT

run() { # name connections sipload-args...
  local name=$1 n=$2
  shift 2
  echo "--- $name: sipload $*"
  timeout $((SECS + HOLD + 240)) "$sipload" "$@" --target "ws://127.0.0.1:$port/" --connections "$n" \
    --procs "$PROCS" --sources 127.0.0.2-127.0.0.9 --ramp 5000/s --watch-pid "$edge_pid" \
    --json "$OUT/$name.json" >"$OUT/$name.txt" 2>&1 || true
  grep -E '^(connections|transactions|  MESSAGE|  REGISTER|server|growth)' "$OUT/$name.txt" || true
}

for e in $EDGES; do
  start_pair "$e"
  run "$e-idle" "$IDLE_CLIENTS" register --hold "$HOLD" --duration 0
  stop_pair
  for r in $LEVELS; do
    start_pair "$e"
    run "$e-rate-$r" "$CLIENTS" message --rate "$r/s" --duration "$SECS" --linger "$LINGER"
    stop_pair
  done
  start_pair "$e"
  run "$e-saturation" "$CLIENTS" message --flat-out --window "$WINDOW" --duration "$SECS" --linger "$LINGER"
  stop_pair
done

read -ra edges <<<"$EDGES"
python3 tools/benchlib_edge.py table "$OUT" "$LEVELS" "${edges[@]}" | tee "$OUT/table.md"
