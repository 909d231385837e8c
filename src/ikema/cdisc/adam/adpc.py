"""ADPC: concentrations with actual and nominal times relative to first and most recent dose (hours).

Each PC sample is attached to a dose of its drug (`analyte_drug` maps PCTESTCD to EXTRT): the most recent dose at
or before the sample, except pre-dose samples (PCTPTNUM < 0, or PCTPT containing "PRE"), which belong to the next
dose and get a negative ARRLT. BLQ results (PCSTRESC starting with "<" or "BLQ", or PCSTRESN below PCLLOQ) have
AVAL = 0 and BLQFL = "Y". CYCLE is the dose's cycle (ikema.cdisc.adam.adex.derive_cycle).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ikema.cdisc.adam.adae import _require
from ikema.cdisc.adam.adex import derive_cycle
from ikema.cdisc.adam.structure import finish_bds
from ikema.errors import input_error


def iso_to_datetime(values: pd.Series, name: str, field: str) -> pd.Series:
    """ISO 8601 date-times (YYYY-MM-DDThh:mm[:ss]) to datetime64; anything else is an InputError."""
    s = values.astype("string").str.strip()
    out = pd.to_datetime(s, format="ISO8601", errors="coerce")
    bad = s.notna() & (s != "") & out.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise input_error(name, i + 1, field, s.iloc[i], "an ISO 8601 date-time YYYY-MM-DDThh:mm")
    return out


def derive_blq(pc: pd.DataFrame) -> pd.Series:
    """'Y' where the result is below the limit of quantitation."""
    c = pc["PCSTRESC"].astype("string").str.strip().str.upper() if "PCSTRESC" in pc.columns else pd.Series(
        pd.NA, index=pc.index, dtype="string")
    blq = c.str.startswith("<").fillna(False) | c.str.contains("BLQ").fillna(False)
    if "PCLLOQ" in pc.columns:
        blq |= (pd.to_numeric(pc["PCSTRESN"], errors="coerce") < pd.to_numeric(pc["PCLLOQ"], errors="coerce")).fillna(
            False)
    return pd.Series(np.where(blq, "Y", "N"), index=pc.index)


def derive_adpc(pc: pd.DataFrame, ex: pd.DataFrame, analyte_drug: Mapping[str, str],
                adsl: pd.DataFrame | None = None, cycle_days: int | None = None) -> pd.DataFrame:
    """Build ADPC from SDTM PC and EX: ANALYTE, AVAL, BLQFL, AFRLT, ARRLT, NRRLT, DOSENUM, CYCLE, AVISIT, DOSEEND (h).

    AVISIT is the visit of the dose the sample belongs to (EX VISIT, e.g. "CYCLE 1 DAY 8")."""
    _require(pc, ["USUBJID", "PCTESTCD", "PCSTRESN", "PCDTC"], "PC")
    _require(ex, ["USUBJID", "EXTRT", "EXSTDTC", "EXDOSE"], "EX")
    d = pc.drop(columns=["AVISIT"], errors="ignore").copy()
    d["ANALYTE"] = d["PCTESTCD"].astype("string").str.strip()
    unknown = ~d["ANALYTE"].isin(list(analyte_drug))
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise input_error("PC", i + 1, "PCTESTCD", d["ANALYTE"].iloc[i], f"one of {sorted(analyte_drug)}")
    d["EXTRT"] = d["ANALYTE"].map(dict(analyte_drug))
    d["ADTM"] = iso_to_datetime(d["PCDTC"], "PC", "PCDTC")
    d["BLQFL"] = derive_blq(d)
    d["AVAL"] = pd.to_numeric(d["PCSTRESN"], errors="coerce")
    d.loc[d["BLQFL"] == "Y", "AVAL"] = 0.0
    pre = pd.Series(False, index=d.index)
    if "PCTPTNUM" in d.columns:
        pre |= (pd.to_numeric(d["PCTPTNUM"], errors="coerce") < 0).fillna(False)
    if "PCTPT" in d.columns:
        pre |= d["PCTPT"].astype("string").str.upper().str.contains("PRE").fillna(False)
    x = ex.copy()
    x["EXDOSE"] = pd.to_numeric(x["EXDOSE"], errors="coerce")
    x["CYCLE"] = derive_cycle(x, cycle_days)
    x = x[x["EXDOSE"] > 0].copy()
    x["DOSEDTM"] = iso_to_datetime(x["EXSTDTC"], "EX", "EXSTDTC")
    x["DOSENDTM"] = iso_to_datetime(x["EXENDTC"], "EX", "EXENDTC") if "EXENDTC" in x.columns else x["DOSEDTM"]
    x["DOSENDTM"] = x["DOSENDTM"].fillna(x["DOSEDTM"])
    x = x.sort_values(["USUBJID", "EXTRT", "DOSEDTM"])
    x["DOSENUM"] = x.groupby(["USUBJID", "EXTRT"]).cumcount() + 1
    first = x.groupby(["USUBJID", "EXTRT"])["DOSEDTM"].min()
    x["AVISIT"] = x["VISIT"].astype("string") if "VISIT" in x.columns else "CYCLE " + x["CYCLE"].astype("string")
    cols = ["DOSENUM", "CYCLE", "AVISIT", "DOSEDTM", "DOSENDTM"]
    rows = []
    dose_rows = x.groupby(["USUBJID", "EXTRT"], sort=False).indices  # each subject's doses found once, not by a scan
    for (u, trt), g in d.groupby(["USUBJID", "EXTRT"], sort=False):
        doses = x.iloc[dose_rows.get((u, trt), [])]
        if doses.empty:
            raise input_error("PC", u, "PCTESTCD", trt, "a dose of the analyte's drug in EX for this subject")
        times = doses["DOSEDTM"].to_numpy()
        idx_after = np.searchsorted(times, g["ADTM"].to_numpy(), side="right") - 1  # last dose at or before
        idx_before = np.searchsorted(times, g["ADTM"].to_numpy(), side="left")  # first dose at or after
        idx = np.where(pre.loc[g.index].to_numpy(), idx_before, idx_after)
        idx = np.clip(idx, 0, len(doses) - 1)
        ref = doses.iloc[idx][cols].set_index(g.index)
        rows.append(pd.concat([g, ref], axis=1).assign(_first=first[(u, trt)]))
    out = pd.concat(rows).sort_index()
    hours = pd.Timedelta(hours=1)
    out["AFRLT"] = (out["ADTM"] - out["_first"]) / hours
    out["ARRLT"] = (out["ADTM"] - out["DOSEDTM"]) / hours
    out["DOSEEND"] = (out["DOSENDTM"] - out["DOSEDTM"]) / hours
    out["NRRLT"] = pd.to_numeric(out["PCTPTNUM"], errors="coerce") if "PCTPTNUM" in out.columns else out["ARRLT"]
    out["NRRLT"] = out["NRRLT"].fillna(out["ARRLT"])
    out["AVALU"] = out["PCSTRESU"] if "PCSTRESU" in out.columns else ""
    if adsl is not None and "TRT01A" in adsl.columns:
        out = out.drop(columns=["TRTA"], errors="ignore").merge(
            adsl[["USUBJID", "TRT01A"]].rename(columns={"TRT01A": "TRTA"}), on="USUBJID", how="left")
    out["PARAMCD"] = out["ANALYTE"]
    return finish_bds(out.drop(columns=["_first"]).reset_index(drop=True), "ADPC")
