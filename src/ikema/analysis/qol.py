"""Quality-of-life analysis: change from baseline by cycle per arm with t-based CIs, from ADQS.

The questionnaire scoring (EORTC QLQ-C30 v3, QLQ-MY20, EQ-5D-5L) is the ADQS derivation in
`ikema.cdisc.adam.adqs`; its names are re-exported here for callers of the analysis layer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from ikema.cdisc.adam.adqs import (  # noqa: F401  (re-exported scoring API)
    C30,
    MY20,
    EQ5D,
    DEFAULT_VALUE_SET,
    Scale,
    C30_SCALES,
    MY20_SCALES,
    EQ5D_DIMENSIONS,
    EQ5D_VAS,
    SUMMARY_FUNCTIONAL,
    SUMMARY_SYMPTOM,
    LABELS,
    item_code,
    item_spec,
    eq5d5l_value_sets,
    eq5d5l_index,
    score_scale,
    c30_summary,
    Rejected,
    REQUIRED_COLUMNS,
    validate_answers,
    score_answers,
)
from ikema.errors import input_error


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict:
    """n, mean, SD and the t-based confidence interval of the mean of the non-missing values."""
    x = np.asarray([v for v in values if v == v], dtype=float)
    n = int(x.size)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "lcl": None, "ucl": None}
    m = float(x.mean())
    if n == 1:
        return {"n": 1, "mean": m, "sd": None, "lcl": None, "ucl": None}
    sd = float(x.std(ddof=1))
    h = float(student_t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return {"n": n, "mean": m, "sd": sd, "lcl": m - h, "ucl": m + h}


def change_from_baseline(adqs: pd.DataFrame, params: Sequence[str] | None = None, level: float = 0.95) -> list[dict]:
    """Mean change from baseline (CHG) with a t-based CI, by parameter, arm and analysis visit (post-baseline)."""
    for col in ("PARAMCD", "CHG", "AVISITN", "TRTA"):
        if col not in adqs.columns:
            raise input_error("ADQS", "(header)", col, None, f"a column {col} (derive with ikema.cdisc.adam.adqs)")
    d = adqs[adqs["CHG"].notna() & (adqs.get("ABLFL", "") != "Y")]
    if params is not None:
        d = d[d["PARAMCD"].isin(params)]
    rows = []
    for (p, arm, vn), g in d.groupby(["PARAMCD", "TRTA", "AVISITN"], sort=True):
        r = {"PARAMCD": p, "PARAM": LABELS.get(p, p), "TRTA": arm, "AVISITN": int(vn),
             "AVISIT": str(g["AVISIT"].iloc[0]) if "AVISIT" in g.columns else str(vn)}
        r.update(mean_ci(g["CHG"].tolist(), level))
        rows.append(r)
    return rows


def analyze_qol(datasets: Mapping[str, pd.DataFrame], params: Sequence[str] = ("QL2", "PF2", "FA", "PA", "MYDS",
                                                                                   "MYSE", "EQ5DIDX", "EQ5DVAS")) -> dict:
    """QoL results from ADQS: change from baseline by cycle per arm with 95% CIs, and completion counts."""
    ds = {k.upper(): v for k, v in datasets.items()}
    if "ADQS" not in ds:
        raise input_error("datasets", "ADQS", "ADQS", None, "an ADQS dataset")
    adqs = ds["ADQS"]
    present = [p for p in params if p in set(adqs.loc[adqs["AVAL"].notna(), "PARAMCD"])]
    res = {"change_from_baseline": change_from_baseline(adqs, present), "parameters": present,
           "value_set": next((str(x).split("(")[1].split(" value")[0]
                              for x in pd.unique(adqs.get("PARAM", pd.Series([], dtype=str)))  # first seen, once each
                              if str(x).startswith("EQ-5D-5L index (")), None)}
    base = adqs[adqs.get("ABLFL", "") == "Y"]
    res["baseline_n"] = {str(k): int(v) for k, v in base.groupby("TRTA")["USUBJID"].nunique().items()} \
        if "TRTA" in base.columns else {}
    return res
