# Shared helpers for the test scripts under tools/ (source it; bash only).
#   free_port            a free TCP port on 127.0.0.1
#   free_udp_pair        a UDP port p with p and p+1 free (two workers' sockets toward the core)
#   wait_tcp PORT        wait (≤ 10 s) until something listens on 127.0.0.1:PORT
#   spawn CMD...         start CMD in the background; it is killed when the script exits
#   start_core PORT      Kamailio as the SIP core (deploy/kamailio/core.cfg) on UDP 127.0.0.1:PORT, stopped at exit
# Sets $work, a temporary directory removed at exit.

tools_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
spawned=()

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

free_udp_pair() {
  python3 -c '
import socket
while True:
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    try:
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError:
        pass
'
}

wait_tcp() {
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

spawn() {
  "$@" &
  spawned+=($!)
}

start_core() {
  kamailio -f "$tools_root/deploy/kamailio/core.cfg" -P "$work/kamailio.pid" -A "CORE_LISTEN=udp:127.0.0.1:$1" -E \
    >"$work/kamailio.log" 2>&1
}

cleanup_spawned() {
  for p in "${spawned[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/kamailio.pid" ] && kill "$(cat "$work/kamailio.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup_spawned EXIT
