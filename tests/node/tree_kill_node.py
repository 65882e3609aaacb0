#!/usr/bin/env python3
"""pennant-train --tree 4 with node 1 killed at round 5 (--kill-node 1 --kill-round 5, the
node _exits as kill -9 would leave it): what a dead node costs TODAY. Bypassing it (its
workers pulled directly by the root) is not built, so the root must end the job promptly
with the reason naming the node and the round, the JSON must still be written (5 rounds
done, the node's peer row gone at round 5, final.error), and no process of the tree may
be left behind. When the bypass is built, this test turns into "exit 0, at most one round
lost" (node/README.md).

usage: tree_kill_node.py BUILD_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import FAILS, check  # noqa: E402


def tree_processes(tag):
    """pids of processes whose command line carries this run's unique JSON path."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if tag.encode() in f.read():
                    out.append(int(pid))
        except OSError:
            pass
    return out


def main():
    build = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="pn-tree-kill-") as tmp:
        js = os.path.join(tmp, "kill.json")
        cmd = [os.path.join(build, "tools", "pennant-train"), "--workers", "16", "--tree", "4",
               "--node-mode", "sum", "--rule", "mean", "--byzantine", "0", "--rounds", "20",
               "--eval-every", "0", "--backend", "tcp", "--kill-node", "1", "--kill-round", "5",
               "--json", js]
        print("$", " ".join(cmd), flush=True)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
        print(p.stdout[-3000:], flush=True)
        check(p.returncode == 1, f"the job ends with exit 1: a dead node is not bypassed yet (got {p.returncode})")
        check("node 1: exiting abruptly at round 5" in p.stdout, "node 1 died at round 5 (fault injection)")
        check("node 1 went away in round 5" in p.stdout, "the root says which node went away and when")
        left = tree_processes(js)
        check(not left, f"no process of the tree is left behind ({left})")
        if not check(os.path.exists(js), "the JSON is written"):
            sys.exit(1)
        with open(js) as f:
            rep = json.load(f)
    fin = rep["final"]
    check(fin["rounds"] == 5 and fin["skipped"] == 0, f"rounds 0..4 done, none skipped ({fin['rounds']}, "
          f"{fin['skipped']})")
    check("node 1 went away in round 5" in (fin.get("error") or ""), f"final.error has the reason ({fin.get('error')})")
    check(fin["bytes_pulled"] > 0, f"final.bytes_pulled counts what the root pulled ({fin['bytes_pulled']})")
    gone = [w["rank"] for w in rep["workers"] if w.get("gone_at_round", -1) >= 0]
    check(gone == [1] and rep["workers"][1]["gone_at_round"] == 5, f"the peer table: node 1 gone at round 5 ({gone})")
    check(all(len(r["weights"]) == 4 for r in rep["rounds"] if "weights" in r),
          "each round's weights list the root's 4 peers (the nodes), not 16 entries")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
