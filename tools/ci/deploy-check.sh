#!/usr/bin/env bash
# Checks the files in deploy/: Kamailio configs parse (kamailio -c), the systemd unit verifies
# (systemd-analyze verify, with ExecStart pointed at the built binary), the sysctl file names real keys, the
# example configurations pass `sipedged --check`, the Kubernetes manifests parse, and the sipedge.toml a manifest
# embeds passes `sipedged --check` with a pod's sample environment (every variable it needs set by the pod spec,
# the pods' termination grace longer than [runtime] shutdown_grace), and, as root, that the manifest's pod runs
# (deploy/kubernetes/pod-check.sh, in a network namespace; checked with shellcheck too, when installed).
# SIPEDGED=path checks with that binary; else target/release/sipedged is built (cargo: a no-op when up to date).
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
bin=${SIPEDGED:-$root/target/release/sipedged}
[ -n "${SIPEDGED:-}" ] || cargo build -q --release -p sipedged
for unit in sipedged.service sipedged@.service; do
  sed "s#/usr/local/bin/sipedged#$bin#" "deploy/systemd/$unit" > "$tmp/$unit"
  if out=$(systemd-analyze verify "$tmp/$unit" 2>&1) && [ -z "$out" ]; then
    echo "ok   systemd-analyze verify deploy/systemd/$unit"
  else
    echo "FAIL systemd-analyze verify deploy/systemd/$unit"; echo "$out"; fail=1
  fi
done
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
# A pod's sample values for the variables the embedded configurations use (NODE_ID: a StatefulSet ordinal;
# POD_IP: status.podIP).
pod_env=(NODE_ID=1 POD_IP=10.244.1.7)
for m in deploy/kubernetes/*.yaml; do
  if ! configs=$($py - "$m" "$tmp" <<'EOF'
import re, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
workloads = [d for d in docs if d["kind"] in ("StatefulSet", "Deployment", "DaemonSet")]
for cm in docs:
    if cm["kind"] != "ConfigMap" or "sipedge.toml" not in cm.get("data", {}):
        continue
    name, text = cm["metadata"]["name"], cm["data"]["sipedge.toml"]
    # Variables without a default: the pod spec must set them.
    needed = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))
    m = re.search(r'^\s*shutdown_grace\s*=\s*"(\d+)s"', text, re.M)
    shutdown_grace = int(m.group(1)) if m else 10
    users = [w for w in workloads if any(v.get("configMap", {}).get("name") == name
                                         for v in w["spec"]["template"]["spec"].get("volumes", []))]
    assert users, f"ConfigMap {name}: no workload mounts it"
    for w in users:
        spec, what = w["spec"]["template"]["spec"], f'{w["kind"]} {w["metadata"]["name"]}'
        for c in spec["containers"]:
            missing = needed - {e["name"] for e in c.get("env", [])}
            assert not missing, f"{what}: {sorted(missing)} used by ConfigMap {name} but not set"
        grace = spec.get("terminationGracePeriodSeconds", 30)
        assert grace >= shutdown_grace + 5, \
            f"{what}: terminationGracePeriodSeconds {grace} < shutdown_grace {shutdown_grace} s + 5 s"
    path = f"{sys.argv[2]}/{name}.toml"
    with open(path, "w") as f:
        f.write(text)
    print(path)
EOF
  ); then
    echo "FAIL $m: its embedded configuration"; fail=1; continue
  fi
  for cfg in $configs; do
    if out=$(env "${pod_env[@]}" "$bin" --check --config "$cfg" 2>&1); then
      echo "ok   sipedged --check on $m's $(basename "$cfg") with ${pod_env[*]}"
      printf '%s\n' "$out" | grep -i warning | sed 's/^/     /' || true
    else
      echo "FAIL sipedged --check on $m's $(basename "$cfg"): $out"; fail=1
    fi
  done
done
# The pod itself: deploy/kubernetes/pod-check.sh runs it in a network namespace with a stand-in cluster DNS and
# core (start while the core's name is NXDOMAIN, the probes' paths and ports, the core taken once it resolves,
# the exit after SIGTERM within the pod's grace).
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "skip shellcheck deploy/kubernetes/pod-check.sh: not installed"
elif shellcheck deploy/kubernetes/pod-check.sh; then
  echo "ok   shellcheck deploy/kubernetes/pod-check.sh"
else
  echo "FAIL shellcheck deploy/kubernetes/pod-check.sh"; fail=1
fi
for m in deploy/kubernetes/*.yaml; do
  if [ "$(id -u)" -ne 0 ]; then
    echo "skip $m run as a pod: network namespaces need root"; continue
  fi
  if out=$(PYTHON=$py bash deploy/kubernetes/pod-check.sh "$m" "$bin" 2>&1); then
    printf '%s\n' "$out"
  else
    printf '%s\n' "$out"; echo "FAIL $m run as a pod"; fail=1
  fi
done
exit $fail
