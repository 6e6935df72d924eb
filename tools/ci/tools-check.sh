#!/usr/bin/env bash
# Checks the scripts under tools/: every shell script parses (bash -n) and, when shellcheck is installed, passes
# it (Debian package shellcheck; without it the check says it skipped); tools/benchlib.py (the Python the scripts
# run) passes its unit tests (tools/test_*.py; standard library only, no network beyond loopback).
set -euo pipefail
cd "$(dirname "$0")/../.."
fail=0
scripts=()
while IFS= read -r f; do scripts+=("$f"); done < <(find tools -name '*.sh' -not -path '*/node_modules/*' | sort)
for f in "${scripts[@]}"; do
  bash -n "$f" || { echo "FAIL bash -n $f"; fail=1; }
done
[ $fail -eq 0 ] && echo "ok   bash -n: ${#scripts[@]} scripts under tools/"
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "skip shellcheck: not installed (apt-get install shellcheck)"
elif shellcheck -x -P SCRIPTDIR "${scripts[@]}"; then
  echo "ok   shellcheck: ${#scripts[@]} scripts under tools/"
else
  echo "FAIL shellcheck"; fail=1
fi
if python3 -m unittest discover -s tools -p 'test_*.py'; then
  echo "ok   python3 -m unittest discover -s tools -p 'test_*.py'"
else
  echo "FAIL python3 -m unittest discover -s tools -p 'test_*.py'"; fail=1
fi
exit $fail
