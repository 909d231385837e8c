"""ADRS: IMWG response analysis dataset (per-assessment and per-subject response parameters).

Admiral style: one small derivation per parameter, composed in `derive_adrs` (from lab/marrow/imaging
assessments through `ikema.response.evaluate`) or `derive_adrs_from_labels` (from already-assessed overall
responses, e.g. SDTM RS OVRLRESP + SUPPRS as in pharmaversesdtm `rs_onco_imwg`).

Input contract
--------------
adsl (one row per subject):
  USUBJID (required), RANDDT (required, date), TRTSDT (optional; the date of study day 1 — subjects
  without it use RANDDT), NEWTHDT (first further anti-myeloma therapy, optional), DTHDT (death, optional),
  STUDYID, TRT01P, STRAT1R, STRAT2R (optional, carried to the output).
  Dates are datetime64 or ISO 8601 text (YYYY-MM-DD); empty = none.
assessments: the `ikema.response` contract (USUBJID, ADY, PARAM, AVAL, AVALC); instead of ADY a column
  ADT (date) may be given, and ADY is then the SDTM study day of ADT relative to the day-1 date.

Output (one row per subject and parameter, plus per-assessment rows for OVR/COVR/OVRADJ/COVRADJ):
  STUDYID, USUBJID, TRT01P, STRAT1R, STRAT2R (when in adsl), PARAMCD, PARAM, PARCAT1, AVALC, AVAL, ADT,
  ADY, RESPFL, ANL01FL, ANL02FL.
  OVR      Overall response at the assessment (unconfirmed). AVAL: sCR 7 ... PD 1, NE 8 (admiralonco order)
  COVR     Confirmed response at the assessment (ikema.response.confirm)
  OVRADJ / COVRADJ  the same with the isatuximab interference adjusted (SIFE POSITIVE-DRUG = NEGATIVE)
  CBOR     Best confirmed overall response; ADT = first date of the best response
  CBORADJ  Best confirmed overall response adjusted for isatuximab interference
  RSP      Confirmed response PR or better (Y/N); ADT = first response date
  VGPRRSP  Confirmed VGPR or better (Y/N)
  CRRSP    Confirmed CR or better, as assessed (Y/N)
  CRRSPADJ Confirmed CR or better, adjusted for isatuximab interference (Y/N)
  PD       Confirmed IMWG progression (Y/N); ADT = date of the first of the confirming assessments
  MRDNEG   MRD negative by NGS at 1e-5 at any time after day 1 before further therapy (Y/N; not assessed = N)
  MRDNEGCR MRD negative and CR or better (Y/N), as assessed
  Y/N parameters: AVAL 1/0; RESPFL = AVALC for Y/N parameters, and for CBOR/CBORADJ "Y" when PR or better.
  ANL01FL = "Y" on the per-subject records only (one record per subject and parameter: what an analysis
  of rates selects); ANL02FL = "Y" on per-assessment records on or before NEWTHDT (admiralonco's flag for
  "before new anti-cancer therapy").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ikema.cdisc.adam.structure import finish_bds
from ikema.errors import input_error
from ikema.response import Criteria, confirm_labels, default_criteria, evaluate
from ikema.response.contract import validate_assessments

PARCAT1 = "IMWG 2016 (algorithmic)"
AVAL_RESPONSE = {"sCR": 7, "CR": 6, "VGPR": 5, "PR": 4, "MR": 3, "SD": 2, "PD": 1, "NE": 8}
RESPONDERS = ("sCR", "CR", "VGPR", "PR")
CARRY = ("STUDYID", "TRT01P", "STRAT1R", "STRAT2R")
DATE_COLUMNS = ("RANDDT", "TRTSDT", "NEWTHDT", "DTHDT", "LSTALVDT", "PD2DT")

ADJUSTED = ("OVRADJ", "COVRADJ", "CBORADJ", "CRRSPADJ")  # the parameters adjusted for isatuximab IFE interference
PARAMS = {
    "OVR": "Overall Response at Assessment (IMWG 2016)",
    "COVR": "Confirmed Response at Assessment (IMWG 2016)",
    "OVRADJ": "Overall Response at Assessment, Adjusted for Isatuximab IFE Interference",
    "COVRADJ": "Confirmed Response at Assessment, Adjusted for Isatuximab IFE Interference",
    "BOR": "Best Overall Response (IMWG 2016), Unconfirmed",
    "CBOR": "Best Confirmed Overall Response (IMWG 2016)",
    "CBORADJ": "Best Confirmed Overall Response, Adjusted for Isatuximab IFE Interference",
    "RSP": "Confirmed Response PR or Better (IMWG 2016)",
    "VGPRRSP": "Confirmed VGPR or Better (IMWG 2016)",
    "CRRSP": "Confirmed CR or Better (IMWG 2016), as Assessed",
    "CRRSPADJ": "Confirmed CR or Better, Adjusted for Isatuximab IFE Interference",
    "PD": "Confirmed Disease Progression (IMWG 2016)",
    "MRDNEG": "MRD Negative by NGS at 1e-5",
    "MRDNEGCR": "MRD Negative and CR or Better",
}


# ---------------------------------------------------------------- subject table and study days
def _parse_dates(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    txt = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    out = pd.to_datetime(txt.where(txt != ""), format="%Y-%m-%d", errors="coerce")
    return out, ((txt != "") & out.isna()).to_numpy()


def to_dates(values: pd.Series, source: str, field: str) -> pd.Series:
    """ISO 8601 text or datetimes to datetime64 days; a value that is not a full date raises naming the row."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.normalize().astype("datetime64[ns]")
    if isinstance(values.dtype, pd.StringDtype):  # text: each distinct date parsed once
        codes, distinct = pd.factorize(values, use_na_sentinel=False)
        dates, bad = _parse_dates(pd.Series(distinct, dtype=object))
        out, bad = pd.Series(dates.to_numpy()[codes], index=values.index), bad[codes]
    else:
        out, bad = _parse_dates(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise input_error(source, f"index {values.index[i]}", field, values.iloc[i], "an ISO 8601 date YYYY-MM-DD or empty")
    return out.astype("datetime64[ns]")


def prepare_subjects(adsl: pd.DataFrame, source: str = "adsl") -> pd.DataFrame:
    """Validated subject table: dates as datetime64, REFDT (study day 1) and NEWTHDY/DTHDY study days."""
    for col in ("USUBJID", "RANDDT"):
        if col not in adsl.columns:
            raise input_error(source, "(header)", col, list(adsl.columns), f"a column {col}")
    s = adsl.reset_index(drop=True).copy()
    s["USUBJID"] = s["USUBJID"].astype(str)
    dup = s["USUBJID"].duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise input_error(source, f"index {i}", "USUBJID", s["USUBJID"].iloc[i], "one row per subject")
    for col in DATE_COLUMNS:
        s[col] = to_dates(s[col], source, col) if col in s.columns else pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    miss = s["RANDDT"].isna().to_numpy()
    if miss.any():
        i = int(np.flatnonzero(miss)[0])
        raise input_error(source, f"index {i}", "RANDDT", None, "a randomization date for every subject")
    s["REFDT"] = s["TRTSDT"].fillna(s["RANDDT"])
    s["NEWTHDY"] = study_day(s["NEWTHDT"], s["REFDT"])
    s["DTHDY"] = study_day(s["DTHDT"], s["REFDT"])
    return s


def study_day(dates: pd.Series, ref: pd.Series) -> pd.Series:
    """SDTM study day of `dates` relative to day-1 date `ref` (no day 0); missing stays missing."""
    delta = (dates - ref).dt.days
    return pd.Series(np.where(delta >= 0, delta + 1, delta), index=dates.index).where(delta.notna()).astype("Float64").astype("Int64")


def date_of_day(ady: pd.Series, ref: pd.Series) -> pd.Series:
    """Date of SDTM study day `ady` given the day-1 date `ref`."""
    d = pd.to_numeric(ady).astype("Float64")
    offset = d.where(d < 0, d - 1)
    return ref + pd.to_timedelta(offset.astype(float), unit="D")


def prepare_assessments(assessments: pd.DataFrame, subjects: pd.DataFrame, source: str = "assessments") -> pd.DataFrame:
    """Assessments with ADY (from ADT if given) for subjects of the subject table; unknown subjects raise."""
    a = assessments.reset_index(drop=True).copy()
    known = set(subjects["USUBJID"])
    ids = a["USUBJID"].astype(str)
    unknown = ~ids.isin(known)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise input_error(source, f"index {i}", "USUBJID", ids.iloc[i], "a subject of the subject table (adsl)")
    if "ADY" not in a.columns and "ADT" in a.columns:
        adt = to_dates(a["ADT"], source, "ADT")
        ref = ids.map(subjects.set_index("USUBJID")["REFDT"])
        a["ADY"] = study_day(adt, ref)
    return validate_assessments(a, source=source)


# ---------------------------------------------------------------- parameter derivations
def _frame(subjects: pd.DataFrame, usubjid, paramcd: str, avalc, adt, ady=None, anl02fl="") -> pd.DataFrame:
    ids = pd.Series(usubjid, dtype=object).to_numpy()
    keep = [c for c in CARRY if c in subjects.columns]
    pos = pd.Index(subjects["USUBJID"]).get_indexer(ids) if keep and subjects["USUBJID"].is_unique else None
    if pos is not None and (pos >= 0).all():  # the subject table's rows taken by position, one frame built at once
        out = pd.DataFrame({"USUBJID": ids, **{c: subjects[c].array.take(pos) for c in keep}})
    else:
        out = pd.DataFrame({"USUBJID": ids})
        if keep and subjects["USUBJID"].is_unique:  # a subject not in the table gets missing values
            carried = subjects.set_index("USUBJID")[keep].reindex(ids)
            out = pd.concat([out, carried.reset_index(drop=True)], axis=1)
        elif keep:
            out = out.merge(subjects[["USUBJID", *keep]], on="USUBJID", how="left")
    per_assessment = paramcd in ("OVR", "COVR", "OVRADJ", "COVRADJ")
    rest = pd.DataFrame({"PARAMCD": paramcd, "PARAM": PARAMS[paramcd], "PARCAT1": PARCAT1,
                         "AVALC": np.asarray(avalc, dtype=object), "ADT": pd.Series(adt).astype("datetime64[ns]").to_numpy(),
                         "ADY": pd.array(ady if ady is not None else [pd.NA] * len(out), dtype="Int64"),
                         "ANL01FL": "" if per_assessment else "Y", "ANL02FL": anl02fl}, index=out.index)
    return pd.concat([out, rest], axis=1)


def _yn(subjects: pd.DataFrame, paramcd: str, flag: pd.Series, adt: pd.Series) -> pd.DataFrame:
    """A Y/N parameter per subject (AVAL 1/0, RESPFL = AVALC); ADT only when Y."""
    avalc = np.where(flag.to_numpy(dtype=bool), "Y", "N")
    when = adt.where(flag)
    ady = study_day(pd.Series(when.to_numpy(), dtype="datetime64[ns]"), subjects["REFDT"].reset_index(drop=True))
    out = _frame(subjects, subjects["USUBJID"], paramcd, avalc, when, ady.to_numpy())
    out["AVAL"] = np.where(avalc == "Y", 1.0, 0.0)
    out["RESPFL"] = avalc
    return out


def derive_param_ovr(responses: pd.DataFrame, subjects: pd.DataFrame, paramcd: str = "OVR", column: str = "RESP") -> pd.DataFrame:
    """Per-assessment response records (OVR from RESP, COVR from CONFIRMED); ANL02FL up to NEWTHDT."""
    ref = responses["USUBJID"].map(subjects.set_index("USUBJID")["REFDT"])
    newth = responses["USUBJID"].map(subjects.set_index("USUBJID")["NEWTHDY"]).astype("Float64")
    adt = date_of_day(responses["ADY"], ref)
    anl = np.where(newth.isna().to_numpy() | (responses["ADY"].to_numpy() <= newth.fillna(np.inf).to_numpy()), "Y", "")
    out = _frame(subjects, responses["USUBJID"], paramcd, responses[column], adt, responses["ADY"], anl)
    out["AVAL"] = out["AVALC"].map(AVAL_RESPONSE).astype(float)
    out["RESPFL"] = ""
    return out


def derive_param_bor(responses: pd.DataFrame, subjects: pd.DataFrame, paramcd: str = "BOR") -> pd.DataFrame:
    """Best overall response, unconfirmed (admiralonco BOR): the best per-assessment response up to the first PD
    and before further therapy (NE when none); ADT = its first date."""
    order = {"sCR": 7, "CR": 6, "VGPR": 5, "PR": 4, "MR": 3, "SD": 2, "PD": 1, "NE": 0}
    r = responses[["USUBJID", "ADY", "RESP"]].copy()
    newth = r["USUBJID"].map(subjects.set_index("USUBJID")["NEWTHDY"]).astype("Float64").fillna(np.inf).to_numpy()
    r = r[r["ADY"].to_numpy() <= newth]
    first_pd = r[r["RESP"] == "PD"].groupby("USUBJID")["ADY"].min()
    r = r[r["ADY"].to_numpy() <= r["USUBJID"].map(first_pd).fillna(np.inf).to_numpy()]
    r = r.assign(_rank=r["RESP"].map(order).fillna(0)).sort_values(["USUBJID", "_rank", "ADY"], ascending=[True, False, True], kind="stable")
    best = r.drop_duplicates("USUBJID").set_index("USUBJID")
    s = subjects[["USUBJID", "REFDT"]].copy()
    resp = s["USUBJID"].map(best["RESP"])
    if resp.dtype.kind == "f":  # nobody has a response yet: all missing, held as float (filling it with text is deprecated)
        resp = resp.astype(object)
    resp = resp.fillna("NE")
    dy = s["USUBJID"].map(best["ADY"])
    out = _frame(subjects, s["USUBJID"], paramcd, resp, date_of_day(dy, s["REFDT"]), dy)
    out["AVAL"] = resp.map(AVAL_RESPONSE).astype(float).to_numpy()
    out["RESPFL"] = ""  # the response rate is RSP (confirmed); an unconfirmed one would read as the ORR
    return out


def derive_param_cbor(summary: pd.DataFrame, subjects: pd.DataFrame, paramcd: str = "CBOR") -> pd.DataFrame:
    """Best confirmed overall response per subject; ADT = first date of the best response."""
    s = subjects[["USUBJID", "REFDT"]].merge(summary, on="USUBJID", how="left")
    bor = s["BOR"].fillna("NE")
    out = _frame(subjects, s["USUBJID"], paramcd, bor, date_of_day(s["BEST_RESP_DY"], s["REFDT"]), s["BEST_RESP_DY"])
    out["AVAL"] = bor.map(AVAL_RESPONSE).astype(float).to_numpy()
    out["RESPFL"] = np.where(bor.isin(RESPONDERS), "Y", "N")
    return out


def _summary_on_subjects(summary: pd.DataFrame, subjects: pd.DataFrame) -> pd.DataFrame:
    s = subjects[["USUBJID", "REFDT"]].merge(summary, on="USUBJID", how="left")
    s["BOR"] = s["BOR"].fillna("NE")
    return s


def derive_param_rsp(summary: pd.DataFrame, subjects: pd.DataFrame) -> pd.DataFrame:
    """RSP: confirmed PR or better; ADT = first response date."""
    s = _summary_on_subjects(summary, subjects)
    return _yn(subjects, "RSP", s["BOR"].isin(RESPONDERS), date_of_day(s["FIRST_RESP_DY"], s["REFDT"]))


def derive_param_vgprrsp(summary: pd.DataFrame, responses: pd.DataFrame, subjects: pd.DataFrame) -> pd.DataFrame:
    """VGPRRSP: confirmed VGPR or better; ADT = first date of a confirmed VGPR or better."""
    return _level_or_better(summary, responses, subjects, "VGPRRSP", ("sCR", "CR", "VGPR"))


def derive_param_crrsp(summary: pd.DataFrame, responses: pd.DataFrame, subjects: pd.DataFrame, paramcd: str = "CRRSP") -> pd.DataFrame:
    """CRRSP / CRRSPADJ: confirmed CR or better; ADT = first date of a confirmed CR or better."""
    return _level_or_better(summary, responses, subjects, paramcd, ("sCR", "CR"))


def _level_or_better(summary, responses, subjects, paramcd, levels) -> pd.DataFrame:
    s = _summary_on_subjects(summary, subjects)
    flag = s["BOR"].isin(levels)
    r = responses[responses["CONFIRMED"].isin(levels)]
    first = r.groupby("USUBJID")["ADY"].min()
    return _yn(subjects, paramcd, flag, date_of_day(s["USUBJID"].map(first), s["REFDT"]))


def derive_param_pd(summary: pd.DataFrame, subjects: pd.DataFrame) -> pd.DataFrame:
    """PD: confirmed IMWG progression; ADT = date of the first confirming assessment."""
    s = _summary_on_subjects(summary, subjects)
    return _yn(subjects, "PD", s["PD_DY"].notna(), date_of_day(s["PD_DY"], s["REFDT"]))


def derive_param_mrdneg(summary: pd.DataFrame, mrd_first_neg_dy: pd.Series, subjects: pd.DataFrame) -> pd.DataFrame:
    """MRDNEG: MRD negative after day 1 before further therapy; ADT = first negative result."""
    s = _summary_on_subjects(summary, subjects)
    flag = s["MRDNEG"].fillna("N") == "Y"
    return _yn(subjects, "MRDNEG", flag, date_of_day(s["USUBJID"].map(mrd_first_neg_dy), s["REFDT"]))


def derive_param_mrdnegcr(summary: pd.DataFrame, subjects: pd.DataFrame) -> pd.DataFrame:
    """MRDNEGCR: MRD negative and a confirmed CR or better (IKEMA's "MRD-negative CR")."""
    s = _summary_on_subjects(summary, subjects)
    flag = (s["MRDNEG"].fillna("N") == "Y") & s["BOR"].isin(("sCR", "CR"))
    return _yn(subjects, "MRDNEGCR", flag, pd.Series(pd.NaT, index=s.index))


def first_mrd_negative_day(assessments: pd.DataFrame, subjects: pd.DataFrame) -> pd.Series:
    """First post-baseline day with MRD NEGATIVE on or before further therapy, by USUBJID."""
    a = assessments[(assessments["PARAM"] == "MRD") & (assessments["AVALC"] == "NEGATIVE") & (assessments["ADY"] > 1)]
    newth = a["USUBJID"].map(subjects.set_index("USUBJID")["NEWTHDY"]).astype("Float64").fillna(np.inf)
    a = a[a["ADY"].to_numpy() <= newth.to_numpy()]
    return a.groupby("USUBJID")["ADY"].min()


def _finish(parts: list[pd.DataFrame]) -> pd.DataFrame:
    order = list(PARAMS)
    out = pd.concat(parts, ignore_index=True)
    out["_p"] = out["PARAMCD"].map({p: k for k, p in enumerate(order)})
    out = out.sort_values(["USUBJID", "_p", "ADY"], kind="stable", na_position="first").drop(columns="_p")
    cols = [c for c in CARRY if c in out.columns and c != "STUDYID"]
    lead = (["STUDYID"] if "STUDYID" in out.columns else []) + ["USUBJID", *cols]
    rest = ["PARAMCD", "PARAM", "PARCAT1", "AVALC", "AVAL", "ADT", "ADY", "RESPFL", "ANL01FL", "ANL02FL"]
    return finish_bds(out[lead + rest].reset_index(drop=True), "ADRS")


# ---------------------------------------------------------------- pipelines
def derive_adrs(adsl: pd.DataFrame, assessments: pd.DataFrame, criteria: Criteria | None = None,
                adjusted: bool = True) -> pd.DataFrame:
    """ADRS from the subject table and raw IMWG assessments (lab, marrow, imaging, MRD).

    `criteria` None = `ikema.response.default_criteria()` (IMWG 2016 with the protocol's measurable disease).
    `adjusted` False leaves out the parameters adjusted for isatuximab interference (OVRADJ, COVRADJ, CBORADJ,
    CRRSPADJ): a twin replicate's cut that reads none of them.
    """
    subjects = prepare_subjects(adsl)
    a = prepare_assessments(assessments, subjects)
    days = subjects[["USUBJID", "NEWTHDY", "DTHDY"]]
    c = criteria if criteria is not None else default_criteria()
    ev = evaluate(a, c, subjects=days, interference="assessed", validate=False)
    adj = evaluate(a, c, subjects=days, interference="adjusted", validate=False) if adjusted else None
    return _finish(
        [
            derive_param_ovr(ev.responses, subjects, "OVR", "RESP"),
            derive_param_ovr(ev.responses, subjects, "COVR", "CONFIRMED"),
            *([derive_param_ovr(adj.responses, subjects, "OVRADJ", "RESP"),
               derive_param_ovr(adj.responses, subjects, "COVRADJ", "CONFIRMED")] if adj else []),
            derive_param_bor(ev.responses, subjects),
            derive_param_cbor(ev.summary, subjects, "CBOR"),
            *([derive_param_cbor(adj.summary, subjects, "CBORADJ")] if adj else []),
            derive_param_rsp(ev.summary, subjects),
            derive_param_vgprrsp(ev.summary, ev.responses, subjects),
            derive_param_crrsp(ev.summary, ev.responses, subjects, "CRRSP"),
            *([derive_param_crrsp(adj.summary, adj.responses, subjects, "CRRSPADJ")] if adj else []),
            derive_param_pd(ev.summary, subjects),
            derive_param_mrdneg(ev.summary, first_mrd_negative_day(a, subjects), subjects),
            derive_param_mrdnegcr(ev.summary, subjects),
        ]
    )


def derive_adrs_from_labels(adsl: pd.DataFrame, responses: pd.DataFrame) -> pd.DataFrame:
    """ADRS from already-assessed overall responses: USUBJID, ADT (or ADY), RESP, optional PDSRC.

    No lab values means no interference adjustment and no MRD: OVRADJ/COVRADJ/CBORADJ/CRRSPADJ/MRD
    parameters are not derived.
    """
    subjects = prepare_subjects(adsl)
    r = responses.reset_index(drop=True).copy()
    ids = r["USUBJID"].astype(str)
    unknown = ~ids.isin(set(subjects["USUBJID"]))
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise input_error("responses", f"index {i}", "USUBJID", ids.iloc[i], "a subject of the subject table (adsl)")
    if "ADY" not in r.columns:
        adt = to_dates(r["ADT"], "responses", "ADT")
        r["ADY"] = study_day(adt, ids.map(subjects.set_index("USUBJID")["REFDT"]))
    resp, summary = confirm_labels(r, subjects[["USUBJID", "NEWTHDY", "DTHDY"]])
    return _finish(
        [
            derive_param_ovr(resp, subjects, "OVR", "RESP"),
            derive_param_ovr(resp, subjects, "COVR", "CONFIRMED"),
            derive_param_bor(resp, subjects),
            derive_param_cbor(summary, subjects, "CBOR"),
            derive_param_rsp(summary, subjects),
            derive_param_vgprrsp(summary, resp, subjects),
            derive_param_crrsp(summary, resp, subjects, "CRRSP"),
            derive_param_pd(summary, subjects),
        ]
    )


def rs_to_responses(rs: pd.DataFrame, supprs: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SDTM RS (RSTESTCD OVRLRESP, RSCAT IMWG) + SUPPRS to (responses, per-subject NEWTHDT/DTHPD table).

    Partial RSDTC dates (YYYY-MM) are imputed to the last day of the month (admiralonco vignette).
    SUPPRS: PDIFL=Y marks PD by imaging (PDSRC IMAGING, no confirmation); DTHPDFL=Y (death due to PD)
    confirms the PD at that assessment (PDSRC DEATH); NACTDT gives the new-therapy date (NEWTHDT).
    """
    r = rs[(rs["RSTESTCD"] == "OVRLRESP")].copy()
    if "RSCAT" in r.columns:
        r = r[r["RSCAT"].astype(str).str.upper() == "IMWG"]
    r["ADT"] = _impute_last(r["RSDTC"])
    r["RESP"] = r["RSSTRESC"].astype(str)
    r["PDSRC"] = ""
    flags = pd.DataFrame(columns=["USUBJID", "RSSEQ", "QNAM", "QVAL"])
    if supprs is not None and len(supprs):
        flags = supprs.rename(columns={"IDVARVAL": "RSSEQ"})[["USUBJID", "RSSEQ", "QNAM", "QVAL"]].copy()
        flags["RSSEQ"] = pd.to_numeric(flags["RSSEQ"])
    wide = flags.pivot_table(index=["USUBJID", "RSSEQ"], columns="QNAM", values="QVAL", aggfunc="first")
    r = r.merge(wide.reset_index(), on=["USUBJID", "RSSEQ"], how="left")
    if "PDIFL" in r.columns:
        r.loc[(r["PDIFL"] == "Y") & (r["RESP"] == "PD"), "PDSRC"] = "IMAGING"
    if "DTHPDFL" in r.columns:
        r.loc[(r["DTHPDFL"] == "Y") & (r["RESP"] == "PD"), "PDSRC"] = "DEATH"
    newth = (
        pd.to_datetime(r["NACTDT"], format="%Y-%m-%d", errors="coerce") if "NACTDT" in r.columns
        else pd.Series(pd.NaT, index=r.index, dtype="datetime64[ns]")
    )
    per_subject = (
        pd.DataFrame({"USUBJID": r["USUBJID"], "NEWTHDT": newth.astype("datetime64[ns]")})
        .groupby("USUBJID", as_index=False)
        .min()
    )
    return r[["USUBJID", "ADT", "RESP", "PDSRC"]].reset_index(drop=True), per_subject


def _impute_last(dtc: pd.Series) -> pd.Series:
    """ISO dates; YYYY-MM partial dates to the last day of the month, YYYY to 31 December."""
    txt = dtc.astype(str).str.strip()
    full = pd.to_datetime(txt.where(txt.str.len() >= 10).str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    month = pd.to_datetime(txt.where(txt.str.len() == 7), format="%Y-%m", errors="coerce") + pd.offsets.MonthEnd(0)
    year = pd.to_datetime(txt.where(txt.str.len() == 4), format="%Y", errors="coerce") + pd.offsets.YearEnd(0)
    return full.fillna(month).fillna(year).astype("datetime64[ns]")
