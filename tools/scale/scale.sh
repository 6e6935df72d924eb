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
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$repo_root"

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

build_release 1200 wsecho
build_release 1200 sipload

echo "limits: $(sys_limits)"

status=0
if [[ $PART == uring || $PART == both ]]; then
    spawn_timed 900 9201 "$OUT/uring.server.log" "$ECHO_BIN" --listen 127.0.0.1:9201 --workers "$WORKERS" --io uring
    echo "io_uring: $WORKERS workers, pid $server_pid; $CONNS connections from $PROCS processes, sources $SOURCES, ramp $RAMP, hold $HOLD s"
    timeout $((CONNS / 1000 + HOLD + 300)) target/release/sipload echo --target ws://127.0.0.1:9201/ \
        --connections "$CONNS" --procs "$PROCS" --sources "$SOURCES" --ramp "$RAMP" --hold "$HOLD" \
        --duration 0 --size 64 --watch-pid "$server_pid" --json "$OUT/uring.json" || status=1
    stop_pids "$server_wrap"
    python3 "$benchlib" scale-uring "$OUT/uring.json" || status=1
fi

if [[ $PART == epoll || $PART == both ]]; then
    spawn_timed 900 9202 "$OUT/epoll.server.log" "$ECHO_BIN" --listen 127.0.0.1:9202 --workers 1 --io epoll
    echo "epoll: 1 worker, pid $server_pid (nofile $(ulimit -n)); $EPOLL_CONNS connections"
    timeout 300 target/release/sipload echo --target ws://127.0.0.1:9202/ \
        --connections "$EPOLL_CONNS" --procs 2 --sources "$SOURCES" --ramp "$RAMP" --hold 5 \
        --duration 0 --size 64 --watch-pid "$server_pid" --json "$OUT/epoll.json" || true
    stop_pids "$server_wrap"
    refused=$(grep -c "out of file descriptors" "$OUT/epoll.server.log" || true)
    python3 "$benchlib" scale-epoll "$OUT/epoll.json" "$refused" || status=1
fi
exit $status
