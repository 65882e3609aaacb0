#!/usr/bin/env python3
"""The multi-process sharded job, `pennant-train --shards K` (K aggregator processes and
the workers forked on this host, tcp on loopback).

usage: e2e_shards.py BUILD_DIR SCENARIO
Scenarios (each a separate meson test):
  match-RULE     --shards 1, 2 and 4 for 20 rounds with one attacker: the saved models agree
                 (relative difference <= 1e-5), every round's record of who was used,
                 flagged, non-finite or Byzantine-used is the same, every worker's flagged
                 count is the same, and the shards together pulled exactly the bytes of the
                 unsharded job (each its own range)
  shard-killed   kill -9 shard 1 at round 5: the job ends within 30 s, non-zero, shard 0 and
                 every worker name the lost shard, no process is left, no model is saved
  shard0-killed  kill -9 shard 0 (the launching process): the other shards and every worker
                 end within 10 s, each saying shard 0 is gone
Exit 0 on success; failures print what was expected and what happened.
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
from proc_state import children, running  # noqa: E402
from npy_file import load_npy_f32  # noqa: E402

# Small: softmax (7850 parameters), 7 workers, 20 rounds; a few seconds per run.
JOB = ["--backend", "tcp", "--model", "softmax", "--workers", "7", "--byzantine", "1",
       "--rounds", "20", "--batch", "16", "--s", "0", "--code", "uncoded", "--wait", "all",
       "--eval-every", "0"]
# an attack per rule that makes the selection matter (NaN: the non-finite exclusion)
ATTACK = {"mean": "signflip", "median": "nan", "trimmed-mean": "scaled", "meamed": "reverse",
          "phocas": "gaussian", "krum": "reverse", "multi-krum": "nan", "bulyan": "scaled",
          "geomed": "reverse", "flag": "nan"}
PER_ROUND = ["finished", "stragglers", "failed", "nonfinite", "disagreeing", "byzantine_used",
             "skipped"]


def train(build, tmp, name, args):
    js, model = os.path.join(tmp, name + ".json"), os.path.join(tmp, name + ".npy")
    cmd = [os.path.join(build, "tools", "pennant-train"), "--quiet", "--json", js,
           "--save-model", model] + JOB + args
    print("$", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    if not check(p.returncode == 0, f"{name}: pennant-train exits 0 (got {p.returncode})"):
        print(p.stdout[-3000:], flush=True)
        return None, None
    with open(js) as f:
        return json.load(f), load_npy_f32(model)


def match(build, rule):
    with tempfile.TemporaryDirectory() as tmp:
        args = ["--rule", rule, "--attack", ATTACK[rule]] + (["--f", "1"] if rule != "mean" else [])
        ref, x1 = train(build, tmp, "k1", args + ["--shards", "1"])
        if ref is None:
            return
        n1 = math.sqrt(sum(v * v for v in x1))
        check(n1 > 0 and all(math.isfinite(v) for v in x1), f"{rule}: the unsharded model is finite")
        for K in (2, 4):
            rec, xk = train(build, tmp, f"k{K}", args + ["--shards", str(K)])
            if rec is None:
                continue
            rel = math.sqrt(sum((a - b) ** 2 for a, b in zip(x1, xk))) / n1 if len(xk) == len(x1) else 1
            check(rel <= 1e-5, f"{rule} K={K}: model relative difference {rel:.2e} <= 1e-5")
            diff = [(r["round"], f) for r, q in zip(ref["rounds"], rec["rounds"]) for f in PER_ROUND
                    if r[f] != q[f]]
            check(len(rec["rounds"]) == 20 and not diff,
                  f"{rule} K={K}: 20 rounds with the same per-round selection record (differ: {diff[:5]})")
            flagged = [w["flagged"] for w in rec["workers"]]
            check(flagged == [w["flagged"] for w in ref["workers"]],
                  f"{rule} K={K}: every worker flagged as often as unsharded ({flagged})")
            pulled = [s["bytes_pulled"] for s in rec.get("shard", [])]
            check(rec.get("shards") == K and len(pulled) == K and all(pulled)
                  and sum(pulled) == ref["transport"]["bytes_read"],
                  f"{rule} K={K}: the {K} shards pulled {pulled} bytes, together the unsharded "
                  f"job's {ref['transport']['bytes_read']}")
            check(rec.get("exchange_bytes", 0) > 0, f"{rule} K={K}: facts/decisions were exchanged "
                                                    f"({rec.get('exchange_bytes')} bytes at shard 0)")


def killed(build, victim):
    """A long job with K=2 (victim 1) or K=3 (victim 0); kill -9 the victim at round 5."""
    K = 2 if victim == 1 else 3
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "m.npy")
        cmd = [os.path.join(build, "tools", "pennant-train"), "--save-model", model] + JOB + [
            "--rounds", "100000", "--rule", "median", "--f", "1", "--shards", str(K)]
        print("$", " ".join(cmd), flush=True)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines, pids, procs = [], {}, []
        for line in p.stdout:  # --quiet is off: the round lines say when round 5 is done
            lines.append(line)
            m = re.search(r"aggregator shard (\d+) is process (\d+)", line)
            if m:
                pids[int(m.group(1))] = int(m.group(2))
            if line.startswith("round    5"):
                break
        procs = children(p.pid)
        target = p.pid if victim == 0 else pids.get(1)
        if not check(target is not None and len(procs) == K - 1 + 7,
                     f"round 5 reached with {K - 1} shard and 7 worker processes under shard 0 "
                     f"({len(procs)})"):
            p.kill()
            print("".join(lines[-20:]))
            return
        os.kill(target, signal.SIGKILL)
        t0 = time.monotonic()
        limit = 30 if victim else 10
        if victim:
            try:
                rest = p.communicate(timeout=limit)[0]
            except subprocess.TimeoutExpired:
                p.kill()
                rest = p.communicate()[0]
            lines.append(rest)
        while time.monotonic() - t0 < limit and any(running(q) for q in procs):
            time.sleep(0.1)
        if not victim:  # shard 0 is gone: the others' messages are on its (our) pipe
            p.wait()
            lines.append(p.stdout.read())
        took = time.monotonic() - t0
        left = [q for q in procs if running(q) and q != target]
        for q in left:
            os.kill(q, signal.SIGKILL)
        out = "".join(lines)
        print(out[-4000:], flush=True)
        check(not left, f"no process left {took:.1f} s after shard {victim} was killed (left: {left})")
        lost = f"aggregator shard {victim}"
        said = [ln for ln in out.splitlines() if ln.startswith("pennant-worker") and lost in ln]
        check(len(said) >= 7, f"every worker names {lost} ({len(said)} lines)")
        if victim:
            check(p.returncode not in (0, None), f"shard 0 exits non-zero ({p.returncode})")
            check(f"aggregator: {lost} went away" in out, "shard 0 says which shard went away")
            check(not os.path.exists(model), "no model is saved (no half model)")
        else:
            others = [ln for ln in out.splitlines() if re.match(r"pennant: aggregator shard \d: "
                                                                r"aggregator shard 0 went away", ln)]
            check(len(others) == K - 1, f"each other shard says shard 0 went away ({len(others)})")


def main():
    build, scenario = sys.argv[1], sys.argv[2]
    if scenario.startswith("match-"):
        match(build, scenario[len("match-"):])
    elif scenario == "shard-killed":
        killed(build, 1)
    elif scenario == "shard0-killed":
        killed(build, 0)
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    if FAILS:
        raise SystemExit(f"FAIL: {len(FAILS)} check(s) failed")
    print("all checks passed")


if __name__ == "__main__":
    main()
