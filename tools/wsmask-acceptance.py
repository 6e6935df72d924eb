#!/usr/bin/env python3
"""Check the wsmask bench's results against the speed targets of its issue.

usage: tools/wsmask-acceptance.py   (after `cargo bench -p sipedge-benches --bench wsmask`)
Reads target/criterion/<group>/<function>/<size>/new/estimates.json (medians) and prints one line
per target with the measured ratio; exits 1 if any target is missed.
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "criterion")

# (group, function, baseline, size, at least): `baseline` time / `function` time >= at least.
TARGETS = [
    ("unmask", "wsmask", "fastwebsockets", 16384, 1.8),
    ("unmask", "wsmask", "fastwebsockets", 65536, 1.8),
    ("unmask", "wsmask", "fastwebsockets", 1024, 1.4),
    ("unmask", "wsmask", "fastwebsockets", 125, 2.0),
    ("unmask", "wsmask", "memcpy", 16384, 1.0),
    ("unmask_utf8", "wsmask_fused", "two_pass_simdutf8", 1024, 1.35),
    ("unmask_utf8", "wsmask_fused", "two_pass_simdutf8", 16384, 1.35),
    # Unaligned start within 10% of aligned: aligned time / unaligned time >= 0.9.
    ("unmask", "wsmask_unaligned", "wsmask", 16384, 0.9),
]


def median(group, function, size):
    path = os.path.join(ROOT, group, function, str(size), "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def main():
    failed = 0
    for group, function, baseline, size, least in TARGETS:
        try:
            ratio = median(group, baseline, size) / median(group, function, size)
        except FileNotFoundError as e:
            print(f"MISSING {e.filename}")
            failed += 1
            continue
        ok = ratio >= least
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {group}/{function} vs {baseline} at {size}: "
              f"{ratio:.2f}x (target >= {least}x)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
