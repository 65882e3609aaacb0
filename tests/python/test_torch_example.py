#!/usr/bin/python3
"""PyTorch workers through the C aggregator (examples/torch_fashion_mnist.py), tcp on
loopback, one torch thread per process.

usage: test_torch_example.py BUILD_DIR SCENARIO
  matches-reference  mean rule, 4 workers, 50 steps: every step's loss within 1e-4
                     (relative) of the single-process data-parallel reference on the same
                     batches (each partition's gradient, the aggregator's mean), final
                     test accuracy within 1 point, every worker ends with the same model
  coded-matches-reference  the same with the fractional repetition code (s = 1): each worker
                     computes two partitions (pennant.torch.coded_backward) and the decode
                     still gives the reference's losses (the reference with the same code)
  ddp-vs-optimizer   the DDP communication hook and the DistributedOptimizer give the same
                     losses, accuracy and final model (bit for bit)
  robust-vs-mean     5 workers, 1 Byzantine (scaled, 100 g), 120 steps: flag stays within 2
                     points of the clean flag run (means over seeds 1 and 2), mean collapses
                     (at least 20 points below the clean mean)
  robust-reverse     the same under --attack reverse (-10 g) with flag --r 1: within 2 points
                     of the clean flag --r 1 run; mean collapses
  mpirun             the example under a real mpirun -np 4 on loopback, no --connect: rank 0
                     execs the C aggregator, which tells the 3 workers its address through the
                     job's rendezvous file (and removes it at the end); 30 steps, loss falls,
                     worker 0 writes the JSON; then 5 steps with --connect given to every rank
"""
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import FAILS as failures, check  # noqa: E402
from launcher_env import MPIRUN as MPIRUN_LOOPBACK, without_launcher  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(SRC, "examples", "torch_fashion_mnist.py")
PY = "/usr/bin/python3"


MPIRUN = MPIRUN_LOOPBACK + ["-x", "PENNANT_JOB_TOKEN", "-x", "PENNANT_LIB", "-x",
                           "PENNANT_BUILD_DIR", "-x", "TMPDIR"]


def run(build, tmp, name, *args, launcher=(), env_extra=None, timeout=480):
    out = os.path.join(tmp, name + ".json")
    env = without_launcher(PENNANT_LIB=os.path.join(build, "libpennant.so"),
                           PENNANT_BUILD_DIR=build, **(env_extra or {}))
    cmd = list(launcher) + [PY, EXAMPLE, "--json", out, "--timeout", "400"] + list(args)
    print("$", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    print(p.stdout[-4000:], flush=True)
    if p.returncode != 0:
        raise SystemExit(f"FAIL: {name}: the example exited {p.returncode}")
    with open(out) as f:
        return json.load(f)





def worst_rel(a, b):
    la, lb = [s["loss"] for s in a["steps"]], [s["loss"] for s in b["steps"]]
    if len(la) != len(lb):
        return float("inf"), -1
    rel = [abs(x - y) / max(abs(y), 1e-12) for x, y in zip(la, lb)]
    k = max(range(len(rel)), key=rel.__getitem__)
    return rel[k], k


def clean_job(rec, name):
    f = rec["final"]
    check(f["models_identical"], f"{name}: every worker ends with the same model")
    check(f["skipped"] == 0, f"{name}: no round skipped ({f['skipped']})")


def same_as(rec, ref, name, tol_rel, tol_acc):
    rel, k = worst_rel(rec, ref)
    check(len(rec["steps"]) == len(ref["steps"]),
          f"{name}: {len(rec['steps'])} steps, like the reference's {len(ref['steps'])}")
    check(rel <= tol_rel, f"{name}: worst per-step loss difference {rel:.2e} (step {k}) <= {tol_rel:g}")
    # information, not a check: against the data-parallel reference the losses and the
    # final model are expected bit for bit, but a tighter bound than the would
    # hang on every library's kernels rounding alike in every process
    same = sum(x["loss"] == y["loss"] for x, y in zip(rec["steps"], ref["steps"]))
    print(f"{name}: {same} of {len(ref['steps'])} steps' losses identical, final model "
          f"{'identical' if rec['final']['digest'] == ref['final']['digest'] else 'differs'}")
    da = abs(rec["final"]["test_acc"] - ref["final"]["test_acc"])
    check(da <= tol_acc, f"{name}: test accuracy {rec['final']['test_acc']:.2f}% vs "
                         f"{ref['final']['test_acc']:.2f}% (|diff| {da:.2f} <= {tol_acc})")


def mpirun_trains(build, tmp):
    if not shutil.which("mpirun"):
        check(False, "mpirun is installed (Debian: openmpi-bin)")
        return
    rdv = os.path.join(tmp, "mpi-tmp")  # TMPDIR of the job: where its rendezvous file goes
    os.mkdir(rdv)
    env = dict(PENNANT_JOB_TOKEN=secrets.token_hex(32), TMPDIR=rdv)
    rec = run(build, tmp, "mpirun", "--steps", "30", "--rule", "mean", "--listen", "127.0.0.1:0",
              launcher=MPIRUN + ["-np", "4"], env_extra=env, timeout=120)
    losses = [s["loss"] for s in rec["steps"]]
    check(rec["mode"] == "pennant-mpi" and rec["config"]["workers"] == 3,
          f"worker 0 of 3 wrote the record ({rec['mode']}, {rec['config']['workers']} workers)")
    check(rec["config"]["connect"].startswith("127.0.0.1:") and rec["config"]["rendezvous"],
          f"the workers found the aggregator through {rec['config']['rendezvous']}: "
          f"{rec['config']['connect']}")
    check(len(losses) == 30, f"30 steps trained ({len(losses)})")
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    check(last < first * 0.8, f"the loss falls: first 5 steps {first:.3f}, last 5 {last:.3f}")
    check(rec["final"]["test_acc"] > 30, f"it learns: test accuracy {rec['final']['test_acc']:.2f}%")
    left = [f for f in os.listdir(rdv) if f.endswith(".rendezvous")]
    check(not left, f"the aggregator removed its rendezvous file ({left})")
    # --connect to every rank instead: the aggregator must not wait for an MPI broadcast
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = run(build, tmp, "mpirun-connect", "--steps", "5", "--rule", "mean", "--connect",
              f"127.0.0.1:{port}", "--listen", f"127.0.0.1:{port}", launcher=MPIRUN + ["-np", "3"], env_extra=env, timeout=120)
    check(len(rec["steps"]) == 5 and rec["config"]["workers"] == 2,
          f"with --connect 127.0.0.1:{port}: 2 workers trained 5 steps ({len(rec['steps'])})")


def main():
    build, scenario = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="pn-pytest-")
    common = ["--workers", "4", "--steps", "50", "--rule", "mean"]
    if scenario == "matches-reference":
        ref = run(build, tmp, "reference", "--reference", *common)
        rec = run(build, tmp, "optimizer", "--hook", "optimizer", *common)
        clean_job(rec, "optimizer")
        same_as(rec, ref, "mean, 4 workers vs reference", 1e-4, 1.0)
        check(ref["final"]["test_acc"] > 50, f"the reference learns ({ref['final']['test_acc']:.2f}%)")
    elif scenario == "coded-matches-reference":
        coded = ["--code", "fractional", "--s", "1"]
        ref = run(build, tmp, "reference", "--reference", *coded, *common)
        rec = run(build, tmp, "fractional", *coded, *common)
        clean_job(rec, "fractional")
        rows = rec["final"]["code_rows"]
        check(all(len(r) == 2 for r in rows) and len({tuple(map(tuple, r)) for r in rows}) == 2,
              f"fractional code: each worker computes 2 partitions, 2 groups ({rows})")
        same_as(rec, ref, "fractional code, 4 workers vs reference", 1e-4, 1.0)
    elif scenario == "ddp-vs-optimizer":
        opt = run(build, tmp, "optimizer", "--hook", "optimizer", *common)
        ddp = run(build, tmp, "ddp", "--hook", "ddp", *common)
        clean_job(ddp, "ddp")
        check(ddp["final"]["ddp_buckets"] > 1, f"DDP used several buckets ({ddp['final']['ddp_buckets']})")
        same_as(ddp, opt, "ddp hook vs DistributedOptimizer", 1e-5, 0.1)
        check(ddp["final"]["digest"] == opt["final"]["digest"],
              "ddp hook and DistributedOptimizer end with the same model, bit for bit")
    elif scenario == "robust-vs-mean":
        # Two seeds each, compared on their means: one 120-step run's test accuracy moves by
        # 2-4 points with the seed and with the CPU's torch kernels (a new machine gave clean
        # 76.07 / attacked 73.44 at seed 1 on the same code that passed before)
        five = ["--workers", "5", "--steps", "120"]
        cleans = [run(build, tmp, f"clean-flag-{sd}", *five, "--rule", "flag", "--f", "1", "--seed", sd)
                  for sd in ("1", "2")]
        flags = [run(build, tmp, f"flag-byz-{sd}", *five, "--rule", "flag", "--byzantine", "1",
                     "--attack", "scaled", "--seed", sd) for sd in ("1", "2")]
        mean = run(build, tmp, "mean-byz", *five, "--rule", "mean", "--byzantine", "1",
                   "--attack", "scaled")
        cs = [r["final"]["test_acc"] for r in cleans]
        fs = [r["final"]["test_acc"] for r in flags]
        c, fa, ma = sum(cs) / 2, sum(fs) / 2, mean["final"]["test_acc"]
        clean_job(cleans[0], "clean flag")
        check(all(r["final"]["models_identical"] for r in flags),
              "flag under attack: every worker ends with the same model")
        print(f"clean flag {cs} (mean {c:.2f}%), flag with 1 Byzantine {fs} (mean {fa:.2f}%), "
              f"mean with 1 Byzantine {ma:.2f}%")
        check(c > 65, f"the clean run learns ({c:.2f}%)")
        check(abs(fa - c) <= 2.0, f"flag with 1 of 5 Byzantine within 2 points of clean, means over seeds 1 "
              f"and 2 ({fa:.2f} vs {c:.2f})")
        check(ma < c - 20, f"mean with 1 of 5 Byzantine collapses ({ma:.2f}% vs clean {c:.2f}%)")
    elif scenario == "robust-reverse":
        # flag's default r = 8 spans all 5 gradients (the normalised mean): a reversed one
        # keeps its weight there (README, "PyTorch"); r = 1 keeps the consensus direction
        five = ["--workers", "5", "--steps", "120", "--rule", "flag", "--r", "1"]
        clean = run(build, tmp, "clean-flag-r1", *five, "--f", "1")
        flag = run(build, tmp, "flag-r1-reverse", *five, "--byzantine", "1", "--attack", "reverse")
        mean = run(build, tmp, "mean-reverse", "--workers", "5", "--steps", "120", "--rule", "mean",
                   "--byzantine", "1", "--attack", "reverse")
        c, fa, ma = (r["final"]["test_acc"] for r in (clean, flag, mean))
        print(f"clean flag --r 1 {c:.2f}%, reversed {fa:.2f}%, mean reversed {ma:.2f}%")
        check(c > 65, f"the clean flag --r 1 run learns ({c:.2f}%)")
        check(abs(fa - c) <= 2.0, f"flag --r 1 with 1 of 5 reversing within 2 points of clean "
                                  f"({fa:.2f} vs {c:.2f})")
        check(ma < c - 20, f"mean with 1 of 5 reversing collapses ({ma:.2f}% vs {c:.2f}%)")
    elif scenario == "mpirun":
        mpirun_trains(build, tmp)
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    if failures:
        raise SystemExit(f"FAIL: {len(failures)} check(s) failed (records kept in {tmp})")
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
