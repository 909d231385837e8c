"""ADPP: NCA parameters per subject, analyte and dose (profile) from ADPC, one row per parameter (PARAMCD).

Times are actual hours after the dose (ARRLT); the pre-dose sample is placed at time 0. CTROUGH of a profile is
the pre-dose concentration of the next dose of the same drug (the concentration at the end of the interval),
missing when there is none. Points during the infusion (ARRLT <= DOSEEND) are not used for lambda_z.

NCA conventions (PKNCA defaults, humanpred/pknca R/half.life.R, R/auc_integrate.R, R/PKNCA.options.R):
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
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ikema.cdisc.adam.adae import _require
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


_UNITS = {"CMAX": "{c}", "CLST": "{c}", "CTROUGH": "{c}", "CLSTP": "{c}", "TMAX": "h", "TLST": "h",
          "LAMZLL": "h", "LAMZUL": "h", "LAMZHL": "h", "AUCLST": "h*{c}", "AUCALL": "h*{c}", "AUCIFO": "h*{c}",
          "AUCIFP": "h*{c}", "AUCPEO": "%", "LAMZ": "1/h", "LAMZNPT": "", "R2ADJ": "", "SPANRAT": ""}


def derive_adpp(adpc: pd.DataFrame, method: str = LIN_UP_LOG_DOWN) -> pd.DataFrame:
    """NCA of every profile (USUBJID x ANALYTE x DOSENUM) of ADPC, as a long ADPP."""
    _require(adpc, ["USUBJID", "ANALYTE", "DOSENUM", "ARRLT", "AVAL"], "ADPC")
    rows = []
    keys = ["USUBJID", "ANALYTE", "DOSENUM"]
    pre = adpc[adpc["ARRLT"] < 0].set_index(keys)["AVAL"]
    used = keys + [c for c in ("ARRLT", "AVAL", "DOSEEND", "AVALU", "TRTA", "CYCLE", "AVISIT") if c in adpc.columns]
    for (u, a, n), g in adpc[used].groupby(keys, sort=True):  # the columns used: each profile slices fewer
        g = g.sort_values("ARRLT")
        arr = g["ARRLT"].to_numpy(dtype=float)
        keep = arr >= 0
        if (arr < 0).any() and not (arr == 0).any():
            keep[int(np.flatnonzero(arr < 0)[-1])] = True  # the last pre-dose sample stands for time 0
        t = np.clip(arr[keep], 0, None)
        c = g["AVAL"].to_numpy(dtype=float)[keep]
        dose_end = float(g["DOSEEND"].iloc[0]) if "DOSEEND" in g.columns and g["DOSEEND"].iloc[0] > 0 else None
        res = nca_profile(t, c, method=method, dose_end=dose_end)
        nxt = pre.get((u, a, n + 1))
        res["CTROUGH"] = float(np.asarray(nxt).ravel()[-1]) if nxt is not None else np.nan
        unit = str(g["AVALU"].iloc[0]) if "AVALU" in g.columns and pd.notna(g["AVALU"].iloc[0]) else ""
        base = {"USUBJID": u, "ANALYTE": a, "DOSENUM": int(n)}
        for col in ("TRTA", "CYCLE", "AVISIT"):
            if col in g.columns:
                base[col] = g[col].iloc[0]
        for k, v in res.items():
            rows.append({**base, "PARAMCD": k, "PARAM": PARAMETERS[k], "AVAL": v,
                         "AVALU": _UNITS[k].format(c=unit)})
    return pd.DataFrame(rows)
