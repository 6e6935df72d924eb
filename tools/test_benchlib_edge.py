"""Unit tests of tools/benchlib_edge.py (the table of tools/compare/edge.sh)."""
import json
import os
import tempfile
import unittest

import benchlib_edge


def report(cpu, ok, p99=1000, failed=0, per_sec=0.0, pss=0):
    return {
        "connections": 2, "connections_ok": 2, "connections_failed": 0, "messages_failed": failed,
        "server": {"traffic_cpu_secs": cpu, "pss_growth_per_conn_bytes": pss},
        "transactions": {"MESSAGE": {"traffic_ok": ok, "per_sec": per_sec,
                                     "latency": {"p50_us": 500, "p99_us": p99, "p999_us": 2000}}},
    }


class EdgeTable(unittest.TestCase):
    def test_a_ratio_per_row_first_edge_over_second(self):
        with tempfile.TemporaryDirectory() as out:
            runs = {
                "a-idle": report(0, 0, pss=1024), "b-idle": report(0, 0, pss=4096),
                "a-rate-500": report(1.0, 10000), "b-rate-500": report(4.0, 10000, failed=3),
                "a-saturation": report(2.0, 40000, per_sec=4000), "b-saturation": report(4.0, 20000, per_sec=2000),
            }
            for name, r in runs.items():
                with open(os.path.join(out, f"{name}.json"), "w") as f:
                    json.dump(r, f)
            lines = benchlib_edge.table(out, ["500"], ["a", "b"])
        text = "\n".join(lines)
        self.assertIn("| edge CPU-s per 10k MESSAGE at 500 tx/s | 1.000 | 4.000 | 0.25x |", text)
        self.assertIn("| edge CPU-s per 10k MESSAGE flat out | 0.500 | 2.000 | 0.25x |", text)
        self.assertIn("| MESSAGE tx/s flat out | 4000 | 2000 | 2.00x |", text)
        self.assertIn("| user-space memory per idle registered client (Pss delta / N) | 1.00 KiB | 4.00 KiB | 0.25x |", text)
        self.assertIn("| failed (connections + transactions, all runs) | 0 | 3 |  |", text)

    def test_a_missing_run_shows_as_nan_without_a_ratio(self):
        with tempfile.TemporaryDirectory() as out:
            lines = benchlib_edge.table(out, ["2000"], ["a", "b"])
        self.assertIn("| edge CPU-s per 10k MESSAGE at 2000 tx/s | nan | nan |  |", "\n".join(lines))


if __name__ == "__main__":
    unittest.main()
