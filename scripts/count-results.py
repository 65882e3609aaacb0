#!/usr/bin/env python3
"""Total the results of every suite from meson's testlog JSON files.

A Criterion test binary counts as its individual tests (from its "Synthesis" line), a
multi-case script as its cases (from its "Summary: N passed, N failed" line); any other
test counts as one. A binary that failed without Criterion reporting a
failure (a crash at exit, a sanitizer report) adds one failure. Prints one line:
'N passed, N failed' (plus ', N skipped' when any were skipped). Exit 1 on failures.
"""
import json
import re
import sys

SYN = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)")
# Our own multi-case scripts (tests/faults/fault_matrix.py) end with this line.
CASES = re.compile(r"^Summary: (\d+) passed, (\d+) failed$", re.M)


def main(paths):
    passed = failed = skipped = 0
    seen = 0
    for path in paths:
        try:
            f = open(path, encoding="utf-8", errors="replace")
        except OSError as e:
            print(f"count-results: cannot read {path}: {e}", file=sys.stderr)
            failed += 1
            continue
        with f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                t = json.loads(line)
                seen += 1
                out = (t.get("stdout") or "") + (t.get("stderr") or "")
                res = t.get("result", "")
                m = SYN.findall(out)
                if not m:
                    c = CASES.findall(out)
                    if c:
                        p, fl = map(int, c[-1])
                        m = [(p + fl, p, fl, 0)]
                if res == "SKIP":
                    skipped += 1
                    print(f"  SKIPPED: {t.get('name')}", file=sys.stderr)
                    continue
                if m:
                    _, p, fl, cr = map(int, m[-1])
                    passed += p
                    failed += fl + cr
                    if res not in ("OK", "EXPECTEDFAIL") and fl + cr == 0:
                        failed += 1
                else:
                    if res in ("OK", "EXPECTEDFAIL"):
                        passed += 1
                    else:
                        failed += 1
                if res not in ("OK", "EXPECTEDFAIL"):
                    print(f"  FAILED: {t.get('name')} ({res})", file=sys.stderr)
    if seen == 0:
        failed += 1
        print("count-results: no test ran", file=sys.stderr)
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
