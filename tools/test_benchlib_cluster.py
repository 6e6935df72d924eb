"""Unit tests of tools/benchlib_cluster.py: python3 -m unittest discover -s tools -p 'test_*.py'."""
import json
import os
import socket
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib_cluster as cl  # noqa: E402

START = 1000  # the sipload reports' first second
KILL, DRAIN, CORE = 1010.3, 1030.6, 1050.2

STAT = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight\n"
    "browsers,FRONTEND,,,0,0,9000,0,0,0,0,0,0,,,,,OPEN,\n"
    "edges,node1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1\n"
    "edges,node2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1\n"
    "edges,BACKEND,0,0,0,0,900,0,0,0,0,0,,0,0,0,0,UP,1\n"
)


def point(sec, kind, ok, failed=0, p99_ms=5.0, max_ms=9.0):
    lat = {"p50_us": 1000, "p90_us": 2000, "p99_us": int(p99_ms * 1000), "p999_us": 0,
           "max_us": int(max_ms * 1000), "mean_us": 0}
    return {"t": sec - START, "kind": kind, "ok": ok, "failed": failed, "latency": lat}


def sipload(timeline, failures=(), failed=0, errors=None):
    """A sipload --json report with this timeline and failures."""
    lat = {"p50_us": 60000, "p90_us": 90000, "p99_us": 130000, "p999_us": 0, "max_us": 140000, "mean_us": 0}
    kinds = {p["kind"] for p in timeline} | {"MESSAGE", "reconnect"}
    tx = {k: {"ok": sum(p["ok"] for p in timeline if p["kind"] == k), "latency": lat} for k in kinds}
    return {"connections_failed": 0, "messages_failed": failed, "errors": errors or {}, "transactions": tx,
            "timeline": list(timeline), "failures": list(failures), "phases": {"start": START}}


def failure(at, error="answered 408", count=1):
    return {"began_ms": int(at * 1000), "kind": "MESSAGE", "error": error, "count": count}


def traffic(seconds, messages, calls=True):
    """Timeline points of MESSAGEs and (unless not `calls`) calls, each ended by a BYE, in each of `seconds`."""
    kinds = (("MESSAGE", messages),) + ((("INVITE", messages // 4), ("BYE", messages // 4)) if calls else ())
    return [point(s, kind, n) for s in seconds for kind, n in kinds]


def good_run(out, clients=400, residents=100, moved=None, res2_failed=0, late=None, calls=True):
    """Writes a passing run into `out` (or one made to miss, by the arguments)."""
    moved = clients // 2 if moved is None else moved
    cross = traffic(range(START, 1060), 50, calls)
    cross += [point(1010, "reconnect", moved, max_ms=140), point(1031, "reconnect", clients)]
    fails = [failure(KILL - 0.2, count=3), failure(DRAIN + 0.1)] + ([failure(late)] if late else [])
    files = {
        "cross0.json": sipload(cross, fails),
        "resident2.json": sipload([point(s, "MESSAGE", 10, p99_ms=4 + (s == 1010) * 20) for s in range(1002, 1028)]
                                  + [p for p in traffic(range(1002, 1028), 8) if p["kind"] != "MESSAGE"],
                                  failed=res2_failed),
        "resident1.json": sipload(traffic(range(1022, 1047), 10, calls)),
    }
    for name, doc in files.items():
        with open(os.path.join(out, name), "w") as f:
            json.dump(doc, f)
    text = {
        "setup.txt": f"clients {clients} residents {residents} lbs 1 procs 1 gap 8 rate 100 res_rate 50\n"
                     "reconnect_target 10 probe 1\n",
        "events.txt": f"kill_node1 {KILL}\nrestart_node1 1015.0\ndrain_node2 {DRAIN}\nkill_core1 {CORE}\n",
        "bindings.txt": f"before_a core1 {clients + residents}\nbefore_a core2 {clients + residents}\n"
                        f"before_c core1 {clients + 2 * residents}\nbefore_c core2 {clients + 2 * residents}\n"
                        f"after_c core2 {clients + 2 * residents}\n",
        "metrics.txt": f"before_a node1 connections={clients // 2} registrations=0 proxy_headers=300 proxy_rejections=0\n"
                       f"before_a node2 connections={clients // 2 + residents} registrations=0 proxy_headers=400"
                       " proxy_rejections=0\n"
                       f"before_b node1 connections={residents} registrations=0 proxy_headers=0 proxy_rejections=0\n"
                       f"before_b node2 connections={clients} registrations=0 proxy_headers=0 proxy_rejections=0\n",
    }
    for name, body in text.items():
        with open(os.path.join(out, name), "w") as f:
            f.write(body)


class Parsing(unittest.TestCase):
    def test_server_states_reads_the_backend_servers_only(self):
        self.assertEqual(cl.server_states(STAT), {"node1": "UP", "node2": "DOWN"})
        self.assertEqual(cl.server_states("no header\n"), {})

    def test_node_line_sums_the_labels_of_a_series_and_not_its_longer_namesakes(self):
        series = {'sipedge_connections{worker="0"}': 3.0, 'sipedge_connections{worker="1"}': 4.0,
                  "sipedge_connections_accepted_total": 99.0, "sipedge_proxy_headers_total": 5.0}
        self.assertEqual(cl.node_line(series),
                         "connections=7 registrations=0 proxy_headers=5 proxy_rejections=0")

    def test_udp_drops_names_the_sockets_that_dropped(self):
        table = ("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref"
                 " pointer drops\n"
                 "  1: 1500170A:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2"
                 " 0000000000000000 0\n"
                 "  2: 1F00170A:13CE 00000000:0000 07 00000000:00034000 00:00000000 00000000     0        0 3 2"
                 " 0000000000000000 1234\n")
        self.assertEqual(cl.udp_drops(table), [("10.23.0.31:5070", 1234)])

    def test_windows_run_to_the_next_event(self):
        w = cl.windows({"kill_node1": 1.0, "drain_node2": 5.0, "kill_core1": 9.0, "restart_node1": 3.0}, end=20)
        self.assertEqual(w, {"kill_node1": (1.0, 5.0), "drain_node2": (5.0, 9.0), "kill_core1": (9.0, 20)})


class Figures(unittest.TestCase):
    def test_reconnects_are_counted_in_their_event_s_window_by_whole_seconds(self):
        r = sipload([point(1010, "reconnect", 7, max_ms=300), point(1012, "reconnect", 3),
                     point(1030, "reconnect", 5), point(1011, "MESSAGE", 9)])
        a = cl.reconnects([r], KILL, DRAIN)
        self.assertEqual((a["count"], a["max_ms"], a["by_second"]), (10, 300.0, {0: 7, 2: 3}))
        self.assertAlmostEqual(a["reach_s"], 1013 - KILL)
        self.assertEqual(cl.reconnects([r], DRAIN, CORE)["count"], 5, "second 1030 is the drain's")
        self.assertIsNone(cl.reconnects([r], CORE, 2000)["reach_s"])

    def test_failures_are_placed_by_when_they_began(self):
        r = sipload([], [failure(1009.5), failure(1009.0, error="answered 500"), failure(1012.5, count=2), failure(1040.0, error="answered 404")])
        fails, latest = cl.failures([r, r], KILL - 1, DRAIN)
        self.assertEqual(fails, {"MESSAGE: answered 408": 6})
        self.assertEqual(latest, 1012.5)

    def test_p99_takes_the_worst_second_of_the_window(self):
        r = sipload([point(1009, "MESSAGE", 5, p99_ms=1), point(1010, "MESSAGE", 5, p99_ms=30),
                     point(1011, "MESSAGE", 5, p99_ms=2)])
        self.assertEqual(cl.p99_ms(r, "MESSAGE", KILL, KILL + 2), (30.0, 10))


class Report(unittest.TestCase):
    def judged(self, **kw):
        with tempfile.TemporaryDirectory() as out:
            good_run(out, **kw)
            return cl.report(out)

    def test_a_good_run_passes(self):
        lines, ok = self.judged()
        self.assertTrue(ok, "\n".join(lines))
        self.assertTrue(any("200 of 200 clients reconnected" in x for x in lines), lines)
        self.assertTrue(any("p99 24.0 ms over" in x for x in lines), lines)

    def test_a_missing_reconnect_fails(self):
        lines, ok = self.judged(moved=199)
        self.assertFalse(ok)
        self.assertTrue(any(x.startswith("FAIL (a) kill node 1: 199 of 200") for x in lines), lines)

    def test_a_resident_failure_fails(self):
        lines, ok = self.judged(res2_failed=1)
        self.assertFalse(ok)
        self.assertTrue(any(x.startswith("FAIL (a) node 2's own clients") for x in lines), lines)

    def test_a_run_without_calls_fails(self):
        lines, ok = self.judged(calls=False)
        self.assertFalse(ok)
        self.assertTrue(any(x.startswith("FAIL cross-node MESSAGE and calls") for x in lines), lines)
        self.assertTrue(any(x.startswith("FAIL (b) node 1's own clients") for x in lines), lines)
        self.assertTrue(any(x.startswith("FAIL (c) ") and "0 calls ok" in x for x in lines), lines)

    def test_a_failure_in_the_second_before_an_event_is_that_event_s(self):
        lines, ok = self.judged(late=DRAIN - 0.5)
        self.assertTrue(ok, "\n".join(lines))
        self.assertTrue(any(x.startswith("PASS (b) drain node 2: 2 failed") for x in lines), lines)

    def test_a_failure_long_after_the_core_died_fails(self):
        lines, ok = self.judged(late=CORE + 5)
        self.assertFalse(ok)
        self.assertTrue(any(x.startswith("FAIL (c) kill core 1") for x in lines), lines)


class Haproxy(unittest.TestCase):
    def test_lb_up_asks_the_stats_socket(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            srv.bind(path)
            srv.listen(4)

            def serve():
                for _ in range(2):
                    c, _ = srv.accept()
                    with c:
                        if c.recv(100) == b"show stat\n":
                            c.sendall(STAT.encode())

            t = threading.Thread(target=serve)
            t.start()
            self.assertTrue(cl.lb_up(path, ["node1"]))
            self.assertFalse(cl.lb_up(path, ["node1", "node2"]))
            t.join(5)
            srv.close()
            self.assertFalse(cl.lb_up(path, ["node1"]), "nobody listens any more")


if __name__ == "__main__":
    unittest.main()
