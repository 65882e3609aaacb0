#!/usr/bin/env python3
"""pennant-train --tree 4 --node-mode replica (fractional repetition in the tree): each node's
4 workers are one replica group and compute the group's 4 partitions; the node serves one
replica and checks the others bit for bit (node/replica.c). 16 workers, mean, 20 rounds, tcp,
seed 2 (tree_train.py says why not seed 1).

1. clean: the flat job's model within 1e-5 (the root combines 4 group sums instead of 16
   gradients: rounding only), and every check of every node agreed (honest replicas are
   identical).
2. one straggler (400 ms every round) in each group and worker 9 killed at round 5: exit 0,
   all 20 rounds, and the model EQUAL to the clean run's, bit for bit: whichever replica a
   node serves, it is the same bytes. Node 2 reports the worker it lost.
3. workers 2 and 7 Byzantine (reverse) with --replica-quorum 2, stragglers as in 2: the model
   equal to the clean run's; each attacker's replica differed from the served one in rounds
   it was compared, agreed in none, and no honest replica ever differed.
4. the command line refuses what does not fit (exit 2).

usage: tree_replica.py BUILD_DIR
"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import FAILS, check  # noqa: E402
from npy_file import load_npy_f32  # noqa: E402

STRAGGLERS = ["--straggle", "1,6,11,12:fixed:400"]


def train(build, tmp, name, extra):
    js, model = os.path.join(tmp, name + ".json"), os.path.join(tmp, name + ".npy")
    cmd = [os.path.join(build, "tools", "pennant-train"), "--workers", "16", "--rule", "mean",
           "--rounds", "20", "--eval-every", "0", "--backend", "tcp", "--seed", "2",
           "--json", js, "--save-model", model] + extra
    print("$", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    lines = [l for l in p.stdout.splitlines() if not l.startswith("round ")]
    print("\n".join(lines[-30:]), flush=True)
    if not check(p.returncode == 0, f"{name}: pennant-train exits 0 (got {p.returncode})"):
        raise SystemExit(1)
    with open(js) as f:
        rec = json.load(f)
    check(rec["final"]["rounds"] == 20 and rec["final"]["skipped"] == 0,
          f"{name}: 20 rounds, none skipped ({rec['final']['rounds']}, {rec['final']['skipped']})")
    return rec, load_npy_f32(model), p.stdout


def checks_of(log):
    """Per child rank: (agreed, differed, not checked), from the nodes' closing lines."""
    pat = r"child rank (\d+): replica checks: (\d+) agreed, (\d+) differed, (\d+) not checked"
    return {int(m[0]): tuple(int(x) for x in m[1:]) for m in re.findall(pat, log)}


def rel_diff(w, ref):
    diff = sum((a - b) ** 2 for a, b in zip(w, ref)) ** 0.5
    return diff / sum(b * b for b in ref) ** 0.5


def refused(build, extra, what):
    cmd = [os.path.join(build, "tools", "pennant-train"), "--workers", "16", "--rule", "mean",
           "--byzantine", "0", "--rounds", "1", "--backend", "tcp"] + extra
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    first = p.stdout.strip().splitlines()[0] if p.stdout.strip() else ""
    check(p.returncode == 2 and what in first, f"refused ({' '.join(extra)}): exit {p.returncode}, '{first}'")


def main():
    build = sys.argv[1]
    tree = ["--tree", "4", "--node-mode", "replica"]
    with tempfile.TemporaryDirectory(prefix="pn-replica-") as tmp:
        _, wf, _ = train(build, tmp, "flat", ["--quiet", "--byzantine", "0"])
        _, wc, log = train(build, tmp, "clean", tree + ["--byzantine", "0"])
        _, ws, slog = train(build, tmp, "stragglers", tree + ["--byzantine", "0", "--kill-rank", "9",
                                                              "--kill-round", "5"] + STRAGGLERS)
        _, wb, blog = train(build, tmp, "byzantine", tree + ["--replica-quorum", "2", "--byzantine-ranks", "2,7",
                                                             "--attack", "reverse"] + STRAGGLERS)
    r = rel_diff(wc, wf)
    check(len(wc) == len(wf) and r <= 1e-5, f"replica tree vs flat model: relative difference {r:.3g} <= 1e-5")
    c = checks_of(log)
    check(len(c) == 16 and all(v[1] == 0 for v in c.values()) and sum(v[0] for v in c.values()) > 0,
          f"clean: no replica ever differed, {sum(v[0] for v in c.values())} checks agreed ({c})")

    check(ws == wc, "stragglers and a killed worker: the model equals the clean run's, bit for bit")
    check(re.search(r"node 2: replica checks: .*; 1 worker\(s\) lost", slog) is not None,
          "node 2 reports the worker it lost")
    s = checks_of(slog)
    check(all(v[1] == 0 for v in s.values()), "stragglers: no replica differed")

    check(wb == wc, "Byzantine workers 2 and 7 with quorum 2: the model equals the clean run's, bit for bit")
    b = checks_of(blog)
    attackers = {2: b.get(2), 7: b.get(7)}
    check(all(v and v[0] == 0 and v[1] > 0 for v in attackers.values()),
          f"each attacker's replica differed and never agreed (agreed, differed, not checked): {attackers}")
    honest = {k: v for k, v in b.items() if k not in (2, 7)}
    check(len(honest) == 14 and all(v[1] == 0 for v in honest.values()),
          f"no honest replica differed ({honest})")

    refused(build, ["--replica-quorum", "2"], "--replica-quorum goes with")
    refused(build, tree + ["--replica-quorum", "5"], "more than the 4 replicas")
    refused(build, tree + ["--fixed-point"], "--fixed-point is for sum nodes")
    refused(build, ["--tree", "4", "--straggle", "1:fixed:10"], "--straggle and --kill-rank under --tree need --node-mode replica")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
