"""ADEX: exposure per subject and drug (cycles started, duration, cumulative dose, relative dose intensity).

Decisions: a cycle is "started" for a drug when at least one administration of that drug with EXDOSE > 0 falls in
it; duration of exposure (TRTDURD) = last dose date - first dose date + 1 (days); relative dose intensity
RDI = cumulative actual dose / cumulative planned dose over the cycles the subject started (both in EXDOSU units).
The cycle of an administration is read from a CYCLE/ACYCLE column, else from VISIT ("CYCLE 3 DAY 1", "C3D1"),
else computed from the subject's first dose date and the cycle length.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ikema.cdisc.adam.adae import _require, iso_to_date
from ikema.errors import input_error

_VISIT_CYCLE = r"(?:CYCLE|C)\s*0*(\d+)"


def derive_cycle(ex: pd.DataFrame, cycle_days: int | None, name: str = "EX") -> pd.Series:
    """Cycle number (1, 2, ...) of each EX record from CYCLE/ACYCLE, VISIT or dates (`cycle_days` per cycle)."""
    for col in ("ACYCLE", "CYCLE"):
        if col in ex.columns:
            return pd.to_numeric(ex[col], errors="coerce").astype("Int64")
    if "VISIT" in ex.columns:
        parsed = ex["VISIT"].astype("string").str.upper().str.extract(_VISIT_CYCLE)[0]
        if parsed.notna().all():
            return pd.to_numeric(parsed).astype("Int64")
    if cycle_days is None:
        raise input_error(name, "(header)", "CYCLE", None, "a CYCLE column, cycle-coded VISIT, or a cycle length")
    st = iso_to_date(ex["EXSTDTC"], name, "EXSTDTC")
    first = st.groupby(ex["USUBJID"]).transform("min")
    return ((st - first).dt.days // int(cycle_days) + 1).astype("Int64")


def derive_adex(ex: pd.DataFrame, cycle_days: int | None = None, planned: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per subject and drug: FIRSTDT, LASTDT, CYCLES, TRTDURD, CUMDOSE, EXDOSU and (with `planned`) PLANDOSE, RDI.

    `planned` has columns EXTRT, CYCLE, PLANDOSE (planned dose per cycle in EXDOSU units) and optionally USUBJID
    (subject-specific plans, e.g. mg from body weight); a plan without CYCLE applies to every cycle. Without
    `planned`, an EXPLDOS column (planned dose of each administration, missed ones recorded with EXDOSE = 0) is
    summed over the started cycles instead.
    """
    _require(ex, ["USUBJID", "EXTRT", "EXDOSE", "EXSTDTC"], "EX")
    d = ex.copy()
    d["EXDOSE"] = pd.to_numeric(d["EXDOSE"], errors="coerce")
    bad = d["EXDOSE"].isna() | (d["EXDOSE"] < 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise input_error("EX", i + 1, "EXDOSE", ex["EXDOSE"].iloc[i], "a dose >= 0")
    d["CYCLE"] = derive_cycle(d, cycle_days)
    d["_dt"] = iso_to_date(d["EXSTDTC"], "EX", "EXSTDTC")
    every = d
    d = d[d["EXDOSE"] > 0]
    g = d.groupby(["USUBJID", "EXTRT"])
    out = pd.DataFrame({
        "FIRSTDT": g["_dt"].min(),
        "LASTDT": g["_dt"].max(),
        "CYCLES": g["CYCLE"].nunique(),
        "CUMDOSE": g["EXDOSE"].sum(),
    }).reset_index()
    out["TRTDURD"] = (out["LASTDT"] - out["FIRSTDT"]).dt.days + 1
    if "EXDOSU" in d.columns:
        out = out.merge(g["EXDOSU"].first().reset_index(), on=["USUBJID", "EXTRT"], how="left")
    if planned is None and "EXPLDOS" in every.columns:
        # planned dose recorded per administration: sum it over every record (given or missed) in started cycles
        every = every.assign(EXPLDOS=pd.to_numeric(every["EXPLDOS"], errors="coerce"))
        started = d[["USUBJID", "EXTRT", "CYCLE"]].drop_duplicates()
        plan = every.merge(started, on=["USUBJID", "EXTRT", "CYCLE"], how="inner")
        out = out.merge(plan.groupby(["USUBJID", "EXTRT"], as_index=False)["EXPLDOS"].sum().rename(
            columns={"EXPLDOS": "PLANDOSE"}), on=["USUBJID", "EXTRT"], how="left")
    elif planned is not None:
        out = out.merge(_planned_total(d, planned), on=["USUBJID", "EXTRT"], how="left")
    if "PLANDOSE" in out.columns:
        out["RDI"] = out["CUMDOSE"] / out["PLANDOSE"]
        out.loc[~(out["PLANDOSE"] > 0), "RDI"] = np.nan
    if "STUDYID" in ex.columns and len(ex):
        out.insert(0, "STUDYID", ex["STUDYID"].iloc[0])
    return out


def _planned_total(d: pd.DataFrame, planned: pd.DataFrame) -> pd.DataFrame:
    """Planned dose (PLANDOSE) summed over the cycles each subject started, per subject and drug."""
    _require(planned, ["EXTRT", "PLANDOSE"], "planned doses")
    started = d[["USUBJID", "EXTRT", "CYCLE"]].drop_duplicates()
    keys = ["EXTRT"] + (["CYCLE"] if "CYCLE" in planned.columns else []) + (
        ["USUBJID"] if "USUBJID" in planned.columns else [])
    plan = planned[keys + ["PLANDOSE"]].copy()
    if "CYCLE" in plan.columns:
        plan["CYCLE"] = pd.to_numeric(plan["CYCLE"]).astype("Int64")
    merged = started.merge(plan, on=keys, how="left")
    missing = merged["PLANDOSE"].isna()
    if missing.any():
        r = merged[missing].iloc[0]
        raise input_error("planned doses", f"{r['USUBJID']} {r['EXTRT']} cycle {r['CYCLE']}", "PLANDOSE", None,
                          "a planned dose for every drug and cycle started")
    return merged.groupby(["USUBJID", "EXTRT"], as_index=False)["PLANDOSE"].sum()


def planned_from_calendar(calendar: list[dict], usubjid: str | None = None, drug_names: dict | None = None,
                          dose_key: str = "dose_mg") -> pd.DataFrame:
    """Planned dose per drug and cycle (EXTRT, CYCLE, PLANDOSE[, USUBJID]) from dosing-calendar rows.

    Rows are dicts with `cycle`, `drug` and `dose_key` (as `ikema.conduct.calendar.dosing_calendar` returns);
    `drug_names` maps calendar drug names to EXTRT values when they differ.
    """
    df = pd.DataFrame(calendar)
    for col in ("cycle", "drug", dose_key):
        if col not in df.columns:
            raise input_error("dosing calendar", "(rows)", col, None, f"a key {col} in every row")
    df["EXTRT"] = df["drug"].map(lambda d: (drug_names or {}).get(d, d))
    out = df.groupby(["EXTRT", "cycle"], as_index=False)[dose_key].sum().rename(
        columns={"cycle": "CYCLE", dose_key: "PLANDOSE"})
    if usubjid is not None:
        out["USUBJID"] = usubjid
    return out
