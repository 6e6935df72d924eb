#!/usr/bin/env bash
# Run Autobahn|Testsuite's fuzzingclient against a WebSocket server that is ALREADY running, then check the report.
#
#   tools/autobahn/run.sh URL AGENT [OUTDIR]
#     URL     e.g. ws://127.0.0.1:9001
#     AGENT   a name for the server under test (the report key), e.g. wsecho-uring
#     OUTDIR  where the reports go (default: target/autobahn/AGENT)
#   CASES      cases to run, comma-separated ids or patterns with a trailing "*" (default "*": all)
#   EXPECTED   expected results to diff against (default: tools/autobahn/expected.json beside this script)
#
# Exit status: 0 only when every expected case has a result, every case (permessage-deflate's sections 12-13
# included) is OK / NON-STRICT / INFORMATIONAL, and the results equal the expected file. wstest itself exits 0 even when it cannot
# connect, so a case with no result counts as failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
url=${1:?usage: run.sh URL AGENT [OUTDIR]}
agent=${2:?usage: run.sh URL AGENT [OUTDIR]}
root=$(cd "$here/../.." && pwd)
out=${3:-$root/target/autobahn/$agent}
cases=${CASES:-*}
expected=${EXPECTED:-$here/expected.json}

wstest=$("$here/install.sh" | tail -n 1)
rm -rf "$out"
mkdir -p "$out"
benchlib=$root/tools/benchlib.py
python3 "$benchlib" autobahn-spec "$out" "$agent" "$url" "$cases"
echo "autobahn: running cases '$cases' against $url (agent $agent); log in $out/wstest.log"
(cd "$out" && timeout 900 "$wstest" -m fuzzingclient -s fuzzingclient.json >"$out/wstest.log" 2>&1) || {
  echo "autobahn: wstest failed or timed out (see $out/wstest.log)" >&2
  tail -n 20 "$out/wstest.log" >&2
  exit 1
}
python3 "$benchlib" autobahn-check "$out/reports/index.json" "$agent" "$expected" "$cases"
