"""Operating characteristics of the IKEMA design by simulation: ikema.design (local processes, every CPU) against
rpact's getSimulationSurvival (Rscript) on the same scenario in the same run: HR 0.59, control median 19 months,
302 patients 3:2, 20-month accrual, 5%/year dropout, looks at 103/159 events, O'Brien-Fleming-type boundary.
Prints trials per second of each and their ratio (above 1 = ikema faster), both powers with their Monte Carlo SE,
and the cost of the stratified log-rank relative to the unstratified one. Exits 1 when Rscript/rpact is missing.

Run: .venv/bin/python bench/design_vs_rpact.py [TRIALS]   (make bench installs r-base-core and r-cran-rpact)
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
SEED = 20171025
R_SCRIPT = r"""
suppressMessages(library(rpact))
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[1]); seed <- as.integer(args[2]); hr <- as.numeric(args[3]); median2 <- as.numeric(args[4])
events <- as.numeric(strsplit(args[5], ",")[[1]]); subjects <- as.integer(args[6]); accrual <- as.numeric(args[7])
dropout <- as.numeric(args[8]); a1 <- as.integer(args[9]); a2 <- as.integer(args[10]); alpha <- as.numeric(args[11])
rates <- as.numeric(strsplit(args[12], ",")[[1]])
d <- getDesignGroupSequential(typeOfDesign = "asOF", informationRates = rates, alpha = alpha, sided = 1)
t0 <- proc.time()[["elapsed"]]
s <- getSimulationSurvival(design = d, lambda2 = log(2) / median2, hazardRatio = hr, directionUpper = FALSE,
  allocation1 = a1, allocation2 = a2, allocationRatioPlanned = a1 / a2, plannedEvents = events,
  maxNumberOfSubjects = subjects, accrualTime = c(0, accrual), dropoutRate1 = dropout, dropoutRate2 = dropout,
  dropoutTime = 12, maxNumberOfIterations = n, seed = seed, longTimeSimulationAllowed = TRUE)
el <- proc.time()[["elapsed"]] - t0
cat(sprintf("%.6f %.8f %s\n", el, s$overallReject, paste(sprintf("%.8f", s$rejectPerStage), collapse = ",")))
cat(as.character(packageVersion("rpact")), "\n")
"""


def rpact_available() -> bool:
    """Whether Rscript runs and loads rpact."""
    if shutil.which("Rscript") is None:
        return False
    res = subprocess.run(["Rscript", "-e", "library(rpact)"], capture_output=True, text=True)
    return res.returncode == 0


def timed_ikema(scenario, trials: int) -> tuple[float, object]:
    """Seconds and result of one ikema run (the numba kernels are compiled or loaded before the clock starts)."""
    run_simulation(scenario, 10, seed=1, workers=1)
    t0 = time.perf_counter()
    result = run_simulation(scenario, trials, seed=SEED)
    return time.perf_counter() - t0, result


def main() -> int:
    """Run both engines on the scenario and print rates, ratio and powers."""
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else TRIALS
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
          f"{os.cpu_count()} CPUs")

    t_strat, r_strat = timed_ikema(sc_strat, trials)
    t_unstrat, r_unstrat = timed_ikema(sc_unstrat, trials)

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "sim.R"
        script.write_text(R_SCRIPT)
        args = [str(trials), str(SEED), str(sc_strat.hazard_ratio), str(d.control_median_pfs_months),
                ",".join(str(x) for x in sc_strat.look_events), str(sc_strat.n_patients), str(sc_strat.accrual_months),
                str(d.annual_dropout), str(sc_strat.allocation[0]), str(sc_strat.allocation[1]), str(d.alpha_one_sided),
                ",".join(str(x) for x in d.information_rates)]
        t0 = time.perf_counter()
        res = subprocess.run(["Rscript", str(script), *args], capture_output=True, text=True)
        r_wall = time.perf_counter() - t0
    if res.returncode != 0:
        print(f"design_vs_rpact: Rscript failed:\n{res.stderr}", file=sys.stderr)
        return 1
    first, version = res.stdout.strip().splitlines()[:2]
    r_sec, r_power, r_stage = first.split()
    r_sec = float(r_sec)
    r_power = float(r_power)

    def se(pw: float) -> float:
        return math.sqrt(pw * (1 - pw) / trials)

    rate_i = trials / t_unstrat
    rate_is = trials / t_strat
    rate_r = trials / r_sec
    print(f"rpact {version.strip()} getSimulationSurvival (unstratified log-rank): {r_sec:.2f} s "
          f"({r_wall:.2f} s with R start-up), {rate_r:,.0f} trials/s, power {r_power:.4f} (SE {se(r_power):.4f}), "
          f"per look {r_stage}")
    print(f"ikema unstratified log-rank: {t_unstrat:.2f} s, {rate_i:,.0f} trials/s, power "
          f"{r_unstrat.rejection_probability:.4f} (SE {r_unstrat.rejection_probability_se:.4f}), per look "
          f"{','.join(f'{x:.4f}' for x in r_unstrat.rejection_by_look)}")
    print(f"ikema stratified log-rank:   {t_strat:.2f} s, {rate_is:,.0f} trials/s, power "
          f"{r_strat.rejection_probability:.4f} (SE {r_strat.rejection_probability_se:.4f}), per look "
          f"{','.join(f'{x:.4f}' for x in r_strat.rejection_by_look)}")
    diff = r_unstrat.rejection_probability - r_power
    print(f"power difference ikema - rpact (both unstratified): {diff:+.4f} = {diff / math.hypot(se(r_power), r_unstrat.rejection_probability_se):+.2f} SE")
    print(f"ratio ikema / rpact trials per second: {rate_i / rate_r:.2f} (unstratified), {rate_is / rate_r:.2f} (stratified)")
    print(f"cost ratio stratified / unstratified: {t_strat / t_unstrat:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
