#!/usr/bin/env python3
"""The Python side of tools/cluster/cluster.sh (two edge nodes behind HAProxy, two clustered cores).

  wait-tcp HOST PORT SECONDS        wait until HOST:PORT accepts a TCP connection
  lb-up SOCKET SECONDS SERVER...    wait until HAProxy (its stats socket) has each SERVER of backend edges UP
  wait-dmq CTL1 CTL2 SECONDS        wait until each Kamailio (kamcmd control socket) lists 2 active DMQ nodes
  metrics HOST:PORT                 one line: connections=N registrations=N proxy_headers=N proxy_rejections=N
  udp-drops                         each UDP socket of /proc/net/udp (on stdin) with drops: ADDRESS:PORT drops=N
  report OUT                        judge the run in OUT (events.txt, setup.txt, bindings.txt, the sipload
                                    reports cross*.json, resident1.json, resident2.json); exit 1 on a miss
Standard library only.
"""
import glob
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

# The events in the order the scenario runs them, each with the window it is judged in (up to the next one).
EVENTS = ("kill_node1", "drain_node2", "kill_core1")
RECONNECT = "reconnect"


def wait_for(check, seconds, sleep=0.1):
    """True once check() is true, False when `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(sleep)


def tcp_open(host, port):
    """True if HOST:PORT accepts a TCP connection."""
    try:
        socket.create_connection((host, port), 0.2).close()
        return True
    except OSError:
        return False


def haproxy_command(path, command):
    """The answer of HAProxy's stats socket at `path` to `command` (text)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                return b"".join(chunks).decode()
            chunks.append(b)


def server_states(stat_csv, backend="edges"):
    """{server: status} of `backend` from HAProxy's `show stat` CSV."""
    lines = stat_csv.splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    cols = lines[0][2:].split(",")
    px, sv, st = cols.index("pxname"), cols.index("svname"), cols.index("status")
    states = {}
    for line in lines[1:]:
        f = line.split(",")
        if len(f) > st and f[px] == backend and f[sv] not in ("BACKEND", "FRONTEND"):
            states[f[sv]] = f[st]
    return states


def lb_up(path, servers):
    """True if HAProxy at `path` has every one of `servers` UP."""
    try:
        states = server_states(haproxy_command(path, "show stat"))
    except OSError:
        return False
    return all(states.get(s, "").startswith("UP") for s in servers)


def dmq_active(ctl):
    """The active DMQ nodes Kamailio lists on control socket `ctl`."""
    r = subprocess.run(["kamcmd", "-s", f"unix:{ctl}", "dmq.list_nodes"], capture_output=True, text=True,
                       timeout=5, check=False)
    return r.stdout.count("status: active")


NODE_SERIES = {
    "connections": "sipedge_connections",
    "registrations": "sipedge_registrations",
    "proxy_headers": "sipedge_proxy_headers_total",
    "proxy_rejections": "sipedge_proxy_header_rejections_total",
}


def node_line(series):
    """`name=value ...` of NODE_SERIES summed over their labels."""
    out = []
    for name, metric in NODE_SERIES.items():
        total = sum(v for k, v in series.items() if k == metric or k.startswith(metric + "{"))
        out.append(f"{name}={int(total)}")
    return " ".join(out)


def udp_drops(table):
    """[(address:port, drops)] of the sockets in a /proc/net/udp `table` (text) that dropped datagrams."""
    out = []
    for line in table.splitlines()[1:]:
        f = line.split()
        if len(f) < 13 or ":" not in f[1]:
            continue
        hex_ip, hex_port = f[1].split(":")
        ip = socket.inet_ntoa(int(hex_ip, 16).to_bytes(4, "little"))
        if int(f[-1]):
            out.append((f"{ip}:{int(hex_port, 16)}", int(f[-1])))
    return out


# ---------------------------------------------------------------------------------------------------------------
# The report


def read_pairs(path):
    """`NAME VALUE` lines as {NAME: float(VALUE)} (the last of a name wins)."""
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                out[parts[0]] = float(parts[1])
    return out


def read_words(path):
    """`KEY VALUE KEY VALUE ...` lines as one {KEY: VALUE} (numbers as floats)."""
    out = {}
    with open(path) as f:
        for line in f:
            w = line.split()
            for k, v in zip(w[::2], w[1::2]):
                try:
                    out[k] = float(v)
                except ValueError:
                    out[k] = v
    return out


def read_bindings(path):
    """{(moment, core): addresses of record} from bindings.txt (`before_a core1 N`)."""
    out = {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) == 3:
                out[(w[0], w[1])] = int(w[2])
    return out


def read_node_samples(path):
    """{(moment, node): {series: value}} from metrics.txt (`before_a node1 connections=N ...`)."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) >= 2:
                out[(w[0], w[1])] = {k: int(v) for k, _, v in (x.partition("=") for x in w[2:])}
    return out


def windows(events, end=float("inf")):
    """{event: (start, end)}: each event's window runs to the next event (the last one to `end`)."""
    times = [events[e] for e in EVENTS]
    return {e: (t, nxt) for e, t, nxt in zip(EVENTS, times, times[1:] + [end])}


def seconds_of(report, kind):
    """[(unix second, point)] of `kind` on a sipload report's timeline."""
    start = report.get("phases", {}).get("start", 0)
    return [(start + p["t"], p) for p in report.get("timeline", []) if p["kind"] == kind]


def reconnects(reports, start, end):
    """Reconnects completed in [start, end): count, failed, seconds from start until the last one completed
    (to the end of its second), the largest latency (ms), and completions by whole second after start."""
    count = failed = 0
    last, worst, by_sec = None, 0.0, {}
    for r in reports:
        for sec, p in seconds_of(r, RECONNECT):
            # Whole seconds: the second the next event falls in belongs to the next window.
            if int(start) <= sec < int(end):
                count += p["ok"]
                failed += p["failed"]
                if p["ok"]:
                    last = max(last or sec, sec)
                    worst = max(worst, p["latency"]["max_us"] / 1000)
                    after = int(sec - int(start))
                    by_sec[after] = by_sec.get(after, 0) + p["ok"]
    reach = None if last is None else last + 1 - start
    return {"count": count, "failed": failed, "reach_s": reach, "max_ms": worst, "by_second": by_sec}


def failures(reports, start, end):
    """{'KIND: error': count} of the failed transactions that began in [start, end), and the latest start.
    An event's window starts a second before it (a transaction in flight at the event fails through it) and
    ends a second before the next event."""
    out, latest = {}, None
    for r in reports:
        for f in r.get("failures", []):
            began = f["began_ms"] / 1000
            if start <= began < end:
                key = f"{f['kind']}: {f['error']}"
                out[key] = out.get(key, 0) + f["count"]
                latest = max(latest or began, began)
    return out, latest


def p99_ms(report, kind, start, end):
    """The largest per-second p99 latency (ms) of `kind` in whole seconds within [start, end), and the count."""
    worst, n = 0.0, 0
    for sec, p in seconds_of(report, kind):
        if int(start) <= sec < end:
            worst = max(worst, p["latency"]["p99_us"] / 1000)
            n += p["ok"]
    return worst, n


def judge_moves(j, name, rec, expected, target):
    """The reconnects of a node's clients after it went away."""
    j.check(rec["count"] == expected and rec["failed"] == 0,
            f"{name}: {rec['count']} of {expected} clients reconnected through HAProxy and registered again"
            f" ({rec['failed']} gave up)")
    reach = rec["reach_s"]
    j.check(reach is not None and reach <= target,
            f"{name}: all reachable again {reach if reach is None else round(reach, 1)} s after the event"
            f" (target <= {target} s); slowest reconnect {rec['max_ms']:.0f} ms;"
            f" completed per second after it: {dict(sorted(rec['by_second'].items()))}")


def judge_failures(j, name, fails, latest, start, settle):
    """The cross-node clients' failed transactions of one event: none may begin `settle` s after it."""
    total = sum(fails.values())
    late = latest is not None and latest >= start + settle
    j.check(not late, f"{name}: {total} failed transactions of the cross-node clients {fails or ''}; the last began"
            f" {'-' if latest is None else round(latest - start, 1)} s after the event (allowed < {settle:.1f} s)")


def ok_of(report, kind):
    """Transactions of `kind` that succeeded in a sipload report."""
    return report.get("transactions", {}).get(kind, {}).get("ok", 0)


def ok_between(reports, kind, start, end=float("inf")):
    """Transactions of `kind` that succeeded in whole seconds within [start, end) of the reports' timelines."""
    return sum(p["ok"] for r in reports for sec, p in seconds_of(r, kind) if start <= sec < end)


def judge_residents(j, name, report, event, reach):
    """A node's own clients (pairs on it) through another node's event: no failure, calls among them too;
    MESSAGE p99 in the storm."""
    if report is None:
        j.check(False, f"{name}: no report")
        return
    clean = report["connections_failed"] == 0 and report["messages_failed"] == 0
    msg = report.get("transactions", {}).get("MESSAGE", {})
    j.check(clean and ok_of(report, "MESSAGE") > 0 and ok_of(report, "BYE") > 0,
            f"{name}: {ok_of(report, 'MESSAGE')} MESSAGE and {ok_of(report, 'INVITE')} calls"
            f" ({ok_of(report, 'BYE')} ended with BYE) ok, {report['messages_failed']} failed or broken sessions"
            f" {report.get('errors') or ''}")
    storm = max(reach or 0, 1)
    before, _ = p99_ms(report, "MESSAGE", event - 5, event)
    during, n = p99_ms(report, "MESSAGE", event, event + storm)
    calls = ok_between([report], "INVITE", int(event), event + storm)
    j.check(n > 0, f"{name}: MESSAGE p99 {during:.1f} ms over the {storm:.0f} s of the reconnection storm"
            f" ({n} MESSAGE, {calls} calls answered), {before:.1f} ms in the 5 s before; whole run p99"
            f" {msg.get('latency', {}).get('p99_us', 0) / 1000:.1f} ms")


def cross_expected(setup):
    return int(setup["clients"])


def report(out):
    """Judges a cluster run; returns (lines, passed)."""
    setup = read_words(os.path.join(out, "setup.txt"))
    events = read_pairs(os.path.join(out, "events.txt"))
    binds = read_bindings(os.path.join(out, "bindings.txt"))
    nodes = read_node_samples(os.path.join(out, "metrics.txt"))
    cross = [benchlib.read_json(p) for p in sorted(glob.glob(os.path.join(out, "cross*.json")))]
    res1 = benchlib.read_json_or_none(os.path.join(out, "resident1.json"))
    res2 = benchlib.read_json_or_none(os.path.join(out, "resident2.json"))
    clients, residents = cross_expected(setup), int(setup["residents"])
    target, probe = float(setup["reconnect_target"]), float(setup["probe"])
    j = benchlib.Judge()
    win = windows(events)
    n1 = nodes.get(("before_a", "node1"), {})
    n2 = nodes.get(("before_a", "node2"), {})
    j.check(n1.get("connections") == clients // 2 and n2.get("connections") == clients // 2 + residents,
            f"before: node 1 holds {n1.get('connections')} clients, node 2 {n2.get('connections')}"
            f" ({clients // 2} cross-node clients each, and {residents} residents on node 2);"
            f" PROXY v2 headers read {n1.get('proxy_headers', 0) + n2.get('proxy_headers', 0)},"
            f" refused {n1.get('proxy_rejections', 0) + n2.get('proxy_rejections', 0)}")
    want = clients + residents
    j.check(binds.get(("before_a", "core1"), 0) >= want and binds.get(("before_a", "core2"), 0) >= want,
            f"before: core 1 holds {binds.get(('before_a', 'core1'))} addresses of record, core 2"
            f" {binds.get(('before_a', 'core2'))} (>= {want}: each one saved on one core, copied by DMQ)")
    crossed = [r for r in cross if ok_of(r, "MESSAGE") > 0 and ok_of(r, "BYE") > 0]
    j.check(len(crossed) == len(cross) > 0 and all(r["connections_failed"] == 0 for r in cross),
            f"cross-node MESSAGE and calls (node 1 + core 1 <-> node 2 + core 2): "
            f"{sum(ok_of(r, 'MESSAGE') for r in cross)} MESSAGE and {sum(ok_of(r, 'INVITE') for r in cross)} calls"
            f" ({sum(ok_of(r, 'BYE') for r in cross)} ended with BYE) ok in all,"
            f" {sum(r['connections_failed'] for r in cross)} connections failed")

    start, end = win["kill_node1"]
    rec = reconnects(cross, start, end)
    judge_moves(j, "(a) kill node 1", rec, n1.get("connections", 0), target)
    judge_failures(j, "(a) kill node 1", *failures(cross, start - 1, end - 1), start, (rec["reach_s"] or 0) + 1)
    judge_residents(j, "(a) node 2's own clients", res2, start, rec["reach_s"])

    start, end = win["drain_node2"]
    rec = reconnects(cross, start, end)
    # Node 2 holds the cross-node clients that moved to it and its own (a client whose reconnect outlasted
    # node 1's restart may be back there): every one of them moves.
    judge_moves(j, "(b) drain node 2", rec, nodes.get(("before_b", "node2"), {}).get("connections", 0), target)
    judge_failures(j, "(b) drain node 2", *failures(cross, start - 1, end - 1), start, (rec["reach_s"] or 0) + 1)
    judge_residents(j, "(b) node 1's own clients", res1, start, rec["reach_s"])

    start, end = win["kill_core1"]
    j.check(binds.get(("before_c", "core2"), 0) >= clients + residents,
            f"(c) before the kill core 2 holds {binds.get(('before_c', 'core2'))} addresses of record"
            f" (>= {clients + residents}), after it {binds.get(('after_c', 'core2'))}")
    fails, latest = failures(cross, start - 1, end)
    judge_failures(j, "(c) kill core 1", fails, latest, start, 2 * probe + 1)
    settled = start + 2 * probe + 1
    n, calls = ok_between(cross, "MESSAGE", settled), ok_between(cross, "INVITE", settled)
    j.check(n > 0 and calls > 0, f"(c) {n} MESSAGE and {calls} calls ok through core 2 from"
            f" {2 * probe + 1:.0f} s after the kill (to users registered through core 1 too)")
    if setup.get("tls") == 1:
        j.say(f"wss://: TLS handshakes of the cross-node clients {sum(r.get('tls_full', 0) for r in cross)} full,"
              f" {sum(r.get('tls_resumed', 0) for r in cross)} resumed")
    lat = [r["transactions"].get(RECONNECT, {}).get("latency", {}) for r in cross]
    j.say("reconnect latency (every reconnect of the run, per sipload run): "
          + "; ".join(f"p50 {x.get('p50_us', 0) / 1000:.0f} ms, p90 {x.get('p90_us', 0) / 1000:.0f} ms,"
                      f" p99 {x.get('p99_us', 0) / 1000:.0f} ms, max {x.get('max_us', 0) / 1000:.0f} ms"
                      for x in lat))
    return j.lines, j.ok


def main(argv):
    """Command line: see the module's doc."""
    name, args = (argv[1], argv[2:]) if len(argv) > 1 else (None, [])
    if name == "wait-tcp" and len(args) == 3:
        ok = wait_for(lambda: tcp_open(args[0], int(args[1])), float(args[2]))
        print("" if ok else f"cluster: nothing listens on {args[0]}:{args[1]}", end="", file=sys.stderr)
        return 0 if ok else 1
    if name == "lb-up" and len(args) >= 3:
        ok = wait_for(lambda: lb_up(args[0], args[2:]), float(args[1]))
        if not ok:
            print(f"cluster: HAProxy does not see {' '.join(args[2:])} up", file=sys.stderr)
        return 0 if ok else 1
    if name == "wait-dmq" and len(args) == 3:
        ok = wait_for(lambda: dmq_active(args[0]) >= 2 and dmq_active(args[1]) >= 2, float(args[2]))
        if not ok:
            print("cluster: the cores did not find each other over DMQ", file=sys.stderr)
        return 0 if ok else 1
    if name == "metrics" and len(args) == 1:
        with urllib.request.urlopen(f"http://{args[0]}/metrics", timeout=5) as r:
            print(node_line(benchlib.parse_metrics(r.read().decode())))
        return 0
    if name == "udp-drops" and not args:
        for addr, drops in udp_drops(sys.stdin.read()):
            print(f"{addr} drops={drops}")
        return 0
    if name == "report" and len(args) == 1:
        lines, ok = report(args[0])
        print("\n".join(lines))
        return 0 if ok else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
