#!/usr/bin/env bash
# SIP scale: sipedged standalone with WORKERS workers holds CLIENTS registered, idle SIP-over-WebSocket clients
# (JsSIP-like REGISTER with outbound reg-id / +sip.instance) for HOLD seconds while they re-REGISTER before
# expiry (--expires EXPIRES: each refreshes at 50-75 % of the granted time), send CRLFCRLF keepalives every
# KEEPALIVE seconds (the gateway answers CRLF) and answer its WebSocket pings; then each one refreshes once more.
#
#   tools/scale/sip-scale.sh          # CLIENTS=100000 WORKERS=6 HOLD=120 EXPIRES=60 KEEPALIVE=30
#   OUT=docs/bench/sip-scale tools/scale/sip-scale.sh      # results there; the server log in LOGS
#
# sipload runs as PROCS processes (each below its own open-file limit) from the source addresses SOURCES (each
# address has its own ephemeral port range), ramped at RAMP. sipedged: io_uring direct descriptors (each worker's
# table is capped by RLIMIT_NOFILE, so 6 workers carry 100,000 at a 20,000 limit), [limits] max_connections
# raised to MAX_CONNECTIONS.
# Pass: 0 failed (connections, REGISTERs, refreshes, keepalives, sessions) and user-space memory per client
# <= 1 KiB: (Pss held - Pss before) / CLIENTS of the sipedged process.
# Every process it starts is stopped on exit (only those); every step is bounded by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
# shellcheck source=../lib.sh
source tools/lib.sh

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
mkdir -p "$OUT" "$LOGS"
OUT=$(cd "$OUT" && pwd)
LOGS=$(cd "$LOGS" && pwd)

if [[ -z "${NO_BUILD:-}" ]]; then
  timeout 1800 cargo build --release -q -p sipedged -p sipload
fi
echo "limits: nofile $(ulimit -n), ephemeral ports $(tr '\t' ' ' </proc/sys/net/ipv4/ip_local_port_range), somaxconn $(cat /proc/sys/net/core/somaxconn), load $(cut -d' ' -f1-3 /proc/loadavg)"

port=$(free_port)
cat >"$work/sipedge.toml" <<EOF
[[listen]]
address = "127.0.0.1:$port"
[runtime]
workers = $WORKERS
io = "uring"
[limits]
max_connections = $MAX_CONNECTIONS
[admin]
listen = ""
EOF
cp "$work/sipedge.toml" "$OUT/sipedge.toml"
"$root/target/release/sipedged" --config "$work/sipedge.toml" >"$LOGS/sipedged.log" 2>&1 &
pid=$!
spawned+=("$pid")
wait_tcp "$port"
sleep 1

cmd=(target/release/sipload register --target "ws://127.0.0.1:$port/" --connections "$CLIENTS" --procs "$PROCS"
  --sources "$SOURCES" --ramp "$RAMP" --hold "$HOLD" --duration 0 --expires "$EXPIRES" --keepalive "$KEEPALIVE"
  --watch-pid "$pid" --json "$OUT/scale.json" --plot "$OUT/scale.svg")
echo "sipedged: $WORKERS workers, pid $pid; ${cmd[*]}" | tee "$OUT/command.txt"
status=0
timeout $((CLIENTS / 1000 + HOLD + 300)) "${cmd[@]}" | tee "$OUT/scale.txt" || status=1
kill "$pid" 2>/dev/null || true

python3 - "$OUT/scale.json" "$CLIENTS" <<'PY' || status=1
import json, sys
j = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
s = j["server"]
t = j["transactions"]
failed = j["connections_failed"] + j["messages_failed"]
reg = t.get("REGISTER", {})
ka = t.get("keepalive", {})
ok = failed == 0 and j["connections_ok"] == n
mem = s["pss_growth_per_conn_bytes"] <= 1024
print(f"sip scale: {j['connections_ok']} of {n} registered and held; REGISTER {reg.get('ok', 0)} ok "
      f"(p50 {reg.get('latency', {}).get('p50_us', 0)} us, p99 {reg.get('latency', {}).get('p99_us', 0)} us), "
      f"keepalive {ka.get('ok', 0)} ok; {failed} failed; "
      f"Pss growth {s['pss_growth_per_conn_bytes']:.0f} B/client, Rss growth {s['rss_growth_per_conn_bytes']:.0f} B/client "
      f"-> {'PASS' if ok and mem else 'FAIL'}")
sys.exit(0 if ok and mem else 1)
PY
exit $status
