"""Operating characteristics of the IKEMA design by simulation: ikema.design (local threads, every CPU) against
rpact's getSimulationSurvival (Rscript, one process) on the same scenario in the same run: HR 0.59, control
median 19 months, 302 patients 3:2, 20-month accrual, 5%/year dropout, looks at 103/159 events, O'Brien-Fleming
boundary. Each of REPEATS rounds runs ikema (unstratified, stratified) then rpact; prints per round and as medians
the trials per second of each and their ratio (above 1 = ikema faster; the goal is 10), the ratio of CPU time per
trial (what a busy shared machine cannot distort as much), both powers with their Monte Carlo SE, and the cost of
the stratified log-rank relative to the unstratified one. Exits 1 when Rscript/rpact is missing.
On a machine shared under Linux's autogroup scheduling (sched_autogroup_enabled = 1), one session's threads get
one session's share of the CPU together, so ikema's threads cannot outrun rpact's one process by parallelism and
the trials/s ratio comes out near the CPU-time ratio; on a machine of its own ikema uses every core.

Run: .venv/bin/python bench/design_vs_rpact.py [TRIALS [REPEATS]]   (make bench installs r-base-core, r-cran-rpact)
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from ikema.design.scenario import scenario_from_protocol
from ikema.design.simulate import run_simulation

TRIALS = 100_000
REPEATS = 3
SEED = 20171025
R_SCRIPT = r"""
suppressMessages(library(rpact))
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[1]); seed <- as.integer(args[2]); hr <- as.numeric(args[3]); median2 <- as.numeric(args[4])
events <- as.numeric(strsplit(args[5], ",")[[1]]); subjects <- as.integer(args[6]); accrual <- as.numeric(args[7])
dropout <- as.numeric(args[8]); a1 <- as.integer(args[9]); a2 <- as.integer(args[10]); alpha <- as.numeric(args[11])
rates <- as.numeric(strsplit(args[12], ",")[[1]])
d <- getDesignGroupSequential(typeOfDesign = "asOF", informationRates = rates, alpha = alpha, sided = 1)
t0 <- proc.time()
s <- getSimulationSurvival(design = d, lambda2 = log(2) / median2, hazardRatio = hr, directionUpper = FALSE,
  allocation1 = a1, allocation2 = a2, allocationRatioPlanned = a1 / a2, plannedEvents = events,
  maxNumberOfSubjects = subjects, accrualTime = c(0, accrual), dropoutRate1 = dropout, dropoutRate2 = dropout,
  dropoutTime = 12, maxNumberOfIterations = n, seed = seed, longTimeSimulationAllowed = TRUE)
el <- proc.time() - t0
cat(sprintf("%.6f %.8f %s %.6f\n", el[["elapsed"]], s$overallReject, paste(sprintf("%.8f", s$rejectPerStage), collapse = ","),
  el[["user.self"]] + el[["sys.self"]]))
cat(as.character(packageVersion("rpact")), "\n")
"""


def rpact_available() -> bool:
    """Whether Rscript runs and loads rpact."""
    if shutil.which("Rscript") is None:
        return False
    res = subprocess.run(["Rscript", "-e", "library(rpact)"], capture_output=True, text=True)
    return res.returncode == 0


def timed_ikema(scenario, trials: int) -> tuple[float, float, object]:
    """Wall and CPU seconds (all threads) and result of one ikema run (numba kernels loaded before the clock)."""
    run_simulation(scenario, 10, seed=1, workers=1)
    t0, c0 = time.perf_counter(), time.process_time()
    result = run_simulation(scenario, trials, seed=SEED)
    return time.perf_counter() - t0, time.process_time() - c0, result


def timed_rpact(args: list[str]) -> tuple[float, float, float, str, str]:
    """Elapsed and CPU seconds of getSimulationSurvival, its power, per-look rejection and rpact's version."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "sim.R"
        script.write_text(R_SCRIPT)
        res = subprocess.run(["Rscript", str(script), *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"Rscript failed:\n{res.stderr}")
    first, version = res.stdout.strip().splitlines()[:2]
    el, power, stage, cpu = first.split()
    return float(el), float(cpu), float(power), stage, version.strip()


def argsort_yardstick() -> float:
    """Median seconds of np.argsort on 10^6 random doubles (the machine's speed now)."""
    import numpy as np

    x = np.random.default_rng(1).random(1_000_000)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        np.argsort(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> int:
    """Run both engines on the scenario REPEATS times and print rates, ratios and powers."""
    import statistics

    trials = int(sys.argv[1]) if len(sys.argv) > 1 else TRIALS
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else REPEATS
    if not rpact_available():
        print("design_vs_rpact: peer unavailable (Rscript with the rpact package); install r-base-core and "
              "r-cran-rpact (make bench does)", file=sys.stderr)
        return 1
    from ikema.protocol import load_protocol

    p = load_protocol()
    d = p.design
    sc_strat = scenario_from_protocol(p)
    sc_unstrat = replace(sc_strat, stratified=False)
    print(f"scenario: HR {sc_strat.hazard_ratio}, control median {d.control_median_pfs_months} months, "
          f"{sc_strat.n_patients} patients {sc_strat.allocation[0]}:{sc_strat.allocation[1]}, accrual "
          f"{sc_strat.accrual_months} months, dropout {d.annual_dropout:.0%}/year, looks at {list(sc_strat.look_events)} "
          f"events, {d.spending} boundary {[round(z, 4) for z in sc_strat.efficacy_z]}; {trials} trials; "
          f"{os.cpu_count()} CPUs; {repeats} rounds")
    args = [str(trials), str(SEED), str(sc_strat.hazard_ratio), str(d.control_median_pfs_months),
            ",".join(str(x) for x in sc_strat.look_events), str(sc_strat.n_patients), str(sc_strat.accrual_months),
            str(d.annual_dropout), str(sc_strat.allocation[0]), str(sc_strat.allocation[1]), str(d.alpha_one_sided),
            ",".join(str(x) for x in d.information_rates)]

    def se(pw: float) -> float:
        return math.sqrt(pw * (1 - pw) / trials)

    rows = []
    for rnd in range(1, repeats + 1):
        yard = argsort_yardstick()
        t_unstrat, c_unstrat, r_unstrat = timed_ikema(sc_unstrat, trials)
        t_strat, c_strat, r_strat = timed_ikema(sc_strat, trials)
        try:
            r_sec, r_cpu, r_power, r_stage, version = timed_rpact(args)
        except RuntimeError as exc:
            print(f"design_vs_rpact: {exc}", file=sys.stderr)
            return 1
        row = {"unstrat": r_sec / t_unstrat, "strat": r_sec / t_strat, "cpu": r_cpu / c_unstrat,
               "rate_i": trials / t_unstrat, "rate_is": trials / t_strat, "rate_r": trials / r_sec,
               "cost": t_strat / t_unstrat, "yard": yard}
        rows.append(row)
        print(f"round {rnd}: argsort(10^6) {yard:.4f} s | rpact {r_sec:.2f} s ({row['rate_r']:,.0f} trials/s, CPU "
              f"{r_cpu / trials * 1e6:.0f} us/trial) | ikema unstratified {t_unstrat:.2f} s ({row['rate_i']:,.0f}/s, CPU "
              f"{c_unstrat / trials * 1e6:.1f} us/trial), stratified {t_strat:.2f} s ({row['rate_is']:,.0f}/s) | ratio "
              f"{row['unstrat']:.2f} unstratified, {row['strat']:.2f} stratified, CPU time {row['cpu']:.2f}", flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"rpact {version} getSimulationSurvival (unstratified log-rank): power {r_power:.4f} (SE {se(r_power):.4f}), "
          f"per look {r_stage}")
    print(f"ikema unstratified log-rank: power {r_unstrat.rejection_probability:.4f} (SE "
          f"{r_unstrat.rejection_probability_se:.4f}), per look {','.join(f'{x:.4f}' for x in r_unstrat.rejection_by_look)}")
    print(f"ikema stratified log-rank:   power {r_strat.rejection_probability:.4f} (SE "
          f"{r_strat.rejection_probability_se:.4f}), per look {','.join(f'{x:.4f}' for x in r_strat.rejection_by_look)}")
    diff = r_unstrat.rejection_probability - r_power
    print(f"power difference ikema - rpact (both unstratified): {diff:+.4f} = "
          f"{diff / math.hypot(se(r_power), r_unstrat.rejection_probability_se):+.2f} SE")
    print(f"medians of {repeats} rounds: argsort(10^6) {med['yard']:.4f} s; trials/s ikema {med['rate_i']:,.0f} "
          f"(stratified {med['rate_is']:,.0f}), rpact {med['rate_r']:,.0f}")
    print(f"ratio ikema / rpact trials per second (median): {med['unstrat']:.2f} (unstratified), {med['strat']:.2f} "
          f"(stratified); CPU time per trial rpact / ikema: {med['cpu']:.2f}; goal 10: "
          f"{'met' if med['unstrat'] >= 10 else 'NOT met'}")
    print(f"cost ratio stratified / unstratified: {med['cost']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
