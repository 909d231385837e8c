"""ADQS: questionnaire scores (QLQ-C30, QLQ-MY20, EQ-5D-5L) per subject and visit with baseline and change.

Rows of QS that fail validation (ikema.analysis.qol.validate_answers) are never scored; they are listed in
`adqs.attrs["rejected"]`. Baseline (ABLFL = "Y"): the visit flagged QSBLFL = "Y"; without that flag, the last
assessment on or before the first dose (ADSL TRTSDT); without dates, a VISIT containing "BASELINE" or cycle 1
day 1. AVISITN is the cycle number read from VISIT ("CYCLE 3 DAY 1", "C3D1"); end of treatment is 900.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ikema.analysis.qol import score_answers, validate_answers
from ikema.cdisc.adam.adae import iso_to_date

EOT_VISITN = 900


def derive_avisitn(visit: pd.Series) -> pd.Series:
    """Cycle number from VISIT; 900 for end of treatment; missing otherwise."""
    v = visit.astype("string").str.upper()
    n = pd.to_numeric(v.str.extract(r"(?:CYCLE|^C)\s*0*(\d+)")[0], errors="coerce")
    n = n.where(~v.str.contains("END OF TREATMENT|EOT").fillna(False), EOT_VISITN)
    return n.astype("Float64")


def derive_adqs(qs: pd.DataFrame, adsl: pd.DataFrame | None = None, value_set: str = "England",
                file: str = "QS") -> pd.DataFrame:
    """Build ADQS from SDTM QS (USUBJID, VISIT, QSCAT, QSTESTCD, QSORRES [QSDTC, QSBLFL]) and ADSL."""
    valid, rejected = validate_answers(qs, file)
    scores = score_answers(valid, value_set)
    if "QSDTC" in valid.columns:
        dates = valid.assign(ADT=iso_to_date(valid["QSDTC"], file, "QSDTC")).groupby(["USUBJID", "VISIT", "QSCAT"])[
            "ADT"].min().reset_index()
        scores = scores.merge(dates, on=["USUBJID", "VISIT", "QSCAT"], how="left")
    flagged = None
    if "QSBLFL" in valid.columns:
        f = valid[valid["QSBLFL"].astype("string").str.upper().eq("Y").fillna(False)]
        flagged = set(zip(f["USUBJID"], f["VISIT"], f["QSCAT"]))
    if adsl is not None:
        keep = [c for c in ("USUBJID", "TRT01A", "TRTSDT") if c in adsl.columns]
        scores = scores.merge(adsl[keep], on="USUBJID", how="left").rename(columns={"TRT01A": "TRTA"})
    scores["AVISITN"] = derive_avisitn(scores["VISIT"])
    scores["AVISIT"] = [("End of treatment" if n == EOT_VISITN else f"Cycle {int(n)}") if pd.notna(n) else v
                        for n, v in zip(scores["AVISITN"], scores["VISIT"])]
    scores["ABLFL"] = _baseline_flag(scores, flagged)
    base = scores[scores["ABLFL"] == "Y"].set_index(["USUBJID", "PARAMCD"])["AVAL"]
    base = base[~base.index.duplicated(keep="last")]
    scores["BASE"] = [base.get((u, p), np.nan) for u, p in zip(scores["USUBJID"], scores["PARAMCD"])]
    scores["CHG"] = np.where(scores["ABLFL"] == "Y", np.nan, scores["AVAL"] - scores["BASE"])
    scores.attrs["rejected"] = rejected
    return scores


def _baseline_flag(scores: pd.DataFrame, flagged: set | None) -> pd.Series:
    """ABLFL per the module's baseline rule (one baseline visit per subject and questionnaire)."""
    flag = pd.Series("", index=scores.index)
    key = list(zip(scores["USUBJID"], scores["VISIT"], scores["QSCAT"]))
    if flagged:
        flag[[k in flagged for k in key]] = "Y"
        return flag
    if "ADT" in scores.columns and "TRTSDT" in scores.columns:
        trtsdt = pd.to_datetime(scores["TRTSDT"])
        cand = scores[scores["ADT"].notna() & (scores["ADT"] <= trtsdt)]
        last = cand.groupby(["USUBJID", "QSCAT"])["ADT"].transform("max")
        chosen = cand[cand["ADT"] == last]
        flag[chosen.index] = "Y"
        return flag
    v = scores["VISIT"].astype("string").str.upper()
    is_base = v.str.contains("BASELINE").fillna(False) | v.str.match(r"^(CYCLE\s*0*1\s*DAY\s*0*1|C0*1D0*1)$").fillna(False)
    flag[is_base] = "Y"
    return flag
