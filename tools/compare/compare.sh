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
cd "$(dirname "$0")/../.."
root=$(pwd)
# shellcheck source=../lib.sh
source tools/lib.sh

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
mkdir -p "$OUT" "$LOGS"
OUT=$(cd "$OUT" && pwd)
LOGS=$(cd "$LOGS" && pwd)

if ! command -v kamailio >/dev/null 2>&1 || [ ! -e /usr/lib/x86_64-linux-gnu/kamailio/modules/websocket.so ]; then
  echo "installing kamailio (apt)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q kamailio kamailio-websocket-modules
fi
if [[ -z "${NO_BUILD:-}" ]]; then
  timeout 1800 cargo build --release -q -p sipedged -p sipload
fi
sipload=$root/target/release/sipload

echo "machine: $(nproc) cores, nofile $(ulimit -n), $(kamailio -v | head -n1), load $(cut -d' ' -f1-3 /proc/loadavg)"

server_pid=""
server_kind=""
start_server() { # kind port
  local kind=$1 port=$2
  server_kind=$kind
  case $kind in
    sipedge)
      "$root/target/release/sipedged" --listen "127.0.0.1:$port" --workers "$WORKERS" --admin "" \
        >"$LOGS/sipedge.server.log" 2>&1 &
      server_pid=$!
      spawned+=("$server_pid")
      ;;
    kamailio)
      kamailio -f "$root/deploy/kamailio/ws-edge.cfg" -P "$work/kamailio.pid" -m "$SHM_MB" -M "$PKG_MB" \
        -A "WS_LISTEN=tcp:127.0.0.1:$port" -A "WS_CHILDREN=$WORKERS" -E >"$LOGS/kamailio.server.log" 2>&1
      server_pid=$(cat "$work/kamailio.pid")
      ;;
  esac
  wait_tcp "$port"
  sleep 1
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ $server_kind == kamailio ]]; then rm -f "$work/kamailio.pid"; fi
  sleep 1
}

run() { # name scenario-args...
  local name=$1; shift
  echo "--- $name: sipload $*"
  timeout $((SECS + HOLD + 240)) "$sipload" "$@" --target "ws://127.0.0.1:$port/" --connections "$CLIENTS" \
    --procs "$PROCS" --ramp 2000/s --watch-pid "$server_pid" --json "$OUT/$name.json" --plot "$OUT/$name.svg" \
    | tee "$OUT/$name.txt" || true
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

python3 - "$OUT" "$CLIENTS" "$RATE" "$SERVERS" >"$OUT/table.md" <<'PY'
import json, os, sys
out, clients, rate, servers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split()

def load(s, run):
    p = os.path.join(out, f"{s}-{run}.json")
    return json.load(open(p)) if os.path.exists(p) else None

def msg(j):
    return (j or {}).get("transactions", {}).get("MESSAGE", {})

def cpu10k(j):
    m = msg(j)
    n = m.get("traffic_ok", 0)
    return j["server"]["traffic_cpu_secs"] / n * 10000 if j and n else float("nan")

rows = []
for s in servers:
    idle, sat, fix = load(s, "idle"), load(s, "saturation"), load(s, "rate")
    rows.append({
        "server": s,
        "held": f"{idle['connections_ok']}/{clients}" if idle else "-",
        "failed": sum((j or {}).get("connections_failed", 0) + (j or {}).get("messages_failed", 0)
                      for j in (idle, sat, fix)),
        "mem": idle["server"]["pss_growth_per_conn_bytes"] if idle else float("nan"),
        "sat": msg(sat).get("per_sec", float("nan")),
        "cpu_sat": cpu10k(sat),
        "cpu_fix": cpu10k(fix),
        "p50": msg(fix).get("latency", {}).get("p50_us", 0) / 1000,
        "p99": msg(fix).get("latency", {}).get("p99_us", 0) / 1000,
        "fix_rate": msg(fix).get("per_sec", float("nan")),
    })

cols = [
    ("connections held (idle, registered)", lambda r: r["held"]),
    ("user-space memory per idle registered client (Pss delta / N)", lambda r: f"{r['mem'] / 1024:.2f} KiB"),
    ("MESSAGE tx/s at saturation (flat out)", lambda r: f"{r['sat']:.0f}"),
    ("server CPU-s per 10k MESSAGE, at saturation", lambda r: f"{r['cpu_sat']:.3f}"),
    (f"server CPU-s per 10k MESSAGE, at {rate} tx/s", lambda r: f"{r['cpu_fix']:.3f}"),
    (f"MESSAGE p50 at {rate} tx/s", lambda r: f"{r['p50']:.3f} ms"),
    (f"MESSAGE p99 at {rate} tx/s", lambda r: f"{r['p99']:.3f} ms"),
    ("failed (connections + transactions, all runs)", lambda r: str(r["failed"])),
]
print(f"| {clients} clients | " + " | ".join(r["server"] for r in rows) + (" | ratio |" if len(rows) == 2 else " |"))
print("|---|" + "---|" * (len(rows) + (1 if len(rows) == 2 else 0)))
# ratio column: first server / second server
ratio_of = {1: "mem", 2: "sat", 3: "cpu_sat", 4: "cpu_fix", 5: "p50", 6: "p99"}
for i, (name, f) in enumerate(cols):
    line = f"| {name} | " + " | ".join(f(r) for r in rows)
    if len(rows) == 2:
        k = ratio_of.get(i)
        if k:
            a, b = rows[0][k], rows[1][k]
            line += f" | {a / b:.2f}x" if b else " | -"
        else:
            line += " | "
    print(line + " |")
PY
echo
cat "$OUT/table.md"
echo
echo "JSON reports, summaries and SVG plots: $OUT/; server logs: $LOGS/"
