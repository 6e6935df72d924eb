#!/usr/bin/env bash
# Throughput side by side, one run, the same sipload client: CONNS connections echoing SIZE-byte text
# messages flat out for SECS seconds against
#   (i) the WebSocket echo server on ringmux (target/release/wsecho) on io_uring, (ii) the same on epoll, (iii) fwsecho
#   (fastwebsockets + tokio),
# each with WORKERS server threads. Reports messages per server CPU-second (utime+stime of the server
# process during the traffic phase) and the ratios the acceptance asks for.
#
#   tools/scale/throughput.sh            # CONNS=500 SIZE=1024 SECS=10 WORKERS=1 ROUNDS=3 WINDOW=1 CLIENT_THREADS=2
#
# WINDOW: messages each connection keeps in flight (1: send, wait for the echo, send again).
# CLIENT_THREADS: sipload's tokio threads. Two by default: with one, sipload itself is the bottleneck
# (one thread at ~94% of a core) and every server's p99 is the client's queueing.
#
# The servers take turns (round 1: uring, epoll, fwsecho; round 2: ...) and the ratios use the median
# over the rounds, so that load from other processes on a shared machine hits all three alike.
# PIN=1 runs the server on SERVER_CPUS (default 1) and sipload on CLIENT_CPUS (default 0) with taskset.
#   ECHO_BIN=target/release/examples/ws_echo tools/scale/throughput.sh   # point (i)/(ii) at another ringmux echo
#   (build it first: cargo build --release -p ringmux --example ws_echo)
#   ECHO_ARGS="--batch-events 1" tools/scale/throughput.sh   # extra wsecho arguments for (i) and (ii); this one
#   turns off io_uring's batched wait (ringmux batch_events/batch_wait), to see what it is worth
#
# Every process it starts is stopped on exit; every step is bounded by `timeout`.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$repo_root"

CONNS=${CONNS:-500}
SIZE=${SIZE:-1024}
SECS=${SECS:-10}
WORKERS=${WORKERS:-1}
ROUNDS=${ROUNDS:-3}
WINDOW=${WINDOW:-1}
CLIENT_THREADS=${CLIENT_THREADS:-2}
if [[ -n ${PIN:-} ]]; then
    SERVER_CPUS=${SERVER_CPUS-1}
    CLIENT_CPUS=${CLIENT_CPUS-0}
else
    SERVER_CPUS=""
    CLIENT_CPUS=""
fi
pin() { # cpus -> the taskset prefix (nothing when unpinned)
    if [[ -n $1 ]]; then echo "taskset -c $1"; fi
}
OUT=${OUT:-target/scale/throughput}
ECHO_BIN=${ECHO_BIN:-target/release/wsecho}
read -r -a ECHO_EXTRA <<<"${ECHO_ARGS:-}"
mkdir -p "$OUT"

# wsecho is built on its own, as `cargo build -p wsecho` builds it (its dependencies' features not unified
# with those of fwsecho's).
build_release 1200 wsecho
build_release 1200 fwsecho sipload

run_one() { # name port command...
    local name=$1 port=$2; shift 2
    # shellcheck disable=SC2046 # pin's prefix is meant to split into words
    spawn_timed $((SECS + 120)) "$port" "$OUT/$name.server.log" $(pin "$SERVER_CPUS") "$@"
    # shellcheck disable=SC2046
    timeout $((SECS + 90)) $(pin "$CLIENT_CPUS") target/release/sipload echo --target "ws://127.0.0.1:$port/" \
        --connections "$CONNS" --size "$SIZE" --flat-out --window "$WINDOW" --threads "$CLIENT_THREADS" --duration "$SECS" --ramp 5000/s \
        --watch-pid "$server_pid" --json "$OUT/$name.json" | sed "s/^/[$name] /"
    stop_pids "$server_wrap"
    sleep 1
}

for round in $(seq 1 "$ROUNDS"); do
    run_one "uring-$round" 9101 "$ECHO_BIN" --listen 127.0.0.1:9101 --workers "$WORKERS" --io uring "${ECHO_EXTRA[@]}"
    run_one "epoll-$round" 9102 "$ECHO_BIN" --listen 127.0.0.1:9102 --workers "$WORKERS" --io epoll "${ECHO_EXTRA[@]}"
    run_one "fwsecho-$round" 9103 target/release/fwsecho --listen 127.0.0.1:9103 --workers "$WORKERS"
done

python3 "$benchlib" throughput "$OUT" "$ROUNDS"
