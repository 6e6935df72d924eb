#!/usr/bin/env bash
# SIP capture of a browser run, decoded by a real HEP collector: sngrep listens for HEP v3 and writes a pcap,
# sipedge standalone captures to it ([capture] with a password), and run.mjs drives JsSIP and SIP.js in Chromium
# through sipedge (register, a UTF-8 MESSAGE, a call, hang-up, unregister). tools/benchlib_capture.py then holds
# the pcap against the node's /metrics before and after the run: every HEP packet the node sent was decoded (none
# dropped), the browsers' requests by method are the ones the node counted, and the MESSAGE text is in it.
# Needs Debian's sngrep and chromium, node with tools/browser's packages; starts and stops its own processes on
# free loopback ports.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
command -v sngrep >/dev/null || { echo "capture: sngrep not found (Debian sngrep)" >&2; exit 1; }
ensure_built "$sipedged_bin" sipedged
cd "$here"
[ -f dist/jssip-client.js ] || node build.mjs

hep=$(free_udp_pair)
password=capture-secret
printf 'set eep.listen.pass %s\n' "$password" >"$work/sngreprc"
spawn sngrep -F -f "$work/sngreprc" -N -q -L "udp:127.0.0.1:$hep" -O "$work/capture.pcap"
sngrep_pid=$spawned_pid
for _ in $(seq 100); do
  grep -q ":$(printf '%04X' "$hep") " /proc/net/udp && break
  sleep 0.05
done

port=$(free_port)
admin=$(free_port)
cat >"$work/capture.toml" <<TOML
[[listen]]
address = "127.0.0.1:$port"
[runtime]
workers = 2
[admin]
listen = "127.0.0.1:$admin"
[capture]
hep = "127.0.0.1:$hep"
password = "$password"
TOML
start_sipedged "$work/capture.log" "$port" --config "$work/capture.toml"
python3 "$benchlib" metrics "$admin" "$work/before.json"
status=0
node run.mjs --ws "ws://127.0.0.1:$port" --stacks jssip,sipjs --label capture || status=1
# The capture thread sends what the workers queued within milliseconds; then sngrep flushes its pcap on SIGINT.
sleep 1
python3 "$benchlib" metrics "$admin" "$work/after.json"
kill -INT "$sngrep_pid"
timeout 5 tail --pid="$sngrep_pid" -f /dev/null || true
python3 "$here/../benchlib_capture.py" check "$work/capture.pcap" "$work/before.json" "$work/after.json" \
  'héllo ✓ 日本 — Grüße 🎉' || status=1
exit $status
