#!/usr/bin/env bash
# Live reload under load: CLIENTS sipload clients registered and exchanging MESSAGEs at RATE per second while the
# configuration file is rewritten and reloaded once per live setting, in turn by SIGHUP and by `sipedgectl
# reload` (POST /admin/reload). Two runs:
#   1. sipedged standalone with handshake authentication (bearer JWTs), clients on ws://: limits.allowed_origins,
#      limits.max_message_size, limits.requests_per_second, limits.handshakes_per_second,
#      limits.handshakes_per_ip_per_second, limits.idle_timeout, limits.ping_interval, registrar, sip.received,
#      auth (the JWT secret rotated, key_overlap 60s), log.level (to debug and back), listen[0].path and
#      listen[0].auth (a new upgrade on the new path without a token is then taken), web (a phone directory
#      served), and a worker count (reported as needing a restart, applied nowhere);
#   2. sipedged in edge mode in front of Kamailio (deploy/kamailio/core.cfg), clients on wss://: the listener's
#      certificate replaced (a new TLS handshake then gets the new one), core.uri (a second URI added), a limit.
# PASS: every reload reports (or logs) its setting as applied; after each, every client's WebSocket is still
# open (the admin API lists CLIENTS); each sipload run ends with 0 failed connections and 0 failed transactions.
#
#   tools/reload/reload.sh            # CLIENTS=200 RATE=400 STEP=1.5
#   OUT=target/reload tools/reload/reload.sh
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$repo_root"
CLIENTS=${CLIENTS:-200}
RATE=${RATE:-400}
STEP=${STEP:-1.5}
OUT=${OUT:-target/reload}
abs_dirs OUT
build_release 1800 sipedged sipload
ctl=$repo_root/target/release/sipedgectl
secret_a="reload-under-load-secret-a-0123456789"
secret_b="reload-under-load-secret-b-0123456789"

cfg=$OUT/sipedge.toml
fail=0
n=0

# Count the clients' open WebSockets through the admin API.
open_connections() {
  "$ctl" --admin "127.0.0.1:$admin" connections --limit 100000 |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["connections"]))'
}

# Start sipload (its report in $OUT/$1.*) with the remaining arguments; wait until every client is connected.
start_load() {
  local name=$1
  shift
  spawn timeout $((secs + 120)) target/release/sipload message --connections "$CLIENTS" --procs 2 \
    --sources 127.0.0.2-127.0.0.9 --rate "$RATE" --duration "$secs" --json "$OUT/$name.json" "$@" \
    >"$OUT/$name.txt" 2>&1
  load_pid=$spawned_pid
  for _ in $(seq 1 300); do
    open=$(open_connections 2>/dev/null || echo 0)
    [[ $open -ge $CLIENTS ]] && break
    sleep 0.1
  done
  echo "reload ($name): $open of $CLIENTS clients connected; MESSAGEs at $RATE/s for ${secs}s" | tee -a "$OUT/reload.txt"
}

# The end of a sipload run: its exit status and its report's failures.
end_load() {
  local name=$1
  wait "$load_pid" || { echo "FAIL sipload ($name) exited non-zero" | tee -a "$OUT/reload.txt"; fail=1; }
  cat "$OUT/$name.txt" >>"$OUT/reload.txt"
  python3 - "$OUT/$name.json" "$name" <<'PY' | tee -a "$OUT/reload.txt" || fail=1
import json, sys
r = json.load(open(sys.argv[1]))
bad = {k: r.get(k, 0) for k in ("connections_failed", "sessions_failed", "messages_failed")}
ok = r.get("messages_ok", 0)
verdict = "PASS" if ok > 0 and not any(bad.values()) else "FAIL"
print(f"{verdict} under load ({sys.argv[2]}): {ok} transactions ok, " + ", ".join(f"{k} {v}" for k, v in bad.items()))
sys.exit(0 if verdict == "PASS" else 1)
PY
}

# Rewrite the file ($writer) with one setting changed, reload (SIGHUP and the admin API in turn), check that
# the reload names KEY as applied (or as needing a restart, with a second argument), then run CHECK (a command, if
# set) and count the open WebSockets.
step() {
  local key=$1 restart=${2:-} how report ok before
  "$writer"
  n=$((n + 1))
  if ((n % 2)); then
    how=SIGHUP
    before=$(grep -c 'configuration reloaded' "$OUT/sipedged.log" || true)
    kill -HUP "$sipedged_pid"
    for _ in $(seq 1 50); do
      [[ $(grep -c 'configuration reloaded' "$OUT/sipedged.log" || true) -gt $before ]] && break
      sleep 0.1
    done
    report=$(grep 'configuration reloaded' "$OUT/sipedged.log" | tail -1)
  else
    how="admin API"
    report=$("$ctl" --admin "127.0.0.1:$admin" reload | tr -d '\n ')
  fi
  if [[ -n $restart ]]; then
    [[ $report == *needs_restart*"\"$key\""* ]] && ok=1 || ok=0
  else
    [[ $report == *applied*"\"$key\""* ]] && ok=1 || ok=0
  fi
  local checked=""
  if [[ -n ${check:-} ]]; then
    local tries=30
    until $check || ((--tries == 0)); do sleep 0.1; done
    if ((tries > 0)); then checked=", $check_what"; else ok=0; checked=", NOT $check_what"; fi
    check=""
  fi
  open=$(open_connections)
  if [[ $ok == 1 && $open -ge $CLIENTS ]]; then
    echo "PASS $how: $key ${restart:+(needs a restart) }— $open connections open$checked" | tee -a "$OUT/reload.txt"
  else
    echo "FAIL $how: $key — $open connections open$checked; report: $report" | tee -a "$OUT/reload.txt"
    fail=1
  fi
  sleep "$STEP"
}

: >"$OUT/reload.txt"

# 1. Standalone, bearer JWTs, ws://.
port=$(free_port)
admin=$(free_port)
# The settings a step changes, at their first values.
origins='[]'; max_message=65536; rps=0; node_rate=0; ip_rate=0; idle=300s; ping=30s; max_expires=3600
received=public; secret=$secret_a; level=info; workers=2; path=/; listen_auth=true; web=""
writer=write_standalone
write_standalone() {
  cat >"$cfg" <<TOML
[[listen]]
address = "127.0.0.1:$port"
path = "$path"
auth = $listen_auth
[runtime]
workers = $workers
[limits]
allowed_origins = $origins
max_message_size = $max_message
requests_per_second = $rps
request_burst = 5000
handshakes_per_second = $node_rate
handshakes_per_ip_per_second = $ip_rate
handshake_burst = 1000
idle_timeout = "$idle"
ping_interval = "$ping"
[registrar]
max_expires = $max_expires
[sip]
received = "$received"
[auth]
mode = "bearer"
secret = "$secret"
key_overlap = "60s"
[admin]
listen = "127.0.0.1:$admin"
[log]
level = "$level"
$web
TOML
}
write_standalone
start_sipedged "$OUT/sipedged.log" "$port" --config "$cfg"
wait_tcp "$admin"
target/release/sipload mint-token --secret "$secret_a" --count "$CLIENTS" --ttl 3600 >"$OUT/tokens.txt"
secs=$(python3 -c "print(int(17 * $STEP + 10))")
start_load standalone --target "ws://127.0.0.1:$port/" --token-file "$OUT/tokens.txt"

origins='["https://app.example"]'; step limits.allowed_origins
max_message=32768; step limits.max_message_size
rps=5000; step limits.requests_per_second
node_rate=1000; step limits.handshakes_per_second
ip_rate=1000; step limits.handshakes_per_ip_per_second
idle=240s; step limits.idle_timeout
ping=20s; step limits.ping_interval
max_expires=1800; step registrar
received=always; step sip.received
secret=$secret_b; step auth
level=debug; step log.level
level=info; step log.level
# shellcheck disable=SC2317 # called through $check
check_upgrade() {
  python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
          b"Sec-WebSocket-Protocol: sip\r\n\r\n")
sys.exit(0 if s.recv(64).startswith(b"HTTP/1.1 101") else 1)
PY
}
path=/ws; step "listen[0].path"
listen_auth=false check=check_upgrade check_what="an upgrade on /ws without a token is taken"
step "listen[0].auth"
mkdir -p "$work/phone"
echo "reload test phone" >"$work/phone/index.html"
# shellcheck disable=SC2317 # called through $check
check_phone() {
  python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
    "http://127.0.0.1:$port/phone/" | grep -q "reload test phone"
}
web=$(printf '[web]\nphone_dir = "%s"' "$work/phone") check=check_phone check_what="the new phone directory is served"
step web
workers=3; step runtime restart
end_load standalone
stop_pids "$sipedged_pid"

# 2. Edge mode in front of Kamailio, wss:// with a certificate replaced under load, the core's URIs changed.
core=$(free_port)
start_core "$core"
local_base=$(free_udp_pair)
port=$(free_port)
admin=$(free_port)
new_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$work/next.key" -out "$work/next.pem" 2>/dev/null
  mv "$work/next.key" "$work/edge.key"
  mv "$work/next.pem" "$work/edge.pem"
}
# The certificate a new TLS handshake gets.
# shellcheck disable=SC2317 # called through $check
served_cert() {
  openssl s_client -connect "127.0.0.1:$port" -servername localhost </dev/null 2>/dev/null |
    openssl x509 -noout -subject 2>/dev/null
}
new_cert reload-first
uris="\"sip:127.0.0.1:$core;transport=udp\""; max_message=65536
writer=write_edge
write_edge() {
  cat >"$cfg" <<TOML
[[listen]]
address = "127.0.0.1:$port"
tls = { cert = "$work/edge.pem", key = "$work/edge.key", reload_poll = "1h" }
[core]
uri = [$uris]
local_address = "127.0.0.1:$local_base"
[runtime]
workers = 2
[limits]
max_message_size = $max_message
[admin]
listen = "127.0.0.1:$admin"
TOML
}
write_edge
n=0
start_sipedged "$OUT/sipedged.log" "$port" --config "$cfg"
wait_tcp "$admin"
secs=$(python3 -c "print(int(3 * $STEP + 10))")
start_load edge --target "wss://127.0.0.1:$port/" --insecure
new_cert reload-second
# shellcheck disable=SC2317 # called through $check
check_certificate() { [[ $(served_cert) == *reload-second* ]]; }
check=check_certificate check_what="a new TLS handshake gets the new certificate"
max_message=32768; step limits.max_message_size   # SIGHUP: the configuration and the certificate files
spare=$(free_udp_pair)
uris="\"sip:127.0.0.1:$core;transport=udp\", \"sip:127.0.0.1:$spare;transport=udp\""
# shellcheck disable=SC2317 # called through $check
check_targets() {
  python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
    "http://127.0.0.1:$admin/metrics" | grep -q "127.0.0.1:$spare"
}
check=check_targets check_what="the added URI is a target"
step core.uri
end_load edge
exit $fail
