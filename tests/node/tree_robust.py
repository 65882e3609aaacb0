#!/usr/bin/env python3
"""pennant-train --tree 4 --node-mode robust: 16 workers, one reversing attacker per group
(ranks 0, 4, 8, 12), median per node, 30 rounds: accuracy within 2 points of the clean tree
while the flat mean over the same 16 workers and attackers collapses (< clean - 20 points).
The nodes' verdicts reach the root (NODE_REPORT): every round's JSON has each worker's status
and score, and the roll-up ("leaves") names the attackers: each is its group's top suspect
in most rounds and has its group's lowest trust.

usage: tree_robust.py BUILD_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import FAILS, check  # noqa: E402

BYZ = ["--byzantine-ranks", "0,4,8,12", "--attack", "reverse"]
TREE = ["--tree", "4", "--node-mode", "robust", "--rule", "median", "--f", "1"]


def train(build, tmp, name, extra):
    js = os.path.join(tmp, name + ".json")
    cmd = [os.path.join(build, "tools", "pennant-train"), "--quiet", "--workers", "16", "--rounds", "30",
           "--code", "uncoded", "--s", "0", "--backend", "tcp", "--json", js] + extra
    print("$", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    print(p.stdout[-1500:], flush=True)
    if not check(p.returncode == 0, f"{name}: pennant-train exits 0 (got {p.returncode})"):
        raise SystemExit(1)
    with open(js) as f:
        return json.load(f)


def main():
    build = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="pn-tree-robust-") as tmp:
        clean = train(build, tmp, "clean", TREE + ["--byzantine", "0"])["final"]
        rep = train(build, tmp, "robust", TREE + BYZ)
        robust = rep["final"]
        flat = train(build, tmp, "flat-mean", ["--rule", "mean"] + BYZ)["final"]
    c, r, m = clean["test_acc"], robust["test_acc"], flat["test_acc"]
    check(c is not None and c > 0.5, f"the clean robust tree learns (accuracy {c})")
    # "keeps accuracy within 2 points": it may lose at most 2 points (measured: it gains 1.9,
    # the median of 4 with one reversed row is another estimate than the clean median of 4)
    check(r is not None and r >= c - 0.02, f"robust tree with 4 attackers: {r} loses at most 2 points of {c}")
    check(m is None or m < c - 0.20, f"flat mean with the same attackers collapses: {m} < {c} - 0.20")
    check(robust["rounds"] == 30 and robust["skipped"] == 0, "30 rounds, none skipped")
    rounds = rep["rounds"]
    check(all(len(x.get("leaf_status", [])) == 16 and all(s == 0 for s in x["leaf_status"]) and
              all(v is not None for v in x["leaf_score"]) for x in rounds),
          "every round: each of the 16 workers' status (used) and score, reported by its node")
    leaves = rep.get("leaves", [])
    check(len(leaves) == 16 and all(lf["reports"] == 30 for lf in leaves), "the roll-up: 16 workers, 30 reports each")
    for a in (0, 4, 8, 12):
        group = leaves[a:a + 4]
        top = leaves[a]["top_suspect"] if len(leaves) == 16 else -1
        lowest = min(group, key=lambda lf: lf["trust"])["worker"] if len(group) == 4 else None
        check(top >= 24 and lowest == a, f"attacker {a}: its group's top suspect in {top} of 30 rounds, "
              f"lowest trust of its group (lowest: worker {lowest})")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
