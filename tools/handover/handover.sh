#!/usr/bin/env bash
# An upgrade under load: CLIENTS sipload clients registered with sipedged standalone, WSS of them over wss://
# (a TLS listener with a certificate made here) and the others over ws://, exchange MESSAGEs at RATE per second
# in all for SECS seconds; after AT seconds a new sipedged process takes the node over (`sipedged --take-over`,
# the same configuration and [runtime] handover_socket) and the old one exits.
# PASS: the old node exits 0 having handed every WebSocket over; both sipload runs end with 0 failed connections,
# no error (a WebSocket or TLS session closed would be one: sipload runs without --reconnect) and 0 failed
# transactions; the new node holds every client afterwards (its metrics count CLIENTS WebSockets). The pause
# (from the hand-over's start to the new process holding everything, as the old node logs it) and both
# processes' memory are reported.
# CORE=udp: sipedged runs in edge mode in front of a Kamailio core over UDP (deploy/kamailio/core.cfg, WORKERS=2):
# the clients register with the core through the edge and their MESSAGEs go through the core, which reaches each
# client along the Path (flow token) it registered with. Also PASS: the core accepted no REGISTER from the
# hand-over to 2 s after it (kamcmd stats: the flows kept their registrations), and its MESSAGEs along Paths
# minted before the hand-over reached the clients after it (0 failed).
#
#   tools/handover/handover.sh                        # CLIENTS=1000 WSS=500 RATE=500 SECS=8 AT=3
#   CORE=udp tools/handover/handover.sh               # edge mode in front of Kamailio
#   CLIENTS=100000 WSS=50000 PROCS=8 WORKERS=6 MAX_CONNECTIONS=120000 RATE=2000 SECS=15 tools/handover/handover.sh
#   (the figures in docs/bench/handover.md)
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$repo_root"
CLIENTS=${CLIENTS:-1000}
WSS=${WSS:-$((CLIENTS / 2))}
RATE=${RATE:-500}
SECS=${SECS:-8}
AT=${AT:-3}
PROCS=${PROCS:-2}
# io_uring's per-ring descriptor table is capped by RLIMIT_NOFILE (20,000 here): 6 workers carry 100,000.
WORKERS=${WORKERS:-2}
MAX_CONNECTIONS=${MAX_CONNECTIONS:-0}
OUT=${OUT:-target/handover}
CORE=${CORE:-}
abs_dirs OUT
build_release 1800 sipedged sipload
port=$(free_port)
tls_port=$(free_port)
admin=$(free_port)
cfg=$OUT/sipedge.toml
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE \
  -keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null
cat >"$cfg" <<TOML
[[listen]]
address = "127.0.0.1:$port"
[[listen]]
address = "127.0.0.1:$tls_port"
tls = { cert = "$OUT/cert.pem", key = "$OUT/key.pem" }
[runtime]
workers = $WORKERS
shutdown_grace = "2s"
handover_socket = "$OUT/handover.sock"
[limits]
max_connections = $MAX_CONNECTIONS
[registrar]
max_bindings = 1000000
[admin]
listen = "127.0.0.1:$admin"
TOML
core_ctl="unix:$OUT/core.ctl"
# REGISTERs the core accepted so far.
core_registers() {
  { kamcmd -s "$core_ctl" stats.get_statistics accepted_regs 2>/dev/null || true; } |
    awk -F'= ' '/accepted_regs/ {print $2; f=1} END {if (!f) print -1}'
}
if [[ $CORE == udp ]]; then
  ((WORKERS == 2)) || { echo "CORE=udp needs WORKERS=2 (two consecutive free UDP ports)" >&2; exit 2; }
  core=$(free_port)
  # Stopped by the exit trap (lib.sh), through its pid file.
  kamailio -f "$repo_root/deploy/kamailio/core.cfg" -P "$work/kamailio.pid" -m 512 -M 16 \
    -A "CORE_LISTEN=udp:127.0.0.1:$core" -A "CORE_CTL=\"$core_ctl\"" -E >"$OUT/core.log" 2>&1
  cat >>"$cfg" <<TOML
[core]
uri = "sip:127.0.0.1:$core;transport=udp"
local_address = "127.0.0.1:$(free_udp_pair)"
TOML
  sed -i '/^\[registrar\]/,/^max_bindings/d' "$cfg"
fi
: >"$OUT/handover.txt"
fail=0
report() { echo "$*" | tee -a "$OUT/handover.txt"; }

# The node's open WebSockets, from its metrics (sipedge_connections{state="websocket"}, summed over workers).
open_connections() {
  python3 - "$admin" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
print(sum(int(float(l.rsplit(" ", 1)[1])) for l in text.splitlines()
          if l.startswith("sipedge_connections{") and 'state="websocket"' in l))
PY
}

# Rss of a process, kB.
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

start_sipedged "$OUT/old.log" "$port" --config "$cfg"
old_pid=$sipedged_pid
wait_tcp "$admin"
# The rate split as the clients are; each run gets at least 1/s.
load() { # scheme port clients sources
  local name=$1 clients=$3 rate=$((RATE * $3 / CLIENTS)) tls=()
  ((rate > 0)) || rate=1
  [[ $1 == wss ]] && tls=(--ca "$OUT/cert.pem")
  spawn timeout $((SECS + CLIENTS / 1000 + 120)) target/release/sipload message --target "$1://127.0.0.1:$2/" \
    "${tls[@]}" --connections "$clients" --procs "$PROCS" --sources "$4" --ramp 5000/s --duration "$SECS" \
    --rate "$rate/s" --json "$OUT/sipload-$name.json" >"$OUT/sipload-$name.txt" 2>&1
}
load_pids=()
runs=()
if ((CLIENTS > WSS)); then
  load ws "$port" $((CLIENTS - WSS)) 127.0.0.2-127.0.0.41
  load_pids+=("$spawned_pid"); runs+=(ws)
fi
if ((WSS > 0)); then
  load wss "$tls_port" "$WSS" 127.0.0.42-127.0.0.81
  load_pids+=("$spawned_pid"); runs+=(wss)
fi
for _ in $(seq 1 600); do
  open=$(open_connections 2>/dev/null || echo 0)
  [[ $open -ge $CLIENTS ]] && break
  sleep 0.1
done
report "handover: $open of $CLIENTS clients connected ($WSS over wss://); MESSAGEs at $RATE/s for ${SECS}s"
[[ $open -ge $CLIENTS ]] || { report "FAIL not every client connected"; fail=1; }
sleep "$AT"
regs_before=-1
[[ $CORE == udp ]] && regs_before=$(core_registers)
old_rss=$(rss "$old_pid")
rm -f "$OUT/new.pid"
# Both processes' VmRSS every 50 ms until the old one is gone (at most 30 s), by one process started before the
# new one: forking a reader per sample would take CPU from the hand-over it measures.
python3 - "$old_pid" "$OUT/new.pid" >"$OUT/peaks.txt" <<'PY' &
import os, sys, time
def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(l.split()[1]) for l in f if l.startswith("VmRSS")), 0)
    except (OSError, ValueError):
        return 0
old, new_file, peaks = sys.argv[1], sys.argv[2], [0, 0]
for _ in range(600):
    if not os.path.exists(f"/proc/{old}"):
        break
    peaks[0] = max(peaks[0], rss(old))
    if os.path.exists(new_file):
        peaks[1] = max(peaks[1], rss(open(new_file).read().strip() or 0))
    time.sleep(0.05)
print(*peaks)
PY
sampler=$!
sleep 0.5
spawn "$repo_root/target/release/sipedged" --config "$cfg" --take-over >"$OUT/new.log" 2>&1
new_pid=$spawned_pid
echo "$new_pid" >"$OUT/new.pid"
wait "$sampler" || true
read -r peak_old peak_new <"$OUT/peaks.txt"
((peak_old > old_rss)) || peak_old=$old_rss
# Still there after 30 s: the hand-over did not happen (reported below); stopped so that this run ends.
kill -0 "$old_pid" 2>/dev/null && kill "$old_pid"
if wait "$old_pid"; then old_status=0; else old_status=$?; fi
# The old node's report, without the log's colours.
line=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/old.log" | grep -a 'handed over pid' | tail -1 || true)
moved=$(sed -n 's/.*connections=\([0-9]*\).*/\1/p' <<<"$line")
pause=$(sed -n 's/.*pause=\([0-9.]*[a-zµ]*\).*/\1/p' <<<"$line")
if [[ $old_status == 0 && ${moved:-0} -ge $CLIENTS ]]; then
  report "PASS the old node handed ${moved} WebSockets over in ${pause} and exited 0"
else
  report "FAIL the old node: exit $old_status, handed over ${moved:-none}: $line"
  fail=1
fi
# The new node's admin endpoint comes up once the old one has released the port.
wait_tcp "$admin"
now=$(open_connections 2>/dev/null || echo 0)
if [[ $now -ge $CLIENTS ]]; then
  report "PASS the new node holds $now WebSockets"
else
  report "FAIL the new node holds $now of $CLIENTS WebSockets"
  fail=1
fi
if [[ $CORE == udp ]]; then
  sleep 2
  regs_after=$(core_registers)
  if ((regs_before >= CLIENTS && regs_after == regs_before)); then
    report "PASS the core accepted $regs_before REGISTERs before the hand-over and none from it to 2 s after"
  else
    report "FAIL the core's accepted REGISTERs: $regs_before before the hand-over, $regs_after 2 s after"
    fail=1
  fi
fi
report "handover: memory before $((old_rss / 1024)) MiB (old); peak during it $((peak_old / 1024)) MiB (old), $((peak_new / 1024)) MiB (new); after $(( $(rss "$new_pid") / 1024 )) MiB (new)"
for i in "${!runs[@]}"; do
  name=${runs[$i]}
  wait "${load_pids[$i]}" || { report "FAIL sipload ($name) exited non-zero"; fail=1; }
  cat "$OUT/sipload-$name.txt" >>"$OUT/handover.txt"
  python3 - "$OUT/sipload-$name.json" "$name" <<'PY' | tee -a "$OUT/handover.txt" || fail=1
import json, sys
r = json.load(open(sys.argv[1]))
tx = r.get("transactions", {})
bad = {"connections failed": r.get("connections_failed", 0), "messages failed": r.get("messages_failed", 0),
       "timed out": sum(t.get("timed_out", 0) for t in tx.values())}
errors = r.get("errors") or {}
ok = r.get("messages_ok", 0)
lat = tx.get("MESSAGE", {}).get("latency", {})
verdict = "PASS" if ok > 0 and not any(bad.values()) and not errors else "FAIL"
print(f"{verdict} across the hand-over ({sys.argv[2]}://): {ok} transactions ok, " + ", ".join(f"{k} {v}" for k, v in bad.items())
      + f", errors {errors or 'none'} (a WebSocket closed would be one); MESSAGE latency p50 "
      + f"{lat.get('p50_us', 0) / 1000:.1f} ms, p99 {lat.get('p99_us', 0) / 1000:.1f} ms, max {lat.get('max_us', 0) / 1000:.1f} ms")
sys.exit(0 if verdict == "PASS" else 1)
PY
done
stop_pids "$new_pid"
exit $fail
