"""Non-compartmental PK analysis (PKNCA conventions) and summaries by cycle (geometric mean, geometric CV%).

Conventions (PKNCA defaults, humanpred/pknca R/half.life.R, R/auc_integrate.R, R/PKNCA.options.R):
- Missing concentrations are dropped; BLQ (recorded as 0) kept before the first and after the last measurable
  concentration and dropped in between (conc.blq first/last = "keep", middle = "drop").
- Cmax = maximum; Tmax = its first time; Tlast/Clast = last time with concentration > 0.
- Ctrough = concentration exactly at the end of the dosing interval (no interpolation), else missing.
- AUC by "lin up/log down": log trapezoid when the concentration falls and stays > 0, linear otherwise;
  AUClast to Tlast; AUCall adds the linear segment from Tlast to the next (zero) point; AUCinf,obs/pred add
  Clast/lambda_z and Clast,pred/lambda_z.
- lambda_z: least-squares fit of ln(C) on t over the last k points (k >= 3) after Tmax (Tmax itself excluded unless
  `allow_tmax_in_half_life`), points after the end of the dose only; among fits with lambda_z > 0 and adjusted
  R^2 > max(adjusted R^2) - 1e-4, the one with the most points; adjusted R^2 = 1 - (1 - R^2)(n - 1)/(n - 2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ikema.errors import input_error

LIN_UP_LOG_DOWN = "lin up/log down"
LINEAR = "linear"
MIN_HL_POINTS = 3
ADJ_R2_FACTOR = 1e-4
# CDISC PPTESTCD of every parameter `nca_profile` returns, with units relative to time (h) and conc units.
PARAMETERS = {
    "CMAX": "Max Conc", "TMAX": "Time of CMAX", "CLST": "Last Nonzero Conc", "TLST": "Time of Last Nonzero Conc",
    "CTROUGH": "Conc Trough", "AUCLST": "AUC to Last Nonzero Conc", "AUCALL": "AUC All",
    "AUCIFO": "AUC Infinity Obs", "AUCIFP": "AUC Infinity Pred", "AUCPEO": "AUC %Extrapolation Obs",
    "LAMZ": "Lambda z", "LAMZHL": "Half-Life Lambda z", "LAMZNPT": "Number of Points for Lambda z",
    "R2ADJ": "R Squared Adjusted", "LAMZLL": "Lambda z Lower Limit", "LAMZUL": "Lambda z Upper Limit",
    "CLSTP": "Last Nonzero Conc Predicted", "SPANRAT": "Span ratio",
}


def clean_blq(time: Sequence[float], conc: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Sort by time, drop missing, keep BLQ zeros before the first/after the last measurable value, drop the rest."""
    t = np.asarray(time, dtype=float)
    c = np.asarray(conc, dtype=float)
    if t.shape != c.shape:
        raise input_error("PK profile", "(arrays)", "time/conc", (t.size, c.size), "arrays of equal length")
    keep = ~(np.isnan(t) | np.isnan(c))
    t, c = t[keep], c[keep]
    if np.any(c < 0):
        raise input_error("PK profile", int(np.flatnonzero(c < 0)[0]) + 1, "conc", float(c[c < 0][0]), "conc >= 0")
    order = np.argsort(t, kind="stable")
    t, c = t[order], c[order]
    if np.any(np.diff(t) == 0):
        i = int(np.flatnonzero(np.diff(t) == 0)[0])
        raise input_error("PK profile", i + 2, "time", float(t[i + 1]), "distinct sampling times")
    pos = np.flatnonzero(c > 0)
    if pos.size == 0:
        return t, c
    middle = (np.arange(c.size) > pos[0]) & (np.arange(c.size) < pos[-1]) & (c == 0)
    return t[~middle], c[~middle]


def auc_segments(t: np.ndarray, c: np.ndarray, method: str = LIN_UP_LOG_DOWN) -> np.ndarray:
    """Area of each interval between consecutive points by the chosen trapezoid rule."""
    if method not in (LIN_UP_LOG_DOWN, LINEAR):
        raise input_error("nca", "(argument)", "method", method, f"'{LIN_UP_LOG_DOWN}' or '{LINEAR}'")
    dt = np.diff(t)
    c1, c2 = c[:-1], c[1:]
    lin = dt * (c1 + c2) / 2.0
    if method == LINEAR:
        return lin
    use_log = (c2 < c1) & (c2 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log = dt * (c2 - c1) / np.log(c2 / c1)
    return np.where(use_log, log, lin)


def half_life(
    time: np.ndarray,
    conc: np.ndarray,
    tmax: float,
    tlast: float,
    dose_end: float | None = None,
    allow_tmax_in_half_life: bool = False,
    min_points: int = MIN_HL_POINTS,
    adj_r2_factor: float = ADJ_R2_FACTOR,
) -> dict:
    """Terminal log-linear regression with PKNCA's adjusted R-squared point selection (empty dict if none)."""
    t = np.asarray(time, dtype=float)
    c = np.asarray(conc, dtype=float)
    m = c > 0
    if dose_end is not None:
        m &= t > dose_end
    m &= (t >= tmax) if allow_tmax_in_half_life else (t > tmax)
    t, y = t[m], np.log(c[m])
    if t.size < min_points or np.std(np.log(c[c > 0])) == 0:
        return {}
    fits = []
    for k in range(min_points, t.size + 1):
        x, yy = t[-k:], y[-k:]
        slope, intercept = np.polyfit(x, yy, 1)
        resid = yy - (intercept + slope * x)
        ss_tot = float(np.sum((yy - yy.mean()) ** 2))
        r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else np.nan
        adj = 1.0 - (1.0 - r2) * (k - 1) / (k - 2)
        fits.append({"LAMZ": -slope, "R2": r2, "R2ADJ": adj, "LAMZNPT": k, "LAMZLL": float(x[0]),
                     "LAMZUL": float(x[-1]), "CLSTP": float(np.exp(intercept + slope * tlast))})
    best_adj = np.nanmax([f["R2ADJ"] for f in fits])
    ok = [f for f in fits if f["LAMZ"] > 0 and f["R2ADJ"] > best_adj - adj_r2_factor]
    if not ok:
        return {}
    f = max(ok, key=lambda f: f["LAMZNPT"])
    f["LAMZHL"] = math.log(2) / f["LAMZ"]
    f["SPANRAT"] = (f["LAMZUL"] - f["LAMZLL"]) / f["LAMZHL"]
    return f


def nca_profile(
    time: Sequence[float],
    conc: Sequence[float],
    end: float | None = None,
    method: str = LIN_UP_LOG_DOWN,
    dose_end: float | None = None,
    allow_tmax_in_half_life: bool = False,
) -> dict:
    """NCA parameters (CDISC PPTESTCD keys) of one concentration-time profile; times relative to the dose.

    `end` is the end of the dosing interval (Ctrough is the concentration sampled exactly there);
    `dose_end` the end of the infusion (points at or before it are not used for lambda_z).
    """
    t, c = clean_blq(time, conc)
    out: dict = {k: np.nan for k in PARAMETERS}
    out["LAMZNPT"] = 0
    if c.size == 0:
        return out
    out["CMAX"] = float(c.max())
    pos = np.flatnonzero(c > 0)
    if pos.size == 0:
        out["AUCLST"] = out["AUCALL"] = 0.0
        return out
    out["TMAX"] = float(t[int(np.argmax(c))])
    last = int(pos[-1])
    out["TLST"], out["CLST"] = float(t[last]), float(c[last])
    if end is not None:
        hit = np.flatnonzero(t == end)
        out["CTROUGH"] = float(c[hit[0]]) if hit.size else np.nan
    seg = auc_segments(t, c, method)
    out["AUCLST"] = float(seg[:last].sum())
    all_end = last + 1 if last + 1 < c.size else last
    out["AUCALL"] = float(seg[:all_end].sum())
    hl = half_life(t, c, out["TMAX"], out["TLST"], dose_end, allow_tmax_in_half_life)
    if hl:
        out.update({k: hl[k] for k in ("LAMZ", "R2ADJ", "LAMZNPT", "LAMZLL", "LAMZUL", "CLSTP", "LAMZHL", "SPANRAT")})
        out["AUCIFO"] = out["AUCLST"] + out["CLST"] / out["LAMZ"]
        out["AUCIFP"] = out["AUCLST"] + out["CLSTP"] / out["LAMZ"]
        out["AUCPEO"] = 100.0 * (out["AUCIFO"] - out["AUCLST"]) / out["AUCIFO"]
    return out


def geometric_summary(values: Sequence[float]) -> dict:
    """n, geometric mean and geometric CV% (100*sqrt(exp(s^2)-1), s = SD of logs) of the positive values."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    n_all = int(x.size)
    x = x[x > 0]
    if x.size == 0:
        return {"n": n_all, "geomean": None, "geocv_pct": None, "median": None, "min": None, "max": None}
    logs = np.log(x)
    s = float(np.std(logs, ddof=1)) if x.size > 1 else np.nan
    return {"n": n_all, "geomean": float(np.exp(logs.mean())),
            "geocv_pct": float(100.0 * np.sqrt(np.expm1(s**2))) if np.isfinite(s) else None,
            "median": float(np.median(x)), "min": float(x.min()), "max": float(x.max())}


def summarize_by_cycle(adpp: pd.DataFrame, params: Sequence[str] = ("CMAX", "CTROUGH", "AUCLST", "AUCIFO", "LAMZHL"),
                       group: Sequence[str] = ("TRTA", "ANALYTE", "CYCLE", "AVISIT")) -> list[dict]:
    """Geometric mean and geometric CV% of NCA parameters by arm, analyte, cycle and dosing visit (TMAX: median,
    range); parameters never estimable in a group (e.g. lambda_z from sparse samples) are left out."""
    cols = [g for g in group if g in adpp.columns]
    rows = []
    sub = adpp[adpp["PARAMCD"].isin([*params, "TMAX"])]
    for key, g in sub.groupby(cols + ["PARAMCD"], sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        r = {c: (None if pd.isna(v) else (int(v) if isinstance(v, (np.integer,)) else v)) for c, v in zip(cols, key[:-1])}
        r["PARAMCD"] = key[-1]
        values = pd.to_numeric(g["AVAL"], errors="coerce")
        if values.isna().all():
            continue
        r.update(geometric_summary(values.tolist()))
        rows.append(r)
    return rows


def analyze_pk(datasets: Mapping[str, pd.DataFrame]) -> dict:
    """PK results: NCA parameter summaries by cycle (ADPP, derived from ikema ADPC when absent) and mean profiles."""
    ds = {k.upper(): _standard_pk_columns(v) for k, v in datasets.items() if k.upper() in ("ADPP", "ADPC")}
    if "ADPP" not in ds and "ADPC" in ds and {"DOSENUM", "ARRLT", "ANALYTE"} <= set(ds["ADPC"].columns):
        from ikema.cdisc.adam.adpp import derive_adpp  # ikema's own ADPC: derive the NCA parameters here

        ds["ADPP"] = derive_adpp(ds["ADPC"])
    res: dict = {}
    if "ADPP" in ds:
        res["summary_by_cycle"] = summarize_by_cycle(ds["ADPP"])
        res["n_profiles"] = int(ds["ADPP"].drop_duplicates([c for c in ("USUBJID", "ANALYTE", "CYCLE", "DOSENUM")
                                                             if c in ds["ADPP"].columns]).shape[0])
    if "ADPC" in ds:
        res["mean_concentration"] = mean_concentration(ds["ADPC"])
    return res


def _standard_pk_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Map external ADPC/ADPP layouts onto ikema's (ANALYTE, TRTA, CYCLE); drop DOSE, urine and derived rows."""
    d = df
    if "ANALYTE" not in d.columns:
        src = next((c for c in ("PPCAT", "PCTESTCD", "PARCAT1") if c in d.columns), None)
        if src is not None:
            d = d.assign(ANALYTE=d[src])
    if "TRTA" not in d.columns and "TRT01A" in d.columns:
        d = d.assign(TRTA=d["TRT01A"])
    if "CYCLE" not in d.columns and "AVISIT" in d.columns:
        d = d.assign(CYCLE=d["AVISIT"])
    if "PARAMCD" in d.columns and "PCTESTCD" in d.columns:
        d = d[d["PARAMCD"].astype("string") != "DOSE"]
    if "PCSPEC" in d.columns:
        d = d[d["PCSPEC"].astype("string").str.upper().ne("URINE").fillna(True)]
    if "PPSPEC" in d.columns:
        d = d[d["PPSPEC"].astype("string").str.upper().ne("URINE").fillna(True)]
    if "DTYPE" in d.columns:
        d = d[d["DTYPE"].isna() | (d["DTYPE"].astype("string").str.strip() == "")]
    return d


def mean_concentration(adpc: pd.DataFrame) -> list[dict]:
    """Mean, SD and n of concentrations by arm, analyte, cycle, dosing visit and nominal time point.

    The time point is PCTPT when present (its TIME is the median actual time after dose, ARRLT), else NRRLT.
    """
    for col in ("AVAL", "NRRLT"):
        if col not in adpc.columns:
            raise input_error("ADPC", "(header)", col, None, f"a column {col}")
    point = "PCTPT" if "PCTPT" in adpc.columns and "ARRLT" in adpc.columns else "NRRLT"
    cols = [c for c in ("TRTA", "ANALYTE", "CYCLE", "AVISIT") if c in adpc.columns] + [point]
    rows = []
    for key, g in adpc[adpc["AVAL"].notna()].groupby(cols, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        v = g["AVAL"].astype(float)
        r = {c: (float(k) if isinstance(k, (float, np.floating)) else (int(k) if isinstance(k, np.integer) else k))
             for c, k in zip(cols, key)}
        r["TIME"] = float(g["ARRLT"].median()) if point == "PCTPT" else float(r["NRRLT"])
        r.update({"n": int(v.size), "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else None})
        rows.append(r)
    return rows
