#!/usr/bin/env bash
# Live reload under load: sipedged standalone with handshake authentication (bearer JWTs), CLIENTS sipload clients
# registered and exchanging MESSAGEs at RATE per second, while the configuration file is rewritten and reloaded
# once per live setting, in turn by SIGHUP and by `sipedgectl reload` (POST /admin/reload):
#   limits.allowed_origins, limits.max_message_size, limits.requests_per_second, limits.handshakes_per_second,
#   limits.handshakes_per_ip_per_second, limits.idle_timeout, limits.ping_interval, registrar, sip.received,
#   auth (the JWT secret rotated, key_overlap 60s), log.level (to debug and back), and a worker count
#   (reported as needing a restart, applied nowhere).
# PASS: every reload reports (or logs) its setting as applied; after each, every client's WebSocket is still
# open (the admin API lists CLIENTS); sipload ends with 0 failed connections and 0 failed transactions.
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

port=$(free_port)
admin=$(free_port)
cfg=$OUT/sipedge.toml
# The settings a step changes, at their first values.
origins='[]'; max_message=65536; rps=0; node_rate=0; ip_rate=0; idle=300s; ping=30s; max_expires=3600
received=public; secret=$secret_a; level=info; workers=2
write_config() {
  cat >"$cfg" <<TOML
[[listen]]
address = "127.0.0.1:$port"
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
TOML
}
write_config
start_sipedged "$OUT/sipedged.log" "$port" --config "$cfg"
wait_tcp "$admin"
target/release/sipload mint-token --secret "$secret_a" --count "$CLIENTS" --ttl 3600 >"$OUT/tokens.txt"

secs=$(python3 -c "print(int(14 * $STEP + 10))")
spawn timeout $((secs + 120)) target/release/sipload message --target "ws://127.0.0.1:$port/" \
  --connections "$CLIENTS" --procs 2 --sources 127.0.0.2-127.0.0.9 --token-file "$OUT/tokens.txt" \
  --rate "$RATE" --duration "$secs" --json "$OUT/message.json" >"$OUT/message.txt" 2>&1
load_pid=$spawned_pid

# Wait until every client is connected and registered.
for _ in $(seq 1 300); do
  open=$("$ctl" --admin "127.0.0.1:$admin" connections --limit 100000 2>/dev/null |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["connections"]))' || echo 0)
  [[ $open -ge $CLIENTS ]] && break
  sleep 0.1
done
echo "reload: $open of $CLIENTS clients connected; MESSAGEs at $RATE/s for ${secs}s" | tee "$OUT/reload.txt"

fail=0
n=0
# Rewrite the file with one setting changed, reload (SIGHUP and the admin API in turn), and check.
step() {
  local key=$1 restart=${2:-}
  write_config
  n=$((n + 1))
  local how report ok
  if ((n % 2)); then
    how=SIGHUP
    local before
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
  open=$("$ctl" --admin "127.0.0.1:$admin" connections --limit 100000 |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["connections"]))')
  if [[ $ok == 1 && $open -ge $CLIENTS ]]; then
    echo "PASS $how: $key ${restart:+(needs a restart) }— $open connections open" | tee -a "$OUT/reload.txt"
  else
    echo "FAIL $how: $key — $open connections open; report: $report" | tee -a "$OUT/reload.txt"
    fail=1
  fi
  sleep "$STEP"
}

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
workers=3; step runtime restart
workers=2; write_config

wait "$load_pid" || { echo "FAIL sipload exited non-zero" | tee -a "$OUT/reload.txt"; fail=1; }
cat "$OUT/message.txt" >>"$OUT/reload.txt"
python3 - "$OUT/message.json" <<'PY' | tee -a "$OUT/reload.txt" || fail=1
import json, sys
r = json.load(open(sys.argv[1]))
bad = {k: r.get(k, 0) for k in ("connections_failed", "sessions_failed", "messages_failed")}
ok = r.get("messages_ok", 0)
verdict = "PASS" if ok > 0 and not any(bad.values()) else "FAIL"
print(f"{verdict} under load: {ok} transactions ok, " + ", ".join(f"{k} {v}" for k, v in bad.items()))
sys.exit(0 if verdict == "PASS" else 1)
PY
exit $fail
