#!/usr/bin/env python3
"""End-to-end training scenarios: aggregator + workers as real processes over a transport.

usage: e2e_train.py BUILD_DIR SCENARIO [--backend B --tp-options S --listen ADDR]
Scenarios (each a separate meson test):
  matches-reference  no faults, mean rule: the model improves and equals the single-process
                     reference run's parameters to float tolerance
  robust-vs-mean     f Byzantine workers: flag and multi-krum keep the loss falling, mean does not
  killed-worker      a worker exits mid-job: the job finishes every round, the model improves
  stragglers         slow workers with a fractional code: rounds proceed without waiting for them
Exit 0 on success; failures print what was expected and what happened.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile


def load_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", "bad npy"
    hlen = struct.unpack("<H", data[8:10])[0]
    body = data[10 + hlen:]
    return struct.unpack("<%df" % (len(body) // 4), body)


def run(build, args, tmp, name, extra):
    js = os.path.join(tmp, name + ".json")
    model = os.path.join(tmp, name + ".npy")
    cmd = [os.path.join(build, "tools", "pennant-train"), "--quiet", "--json", js,
           "--save-model", model] + extra + args
    print("$", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    print(p.stdout[-3000:], flush=True)
    if p.returncode != 0:
        raise SystemExit(f"FAIL: {name}: pennant-train exited {p.returncode}")
    with open(js) as f:
        rec = json.load(f)
    return rec, load_npy(model)


def first_last_loss(rec, k=5):
    losses = [r["loss"] for r in rec["rounds"] if r["loss"] is not None]  # null: no usable gradient
    return sum(losses[:k]) / k, sum(losses[-k:]) / k


def check(cond, msg):
    print(("ok    " if cond else "FAIL  ") + msg, flush=True)
    return cond


def main():
    build, scenario = sys.argv[1], sys.argv[2]
    extra = sys.argv[3:]
    base = ["--model", "softmax", "--batch", "16", "--eval-every", "0"]
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        if scenario == "matches-reference":
            args = base + ["--workers", "6", "--rounds", "30", "--byzantine", "0", "--rule", "mean",
                           "--code", "fractional", "--s", "1"]
            rec, dist = run(build, args, tmp, "dist", extra)
            ref_rec, ref = run(build, args + ["--reference"], tmp, "ref", [])
            num = sum((a - b) ** 2 for a, b in zip(dist, ref))
            den = sum(b * b for b in ref)
            rel = (num / den) ** 0.5
            l0, l1 = first_last_loss(rec)
            ok &= check(l1 < 0.8 * l0, f"loss falls: {l0:.4f} -> {l1:.4f}")
            ok &= check(rel < 1e-4, f"distributed model equals the reference: relative difference {rel:.2e}")
            ok &= check(rec["final"]["test_acc"] > 0.6, f"test accuracy {rec['final']['test_acc']:.4f} > 0.6")
        elif scenario == "robust-vs-mean":
            args = base + ["--workers", "7", "--rounds", "40", "--byzantine-ranks", "1,4",
                           "--attack", "reverse", "--code", "uncoded", "--f", "2",
                           "--s", "0"]  # multi-krum with f=2 needs all 7 (p >= 2f+3): no straggler let go
            res = {}
            for rule in ("flag", "multi-krum", "mean"):
                rec, _ = run(build, args + ["--rule", rule], tmp, rule, extra)
                res[rule] = first_last_loss(rec)
                res[rule + "_acc"] = rec["final"]["test_acc"]
            for rule in ("flag", "multi-krum"):
                l0, l1 = res[rule]
                ok &= check(l1 < 0.8 * l0, f"{rule} under attack: loss {l0:.4f} -> {l1:.4f} falls")
                ok &= check(res[rule + "_acc"] > 0.6, f"{rule} accuracy {res[rule + '_acc']:.4f} > 0.6")
            l0, l1 = res["mean"]
            ok &= check(not (l1 < 0.8 * l0), f"mean under attack does not converge: loss {l0:.4f} -> {l1:.4f}")
            ok &= check(res["mean_acc"] < res["flag_acc"] - 0.1,
                        f"mean accuracy {res['mean_acc']:.4f} well below flag {res['flag_acc']:.4f}")
        elif scenario == "killed-worker":
            args = base + ["--workers", "6", "--rounds", "30", "--byzantine", "0", "--rule", "median",
                           "--code", "fractional", "--s", "1", "--kill-rank", "2", "--kill-round", "10",
                           "--deadline-ms", "300"]
            rec, _ = run(build, args, tmp, "kill", extra)
            ok &= check(rec["final"]["rounds"] == 30, f"all 30 rounds done ({rec['final']['rounds']})")
            later = [r for r in rec["rounds"] if r["round"] >= 11]
            ok &= check(all(r["finished"] <= 5 for r in later), "the dead worker is not counted after round 10")
            ok &= check(sum(r["skipped"] for r in rec["rounds"]) == 0, "no round skipped: the code covered it")
            l0, l1 = first_last_loss(rec)
            ok &= check(l1 < 0.8 * l0, f"loss falls: {l0:.4f} -> {l1:.4f}")
            ok &= check(rec["workers"][2]["gone_at_round"] == 10,
                        f"worker 2 is reported gone at round 10 ({rec['workers'][2]['gone_at_round']})")
        elif scenario == "stragglers":
            args = base + ["--workers", "6", "--rounds", "20", "--byzantine", "0", "--rule", "mean",
                           "--code", "fractional", "--s", "1", "--straggle", "3:fixed:400"]
            rec, _ = run(build, args, tmp, "strag", extra)
            times = sorted(r["t_round_s"] for r in rec["rounds"])
            med = times[len(times) // 2]
            ok &= check(med < 0.4, f"median round {med*1e3:.1f} ms < the straggler's 400 ms delay")
            ok &= check(rec["workers"][3]["straggled"] >= 15, "worker 3 is left behind in most rounds")
            l0, l1 = first_last_loss(rec)
            ok &= check(l1 < 0.8 * l0, f"loss falls: {l0:.4f} -> {l1:.4f}")
        else:
            raise SystemExit(f"unknown scenario {scenario}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
