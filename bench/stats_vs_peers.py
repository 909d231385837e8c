"""KM by arm (with the median and its CI), stratified log-rank and stratified Cox (Efron) on 10^3, 10^5 and 10^6
synthetic subjects: ikema.stats against statsmodels (same process) and R survival (Rscript) on the same data in
the same run, with np.argsort of 10^6 random doubles as the machine's yardstick. Each operation is timed in
rounds that interleave ikema, statsmodels and the yardstick, and the medians are printed with their ratios
(below 1 = ikema faster); "all three" is ikema.stats.SurvivalData (one index for the three) and, for the
functions called one by one, their sum. The goals at 10^6: each operation at least as fast as statsmodels
(ratio <= 1), and the three together within 6 argsorts. Log-rank chi-square and Cox coefficient are checked
against R and statsmodels.

Run: .venv/bin/python bench/stats_vs_peers.py [N ...]   (make bench installs r-base-core and r-cran-survival)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from ikema.stats import SurvivalData, coxph, kaplan_meier, logrank

SIZES = (1_000, 100_000, 1_000_000)
SEED = 20171025
ROUNDS = 5
R_SCRIPT = r"""
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
reps <- as.integer(args[2])
best <- c(km = Inf, lr = Inf, cx = Inf)
for (i in seq_len(reps)) {
  t0 <- proc.time()[["elapsed"]]
  km <- survfit(Surv(time, event) ~ arm, data = d)
  med <- quantile(km, 0.5)
  t1 <- proc.time()[["elapsed"]]
  lr <- survdiff(Surv(time, event) ~ arm + strata(stratum), data = d)
  t2 <- proc.time()[["elapsed"]]
  cx <- coxph(Surv(time, event) ~ arm + strata(stratum), data = d, ties = "efron")
  t3 <- proc.time()[["elapsed"]]
  best <- pmin(best, c(t1 - t0, t2 - t1, t3 - t2))
}
cat(sprintf("%.6f %.6f %.6f %.12g %.12g %s\n", best[1], best[2], best[3], lr$chisq, coef(cx)[[1]], R.version.string))
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


def _clock(f) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = f()
    return time.perf_counter() - t0, out


def operations(d: pd.DataFrame) -> dict[str, dict]:
    """Per operation: the ikema call and the statsmodels call (each returning what is compared)."""
    t, e, arm, s = (d[c].to_numpy() for c in ("time", "event", "arm", "stratum"))
    x = arm.astype(float)

    def ik_km():
        return [kaplan_meier(t[arm == a], e[arm == a]).median for a in (0, 1)]

    def sm_km():
        out = []
        for a in (0, 1):
            sf = SurvfuncRight(t[arm == a], e[arm == a])
            out.append(sf.quantile(0.5))
            sf.quantile_ci(0.5)
        return out

    def sm_cox():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(PHReg(t, x[:, None], status=e, strata=s, ties="efron").fit().params[0])

    def shared():
        data = SurvivalData(t, e, arm, s)
        data.kaplan_meier()
        return data.logrank().chisq, float(data.coxph().coef[0])

    return {
        "KM by arm + median CI": {"ikema": ik_km, "statsmodels": sm_km, "r": 0},
        "stratified log-rank": {"ikema": lambda: logrank(t, e, arm, s).chisq,
                                "statsmodels": lambda: float(survdiff(t, e, arm, strata=s)[0]), "r": 1},
        "stratified Cox (Efron)": {"ikema": lambda: float(coxph(t, e, x, s, ties="efron").coef[0]),
                                   "statsmodels": sm_cox, "r": 2},
        "all three, SurvivalData": {"ikema": shared},
    }


def run_size(n: int, d: pd.DataFrame, rfile: Path, tmp: str, yard: np.ndarray) -> tuple[dict, float]:
    """Median seconds per operation for ikema, statsmodels and R at one size; the yardstick's median too."""
    csv = Path(tmp) / f"d{n}.csv"
    d.to_csv(csv, index=False)
    reps = 5 if n <= 100_000 else 3
    r = subprocess.run(["Rscript", str(rfile), str(csv), str(reps)], check=True, capture_output=True, text=True)
    r_fields = r.stdout.split()
    r_times = [float(v) for v in r_fields[:3]]
    ops = operations(d)
    for op in ops.values():  # warm up (numba cache load, first-touch allocations)
        op["ikema"]()
    times: dict[str, dict[str, list[float]]] = {k: {"ikema": [], "statsmodels": []} for k in ops}
    values: dict[str, dict] = {k: {} for k in ops}
    argsorts = []
    for rnd in range(ROUNDS):
        argsorts.append(_clock(lambda: np.argsort(yard))[0])
        for name, op in ops.items():
            for who in ("ikema", "statsmodels"):
                if who not in op:
                    continue
                if who == "statsmodels" and name.startswith("stratified Cox") and n >= 1_000_000 and rnd > 0:
                    continue  # about 15 s a fit: one round is enough against ikema's median
                sec, val = _clock(op[who])
                times[name][who].append(sec)
                values[name][who] = val
    rows = {}
    for name, op in ops.items():
        rows[name] = {"ikema": float(np.median(times[name]["ikema"])),
                      "statsmodels": float(np.median(times[name]["statsmodels"])) if times[name]["statsmodels"] else None,
                      "r": r_times[op["r"]] if "r" in op else sum(r_times), "values": values[name]}
    rows["r_check"] = {"chisq": float(r_fields[3]), "beta": float(r_fields[4]), "version": " ".join(r_fields[5:])}
    return rows, float(np.median(argsorts))


def main(sizes: tuple[int, ...] = SIZES) -> None:
    """Time the three operations at each size and print the ratios."""
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: run scripts/system-deps.sh bench (r-base-core, r-cran-survival)")
    rng = np.random.default_rng(SEED)
    yard = np.random.default_rng(1).random(1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        rfile = Path(tmp) / "bench.R"
        rfile.write_text(R_SCRIPT)
        for n in sizes:
            d = synthetic(n, rng)
            rows, argsort_s = run_size(n, d, rfile, tmp, yard)
            chk = rows.pop("r_check")
            print(f"\nn = {n:,} ({int(d['event'].sum()):,} events); yardstick np.argsort(10^6 doubles) "
                  f"{argsort_s:.4f} s; medians of {ROUNDS} rounds")
            print(f"{'operation':<26} {'ikema s':>8} {'statsm. s':>9} {'R s':>8} {'ik/statsm':>9} {'ik/R':>6} "
                  f"{'argsorts':>8}")
            total = r_total = 0.0
            for name, row in rows.items():
                ik, sm, rr = row["ikema"], row["statsmodels"], row["r"]
                if sm is not None:
                    total, r_total = total + ik, r_total + rr
                print(f"{name:<26} {ik:>8.4f} {sm if sm is not None else float('nan'):>9.4f} {rr:>8.4f} "
                      f"{ik / sm if sm else float('nan'):>9.3f} {ik / rr:>6.3f} {ik / argsort_s:>8.2f}")
            print(f"{'all three, one by one':<26} {total:>8.4f} {'':>9} {r_total:>8.4f} {'':>9} {total / r_total:>6.3f} "
                  f"{total / argsort_s:>8.2f}")
            lr, beta = rows["stratified log-rank"]["values"], rows["stratified Cox (Efron)"]["values"]
            print(f"agreement with R: log-rank chi2 rel diff {abs(lr['ikema'] / chk['chisq'] - 1):.1e}, Cox beta "
                  f"{abs(beta['ikema'] / chk['beta'] - 1):.1e}; with statsmodels: chi2 "
                  f"{abs(lr['ikema'] / lr['statsmodels'] - 1):.1e}, beta {abs(beta['ikema'] / beta['statsmodels'] - 1):.1e}")
            if n >= 1_000_000:
                shared = rows["all three, SurvivalData"]["ikema"] / argsort_s
                worst = max(rows[k]["ikema"] / rows[k]["statsmodels"] for k in rows if rows[k]["statsmodels"])
                print(f"goals at 10^6: each operation <= statsmodels (worst ratio {worst:.3f}): "
                      f"{'met' if worst <= 1 else 'NOT met'}; all three within 6 argsorts ({shared:.2f} shared, "
                      f"{total / argsort_s:.2f} one by one): {'met' if shared <= 6 else 'NOT met'}")
        print(f"peers: statsmodels {_sm_version()}; {chk['version']} with survival {_r_survival_version()}")


def _sm_version() -> str:
    import statsmodels

    return statsmodels.__version__


def _r_survival_version() -> str:
    out = subprocess.run(["Rscript", "-e", 'cat(as.character(packageVersion("survival")))'], capture_output=True, text=True)
    return out.stdout.strip()


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
