#!/usr/bin/env bash
# A small carrier site in a network namespace of its own (issue 23): browsers (sipload clients) reach two sipedged
# edge nodes through HAProxy in TCP mode with PROXY protocol v2; the nodes reach two Kamailio cores sharing their
# registrations through DMQ (dmq + dmq_usrloc) by DNS SRV (dnsmasq). Every host has its own address on the
# namespace's loopback:
#
#   10.23.0.1N     HAProxy instance N (TCP, send-proxy-v2; LBS of them, each holding at most PER_LB clients,
#                  since one process is bounded by the 20,000 open files allowed here: two per client)
#   10.23.0.31/32  edge nodes 1 and 2 (node_id 1 and 2, one flow_token_secret; [[listen]] proxy_protocol with
#                  the HAProxy instances as trusted_proxies; [core] local_address / advertise_host their own)
#   10.23.0.21/22  cores 1 and 2 (deploy/kamailio/core.cfg with CORE_DMQ)
#   10.23.0.53     dnsmasq: node 1 resolves cores-a.test (SRV: core 1 first), node 2 cores-b.test (core 2 first)
#   10.23.1.1-16   the cross-node clients (sipload mix: MESSAGEs and calls, BLEND and CALL_SECS): HAProxy sends
#                  odd addresses to node 1 and even ones to node 2, and a sipload worker takes its sources in
#                  turn, so client 2k sits on node 1, its partner 2k+1 on node 2 (and on another core)
#   10.23.2.1-4    residents of node 2 (their own pairs, MESSAGEs and calls); 10.23.3.1-4 residents of node 1, from
#                  its restart
#
# When the chosen node is down, HAProxy ignores the address rule and balances: clients go to the node that is up.
# The scenario, with T0 once every client has registered:
#   T0 + GAP        (a) node 1 gets SIGKILL: its clients reconnect through HAProxy to node 2 and register again
#   + GAP/2         node 1 is started again; the node 1 residents connect
#   T0 + 2 GAP + 2  (b) node 2 gets SIGTERM (drain: close 1001): every client it holds moves to node 1
#   + GAP           (c) core 1 gets SIGKILL: node 1 fails over to core 2, which holds every binding through DMQ
# The cross-node clients reconnect (sipload --reconnect); the residents do not: any break of theirs is a failure.
# Before the load, a JsSIP pair in Chromium (tools/browser/run.mjs; BROWSER=0 leaves it out) registers through
# HAProxy, one user on each node, and exchanges a MESSAGE and a call through the cores (10.23.9.1: a veth address
# for the browsers' ICE candidates).
# Every client waits TX_TIMEOUT s (default 32, JsSIP's Timer F) for a final response; one that waits in vain for
# the answer to its REGISTER drops the connection and reconnects.
#
#   tools/cluster/cluster.sh                                       # CLIENTS=400 RESIDENTS=100, a browser pair, about 45 s
#   CLIENTS=20100 RESIDENTS=500 RES_RATE=100 RATE=400 GAP=20 RECONNECT_TARGET=20 OUT=docs/bench/cluster \
#     tools/cluster/cluster.sh                                     # the full-size run of docs/bench/cluster.md
#   TLS=1 ...                                                      # wss:// (a test CA's certificate on both nodes;
#                                                                  # no browser pair): every reconnect a TLS handshake
#
# Pass (exit 0): tools/benchlib_cluster.py judges the runs (the checks are listed in docs/bench/cluster.md).
# Needs root (the namespace) and Debian's haproxy, kamailio and dnsmasq (dnsmasq-base); the browser pair Debian's
# chromium and node with tools/browser's packages (npm ci).
set -euo pipefail
if [[ ${1:-} != --inside ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "cluster: needs root (a network namespace of its own)" >&2; exit 1; }
  for tool in haproxy kamailio kamcmd dnsmasq ip unshare; do
    command -v "$tool" >/dev/null || { echo "cluster: $tool not found (Debian haproxy, kamailio, dnsmasq-base)" >&2; exit 1; }
  done
  # Everything below runs in the new namespace: it and every address in it are gone when the script ends.
  exec unshare --net "$0" --inside "$@"
fi
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$repo_root"
CLIENTS=${CLIENTS:-400}
RESIDENTS=${RESIDENTS:-100}
RATE=${RATE:-100}
RES_RATE=${RES_RATE:-50}
RAMP=${RAMP:-1000/s}
GAP=${GAP:-8}
PER_LB=${PER_LB:-7000}
RECONNECT_TARGET=${RECONNECT_TARGET:-10}
CORE_SHM=${CORE_SHM:-1024}
CORE_RCVBUF=${CORE_RCVBUF:-4194304}
NODE_RCVBUF=${NODE_RCVBUF:-4194304}
TX_TIMEOUT=${TX_TIMEOUT:-32}
BLEND=${BLEND:-80:20}
CALL_SECS=${CALL_SECS:-1}
HANDSHAKE_RATE=${HANDSHAKE_RATE:-0}
RECONNECTS=${RECONNECTS:-20}
TLS=${TLS:-0}
PROBE_SECS=1
OUT=${OUT:-target/cluster}
abs_dirs OUT
cluster_py=$repo_root/tools/benchlib_cluster.py
failover_py=$repo_root/tools/benchlib_failover.py
lbs=$(((CLIENTS + PER_LB - 1) / PER_LB))
# A multiple of 32 per run: each of its (one or two) workers' shares starts at an even client, and takes 8 or 16
# sources, odd and even in turn.
per_run=$((CLIENTS / lbs / 32 * 32))
((per_run >= 32)) || { echo "cluster: CLIENTS too small (at least 32)" >&2; exit 2; }
procs=$((per_run > 3000 ? 2 : 1))
ramp_per_run=$((${RAMP%/s} / lbs))
ramp_secs=$(((per_run + ramp_per_run - 1) / ramp_per_run))
core_ip=("" 10.23.0.21 10.23.0.22)
node_ip=("" 10.23.0.31 10.23.0.32)
node_pid=("" "" "")
core_pid=("" "" "")
lb_ips=()
for ((i = 0; i < lbs; i++)); do lb_ips+=("10.23.0.$((10 + i))"); done

ip link set lo up
for a in "${core_ip[@]:1}" "${node_ip[@]:1}" "${lb_ips[@]}" 10.23.0.53 10.23.1.{1..16} 10.23.{2,3}.{1..4}; do
  ip addr add "$a/32" dev lo
done

# Core N in a session of its own (SIGKILL reaches every Kamailio process), as tools/failover/failover.sh does; its
# UDP receive buffer may grow to CORE_RCVBUF (Kamailio's -b; its own default stops at 256 KiB).
start_core() {
  local n=$1 ip=${core_ip[$1]} peer=${core_ip[3 - $1]}
  setsid kamailio -DD -E -m "$CORE_SHM" -M 16 -b "$CORE_RCVBUF" -f "$repo_root/deploy/kamailio/core.cfg" -A "CORE_LISTEN=udp:$ip:5060" \
    -A "CORE_DMQ=\"sip:$ip:5060\"" -A "CORE_DMQ_PEER=\"sip:$peer:5060\"" \
    -A "CORE_CTL=\"unix:$work/core$n.ctl\"" >>"$OUT/core$n.log" 2>&1 &
  core_pid[n]=$!
  python3 "$failover_py" options "$ip" 5060 10 || { echo "cluster: core $n does not answer (see $OUT/core$n.log)" >&2; exit 1; }
}

# SIG to core N's process group, then reap it.
stop_core() {
  local sig=$1 n=$2 pid=${core_pid[$2]}
  [[ -n $pid ]] || return 0
  kill "-$sig" -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  core_pid[n]=""
}

# The addresses of record core N holds.
bindings() {
  kamcmd -s "unix:$work/core$1.ctl" stats.get_statistics location_users 2>/dev/null | awk '{print $NF; f=1} END {if (!f) print 0}'
}

# Edge node N (its configuration written once), until it listens.
start_node() {
  local n=$1
  "$sipedged_bin" --config "$OUT/node$n.toml" >>"$OUT/node$n.log" 2>&1 &
  node_pid[n]=$!
  # Out of the job table: its SIGKILL is no job notice (the shell still reaps it).
  disown "$!"
  python3 "$cluster_py" wait-tcp "${node_ip[n]}" 8080 10
}

# SIG to node N and wait (15 s at most: the drain's grace and a little, then SIGKILL) until it is gone.
stop_node() {
  local sig=$1 n=$2 pid=${node_pid[$2]}
  [[ -n $pid ]] || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  timeout 15 tail --pid="$pid" -f /dev/null || kill -KILL "$pid" 2>/dev/null || true
  node_pid[n]=""
}

# A node's series (summed over labels) in $OUT/metrics.txt, one line: NAME VALUE... for `at`.
sample_nodes() {
  local at=$1 n
  for n in 1 2; do
    [[ -n ${node_pid[n]} ]] || continue
    echo "$at node$n $(python3 "$cluster_py" metrics "${node_ip[n]}:9090")" >>"$OUT/metrics.txt"
  done
}

# Sleeps until DEADLINE (unix seconds).
sleep_until() { python3 -c "import sys, time; time.sleep(max(0.0, float(sys.argv[1]) - time.time()))" "$1"; }

event() { echo "$1 $(date +%s.%N)" >>"$OUT/events.txt"; }

# shellcheck disable=SC2317 # called by the EXIT trap
stop_all() {
  stop_node KILL 1
  stop_node KILL 2
  stop_core TERM 1
  stop_core TERM 2
}
trap 'stop_all; cleanup_spawned' EXIT

build_release 1800 sipedged sipload
rm -f "$OUT"/{events.txt,bindings.txt,metrics.txt,*.json,*.log,*.txt,*.cfg,*.toml}

spawn dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --listen-address=10.23.0.53 \
  --bind-interfaces --port=53 --log-facility=- --local-ttl=2 \
  --naptr-record=cores-a.test,10,50,s,SIP+D2U,,_sip._udp.cores-a.test \
  --naptr-record=cores-b.test,10,50,s,SIP+D2U,,_sip._udp.cores-b.test \
  --srv-host=_sip._udp.cores-a.test,core1.site.test,5060,10,50 \
  --srv-host=_sip._udp.cores-a.test,core2.site.test,5060,20,50 \
  --srv-host=_sip._udp.cores-b.test,core2.site.test,5060,10,50 \
  --srv-host=_sip._udp.cores-b.test,core1.site.test,5060,20,50 \
  --host-record="core1.site.test,${core_ip[1]}" --host-record="core2.site.test,${core_ip[2]}" >"$OUT/dnsmasq.log" 2>&1
start_core 1
start_core 2
python3 "$cluster_py" wait-dmq "$work/core1.ctl" "$work/core2.ctl" 10

# wss:// (TLS=1): a test CA and one certificate for both nodes, naming the balancers' addresses (what clients dial).
scheme=ws
tls_line=""
tls_args=()
if [[ $TLS == 1 ]]; then
  scheme=wss
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=cluster-ca \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=site.test \
    -keyout "$work/edge.key" -out "$work/edge.csr" 2>/dev/null
  sans=$(printf 'IP:%s,' "${lb_ips[@]}")
  printf 'subjectAltName=%sDNS:site.test\nbasicConstraints=critical,CA:FALSE\n' "$sans" >"$work/edge.ext"
  openssl x509 -req -in "$work/edge.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -extfile "$work/edge.ext" -out "$work/edge.pem" 2>/dev/null
  tls_line="tls = { cert = \"$work/edge.pem\", key = \"$work/edge.key\" }"
  tls_args=(--ca "$work/ca.pem")
fi
secret=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
proxies=$(printf '"%s", ' "${lb_ips[@]}")
for n in 1 2; do
  cat >"$OUT/node$n.toml" <<TOML
[[listen]]
address = "${node_ip[n]}:8080"
proxy_protocol = true
advertise = "site.test:8080"
$tls_line
[core]
uri = "sip:cores-$([[ $n == 1 ]] && echo a || echo b).test"
name_servers = ["10.23.0.53:53"]
probe_interval = "${PROBE_SECS}s"
probe_timeout = "500ms"
down_after = 1
up_after = 2
local_address = "${node_ip[n]}:5070"
udp_receive_buffer = $NODE_RCVBUF
advertise_host = "${node_ip[n]}"
[sip]
node_id = $n
flow_token_secret = "$secret"
[runtime]
workers = 2
shutdown_grace = "5s"
[limits]
max_connections = $((CLIENTS + 4 * RESIDENTS + 1000))
trusted_proxies = [${proxies%, }]
handshakes_per_second = $HANDSHAKE_RATE
[admin]
enabled = true
listen = "${node_ip[n]}:9090"
TOML
  start_node "$n"
done

# HAProxy: odd client addresses and the node 1 residents to node 1, the rest to node 2, while that node is up.
odd=$(printf '10.23.1.%s ' 1 3 5 7 9 11 13 15)
for ((i = 0; i < lbs; i++)); do
  cat >"$OUT/haproxy$i.cfg" <<CFG
global
  maxconn 9000
  stats socket $work/haproxy$i.sock mode 600 level admin
defaults
  mode tcp
  timeout connect 2s
  timeout client 10m
  timeout server 10m
  retries 3
  option redispatch 1
frontend browsers
  bind ${lb_ips[i]}:8080
  default_backend edges
backend edges
  balance leastconn
  source ${lb_ips[i]}
  use-server node1 if { src ${odd}10.23.3.0/24 }
  use-server node2 if { src 10.23.1.0/24 10.23.2.0/24 }
  server node1 ${node_ip[1]}:8080 send-proxy-v2 check check-send-proxy inter 500ms fall 1 rise 2
  server node2 ${node_ip[2]}:8080 send-proxy-v2 check check-send-proxy inter 500ms fall 1 rise 2
CFG
  spawn haproxy -db -f "$OUT/haproxy$i.cfg" >"$OUT/haproxy$i.log" 2>&1
  python3 "$cluster_py" wait-tcp "${lb_ips[i]}" 8080 10
  python3 "$cluster_py" lb-up "$work/haproxy$i.sock" 10 node1 node2
done

# Node N's /metrics as it serves them.
raw_metrics() {
  python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
    "http://${node_ip[$1]}:9090/metrics"
}

# A JsSIP pair in Chromium (tools/browser/run.mjs, run in this namespace, its page served on 127.0.0.1) through
# HAProxy before the load: two users register, exchange a MESSAGE and make a call. The browsers' source address is
# the balancer's own, which no use-server rule names, so HAProxy balances them (leastconn) over the nodes. Chromium
# gathers no ICE candidate on a loopback interface, and JsSIP sends no INVITE without one: a veth pair (media0,
# 10.23.9.1) gives it a host candidate. What each node counted during the run (WebSocket upgrades, SIP requests by
# method: the difference of its /metrics before and after) goes to $OUT/browser.txt.
browser_pair() {
  local n rc=0
  [[ -f tools/browser/dist/jssip-client.js ]] || (cd tools/browser && node build.mjs)
  ip link add media0 type veth peer name media1
  ip addr add 10.23.9.1/24 dev media0
  ip link set media0 up
  ip link set media1 up
  for n in 1 2; do raw_metrics "$n" >"$work/browser-before$n.txt"; done
  timeout 90 node tools/browser/run.mjs --ws "ws://${lb_ips[0]}:8080" --stacks jssip --label cluster \
    --extensions permessage-deflate >"$OUT/browser.txt" 2>&1 || rc=$?
  for n in 1 2; do
    raw_metrics "$n" |
      awk -v n="$n" 'NR == FNR { was[$1] = $2; next }
        $1 ~ /^sipedge_(websocket_upgrades|sip_requests)_total/ && $2 - was[$1] > 0 {
          k = $1; sub(/^sipedge_/, "", k); gsub(/_total|"/, "", k); d = d " " k "=" ($2 - was[$1]) }
        END { print "node" n " during the browser run:" (d == "" ? " nothing" : d) }' "$work/browser-before$n.txt" - \
      >>"$OUT/browser.txt"
  done
  # HAProxy's leastconn sends the second browser to the node the first one did not take.
  if (($(grep -c '^node. during the browser run:.* websocket_upgrades' "$OUT/browser.txt") == 2)); then
    echo "PASS browsers: one on each node" >>"$OUT/browser.txt"
  else
    echo "FAIL browsers: not one on each node" >>"$OUT/browser.txt"
    rc=1
  fi
  cat "$OUT/browser.txt"
  ((rc == 0)) || { echo "cluster: the browser pair failed (see $OUT/browser.txt, node*.log, core*.log)" >&2; exit 1; }
}
# The browser pair speaks ws:// (its page trusts no test CA).
[[ ${BROWSER:-1} == 0 || $TLS == 1 ]] || browser_pair

# The timeline (seconds after T0) and each run's traffic phase.
t_a=$GAP
t_restart=$((t_a + GAP / 2))
t_b=$((2 * GAP + 2))
t_c=$((t_b + GAP))
t_end=$((t_c + GAP))
{
  echo "clients $((per_run * lbs)) residents $RESIDENTS lbs $lbs procs $procs gap $GAP rate $RATE res_rate $RES_RATE"
  echo "reconnect_target $RECONNECT_TARGET probe $PROBE_SECS handshake_rate $HANDSHAKE_RATE blend $BLEND tls $TLS"
} >"$OUT/setup.txt"
common=("${tls_args[@]}" --blend "$BLEND" --call-secs "$CALL_SECS" --expires 600 --tx-timeout "$TX_TIMEOUT" --linger 2
  --sources)
started=$(date +%s)
t0=$((started + ramp_secs + 2))
pids=()
for ((i = 0; i < lbs; i++)); do
  spawn target/release/sipload mix --target "$scheme://${lb_ips[i]}:8080/" --connections "$per_run" \
    --procs "$procs" --ramp "${ramp_per_run}/s" --rate "$((RATE / lbs + 1))/s" --user-prefix "x${i}u" \
    --reconnect "$RECONNECTS" --duration $((t_end + 1)) --time-limit $((ramp_secs * 2 + t_end + 90)) \
    "${common[@]}" 10.23.1.1-10.23.1.16 --json "$OUT/cross$i.json" >"$OUT/cross$i.txt" 2>&1
  pids+=("$spawned_pid")
done
# The node 2 residents: traffic from about T0 until before the drain of node 2.
spawn target/release/sipload mix --target "$scheme://${lb_ips[0]}:8080/" --connections "$RESIDENTS" \
  --ramp 1000/s --hold "$ramp_secs" --rate "$RES_RATE/s" --user-prefix r2u --duration $((t_b - 3)) \
  "${common[@]}" 10.23.2.1-10.23.2.4 --json "$OUT/resident2.json" >"$OUT/resident2.txt" 2>&1
pids+=("$spawned_pid")

sleep_until "$t0"
sample_nodes before_a
{
  echo "before_a core1 $(bindings 1)"
  echo "before_a core2 $(bindings 2)"
} >>"$OUT/bindings.txt"
sleep_until $((t0 + t_a))
event kill_node1
stop_node KILL 1
sleep_until $((t0 + t_restart))
sample_nodes after_a
event restart_node1
start_node 1
python3 "$cluster_py" lb-up "$work/haproxy0.sock" 10 node1
# The node 1 residents: traffic from now until before core 1 is killed.
spawn target/release/sipload mix --target "$scheme://${lb_ips[0]}:8080/" --connections "$RESIDENTS" \
  --ramp 1000/s --rate "$RES_RATE/s" --user-prefix r1u --duration $((t_c - t_restart - 6)) \
  "${common[@]}" 10.23.3.1-10.23.3.4 --json "$OUT/resident1.json" >"$OUT/resident1.txt" 2>&1
pids+=("$spawned_pid")
sleep_until $((t0 + t_b))
sample_nodes before_b
event drain_node2
stop_node TERM 2
sleep_until $((t0 + t_c))
sample_nodes before_c
{
  echo "before_c core1 $(bindings 1)"
  echo "before_c core2 $(bindings 2)"
} >>"$OUT/bindings.txt"
event kill_core1
stop_core KILL 1
sleep 2
echo "after_c core2 $(bindings 2)" >>"$OUT/bindings.txt"

for p in "${pids[@]}"; do wait "$p" || true; done
sample_nodes end
# The namespace's UDP counters (every SIP hop between the nodes and the cores): RcvbufErrors are datagrams a full
# socket buffer dropped; then each socket's drops (the last column of /proc/net/udp) by its local address.
{
  grep '^Udp:' /proc/net/snmp
  python3 "$cluster_py" udp-drops </proc/net/udp
} >"$OUT/udp.txt"
stop_pids "${pids[@]}"
status=0
python3 "$cluster_py" report "$OUT" | tee "$OUT/cluster.txt" || status=1
exit $status
