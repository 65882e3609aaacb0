#!/usr/bin/env python3
"""A tree of depth 2 started by hand: pennant-aggregator --tree 4 --workers 8 (the root
alone, 2 peers), 2 pennant-node under it, 2 pennant-node under each of those, and 2
pennant-worker under each of the last; every address is read from the line its listener
prints (port 0). Checks: every process exits 0, the root trained every round, pulled one
sum per peer per round (final.bytes_pulled), and its model is the flat local job's of 8
workers within 1e-5 relative (sums nest: only the float rounding differs).

usage: tree_split.py BUILD_DIR
"""
import json
import math
import os
import re
import select
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import FAILS, check  # noqa: E402
from npy_file import load_npy_f32  # noqa: E402

D = 235146  # the built-in MLP's parameters
ROUNDS, N = 5, 8
JOB = ["--workers", str(N), "--rule", "mean", "--byzantine", "0", "--rounds", str(ROUNDS),
       "--eval-every", "0", "--backend", "tcp"]


def address(proc, seconds=60):
    """The HOST:PORT of the first stderr line saying where the process listens. Reads the
    raw pipe: select() on a buffered text stream misses lines already in its buffer."""
    end, buf, fd = time.time() + seconds, b"", proc.stderr.fileno()
    while time.time() < end:
        if not select.select([fd], [], [], 0.5)[0]:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        m = re.search(rb"listening on (\S+:\d+)", buf)
        if m:
            return m.group(1).decode()
    raise SystemExit(f"FAIL: no listening address in:\n{buf.decode(errors='replace')}")


def main():
    tools = os.path.join(sys.argv[1], "tools")
    env = dict(os.environ, PENNANT_JOB_TOKEN="tree-split-test")
    procs = []

    def start(args, listens):
        p = subprocess.Popen([os.path.join(tools, args[0])] + args[1:], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE if listens else subprocess.DEVNULL)
        procs.append(p)
        if not listens:
            return None
        addr = address(p)
        # keep draining its log, so that a full pipe never blocks the process
        threading.Thread(target=lambda fd=p.stderr.fileno(): [None for _ in iter(lambda: os.read(fd, 65536), b"")],
                         daemon=True).start()
        return addr

    def node(parent, rank, first):
        return start(["pennant-node", "--connect", parent, "--rank", str(rank), "--children", "2",
                      "--first-rank", str(first), "--workers", str(N), "--dim", str(D), "--listen",
                      "127.0.0.1:0"], True)

    with tempfile.TemporaryDirectory(prefix="pn-tree-split-") as tmp:
        js, model = os.path.join(tmp, "root.json"), os.path.join(tmp, "root.npy")
        root = start(["pennant-aggregator", "--tree", "4", "--listen", "127.0.0.1:0", "--json", js,
                      "--save-model", model] + JOB, True)
        mids = [node(root, m, 2 * m) for m in range(2)]              # ranks 0, 1 at the root
        leaves = [node(mids[k // 2], k, 2 * k) for k in range(4)]    # ranks 0..3 under the mids
        for w in range(N):
            start(["pennant-worker", "--connect", leaves[w // 2], "--rank", str(w), "--workers", str(N),
                   "--backend", "tcp"], False)
        codes = [p.wait(timeout=240) for p in procs]
        check(codes == [0] * len(codes), f"root, 6 nodes and 8 workers exit 0 ({codes})")
        with open(js) as f:
            fin = json.load(f)["final"]
        tree_model = load_npy_f32(model)
        flat_model = os.path.join(tmp, "flat.npy")
        p = subprocess.run([os.path.join(tools, "pennant-train"), "--quiet", "--save-model", flat_model] + JOB,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        check(p.returncode == 0, f"the flat local job of {N} workers exits 0 ({p.returncode})")
        flat = load_npy_f32(flat_model)
    check(fin["rounds"] == ROUNDS and fin["skipped"] == 0, f"{ROUNDS} rounds trained ({fin['rounds']}, "
          f"{fin['skipped']} skipped)")
    check(fin["bytes_pulled"] == ROUNDS * 2 * D * 4,
          f"the root pulled one sum per peer per round ({fin['bytes_pulled']} bytes)")
    diff = math.sqrt(sum((a - b) ** 2 for a, b in zip(tree_model, flat)))
    norm = math.sqrt(sum(b * b for b in flat))
    check(norm > 0 and diff / norm <= 1e-5, f"depth-2 tree vs flat model: relative difference "
          f"{diff / max(norm, 1e-30):.3g} <= 1e-5")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
