#!/usr/bin/env python3
"""Runs pennant-bench-stragglers briefly and checks its JSON report for invariants that
must hold whatever the timings: exact codes decode exactly, ignore-stragglers is biased,
percentiles are ordered, every model and scheme is present, bad options are refused."""
import json
import sys

from bench_check import check, runner

exe = sys.argv[1]
run = runner(exe)


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

# Coded matmul: the real decode is exact; the closed-form speed-up grows with n (log n).
mm = json.loads(run("--matmul", "--mm-max-n", "64", "--rounds", "50", "--json").stdout)["matmul"]
check([r["n"] for r in mm["rows"]] == [2, 4, 8, 16, 32, 64], "matmul rows")
for r in mm["rows"]:
    check(1 <= r["k"] <= r["n"] and r["decode_rel_err"] < 1e-9, f"matmul {r}")
cf = [r["ratio_closed_form"] for r in mm["rows"]]
check(all(b > a for a, b in zip(cf, cf[1:])), f"closed-form ratio grows with n: {cf}")
z = json.loads(run("--matmul", "--mm-shift", "0", "--mm-max-n", "16", "--rounds", "10", "--json").stdout)
for r in z["matmul"]["rows"]:  # pure exponential: k = 1 and the ratio is H_n exactly
    check(r["k"] == 1 and abs(r["ratio_closed_form"] - r["H_n"]) < 1e-9, f"shift 0: {r}")

# UEP: same budget, loads within it, equal protection uses one degree everywhere.
ue = json.loads(run("--uep", "--rounds", "50", "--json").stdout)["uep"]
for r in ue["rows"]:
    check(r["load"] <= r["budget"] + 1e-9 and r["mean_err"] >= 0, f"uep {r}")
    if r["scheme"] == "equal":
        check(set(r["degrees"]) == {r["budget"]}, f"equal degrees {r}")
    else:
        check(r["degrees"] == sorted(r["degrees"]), f"larger norms get more protection {r}")

# Deterministic for a seed.
a = run("--rounds", "30", "--json", "--seed", "7").stdout
b = run("--rounds", "30", "--json", "--seed", "7").stdout
check(a == b, "same seed, same output")

for bad in (["--n", "0"], ["--s", "16"], ["--comm-dim", "0"], ["--uep-norms", "1,x"], ["--mm-max-n", "1"], ["--model", "nope"], ["--rounds", "x"], ["--policy", "nope"]):
    p = run(*bad, ok=False)
    check(p.returncode == 2 and p.stderr.strip(), f"{bad} must fail with a message")
check("usage" in run("--help").stdout, "--help")
print("bench-stragglers checks passed")
