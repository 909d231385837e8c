"""KM (per arm, with medians) + stratified log-rank + stratified Cox (Efron) on 10^3, 10^5 and 10^6 synthetic
subjects: ikema.stats against R survival (Rscript) on the same data in the same run. Prints seconds and the
ikema / R ratio (below 1 = ikema faster) and checks that both give the same chi-square and coefficient.

Run: .venv/bin/python bench/stats_vs_r.py [N ...]   (make bench installs r-base-core and r-cran-survival)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ikema.stats import coxph, kaplan_meier, logrank

SIZES = (1_000, 100_000, 1_000_000)
SEED = 20171025
R_SCRIPT = r"""
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
reps <- as.integer(args[2])
best <- Inf
for (i in seq_len(reps)) {
  t0 <- proc.time()[["elapsed"]]
  km <- survfit(Surv(time, event) ~ arm, data = d)
  med <- quantile(km, 0.5)
  lr <- survdiff(Surv(time, event) ~ arm + strata(stratum), data = d)
  cx <- coxph(Surv(time, event) ~ arm + strata(stratum), data = d, ties = "efron")
  best <- min(best, proc.time()[["elapsed"]] - t0)
}
cat(sprintf("%.6f %.12g %.12g %s\n", best, lr$chisq, coef(cx)[[1]], R.version.string))
"""


def synthetic(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Two arms (3:2), six strata, exponential event times with HR 0.6, uniform censoring; whole days (ties)."""
    arm = (rng.random(n) < 0.6).astype(np.int64)
    stratum = rng.integers(0, 6, n)
    rate = 1 / 600 * np.exp(np.log(0.6) * arm + 0.15 * stratum)
    t_event = rng.exponential(1 / rate)
    t_cens = rng.uniform(30, 1500, n)
    time_ = np.ceil(np.minimum(t_event, t_cens))
    return pd.DataFrame({"time": time_, "event": (t_event <= t_cens).astype(np.int64), "arm": arm, "stratum": stratum})


def ikema_run(d: pd.DataFrame) -> tuple[float, float]:
    """The same three analyses as the R script; returns (log-rank chi-square, Cox coefficient)."""
    t, e, arm, s = d["time"].to_numpy(), d["event"].to_numpy(), d["arm"].to_numpy(), d["stratum"].to_numpy()
    for a in (0, 1):
        m = arm == a
        kaplan_meier(t[m], e[m])
    lr = logrank(t, e, arm, s)
    fit = coxph(t, e, arm.astype(float), s, ties="efron")
    return lr.chisq, float(fit.coef[0])


def main(sizes: tuple[int, ...] = SIZES) -> None:
    """Time both implementations at each size and print the ratios."""
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: run scripts/system-deps.sh bench (r-base-core, r-cran-survival)")
    rng = np.random.default_rng(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        rfile = Path(tmp) / "bench.R"
        rfile.write_text(R_SCRIPT)
        print(f"{'n':>9} {'ikema s':>9} {'R s':>9} {'ikema/R':>8}  agreement (log-rank chi2, Cox beta)")
        for n in sizes:
            d = synthetic(n, rng)
            csv = Path(tmp) / f"d{n}.csv"
            d.to_csv(csv, index=False)
            reps = 5 if n <= 100_000 else 3
            best = np.inf
            for _ in range(reps):
                t0 = time.perf_counter()
                chisq, beta = ikema_run(d)
                best = min(best, time.perf_counter() - t0)
            out = subprocess.run(["Rscript", str(rfile), str(csv), str(reps)], check=True, capture_output=True, text=True)
            r_s, r_chisq, r_beta = (float(v) for v in out.stdout.split()[:3])
            agree = f"rel diff {abs(chisq / r_chisq - 1):.1e}, {abs(beta / r_beta - 1):.1e}"
            print(f"{n:>9} {best:>9.4f} {r_s:>9.4f} {best / r_s:>8.2f}  {agree}", flush=True)
        print("peer:", " ".join(out.stdout.split()[3:]), "with survival", _r_survival_version())


def _r_survival_version() -> str:
    out = subprocess.run(["Rscript", "-e", 'cat(as.character(packageVersion("survival")))'], capture_output=True, text=True)
    return out.stdout.strip()


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
