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
cd "$(dirname "$0")/../.."

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

if [[ -z "${NO_BUILD:-}" ]]; then
    timeout 1200 cargo build --release -q -p wsecho
    timeout 1200 cargo build --release -q -p fwsecho -p sipload
fi

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

run_one() { # name port command...
    local name=$1 port=$2; shift 2
    timeout $((SECS + 120)) $(pin "$SERVER_CPUS") "$@" >"$OUT/$name.server.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_port "$port"
    # The server is the child of `timeout` (taskset execs into it).
    local spid
    spid=$(pgrep -P "$pid" | head -n1)
    timeout $((SECS + 90)) $(pin "$CLIENT_CPUS") target/release/sipload echo --target "ws://127.0.0.1:$port/" \
        --connections "$CONNS" --size "$SIZE" --flat-out --window "$WINDOW" --threads "$CLIENT_THREADS" --duration "$SECS" --ramp 5000/s \
        --watch-pid "$spid" --json "$OUT/$name.json" | sed "s/^/[$name] /"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    sleep 1
}

for round in $(seq 1 "$ROUNDS"); do
    run_one "uring-$round" 9101 "$ECHO_BIN" --listen 127.0.0.1:9101 --workers "$WORKERS" --io uring "${ECHO_EXTRA[@]}"
    run_one "epoll-$round" 9102 "$ECHO_BIN" --listen 127.0.0.1:9102 --workers "$WORKERS" --io epoll "${ECHO_EXTRA[@]}"
    run_one "fwsecho-$round" 9103 target/release/fwsecho --listen 127.0.0.1:9103 --workers "$WORKERS"
done

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rows = {}
print(f"{'server':10} {'round':>5} {'msgs/s':>10} {'srv CPU-s':>9} {'msgs/CPU-s':>11} {'p50 us':>7} {'p99 us':>7} {'failed':>6}")
for name in ("uring", "epoll", "fwsecho"):
    for r in range(1, rounds + 1):
        j = json.load(open(f"{out}/{name}-{r}.json"))
        s = j["server"]
        rows.setdefault(name, []).append(s["msgs_per_server_cpu_sec"])
        print(f"{name:10} {r:>5} {j['msgs_per_sec']:>10.0f} {s['traffic_cpu_secs']:>9.2f} "
              f"{s['msgs_per_server_cpu_sec']:>11.0f} {j['latency']['p50_us']:>7} {j['latency']['p99_us']:>7} "
              f"{j['connections_failed'] + j['messages_failed']:>6}")
import statistics
med = {k: statistics.median(v) for k, v in rows.items()}
for k, v in rows.items():
    print(f"{k:10} msgs per server CPU-second: median {med[k]:.0f} (min {min(v):.0f}, max {max(v):.0f}, {len(v)} rounds)")
def verdict(ratio, target):
    return "PASS" if ratio >= target else "MISS"
r_fws, r_epoll = med['uring'] / med['fwsecho'], med['uring'] / med['epoll']
print(f"ringmux io_uring / fwsecho: {r_fws:.3f}x   (target >= 1.3x: {verdict(r_fws, 1.3)})")
print(f"ringmux epoll    / fwsecho: {med['epoll'] / med['fwsecho']:.3f}x")
print(f"io_uring / epoll:           {r_epoll:.3f}x   (target >= 1.2x: {verdict(r_epoll, 1.2)})")
PY
