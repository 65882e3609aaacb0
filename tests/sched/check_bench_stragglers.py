#!/usr/bin/env python3
"""Runs pennant-bench-stragglers briefly and checks its JSON report for invariants that
must hold whatever the timings: exact codes decode exactly, ignore-stragglers is biased,
percentiles are ordered, every model and scheme is present, bad options are refused."""
import json
import subprocess
import sys

exe = sys.argv[1]


def run(*args, ok=True):
    p = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)
    if ok and p.returncode != 0:
        sys.exit(f"{exe} {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def check(cond, msg):
    if not cond:
        sys.exit("FAIL: " + msg)


for n, s in ((12, 2), (16, 2)):
    rep = json.loads(run("--n", str(n), "--s", str(s), "--rounds", "60", "--json").stdout)
    check(rep["n"] == n and rep["s"] == s, "config echoed")
    check(rep["baseline_time"] > 0, "baseline measured")
    check([m["model"] for m in rep["models"]] == ["exp", "markov", "adversarial"], "all models")
    for m in rep["models"]:
        names = [sc["scheme"] for sc in m["schemes"]]
        check(names == ["uncoded-all", "uncoded-ignore", "fractional", "cyclic", "expander", "gcdc",
                         "comm-efficient"],
              f"schemes {names}")
        for sc in m["schemes"]:
            if "skipped" in sc:
                check(sc["scheme"] == "fractional" and (n % (s + 1)) != 0, f"only FR may skip: {sc}")
                continue
            check(0 < sc["p50"] <= sc["p99"], f"{m['model']}/{sc['scheme']} percentiles ordered")
            if sc["scheme"] in ("uncoded-all", "fractional", "cyclic", "gcdc", "comm-efficient"):
                check(sc["exact_frac"] == 1 and sc["resid"] < 1e-6,
                      f"{m['model']}/{sc['scheme']} must decode exactly: {sc}")
            if sc["scheme"] == "uncoded-ignore":
                check(sc["resid"] > 0.1, "ignoring stragglers loses partitions")
            if sc["scheme"].startswith("uncoded"):
                check(sc["load"] == 1, f"load {sc}")
            elif sc["scheme"] == "fractional":
                # The cheapest fractional code tolerating >= s stragglers: (load) | n.
                check(sc["load"] >= s + 1 and n % sc["load"] == 0, f"load {sc}")
            elif sc["scheme"] == "comm-efficient":
                check(sc["load"] == s + rep["comm_dim"], f"load s+m {sc}")
            else:
                check(sc["load"] == s + 1, f"load {sc}")
    check(rep["sizing"]["on"]["p50"] > 0 and rep["sizing"]["off"]["p50"] > 0, "sizing reported")

# Comm-efficient messages are d/m long: with a link-bound round (comm >> compute) it beats
# the same-tolerance cyclic code whose messages are full length, whatever the timings of the
# compute (both wait for n-s workers; the link serves n-s messages either way).
rep = json.loads(run("--n", "16", "--s", "2", "--comm-dim", "4", "--comm", "20", "--model", "exp",
                     "--exp-mean", "0", "--jitter", "0", "--rounds", "20", "--json").stdout)
by = {sc["scheme"]: sc for sc in rep["models"][0]["schemes"]}
check(by["comm-efficient"]["mean"] < by["cyclic"]["mean"], f"comm-efficient link time: {by}")

# Deterministic for a seed.
a = run("--rounds", "30", "--json", "--seed", "7").stdout
b = run("--rounds", "30", "--json", "--seed", "7").stdout
check(a == b, "same seed, same output")

for bad in (["--n", "0"], ["--s", "16"], ["--comm-dim", "0"], ["--model", "nope"], ["--rounds", "x"], ["--policy", "nope"]):
    p = run(*bad, ok=False)
    check(p.returncode == 2 and p.stderr.strip(), f"{bad} must fail with a message")
check("usage" in run("--help").stdout, "--help")
print("bench-stragglers checks passed")
