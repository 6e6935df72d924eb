#!/usr/bin/env python3
"""The Python side of tools/compare/edge.sh: sipedge and Kamailio as edges in front of the same core.

  table OUT "LEVELS" EDGE...   a Markdown table from OUT/EDGE-{idle,rate-R,saturation}.json: per edge, CPU-s per
                               10k MESSAGE transactions at each rate and flat out, latency at each rate, memory per
                               idle client, failures; a ratio column (first edge over second) for two edges.
Standard library only.
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def report(out, edge, run):
    """One run's sipload report (None when the run wrote none)."""
    return benchlib.read_json_or_none(os.path.join(out, f"{edge}-{run}.json"))


def rows(out, levels, edge):
    """(label, value, text) for every row of one edge's column."""
    idle = report(out, edge, "idle")
    sat = report(out, edge, "saturation")
    runs = [report(out, edge, f"rate-{r}") for r in levels]
    out_rows = []
    mem = idle["server"]["pss_growth_per_conn_bytes"] if idle else math.nan
    held = f"{idle['connections_ok']}/{idle['connections']}" if idle else "-"
    out_rows.append(("idle registered clients held", None, held))
    out_rows.append(("user-space memory per idle registered client (Pss delta / N)", mem, f"{mem / 1024:.2f} KiB"))
    for r, j in zip(levels, runs):
        cpu = benchlib.cpu_per_10k(j)
        out_rows.append((f"edge CPU-s per 10k MESSAGE at {r} tx/s", cpu, f"{cpu:.3f}"))
    cpu = benchlib.cpu_per_10k(sat)
    tps = benchlib.transaction(sat, "MESSAGE").get("per_sec", math.nan)
    out_rows.append(("edge CPU-s per 10k MESSAGE flat out", cpu, f"{cpu:.3f}"))
    out_rows.append(("MESSAGE tx/s flat out", tps, f"{tps:.0f}"))
    for r, j in zip(levels, runs):
        p = [benchlib.latency(j, "MESSAGE", q) / 1000 for q in ("p50_us", "p99_us", "p999_us")]
        out_rows.append((f"MESSAGE p50 / p99 / p99.9 at {r} tx/s, end to end", p[1],
                         " / ".join(f"{x:.2f}" for x in p) + " ms"))
    failed = sum((j or {}).get("connections_failed", 0) + (j or {}).get("messages_failed", 0)
                 for j in [idle, sat, *runs])
    out_rows.append(("failed (connections + transactions, all runs)", None, str(failed)))
    return out_rows


def table(out, levels, edges):
    """The Markdown lines."""
    columns = [rows(out, levels, e) for e in edges]
    pair = len(edges) == 2
    lines = ["| edge in front of the same Kamailio core | " + " | ".join(edges) + (" | ratio |" if pair else " |"),
             "|---|" + "---|" * (len(edges) + (1 if pair else 0))]
    for i, (label, _, _) in enumerate(columns[0]):
        line = f"| {label} | " + " | ".join(c[i][2] for c in columns)
        if pair:
            a, b = columns[0][i][1], columns[1][i][1]
            ok = a is not None and b is not None and b and not math.isnan(a) and not math.isnan(b)
            line += f" | {a / b:.2f}x" if ok else " | "
        lines.append(line + " |")
    return lines


def main(argv):
    if len(argv) >= 4 and argv[1] == "table":
        print("\n".join(table(argv[2], argv[3].split(), argv[4:])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
