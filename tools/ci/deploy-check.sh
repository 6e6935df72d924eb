#!/usr/bin/env bash
# Checks the files in deploy/: Kamailio configs parse (kamailio -c), the systemd unit verifies
# (systemd-analyze verify, with ExecStart pointed at the built binary), the sysctl file names real keys.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
fail=0
for cfg in deploy/kamailio/*.cfg; do
  # Capture first: `kamailio | grep -q` can die of SIGPIPE, which pipefail would report as a failure.
  out=$(kamailio -c -f "$cfg" 2>&1 || true)
  if [[ $out == *"config file ok"* ]]; then
    echo "ok   kamailio -c $cfg"
  else
    echo "FAIL kamailio -c $cfg"; printf '%s\n' "$out" | tail -n 5; fail=1
  fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$root/target/release/sipedged
[ -x "$bin" ] || cargo build -q --release -p sipedged
sed "s#/usr/local/bin/sipedged#$bin#" deploy/systemd/sipedged.service > "$tmp/sipedged.service"
if out=$(systemd-analyze verify "$tmp/sipedged.service" 2>&1) && [ -z "$out" ]; then
  echo "ok   systemd-analyze verify deploy/systemd/sipedged.service"
else
  echo "FAIL systemd-analyze verify deploy/systemd/sipedged.service"; echo "$out"; fail=1
fi
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  key=$(echo "${line%%=*}" | xargs)
  if [ -e "/proc/sys/${key//.//}" ]; then :; else echo "FAIL sysctl key $key does not exist"; fail=1; fi
done < deploy/sysctl/90-sipedge.conf
[ $fail -eq 0 ] && echo "ok   deploy/sysctl/90-sipedge.conf keys exist"
for cfg in deploy/config/*.toml; do
  if out=$("$bin" --check --config "$cfg" 2>&1); then
    echo "ok   sipedged --check $cfg"
  else
    echo "FAIL sipedged --check $cfg: $out"; fail=1
  fi
done
py=python3
if ! $py -c 'import yaml' 2>/dev/null; then
  venv=$HOME/.cache/sipedge/pyyaml-venv
  [ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q pyyaml; }
  py=$venv/bin/python
fi
for m in deploy/kubernetes/*.yaml; do
  if out=$($py -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    assert "apiVersion" in d and "kind" in d and "metadata" in d, d
print(len(docs), "documents:", ", ".join(d["kind"] for d in docs))
' "$m" 2>&1); then
    echo "ok   $m parses ($out)"
  else
    echo "FAIL $m: $out"; fail=1
  fi
done
exit $fail
