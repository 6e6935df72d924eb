#!/usr/bin/env python3
"""The Python behind the scripts under tools/ (standard library only).

usage: python3 tools/benchlib.py COMMAND ARGS...

  free-port                          a free TCP port on 127.0.0.1
  free-udp-pair                      a UDP port p on 127.0.0.1 with p and p+1 free (two workers toward the core)
  wait-tcp PORT [SECONDS]            wait (default 10 s) until something listens on 127.0.0.1:PORT
  metrics PORT FILE                  sipedged's /metrics on 127.0.0.1:PORT as JSON {name{labels}: value} into FILE
  node-latency FILE                  from such a FILE: the node's own forward and handshake p50/p99, busy time
  autobahn-spec OUTDIR AGENT URL CASES
                                     write OUTDIR/fuzzingclient.json (wstest's fuzzingclient, reports in OUTDIR/reports)
  autobahn-check INDEX AGENT EXPECTED [CASES]
                                     check an Autobahn|Testsuite report (index.json) against the expected results
  autobahn-check --write INDEX AGENT EXPECTED
                                     record the report's results as the expected ones
  throughput OUT ROUNDS              tools/scale/throughput.sh: the table and the ratios of the medians
  scale-uring JSON                   tools/scale/scale.sh, io_uring part: PASS/FAIL
  scale-epoll JSON REFUSED           tools/scale/scale.sh, epoll part: PASS/FAIL
  sip-scale JSON CLIENTS             tools/scale/sip-scale.sh: PASS/FAIL
  wss-scale OUT CLIENTS HANDSHAKES   tools/scale/wss-scale.sh: PASS/FAIL and handshakes per server CPU-second
  compare OUT CLIENTS RATE SERVERS   tools/compare/compare.sh: the Markdown table
  flood OUT FLOOD_CONNS CLIENTS FLOOD_RATE MSG_RATE FLOOD_RAMP
                                     tools/flood/flood.sh: the table; writes OUT/flood.json
  loss OUT                           tools/loss/loss.sh: 0 lost through the lossy path, retransmissions counted

The reports read here are sipload's --json files. A command that judges a run exits 1 when it fails (or when a
report it needs is missing), 0 otherwise; usage errors exit 2.
"""
import fnmatch
import json
import math
import os
import socket
import statistics
import sys
import time
import urllib.request

# ---------------------------------------------------------------------------------------------------------------
# Reading sipload reports


def read_json(path):
    """The JSON document at `path`; OSError / ValueError when it is missing or not JSON."""
    with open(path) as f:
        return json.load(f)


def read_json_or_none(path):
    """The JSON document at `path`, or None when it is missing or not JSON (a run that wrote no report)."""
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def failed(report):
    """Failed connections plus failed messages of a report (None for a missing report)."""
    if report is None:
        return None
    return report["connections_failed"] + report["messages_failed"]


def transaction(report, kind):
    """The per-kind transaction counters (`REGISTER`, `MESSAGE`, `keepalive`, ...); {} when absent."""
    return (report or {}).get("transactions", {}).get(kind, {})


def latency(report, kind, quantile):
    """A latency quantile (`p50_us`, `p99_us`) of one transaction kind, in microseconds; 0 when absent."""
    return transaction(report, kind).get("latency", {}).get(quantile, 0)


def verdict(ok, miss="FAIL"):
    """PASS, or `miss` (FAIL by default)."""
    return "PASS" if ok else miss


class Judge:
    """Collects a report's lines and whether every check passed."""

    def __init__(self):
        self.lines, self.ok = [], True

    def say(self, text):
        self.lines.append(text)

    def check(self, ok, text):
        self.lines.append(f"{verdict(ok)} {text}")
        self.ok = self.ok and ok


# ---------------------------------------------------------------------------------------------------------------
# Loopback ports and sipedged's metrics


def free_port():
    """A TCP port on 127.0.0.1 that nothing is bound to (at the time of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_pair():
    """A UDP port p on 127.0.0.1 such that p and p + 1 are both free."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                    b.bind(("127.0.0.1", port + 1))
                    return port
            except OSError:
                continue


def wait_tcp(port, seconds=10.0, clock=time.monotonic, sleep=time.sleep):
    """True once a TCP connection to 127.0.0.1:port succeeds, False when `seconds` pass first."""
    deadline = clock() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            if clock() >= deadline:
                return False
            sleep(0.1)


def parse_metrics(text):
    """Prometheus text exposition as {name{labels}: value}; repeated series are summed, comments skipped."""
    series = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            series[key] = series.get(key, 0) + float(value)
    return series


def fetch_metrics(port, path):
    """Fetch http://127.0.0.1:PORT/metrics and write it as JSON into `path`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        series = parse_metrics(r.read().decode())
    with open(path, "w") as f:
        json.dump(series, f, indent=1)


def histogram_quantile(series, name, q, labels=""):
    """The upper bound (seconds) of the bucket of Prometheus histogram `name` (with `labels`, `key="value"`)
    holding quantile `q` of its observations in parsed `series`, and their count; (None, 0) with none."""
    sep = "," if labels else ""
    prefix = f"{name}_bucket{{{labels}{sep}le=\""
    buckets = sorted((float(k[len(prefix):-2]), v) for k, v in series.items() if k.startswith(prefix))
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None, 0
    rank = max(1, math.ceil(q * total))
    finite = [(le, n) for le, n in buckets if le != float("inf")]
    return next((le for le, n in finite if n >= rank), finite[-1][0]), int(total)


def node_latency(path):
    """One line: the node's own forward and handshake latency (p50, p99 as bucket bounds) from a metrics JSON."""
    series = read_json(path)
    parts = []
    for what, name, labels in (("forward to browsers", "sipedge_forward_seconds", 'direction="to_client"'),
                               ("forward to the core", "sipedge_forward_seconds", 'direction="to_core"'),
                               ("handshakes", "sipedge_handshake_seconds", "")):
        p50, n = histogram_quantile(series, name, 0.5, labels)
        p99, _ = histogram_quantile(series, name, 0.99, labels)
        if n:
            parts.append(f"{what}: {n}, p50 <= {p50 * 1000:g} ms, p99 <= {p99 * 1000:g} ms")
    busy = sum(v for k, v in series.items() if k.startswith("sipedge_worker_busy_seconds_total"))
    print(f"the node's own latency: {'; '.join(parts) or 'nothing observed'}; workers busy {busy:.2f} s in all")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Autobahn|Testsuite

AUTOBAHN_GOOD = {"OK", "NON-STRICT", "INFORMATIONAL"}


def case_patterns(cases):
    """The case patterns of a comma-separated list such as "12.*,13.1.*"."""
    return [c.strip() for c in cases.split(",") if c.strip()]


def autobahn_spec(outdir, agent, url, cases):
    """wstest's fuzzingclient spec: one server (agent, url), the case patterns (comma-separated), reports in
    outdir/reports."""
    return {
        "outdir": os.path.join(outdir, "reports"),
        "servers": [{"agent": agent, "url": url}],
        "cases": case_patterns(cases),
        "exclude-cases": [],
        "exclude-agent-cases": {},
    }


def case_key(case_id):
    """Sort key of an Autobahn case id such as 12.1.10."""
    return tuple(int(p) for p in case_id.split("."))


def autobahn_results(index, agent):
    """{case: behavior} of one agent in an index.json document; ValueError when the agent is missing."""
    if agent not in index:
        raise ValueError("report has no results for agent %r (agents: %s)" % (agent, ", ".join(index) or "none"))
    return {case: r.get("behavior", "MISSING") for case, r in index[agent].items()}


def autobahn_problem(case, got, want, raw, expected_name):
    """What is wrong with one case's result `got` (None: no result), or None when it is right."""
    section = case_key(case)[0]
    if got is None:
        return "%s: no result (expected %s)" % (case, want)
    if got not in AUTOBAHN_GOOD:
        section_name = "permessage-deflate" if section >= 12 else "section %d" % section
        return "%s: %s (%s; close: %s)" % (case, got, section_name, raw[case].get("behaviorClose"))
    if want is None:
        return "%s: %s, not in %s" % (case, got, expected_name)
    if got != want:
        return "%s: %s, expected %s" % (case, got, want)
    return None


def autobahn_problems(raw, results, expected, expected_name):
    """{case: what is wrong} over the results and the expected cases (every section OK, NON-STRICT or
    INFORMATIONAL, permessage-deflate's 12-13 included; every result equal to the expected one), in case order."""
    problems = {}
    for case in sorted(set(expected) | set(results), key=case_key):
        problem = autobahn_problem(case, results.get(case), expected.get(case), raw, expected_name)
        if problem:
            problems[case] = problem
    return problems


def autobahn_check(index, agent, expected, expected_name, pattern="*"):
    """(lines to print, ok) for one agent's results against the expected ones matching `pattern`."""
    results = autobahn_results(index, agent)
    patterns = case_patterns(pattern)
    expected = {c: b for c, b in expected.items() if any(fnmatch.fnmatch(c, p) for p in patterns)}
    problems = autobahn_problems(index[agent], results, expected, expected_name)
    counts = {}
    for b in results.values():
        counts[b] = counts.get(b, 0) + 1
    summary = ", ".join("%s %d" % kv for kv in sorted(counts.items()))
    lines = ["autobahn %s: %d cases: %s" % (agent, len(results), summary)]
    lines += ["  FAIL " + p for p in problems.values()]
    passed = sum(1 for case in results if case not in problems)
    lines.append("autobahn %s: %d passed, %d failed" % (agent, passed, len(problems)))
    return lines, not problems


def read_autobahn_index(path):
    """index.json of a fuzzingclient run; exits with a message when it is missing or unreadable."""
    try:
        return read_json(path)
    except (OSError, ValueError) as e:
        sys.exit("autobahn: no usable report at %s: %s" % (path, e))


def autobahn_main(args):
    """The autobahn-check command; returns the exit status."""
    if args[:1] == ["--write"]:
        index_path, agent, expected_path = args[1:4]
        try:
            results = autobahn_results(read_autobahn_index(index_path), agent)
        except ValueError as e:
            sys.exit("autobahn: %s" % e)
        with open(expected_path, "w") as f:
            json.dump(dict(sorted(results.items(), key=lambda kv: case_key(kv[0]))), f, indent=1)
            f.write("\n")
        print("autobahn: wrote %d expected results to %s" % (len(results), expected_path))
        return 0
    index_path, agent, expected_path = args[:3]
    pattern = args[3] if len(args) > 3 else "*"
    index = read_autobahn_index(index_path)
    try:
        lines, ok = autobahn_check(index, agent, read_json(expected_path), expected_path, pattern)
    except ValueError as e:
        sys.exit("autobahn: %s" % e)
    print("\n".join(lines))
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------------------------------
# tools/scale


def throughput(out, rounds):
    """(lines, ok) of throughput.sh: one row per server and round, medians, ratios against the targets."""
    lines = [f"{'server':10} {'round':>5} {'msgs/s':>10} {'srv CPU-s':>9} {'msgs/CPU-s':>11} {'p50 us':>7} "
             f"{'p99 us':>7} {'failed':>6}"]
    rows = {}
    for name in ("uring", "epoll", "fwsecho"):
        for r in range(1, rounds + 1):
            j = read_json(f"{out}/{name}-{r}.json")
            s = j["server"]
            rows.setdefault(name, []).append(s["msgs_per_server_cpu_sec"])
            lines.append(f"{name:10} {r:>5} {j['msgs_per_sec']:>10.0f} {s['traffic_cpu_secs']:>9.2f} "
                         f"{s['msgs_per_server_cpu_sec']:>11.0f} {j['latency']['p50_us']:>7} "
                         f"{j['latency']['p99_us']:>7} {failed(j):>6}")
    med = {k: statistics.median(v) for k, v in rows.items()}
    for k, v in rows.items():
        lines.append(f"{k:10} msgs per server CPU-second: median {med[k]:.0f} (min {min(v):.0f}, max {max(v):.0f}, "
                     f"{len(v)} rounds)")
    r_fws, r_epoll = med["uring"] / med["fwsecho"], med["uring"] / med["epoll"]
    lines.append(f"ringmux io_uring / fwsecho: {r_fws:.3f}x   (target >= 1.3x: {verdict(r_fws >= 1.3, 'MISS')})")
    lines.append(f"ringmux epoll    / fwsecho: {med['epoll'] / med['fwsecho']:.3f}x")
    lines.append(f"io_uring / epoll:           {r_epoll:.3f}x   (target >= 1.2x: {verdict(r_epoll >= 1.2, 'MISS')})")
    return lines, True


def scale_uring(j):
    """(lines, ok) of scale.sh's io_uring part: nothing failed, every connection echoed, Rss growth <= 1 KiB each."""
    s = j["server"]
    ok = j["connections_failed"] == 0 and j["messages_failed"] == 0 and j["messages_ok"] == j["connections"]
    ok = ok and s["rss_growth_per_conn_bytes"] <= 1024
    return [f"io_uring: {j['connections_ok']} held, {j['messages_ok']} echoed, {failed(j)} failed; "
            f"Rss growth {s['rss_growth_per_conn_bytes']:.0f} B/conn, "
            f"Pss growth {s['pss_growth_per_conn_bytes']:.0f} B/conn -> {verdict(ok)}"], ok


def scale_epoll(j, refused):
    """(lines, ok) of scale.sh's epoll part: about its descriptor limit held, the rest refused and logged."""
    held = j["messages_ok"]
    ok = 19000 <= held < j["connections"] and refused > 0
    return [f"epoll: held and echoed {held} of {j['connections']}; {j['connections_failed']} refused; "
            f"server logged 'out of file descriptors' {refused} times -> {verdict(ok)}"], ok


def sip_scale(j, clients):
    """(lines, ok) of sip-scale.sh: every client registered and held, 0 failed, Pss growth <= 1 KiB per client."""
    s = j["server"]
    n_failed = failed(j)
    reg, ka = transaction(j, "REGISTER"), transaction(j, "keepalive")
    ok = n_failed == 0 and j["connections_ok"] == clients and s["pss_growth_per_conn_bytes"] <= 1024
    return [f"sip scale: {j['connections_ok']} of {clients} registered and held; REGISTER {reg.get('ok', 0)} ok "
            f"(p50 {latency(j, 'REGISTER', 'p50_us')} us, p99 {latency(j, 'REGISTER', 'p99_us')} us), "
            f"keepalive {ka.get('ok', 0)} ok; {n_failed} failed; "
            f"Pss growth {s['pss_growth_per_conn_bytes']:.0f} B/client, "
            f"Rss growth {s['rss_growth_per_conn_bytes']:.0f} B/client -> {verdict(ok)}"], ok


def tls_counts(j):
    """The `(TLS N full, M resumed)` part of a wss:// report's summary."""
    return f"(TLS {j.get('tls_full', 0)} full, {j.get('tls_resumed', 0)} resumed)"


def wss_handshakes(k, mode, asked):
    """(line, ok) of one handshake run: connections per server CPU-second between the before and held samples."""
    ks = k["server"]
    cpu = ks["held"]["cpu_secs"] - ks["before"]["cpu_secs"]
    conns = k["connections_ok"]
    rate = conns / cpu if cpu > 0 else 0.0
    return (f"handshakes ({mode}): {conns} of {asked} ok, {k['connections_failed']} failed {tls_counts(k)}; "
            f"server {cpu:.2f} CPU-s = {rate:.0f} handshakes per server CPU-second"), k["connections_failed"] == 0


def wss_scale(out, clients, handshakes):
    """(lines, ok) of wss-scale.sh: memory per wss:// client with tokens (<= 4 KiB), then the handshake runs."""
    j = read_json(f"{out}/scale.json")
    s = j["server"]
    n_failed = failed(j)
    pss = s["pss_growth_per_conn_bytes"]
    ok = n_failed == 0 and j["connections_ok"] == clients and pss <= 4096
    lines = [f"wss scale: {j['connections_ok']} of {clients} registered over wss:// with tokens {tls_counts(j)}; "
             f"REGISTER {transaction(j, 'REGISTER').get('ok', 0)} ok; {n_failed} failed; "
             f"Pss {s['before']['pss_kib']} -> {s['held']['pss_kib']} KiB, "
             f"{pss:.0f} B/client (Rss {s['rss_growth_per_conn_bytes']:.0f}) -> {verdict(ok)}"]
    for mode in ("full", "resumed"):
        line, mode_ok = wss_handshakes(read_json(f"{out}/handshakes-{mode}.json"), mode, handshakes)
        lines.append(line)
        ok = ok and mode_ok
    return lines, ok


# ---------------------------------------------------------------------------------------------------------------
# tools/compare


def cpu_per_10k(j):
    """Server CPU-seconds per 10,000 MESSAGE transactions of the traffic phase (NaN without any)."""
    n = transaction(j, "MESSAGE").get("traffic_ok", 0)
    return j["server"]["traffic_cpu_secs"] / n * 10000 if j and n else float("nan")


def compare_row(out, server, clients):
    """The numbers of one server's three runs (idle, rate, saturation) for the comparison table."""
    idle, sat, fix = (read_json_or_none(os.path.join(out, f"{server}-{run}.json"))
                      for run in ("idle", "saturation", "rate"))
    return {
        "server": server,
        "held": f"{idle['connections_ok']}/{clients}" if idle else "-",
        "failed": sum((j or {}).get("connections_failed", 0) + (j or {}).get("messages_failed", 0)
                      for j in (idle, sat, fix)),
        "mem": idle["server"]["pss_growth_per_conn_bytes"] if idle else float("nan"),
        "sat": transaction(sat, "MESSAGE").get("per_sec", float("nan")),
        "cpu_sat": cpu_per_10k(sat),
        "cpu_fix": cpu_per_10k(fix),
        "p50": latency(fix, "MESSAGE", "p50_us") / 1000,
        "p99": latency(fix, "MESSAGE", "p99_us") / 1000,
    }


def compare(out, clients, rate, servers):
    """(lines, ok) of compare.sh: a Markdown table, one column per server, a ratio column for two servers."""
    rows = [compare_row(out, s, clients) for s in servers]
    cols = [
        ("connections held (idle, registered)", lambda r: r["held"], None),
        ("user-space memory per idle registered client (Pss delta / N)", lambda r: f"{r['mem'] / 1024:.2f} KiB", "mem"),
        ("MESSAGE tx/s at saturation (flat out)", lambda r: f"{r['sat']:.0f}", "sat"),
        ("server CPU-s per 10k MESSAGE, at saturation", lambda r: f"{r['cpu_sat']:.3f}", "cpu_sat"),
        (f"server CPU-s per 10k MESSAGE, at {rate} tx/s", lambda r: f"{r['cpu_fix']:.3f}", "cpu_fix"),
        (f"MESSAGE p50 at {rate} tx/s", lambda r: f"{r['p50']:.3f} ms", "p50"),
        (f"MESSAGE p99 at {rate} tx/s", lambda r: f"{r['p99']:.3f} ms", "p99"),
        ("failed (connections + transactions, all runs)", lambda r: str(r["failed"]), None),
    ]
    pair = len(rows) == 2
    lines = [f"| {clients} clients | " + " | ".join(r["server"] for r in rows) + (" | ratio |" if pair else " |"),
             "|---|" + "---|" * (len(rows) + (1 if pair else 0))]
    for name, cell, ratio_of in cols:
        line = f"| {name} | " + " | ".join(cell(r) for r in rows)
        if pair and ratio_of:
            a, b = rows[0][ratio_of], rows[1][ratio_of]
            line += f" | {a / b:.2f}x" if b else " | -"
        elif pair:
            line += " | "
        lines.append(line + " |")
    return lines, True


# ---------------------------------------------------------------------------------------------------------------
# tools/flood

REJECTIONS = 'sipedge_handshake_rejections_total{reason="%s"}'


def metrics_delta(out, phase, key):
    """How much a /metrics series grew between OUT/metrics-PHASE-before.json and ...-after.json."""
    a = read_json_or_none(os.path.join(out, f"metrics-{phase}-before.json"))
    b = read_json_or_none(os.path.join(out, f"metrics-{phase}-after.json"))
    return int((b or {}).get(key, 0) - (a or {}).get(key, 0))


def error_count(report, needle):
    """How many errors of a report have `needle` in their description."""
    return sum(v for k, v in (report or {}).get("errors", {}).items() if needle in k)


def messages_sent(report):
    """MESSAGE transactions a report started: ok, failed or timed out."""
    m = transaction(report, "MESSAGE")
    return m.get("ok", 0) + m.get("failed", 0) + m.get("timed_out", 0)


def rate(report):
    """Messages per second of a report's traffic phase (0 for a missing report)."""
    return (report or {}).get("msgs_per_sec", 0)


def flood_connections(out, flood_conns, clients, flood_ramp):
    """(table rows, flood.json part, pass) of the connection flood beside normal registrations."""
    cf = read_json_or_none(os.path.join(out, "conn-flooder.json"))
    cn = read_json_or_none(os.path.join(out, "conn-normal.json"))
    rate_rej = metrics_delta(out, "a", REJECTIONS % "ip_handshake_rate")
    cap_rej = metrics_delta(out, "a", REJECTIONS % "ip_connection_cap")
    flood_503 = error_count(cf, "answered 503")
    flood_ok = (cf or {}).get("connections_ok", 0)
    registered = (cn or {}).get("connections_ok", 0)
    ok = (cf is not None and cn is not None
          and flood_503 >= 0.9 * flood_conns
          and rate_rej + cap_rej >= flood_503
          and failed(cn) == 0 and cn["connections_ok"] == clients)
    rows = [
        ("a) connection flood", "flooder 127.0.0.2", f"{flood_conns} opened at {flood_ramp}/s: {flood_ok} accepted, "
         f"{flood_503} refused 503; /metrics ip_handshake_rate {rate_rej}, ip_connection_cap {cap_rej}"),
        ("", f"{clients} normal clients", f"{registered} registered, {failed(cn)} failed; "
         f"REGISTER p50 {latency(cn, 'REGISTER', 'p50_us')} us, p99 {latency(cn, 'REGISTER', 'p99_us')} us"),
        ("", "result", verdict(ok)),
    ]
    summary = {"pass": ok, "flooder_connections": flood_conns, "flooder_accepted": flood_ok,
               "flooder_refused_503": flood_503, "metrics_ip_handshake_rate": rate_rej,
               "metrics_ip_connection_cap": cap_rej, "normal_clients": clients,
               "normal_registered": registered, "normal_failed": failed(cn)}
    return rows, summary, ok


def flood_requests(out, flood_rate, msg_rate):
    """(table rows, flood.json part, pass) of the request flood: baseline, then beside one flooding client."""
    base, norm, rf = (read_json_or_none(os.path.join(out, f"req-{name}.json"))
                      for name in ("baseline", "normal", "flooder"))
    limited = metrics_delta(out, "b", 'sipedge_routing_failures_total{reason="rate_limited"}')
    rf_503, rf_sent = error_count(rf, "MESSAGE: answered 503"), messages_sent(rf)
    p50 = [latency(j, "MESSAGE", "p50_us") for j in (base, norm)]
    p99 = [latency(j, "MESSAGE", "p99_us") for j in (base, norm)]
    ratio50, ratio99 = p50[1] / max(p50[0], 1), p99[1] / max(p99[0], 1)
    ok = (base is not None and norm is not None and rf is not None
          and failed(base) == 0 and failed(norm) == 0
          and rf_sent > 0 and rf_503 >= 0.9 * rf_sent and limited >= rf_503
          and ratio50 <= 2.0 and ratio99 <= 2.0)
    rows = [
        ("b) request flood", "baseline", f"MESSAGE {messages_sent(base)} at {rate(base):.0f}/s, "
         f"p50 {p50[0]} us, p99 {p99[0]} us, {failed(base)} failed"),
        ("", "with flooder", f"MESSAGE {messages_sent(norm)} at {rate(norm):.0f}/s, "
         f"p50 {p50[1]} us ({ratio50:.2f}x), p99 {p99[1]} us ({ratio99:.2f}x), {failed(norm)} failed"),
        ("", "flooder 127.0.0.20", f"{rf_sent} MESSAGE sent ({flood_rate}/s asked): {rf_503} answered 503; "
         f"/metrics rate_limited {limited}"),
        ("", "result", verdict(ok)),
    ]
    summary = {"pass": ok, "baseline_p50_us": p50[0], "baseline_p99_us": p99[0],
               "with_flooder_p50_us": p50[1], "with_flooder_p99_us": p99[1],
               "p50_ratio": round(ratio50, 3), "p99_ratio": round(ratio99, 3),
               "normal_rate_per_sec": msg_rate, "baseline_failed": failed(base), "normal_failed": failed(norm),
               "flooder_rate_asked": flood_rate, "flooder_sent": rf_sent, "flooder_503": rf_503,
               "metrics_rate_limited": limited}
    return rows, summary, ok


def flood(out, flood_conns, clients, flood_rate, msg_rate, flood_ramp):
    """(lines, ok) of flood.sh: both attacks in one aligned table; writes OUT/flood.json."""
    a_rows, a_summary, a_ok = flood_connections(out, flood_conns, clients, flood_ramp)
    b_rows, b_summary, b_ok = flood_requests(out, flood_rate, msg_rate)
    rows = a_rows + b_rows
    w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    with open(os.path.join(out, "flood.json"), "w") as f:
        json.dump({"connection_flood": a_summary, "request_flood": b_summary}, f, indent=1)
    return [f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}" for r in rows], a_ok and b_ok


# ---------------------------------------------------------------------------------------------------------------
# Command line


# ---------------------------------------------------------------------------------------------------------------
# tools/loss


def metric_sum(series, name):
    """The sum of a metric over its labels (every worker) in a fetched /metrics document."""
    return sum(v for k, v in series.items() if k == name or k.startswith(name + "{"))


def loss(out):
    """(lines, ok) of loss.sh: 0 failed REGISTER and MESSAGE transactions through the lossy path, and the
    retransmissions that made up for the drops counted."""
    reg, msg = read_json(f"{out}/register.json"), read_json(f"{out}/message.json")
    series = read_json(f"{out}/metrics.json")
    retransmitted = metric_sum(series, "sipedge_core_retransmissions_total")
    timeouts = series.get('sipedge_routing_failures_total{reason="core_transaction_timeout"}', 0)
    lines = []
    for name, r, kind in (("register burst", reg, "REGISTER"), ("message run", msg, "MESSAGE")):
        t = transaction(r, kind)
        lines.append(f"{name}: {t.get('ok', 0)} {kind} ok, {t.get('failed', 0)} failed, {t.get('timed_out', 0)} "
                     f"timed out; connections {r['connections_ok']} ok, {r['connections_failed']} failed; "
                     f"p50 {latency(r, kind, 'p50_us')} us, p99 {latency(r, kind, 'p99_us')} us")
    lost = failed(reg) + failed(msg) + sum(transaction(r, k).get("timed_out", 0)
                                           for r, k in ((reg, "REGISTER"), (msg, "MESSAGE")))
    ok = lost == 0 and retransmitted > 0
    lines.append(f"loss: {lost} lost, {retransmitted:.0f} retransmissions, {timeouts:.0f} given up -> {verdict(ok)}")
    return lines, ok


def judged(report):
    """Print a (lines, ok) report; the exit status."""
    lines, ok = report
    print("\n".join(lines))
    return 0 if ok else 1


def run_wait_tcp(args):
    """The wait-tcp command."""
    port = int(args[0])
    if wait_tcp(port, float(args[1]) if len(args) > 1 else 10.0):
        return 0
    print(f"nothing listens on 127.0.0.1:{port}", file=sys.stderr)
    return 1


def run_autobahn_spec(args):
    """The autobahn-spec command."""
    outdir, agent, url, cases = args
    with open(os.path.join(outdir, "fuzzingclient.json"), "w") as f:
        json.dump(autobahn_spec(outdir, agent, url, cases), f, indent=2)
        f.write("\n")
    return 0


def print_value(value):
    """Print one value (a port); exit status 0."""
    print(value)
    return 0


COMMANDS = {
    # name: (number of arguments (min, max), what runs it)
    "free-port": ((0, 0), lambda a: print_value(free_port())),
    "free-udp-pair": ((0, 0), lambda a: print_value(free_udp_pair())),
    "wait-tcp": ((1, 2), run_wait_tcp),
    "metrics": ((2, 2), lambda a: fetch_metrics(int(a[0]), a[1]) or 0),
    "node-latency": ((1, 1), lambda a: node_latency(a[0])),
    "autobahn-spec": ((4, 4), run_autobahn_spec),
    "autobahn-check": ((3, 4), autobahn_main),
    "throughput": ((2, 2), lambda a: judged(throughput(a[0], int(a[1])))),
    "scale-uring": ((1, 1), lambda a: judged(scale_uring(read_json(a[0])))),
    "scale-epoll": ((2, 2), lambda a: judged(scale_epoll(read_json(a[0]), int(a[1])))),
    "sip-scale": ((2, 2), lambda a: judged(sip_scale(read_json(a[0]), int(a[1])))),
    "wss-scale": ((3, 3), lambda a: judged(wss_scale(a[0], int(a[1]), int(a[2])))),
    "compare": ((4, 4), lambda a: judged(compare(a[0], int(a[1]), int(a[2]), a[3].split()))),
    "flood": ((6, 6), lambda a: judged(flood(a[0], *map(int, a[1:])))),
    "loss": ((1, 1), lambda a: judged(loss(a[0]))),
}


def main(argv):
    """Run one command; its exit status (2 for a usage error, 1 for a report that cannot be read)."""
    name, args = (argv[1], argv[2:]) if len(argv) > 1 else (None, [])
    if name not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    (low, high), run = COMMANDS[name]
    if not low <= len(args) <= high:
        print(f"benchlib {name}: expected {low}..{high} arguments, got {len(args)}", file=sys.stderr)
        return 2
    try:
        return run(args)
    except (OSError, ValueError) as e:
        print(f"benchlib {name}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
