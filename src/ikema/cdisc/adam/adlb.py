"""ADLB: laboratory analysis dataset with NCI-CTCAE v4.03 grades derived from values (haematology).

The grading thresholds live in ONE table, `data/ctcae_v4_lab.csv` (term, PARAMCD, direction, unit, grade,
operator, value, basis ABS|LLN, source), transcribed like admiral's `atoxgr_criteria_ctcv4`. Rules (admiral):
missing value -> missing grade; grade 4, 3, 2, 1 tested in that order with strict "<" so a value on a cut-point
takes the milder grade; absolute cut-points are graded even when the LLN is missing; a value that would fall to
grade 1/0 with the LLN missing gets a missing grade; both sides rounded to 15 significant digits before comparing.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from ikema.cdisc.adam.structure import finish_bds, subject_rows
from ikema.cdisc.distinct import per_distinct
from ikema.cdisc.adam.adae import _require, iso_to_date, study_day
from ikema.errors import input_error

# Multiply a value in the key unit by the factor to get the table's unit (10^9/L for counts, g/L for haemoglobin).
COUNT_UNITS = {"10^9/L": 1.0, "GI/L": 1.0, "10*9/L": 1.0, "X10^9/L": 1.0, "10^3/UL": 1.0, "10*3/UL": 1.0,
               "K/UL": 1.0, "/NL": 1.0, "10^6/L": 1e-3, "/UL": 1e-3, "CELLS/UL": 1e-3, "/MM3": 1e-3}
# 1 g/dL haemoglobin = 0.6206 mmol/L (monomer, molar mass 16 114.5 g/mol): 1 mmol/L = 16.1134 g/L.
HGB_UNITS = {"G/L": 1.0, "G/DL": 10.0, "MMOL/L": 1.0 / 0.06206}
# SDTM LBTESTCD -> the table's PARAMCD.
TESTCD_TO_PARAMCD = {"NEUT": "NEUT", "ANC": "NEUT", "PLAT": "PLAT", "LYM": "LYMPH", "LYMPH": "LYMPH",
                     "WBC": "WBC", "HGB": "HGB"}


@lru_cache(maxsize=1)
def ctcae_lab_criteria() -> pd.DataFrame:
    """The CTCAE v4.03 lab grading table shipped with ikema (one row per term and grade, with its source)."""
    with resources.files("ikema.cdisc.adam").joinpath("data/ctcae_v4_lab.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


def _signif(x: np.ndarray, digits: int = 15) -> np.ndarray:
    """Round to `digits` significant digits (admiral's signif_dig), NaN-safe."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where((x == 0) | ~np.isfinite(x), 0, np.floor(np.log10(np.abs(x))))
    scale = 10.0 ** (digits - 1 - mag)
    return np.round(x * scale) / scale


def unit_factor(paramcd: str, unit: object, record: object = "?", name: str = "LB") -> float:
    """Factor converting a value in `unit` to the grading table's unit for `paramcd` (InputError if unknown)."""
    table = HGB_UNITS if paramcd == "HGB" else COUNT_UNITS
    key = "" if unit is None or (isinstance(unit, float) and np.isnan(unit)) else str(unit).strip().upper()
    key = key.replace("X10", "10").replace("E9/L", "^9/L")
    if key not in table:
        raise input_error(name, record, "unit", unit, f"one of {sorted(table)} for {paramcd}")
    return table[key]


def grade_lab(paramcd: str, aval: pd.Series, lln: pd.Series, unit: pd.Series | str, name: str = "LB") -> pd.Series:
    """CTCAE v4.03 grade (0-4, Float64 with missing) of values of one lab parameter from value, LLN and unit."""
    crit = ctcae_lab_criteria()
    rows = crit[crit["PARAMCD"] == paramcd].sort_values("GRADE", ascending=False)
    if rows.empty:
        raise input_error("ctcae_v4_lab.csv", paramcd, "PARAMCD", paramcd, f"one of {sorted(set(crit['PARAMCD']))}")
    units = pd.Series(unit, index=aval.index) if isinstance(unit, str) else unit
    codes, distinct = pd.factorize(units, use_na_sentinel=False)  # each unit once; an error names its first record
    first = pd.Series(np.arange(len(codes))).groupby(codes).first()
    factors = np.array([unit_factor(paramcd, u, aval.index[first[k]], name) for k, u in enumerate(distinct)],
                       dtype=float)[codes]
    x = _signif(pd.to_numeric(aval, errors="coerce").to_numpy(dtype=float) * factors)
    low = pd.to_numeric(lln, errors="coerce").to_numpy(dtype=float) * factors
    grade = np.full(x.shape, np.nan)
    undecided = ~np.isnan(x)
    for _, r in rows.iterrows():
        if r["BASIS"] == "ABS":
            cut = np.full(x.shape, float(r["VALUE"]))
        else:
            cut = _signif(low * float(r["VALUE"]))
        hit = undecided & (x < cut)  # NaN cut (missing LLN) never hits
        grade[hit] = r["GRADE"]
        undecided &= ~hit
    lln_missing = np.isnan(low) & rows["BASIS"].eq("LLN").any()
    grade[undecided & ~lln_missing] = 0
    return pd.Series(grade, index=aval.index, dtype="Float64")


def derive_atoxgrn(adlb: pd.DataFrame, name: str = "ADLB") -> pd.Series:
    """ATOXGRN for every ADLB row whose PARAMCD is in the grading table (others missing)."""
    _require(adlb, ["PARAMCD", "AVAL", "ANRLO"], name)
    unit_col = next((c for c in ("AVALU", "LBSTRESU") if c in adlb.columns), None)
    if unit_col is None:
        raise input_error(name, "(header)", "AVALU", None, "a unit column AVALU or LBSTRESU")
    out = np.full(len(adlb), np.nan)  # filled per parameter as numbers: missing grades are NaN until the end
    code = adlb["PARAMCD"]
    for paramcd in set(ctcae_lab_criteria()["PARAMCD"]) & set(code.dropna().unique()):
        m = (code == paramcd).to_numpy(dtype=bool)
        grade = grade_lab(paramcd, adlb.loc[m, "AVAL"], adlb.loc[m, "ANRLO"], adlb.loc[m, unit_col], name)
        out[m] = grade.to_numpy(dtype=float, na_value=np.nan)
    return pd.Series(out, index=adlb.index, dtype="Float64")


def derive_adlb(lb: pd.DataFrame, adsl: pd.DataFrame) -> pd.DataFrame:
    """Build haematology ADLB from SDTM LB and ADSL: PARAMCD, AVAL, ANRLO, ADT, ADY, ABLFL, ATOXGRN, BTOXGRN."""
    _require(lb, ["USUBJID", "LBTESTCD", "LBSTRESN", "LBDTC"], "LB")
    _require(adsl, ["USUBJID", "TRTSDT"], "ADSL")
    paramcd = per_distinct(lb["LBTESTCD"], lambda u: u.astype("string").str.strip().str.upper().map(TESTCD_TO_PARAMCD))
    graded = paramcd.notna()
    out = lb[graded.to_numpy(dtype=bool)].reset_index(drop=True)  # the haematology records only, taken once (LB also holds the disease assessments)
    out["PARAMCD"] = paramcd[graded].to_numpy()
    out["AVAL"] = pd.to_numeric(out["LBSTRESN"], errors="coerce")
    out["AVALU"] = out["LBSTRESU"] if "LBSTRESU" in out.columns else pd.NA
    out["ANRLO"] = pd.to_numeric(out["LBSTNRLO"], errors="coerce") if "LBSTNRLO" in out.columns else np.nan
    out["ANRHI"] = pd.to_numeric(out["LBSTNRHI"], errors="coerce") if "LBSTNRHI" in out.columns else np.nan
    out["ADT"] = iso_to_date(out["LBDTC"], "LB", "LBDTC")
    keep = [c for c in ("TRTSDT", "TRT01A") if c in adsl.columns]
    out = out.drop(columns=[c for c in keep if c in out.columns])
    rows = subject_rows(out["USUBJID"], adsl["USUBJID"])  # the left join on the subject, by position (ADSL: one row each)
    for c in keep:
        out[c] = adsl[c].array.take(rows, allow_fill=True)
    out["TRTSDT"] = pd.to_datetime(out["TRTSDT"])
    out["ADY"] = study_day(out["ADT"], out["TRTSDT"])
    out["ATOXDSCL"] = out["PARAMCD"].map(ctcae_lab_criteria().drop_duplicates("PARAMCD").set_index("PARAMCD")["TERM"])
    out["ATOXGRN"] = derive_atoxgrn(out, "LB")
    out["ABLFL"] = derive_ablfl(out)
    base = out.loc[out["ABLFL"] == "Y", ["USUBJID", "PARAMCD", "ATOXGRN"]].set_index(["USUBJID", "PARAMCD"])["ATOXGRN"]
    base = base[~base.index.duplicated(keep="last")]
    out["BTOXGRN"] = base.reindex(pd.MultiIndex.from_arrays([out["USUBJID"], out["PARAMCD"]])).to_numpy()
    out["ONTRTFL"] = np.where(out["ADT"] > out["TRTSDT"], "Y", "")
    if "LBSTRESC" in out.columns:
        out["AVALC"] = out["LBSTRESC"]
    # by subject, parameter and date (missing last), as sort_values orders them: one lexsort of codes
    subject, _s = pd.factorize(out["USUBJID"], sort=True)
    param, _p = pd.factorize(out["PARAMCD"], sort=True)
    adt = out["ADT"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    last = np.iinfo(np.int64).max
    order = np.lexsort((np.where(adt == np.iinfo(np.int64).min, last, adt), np.where(param < 0, last, param),
                        np.where(subject < 0, last, subject)))
    return finish_bds(out.take(order).reset_index(drop=True), "ADLB")


def derive_ablfl(adlb: pd.DataFrame) -> pd.Series:
    """Baseline flag: the last non-missing value on or before the first dose date, per subject and parameter."""
    cand = adlb.loc[adlb["AVAL"].notna() & adlb["ADT"].notna() & (adlb["ADT"] <= adlb["TRTSDT"]), ["USUBJID", "PARAMCD", "ADT"]]
    last = cand.sort_values("ADT").groupby(["USUBJID", "PARAMCD"]).tail(1).index
    flag = pd.Series("", index=adlb.index)
    flag[last] = "Y"
    return flag
