"""Unit tests of tools/flood/abuse.py (rows c and d of tools/flood/flood.sh): python3 -m unittest discover -s tools
-p 'test_*.py'."""
import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "flood"))
import abuse  # noqa: E402


def report(p50):
    """A sipload --json report of a MESSAGE run with MESSAGE p50 `p50` us and no failure."""
    return {"connections_ok": 500, "connections_failed": 0, "messages_ok": 12000, "messages_failed": 0,
            "msgs_per_sec": 1500.0, "errors": {},
            "transactions": {"MESSAGE": {"ok": 12000, "latency": {"p50_us": p50, "p99_us": 3 * p50}}}}


class Rows(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def put(self, name, doc):
        with open(os.path.join(self.dir, name), "w") as f:
            json.dump(doc, f)

    def attack(self, aborted=100, slow=100, held_open=0, p50=440, peak_kib=80 * 1024, probe_max=3.5,
               longest=5.01):
        gauge = 'sipedge_connections{worker="0",state="websocket"}'
        self.put("metrics-c-before.json", {'sipedge_close_aborted_total{worker="0"}': 0.0, gauge: 0.0})
        self.put("metrics-c-held.json", {gauge: float(held_open)})
        self.put("metrics-c-after.json", {'sipedge_close_aborted_total{worker="0"}': aborted / 2,
                                          'sipedge_close_aborted_total{worker="1"}': aborted / 2,
                                          'sipedge_slow_consumers_total{worker="1"}': float(slow)})
        self.put("zero-window.json", {"ready": {"closer": 100, "hoarder": 90, "hoarder cut while sending": 10},
                                      "errors": {}, "rss": {"first_kib": 16 * 1024, "peak_kib": peak_kib,
                                                            "last_kib": 50 * 1024}})
        self.put("req-baseline.json", report(400))
        self.put("req-zw-normal.json", report(p50))
        self.put("trickle.json", {"opened": 870, "answers": {"408": 24, "503": 840},
                                  "cut_408_after_s": {"min": 5.0, "max": 5.01}, "longest_lived_s": longest,
                                  "probe": {"gets": 198, "ok": 198, "p50_ms": 0.8, "max_ms": probe_max},
                                  "rss": {"first_kib": 50 * 1024, "peak_kib": 50 * 1024 + 300,
                                          "last_kib": 50 * 1024}})
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = abuse.table(self.dir, 200, 50, 20)
        return status, out.getvalue()

    def test_both_pass(self):
        status, text = self.attack()
        self.assertEqual(status, 0, text)
        self.assertIn("close_aborted 100", text)
        self.assertIn("(10 cut while still sending): slow_consumers 100", text)
        self.assertIn("+64 MiB, bound 200 MiB", text)
        self.assertIn("p50 400 -> 440 us (1.10x)", text)
        self.assertIn("198/198 answered 200", text)
        with open(os.path.join(self.dir, "flood-cd.json")) as f:
            summary = json.load(f)
        self.assertTrue(summary["zero_window"]["pass"] and summary["trickling_admin"]["pass"])

    def test_an_uncounted_abort_fails(self):
        self.assertEqual(self.attack(aborted=90)[0], 1)
        self.assertEqual(self.attack(slow=50)[0], 1)

    def test_a_connection_left_open_fails(self):
        self.assertEqual(self.attack(held_open=3)[0], 1)

    def test_memory_over_the_bound_fails(self):
        self.assertEqual(self.attack(peak_kib=300 * 1024)[0], 1)

    def test_slow_normal_clients_fail(self):
        self.assertEqual(self.attack(p50=900)[0], 1)

    def test_a_slow_probe_or_a_held_trickler_fails(self):
        self.assertEqual(self.attack(probe_max=150)[0], 1)
        self.assertEqual(self.attack(longest=9.0)[0], 1)

    def test_missing_reports_fail(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(abuse.table(self.dir, 200, 50, 20), 1)


class Frames(unittest.TestCase):
    def test_client_frames_are_masked_with_the_zero_key(self):
        self.assertEqual(abuse.frame(b"hi"), b"\x81\x82\0\0\0\0hi")
        long = abuse.frame(b"x" * 30_000)
        self.assertEqual(long[:8], b"\x81\xfe" + (30_000).to_bytes(2, "big") + b"\0\0\0\0")
        self.assertEqual(abuse.CLOSE, b"\x88\x82\0\0\0\0\x03\xe8")

    def test_server_frames_are_parsed_whole_or_not_at_all(self):
        self.assertEqual(abuse.server_frame(b"\x81\x03abcrest"), (b"abc", b"rest"))
        self.assertIsNone(abuse.server_frame(b"\x81\x05abc"))
        self.assertEqual(abuse.server_frame(b"\x81\x7e\x00\x02ok"), (b"ok", b""))


if __name__ == "__main__":
    unittest.main()
