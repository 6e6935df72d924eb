#!/usr/bin/env bash
# Start the release `wsecho` on a free loopback port, run Autobahn|Testsuite against it, stop it.
#   tools/autobahn/wsecho.sh [extra wsecho args...]   (AGENT overrides the report name)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$root/target/release/wsecho
[ -x "$bin" ] || (cd "$root" && cargo build --release -p wsecho)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
agent=${AGENT:-wsecho}
"$bin" --listen "127.0.0.1:$port" "$@" >"$root/target/wsecho-$agent.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
  sleep 0.1
done
bash "$here/run.sh" "ws://127.0.0.1:$port" "$agent"
