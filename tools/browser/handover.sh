#!/usr/bin/env bash
# An upgrade during a call, seen by real browser SIP stacks: JsSIP and SIP.js in Chromium (run.mjs) register with
# sipedge standalone, exchange a MESSAGE and set up a call; while the call is up a new sipedged takes the node over
# (`--take-over`, [runtime] handover_socket) and the old one exits. Asserted: no WebSocket closed or opened again,
# a MESSAGE after the hand-over arrives, alice's BYE ends bob's call, both unregister. Once per stack, each with
# its own pair of nodes; then again in edge mode in front of a Kamailio core over UDP (deploy/kamailio/core.cfg),
# where the MESSAGE and the BYE after the hand-over come from the core along the Path and Record-Route minted
# before it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
sipedged_bin=${SIPEDGED:-$sipedged_bin}
ensure_built "$sipedged_bin" sipedged
cd "$here"
[ -f dist/jssip-client.js ] || node build.mjs
fail=0
for mode in standalone edge; do
  if [[ $mode == edge ]]; then
    core=$(free_port)
    start_core "$core"
  fi
  for stack in jssip sipjs; do
    port=$(free_port)
    name=handover-$mode-$stack
    cfg=$work/$name.toml
    label=sipedge-handover
    cat >"$cfg" <<TOML
[[listen]]
address = "127.0.0.1:$port"
[runtime]
workers = 2
shutdown_grace = "2s"
handover_socket = "$work/$name.sock"
[admin]
enabled = false
TOML
    if [[ $mode == edge ]]; then
      label=sipedge-edge-handover
      cat >>"$cfg" <<TOML
[core]
uri = "sip:127.0.0.1:$core;transport=udp"
local_address = "127.0.0.1:$(free_udp_pair)"
TOML
    fi
    start_sipedged "$work/$name-old.log" "$port" --config "$cfg"
    old=$sipedged_pid
    # Starts the new process (it outlives the command) and returns once the old one exited.
    take_over="$sipedged_bin --config $cfg --take-over >$work/$name-new.log 2>&1 & echo \$! >$work/$name-new.pid; \
for _ in \$(seq 1 200); do kill -0 $old 2>/dev/null || exit 0; sleep 0.1; done; echo 'the old node did not exit'; exit 1"
    node run.mjs --ws "ws://127.0.0.1:$port" --stacks "$stack" --label "$label" --hand-over "$take_over" ||
      { fail=1; tail -20 "$work/$name-old.log"; tail -20 "$work/$name-new.log"; }
    # The old node's own report: both browsers' WebSockets went to the new process.
    if sed 's/\x1b\[[0-9;]*m//g' "$work/$name-old.log" | grep -aq 'handed over pid=[0-9]* connections=2 '; then
      echo "ok   $label $stack: the old node handed both WebSockets over"
    else
      echo "FAIL $label $stack: the old node did not hand both WebSockets over"; fail=1
    fi
    stop_pids "$old"
    [ -f "$work/$name-new.pid" ] && stop_pids "$(cat "$work/$name-new.pid")"
  done
  [[ $mode == edge ]] && stop_kamailio
done
exit $fail
