"""Unit tests of tools/benchlib_failover.py: python3 -m unittest discover -s tools -p 'test_*.py'."""
import contextlib
import http.server
import io
import json
import os
import socket
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib_failover as fo  # noqa: E402

C1, C2 = "127.0.0.21:5060", "127.0.0.22:5060"
KILL, RESTART = 1010.0, 1020.0


def series(up1, req1, up2, req2, workers=2):
    """A /metrics document of two targets, each counted by `workers` workers."""
    doc = {}
    for w in range(workers):
        for hp, up, req in ((C1, up1, req1), (C2, up2, req2)):
            labels = f'target="udp:{hp}",worker="{w}"'
            doc[f"{fo.UP}{{{labels}}}"] = up
            doc[f"{fo.REQUESTS}{{{labels}}}"] = req / workers
    doc['sipedge_core_target_failovers_total{target="udp:127.0.0.21:5060",worker="0"}'] = 3
    return doc


class Series(unittest.TestCase):
    def test_target_state_sums_workers_and_matches_the_end_of_the_label(self):
        up, requests, failovers = fo.target_state(series(1, 40, 1, 0), C1)
        self.assertEqual((up, requests, failovers), (1, 40, 3))
        self.assertEqual(fo.target_state(series(1, 40, 0, 6), C2)[:2], (0, 6))
        self.assertEqual(fo.target_state(series(1, 40, 1, 0), "127.0.0.23:5060"), (None, 0, 0))

    def test_one_worker_down_is_down(self):
        doc = series(1, 10, 1, 0)
        doc[f'{fo.UP}{{target="udp:{C1}",worker="1"}}'] = 0
        self.assertEqual(fo.target_state(doc, C1)[0], 0)

    def test_increases_and_first_state(self):
        pts = [(1.0, 1, 5), (2.0, 1, 5), (3.0, 0, 7), (4.0, 0, 7), (5.0, 1, 9)]
        self.assertEqual(fo.increases(pts, 0), [(3.0, 2), (5.0, 2)])
        self.assertEqual(fo.increases(pts, 3.0), [(5.0, 2)])
        self.assertEqual(fo.increases(pts, 0, 4.0), [(3.0, 2)])
        self.assertEqual(fo.first_up(pts, 1.5, 0), 3.0)
        self.assertEqual(fo.first_up(pts, 3.0, 1), 5.0)
        self.assertIsNone(fo.first_up(pts, 5.0, 0))

    def test_log_lines_with_colours(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "sipedged.log")
            with open(path, "w") as f:
                f.write("\x1b[2m1970-01-01T00:16:50.500000Z\x1b[0m \x1b[33m WARN\x1b[0m sipedged::targets: core "
                        "target down \x1b[3mtarget\x1b[0m\x1b[2m=\x1b[0mudp:127.0.0.21:5060 "
                        "\x1b[3moutcome\x1b[0m\x1b[2m=\x1b[0mTimeout\n"
                        "1970-01-01T00:17:02.250000Z  INFO sipedged::targets: core target up target=udp:"
                        "127.0.0.21:5060\nsomething else\n")
            events = fo.log_events(path)
            self.assertEqual(events, [(1010.5, "down", "udp:127.0.0.21:5060"), (1022.25, "up", "udp:127.0.0.21:5060")])
            self.assertEqual(fo.first_log(events, "up", C1, KILL), 1022.25)
            self.assertIsNone(fo.first_log(events, "down", C2, 0))
            self.assertEqual(fo.log_events(os.path.join(d, "none.log")), [])


class Sampler(unittest.TestCase):
    METRICS = (b'# HELP sipedge_core_target_up x\n# TYPE sipedge_core_target_up gauge\n'
               b'sipedge_core_target_up{target="udp:127.0.0.21:5060"} 1\n'
               b'sipedge_core_target_requests_total{target="udp:127.0.0.21:5060"} 42\n'
               b'sipedge_core_target_failovers_total{target="udp:127.0.0.21:5060"} 2\n'
               b'sipedge_core_target_probe_seconds{target="udp:127.0.0.21:5060"} 0.001\n'
               b'sipedge_connections_open 7\n')

    def test_watch_and_wait_up_read_the_targets_series(self):
        body = self.METRICS

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            port = server.server_address[1]
            self.assertTrue(fo.wait_up(port, 5, [C1]))
            self.assertFalse(fo.wait_up(port, 0.3, [C1, C2]), "core 2 has no series")
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "samples.jsonl")
                fo.watch(port, path, 0.35, 0.1)
                samples = fo.read_samples(path)
        finally:
            server.shutdown()
            server.server_close()
        self.assertGreaterEqual(len(samples), 2)
        self.assertEqual(len(samples[0][1]), 3, "up, requests and failovers only")
        self.assertEqual(fo.points(samples, C1)[0][1:], (1, 42))


class Options(unittest.TestCase):
    def test_a_core_that_answers_200(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as core:
            core.bind(("127.0.0.1", 0))
            port = core.getsockname()[1]
            seen = []

            def answer():
                data, peer = core.recvfrom(65535)
                seen.append(data)
                core.sendto(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", peer)

            t = threading.Thread(target=answer)
            t.start()
            self.assertTrue(fo.options_ok("127.0.0.1", port, 5))
            t.join()
        self.assertTrue(seen[0].startswith(f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n".encode()))
        self.assertIn(b"\r\nCSeq: 1 OPTIONS\r\n", seen[0])

    def test_nothing_listening_gives_up(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.assertFalse(fo.options_ok("127.0.0.1", port, 0.5))

    def test_status_code(self):
        self.assertEqual(fo.status_code(b"SIP/2.0 503 Busy\r\n"), 503)
        self.assertIsNone(fo.status_code(b"OPTIONS sip:x SIP/2.0\r\n"))
        self.assertIsNone(fo.status_code(b"\x00garbage"))


class Judgement(unittest.TestCase):
    """A synthetic run: samples every 0.1 s from 1000 to 1030, core 1 killed at 1010 and restarted at 1020."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.last_to_core1 = 0.5   # after the kill
        self.seen_down = 0.6       # after the kill
        self.back = 2.3            # after the restart
        self.core2_after_back = 0
        self.failures = [{"began_ms": 1010000, "kind": "MESSAGE", "error": "timeout", "count": 4},
                         {"began_ms": 1010300, "kind": "REGISTER", "error": "timeout", "count": 1}]
        self.register_failures = []
        self.bindings = {"core1": 50, "core2": 50}

    def tearDown(self):
        self._tmp.cleanup()

    def write(self):
        req1 = req2 = 0
        with open(os.path.join(self.dir, "samples.jsonl"), "w") as f:
            for i in range(300):
                t = 1000.0 + i / 10
                down = KILL + self.seen_down <= t < RESTART + self.back
                if t <= KILL + self.last_to_core1 or t >= RESTART + self.back:
                    req1 += 10
                if KILL + self.last_to_core1 < t < RESTART + self.back:
                    req2 += 10
                elif t > RESTART + self.back + 1 and self.core2_after_back:
                    req2 += self.core2_after_back
                f.write(json.dumps({"t": t, "m": series(0 if down else 1, req1, 1, req2)}) + "\n")
            f.write('{"t": 1030.0, "m": {')  # a line torn by the sampler's stop
        with open(os.path.join(self.dir, "events.txt"), "w") as f:
            f.write(f"core1 {C1}\ncore2 {C2}\nclients 50\nkill {KILL}\nrestart {RESTART}\n")
        with open(os.path.join(self.dir, "bindings.txt"), "w") as f:
            f.write("".join(f"{k} {v}\n" for k, v in self.bindings.items()) + "restarted 50\n")
        failed = sum(x["count"] for x in self.failures)
        with open(os.path.join(self.dir, "message.json"), "w") as f:
            json.dump({"connections_failed": 0, "messages_failed": failed, "failures": self.failures,
                       "transactions": {"MESSAGE": {"ok": 9000}, "REGISTER": {"ok": 300}}}, f)
        with open(os.path.join(self.dir, "register.json"), "w") as f:
            json.dump({"connections_failed": 0, "messages_failed": len(self.register_failures),
                       "failures": self.register_failures, "transactions": {"REGISTER": {"ok": 700}}}, f)
        return fo.failover(self.dir, 1.0)

    def test_a_clean_failover_passes_with_its_figures(self):
        lines, ok = self.write()
        self.assertTrue(ok, "\n".join(lines))
        text = "\n".join(lines)
        self.assertIn("bindings before the kill: core 1 50, core 2 50 -> PASS", text)
        self.assertIn("seen down in /metrics 0.60 s after the kill (log: no log line); its last request 0.50 s", text)
        self.assertIn("failed at the kill: 5 (4 MESSAGE timeout, 1 REGISTER timeout) began +0.0 s to +0.3 s", text)
        self.assertIn("message run: 300 REGISTER, 9000 MESSAGE ok; 0 connections failed", text)
        self.assertIn("register run: 700 REGISTER ok; 0 connections failed", text)
        self.assertIn("failed outside it: 0 (none), without a start time: 0 -> PASS", text)
        self.assertIn("seen up 2.30 s after its restart", text)
        self.assertIn("core 2 got 0 new requests after that", text)
        self.assertIn("sent on: 3 requests core 1 left unanswered went on to core 2", text)
        self.assertEqual(lines[-1], "failover: PASS")

    def test_a_slow_switch_over_fails(self):
        self.last_to_core1, self.seen_down = 2.5, 2.6
        lines, ok = self.write()
        self.assertFalse(ok)
        self.assertTrue(any(line.startswith("kill:") and line.endswith("FAIL") for line in lines), lines)

    def test_a_failure_after_the_switch_over_fails(self):
        self.failures.append({"began_ms": 1015000, "kind": "MESSAGE", "error": "status 404", "count": 1})
        lines, ok = self.write()
        self.assertFalse(ok)
        self.assertIn("failed outside it: 1 (1 MESSAGE status 404)", "\n".join(lines))

    def test_a_failure_of_the_register_run_after_the_switch_over_fails(self):
        self.register_failures = [{"began_ms": 1021000, "kind": "REGISTER", "error": "answered 500", "count": 1}]
        lines, ok = self.write()
        self.assertFalse(ok)
        self.assertIn("failed outside it: 1 (1 REGISTER answered 500)", "\n".join(lines))

    def test_a_failure_without_a_start_time_fails(self):
        self.write()
        with open(os.path.join(self.dir, "message.json")) as f:
            load = json.load(f)
        load["messages_failed"] += 2
        with open(os.path.join(self.dir, "message.json"), "w") as f:
            json.dump(load, f)
        lines, ok = fo.failover(self.dir, 1.0)
        self.assertFalse(ok)
        self.assertIn("without a start time: 2 -> FAIL", "\n".join(lines))

    def test_traffic_left_on_core_2_after_the_return_fails(self):
        self.core2_after_back = 3
        lines, ok = self.write()
        self.assertFalse(ok)
        self.assertTrue(any(line.startswith("restart:") and line.endswith("FAIL") for line in lines), lines)

    def test_bindings_missing_on_core_2_fail(self):
        self.bindings = {"core1": 50, "core2": 41}
        lines, ok = self.write()
        self.assertFalse(ok)
        self.assertIn("core 1 50, core 2 41 -> FAIL", lines[0])

    def test_no_target_series_fails(self):
        self.write()
        with open(os.path.join(self.dir, "samples.jsonl"), "w") as f:
            f.write(json.dumps({"t": 1000.0, "m": {}}) + "\n")
        lines, ok = fo.failover(self.dir, 1.0)
        self.assertFalse(ok)
        self.assertIn("no sipedge_core_target_* series", lines[0])


class CommandLine(unittest.TestCase):
    def run_main(self, *args):
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            status = fo.main(["benchlib_failover.py", *args])
        return status, out.getvalue(), err.getvalue()

    def test_usage_and_missing_files(self):
        self.assertEqual(self.run_main()[0], 2)
        self.assertEqual(self.run_main("report", "x")[0], 2)
        with tempfile.TemporaryDirectory() as d:
            status, _, err = self.run_main("report", d, "1")
        self.assertEqual(status, 1)
        self.assertIn("events.txt", err)
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "events.txt"), "w") as f:
                f.write(f"core1 {C1}\ncore2 {C2}\nclients 5\nkill 1\nrestart 2\n")
            with open(os.path.join(d, "bindings.txt"), "w") as f:
                f.write("core1 5\ncore2 5\n")
            status, _, err = self.run_main("report", d, "1")
        self.assertEqual(status, 1)
        self.assertIn("no sipload report", err)

    def test_wait_up_without_a_daemon_says_so(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        status, _, err = self.run_main("wait-up", str(port), "0.3", C1)
        self.assertEqual(status, 1)
        self.assertIn("not there in time", err)


if __name__ == "__main__":
    unittest.main()
