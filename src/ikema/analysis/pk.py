"""PK analysis: summaries of NCA parameters by cycle and dosing visit (geometric mean, geometric CV%) and mean
concentration-time profiles.

The NCA itself (PKNCA conventions: lin-up/log-down AUC, adjusted R-squared half-life selection) is the ADPP
derivation in `ikema.cdisc.adam.adpp`; its names are re-exported here for callers of the analysis layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ikema.cdisc.adam.adpp import (  # noqa: F401  (re-exported NCA API)
    LIN_UP_LOG_DOWN,
    LINEAR,
    MIN_HL_POINTS,
    ADJ_R2_FACTOR,
    PARAMETERS,
    clean_blq,
    auc_segments,
    half_life,
    nca_profile,
    derive_adpp,
)
from ikema.errors import input_error


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
