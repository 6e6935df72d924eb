#!/usr/bin/env bash
# Runs the sipedge pod of a Kubernetes manifest as far as one machine can, and checks what the kubelet and the
# cluster would see. A network namespace stands for the pod (its pod IP on its loopback), dnsmasq in it for the
# cluster DNS (`ip netns exec` binds /etc/netns/NS/resolv.conf over /etc/resolv.conf, so sipedged's system
# resolver asks it), and a UDP responder at the core's address for the core.
#
#   1. the pod's environment comes from the container's env (fieldRef status.podIP, the pod-index label, plain
#      values) and the embedded sipedge.toml starts with it while the core's name does not resolve (NXDOMAIN);
#   2. the readiness and liveness probes, at the path and port the manifest names, answer 200 on the pod IP;
#   3. once the name resolves, the node takes the core as a target (sipedge_core_target_up 1) within 12 s;
#   4. SIGTERM closes the browsers' WebSockets with 1001 and ends it within terminationGracePeriodSeconds.
#
# Usage: pod-check.sh MANIFEST SIPEDGED (as root: it makes a network namespace, removed on exit). PYTHON names
# a python3 with PyYAML (default: python3). Needs dnsmasq and iproute2.
set -euo pipefail
manifest=$1
bin=$2
ns=sipedge-pod-$$
pod_ip=10.244.1.7
core_ip=10.244.9.9
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "/etc/netns/$ns" "$tmp"
}
trap cleanup EXIT

# The pod as the manifest describes it: its configuration, its environment, its probes, its grace, its core.
"${PYTHON:-python3}" - "$manifest" "$tmp" "$pod_ip" > "$tmp/pod" <<'EOF'
import re, sys, yaml
manifest, tmp, pod_ip = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(open(manifest)) if d]
cm = next(d for d in docs if d["kind"] == "ConfigMap" and "sipedge.toml" in d.get("data", {}))
text = cm["data"]["sipedge.toml"]
open(f"{tmp}/sipedge.toml", "w").write(text)
w = next(d for d in docs if d["kind"] in ("StatefulSet", "Deployment", "DaemonSet"))
spec = w["spec"]["template"]["spec"]
c = spec["containers"][0]
ports = {p["name"]: p["containerPort"] for p in c.get("ports", []) if "name" in p}
def probe(kind):
    get = c[kind]["httpGet"]
    port = get["port"]
    return get["path"], ports.get(port, port)
# The values the kubelet would give: this pod is ordinal 1 at pod_ip.
sources = {"status.podIP": pod_ip, "metadata.labels['apps.kubernetes.io/pod-index']": "1",
           "metadata.name": f'{w["metadata"]["name"]}-1'}
with open(f"{tmp}/env", "w") as f:
    for e in c.get("env", []):
        if "value" in e:
            value = e["value"]
        else:
            path = e["valueFrom"]["fieldRef"]["fieldPath"]
            assert path in sources, f"env {e['name']}: no sample value for {path}"
            value = sources[path]
        f.write(f"{e['name']}={value}\n")
core = re.search(r'^\s*uri\s*=\s*"sips?:([A-Za-z0-9.-]+)(?::(\d+))?', text, re.M)
assert core, "no [core] uri with a host name"
print(*probe("readinessProbe"), *probe("livenessProbe"), spec.get("terminationGracePeriodSeconds", 30),
      core.group(1), core.group(2) or 5060, ports["ws"])
EOF
read -r ready_path ready_port live_path live_port grace core_host core_port ws_port < "$tmp/pod"
mapfile -t pod_env < "$tmp/env"

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" addr add "$pod_ip/32" dev lo
ip -n "$ns" addr add "$core_ip/32" dev lo
mkdir -p "/etc/netns/$ns"
echo "nameserver 127.0.0.1" > "/etc/netns/$ns/resolv.conf"
in_pod() { ip netns exec "$ns" "$@"; }
zone=${core_host#*.}
dns() {
  # Started directly (a shell function in the background would be a subshell, and $! not dnsmasq's pid).
  ip netns exec "$ns" dnsmasq --keep-in-foreground --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
    --conf-file=/dev/null --pid-file= --local-ttl=1 "--local=/$zone/" "$@" &
  dns_pid=$!
  pids+=("$dns_pid")
  local i
  for i in $(seq 50); do in_pod python3 -c 'import socket; socket.create_connection(("127.0.0.1", 53), 1)' \
    2>/dev/null && return 0; sleep 0.1; [ "$i" -lt 50 ] || { echo "FAIL dnsmasq did not start"; exit 1; }; done
}
# GET a URL inside the pod: the status on the first line, then the body; failing unless 200.
get() {
  in_pod python3 -c '
import sys, urllib.error, urllib.request
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError as e:
    sys.exit(print(e.code))
print(r.status)
sys.stdout.write(r.read().decode())' "$1"
}
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(date +%s.%N)"; }

# 1. The pod starts while the core's name is NXDOMAIN.
dns
ip netns exec "$ns" env "${pod_env[@]}" "$bin" --config "$tmp/sipedge.toml" > "$tmp/out.log" 2> "$tmp/err.log" &
daemon=$!
pids+=("$daemon")
started=$(date +%s.%N)
until get "http://$pod_ip:$ready_port$ready_path" > /dev/null 2>&1; do
  kill -0 "$daemon" 2>/dev/null || { echo "FAIL the pod's sipedged exited: $(tail -n 5 "$tmp/err.log")"; exit 1; }
  [ "$(elapsed "$started" | cut -d. -f1)" -lt 10 ] || { echo "FAIL readiness $ready_path:$ready_port never answered"; exit 1; }
  sleep 0.1
done
echo "ok   pod up with ${pod_env[*]} while $core_host is NXDOMAIN; readiness $ready_path on :$ready_port after $(elapsed "$started") s"
# 2. Liveness.
status=$(get "http://$pod_ip:$live_port$live_path" 2>&1) || true
status=${status%%$'\n'*}
[ "$status" = 200 ] || { echo "FAIL liveness $live_path on :$live_port answered $status"; exit 1; }
echo "ok   liveness $live_path on :$live_port answers 200"
grep -q "does not resolve yet" "$tmp/err.log" || { echo "FAIL no log line saying the core does not resolve"; exit 1; }

# 3. The core appears in DNS; a UDP responder answers at its address.
cat > "$tmp/core.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    data, peer = s.recvfrom(65535)
    head = data.decode(errors="replace").split("\r\n\r\n", 1)[0].split("\r\n")
    if head[0].startswith("SIP/2.0"):
        continue
    keep = [h for h in head[1:] if h.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")]
    s.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n").encode(), peer)
EOF
ip netns exec "$ns" python3 "$tmp/core.py" "$core_ip" "$core_port" &
pids+=("$!")
kill "$dns_pid"
wait "$dns_pid" 2>/dev/null || true
dns "--host-record=$core_host,$core_ip,1"
resolved=$(date +%s.%N)
up="sipedge_core_target_up{target=\"udp:$core_ip:$core_port\"} 1"
until get "http://$pod_ip:$ready_port/metrics" 2>/dev/null | grep -qF "$up"; do
  [ "$(elapsed "$resolved" | cut -d. -f1)" -lt 12 ] || { echo "FAIL the core was not taken 12 s after it resolved"; exit 1; }
  sleep 0.1
done
echo "ok   core target udp:$core_ip:$core_port up $(elapsed "$resolved") s after $core_host resolved"

# 4. SIGTERM drains within the pod's grace: browsers connected to the pod get a WebSocket close 1001.
cat > "$tmp/browsers.py" <<'EOF'
import base64, os, socket, struct, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def read(s, k):
    data = b""
    while len(data) < k:
        chunk = s.recv(k - len(data))
        if not chunk:
            raise EOFError("closed without a close frame")
        data += chunk
    return data
socks = []
for i in range(n):
    s = socket.create_connection((host, port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += read(s, 1)
    assert head.startswith(b"HTTP/1.1 101"), head.split(b"\r\n")[0]
    socks.append(s)
print("open", flush=True)
codes = []
for s in socks:
    s.settimeout(60)
    while True:
        b0, b1 = read(s, 2)
        size = b1 & 0x7F
        if size == 126:
            size = struct.unpack("!H", read(s, 2))[0]
        elif size == 127:
            size = struct.unpack("!Q", read(s, 8))[0]
        payload = read(s, size)
        if b0 & 0x0F == 8:
            codes.append(struct.unpack("!H", payload[:2])[0] if size >= 2 else None)
            mask = os.urandom(4)
            s.sendall(bytes([0x88, 0x82]) + mask + bytes(c ^ mask[i] for i, c in enumerate(payload[:2])))
            break
print("closed", sum(c == 1001 for c in codes), "of", n, "with 1001", flush=True)
EOF
browsers=50
: > "$tmp/browsers.log"
ip netns exec "$ns" python3 "$tmp/browsers.py" "$pod_ip" "$ws_port" "$browsers" > "$tmp/browsers.log" 2>&1 &
clients=$!
pids+=("$clients")
until grep -q '^open' "$tmp/browsers.log"; do
  kill -0 "$clients" 2>/dev/null || { echo "FAIL browsers: $(cat "$tmp/browsers.log")"; exit 1; }
  sleep 0.05
done
term=$(date +%s.%N)
kill -TERM "$daemon"
while kill -0 "$daemon" 2>/dev/null; do
  [ "$(elapsed "$term" | cut -d. -f1)" -lt "$grace" ] || { echo "FAIL still running ${grace} s after SIGTERM"; exit 1; }
  sleep 0.05
done
wait "$daemon" || { echo "FAIL sipedged exited with status $? after SIGTERM"; exit 1; }
took=$(elapsed "$term")
wait "$clients" || true
closed=$(grep '^closed' "$tmp/browsers.log" || true)
[ "$closed" = "closed $browsers of $browsers with 1001" ] || { echo "FAIL browsers: $(cat "$tmp/browsers.log")"; exit 1; }
echo "ok   $browsers browsers got close 1001; exited $took s after SIGTERM (terminationGracePeriodSeconds $grace)"
