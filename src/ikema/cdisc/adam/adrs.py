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

from typing import NamedTuple

import numpy as np
import pandas as pd

from ikema.cdisc.adam.structure import finish_bds, subject_rows
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
    delta = (dates - ref).dt.days.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(delta)
    days = np.where(missing, 0, np.where(delta >= 0, delta + 1, delta)).astype(np.int64)
    return pd.Series(pd.arrays.IntegerArray(days, missing), index=dates.index)


def date_of_day(ady: pd.Series, ref: pd.Series) -> pd.Series:
    """Date of SDTM study day `ady` given the day-1 date `ref`."""
    d = pd.to_numeric(ady).astype("Float64")
    offset = d.where(d < 0, d - 1)
    return ref + pd.to_timedelta(offset.astype(float), unit="D")


def prepare_assessments(assessments: pd.DataFrame, subjects: pd.DataFrame, source: str = "assessments") -> pd.DataFrame:
    """Assessments with ADY (from ADT if given) for subjects of the subject table; unknown subjects raise."""
    a = assessments.reset_index(drop=True).copy()
    ids = a["USUBJID"].astype(str)
    row = subject_rows(ids, subjects["USUBJID"])
    unknown = row < 0
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise input_error(source, f"index {i}", "USUBJID", ids.iloc[i], "a subject of the subject table (adsl)")
    if "ADY" not in a.columns and "ADT" in a.columns:
        adt = to_dates(a["ADT"], source, "ADT")
        ref = pd.Series(subjects["REFDT"].to_numpy(dtype="datetime64[ns]")[row], index=a.index)
        a["ADY"] = study_day(adt, ref)
    return validate_assessments(a, source=source)


# ---------------------------------------------------------------- parameter derivations
# Each derivation returns a `Part` (the records of one parameter as arrays, subjects by position in the subject
# table); `_finish` builds ADRS from all of them at once: one frame, one sort (a frame per parameter, its subject
# columns looked up and concatenated, cost more than the derivations).
class Part(NamedTuple):
    """Records of one parameter: subject row `pos` in the subject table, AVALC, AVAL, study day `ady` (float, NaN =
    none; ADT is its date), RESPFL, ANL02FL (arrays or one value for every record)."""

    paramcd: str
    pos: np.ndarray
    avalc: np.ndarray
    aval: np.ndarray
    ady: np.ndarray
    respfl: np.ndarray | str
    anl02fl: np.ndarray | str = ""


class _Table:
    """The prepared subject table (`prepare_subjects`): its subject identifiers (rows found by id), further-therapy
    days as numbers, every row."""

    def __init__(self, subjects: pd.DataFrame) -> None:
        self.subjects = subjects
        self.index = pd.Index(subjects["USUBJID"].to_numpy(dtype=object))
        self.newth = _floats(subjects["NEWTHDY"])
        self.all = np.arange(len(subjects))

    def pos(self, ids: pd.Series) -> np.ndarray:
        """Row of each identifier in the subject table (-1: not a subject of it)."""
        return subject_rows(ids, self.subjects["USUBJID"])

    def at(self, values: np.ndarray, pos: np.ndarray, fill: object) -> np.ndarray:
        """`values` (one per subject) at subject rows `pos`; `fill` where a row is -1."""
        out = values[pos]
        if len(pos) and (pos < 0).any():
            out = np.where(pos < 0, fill, out)
        return out

    def aligned(self, summary: pd.DataFrame) -> pd.DataFrame:
        """The per-subject summary in the subject table's rows (missing where a subject has none), BOR NE when none."""
        rows = pd.Index(summary["USUBJID"].to_numpy(dtype=object)).get_indexer(self.index)
        s = summary.drop(columns="USUBJID").take(np.where(rows < 0, 0, rows)).reset_index(drop=True) if len(summary) else \
            pd.DataFrame(index=range(len(rows)), columns=summary.columns.drop("USUBJID"), dtype=object)
        if (rows < 0).any():
            s = s.astype(object).where(pd.Series(rows >= 0), None)
        s["BOR"] = s["BOR"].astype(object).where(s["BOR"].notna(), "NE")
        return s


def _floats(values: pd.Series) -> np.ndarray:
    """Numbers (days) as float, NaN where missing."""
    return pd.to_numeric(values.astype(object).where(values.notna(), np.nan), errors="coerce").to_numpy(dtype=float) \
        if values.dtype == object else values.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _aval(avalc: np.ndarray) -> np.ndarray:
    """AVAL of response labels (AVAL_RESPONSE; NaN for any other), each distinct label looked up once."""
    codes, distinct = pd.factorize(avalc, use_na_sentinel=False)
    return np.array([AVAL_RESPONSE.get(d, np.nan) for d in distinct], dtype=float)[codes] if len(avalc) else np.zeros(0)


def _labels(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype=object)


def _ovr(responses: pd.DataFrame, t: _Table, paramcd: str = "OVR", column: str = "RESP") -> Part:
    """Per-assessment response records (OVR from RESP, COVR from CONFIRMED); ANL02FL up to NEWTHDT."""
    pos = t.pos(responses["USUBJID"])
    ady = _floats(responses["ADY"])
    newth = t.at(t.newth, pos, np.nan)
    anl = np.where(np.isnan(newth) | (ady <= np.where(np.isnan(newth), np.inf, newth)), "Y", "").astype(object)
    avalc = _labels(responses[column])
    return Part(paramcd, pos, avalc, _aval(avalc), ady, "", anl)


def _bor(responses: pd.DataFrame, t: _Table, paramcd: str = "BOR") -> Part:
    """Best overall response, unconfirmed (admiralonco BOR): the best per-assessment response up to the first PD
    and before further therapy (NE when none); ADT = its first date."""
    order = {"sCR": 7, "CR": 6, "VGPR": 5, "PR": 4, "MR": 3, "SD": 2, "PD": 1, "NE": 0}
    pos = t.pos(responses["USUBJID"])
    ady, resp = _floats(responses["ADY"]), _labels(responses["RESP"])
    newth = t.at(t.newth, pos, np.nan)
    keep = ady <= np.where(np.isnan(newth), np.inf, newth)
    pos, ady, resp = pos[keep], ady[keep], resp[keep]
    first_pd = np.full(len(t.all) + 1, np.inf)  # (the last slot: a subject not in the table)
    is_pd = resp == "PD"
    np.fmin.at(first_pd, pos[is_pd], ady[is_pd])
    keep = ady <= first_pd[pos]
    pos, ady, resp = pos[keep], ady[keep], resp[keep]
    codes, distinct = pd.factorize(resp, use_na_sentinel=False)
    rank = np.array([order.get(d, 0) for d in distinct], dtype=float)[codes] if len(resp) else np.zeros(0)
    o = np.lexsort((ady, -rank, pos))  # per subject: the best response, then its first day (stable: ties as given)
    first = o[np.r_[True, pos[o][1:] != pos[o][:-1]]] if len(o) else o
    first = first[pos[first] >= 0]
    best = np.full(len(t.all), "NE", dtype=object)
    dy = np.full(len(t.all), np.nan)
    best[pos[first]] = np.where(pd.isna(resp[first]), "NE", resp[first])
    dy[pos[first]] = ady[first]
    # the response rate is RSP (confirmed); an unconfirmed one would read as the ORR
    return Part(paramcd, t.all, best, _aval(best), dy, "")


def derive_param_bor(responses: pd.DataFrame, subjects: pd.DataFrame, paramcd: str = "BOR") -> pd.DataFrame:
    """BOR records (see `_bor`) of a prepared subject table (`prepare_subjects`), as a frame."""
    return _frame([_bor(responses, _Table(subjects), paramcd)], subjects)


def _cbor(s: pd.DataFrame, t: _Table, paramcd: str = "CBOR") -> Part:
    """Best confirmed overall response per subject (`s`: the aligned summary); ADT = first date of the best response."""
    bor = s["BOR"].to_numpy(dtype=object)
    return Part(paramcd, t.all, bor, _aval(bor), _floats(s["BEST_RESP_DY"]), np.where(np.isin(bor, RESPONDERS), "Y", "N"))


def _yn(t: _Table, paramcd: str, flag: np.ndarray, dy: np.ndarray) -> Part:
    """A Y/N parameter per subject (AVAL 1/0, RESPFL = AVALC); ADT (the date of study day `dy`) only when Y."""
    avalc = np.where(flag, "Y", "N").astype(object)
    dy = np.where(flag, dy, np.nan)
    return Part(paramcd, t.all, avalc, flag.astype(float), np.where(dy == 0, -1.0, dy), avalc)  # (day 0: the day before day 1)


def _rsp(s: pd.DataFrame, t: _Table) -> Part:
    """RSP: confirmed PR or better; ADT = first response date."""
    return _yn(t, "RSP", np.isin(s["BOR"].to_numpy(dtype=object), RESPONDERS), _floats(s["FIRST_RESP_DY"]))


def _level_or_better(s: pd.DataFrame, responses: pd.DataFrame, t: _Table, paramcd: str, levels: tuple[str, ...]) -> Part:
    """VGPRRSP (sCR, CR, VGPR), CRRSP / CRRSPADJ (sCR, CR): confirmed level or better; ADT = first date of a
    confirmed response of that level or better."""
    r = np.isin(_labels(responses["CONFIRMED"]), levels)
    pos, ady = t.pos(responses["USUBJID"])[r], _floats(responses["ADY"])[r]
    first = np.full(len(t.all) + 1, np.nan)
    np.fmin.at(first, pos, ady)
    return _yn(t, paramcd, np.isin(s["BOR"].to_numpy(dtype=object), levels), first[:-1])


def _pd(s: pd.DataFrame, t: _Table) -> Part:
    """PD: confirmed IMWG progression; ADT = date of the first confirming assessment."""
    dy = _floats(s["PD_DY"])
    return _yn(t, "PD", ~np.isnan(dy), dy)


def _mrdneg(s: pd.DataFrame, mrd_first_neg_dy: pd.Series, t: _Table) -> Part:
    """MRDNEG: MRD negative after day 1 before further therapy; ADT = first negative result."""
    dy = np.full(len(t.all), np.nan)
    rows = t.index.get_indexer(mrd_first_neg_dy.index.to_numpy(dtype=object))
    dy[rows[rows >= 0]] = mrd_first_neg_dy.to_numpy(dtype=float)[rows >= 0]
    return _yn(t, "MRDNEG", s["MRDNEG"].to_numpy(dtype=object) == "Y", dy)


def _mrdnegcr(s: pd.DataFrame, t: _Table) -> Part:
    """MRDNEGCR: MRD negative and a confirmed CR or better (IKEMA's "MRD-negative CR")."""
    flag = (s["MRDNEG"].to_numpy(dtype=object) == "Y") & np.isin(s["BOR"].to_numpy(dtype=object), ("sCR", "CR"))
    return _yn(t, "MRDNEGCR", flag, np.full(len(t.all), np.nan))


def first_mrd_negative_day(assessments: pd.DataFrame, subjects: pd.DataFrame) -> pd.Series:
    """First post-baseline day with MRD NEGATIVE on or before further therapy, by USUBJID."""
    a = assessments[(assessments["PARAM"] == "MRD") & (assessments["AVALC"] == "NEGATIVE") & (assessments["ADY"] > 1)]
    newth = a["USUBJID"].map(subjects.set_index("USUBJID")["NEWTHDY"]).astype("Float64").fillna(np.inf)
    a = a[a["ADY"].to_numpy() <= newth.to_numpy()]
    return a.groupby("USUBJID")["ADY"].min()


def _frame(parts: list[Part], subjects: pd.DataFrame, order: np.ndarray | None = None) -> pd.DataFrame:
    """The records of `parts` (in `order` of their concatenation) with the subject table's carried columns."""
    pos = np.concatenate([p.pos for p in parts])
    n = [len(p.pos) for p in parts]
    col = lambda f: np.concatenate([np.broadcast_to(np.asarray(getattr(p, f), dtype=object), k) for p, k in zip(parts, n)])  # noqa: E731
    params = np.repeat(np.arange(len(parts)), n)
    avalc, aval, ady = col("avalc"), np.concatenate([p.aval for p in parts]), np.concatenate([p.ady for p in parts])
    respfl, anl02fl = col("respfl"), col("anl02fl")
    if order is not None:
        pos, params, avalc, aval, ady, respfl, anl02fl = (x[order] for x in (pos, params, avalc, aval, ady, respfl, anl02fl))
    t = subjects["USUBJID"].to_numpy(dtype=object)
    keep = [c for c in CARRY if c in subjects.columns]
    off = np.where(np.isnan(ady), np.nan, np.where(ady < 0, ady, ady - 1))  # date_of_day: no day 0
    ref = subjects["REFDT"].to_numpy(dtype="datetime64[ns]")[np.where(pos >= 0, pos, 0)] if len(t) else \
        np.full(len(pos), np.datetime64("NaT"), dtype="datetime64[ns]")
    adt = np.full(len(pos), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = ~np.isnan(off) & (pos >= 0)
    adt[ok] = ref[ok] + (off[ok].astype(np.int64) * np.int64(86_400_000_000_000)).astype("timedelta64[ns]")
    codes = np.array([p.paramcd for p in parts], dtype=object)
    missing = np.isnan(ady)
    return pd.DataFrame({
        "USUBJID": _taken(np.r_[t, np.array([None], dtype=object)], np.where(pos >= 0, pos, len(t))),
        **{c: subjects[c].array.take(pos, allow_fill=True) for c in keep},
        "PARAMCD": _taken(codes, params), "PARAM": _taken(np.array([PARAMS[c] for c in codes], dtype=object), params),
        "PARCAT1": PARCAT1, "AVALC": avalc, "ADT": adt,
        "ADY": pd.arrays.IntegerArray(np.where(missing, 0, ady).astype(np.int64), missing),
        "ANL01FL": _taken(np.where(np.isin(codes, ("OVR", "COVR", "OVRADJ", "COVRADJ")), "", "Y").astype(object), params),
        "ANL02FL": anl02fl, "AVAL": aval, "RESPFL": respfl})


def _taken(distinct: np.ndarray, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """`distinct[codes]` as a column: the few distinct values made a column (text held as pandas holds it) once,
    then taken by code (not every record's Python string converted)."""
    return pd.Series(distinct, dtype=object).infer_objects().array.take(codes) if len(distinct) else \
        pd.Series(distinct[codes], dtype=object).array


def _finish(parts: list[Part], t: _Table) -> pd.DataFrame:
    """ADRS from the parameters' records: by subject, parameter (PARAMS order) and day (none first)."""
    subjects = t.subjects
    order = list(PARAMS)
    pos = np.concatenate([p.pos for p in parts])
    p = np.repeat([order.index(x.paramcd) for x in parts], [len(x.pos) for x in parts])
    ady = np.concatenate([x.ady for x in parts])
    rank = np.empty(len(t.all) + 1, dtype=np.int64)  # each subject's place in USUBJID order (-1: last slot)
    rank[:-1] = np.argsort(np.argsort(t.index.to_numpy(dtype=object), kind="stable"), kind="stable")
    rank[-1] = -1
    out = _frame(parts, subjects, np.lexsort((np.where(np.isnan(ady), -np.inf, ady), p, rank[pos])))
    cols = [c for c in CARRY if c in out.columns and c != "STUDYID"]
    lead = (["STUDYID"] if "STUDYID" in out.columns else []) + ["USUBJID", *cols]
    rest = ["PARAMCD", "PARAM", "PARCAT1", "AVALC", "AVAL", "ADT", "ADY", "RESPFL", "ANL01FL", "ANL02FL"]
    return finish_bds(out[lead + rest], "ADRS")


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
    t = _Table(subjects)
    s, sa = t.aligned(ev.summary), t.aligned(adj.summary) if adj else None
    return _finish(
        [
            _ovr(ev.responses, t, "OVR", "RESP"),
            _ovr(ev.responses, t, "COVR", "CONFIRMED"),
            *([_ovr(adj.responses, t, "OVRADJ", "RESP"), _ovr(adj.responses, t, "COVRADJ", "CONFIRMED")] if adj else []),
            _bor(ev.responses, t),
            _cbor(s, t, "CBOR"),
            *([_cbor(sa, t, "CBORADJ")] if adj else []),
            _rsp(s, t),
            _level_or_better(s, ev.responses, t, "VGPRRSP", ("sCR", "CR", "VGPR")),
            _level_or_better(s, ev.responses, t, "CRRSP", ("sCR", "CR")),
            *([_level_or_better(sa, adj.responses, t, "CRRSPADJ", ("sCR", "CR"))] if adj else []),
            _pd(s, t),
            _mrdneg(s, first_mrd_negative_day(a, subjects), t),
            _mrdnegcr(s, t),
        ],
        t,
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
    t = _Table(subjects)
    s = t.aligned(summary)
    return _finish(
        [
            _ovr(resp, t, "OVR", "RESP"),
            _ovr(resp, t, "COVR", "CONFIRMED"),
            _bor(resp, t),
            _cbor(s, t, "CBOR"),
            _rsp(s, t),
            _level_or_better(s, resp, t, "VGPRRSP", ("sCR", "CR", "VGPR")),
            _level_or_better(s, resp, t, "CRRSP", ("sCR", "CR")),
            _pd(s, t),
        ],
        t,
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
