#!/usr/bin/env python3
"""The tree of sum nodes against the flat job, same run, same machine (pennant-train,
Fashion-MNIST MLP, mean, uncoded, tcp on loopback):

  bytes the root pulls per round   tree vs flat (expected: nodes / workers)
  round time (median)              tree vs flat; and the nodes serving their sum's
                                   prefix as it completes (PROGRESS, the default) vs
                                   serving it whole (--node-serve whole), same run
  node data memory                 what one node allocates (pool, model, sum slots) vs
                                   its children's gradients, children x d x 4 bytes

usage: bench_tree.py BUILD_DIR [--workers N] [--tree G] [--rounds R] [--tp-options S] [--json]
--tp-options goes to every run (flat and trees alike), e.g. piece=64K: over tcp the root
pulls a node's sum in 1 MiB pieces by default, which is one piece for the MLP (d = 235,146),
so only smaller pieces let it read a prefix early.
The node memory is the node's own accounting of its buffers (pennant-node's summary
line), not a measured RSS: a local tree's nodes are forked from the root and share its
pages (the data set), so their RSS says nothing about the node.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile


def train(build, tmp, name, args, extra):
    js = os.path.join(tmp, name + ".json")
    cmd = [os.path.join(build, "tools", "pennant-train"), "--workers", str(args.workers), "--rule", "mean",
           "--byzantine", "0", "--rounds", str(args.rounds), "--eval-every", "0", "--backend", "tcp",
           "--json", js] + extra + (["--tp-options", args.tp_options] if args.tp_options else [])
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    if p.returncode != 0:
        sys.exit(f"{name}: pennant-train exited {p.returncode}:\n{p.stdout[-2000:]}")
    with open(js) as f:
        rec = json.load(f)
    mem = [float(m) for m in re.findall(r"([0-9.]+) MB of data memory", p.stdout)]
    return rec, mem


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--tree", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--tp-options", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pn-bench-tree-") as tmp:
        flat, _ = train(args.build, tmp, "flat", args, [])
        tree, mem = train(args.build, tmp, "tree", args, ["--tree", str(args.tree)])
        whole, _ = train(args.build, tmp, "whole", args, ["--tree", str(args.tree), "--node-serve", "whole"])
    nodes = args.workers // args.tree
    rounds = args.rounds
    bf, bt = flat["final"]["bytes_pulled"] / rounds, tree["final"]["bytes_pulled"] / rounds
    # the first rounds include joining and warm-up: the median of the rest
    tf = statistics.median(r["t_round_s"] for r in flat["rounds"][2:])
    tt = statistics.median(r["t_round_s"] for r in tree["rounds"][2:])
    tw = statistics.median(r["t_round_s"] for r in whole["rounds"][2:])
    early = tree["final"]["reads_before_ready"] / rounds
    d = bf / args.workers / 4
    child_vectors = args.tree * d * 4 / 1e6
    out = {"workers": args.workers, "tree": args.tree, "nodes": nodes, "rounds": rounds, "d": int(d),
           "root_bytes_per_round_flat": bf, "root_bytes_per_round_tree": bt,
           "bytes_ratio": bt / bf, "expected_ratio": nodes / args.workers,
           "round_ms_flat": tf * 1e3, "round_ms_tree": tt * 1e3, "round_time_ratio": tt / tf,
           "round_ms_tree_whole": tw * 1e3, "prefix_vs_whole_ratio": tt / tw,
           "root_reads_before_ready_per_round": early,
           "node_data_memory_mb": max(mem) if mem else None,
           "children_vectors_mb": child_vectors}
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"{args.workers} workers, tree of {nodes} nodes x {args.tree}, d = {int(d)}, {rounds} rounds")
    print(f"root bytes per round: flat {bf / 1e6:.2f} MB, tree {bt / 1e6:.2f} MB, ratio {bt / bf:.3f} "
          f"(nodes/workers = {nodes / args.workers:.3f})")
    print(f"median round: flat {tf * 1e3:.1f} ms, tree {tt * 1e3:.1f} ms, ratio {tt / tf:.2f}")
    print(f"median round: tree serving prefixes {tt * 1e3:.1f} ms, serving whole sums {tw * 1e3:.1f} ms, "
          f"ratio {tt / tw:.2f} ({early:.1f} root reads per round before a node's READY)")
    if mem:
        print(f"node data memory: {max(mem):.2f} MB vs its children's gradients {child_vectors:.2f} MB "
              f"({args.tree} x d x 4)")


if __name__ == "__main__":
    main()
