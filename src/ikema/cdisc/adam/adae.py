"""ADAE: adverse events analysis dataset (analysis dates, toxicity grade, treatment-emergent flag).

One small derivation per variable, composed by `derive_adae`. Inputs are SDTM AE and EX (character ISO 8601
dates) or already-analysis-ready frames carrying ASTDT/AENDT; output follows ADaM OCCDS conventions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ikema.cdisc.distinct import per_distinct
from ikema.errors import input_error

# AEACN controlled terminology value meaning the study drug was stopped because of the event.
DRUG_WITHDRAWN = "DRUG WITHDRAWN"


def _require(df: pd.DataFrame, columns: list[str], name: str) -> None:
    """Raise InputError naming the first missing column of `df`."""
    for col in columns:
        if col not in df.columns:
            raise input_error(name, "(header)", col, None, f"a column {col}")


def iso_to_date(values: pd.Series, name: str = "data", field: str = "DTC") -> pd.Series:
    """Convert ISO 8601 date/datetime strings (or dates) to datetime64 days; partial dates become NaT."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.normalize()
    return per_distinct(values, lambda distinct: _iso_to_date(distinct, values, name, field))


def _iso_to_date(values: pd.Series, rows: pd.Series, name: str, field: str) -> pd.Series:
    """iso_to_date of `values` (distinct values of `rows`; an error names the first record of `rows` holding one)."""
    s = values.astype("string").str.strip()
    full = s.str.match(r"^\d{4}-\d{2}-\d{2}")
    out = pd.to_datetime(s.where(full).str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    bad = full.fillna(False) & out.isna()
    if bad.any():  # the first record (of `rows`) holding a bad value
        row = int(np.flatnonzero(rows.isin(values[bad.to_numpy()]).to_numpy())[0])
        raise input_error(name, row + 1, field, str(rows.iloc[row]).strip(), "an ISO 8601 date YYYY-MM-DD")
    return out


def derive_treatment_dates(ex: pd.DataFrame, name: str = "EX") -> pd.DataFrame:
    """First and last dose date per subject (TRTSDT, TRTEDT) from EX records with a dose given."""
    _require(ex, ["USUBJID", "EXSTDTC"], name)
    st = iso_to_date(ex["EXSTDTC"], name, "EXSTDTC")
    en = iso_to_date(ex["EXENDTC"], name, "EXENDTC") if "EXENDTC" in ex.columns else st
    en = en.fillna(st)
    # per subject (as a sorted groupby gives them) in numpy: each record's subject code, the first start and the
    # last end of the records with a dose (a groupby on the ids' text of every administration cost more)
    codes, ids = pd.factorize(ex["USUBJID"], sort=True)
    keep = codes >= 0
    if "EXDOSE" in ex.columns:
        keep &= (pd.to_numeric(ex["EXDOSE"], errors="coerce").fillna(0) > 0).to_numpy(dtype=bool)
    nat, big = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    first, last = np.full(len(ids), big, dtype=np.int64), np.full(len(ids), nat, dtype=np.int64)
    s, e = st.to_numpy(), en.to_numpy()
    held = ~np.isnat(s) & keep
    np.minimum.at(first, codes[held], s[held].view(np.int64))
    np.maximum.at(last, codes[keep], e[keep].view(np.int64))  # (NaT is the least int64: never the last)
    present = np.zeros(len(ids), dtype=bool)
    present[codes[keep]] = True
    first = np.where(first == big, nat, first)
    return pd.DataFrame({"USUBJID": ids[present], "TRTSDT": first[present].view(s.dtype), "TRTEDT": last[present].view(e.dtype)})


def derive_trtemfl(
    astdt: pd.Series, aendt: pd.Series, trtsdt: pd.Series, trtedt: pd.Series, window_days: int
) -> pd.Series:
    """Treatment-emergent flag: onset from first dose to `window_days` after the last dose ("Y"/"N").

    A missing onset date counts as emergent unless the event ended before the first dose (conservative
    imputation); a subject never dosed has no emergent events.
    """
    dosed = trtsdt.notna()
    upper = trtedt + pd.to_timedelta(window_days, unit="D")
    in_window = (astdt >= trtsdt) & (astdt <= upper)
    unknown_onset = astdt.isna() & ~(aendt < trtsdt)
    flag = dosed & (in_window | unknown_onset)
    return pd.Series(np.where(flag, "Y", "N"), index=astdt.index)


def derive_atoxgr(aetoxgr: pd.Series, name: str = "AE") -> pd.Series:
    """Numeric analysis toxicity grade (ATOXGRN, 1-5) from AETOXGR; missing stays missing."""
    g = pd.to_numeric(aetoxgr.astype("string").str.strip().replace("", pd.NA), errors="coerce")
    bad = aetoxgr.notna() & (aetoxgr.astype("string").str.strip() != "") & (g.isna() | ~g.isin([1, 2, 3, 4, 5]))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise input_error(name, row + 1, "AETOXGR", aetoxgr.iloc[row], "a CTCAE grade 1 to 5")
    return g.astype("Float64")


def study_day(date: pd.Series, ref: pd.Series) -> pd.Series:
    """SDTM study day (no day 0) of `date` relative to reference start `ref`."""
    delta = (date - ref).dt.days
    return delta.where(delta < 0, delta + 1).astype("Int64")


def derive_adae(ae: pd.DataFrame, ex: pd.DataFrame, adsl: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """Build ADAE from SDTM AE, EX and ADSL: ASTDT/AENDT, ASTDY, TRTA, ATOXGRN, TRTEMFL, AESDTH/discontinuation flags."""
    _require(ae, ["USUBJID", "AEDECOD", "AEBODSYS"], "AE")
    _require(adsl, ["USUBJID", "TRT01A"], "ADSL")
    out = ae.copy()
    out["ASTDT"] = iso_to_date(out["AESTDTC"], "AE", "AESTDTC") if "AESTDTC" in out else out.get("ASTDT")
    out["AENDT"] = iso_to_date(out["AEENDTC"], "AE", "AEENDTC") if "AEENDTC" in out else out.get("AENDT")
    dates = derive_treatment_dates(ex)
    keep = [c for c in ["USUBJID", "TRT01A", "SAFFL"] if c in adsl.columns]
    out = out.drop(columns=[c for c in ("TRTSDT", "TRTEDT", "TRT01A", "SAFFL") if c in out.columns])
    out = out.merge(adsl[keep], on="USUBJID", how="left").merge(dates, on="USUBJID", how="left")
    out["TRTA"] = out["TRT01A"]
    out["ASTDY"] = study_day(out["ASTDT"], out["TRTSDT"])
    out["TRTEMFL"] = derive_trtemfl(out["ASTDT"], out["AENDT"], out["TRTSDT"], out["TRTEDT"], window_days)
    if "AETOXGR" in out.columns:
        out["ATOXGRN"] = derive_atoxgr(out["AETOXGR"])
    out["AEDISFL"] = derive_discontinuation_flag(out)
    out["AEFATFL"] = derive_fatal_flag(out)
    return out


def derive_discontinuation_flag(adae: pd.DataFrame) -> pd.Series:
    """'Y' when the event led to permanent discontinuation of a study drug (AEACN or AEACNx = DRUG WITHDRAWN)."""
    cols = [c for c in adae.columns if c == "AEACN" or (c.startswith("AEACN") and c[5:].isdigit())]
    hit = pd.Series(False, index=adae.index)
    for c in cols:
        hit |= adae[c].astype("string").str.upper().str.strip().eq(DRUG_WITHDRAWN).fillna(False)
    return pd.Series(np.where(hit, "Y", "N"), index=adae.index)


def derive_fatal_flag(adae: pd.DataFrame) -> pd.Series:
    """'Y' when the event was fatal: AESDTH = Y, AEOUT = FATAL or grade 5."""
    hit = pd.Series(False, index=adae.index)
    if "AESDTH" in adae.columns:
        hit |= adae["AESDTH"].astype("string").str.upper().eq("Y").fillna(False)
    if "AEOUT" in adae.columns:
        hit |= adae["AEOUT"].astype("string").str.upper().eq("FATAL").fillna(False)
    if "ATOXGRN" in adae.columns:
        hit |= adae["ATOXGRN"].eq(5).fillna(False)
    return pd.Series(np.where(hit, "Y", "N"), index=adae.index)
