#!/usr/bin/env bash
# Failover between two clustered SIP cores (issue 20, "two Kamailio cores"): sipedged in edge mode reaches its
# core by a DNS name (RFC 3263: NAPTR -> SRV -> A, served by dnsmasq), whose SRV records name core 1 (priority 10)
# and core 2 (priority 20), two Kamailio processes (deploy/kamailio/core.cfg) sharing their registrations through
# DMQ (dmq + dmq_usrloc). Under a steady load, core 1 is killed (SIGKILL, its whole process group), then started
# again. The load is two sipload runs side by side: CLIENTS clients exchanging MESSAGE in pairs at RATE per
# second (registered for MSG_EXPIRES s), and REG_CLIENTS other clients (users rgN) that only keep registered,
# refreshing every EXPIRES x 50-75% seconds: a steady REGISTER load.
#
#   tools/failover/failover.sh          # CLIENTS=1000 REG_CLIENTS=1000 RATE=500 SECS=30, kill at 30% of SECS,
#                                       # restart at 60%
#   OUT=docs/bench/failover tools/failover/failover.sh
#   CLIENTS=200 REG_CLIENTS=200 RATE=200 SECS=10 NO_BUILD=1 tools/failover/failover.sh   # the run of .ci/run
#
# Pass (exit 0): every binding saved through core 1 is on core 2 before the kill; core 1 takes every request
# before the kill (priority); after the kill core 1 is marked down and gets its last request within two probe
# intervals, every later request going to core 2; the only failed transactions began between a second before
# the kill and that switch-over (in flight then), none after; restarted, core 1 is marked up and takes the new
# requests back, core 2 none. The figures come from sipedged's /metrics sampled every 100 ms, its "core target
# down/up" log lines and sipload's failures by start time (tools/benchlib_failover.py). Everything listens on
# loopback; every process is stopped on exit. Needs Debian's kamailio and dnsmasq (dnsmasq-base).
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$repo_root"
CLIENTS=${CLIENTS:-1000}
REG_CLIENTS=${REG_CLIENTS:-$CLIENTS}
RATE=${RATE:-500}
SECS=${SECS:-30}
RAMP=${RAMP:-2000/s}
KILL_AT=${KILL_AT:-$((SECS * 3 / 10))}
RESTART_AT=${RESTART_AT:-$((SECS * 6 / 10))}
PROBE_SECS=${PROBE_SECS:-1}
EXPIRES=${EXPIRES:-10}
MSG_EXPIRES=${MSG_EXPIRES:-600}
TX_TIMEOUT=${TX_TIMEOUT:-5}
# kill: SIGKILL to core 1, started again later (a crash: its port closed, so the edge's probes meet ICMP port
# unreachable). stop: SIGSTOP, SIGCONT later (a hung node: nothing answers, the probes time out).
FAULT=${FAULT:-kill}
CORE1=${CORE1:-127.0.0.21}
CORE2=${CORE2:-127.0.0.22}
CORE_PORT=${CORE_PORT:-5060}
OUT=${OUT:-target/failover}
abs_dirs OUT
failover_py=$repo_root/tools/benchlib_failover.py
core_ip=("" "$CORE1" "$CORE2")
core_pid=("" "" "")

for tool in kamailio kamcmd dnsmasq; do
  command -v "$tool" >/dev/null || { echo "failover: $tool not found (Debian kamailio, dnsmasq-base)" >&2; exit 1; }
done
[[ $FAULT == kill || $FAULT == stop ]] || { echo "failover: FAULT is kill or stop, not $FAULT" >&2; exit 2; }
if ((KILL_AT < 2 || RESTART_AT <= KILL_AT || RESTART_AT + 3 > SECS)); then
  echo "failover: needs 2 <= KILL_AT < RESTART_AT <= SECS - 3 (got $KILL_AT, $RESTART_AT, $SECS)" >&2
  exit 2
fi

# Core N (1 or 2) in a session of its own, so that SIGKILL reaches every Kamailio process at once, as when the
# node dies. It announces itself to the other core over DMQ and answers OPTIONS once it listens.
start_node() {
  local n=$1 peer=${core_ip[3 - $1]} ip=${core_ip[$1]}
  setsid kamailio -DD -E -m 256 -f "$repo_root/deploy/kamailio/core.cfg" -A "CORE_LISTEN=udp:$ip:$CORE_PORT" \
    -A "CORE_DMQ=\"sip:$ip:$CORE_PORT\"" -A "CORE_DMQ_PEER=\"sip:$peer:$CORE_PORT\"" \
    -A "CORE_CTL=\"unix:$work/core$n.ctl\"" >>"$OUT/core$n.log" 2>&1 &
  core_pid[n]=$!
  if ! python3 "$failover_py" options "$ip" "$CORE_PORT" 10; then
    echo "failover: core $n does not answer OPTIONS on $ip:$CORE_PORT (address taken? see $OUT/core$n.log)" >&2
    exit 1
  fi
  if [[ $(ps -o pgid= -p "${core_pid[n]}" | tr -d ' ') != "${core_pid[n]}" ]]; then
    echo "failover: core $n (pid ${core_pid[n]}) leads no process group of its own" >&2
    exit 1
  fi
}

# SIG (TERM or KILL) to core N's process group (and CONT, should it be stopped), then reap it.
signal_node() {
  local sig=$1 n=$2 pid=${core_pid[$2]}
  [[ -n $pid ]] || return 0
  kill "-$sig" -- "-$pid" 2>/dev/null || true
  kill -CONT -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  core_pid[n]=""
}

# The addresses of record core N holds.
bindings() {
  kamcmd -s "unix:$work/core$1.ctl" stats.get_statistics location_users 2>/dev/null | awk '{print $NF; f=1} END {if (!f) print 0}'
}

# Each core lists itself and the other as active DMQ nodes.
wait_cluster() {
  local n
  for _ in $(seq 1 100); do
    for n in 1 2; do
      [[ $(kamcmd -s "unix:$work/core$n.ctl" dmq.list_nodes 2>/dev/null | grep -c 'status: active') -ge 2 ]] || break
      [[ $n == 2 ]] && return 0
    done
    sleep 0.1
  done
  echo "failover: the cores did not find each other over DMQ" >&2
  exit 1
}

# Sleeps until DEADLINE (unix seconds).
sleep_until() { python3 -c "import sys, time; time.sleep(max(0.0, float(sys.argv[1]) - time.time()))" "$1"; }

# shellcheck disable=SC2317 # called by the EXIT trap
stop_nodes() { signal_node TERM 1; signal_node TERM 2; }
trap 'stop_nodes; cleanup_spawned' EXIT

build_release 1800 sipedged sipload
rm -f "$OUT"/{samples.jsonl,events.txt,bindings.txt,message.json,register.json,core1.log,core2.log}

# RFC 3263 data for cores.test with short TTLs: NAPTR SIP+D2U -> _sip._udp SRV (10: core 1, 20: core 2) -> A.
dns=$(free_udp_pair)
spawn dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.1 \
  --bind-interfaces --port="$dns" --log-facility=- --local-ttl=2 \
  --naptr-record=cores.test,10,50,s,SIP+D2U,,_sip._udp.cores.test \
  --srv-host="_sip._udp.cores.test,core1.cores.test,$CORE_PORT,10,50" \
  --srv-host="_sip._udp.cores.test,core2.cores.test,$CORE_PORT,20,50" \
  --host-record="core1.cores.test,$CORE1" --host-record="core2.cores.test,$CORE2" >"$OUT/dnsmasq.log" 2>&1
for _ in $(seq 1 50); do grep -q 'started' "$OUT/dnsmasq.log" && break; sleep 0.1; done

start_node 1
start_node 2
wait_cluster

port=$(free_port)
admin=$(free_port)
local_port=$(free_udp_pair)
cat >"$OUT/sipedge.toml" <<TOML
[[listen]]
address = "127.0.0.1:$port"
[core]
uri = "sip:cores.test"
name_servers = ["127.0.0.1:$dns"]
probe_interval = "${PROBE_SECS}s"
probe_timeout = "500ms"
down_after = 1
up_after = 2
local_address = "127.0.0.1:$local_port"
[runtime]
workers = 2
[limits]
max_connections = $((CLIENTS + REG_CLIENTS + 1000))
[admin]
enabled = true
listen = "127.0.0.1:$admin"
TOML
start_sipedged "$OUT/sipedged.log" "$port" --config "$OUT/sipedge.toml"
python3 "$failover_py" wait-up "$admin" 10 "$CORE1:$CORE_PORT" "$CORE2:$CORE_PORT"
{
  echo "core1 $CORE1:$CORE_PORT"
  echo "core2 $CORE2:$CORE_PORT"
  echo "clients $((CLIENTS + REG_CLIENTS))"
} >"$OUT/events.txt"

ramp_secs=$(((CLIENTS + REG_CLIENTS + ${RAMP%/s} - 1) / ${RAMP%/s}))
spawn python3 "$failover_py" watch "$admin" "$OUT/samples.jsonl" $((ramp_secs + SECS + 60))
watcher=$spawned_pid
started=$(date +%s)
common=(--target "ws://127.0.0.1:$port/" --procs 2 --sources 127.0.0.2-127.0.0.9 --ramp "$((${RAMP%/s} / 2))/s"
  --duration "$SECS" --tx-timeout "$TX_TIMEOUT" --time-limit $((ramp_secs * 2 + SECS + TX_TIMEOUT + 60)))
spawn target/release/sipload message "${common[@]}" --connections "$CLIENTS" --rate "$RATE" \
  --expires "$MSG_EXPIRES" --linger 2 --json "$OUT/message.json" >"$OUT/message.txt" 2>&1
message_load=$spawned_pid
spawn target/release/sipload register "${common[@]}" --connections "$REG_CLIENTS" --user-prefix rg \
  --expires "$EXPIRES" --json "$OUT/register.json" >"$OUT/register.txt" 2>&1
register_load=$spawned_pid

# The traffic phase begins once every client has registered (through core 1): about ramp_secs + 1 from now.
sleep_until $((started + ramp_secs + 1 + KILL_AT))
{
  echo "core1 $(bindings 1)"
  echo "core2 $(bindings 2)"
} >"$OUT/bindings.txt"
echo "kill $(date +%s.%N)" >>"$OUT/events.txt"
if [[ $FAULT == kill ]]; then signal_node KILL 1; else kill -STOP -- "-${core_pid[1]}"; fi
sleep_until $((started + ramp_secs + 1 + RESTART_AT))
echo "restart $(date +%s.%N)" >>"$OUT/events.txt"
if [[ $FAULT == kill ]]; then start_node 1; else kill -CONT -- "-${core_pid[1]}"; fi
sleep 1
echo "restarted $(bindings 1)" >>"$OUT/bindings.txt"

wait "$message_load" || true
wait "$register_load" || true
stop_pids "$message_load" "$register_load" "$watcher"
python3 "$benchlib" metrics "$admin" "$OUT/metrics.json"
{
  echo "failover: $CLIENTS clients exchanging $RATE MESSAGE/s and $REG_CLIENTS refreshing their registration" \
    "every ${EXPIRES}s x 50-75% for $SECS s; core 1 given SIG${FAULT^^} at ${KILL_AT}s and" \
    "$([[ $FAULT == kill ]] && echo started again || echo SIGCONT) at ${RESTART_AT}s of it; probes every ${PROBE_SECS}s"
  for run in message register; do
    echo "$run run:"
    grep -E '^(connections|transactions):|^  (MESSAGE|REGISTER) |^  error' "$OUT/$run.txt" || true
  done
} >"$OUT/failover.txt"
status=0
python3 "$failover_py" report "$OUT" "$PROBE_SECS" >>"$OUT/failover.txt" || status=1
cat "$OUT/failover.txt"
exit $status
