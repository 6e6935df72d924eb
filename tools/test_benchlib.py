"""Unit tests of tools/benchlib.py: python3 -m unittest discover -s tools -p 'test_*.py'."""
import contextlib
import http.server
import io
import json
import math
import os
import socket
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def report(**fields):
    """A sipload --json report with every field the summaries read; `fields` replace the defaults."""
    j = {
        "connections": 100, "connections_ok": 100, "connections_failed": 0,
        "messages_ok": 100, "messages_failed": 0, "msgs_per_sec": 1234.4,
        "latency": {"p50_us": 80, "p99_us": 400},
        "errors": {},
        "transactions": {},
        "server": {
            "traffic_cpu_secs": 2.5, "msgs_per_server_cpu_sec": 50000.0,
            "rss_growth_per_conn_bytes": 700.2, "pss_growth_per_conn_bytes": 650.7,
            "before": {"pss_kib": 1000, "cpu_secs": 1.0}, "held": {"pss_kib": 2000, "cpu_secs": 3.0},
        },
    }
    j.update(fields)
    return j


class TempDir(unittest.TestCase):
    """A test with a temporary directory `self.dir` and `self.put(name, document)` to write JSON into it."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def put(self, name, doc):
        with open(os.path.join(self.dir, name), "w") as f:
            json.dump(doc, f)


class Reports(unittest.TestCase):
    def test_failed_adds_connections_and_messages(self):
        self.assertEqual(benchlib.failed(report(connections_failed=2, messages_failed=3)), 5)
        self.assertIsNone(benchlib.failed(None))

    def test_transaction_and_latency_default_to_empty(self):
        j = report(transactions={"MESSAGE": {"ok": 3, "latency": {"p50_us": 90}}})
        self.assertEqual(benchlib.transaction(j, "MESSAGE")["ok"], 3)
        self.assertEqual(benchlib.transaction(j, "REGISTER"), {})
        self.assertEqual(benchlib.transaction(None, "MESSAGE"), {})
        self.assertEqual(benchlib.latency(j, "MESSAGE", "p50_us"), 90)
        self.assertEqual(benchlib.latency(j, "MESSAGE", "p99_us"), 0)

    def test_read_json_or_none(self):
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "bad.json")
            with open(bad, "w") as f:
                f.write("{")
            self.assertIsNone(benchlib.read_json_or_none(bad))
            self.assertIsNone(benchlib.read_json_or_none(os.path.join(d, "missing.json")))
            with self.assertRaises(OSError):
                benchlib.read_json(os.path.join(d, "missing.json"))


class Ports(unittest.TestCase):
    def test_free_port_can_be_bound(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", benchlib.free_port()))

    def test_free_udp_pair_both_bind(self):
        p = benchlib.free_udp_pair()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
            a.bind(("127.0.0.1", p))
            b.bind(("127.0.0.1", p + 1))

    def test_wait_tcp_sees_a_listener(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            self.assertTrue(benchlib.wait_tcp(s.getsockname()[1], 1.0))

    def test_wait_tcp_gives_up_at_the_deadline(self):
        port = benchlib.free_port()
        now = [0.0]
        slept = []

        def sleep(secs):
            slept.append(secs)
            now[0] += secs

        self.assertFalse(benchlib.wait_tcp(port, 0.5, clock=lambda: now[0], sleep=sleep))
        self.assertEqual(len(slept), 5)


class Metrics(unittest.TestCase):
    TEXT = ('# HELP sipedge_x x\n# TYPE sipedge_x counter\nsipedge_x{worker="0"} 3\nsipedge_x{worker="1"} 4.5\n'
            'sipedge_y{reason="a b"} 1\nsipedge_y{reason="a b"} 2\n\n')

    def test_parse_sums_repeated_series_and_skips_comments(self):
        self.assertEqual(benchlib.parse_metrics(self.TEXT),
                         {'sipedge_x{worker="0"}': 3.0, 'sipedge_x{worker="1"}': 4.5, 'sipedge_y{reason="a b"}': 3.0})

    def test_fetch_writes_json(self):
        text = self.TEXT.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server name)
                self.send_response(200 if self.path == "/metrics" else 404)
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "m.json")
                benchlib.fetch_metrics(server.server_address[1], path)
                with open(path) as f:
                    self.assertEqual(json.load(f)['sipedge_x{worker="1"}'], 4.5)
        finally:
            server.shutdown()
            server.server_close()


class Autobahn(unittest.TestCase):
    EXPECTED = {"1.1.1": "OK", "6.4.1": "NON-STRICT", "12.1.1": "OK"}

    def index(self, **behaviors):
        results = {"1.1.1": "OK", "6.4.1": "NON-STRICT", "12.1.1": "OK"}
        results.update({k.replace("_", "."): v for k, v in behaviors.items()})
        return {"echo": {c: {"behavior": b, "behaviorClose": "OK"} for c, b in results.items() if b}}

    def check(self, index, pattern="*"):
        return benchlib.autobahn_check(index, "echo", self.EXPECTED, "expected.json", pattern)

    def test_spec(self):
        spec = benchlib.autobahn_spec("/o", "a", "ws://127.0.0.1:1", "*")
        self.assertEqual(spec["outdir"], "/o/reports")
        self.assertEqual(spec["servers"], [{"agent": "a", "url": "ws://127.0.0.1:1"}])
        self.assertEqual(spec["cases"], ["*"])
        spec = benchlib.autobahn_spec("/o", "a", "ws://127.0.0.1:1", "12.*, 13.1.*")
        self.assertEqual(spec["cases"], ["12.*", "13.1.*"])

    def test_all_as_expected(self):
        lines, ok = self.check(self.index())
        self.assertTrue(ok)
        self.assertEqual(lines, ["autobahn echo: 3 cases: NON-STRICT 1, OK 2",
                                 "autobahn echo: 3 passed, 0 failed"])

    def test_each_kind_of_problem(self):
        lines, ok = self.check(self.index(**{"1_1_1": "FAILED", "6_4_1": None, "12_1_1": "UNIMPLEMENTED",
                                             "2_1_1": "OK"}))
        self.assertFalse(ok)
        self.assertEqual(lines[1:], ["  FAIL 1.1.1: FAILED (section 1; close: OK)",
                                     "  FAIL 2.1.1: OK, not in expected.json",
                                     "  FAIL 6.4.1: no result (expected NON-STRICT)",
                                     "  FAIL 12.1.1: UNIMPLEMENTED (permessage-deflate; close: OK)",
                                     "autobahn echo: 0 passed, 4 failed"])

    def test_a_changed_result(self):
        lines, ok = self.check(self.index(**{"6_4_1": "OK"}))
        self.assertFalse(ok)
        self.assertEqual(lines[1:], ["  FAIL 6.4.1: OK, expected NON-STRICT", "autobahn echo: 2 passed, 1 failed"])

    def test_pattern_limits_the_expected_cases(self):
        index = {"echo": {"1.1.1": {"behavior": "OK"}}}
        self.assertTrue(self.check(index, "1.*")[1])
        self.assertTrue(self.check(index, "1.*,7.*")[1])
        self.assertFalse(self.check(index)[1])
        self.assertFalse(self.check(index, "1.*,12.*")[1])

    def test_missing_agent(self):
        with self.assertRaisesRegex(ValueError, "no results for agent 'echo'"):
            self.check({"other": {}})

    def test_write_then_check(self):
        with tempfile.TemporaryDirectory() as d:
            index_path, expected_path = os.path.join(d, "index.json"), os.path.join(d, "expected.json")
            with open(index_path, "w") as f:
                json.dump({"echo": {"12.1.1": {"behavior": "OK"}, "2.1.1": {"behavior": "OK"}}}, f)
            with contextlib.redirect_stdout(io.StringIO()) as out:
                write = ["b", "autobahn-check", "--write", index_path, "echo", expected_path]
                self.assertEqual(benchlib.main(write), 0)
                self.assertEqual(benchlib.main(["b", "autobahn-check", index_path, "echo", expected_path]), 0)
            with open(expected_path) as f:
                self.assertEqual(list(json.load(f)), ["2.1.1", "12.1.1"])
            self.assertIn("autobahn echo: 2 passed, 0 failed", out.getvalue())


class Loss(TempDir):
    def put_run(self, timed_out=0, retransmitted=7):
        kinds = {"REGISTER": {"ok": 200, "failed": 0, "timed_out": timed_out, "latency": {"p50_us": 900}}}
        self.put("register.json", report(transactions=kinds))
        self.put("message.json", report(transactions={"MESSAGE": {"ok": 500, "failed": 0, "timed_out": 0}}))
        self.put("metrics.json", {'sipedge_core_retransmissions_total{worker="0"}': retransmitted,
                                  'sipedge_core_retransmissions_total{worker="1"}': 3})

    def test_nothing_lost_and_retransmissions_counted_passes(self):
        self.put_run()
        lines, ok = benchlib.loss(self.dir)
        self.assertTrue(ok, lines)
        self.assertEqual(lines[-1], "loss: 0 lost, 10 retransmissions, 0 given up -> PASS")
        self.assertIn("register burst: 200 REGISTER ok, 0 failed, 0 timed out", lines[0])

    def test_a_timed_out_transaction_fails(self):
        self.put_run(timed_out=2)
        lines, ok = benchlib.loss(self.dir)
        self.assertFalse(ok)
        self.assertTrue(lines[-1].startswith("loss: 2 lost"), lines)


class Scale(TempDir):
    def test_throughput_table_and_ratios(self):
        for name, rate in (("uring", 60000.0), ("epoll", 50000.0), ("fwsecho", 40000.0)):
            for r in (1, 2, 3):
                server = dict(report()["server"], msgs_per_server_cpu_sec=rate + r)
                self.put(f"{name}-{r}.json", report(server=server, messages_failed=r - 1))
        lines, ok = benchlib.throughput(self.dir, 3)
        self.assertTrue(ok)
        self.assertEqual(len(lines), 1 + 9 + 3 + 3)
        self.assertEqual(lines[0], "server     round     msgs/s srv CPU-s  msgs/CPU-s  p50 us  p99 us failed")
        self.assertEqual(lines[3], "uring          3       1234      2.50       60003      80     400      2")
        self.assertEqual(lines[10],
                         "uring      msgs per server CPU-second: median 60002 (min 60001, max 60003, 3 rounds)")
        self.assertEqual(lines[13], "ringmux io_uring / fwsecho: 1.500x   (target >= 1.3x: PASS)")
        self.assertEqual(lines[14], "ringmux epoll    / fwsecho: 1.250x")
        self.assertEqual(lines[15], "io_uring / epoll:           1.200x   (target >= 1.2x: MISS)")

    def test_scale_uring(self):
        lines, ok = benchlib.scale_uring(report())
        self.assertTrue(ok)
        self.assertEqual(lines, ["io_uring: 100 held, 100 echoed, 0 failed; Rss growth 700 B/conn, "
                                 "Pss growth 651 B/conn -> PASS"])
        self.assertFalse(benchlib.scale_uring(report(messages_ok=99))[1])
        server = dict(report()["server"], rss_growth_per_conn_bytes=1025)
        self.assertFalse(benchlib.scale_uring(report(server=server))[1])

    def test_scale_epoll(self):
        j = report(connections=20500, messages_ok=19990, connections_failed=510)
        lines, ok = benchlib.scale_epoll(j, 7)
        self.assertTrue(ok)
        self.assertEqual(lines, ["epoll: held and echoed 19990 of 20500; 510 refused; "
                                 "server logged 'out of file descriptors' 7 times -> PASS"])
        self.assertFalse(benchlib.scale_epoll(j, 0)[1])
        self.assertFalse(benchlib.scale_epoll(report(connections=20500, messages_ok=20500), 3)[1])

    def test_sip_scale(self):
        tx = {"REGISTER": {"ok": 200, "latency": {"p50_us": 300, "p99_us": 900}}, "keepalive": {"ok": 50}}
        lines, ok = benchlib.sip_scale(report(transactions=tx), 100)
        self.assertTrue(ok)
        self.assertEqual(lines, ["sip scale: 100 of 100 registered and held; REGISTER 200 ok (p50 300 us, p99 900 us), "
                                 "keepalive 50 ok; 0 failed; Pss growth 651 B/client, Rss growth 700 B/client -> PASS"])
        self.assertFalse(benchlib.sip_scale(report(), 101)[1])
        self.assertIn("REGISTER 0 ok (p50 0 us, p99 0 us), keepalive 0 ok; 1 failed",
                      benchlib.sip_scale(report(messages_failed=1), 100)[0][0])

    def test_wss_scale(self):
        self.put("scale.json", report(tls_full=10, tls_resumed=90, transactions={"REGISTER": {"ok": 100}}))
        self.put("handshakes-full.json", report(connections_ok=50))
        self.put("handshakes-resumed.json", report(connections_ok=40, tls_resumed=40))
        lines, ok = benchlib.wss_scale(self.dir, 100, 50)
        self.assertTrue(ok)
        self.assertEqual(lines, [
            "wss scale: 100 of 100 registered over wss:// with tokens (TLS 10 full, 90 resumed); REGISTER 100 ok; "
            "0 failed; Pss 1000 -> 2000 KiB, 651 B/client (Rss 700) -> PASS",
            "handshakes (full): 50 of 50 ok, 0 failed (TLS 0 full, 0 resumed); server 2.00 CPU-s "
            "= 25 handshakes per server CPU-second",
            "handshakes (resumed): 40 of 50 ok, 0 failed (TLS 0 full, 40 resumed); server 2.00 CPU-s "
            "= 20 handshakes per server CPU-second"])
        self.put("handshakes-resumed.json", report(connections_failed=1))
        self.assertFalse(benchlib.wss_scale(self.dir, 100, 50)[1])

    def test_wss_handshakes_without_cpu(self):
        server = dict(report()["server"], held={"pss_kib": 1, "cpu_secs": 1.0})
        line, _ = benchlib.wss_handshakes(report(server=server), "full", 100)
        self.assertIn("server 0.00 CPU-s = 0 handshakes per server CPU-second", line)


class Compare(TempDir):
    def runs(self, server, p50, traffic_ok):
        self.put(f"{server}-idle.json", report(connections_ok=90, messages_failed=1))
        message = {"per_sec": 12000.4, "traffic_ok": traffic_ok, "latency": {"p50_us": p50, "p99_us": 2 * p50}}
        self.put(f"{server}-rate.json", report(transactions={"MESSAGE": message}))
        self.put(f"{server}-saturation.json", report(transactions={"MESSAGE": message}))

    def test_two_servers_with_ratios(self):
        self.runs("sipedge", 500, 10000)
        self.runs("kamailio", 1000, 5000)
        lines, _ = benchlib.compare(self.dir, 100, 2000, ["sipedge", "kamailio"])
        self.assertEqual(lines, [
            "| 100 clients | sipedge | kamailio | ratio |",
            "|---|---|---|---|",
            "| connections held (idle, registered) | 90/100 | 90/100 |  |",
            "| user-space memory per idle registered client (Pss delta / N) | 0.64 KiB | 0.64 KiB | 1.00x |",
            "| MESSAGE tx/s at saturation (flat out) | 12000 | 12000 | 1.00x |",
            "| server CPU-s per 10k MESSAGE, at saturation | 2.500 | 5.000 | 0.50x |",
            "| server CPU-s per 10k MESSAGE, at 2000 tx/s | 2.500 | 5.000 | 0.50x |",
            "| MESSAGE p50 at 2000 tx/s | 0.500 ms | 1.000 ms | 0.50x |",
            "| MESSAGE p99 at 2000 tx/s | 1.000 ms | 2.000 ms | 0.50x |",
            "| failed (connections + transactions, all runs) | 1 | 1 |  |"])

    def test_missing_runs_and_one_server(self):
        lines, _ = benchlib.compare(self.dir, 10, 50, ["sipedge"])
        self.assertEqual(lines[0], "| 10 clients | sipedge |")
        self.assertEqual(lines[1], "|---|---|")
        self.assertEqual(lines[2], "| connections held (idle, registered) | - |")
        self.assertEqual(lines[3], "| user-space memory per idle registered client (Pss delta / N) | nan KiB |")
        self.assertTrue(math.isnan(benchlib.cpu_per_10k(None)))

    def test_zero_in_the_second_column(self):
        self.runs("a", 500, 100)
        self.runs("b", 0, 100)
        lines, _ = benchlib.compare(self.dir, 100, 2000, ["a", "b"])
        self.assertEqual(lines[7], "| MESSAGE p50 at 2000 tx/s | 0.500 ms | 0.000 ms | - |")


class Flood(TempDir):
    REJ = 'sipedge_handshake_rejections_total{reason="%s"}'

    def attack(self, flooder_503=9500, normal_p99=800, flooder=True):
        self.put("metrics-a-before.json", {self.REJ % "ip_handshake_rate": 5.0})
        self.put("metrics-a-after.json", {self.REJ % "ip_handshake_rate": 9005.0,
                                          self.REJ % "ip_connection_cap": 600.0})
        limited = 'sipedge_routing_failures_total{reason="rate_limited"}'
        self.put("metrics-b-before.json", {limited: 0.0})
        self.put("metrics-b-after.json", {limited: 7000.0})
        if flooder:
            self.put("conn-flooder.json", report(connections_ok=500, errors={"handshake: answered 503": flooder_503}))
        self.put("conn-normal.json", report(transactions={"REGISTER": {"latency": {"p50_us": 100, "p99_us": 300}}}))
        tx = {"MESSAGE": {"ok": 12000, "latency": {"p50_us": 400, "p99_us": 600}}}
        self.put("req-baseline.json", report(transactions=tx, msgs_per_sec=1500.2))
        tx = {"MESSAGE": {"ok": 12000, "failed": 0, "latency": {"p50_us": 500, "p99_us": normal_p99}}}
        self.put("req-normal.json", report(transactions=tx, msgs_per_sec=1499.6))
        tx = {"MESSAGE": {"ok": 100, "failed": 6900, "timed_out": 0}}
        self.put("req-flooder.json", report(transactions=tx, errors={"MESSAGE: answered 503": 6900}))
        return benchlib.flood(self.dir, 10000, 100, 10000, 1500, 5000)

    def test_both_pass(self):
        lines, ok = self.attack()
        self.assertTrue(ok)
        self.assertEqual(lines, [
            "a) connection flood  flooder 127.0.0.2   10000 opened at 5000/s: 500 accepted, 9500 refused 503; "
            "/metrics ip_handshake_rate 9000, ip_connection_cap 600",
            "                     100 normal clients  100 registered, 0 failed; REGISTER p50 100 us, p99 300 us",
            "                     result              PASS",
            "b) request flood     baseline            MESSAGE 12000 at 1500/s, p50 400 us, p99 600 us, 0 failed",
            "                     with flooder        MESSAGE 12000 at 1500/s, p50 500 us (1.25x), p99 800 us (1.33x), "
            "0 failed",
            "                     flooder 127.0.0.20  7000 MESSAGE sent (10000/s asked): 6900 answered 503; "
            "/metrics rate_limited 7000",
            "                     result              PASS"])
        with open(os.path.join(self.dir, "flood.json")) as f:
            summary = json.load(f)
        self.assertEqual(list(summary), ["connection_flood", "request_flood"])
        self.assertEqual(summary["connection_flood"]["flooder_refused_503"], 9500)
        self.assertEqual(summary["request_flood"]["p99_ratio"], 1.333)
        self.assertTrue(summary["request_flood"]["pass"])

    def test_too_few_refused(self):
        lines, ok = self.attack(flooder_503=8999)
        self.assertFalse(ok)
        self.assertEqual(lines[2].split()[-1], "FAIL")
        self.assertEqual(lines[6].split()[-1], "PASS")

    def test_latency_doubled(self):
        lines, ok = self.attack(normal_p99=1201)
        self.assertFalse(ok)
        self.assertEqual(lines[6].split()[-1], "FAIL")

    def test_missing_flooder_report(self):
        lines, ok = self.attack(flooder=False)
        self.assertFalse(ok)
        self.assertIn("0 accepted, 0 refused 503", lines[0])


class CommandLine(TempDir):
    def run_main(self, *args):
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            status = benchlib.main(["benchlib.py", *args])
        return status, out.getvalue(), err.getvalue()

    def test_usage(self):
        self.assertEqual(self.run_main()[0], 2)
        self.assertEqual(self.run_main("nope")[0], 2)
        status, _, err = self.run_main("sip-scale", "x")
        self.assertEqual(status, 2)
        self.assertIn("expected 2..2 arguments, got 1", err)

    def test_missing_report(self):
        status, _, err = self.run_main("sip-scale", os.path.join(self.dir, "none.json"), "10")
        self.assertEqual(status, 1)
        self.assertIn("benchlib sip-scale:", err)

    def test_verdict_is_the_exit_status(self):
        self.put("r.json", report())
        self.assertEqual(self.run_main("sip-scale", os.path.join(self.dir, "r.json"), "100")[0], 0)
        self.assertEqual(self.run_main("sip-scale", os.path.join(self.dir, "r.json"), "99")[0], 1)

    def test_free_port_prints_a_port(self):
        status, out, _ = self.run_main("free-port")
        self.assertEqual(status, 0)
        self.assertTrue(0 < int(out) < 65536)

    def test_autobahn_spec_file(self):
        self.assertEqual(self.run_main("autobahn-spec", self.dir, 'a"b', "ws://127.0.0.1:9/", "1.*")[0], 0)
        with open(os.path.join(self.dir, "fuzzingclient.json")) as f:
            spec = json.load(f)
        self.assertEqual(spec["servers"][0]["agent"], 'a"b')
        self.assertEqual(spec["cases"], ["1.*"])


if __name__ == "__main__":
    unittest.main()


class NodeLatency(unittest.TestCase):
    def test_a_quantile_is_the_bound_of_its_bucket(self):
        text = "\n".join([
            'x_seconds_bucket{direction="in",le="0.00001"} 0',
            'x_seconds_bucket{direction="in",le="0.00005"} 90',
            'x_seconds_bucket{direction="in",le="0.001"} 99',
            'x_seconds_bucket{direction="in",le="10"} 100',
            'x_seconds_bucket{direction="in",le="+Inf"} 100',
            'x_seconds_bucket{direction="out",le="+Inf"} 0',
        ])
        series = benchlib.parse_metrics(text)
        self.assertEqual(benchlib.histogram_quantile(series, "x_seconds", 0.5, 'direction="in"'), (0.00005, 100))
        self.assertEqual(benchlib.histogram_quantile(series, "x_seconds", 0.99, 'direction="in"'), (0.001, 100))
        self.assertEqual(benchlib.histogram_quantile(series, "x_seconds", 1.0, 'direction="in"'), (10.0, 100))
        self.assertEqual(benchlib.histogram_quantile(series, "x_seconds", 0.5, 'direction="out"'), (None, 0))
