#!/usr/bin/env python3
"""Runs pennant-bench-kofn briefly and checks what must hold whatever the seed: valid JSON
with null (never nan) for undefined values, the energy at q = 0 and q = 1 equals its closed
form k·P/mu, k = 1 is M/M/1 (approximation exact), split-merge is an upper bound on E[N],
bad flags fail with a message."""
import json
import sys

from bench_check import check, runner

exe = sys.argv[1]
run = runner(exe)


out = run("--requests", "40000", "--steps", "4", "--json").stdout
check("nan" not in out.lower(), "no bare nan in JSON")
rep = json.loads(out)
rows = rep["rows"]
check([r["q"] for r in rows] == [0, 0.25, 0.5, 0.75, 1], "q grid")
k, n = rep["k"], rep["n"]
check(abs(rows[0]["approx_energy_per_request"] - k * rep["p_low"] / rep["mu_low"]) < 1e-9, "energy(q=0) closed form")
check(abs(rows[-1]["approx_energy_per_request"] - k * rep["p_high"] / rep["mu_high"]) < 1e-9, "energy(q=1) closed form")
for r in rows:
    check(abs(r["sim_energy_per_request"] / r["approx_energy_per_request"] - 1) < 0.05, f"energy sim vs model {r}")
    check(r["approx_mean_in_system"] >= r["sim_mean_in_system"] * 0.98, f"split-merge is an upper bound {r}")
    check(0 < r["rho_approx"] < 1, f"stable {r}")
    if r["q"] in (0, 1):  # one speed: Joshi et al.'s stage lower bound holds
        check(r["stage_mean_in_system"] <= r["sim_mean_in_system"] * 1.02, f"stage lower bound {r}")

# k = 1: every request needs one task, fork-join with cancellation is M/M/1 at rate n*mu.
one = json.loads(run("--k", "1", "--lambda", "5", "--requests", "60000", "--steps", "1", "--json").stdout)
for r in one["rows"]:
    check(r["rel_err_mean_in_system"] < 0.05 and r["rel_err_stage_mean_in_system"] < 0.05, f"k=1 is M/M/1: {r}")

# Overload: the approximation is undefined (null), the JSON still valid.
hot = run("--lambda", "3", "--requests", "2000", "--steps", "1", "--json").stdout
check("nan" not in hot.lower(), "no nan when unstable")
h = json.loads(hot)["rows"][0]
check(h["approx_mean_in_system"] is None and h["rho_approx"] > 1, f"unstable approx is null: {h}")

for bad in (["--k", "11"], ["--n", "65"], ["--lambda", "0"], ["--requests", "x"], ["--nope"]):
    p = run(*bad, ok=False)
    check(p.returncode == 2 and p.stderr.strip(), f"{bad} must fail with a message")
check("usage" in run("--help").stdout, "--help")
check(run("--version").stdout.startswith("pennant-bench-kofn "), "--version")
print("bench-kofn checks passed")
