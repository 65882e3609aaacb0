#!/usr/bin/env python3
"""A tree started by hand: pennant-aggregator --tree 2 (the root alone), 2 pennant-node
processes, 4 pennant-worker processes connecting to their node; every address is read
from the line its listener prints (port 0). Checks: every process exits 0, the root
trained every round, and it pulled one sum per node per round (final.bytes_pulled).

usage: tree_split.py BUILD_DIR
"""
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import FAILS, check  # noqa: E402

D = 235146  # the built-in MLP's parameters
ROUNDS, N, G = 5, 4, 2


def address(proc, pattern, seconds=60):
    """The HOST:PORT in the first stderr line matching pattern."""
    end = time.time() + seconds
    buf = ""
    while time.time() < end:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if not ready:
            continue
        line = proc.stderr.readline()
        if not line:
            break
        buf += line
        m = re.search(pattern + r" (\S+:\d+)", line)
        if m:
            return m.group(1)
    raise SystemExit(f"FAIL: no address matching {pattern!r} in:\n{buf}")


def main():
    tools = os.path.join(sys.argv[1], "tools")
    env = dict(os.environ, PENNANT_JOB_TOKEN="tree-split-test")
    with tempfile.TemporaryDirectory(prefix="pn-tree-split-") as tmp:
        js = os.path.join(tmp, "root.json")
        root = subprocess.Popen([os.path.join(tools, "pennant-aggregator"), "--tree", str(G), "--workers",
                                 str(N), "--rule", "mean", "--byzantine", "0", "--rounds", str(ROUNDS),
                                 "--eval-every", "0", "--backend", "tcp", "--listen", "127.0.0.1:0",
                                 "--json", js], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        root_addr = address(root, "listening on")
        nodes, workers = [], []
        for r in range(N // G):
            p = subprocess.Popen([os.path.join(tools, "pennant-node"), "--connect", root_addr, "--rank",
                                  str(r), "--children", str(G), "--workers", str(N), "--dim", str(D),
                                  "--listen", "127.0.0.1:0"], env=env, stderr=subprocess.PIPE, text=True)
            nodes.append((p, address(p, "listening on")))
        for w in range(N):
            workers.append(subprocess.Popen([os.path.join(tools, "pennant-worker"), "--connect",
                                             nodes[w // G][1], "--rank", str(w), "--workers", str(N),
                                             "--backend", "tcp"], env=env, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
        codes = [p.wait(timeout=240) for p in [root] + [n for n, _ in nodes] + workers]
        for p in [root] + [n for n, _ in nodes]:
            p.stderr.close()
        check(codes == [0] * len(codes), f"root, nodes and workers exit 0 ({codes})")
        with open(js) as f:
            rec = json.load(f)
    fin = rec["final"]
    check(fin["rounds"] == ROUNDS and fin["skipped"] == 0, f"{ROUNDS} rounds trained ({fin['rounds']}, "
          f"{fin['skipped']} skipped)")
    check(fin["bytes_pulled"] == ROUNDS * (N // G) * D * 4,
          f"the root pulled one sum per node per round ({fin['bytes_pulled']} bytes)")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
