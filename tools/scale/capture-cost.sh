#!/usr/bin/env bash
# What SIP capture (HEP) costs: sipedged standalone under the same MESSAGE load with [capture] off, at SAMPLE
# (default 10%) and at 100%, sending to a UDP sink; the three take turns for ROUNDS rounds so that the machine's
# drift hits them alike. Each run: sipload message, CLIENTS connections, RATE tx/s for SECS s; the server's CPU-s
# in the traffic phase (sipload --watch-pid) per 10k MESSAGE transactions (4 SIP messages each through the node,
# every one a capture point). Prints each run, then the medians and each mode's cost against capture off.
# EDGE=1: sipedged in edge mode in front of Kamailio (deploy/kamailio/core.cfg on UDP, started afresh for each run:
# one kept across runs slows down run after run), so that each transaction also crosses the core side: 8 SIP
# messages through the node, each a capture point.
#
#   tools/scale/capture-cost.sh              # ROUNDS=3 CLIENTS=200 RATE=3000 SECS=10 SAMPLE=0.1 WORKERS=2 EDGE=0
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$repo_root"
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-200}
RATE=${RATE:-3000}
SECS=${SECS:-10}
SAMPLE=${SAMPLE:-0.1}
WORKERS=${WORKERS:-2}
EDGE=${EDGE:-0}
OUT=${OUT:-target/capture-cost}
abs_dirs OUT
build_release 1800 sipedged sipload
rm -f "$OUT"/*.json "$OUT/runs.txt"

# The collector: a UDP socket that reads and drops everything.
sink=$(free_udp_pair)
spawn python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    s.recv(65536)' "$sink"

run() { # mode round
  local mode=$1 round=$2 port capture="" core_side="" core
  port=$(free_port)
  if [[ $EDGE == 1 ]]; then
    core=$(free_port)
    # 1 GB of shared memory: tm keeps each transaction for its 5 s wait timer.
    start_kamailio "$repo_root/deploy/kamailio/core.cfg" "$work/kamailio.log" -m 1024 \
      -A "CORE_LISTEN=udp:127.0.0.1:$core"
    core_side="[core]"$'\n'"uri = \"sip:127.0.0.1:$core;transport=udp\""$'\n'
    core_side+="local_address = \"127.0.0.1:$(free_udp_pair)\""$'\n'"probes = false"
  fi
  case $mode in
    off) ;;
    sampled) capture="[capture]"$'\n'"hep = \"127.0.0.1:$sink\""$'\n'"sample = $SAMPLE" ;;
    all) capture="[capture]"$'\n'"hep = \"127.0.0.1:$sink\"" ;;
  esac
  printf '[[listen]]\naddress = "127.0.0.1:%s"\n[runtime]\nworkers = %s\n[admin]\nenabled = false\n%s\n%s\n' \
    "$port" "$WORKERS" "$core_side" "$capture" >"$work/$mode.toml"
  start_sipedged "$work/$mode-$round.log" "$port" --config "$work/$mode.toml"
  timeout $((SECS + 120)) target/release/sipload message --target "ws://127.0.0.1:$port/" --connections "$CLIENTS" \
    --rate "$RATE/s" --duration "$SECS" --watch-pid "$sipedged_pid" --json "$OUT/$mode-$round.json" >/dev/null
  stop_pids "$sipedged_pid"
  if [[ $EDGE == 1 ]]; then stop_kamailio; fi
  python3 - "$OUT/$mode-$round.json" "$mode" "$round" <<'PY' | tee -a "$OUT/runs.txt"
import json, sys
r = json.load(open(sys.argv[1]))
ok, cpu = r["transactions"]["MESSAGE"]["ok"], r["server"]["traffic_cpu_secs"]
print(f"{sys.argv[2]} {sys.argv[3]} tx={ok} cpu_s={cpu:.2f} per10k={cpu / ok * 1e4:.4f} failed={r['messages_failed']}")
PY
}

for ((r = 1; r <= ROUNDS; r++)); do
  for mode in off sampled all; do run "$mode" "$r"; done
done

python3 - "$OUT/runs.txt" "$SAMPLE" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    w = line.split()
    runs.setdefault(w[0], []).append(float(w[4].split("=")[1]))
off = statistics.median(runs["off"])
print(f"server CPU-s per 10k MESSAGE transactions (median of {len(runs['off'])} runs): capture off {off:.4f}")
for mode, name in (("sampled", f"capture at {float(sys.argv[2]):.0%}"), ("all", "capture at 100%")):
    m = statistics.median(runs[mode])
    print(f"  {name}: {m:.4f} ({(m / off - 1) * 100:+.1f}% against off; runs {', '.join(f'{x:.4f}' for x in runs[mode])})")
print(f"  off runs: {', '.join(f'{x:.4f}' for x in runs['off'])}")
PY
