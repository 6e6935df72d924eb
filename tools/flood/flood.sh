#!/usr/bin/env bash
# Flood: sipedged standalone on loopback with its abuse limits on, two attacks, each beside normal clients.
#
#   tools/flood/flood.sh                       # results in target/flood
#   OUT=docs/bench/flood tools/flood/flood.sh  # the server log stays in LOGS (target/flood-logs)
#
# sipedged [limits]: handshakes_per_ip_per_second HS_RATE, handshake_burst HS_BURST, max_connections_per_ip IP_CAP,
# requests_per_second REQ_RATE, request_burst REQ_BURST, over_request_rate = "reject" (503 + Retry-After).
#
# a) connection flood: `sipload connect` from FLOOD_SRC (one address) opens FLOOD_CONNS connections at FLOOD_RAMP
#    while `sipload register` brings up CLIENTS clients from CLIENT_SRCS at CLIENT_RAMP.
#    PASS: at least 90 % of the flooder's connections refused with 503, as many counted in sipedged's /metrics
#    (sipedge_handshake_rejections_total, reasons ip_handshake_rate / ip_connection_cap), and the normal clients
#    have 0 failed.
# b) request flood: MSG_CLIENTS clients (from MSG_SRCS) exchange MESSAGE at MSG_RATE in total for SECS seconds,
#    once alone (baseline) and once while one more client (REQ_FLOOD_SRC, its own address) sends REQ_FLOOD_RATE
#    MESSAGE/s to itself. The normal clients connect at MSG_RAMP (under the per-IP handshake rate).
#    PASS: the flooder throttled (its requests answered 503, counted as sipedge_routing_failures_total
#    {reason="rate_limited"}), the normal clients have 0 failed, and their MESSAGE p50 and p99 are within 2x of
#    the baseline.
# c) zero-window readers: ZW_CLIENTS WebSocket clients (from ZW_SRCS) open at ZW_RATE/s, register, stop reading
#    (the smallest receive buffer) and send themselves MESSAGEs the gateway must queue back: half 600 KB and then
#    a WebSocket close (the graceful close waits [limits] close_timeout, 5 s), half 1.44 MB (over the 1 MiB
#    send-queue bound) (tools/flood/abuse.py zero-window), while MSG_CLIENTS normal clients run as in b).
#    PASS: every attacker counted as aborted in /metrics (sipedge_close_aborted_total for the closing half,
#    sipedge_slow_consumers_total for the other), none still open ZW_HOLD s after the last one came, sipedged's
#    RSS grew by at most ZW_CLIENTS x 1 MiB, the normal clients 0 failed and their p50 within 2x of b)'s baseline.
# d) trickling admin clients: TRICKLE connections from TRICKLE_SRC to the admin port, each sending one byte a
#    second (cut ones opened again), for TRICKLE_SECS s, while a probe GETs /metrics every 100 ms (abuse.py
#    trickle). PASS: every probe answered 200 within 100 ms, the trickling connections cut (408 at the admin's 5 s
#    head deadline, 503 over its per-peer bound), none held longer than 6.5 s, and RSS grew by at most 8.2 MiB
#    (the admin's 32 connections at once, each well under 256 KiB with its 8 KiB head buffer).
# Prints a table and writes flood.json, flood-cd.json (and each sipload report) into OUT.
# Every process it starts is stopped on exit (only those); every step is bounded by `timeout`.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$repo_root"

WORKERS=${WORKERS:-2}
HS_RATE=${HS_RATE:-100}
HS_BURST=${HS_BURST:-50}
IP_CAP=${IP_CAP:-500}
REQ_RATE=${REQ_RATE:-50}
REQ_BURST=${REQ_BURST:-100}
FLOOD_SRC=${FLOOD_SRC:-127.0.0.2}
FLOOD_RAMP=${FLOOD_RAMP:-5000}
FLOOD_CONNS=${FLOOD_CONNS:-15000}
CLIENTS=${CLIENTS:-1000}
CLIENT_SRCS=${CLIENT_SRCS:-127.0.0.3-127.0.0.12}
CLIENT_RAMP=${CLIENT_RAMP:-500}
MSG_CLIENTS=${MSG_CLIENTS:-500}
MSG_SRCS=${MSG_SRCS:-127.0.0.3-127.0.0.7}
MSG_RATE=${MSG_RATE:-1500}
MSG_RAMP=${MSG_RAMP:-250}
SECS=${SECS:-8}
REQ_FLOOD_SRC=${REQ_FLOOD_SRC:-127.0.0.20}
REQ_FLOOD_RATE=${REQ_FLOOD_RATE:-10000}
ZW_CLIENTS=${ZW_CLIENTS:-200}
ZW_RATE=${ZW_RATE:-20}
ZW_HOLD=${ZW_HOLD:-8}
ZW_SRCS=${ZW_SRCS:-127.0.0.30,127.0.0.31,127.0.0.32,127.0.0.33,127.0.0.34,127.0.0.35,127.0.0.36,127.0.0.37}
TRICKLE=${TRICKLE:-50}
TRICKLE_SECS=${TRICKLE_SECS:-20}
TRICKLE_SRC=${TRICKLE_SRC:-127.0.0.40}
OUT=${OUT:-target/flood}
LOGS=${LOGS:-target/flood-logs}
abs_dirs OUT LOGS

build_release 1800 sipedged sipload
sipload=$repo_root/target/release/sipload
echo "machine: $(nproc) cores, nofile $(ulimit -n), load $(sys_load)"

port=$(free_port)
admin=$(free_port)
cat >"$work/sipedge.toml" <<EOF
[[listen]]
address = "127.0.0.1:$port"
[runtime]
workers = $WORKERS
[admin]
listen = "127.0.0.1:$admin"
[limits]
handshakes_per_ip_per_second = $HS_RATE
handshake_burst = $HS_BURST
max_connections_per_ip = $IP_CAP
requests_per_second = $REQ_RATE
request_burst = $REQ_BURST
over_request_rate = "reject"
EOF
cp "$work/sipedge.toml" "$OUT/sipedge.toml"
start_sipedged "$LOGS/sipedged.log" "$port" --config "$work/sipedge.toml"
pid=$sipedged_pid
wait_tcp "$admin"
sleep 1
target="ws://127.0.0.1:$port/"

# /metrics as JSON {name{labels}: value} into FILE.
metrics() {
  timeout 10 python3 "$benchlib" metrics "$admin" "$1"
}

# sipload NAME ARGS...: one bounded run, report in OUT/NAME.json, summary in OUT/NAME.txt; a non-zero exit (some
# failed) is judged by the checks below, not here.
run() {
  local name=$1
  shift
  echo "sipload $* --target $target --json $name.json" >>"$OUT/commands.txt"
  timeout 300 "$sipload" "$@" --target "$target" --json "$OUT/$name.json" >"$OUT/$name.txt" 2>"$LOGS/$name.err" || true
}
: >"$OUT/commands.txt"
echo "sipedged pid $pid on $target, admin $admin; limits: $HS_RATE handshakes/s per IP (burst $HS_BURST), $IP_CAP connections per IP, $REQ_RATE requests/s per connection (burst $REQ_BURST), reject" | tee -a "$OUT/commands.txt"

# a) connection flood beside normal registrations.
metrics "$OUT/metrics-a-before.json"
flood_secs=$((FLOOD_CONNS / FLOOD_RAMP + 1))
run conn-flooder connect --connections "$FLOOD_CONNS" --ramp "$FLOOD_RAMP/s" --sources "$FLOOD_SRC" \
  --hold 1 --duration 0 --time-limit $((flood_secs + 60)) &
flooder=$!
sleep 0.5
run conn-normal register --connections "$CLIENTS" --ramp "$CLIENT_RAMP/s" --sources "$CLIENT_SRCS" --procs 2 \
  --duration 0 --time-limit 120
wait "$flooder" || true
metrics "$OUT/metrics-a-after.json"

# b) request flood: baseline, then beside one flooding client.
run req-baseline message --connections "$MSG_CLIENTS" --sources "$MSG_SRCS" --rate "$MSG_RATE/s" --duration "$SECS" \
  --ramp "$MSG_RAMP/s" --watch-pid "$pid" --time-limit $((SECS + 90))
metrics "$OUT/metrics-b-before.json"
run req-flooder message --connections 1 --sources "$REQ_FLOOD_SRC" --rate "$REQ_FLOOD_RATE/s" \
  --duration $((SECS + 4)) --tx-timeout 5 --time-limit $((SECS + 90)) &
flooder=$!
sleep 1
run req-normal message --connections "$MSG_CLIENTS" --sources "$MSG_SRCS" --rate "$MSG_RATE/s" --duration "$SECS" \
  --ramp "$MSG_RAMP/s" --watch-pid "$pid" --time-limit $((SECS + 90))
wait "$flooder" || true
metrics "$OUT/metrics-b-after.json"

# abuse SECS COMMAND ARGS...: one tools/flood/abuse.py attack bounded by SECS, recorded in commands.txt.
abuse() {
  local secs=$1
  shift
  local abuse_args="$*"
  echo "python3 tools/flood/abuse.py ${abuse_args//$OUT\//}" >>"$OUT/commands.txt"
  timeout "$secs" python3 "$repo_root/tools/flood/abuse.py" "$@" 2>>"$LOGS/abuse.err" || true
}

# c) zero-window readers beside the normal clients of b) (its baseline is b)'s).
metrics "$OUT/metrics-c-before.json"
abuse $((ZW_CLIENTS / ZW_RATE + ZW_HOLD + 60)) zero-window "$port" "$admin" "$pid" "$ZW_CLIENTS" "$ZW_RATE" \
  "$ZW_HOLD" "$ZW_SRCS" "$OUT/zero-window.json" &
attack=$!
sleep 2
run req-zw-normal message --connections "$MSG_CLIENTS" --sources "$MSG_SRCS" --rate "$MSG_RATE/s" --duration "$SECS" \
  --ramp "$MSG_RAMP/s" --watch-pid "$pid" --time-limit $((SECS + 90))
wait "$attack" || true
metrics "$OUT/metrics-c-after.json"

# d) trickling admin clients.
metrics "$OUT/metrics-d-before.json"
abuse $((${TRICKLE_SECS%.*} + 30)) trickle "$admin" "$pid" "$TRICKLE" "$TRICKLE_SECS" "$TRICKLE_SRC" \
  "$OUT/trickle.json"
metrics "$OUT/metrics-d-after.json"
stop_pids "$pid"

status=0
timeout 30 python3 "$benchlib" flood "$OUT" "$FLOOD_CONNS" "$CLIENTS" "$REQ_FLOOD_RATE" "$MSG_RATE" "$FLOOD_RAMP" \
  >"$work/table.txt" || status=1
timeout 30 python3 "$repo_root/tools/flood/abuse.py" table "$OUT" "$ZW_CLIENTS" "$TRICKLE" "${TRICKLE_SECS%.*}" \
  >>"$work/table.txt" || status=1
tee "$OUT/flood.txt" <"$work/table.txt"
exit $status
