#!/usr/bin/env bash
# Scale: the WebSocket echo server on ringmux (target/release/wsecho) holds CONNS concurrent connections, then every one of them
# echoes one message; then the epoll backend is filled past its descriptor limit.
#
#   tools/scale/scale.sh                  # both parts
#   PART=uring tools/scale/scale.sh       # io_uring only: WORKERS=6, CONNS=100000, HOLD=60
#   PART=epoll tools/scale/scale.sh       # epoll only: EPOLL_CONNS=20500 against one worker
#
# io_uring part: WORKERS workers (direct descriptors: the per-ring table is capped by RLIMIT_NOFILE,
# 20,000 here, so 6 workers carry 100,000), sipload spread over PROCS processes (each below its own
# 20,000-descriptor limit) and the source addresses SOURCES (each has its own ephemeral port range,
# see /proc/sys/net/ipv4/ip_local_port_range), ramped at RAMP, held HOLD seconds, then one echo each.
# Pass: 0 failed, server Rss growth <= 1 KiB per connection (whole process, user space).
#
# epoll part: one worker, EPOLL_CONNS connections; the backend holds what its descriptor limit allows
# and logs that it refuses more ("out of file descriptors"); the connections beyond it fail (their
# Upgrade waits in the backlog until sipload's handshake timeout).
#
# Every process it starts is stopped on exit; every step is bounded by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/../.."

PART=${PART:-both}
CONNS=${CONNS:-100000}
WORKERS=${WORKERS:-6}
PROCS=${PROCS:-8}
SOURCES=${SOURCES:-127.0.0.2-127.0.0.255}
RAMP=${RAMP:-5000/s}
HOLD=${HOLD:-60}
EPOLL_CONNS=${EPOLL_CONNS:-20500}
OUT=${OUT:-target/scale/scale}
ECHO_BIN=${ECHO_BIN:-target/release/wsecho}
mkdir -p "$OUT"

if [[ -z "${NO_BUILD:-}" ]]; then
    timeout 1200 cargo build --release -q -p wsecho
    timeout 1200 cargo build --release -q -p sipload
fi

echo "limits: nofile $(ulimit -n), ephemeral ports $(cat /proc/sys/net/ipv4/ip_local_port_range | tr '\t' ' '), somaxconn $(cat /proc/sys/net/core/somaxconn)"

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

wait_port() {
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "server on port $1 did not come up" >&2
    return 1
}

start_server() { # port log command...
    local port=$1 log=$2; shift 2
    timeout 900 "$@" >"$log" 2>&1 &
    SERVER_WRAP=$!
    PIDS+=("$SERVER_WRAP")
    wait_port "$port"
    SERVER_PID=$(pgrep -P "$SERVER_WRAP" | head -n1)
}

stop_server() {
    kill "$SERVER_WRAP" 2>/dev/null || true
    wait "$SERVER_WRAP" 2>/dev/null || true
}

status=0
if [[ $PART == uring || $PART == both ]]; then
    start_server 9201 "$OUT/uring.server.log" "$ECHO_BIN" --listen 127.0.0.1:9201 --workers "$WORKERS" --io uring
    echo "io_uring: $WORKERS workers, pid $SERVER_PID; $CONNS connections from $PROCS processes, sources $SOURCES, ramp $RAMP, hold $HOLD s"
    timeout $((CONNS / 1000 + HOLD + 300)) target/release/sipload echo --target ws://127.0.0.1:9201/ \
        --connections "$CONNS" --procs "$PROCS" --sources "$SOURCES" --ramp "$RAMP" --hold "$HOLD" \
        --duration 0 --size 64 --watch-pid "$SERVER_PID" --json "$OUT/uring.json" || status=1
    stop_server
    python3 - "$OUT/uring.json" <<'PY' || status=1
import json, sys
j = json.load(open(sys.argv[1]))
s = j["server"]
ok = j["connections_failed"] == 0 and j["messages_failed"] == 0 and j["messages_ok"] == j["connections"]
mem = s["rss_growth_per_conn_bytes"] <= 1024
print(f"io_uring: {j['connections_ok']} held, {j['messages_ok']} echoed, "
      f"{j['connections_failed'] + j['messages_failed']} failed; Rss growth {s['rss_growth_per_conn_bytes']:.0f} B/conn, "
      f"Pss growth {s['pss_growth_per_conn_bytes']:.0f} B/conn -> {'PASS' if ok and mem else 'FAIL'}")
sys.exit(0 if ok and mem else 1)
PY
fi

if [[ $PART == epoll || $PART == both ]]; then
    start_server 9202 "$OUT/epoll.server.log" "$ECHO_BIN" --listen 127.0.0.1:9202 --workers 1 --io epoll
    echo "epoll: 1 worker, pid $SERVER_PID (nofile $(ulimit -n)); $EPOLL_CONNS connections"
    timeout 300 target/release/sipload echo --target ws://127.0.0.1:9202/ \
        --connections "$EPOLL_CONNS" --procs 2 --sources "$SOURCES" --ramp "$RAMP" --hold 5 \
        --duration 0 --size 64 --watch-pid "$SERVER_PID" --json "$OUT/epoll.json" || true
    stop_server
    refused=$(grep -c "out of file descriptors" "$OUT/epoll.server.log" || true)
    python3 - "$OUT/epoll.json" "$refused" <<'PY' || status=1
import json, sys
j = json.load(open(sys.argv[1]))
refused = int(sys.argv[2])
held = j["messages_ok"]
ok = 19000 <= held < j["connections"] and refused > 0
print(f"epoll: held and echoed {held} of {j['connections']}; {j['connections_failed']} refused; "
      f"server logged 'out of file descriptors' {refused} times -> {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
fi
exit $status
