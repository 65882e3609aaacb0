#!/usr/bin/env python3
"""pennant-train --tree: 4 sum nodes x 4 workers against the flat job of 16 workers (mean,
uncoded, 20 rounds, tcp): the same model within 1e-5 relative (the nodes sum in arrival
order, the flat root in its own order: float rounding differs), and the root pulls a
quarter of the flat job's bytes (final.bytes_pulled). The same tree with --fixed-point
(the nodes sum in int32 block fixed point): the flat model within 1e-3 (see below), and
every node reports its quantisation error against its float32 sum, below 1e-6.

Seed 2, not the default 1: the MLP's trajectory is chaotic at the rounding level. With seed 1
a ReLU input within rounding of 0 flips between rounds 7 and 10 in one of the two runs, and
the 1e-8 difference of rounds 3..7 grows to 1.2e-4 by round 20 (same test accuracy to 1e-4).
The nodes' sums are rounded once from float64 (node/sum.c), so both runs are reproducible:
seed 2, 3 and 4 give 2.3e-8, seed 1 gives 1.2e-4 every time (measured 2026-12-02).

With --backend dpdk both runs are the local memif topology (the root one port per node,
each node a client port to the root and one server port per worker).

With --afpacket (under `scripts/dpdk-test-env conformance[:PROFILE]`, 21 veths: 1 + 16 + 4)
both runs are dpdk over net_af_packet, one veth per process: the environment's
PN_CONF_OPTIONS with {rank} = the process's node id (root 0, workers 1..16, nodes 17..20,
tools/train/topology.c) and PN_CONF_LISTEN for the root. The fixed-point run is left out
there (an arithmetic option, tested over tcp and memif; it keeps the test near a minute).
When the profile is lossy (PN_DPT_LOSSY=1) the loss must be real: pn-impair (through
PN_DPT_IMPAIR_PID/_STATS) or netem (tc -s qdisc in PN_DPT_NS) dropped frames, and the
tree's root retransmitted (JSON transport.retransmits > 0). With --mpirun PATH as well the
tree is launched by mpirun (21 ranks: root, nodes, workers, node/README.md "Under mpirun";
MPI over the namespace's loopback, PENNANT_JOB_TOKEN the secret), the flat run locally.

usage: tree_train.py BUILD_DIR [--backend tcp|dpdk] [--afpacket [--mpirun PATH]]
"""
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import FAILS, check  # noqa: E402
from npy_file import load_npy_f32  # noqa: E402


def train(build, tmp, name, extra, backend, quiet=True, launcher=()):
    js, model = os.path.join(tmp, name + ".json"), os.path.join(tmp, name + ".npy")
    cmd = list(launcher) + [os.path.join(build, "tools", "pennant-train")] + (["--quiet"] if quiet else []) + [
           "--workers", "16", "--rule", "mean",
           "--byzantine", "0", "--rounds", "20", "--eval-every", "0", "--backend", backend, "--seed", "2",
           "--json", js, "--save-model", model] + extra
    print("$", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    print(p.stdout[-2000:], flush=True)
    if not check(p.returncode == 0, f"{name}: pennant-train exits 0 (got {p.returncode})"):
        raise SystemExit(1)
    with open(js) as f:
        return json.load(f), load_npy_f32(model), p.stdout


def rel_diff(w, ref):
    diff = math.sqrt(sum((a - b) ** 2 for a, b in zip(w, ref)))
    return diff / math.sqrt(sum(b * b for b in ref))


def frames_lost():
    """Frames the environment's impairment dropped so far, and by what: pn-impair's per-port
    counts (it writes them to PN_DPT_IMPAIR_STATS on SIGUSR1), else netem's on the bridge."""
    pid, path = os.environ.get("PN_DPT_IMPAIR_PID"), os.environ.get("PN_DPT_IMPAIR_STATS")
    if pid and path:
        if os.path.exists(path):
            os.unlink(path)
        os.kill(int(pid), signal.SIGUSR1)
        for _ in range(100):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        with open(path) as f:
            text = f.read()
        print(text, end="", flush=True)
        return sum(int(n) for n in re.findall(r"lost (\d+)", text)), "pn-impair"
    p = subprocess.run(["tc", "-s", "qdisc", "show"], stdout=subprocess.PIPE, text=True)
    return sum(int(n) for n in re.findall(r"dropped (\d+)", p.stdout)), "netem"


def main():
    build = sys.argv[1]
    backend = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--backend" else "tcp"
    afpacket = "--afpacket" in sys.argv[2:]
    extra = []
    if afpacket:
        backend = "dpdk"
        extra = ["--tp-options", os.environ["PN_CONF_OPTIONS"] + ";idle_sleep_us=200",
                 "--listen", os.environ["PN_CONF_LISTEN"]]
    lossy = afpacket and os.environ.get("PN_DPT_LOSSY") == "1"
    launcher = []
    if afpacket and "--mpirun" in sys.argv[2:]:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        launcher = [sys.argv[sys.argv.index("--mpirun") + 1], "--oversubscribe", "--allow-run-as-root",
                    "-np", "21", "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo",
                    "--mca", "oob_tcp_if_include", "lo", "-x", "PENNANT_JOB_TOKEN"]
    with tempfile.TemporaryDirectory(prefix="pn-tree-") as tmp:
        flat, wf, _ = train(build, tmp, "flat", extra, backend)
        lost_before = frames_lost()[0] if lossy else 0
        tree, wt, _ = train(build, tmp, "tree", extra + ["--tree", "4", "--node-mode", "sum"], backend,
                            launcher=launcher)
        if not afpacket:
            fixed, wx, log = train(build, tmp, "fixed", ["--tree", "4", "--fixed-point"], backend, quiet=False)
    check(len(wt) == len(wf) and any(wf), "both models saved, same size")
    r = rel_diff(wt, wf)
    check(r <= 1e-5, f"tree vs flat model: relative difference {r:.3g} <= 1e-5")
    if afpacket:
        tail_checks(flat, tree, wf)
        if lossy:
            lost, by = frames_lost()
            check(lost_before > 0 and lost > lost_before,
                  f"the {os.environ.get('PN_DPT_PROFILE')} profile dropped frames in both runs (by {by}: "
                  f"{lost_before} in the flat run, {lost - lost_before} in the tree's)")
            rt = tree["transport"]["retransmits"]
            check(rt > 0, f"the tree's root retransmitted ({rt} retransmits, flat root "
                  f"{flat['transport']['retransmits']})")
        sys.exit(1 if FAILS else 0)
    r = rel_diff(wx, wf)
    # A quantised sum is another arithmetic (5e-8 from float32 per round, below); its model is
    # usually within 3e-8 of flat, but its rescales depend on arrival order, so a run can hit
    # the ReLU flip the docstring describes (7e-5 seen over memif): the bound is 1e-3, which
    # a wrong sum (a child missing or doubled: ~1e-1) still fails.
    check(r <= 1e-3, f"fixed-point tree vs flat model: relative difference {r:.3g} <= 1e-3")
    errs = [float(m) for m in re.findall(r"largest relative error against float32 (\S+)", log)]
    check(len(errs) == 4 and all(0 <= e < 1e-6 for e in errs),
          f"each of the 4 nodes reports its fixed-point error against float32, below 1e-6: {errs}")
    check(fixed["config"]["fixed_point"] is True and tree["config"]["fixed_point"] is False,
          "the JSON config says fixed_point")
    tail_checks(flat, tree, wf)
    sys.exit(1 if FAILS else 0)


def tail_checks(flat, tree, wf):
    bf, bt = flat["final"]["bytes_pulled"], tree["final"]["bytes_pulled"]
    d = len(wf)
    check(bf == 20 * 16 * d * 4, f"flat root pulled 20 rounds x 16 gradients ({bf} bytes)")
    check(bt == 20 * 4 * d * 4, f"tree root pulled 20 rounds x 4 node sums ({bt} bytes, "
          f"{bt / bf:.3f} of flat)")
    check(tree["config"]["tree"] == 4 and tree["config"]["node_mode"] == "sum", "the JSON config says the tree")
    check(len(tree["workers"]) == 4, f"the root's peer table lists its 4 nodes ({len(tree['workers'])})")
    check(tree["final"]["rounds"] == 20 and tree["final"]["skipped"] == 0, "20 rounds, none skipped")


if __name__ == "__main__":
    main()
