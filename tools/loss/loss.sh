#!/usr/bin/env bash
# A lossy path to a UDP core: sipedged in edge mode in front of Kamailio (deploy/kamailio/core.cfg), the core in a
# network namespace of its own behind a veth pair, where nftables drops LOSS % of the SIP datagrams at random in each
# direction. Browsers never retransmit over their WebSocket; the edge's client transactions must (RFC 3261 Timers
# A/E), so that nothing is lost.
#
#   tools/loss/loss.sh                 # CLIENTS=10000 LOSS=5 RAMP=5000/s RATE=1000 SECS=10
#   OUT=docs/bench/loss tools/loss/loss.sh
#
# Runs a MESSAGE run between registered pairs (RATE per second for SECS seconds), then a REGISTER burst of CLIENTS
# clients (each registers, then refreshes once). Pass: 0 failed transactions in both, and the
# retransmissions that made up for the drops counted in /metrics (sipedge_core_retransmissions_total).
# Needs root (ip netns, nft) and Debian's nftables. Every process and the namespace are removed on exit.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"
cd "$repo_root"
CLIENTS=${CLIENTS:-10000}
LOSS=${LOSS:-5}
RAMP=${RAMP:-5000/s}
RATE=${RATE:-1000}
SECS=${SECS:-10}
OUT=${OUT:-target/loss}
abs_dirs OUT

ns=sipedge-loss-$$
host_if=sl$$h
core_if=sl$$c
net=10.203.$(($$ % 250)).
host_ip=${net}1
core_ip=${net}2

nft_table=sipedge_loss_$$
# shellcheck disable=SC2317 # called by the EXIT trap
remove_namespace() {
  nft delete table netdev "$nft_table" 2>/dev/null || true
  ip link del "$host_if" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
}
trap 'cleanup_spawned; remove_namespace' EXIT

command -v nft >/dev/null || { echo "loss: nft not found (Debian package nftables)" >&2; exit 1; }
build_release 1800 sipedged sipload

ip netns add "$ns"
ip link add "$host_if" type veth peer name "$core_if"
ip link set "$core_if" netns "$ns"
ip addr add "$host_ip/24" dev "$host_if"
ip link set "$host_if" up
ip netns exec "$ns" ip addr add "$core_ip/24" dev "$core_if"
ip netns exec "$ns" ip link set "$core_if" up
ip netns exec "$ns" ip link set lo up
# LOSS % of the datagrams to the core and of those from it, each drawn at random, dropped as they arrive at the
# far end of the veth pair (at ingress: a drop on the sending side would fail the sender's sendmsg instead).
ip netns exec "$ns" nft -f - <<NFT
table netdev loss {
  chain in { type filter hook ingress device "$core_if" priority 0; udp dport 5060 numgen random mod 100 < $LOSS drop; }
}
NFT
nft -f - <<NFT
table netdev $nft_table {
  chain in { type filter hook ingress device "$host_if" priority 0; udp sport 5060 numgen random mod 100 < $LOSS drop; }
}
NFT

kamailio_log=$OUT/kamailio.log
ip netns exec "$ns" kamailio -m 512 -f "$repo_root/deploy/kamailio/core.cfg" -P "$work/kamailio.pid" \
  -A "CORE_LISTEN=udp:$core_ip:5060" -A CORE_FR_TIMER=32000 -E >"$kamailio_log" 2>&1   # stopped at exit by its pid file

port=$(free_port)
admin=$(free_port)
local_port=$(free_udp_pair)
cat >"$OUT/sipedge.toml" <<TOML
[[listen]]
address = "127.0.0.1:$port"
[core]
uri = "sip:$core_ip:5060;transport=udp"
local_address = "$host_ip:$local_port"
[runtime]
workers = 2
[limits]
max_connections = $((CLIENTS + 1000))
[admin]
listen = "127.0.0.1:$admin"
TOML
start_sipedged "$OUT/sipedged.log" "$port" --config "$OUT/sipedge.toml"
echo "loss: $LOSS% each way between sipedged ($host_ip) and Kamailio ($core_ip, namespace $ns)" | tee "$OUT/loss.txt"

# A transaction counts as lost only once SIP itself would give up on it: 32 s, RFC 3261's Timer F (64 x T1).
common=(--target "ws://127.0.0.1:$port/" --procs 2 --sources 127.0.0.2-127.0.0.9 --tx-timeout 32)
status=0
# The MESSAGE run first: the burst's clients stay registered after it (their flows closed), and a MESSAGE to one
# of their users could reach a stale binding (430) rather than its new one. Each connection lingers 10 s after
# its own traffic: its partner's last MESSAGE may still be on its way, retransmitted.
pairs=$((CLIENTS < 1000 ? CLIENTS : 1000))
timeout $((SECS + 180)) target/release/sipload message "${common[@]}" --connections "$pairs" --ramp "$RAMP" \
  --rate "$RATE" --duration "$SECS" --linger 10 --json "$OUT/message.json" | tee "$OUT/message.txt" || status=1
timeout $((CLIENTS / 500 + 180)) target/release/sipload register "${common[@]}" --connections "$CLIENTS" \
  --ramp "$RAMP" --hold 0 --duration 0 --json "$OUT/register.json" | tee "$OUT/register.txt" || status=1
python3 "$benchlib" metrics "$admin" "$OUT/metrics.json"
python3 "$benchlib" loss "$OUT" | tee -a "$OUT/loss.txt" || status=1
exit $status
