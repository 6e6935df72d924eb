#!/usr/bin/env bash
# Checks the files in deploy/: Kamailio configs parse (kamailio -c), the systemd unit verifies
# (systemd-analyze verify, with ExecStart pointed at the built binary), the sysctl file names real keys.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
fail=0
for cfg in deploy/kamailio/*.cfg; do
  if kamailio -c -f "$cfg" 2>&1 | grep -q 'config file ok'; then
    echo "ok   kamailio -c $cfg"
  else
    echo "FAIL kamailio -c $cfg"; kamailio -c -f "$cfg" 2>&1 | grep -iE 'error|crit' | head -5; fail=1
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
exit $fail
