#!/usr/bin/env bash
# Start the release `wsecho` on a free loopback port, run Autobahn|Testsuite against it, stop it.
#   tools/autobahn/wsecho.sh [extra wsecho args...]   (AGENT overrides the report name)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
source "$here/../lib.sh"
agent=${AGENT:-wsecho}
port=$(free_port)
start_wsecho "$port" "$agent" "$@"
bash "$here/run.sh" "ws://127.0.0.1:$port" "$agent"
