#!/usr/bin/env bash
# Flood: sipedged standalone on loopback with its abuse limits on, two attacks, each beside normal clients.
#
#   tools/flood/flood.sh                       # results in target/flood
#   OUT=docs/bench/flood tools/flood/flood.sh  # the server log stays in LOGS (target/flood-logs)
#
# sipedged [limits]: handshakes_per_ip_per_second HS_RATE, handshake_burst HS_BURST, max_connections_per_ip IP_CAP,
# requests_per_second REQ_RATE, request_burst REQ_BURST, over_request_rate = "reject" (503 + Retry-After).
#
# a) connection flood: `sipload connect` from FLOOD_SRC (one address) opens FLOOD_CONNS connections at FLOOD_RAMP
#    while `sipload register` brings up CLIENTS clients from CLIENT_SRCS at CLIENT_RAMP.
#    PASS: at least 90 % of the flooder's connections refused with 503, as many counted in sipedged's /metrics
#    (sipedge_handshake_rejections_total, reasons ip_handshake_rate / ip_connection_cap), and the normal clients
#    have 0 failed.
# b) request flood: MSG_CLIENTS clients (from MSG_SRCS) exchange MESSAGE at MSG_RATE in total for SECS seconds,
#    once alone (baseline) and once while one more client (REQ_FLOOD_SRC, its own address) sends REQ_FLOOD_RATE
#    MESSAGE/s to itself. The normal clients connect at MSG_RAMP (under the per-IP handshake rate).
#    PASS: the flooder throttled (its requests answered 503, counted as sipedge_routing_failures_total
#    {reason="rate_limited"}), the normal clients have 0 failed, and their MESSAGE p50 and p99 are within 2x of
#    the baseline.
# Prints a table and writes flood.json (and each sipload report) into OUT.
# Every process it starts is stopped on exit (only those); every step is bounded by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
# shellcheck source=../lib.sh
source tools/lib.sh

WORKERS=${WORKERS:-2}
HS_RATE=${HS_RATE:-100}
HS_BURST=${HS_BURST:-50}
IP_CAP=${IP_CAP:-500}
REQ_RATE=${REQ_RATE:-50}
REQ_BURST=${REQ_BURST:-100}
FLOOD_SRC=${FLOOD_SRC:-127.0.0.2}
FLOOD_RAMP=${FLOOD_RAMP:-5000}
FLOOD_CONNS=${FLOOD_CONNS:-15000}
CLIENTS=${CLIENTS:-1000}
CLIENT_SRCS=${CLIENT_SRCS:-127.0.0.3-127.0.0.12}
CLIENT_RAMP=${CLIENT_RAMP:-500}
MSG_CLIENTS=${MSG_CLIENTS:-500}
MSG_SRCS=${MSG_SRCS:-127.0.0.3-127.0.0.7}
MSG_RATE=${MSG_RATE:-1500}
MSG_RAMP=${MSG_RAMP:-250}
SECS=${SECS:-8}
REQ_FLOOD_SRC=${REQ_FLOOD_SRC:-127.0.0.20}
REQ_FLOOD_RATE=${REQ_FLOOD_RATE:-10000}
OUT=${OUT:-target/flood}
LOGS=${LOGS:-target/flood-logs}
mkdir -p "$OUT" "$LOGS"
OUT=$(cd "$OUT" && pwd)
LOGS=$(cd "$LOGS" && pwd)

if [[ -z "${NO_BUILD:-}" ]]; then
  timeout 1800 cargo build --release -q -p sipedged -p sipload
fi
sipload=$root/target/release/sipload
echo "machine: $(nproc) cores, nofile $(ulimit -n), load $(cut -d' ' -f1-3 /proc/loadavg)"

port=$(free_port)
admin=$(free_port)
cat >"$work/sipedge.toml" <<EOF
[[listen]]
address = "127.0.0.1:$port"
[runtime]
workers = $WORKERS
[admin]
listen = "127.0.0.1:$admin"
[limits]
handshakes_per_ip_per_second = $HS_RATE
handshake_burst = $HS_BURST
max_connections_per_ip = $IP_CAP
requests_per_second = $REQ_RATE
request_burst = $REQ_BURST
over_request_rate = "reject"
EOF
cp "$work/sipedge.toml" "$OUT/sipedge.toml"
"$root/target/release/sipedged" --config "$work/sipedge.toml" >"$LOGS/sipedged.log" 2>&1 &
pid=$!
spawned+=("$pid")
wait_tcp "$port"
wait_tcp "$admin"
sleep 1
target="ws://127.0.0.1:$port/"

# /metrics as JSON {name{labels}: value} into FILE.
metrics() {
  timeout 10 python3 - "$admin" "$1" <<'PY'
import json, sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
m = {}
for line in text.splitlines():
    if line and not line.startswith("#"):
        k, _, v = line.rpartition(" ")
        m[k] = m.get(k, 0) + float(v)
json.dump(m, open(sys.argv[2], "w"), indent=1)
PY
}

# sipload NAME ARGS...: one bounded run, report in OUT/NAME.json, summary in OUT/NAME.txt; a non-zero exit (some
# failed) is judged by the checks below, not here.
run() {
  local name=$1
  shift
  echo "sipload $* --target $target --json $name.json" >>"$OUT/commands.txt"
  timeout 300 "$sipload" "$@" --target "$target" --json "$OUT/$name.json" >"$OUT/$name.txt" 2>"$LOGS/$name.err" || true
}
: >"$OUT/commands.txt"
echo "sipedged pid $pid on $target, admin $admin; limits: $HS_RATE handshakes/s per IP (burst $HS_BURST), $IP_CAP connections per IP, $REQ_RATE requests/s per connection (burst $REQ_BURST), reject" | tee -a "$OUT/commands.txt"

# a) connection flood beside normal registrations.
metrics "$OUT/metrics-a-before.json"
flood_secs=$(python3 -c "print(int($FLOOD_CONNS / $FLOOD_RAMP) + 1)")
run conn-flooder connect --connections "$FLOOD_CONNS" --ramp "$FLOOD_RAMP/s" --sources "$FLOOD_SRC" \
  --hold 1 --duration 0 --time-limit $((flood_secs + 60)) &
flooder=$!
sleep 0.5
run conn-normal register --connections "$CLIENTS" --ramp "$CLIENT_RAMP/s" --sources "$CLIENT_SRCS" --procs 2 \
  --duration 0 --time-limit 120
wait "$flooder" || true
metrics "$OUT/metrics-a-after.json"

# b) request flood: baseline, then beside one flooding client.
run req-baseline message --connections "$MSG_CLIENTS" --sources "$MSG_SRCS" --rate "$MSG_RATE/s" --duration "$SECS" \
  --ramp "$MSG_RAMP/s" --watch-pid "$pid" --time-limit $((SECS + 90))
metrics "$OUT/metrics-b-before.json"
run req-flooder message --connections 1 --sources "$REQ_FLOOD_SRC" --rate "$REQ_FLOOD_RATE/s" \
  --duration $((SECS + 4)) --tx-timeout 5 --time-limit $((SECS + 90)) &
flooder=$!
sleep 1
run req-normal message --connections "$MSG_CLIENTS" --sources "$MSG_SRCS" --rate "$MSG_RATE/s" --duration "$SECS" \
  --ramp "$MSG_RAMP/s" --watch-pid "$pid" --time-limit $((SECS + 90))
wait "$flooder" || true
metrics "$OUT/metrics-b-after.json"
kill "$pid" 2>/dev/null || true

status=0
timeout 30 python3 - "$OUT" "$FLOOD_CONNS" "$CLIENTS" "$REQ_FLOOD_RATE" "$MSG_RATE" "$FLOOD_RAMP" >"$work/table.txt" <<'PY' || status=1
import json, os, sys
out, flood_conns, clients, flood_rate, msg_rate, flood_ramp = sys.argv[1], *map(int, sys.argv[2:])
def load(name):
    try:
        return json.load(open(os.path.join(out, name + ".json")))
    except (OSError, ValueError):
        return None
def delta(phase, key):
    a, b = load(f"metrics-{phase}-before"), load(f"metrics-{phase}-after")
    return int((b or {}).get(key, 0) - (a or {}).get(key, 0))
def failed(j):
    return None if j is None else j["connections_failed"] + j["messages_failed"]
def err_sum(j, needle):
    return sum(v for k, v in (j or {}).get("errors", {}).items() if needle in k)
rej = 'sipedge_handshake_rejections_total{reason="%s"}'
cf, cn = load("conn-flooder"), load("conn-normal")
rate_rej, cap_rej = delta("a", rej % "ip_handshake_rate"), delta("a", rej % "ip_connection_cap")
flood_503 = err_sum(cf, "answered 503")
flood_ok = (cf or {}).get("connections_ok", 0)
a_pass = (cf is not None and cn is not None
          and flood_503 >= 0.9 * flood_conns
          and rate_rej + cap_rej >= flood_503
          and failed(cn) == 0 and cn["connections_ok"] == clients)
base, norm, rf = load("req-baseline"), load("req-normal"), load("req-flooder")
def lat(j, q):
    return (j or {}).get("transactions", {}).get("MESSAGE", {}).get("latency", {}).get(q, 0)
def sent(j):
    m = (j or {}).get("transactions", {}).get("MESSAGE", {})
    return m.get("ok", 0) + m.get("failed", 0) + m.get("timed_out", 0)
limited = delta("b", 'sipedge_routing_failures_total{reason="rate_limited"}')
rf_503 = err_sum(rf, "MESSAGE: answered 503")
rf_sent = sent(rf)
ratio50 = lat(norm, "p50_us") / max(lat(base, "p50_us"), 1)
ratio99 = lat(norm, "p99_us") / max(lat(base, "p99_us"), 1)
b_pass = (base is not None and norm is not None and rf is not None
          and failed(base) == 0 and failed(norm) == 0
          and rf_sent > 0 and rf_503 >= 0.9 * rf_sent and limited >= rf_503
          and ratio50 <= 2.0 and ratio99 <= 2.0)
rows = [
    ("a) connection flood", "flooder 127.0.0.2", f"{flood_conns} opened at {flood_ramp}/s: "
     f"{flood_ok} accepted, {flood_503} refused 503; /metrics ip_handshake_rate {rate_rej}, ip_connection_cap {cap_rej}"),
    ("", f"{clients} normal clients", f"{(cn or {}).get('connections_ok', 0)} registered, {failed(cn)} failed; "
     f"REGISTER p50 {(cn or {}).get('transactions', {}).get('REGISTER', {}).get('latency', {}).get('p50_us', 0)} us, "
     f"p99 {(cn or {}).get('transactions', {}).get('REGISTER', {}).get('latency', {}).get('p99_us', 0)} us"),
    ("", "result", "PASS" if a_pass else "FAIL"),
    ("b) request flood", "baseline", f"MESSAGE {sent(base)} at {(base or {}).get('msgs_per_sec', 0):.0f}/s, "
     f"p50 {lat(base, 'p50_us')} us, p99 {lat(base, 'p99_us')} us, {failed(base)} failed"),
    ("", "with flooder", f"MESSAGE {sent(norm)} at {(norm or {}).get('msgs_per_sec', 0):.0f}/s, "
     f"p50 {lat(norm, 'p50_us')} us ({ratio50:.2f}x), p99 {lat(norm, 'p99_us')} us ({ratio99:.2f}x), {failed(norm)} failed"),
    ("", "flooder 127.0.0.20", f"{rf_sent} MESSAGE sent ({flood_rate}/s asked): {rf_503} answered 503; "
     f"/metrics rate_limited {limited}"),
    ("", "result", "PASS" if b_pass else "FAIL"),
]
w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
for r in rows:
    print(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}")
summary = {
    "connection_flood": {"pass": a_pass, "flooder_connections": flood_conns, "flooder_accepted": flood_ok,
                         "flooder_refused_503": flood_503, "metrics_ip_handshake_rate": rate_rej,
                         "metrics_ip_connection_cap": cap_rej, "normal_clients": clients,
                         "normal_registered": (cn or {}).get("connections_ok", 0), "normal_failed": failed(cn)},
    "request_flood": {"pass": b_pass, "baseline_p50_us": lat(base, "p50_us"), "baseline_p99_us": lat(base, "p99_us"),
                      "with_flooder_p50_us": lat(norm, "p50_us"), "with_flooder_p99_us": lat(norm, "p99_us"),
                      "p50_ratio": round(ratio50, 3), "p99_ratio": round(ratio99, 3),
                      "normal_rate_per_sec": msg_rate, "baseline_failed": failed(base), "normal_failed": failed(norm),
                      "flooder_rate_asked": flood_rate, "flooder_sent": rf_sent, "flooder_503": rf_503,
                      "metrics_rate_limited": limited},
}
json.dump(summary, open(os.path.join(out, "flood.json"), "w"), indent=1)
sys.exit(0 if a_pass and b_pass else 1)
PY
tee "$OUT/flood.txt" <"$work/table.txt"
exit $status
