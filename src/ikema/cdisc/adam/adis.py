"""ADIS: anti-drug antibody (ADA) samples with result, titre, baseline and post-baseline flags.

One row per ADA sample: AVALC = POSITIVE | NEGATIVE (missing when not done), AVAL = titre (when reported),
ABLFL = "Y" for the baseline sample (ISBLFL = Y; else the last sample on or before the first dose; else a VISIT
containing BASELINE or cycle 1 day 1), POSTFL = "Y" for samples after baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ikema.cdisc.adam.adae import _require, iso_to_date
from ikema.cdisc.adam.structure import finish_bds

_POS = {"POSITIVE", "POS", "P", "DETECTED", "Y"}
_NEG = {"NEGATIVE", "NEG", "N", "NOT DETECTED"}


def normalize_result(values: pd.Series) -> pd.Series:
    """POSITIVE / NEGATIVE / missing from the usual spellings of a qualitative ADA result."""
    v = values.astype("string").str.strip().str.upper()
    out = pd.Series(pd.NA, index=values.index, dtype="string")
    out[(v.isin(_POS) | v.str.startswith("POSITIVE")).fillna(False)] = "POSITIVE"  # e.g. "POSITIVE CONFIRMATION"
    out[(v.isin(_NEG) | v.str.startswith("NEGATIVE")).fillna(False)] = "NEGATIVE"
    return out


def derive_adis(is_: pd.DataFrame, adsl: pd.DataFrame | None = None, result_testcd: str = "ADA_BAB",
                titer_testcd: str | None = None) -> pd.DataFrame:
    """Build ADIS from SDTM IS: one row per sample of `result_testcd` with AVALC, AVAL (titre), ABLFL, POSTFL, TRTA."""
    _require(is_, ["USUBJID", "ISTESTCD", "ISSTRESC"], "IS")
    d = is_[is_["ISTESTCD"].astype("string").str.strip() == result_testcd].copy()
    d["AVALC"] = normalize_result(d["ISSTRESC"])
    # a reported titre ("1.51", "<1.40", ">1000") is a positive sample; the titre is its number
    titre_text = d["ISSTRESC"].astype("string").str.strip().str.extract(r"^[<>]?=?\s*(\d+(?:\.\d*)?)$")[0]
    d.loc[titre_text.notna(), "AVALC"] = "POSITIVE"
    d["AVAL"] = pd.to_numeric(d["ISSTRESN"], errors="coerce") if "ISSTRESN" in d.columns else np.nan
    d["AVAL"] = d["AVAL"].astype(float).fillna(pd.to_numeric(titre_text, errors="coerce").astype(float))
    key = [c for c in ("USUBJID", "VISIT", "ISDTC") if c in d.columns]
    if titer_testcd is not None:
        tit = is_[is_["ISTESTCD"].astype("string").str.strip() == titer_testcd][key + ["ISSTRESN"]]
        tit = tit.rename(columns={"ISSTRESN": "_tit"})
        d = d.merge(tit, on=key, how="left")
        d["AVAL"] = pd.to_numeric(d["_tit"], errors="coerce")
        d = d.drop(columns=["_tit"])
    d.loc[d["AVALC"] != "POSITIVE", "AVAL"] = np.nan
    if "ISDTC" in d.columns:
        d["ADT"] = iso_to_date(d["ISDTC"], "IS", "ISDTC")
    if adsl is not None:
        keep = [c for c in ("USUBJID", "TRT01A", "TRTSDT") if c in adsl.columns]
        d = d.merge(adsl[keep], on="USUBJID", how="left").rename(columns={"TRT01A": "TRTA"})
    d["ABLFL"] = _baseline(d)
    order = d["ADT"] if "ADT" in d.columns else pd.Series(np.arange(len(d)), index=d.index)
    # each subject's baseline position on every row (missing without a baseline, e.g. no dose yet so no TRTSDT)
    bo = order.where(d["ABLFL"] == "Y").groupby(d["USUBJID"]).transform("max")
    d["POSTFL"] = np.where((d["ABLFL"] != "Y") & (bo.isna() | (order > bo)), "Y", "")
    d["PARAMCD"] = result_testcd
    return finish_bds(d.reset_index(drop=True), "ADIS")


def _baseline(d: pd.DataFrame) -> pd.Series:
    """ABLFL per the module rule."""
    flag = pd.Series("", index=d.index)
    if "ISBLFL" in d.columns and d["ISBLFL"].astype("string").str.upper().eq("Y").any():
        flag[d["ISBLFL"].astype("string").str.upper().eq("Y").fillna(False)] = "Y"
        return flag
    if "ADT" in d.columns and "TRTSDT" in d.columns:
        trtsdt = pd.to_datetime(d["TRTSDT"])
        cand = d[d["ADT"].notna() & (d["ADT"] <= trtsdt)]
        last = cand.groupby("USUBJID")["ADT"].transform("max")
        flag[cand[cand["ADT"] == last].index] = "Y"
        return flag
    if "VISIT" in d.columns:
        v = d["VISIT"].astype("string").str.upper()
        flag[(v.str.contains("BASELINE") | v.str.match(r"^(CYCLE\s*0*1\s*DAY\s*0*1|C0*1D0*1)$")).fillna(False)] = "Y"
    return flag
