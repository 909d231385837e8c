"""ADPP: NCA parameters per subject, analyte and dose (profile) from ADPC, one row per parameter (PARAMCD).

Times are actual hours after the dose (ARRLT); the pre-dose sample is placed at time 0. CTROUGH of a profile is
the pre-dose concentration of the next dose of the same drug (the concentration at the end of the interval),
missing when there is none. Points during the infusion (ARRLT <= DOSEEND) are not used for lambda_z.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ikema.analysis.pk import LIN_UP_LOG_DOWN, PARAMETERS, nca_profile
from ikema.cdisc.adam.adae import _require

_UNITS = {"CMAX": "{c}", "CLST": "{c}", "CTROUGH": "{c}", "CLSTP": "{c}", "TMAX": "h", "TLST": "h",
          "LAMZLL": "h", "LAMZUL": "h", "LAMZHL": "h", "AUCLST": "h*{c}", "AUCALL": "h*{c}", "AUCIFO": "h*{c}",
          "AUCIFP": "h*{c}", "AUCPEO": "%", "LAMZ": "1/h", "LAMZNPT": "", "R2ADJ": "", "SPANRAT": ""}


def derive_adpp(adpc: pd.DataFrame, method: str = LIN_UP_LOG_DOWN) -> pd.DataFrame:
    """NCA of every profile (USUBJID x ANALYTE x DOSENUM) of ADPC, as a long ADPP."""
    _require(adpc, ["USUBJID", "ANALYTE", "DOSENUM", "ARRLT", "AVAL"], "ADPC")
    rows = []
    keys = ["USUBJID", "ANALYTE", "DOSENUM"]
    pre = adpc[adpc["ARRLT"] < 0].set_index(keys)["AVAL"]
    for (u, a, n), g in adpc.groupby(keys, sort=True):
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
