#!/usr/bin/env python3
"""Check an Autobahn|Testsuite fuzzingclient report (index.json) against the expected results.

usage: check.py INDEX_JSON AGENT EXPECTED_JSON [CASES_PATTERN]
       check.py --write INDEX_JSON AGENT EXPECTED_JSON     (record the current results as expected)

Sections 1-11 must be OK, NON-STRICT or INFORMATIONAL; 12 and 13 UNIMPLEMENTED; every expected case must be
present (wstest leaves cases out when it cannot connect); and each result must equal the expected one.
"""
import fnmatch
import json
import sys

GOOD = {"OK", "NON-STRICT", "INFORMATIONAL"}


def section(case_id):
    return int(case_id.split(".")[0])


def load_results(index_path, agent):
    try:
        with open(index_path) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit("autobahn: no usable report at %s: %s" % (index_path, e))
    if agent not in index:
        sys.exit("autobahn: report has no results for agent %r (agents: %s)" % (agent, ", ".join(index) or "none"))
    return {case: r.get("behavior", "MISSING") for case, r in index[agent].items()}, index[agent]


def case_key(case_id):
    return tuple(int(p) for p in case_id.split("."))


def main(argv):
    if argv[1:2] == ["--write"]:
        results, _ = load_results(argv[2], argv[3])
        with open(argv[4], "w") as f:
            json.dump(dict(sorted(results.items(), key=lambda kv: case_key(kv[0]))), f, indent=1)
            f.write("\n")
        print("autobahn: wrote %d expected results to %s" % (len(results), argv[4]))
        return 0
    index_path, agent, expected_path = argv[1], argv[2], argv[3]
    pattern = argv[4] if len(argv) > 4 else "*"
    results, raw = load_results(index_path, agent)
    with open(expected_path) as f:
        expected = {c: b for c, b in json.load(f).items() if fnmatch.fnmatch(c, pattern)}

    problems = []
    for case in sorted(set(expected) | set(results), key=case_key):
        got = results.get(case)
        want = expected.get(case)
        if got is None:
            problems.append("%s: no result (expected %s)" % (case, want))
            continue
        if section(case) <= 11 and got not in GOOD:
            close = raw[case].get("behaviorClose")
            problems.append("%s: %s (close: %s)" % (case, got, close))
        elif section(case) >= 12 and got != "UNIMPLEMENTED":
            problems.append("%s: %s (expected UNIMPLEMENTED)" % (case, got))
        elif want is None:
            problems.append("%s: %s, not in %s" % (case, got, expected_path))
        elif got != want:
            problems.append("%s: %s, expected %s" % (case, got, want))

    counts = {}
    for b in results.values():
        counts[b] = counts.get(b, 0) + 1
    summary = ", ".join("%s %d" % kv for kv in sorted(counts.items()))
    print("autobahn %s: %d cases: %s" % (agent, len(results), summary))
    if problems:
        for p in problems:
            print("  FAIL " + p)
        print("autobahn %s: %d passed, %d failed" % (agent, len(results) - len(problems), len(problems)))
        return 1
    print("autobahn %s: %d passed, 0 failed" % (agent, len(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
