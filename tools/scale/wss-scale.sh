#!/usr/bin/env bash
# WSS scale: sipedged standalone behind TLS with bearer-token authentication (RFC 7118 §7), holding CLIENTS registered
# idle wss:// clients, each presenting its own JWT; then the handshake cost of the gateway.
#
#   tools/scale/wss-scale.sh                       # CLIENTS=10000 WORKERS=2 HOLD=30
#   OUT=docs/bench/wss-scale tools/scale/wss-scale.sh
#
# 1. memory: `sipload register` over wss:// (ECDSA P-256 certificate made here with openssl; most handshakes resume
#    from each sipload process's session cache, as browsers reconnecting after a blip do), every client with a token
#    minted by `sipload mint-token` naming its own SIP identity. Pass: 0 failed and user-space memory per client
#    (Pss held - Pss before, / CLIENTS) <= 4 KiB.
# 2. handshakes per server CPU-second: `sipload connect` opens HANDSHAKES connections (TCP + TLS + HTTP upgrade with
#    JWT check, no SIP) against a fresh sipedged, once with full TLS handshakes (--no-resume) and once resuming;
#    the rate is connections / (server CPU-s between the samples before and after the ramp).
# Every process it starts is stopped on exit (only those); every step is bounded by `timeout`.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$repo_root"

CLIENTS=${CLIENTS:-10000}
WORKERS=${WORKERS:-2}
HOLD=${HOLD:-30}
PROCS=${PROCS:-2}
SOURCES=${SOURCES:-127.0.0.2-127.0.0.100}
RAMP=${RAMP:-2000/s}
HANDSHAKES=${HANDSHAKES:-5000}
OUT=${OUT:-target/scale/wss}
abs_dirs OUT

build_release 1800 sipedged sipload

# A private CA (what sipload trusts) and the gateway's certificate signed by it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=wss-scale-ca \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$work/edge.key" -out "$work/edge.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n' >"$work/edge.ext"
openssl x509 -req -in "$work/edge.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
  -extfile "$work/edge.ext" -out "$work/edge.pem" 2>/dev/null
secret=wss-scale-secret-$(openssl rand -hex 16) # 49 bytes: sipedged wants >= 32 for HS256
timeout 60 target/release/sipload mint-token --secret "$secret" --aud sipedge --count "$CLIENTS" --ttl 3600 \
  >"$work/tokens.txt"

start_gateway() { # start_gateway NAME: sipedged on a free port; sets $port, $pid
  port=$(free_port)
  cat >"$work/$1.toml" <<EOF
[[listen]]
address = "127.0.0.1:$port"
tls = { cert = "$work/edge.pem", key = "$work/edge.key" }
[runtime]
workers = $WORKERS
io = "uring"
[limits]
max_connections = $((CLIENTS + HANDSHAKES + 1000))
[auth]
mode = "bearer"
secret = "$secret"
audience = "sipedge"
[sip]
domains = ["example.test"]
EOF
  sed "s|$work|WORK|g; s|$secret|SECRET|" "$work/$1.toml" >"$OUT/$1.toml"
  start_sipedged "$work/$1.log" "$port" --config "$work/$1.toml" --admin ""
  pid=$sipedged_pid
  sleep 1
}

status=0
start_gateway sipedge
cmd=(target/release/sipload register --target "wss://127.0.0.1:$port/" --ca "$work/ca.pem"
  --token-file "$work/tokens.txt" --token-query --connections "$CLIENTS" --procs "$PROCS" --sources "$SOURCES"
  --ramp "$RAMP" --hold "$HOLD" --duration 0 --keepalive 30 --watch-pid "$pid" --json "$OUT/scale.json")
echo "sipedged: $WORKERS workers, pid $pid; ${cmd[*]}" | sed "s|$work|WORK|g" | tee "$OUT/command.txt"
timeout $((CLIENTS / 500 + HOLD + 300)) "${cmd[@]}" | tee "$OUT/scale.txt" || status=1
stop_pids "$pid"

for mode in full resumed; do
  start_gateway "handshakes-$mode"
  extra=()
  [[ $mode == full ]] && extra=(--no-resume)
  hcmd=(target/release/sipload connect --target "wss://127.0.0.1:$port/" --ca "$work/ca.pem" "${extra[@]}"
    --token-file "$work/tokens.txt" --token-query --connections "$HANDSHAKES" --procs 1 --sources "$SOURCES"
    --ramp 2500/s --hold 0 --duration 0 --watch-pid "$pid" --json "$OUT/handshakes-$mode.json")
  line="${hcmd[*]}"
  echo "${line//$work/WORK}" >>"$OUT/command.txt"
  timeout $((HANDSHAKES / 100 + 120)) "${hcmd[@]}" >"$OUT/handshakes-$mode.txt" || status=1
  stop_pids "$pid"
done

python3 "$benchlib" wss-scale "$OUT" "$CLIENTS" "$HANDSHAKES" | tee "$OUT/summary.txt" || status=1
exit $status
