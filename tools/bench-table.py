#!/usr/bin/env python3
"""Print a markdown table from criterion's results (target/criterion/<group>/<function>/<param>/new/estimates.json).

usage: tools/bench-table.py GROUP BASELINE_FUNCTION [--bytes]
  Rows: parameters (sizes or message names); columns: each function's median time (or GB/s with --bytes, from
  the benchmark's throughput), then the ratio of every function against BASELINE_FUNCTION measured in the same run
  (> 1 means faster than the baseline).
"""
import json
import os
import sys


def load(root, group):
    base = os.path.join(root, "target", "criterion", group)
    results = {}
    for func in sorted(os.listdir(base)):
        fdir = os.path.join(base, func)
        if not os.path.isdir(fdir) or func == "report":
            continue
        for param in os.listdir(fdir):
            est = os.path.join(fdir, param, "new", "estimates.json")
            bench = os.path.join(fdir, param, "new", "benchmark.json")
            if not os.path.exists(est):
                continue
            median = json.load(open(est))["median"]["point_estimate"]
            nbytes = None
            if os.path.exists(bench):
                tp = json.load(open(bench)).get("throughput") or {}
                nbytes = tp.get("Bytes") or tp.get("BytesDecimal")
            results.setdefault(param, {})[func] = (median, nbytes)
    return results


def key(p):
    return (0, int(p)) if p.isdigit() else (1, p)


def fmt_time(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    group, baseline = sys.argv[1], sys.argv[2]
    as_bytes = "--bytes" in sys.argv
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    results = load(root, group)
    funcs = sorted({f for r in results.values() for f in r})
    head = ["param"] + funcs + [f"{f} vs {baseline}" for f in funcs if f != baseline]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for param in sorted(results, key=key):
        row = [param]
        r = results[param]
        for f in funcs:
            if f not in r:
                row.append("")
            elif as_bytes and r[f][1]:
                row.append(f"{r[f][1] / r[f][0]:.1f} GB/s")
            else:
                row.append(fmt_time(r[f][0]))
        for f in funcs:
            if f == baseline:
                continue
            if f in r and baseline in r:
                row.append(f"{r[baseline][0] / r[f][0]:.2f}×")
            else:
                row.append("")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
