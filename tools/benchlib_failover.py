#!/usr/bin/env python3
"""The Python behind tools/failover/failover.sh (standard library only): a SIP OPTIONS ping, a sampler of
sipedged's per-target metrics, and the judgement of a run.

usage: python3 tools/benchlib_failover.py COMMAND ARGS...

  options HOST PORT [SECONDS]       wait (default 10 s) until HOST:PORT answers a SIP OPTIONS over UDP with 200
  wait-up ADMIN SECONDS HOSTPORT... wait until sipedged's /metrics (127.0.0.1:ADMIN) shows each core target up
  watch ADMIN FILE SECONDS [STEP]   sample the targets' up, requests and failovers series every STEP seconds (0.1)
                                    for SECONDS, one JSON line {"t": unix time, "m": {series: value}} per sample
  report OUT PROBE_SECONDS          judge the run in OUT (events.txt, samples.jsonl, bindings.txt, sipedged.log,
                                    and sipload's message.json and register.json, those there are): the figures,
                                    PASS or FAIL; exit status 1 on FAIL

Targets are named by HOST:PORT and matched against the end of each series' target label (target="udp:H:P").
Times are unix times from the same clock: the script's `date +%s.%N`, sipload's `failures` (began_ms) and the
samples. Exit status 2 for a usage error, 1 for a failed judgement or a file that cannot be read.
"""
import datetime
import json
import os
import re
import socket
import sys
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

PREFIX = "sipedge_core_target_"
UP, REQUESTS, FAILOVERS = PREFIX + "up", PREFIX + "requests_total", PREFIX + "failovers_total"
TARGET_LABEL = re.compile(r'target="([^"]*)"')
ANSI = re.compile(r"\x1b\[[0-9;]*m")
LOG_EVENT = re.compile(r"^(\S+)\s.*core target (down|up)\b.*?target=(\S+)")

# ---------------------------------------------------------------------------------------------------------------
# A SIP OPTIONS ping over UDP


def options_request(host, port, local_port, branch):
    """An OPTIONS request to sip:HOST:PORT from 127.0.0.1:LOCAL_PORT (bytes)."""
    return (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:ping@127.0.0.1>;tag={branch[:10]}\r\n"
            f"To: <sip:{host}:{port}>\r\n"
            f"Call-ID: {branch}@127.0.0.1\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def status_code(datagram):
    """The status code of a SIP response, None for anything else."""
    first = datagram.split(b"\r\n", 1)[0].split(b" ")
    if len(first) >= 2 and first[0] == b"SIP/2.0" and first[1].isdigit():
        return int(first[1])
    return None


def options_ok(host, port, seconds=10.0):
    """True once HOST:PORT answers an OPTIONS with 200 (one every 0.2 s), False when `seconds` pass first."""
    deadline = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            s.sendto(options_request(host, port, s.getsockname()[1], uuid.uuid4().hex), (host, port))
            try:
                if status_code(s.recv(65535)) == 200:
                    return True
            except OSError:
                time.sleep(0.2)  # nothing yet, or ICMP port unreachable: the core is not listening yet
    return False


# ---------------------------------------------------------------------------------------------------------------
# Per-target series


def target_state(series, hostport):
    """(up, requests, failovers) of the core target HOST:PORT in one /metrics document: up is 1 only when every
    series of it says up (None without any), the counters are summed over the target's series (workers)."""
    ups, requests, failovers = [], 0.0, 0.0
    for key, value in series.items():
        m = TARGET_LABEL.search(key)
        if not m or not m.group(1).endswith(hostport):
            continue
        name = key.split("{", 1)[0]
        if name == UP:
            ups.append(value)
        elif name == REQUESTS:
            requests += value
        elif name == FAILOVERS:
            failovers += value
    up = (1 if min(ups) >= 1 else 0) if ups else None
    return up, requests, failovers


def fetch_series(admin):
    """The up, requests and failovers series of each core target in sipedged's /metrics on 127.0.0.1:ADMIN."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=2) as r:
        series = benchlib.parse_metrics(r.read().decode())
    return {k: v for k, v in series.items() if k.split("{", 1)[0] in (UP, REQUESTS, FAILOVERS)}


def wait_up(admin, seconds, hostports):
    """True once every target in `hostports` is up in /metrics, False when `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            series = fetch_series(admin)
            if all(target_state(series, hp)[0] == 1 for hp in hostports):
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def watch(admin, path, seconds, step=0.1):
    """Append one sample line to `path` every `step` seconds for `seconds` (a failed fetch writes none)."""
    deadline = time.monotonic() + seconds
    with open(path, "a") as f:
        while time.monotonic() < deadline:
            try:
                series = fetch_series(admin)
                f.write(json.dumps({"t": time.time(), "m": series}) + "\n")
                f.flush()
            except OSError:
                pass
            time.sleep(step)
    return 0


def read_samples(path):
    """[(t, series)] from a watch file, in time order (a torn last line is skipped)."""
    samples = []
    with open(path) as f:
        for line in f:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            samples.append((d["t"], d["m"]))
    return sorted(samples, key=lambda s: s[0])


def points(samples, hostport):
    """[(t, up, requests)] of one target over the samples that name it."""
    out = []
    for t, series in samples:
        up, requests, _ = target_state(series, hostport)
        if up is not None:
            out.append((t, up, requests))
    return out


def increases(pts, start, end=float("inf")):
    """[(t, requests added since the sample before)] for the samples in (start, end] whose count rose."""
    return [(t, r - r0) for (_, _, r0), (t, _, r) in zip(pts, pts[1:]) if start < t <= end and r > r0]


def first_up(pts, start, up):
    """The time of the first sample after `start` whose state is `up`, None when there is none."""
    return next((t for t, u, _ in pts if t > start and u == up), None)


# ---------------------------------------------------------------------------------------------------------------
# The daemon's log, the script's events, sipload's failures


def log_events(path):
    """[(unix time, "down" or "up", target)] of sipedged's "core target down/up" log lines ([] without a log)."""
    events = []
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return events
    for line in lines:
        m = LOG_EVENT.search(ANSI.sub("", line))
        if m:
            try:
                stamp = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
            events.append((stamp, m.group(2), m.group(3).strip('"')))
    return events


def first_log(events, kind, hostport, start):
    """The time of the first `kind` event of the target after `start`, None when there is none."""
    return next((t for t, k, target in events if k == kind and target.endswith(hostport) and t > start), None)


def read_pairs(path):
    """A file of `name value` lines as {name: value} (values as written)."""
    with open(path) as f:
        return dict(line.split(None, 1) for line in f.read().split("\n") if line.strip())


def failures_between(report, start, end):
    """[(began, kind, error, count)] of sipload's failures that began in [start, end) (unix seconds)."""
    out = []
    for f in report.get("failures", []):
        began = f["began_ms"] / 1000.0
        if start <= began < end:
            out.append((began, f["kind"], f["error"], f["count"]))
    return out


def describe(failures):
    """`12 MESSAGE timeout, 1 REGISTER status 503` for [(began, kind, error, count)]."""
    sums = {}
    for _, kind, error, count in failures:
        sums[(kind, error)] = sums.get((kind, error), 0) + count
    return ", ".join(f"{n} {kind} {error}" for (kind, error), n in sorted(sums.items())) or "none"


# ---------------------------------------------------------------------------------------------------------------
# The judgement


class Run:
    """What a failover run left in OUT."""

    def __init__(self, out):
        ev = read_pairs(os.path.join(out, "events.txt"))
        self.kill, self.restart = float(ev["kill"]), float(ev["restart"])
        self.core1, self.core2, self.clients = ev["core1"], ev["core2"], int(ev["clients"])
        self.bindings = {k: int(v) for k, v in read_pairs(os.path.join(out, "bindings.txt")).items()}
        self.loads = {name: benchlib.read_json_or_none(os.path.join(out, f"{name}.json"))
                      for name in ("message", "register")}
        self.loads = {name: load for name, load in self.loads.items() if load is not None}
        if not self.loads:
            raise ValueError(f"no sipload report (message.json, register.json) in {out}")
        samples = read_samples(os.path.join(out, "samples.jsonl"))
        self.p1, self.p2 = points(samples, self.core1), points(samples, self.core2)
        self.final = samples[-1][1] if samples else {}
        self.log = log_events(os.path.join(out, "sipedged.log"))


def before_kill(run):
    """(lines, ok): every binding replicated to core 2, and every request to core 1 (its priority) before the
    kill."""
    b1, b2 = run.bindings.get("core1", 0), run.bindings.get("core2", 0)
    to1 = sum(n for _, n in increases(run.p1, 0, run.kill))
    to2 = sum(n for _, n in increases(run.p2, 0, run.kill))
    ok_repl = b1 == b2 == run.clients
    ok_prio = to1 > 0 and to2 == 0
    return [f"replication: {run.clients} clients registered through core 1; bindings before the kill: core 1 "
            f"{b1}, core 2 {b2} -> {benchlib.verdict(ok_repl)}",
            f"before the kill: {to1:.0f} requests to core 1 {run.core1}, {to2:.0f} to core 2 {run.core2} -> "
            f"{benchlib.verdict(ok_prio)}"], ok_repl and ok_prio


def switch_over(run, probe):
    """(lines, ok, switch_at): core 1 marked down after the kill, and its last request at most two probe
    intervals after it; switch_at is the time of the sample that saw that last request (the kill when none)."""
    last = increases(run.p1, run.kill, run.restart)
    switch_at = last[-1][0] if last else run.kill
    down = first_up(run.p1, run.kill, 0)
    down_log = first_log(run.log, "down", run.core1, run.kill)
    to2 = sum(n for _, n in increases(run.p2, switch_at, run.restart))
    switch = switch_at - run.kill
    ok = down is not None and down < run.restart and switch <= 2 * probe and to2 > 0
    seen = f"{down - run.kill:.2f} s" if down is not None else "never"
    logged = f"{down_log - run.kill:.2f} s" if down_log is not None else "no log line"
    failovers = target_state(run.final, run.core1)[2]
    return [f"kill: core 1 seen down in /metrics {seen} after the kill (log: {logged}); its last request "
            f"{switch:.2f} s after the kill, then every new one to core 2 ({to2:.0f} until the "
            f"restart); target <= {2 * probe:g} s -> {benchlib.verdict(ok)}",
            f"sent on: {failovers:.0f} requests core 1 left unanswered went on to core 2 (failovers_total)"], \
        ok, switch_at


def load_line(name, load):
    """`message run: 300 REGISTER, 9000 MESSAGE ok; 0 connections failed`."""
    tx = load.get("transactions", {})
    ok_counts = ", ".join(f"{tx[k]['ok']} {k}" for k in ("REGISTER", "MESSAGE") if k in tx) or "nothing"
    return f"{name} run: {ok_counts} ok; {load['connections_failed']} connections failed"


def failures_judged(run, switch_at):
    """(lines, ok): every failure began between a second before the kill and the switch-over; none after."""
    listed, window, unlisted, conns = [], [], 0, 0
    for load in run.loads.values():
        mine = failures_between(load, 0, float("inf"))
        listed += mine
        window += failures_between(load, run.kill - 1.0, switch_at + 0.001)
        unlisted += load["messages_failed"] - sum(f[3] for f in mine)
        conns += load["connections_failed"]
    outside = [f for f in listed if f not in window]
    ok = not outside and unlisted == 0 and conns == 0
    n = sum(f[3] for f in window)
    span = (f"began {min(f[0] for f in window) - run.kill:+.1f} s to {max(f[0] for f in window) - run.kill:+.1f} s "
            "from the kill (100 ms steps)" if window else "")
    lines = [load_line(name, load) for name, load in run.loads.items()]
    lines.append(f"failed at the kill: {n} ({describe(window)}) {span}".rstrip())
    lines.append(f"failed outside it: {sum(f[3] for f in outside)} ({describe(outside)}), without a start time: "
                 f"{unlisted} -> {benchlib.verdict(ok)}")
    return lines, ok


def comeback(run, probe):
    """(lines, ok): core 1, restarted, is seen up again and takes the new requests back from core 2."""
    up = first_up(run.p1, run.restart, 1)
    up_log = first_log(run.log, "up", run.core1, run.restart)
    back = increases(run.p1, run.restart)
    back_at = back[0][0] if back else None
    # One sample after the first that saw core 1 take requests: requests counted in that sample may have left
    # before core 1 was up.
    late = sum(n for _, n in increases(run.p2, back_at + 1.5 * step_of(run.p2))) if back_at else None
    ok = up is not None and back_at is not None and late == 0
    fmt = (lambda t: f"{t - run.restart:.2f} s" if t is not None else "never")
    synced = run.bindings.get("restarted", 0)
    return [f"restart: core 1 seen up {fmt(up)} after its restart (log: {fmt(up_log)}; 2 good probes "
            f"{probe:g} s apart), took requests again {fmt(back_at)} after it; core 2 got {late} new requests after "
            f"that; core 1 held {synced} bindings 1 s after its restart -> {benchlib.verdict(ok)}"], ok


def step_of(pts):
    """The median time between samples (0.1 s when there are too few)."""
    gaps = sorted(b[0] - a[0] for a, b in zip(pts, pts[1:]))
    return gaps[len(gaps) // 2] if gaps else 0.1


def failover(out, probe):
    """(lines, ok) of a failover run in OUT with probes every `probe` seconds."""
    run = Run(out)
    if not run.p1 or not run.p2:
        return [f"failover: no {PREFIX}* series for {run.core1} and {run.core2} in samples.jsonl -> FAIL"], False
    lines, ok = before_kill(run)
    more, ok_switch, switch_at = switch_over(run, probe)
    lines += more
    for more, ok_part in (failures_judged(run, switch_at), comeback(run, probe)):
        lines += more
        ok = ok and ok_part
    ok = ok and ok_switch
    lines.append(f"failover: {benchlib.verdict(ok)}")
    return lines, ok


def main(argv):
    """Run one command; its exit status."""
    name, args = (argv[1], argv[2:]) if len(argv) > 1 else (None, [])
    commands = {
        "options": ((2, 3), lambda a: 0 if options_ok(a[0], int(a[1]), *map(float, a[2:])) else 1),
        "wait-up": ((3, 99), lambda a: 0 if wait_up(int(a[0]), float(a[1]), a[2:]) else 1),
        "watch": ((3, 4), lambda a: watch(int(a[0]), a[1], float(a[2]), *map(float, a[3:]))),
        "report": ((2, 2), lambda a: benchlib.judged(failover(a[0], float(a[1])))),
    }
    if name not in commands:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    (low, high), run = commands[name]
    if not low <= len(args) <= high:
        print(f"benchlib_failover {name}: expected {low}..{high} arguments, got {len(args)}", file=sys.stderr)
        return 2
    try:
        status = run(args)
    except (OSError, ValueError) as e:
        print(f"benchlib_failover {name}: {e}", file=sys.stderr)
        return 1
    except KeyError as e:
        print(f"benchlib_failover {name}: {e} missing from the run's files", file=sys.stderr)
        return 1
    if status and name in ("options", "wait-up"):
        print(f"benchlib_failover {name} {' '.join(args)}: not there in time", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
