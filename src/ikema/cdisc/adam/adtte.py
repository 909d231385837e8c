"""ADTTE: time-to-event endpoints of IKEMA from ADSL and ADRS (PFS, TTP, OS, PFS2, TTNT, DOR, TTFR, TTBR).

Admiral style: each censoring/event rule is one small named function returning the subjects it applies to
and their date; a parameter is an ordered list of rules and the first rule that applies to a subject
decides its record (`apply_rules`). EVNTDESC names the rule's outcome, CNSDTDSC (censored records) says
which date the censoring uses; RULE carries the rule's name.

Conventions (decisions):
  AVAL      days, ADT - STARTDT + 1 (admiral `derive_param_tte`, checked against pharmaverseadam ADTTE:
            OS of 01-701-1015 from 2014-01-02 to 2014-07-02 is 182). Months = AVAL / 30.4375 for display.
  CNSR      0 event, 1 censored.
  Adequate assessment: a post-baseline ADRS OVR record whose response is not NE.
  Dates of confirmed progression/response: the first of the confirming assessments (ADRS PD/RSP ADT).
  Further therapy: an assessment on the day further therapy starts counts as before it (sample taken
            before the first dose), the same as in ikema.response.
  max_gap_days: an event more than this many days after the last adequate assessment before it (or
            randomization) comes after two or more missed assessments: 2 x the protocol's assessment
            interval (disease assessment every cycle, 28 days: 56 days, IKEMA's FDA sensitivity rule
            "> 8 weeks after the last valid assessment").
  profile   "FDA" (default; FDA 2018 PFS censoring table) or "ITT" (treatment-policy: PD/death count
            regardless of further therapy or missed assessments; the EMA-preferred primary).

PARAMCD  rules in order (first that applies wins)
  PFS   new therapy before event (FDA) > event after missed assessments (FDA) > progression > death >
        no adequate assessment (censored at randomization) > last adequate assessment (censored)
  TTP   as PFS with death not an event: death without progression is censored at the last adequate
        assessment (FDA: "deaths before progression censored")
  OS    death > alive at last contact (LSTALVDT; randomization if missing or earlier, as admiral, which
        censors at the latest censoring date: reproduces pharmaverseadam ADTTE OS for all 254 subjects)
  PFS2  second progression (PD2DT, on further therapy) or death, whichever first > censored at last
        contact. Subjects without further therapy can only have death as the event (decision).
  TTNT  start of further anti-myeloma therapy (NEWTHDT) or death, whichever first > censored at last
        contact (decision: death counts, as in PFS2; IKEMA published TTNT at the final OS analysis [14])
  DOR   responders only (RSP = Y); from first response; PD or death is the event (decision: death counts),
        censoring as PFS
  TTFR  from randomization to the first confirmed PR or better; non-responders censored at their last
        adequate assessment on or before further therapy and progression (randomization if none). IKEMA
        summarised responders only: filter CNSR == 0.
  TTBR  as TTFR, to the first date of the best confirmed response (responders only have events)

Input: `adsl` as in ikema.cdisc.adam.adrs (USUBJID, RANDDT, optional TRTSDT, DTHDT, LSTALVDT, NEWTHDT,
PD2DT, STUDYID, TRT01P, STRAT1R, STRAT2R) and `adrs` from `derive_adrs` / `derive_adrs_from_labels`
(parameters OVR, PD, RSP, CBOR are used). Output columns: [STUDYID,] USUBJID, [TRT01P, STRAT1R,
STRAT2R,] PARAMCD, PARAM, STARTDT, ADT, AVAL, CNSR, EVNTDESC, CNSDTDSC, SRCDOM, SRCVAR, RULE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import pandas as pd

from ikema.cdisc.adam.adrs import CARRY, prepare_subjects
from ikema.cdisc.adam.structure import derive_srcseq, finish_bds, subject_rows
from ikema.errors import ProtocolError, input_error

Profile = Literal["FDA", "ITT"]

PARAMS = {
    "PFS": "Progression-Free Survival (IMWG 2016) (days)",
    "TTP": "Time to Progression (IMWG 2016) (days)",
    "OS": "Overall Survival (days)",
    "PFS2": "Progression-Free Survival on Next Line of Therapy (PFS2) (days)",
    "TTNT": "Time to Next Treatment (days)",
    "DOR": "Duration of Response (days)",
    "TTFR": "Time to First Response (days)",
    "TTBR": "Time to Best Response (days)",
}


@dataclass(frozen=True)
class Rule:
    """One event or censoring rule: which subjects it applies to and the date it sets."""

    name: str
    cnsr: int
    evntdesc: str
    cnsdtdsc: str
    srcdom: str
    srcvar: str
    applies: Callable[[pd.DataFrame], pd.Series]
    date: Callable[[pd.DataFrame], pd.Series]


# ---------------------------------------------------------------- the subject timeline
def subject_timeline(
    adsl: pd.DataFrame, adrs: pd.DataFrame, max_gap_days: int, cutoff: object | None = None
) -> pd.DataFrame:
    """One row per subject with every date the rules need (see module docstring for the inputs)."""
    s = prepare_subjects(adsl)
    for col in ("PARAMCD", "USUBJID", "AVALC", "ADT"):
        if col not in adrs.columns:
            raise input_error("adrs", "(header)", col, list(adrs.columns), "ADRS columns USUBJID, PARAMCD, AVALC, ADT")
    cut = pd.Timestamp(cutoff) if cutoff is not None else None
    # ADRS as arrays: each record's subject row in `s`, date, parameter, value (one selection per date read)
    pos = subject_rows(adrs["USUBJID"], s["USUBJID"])
    adt = pd.to_datetime(adrs["ADT"]).to_numpy(dtype="datetime64[ns]")
    paramcd, avalc = adrs["PARAMCD"].to_numpy(dtype=object), adrs["AVALC"]
    kept = pos >= 0
    if cut is not None:
        kept &= np.isnat(adt) | (adt <= cut.to_datetime64())
        for col in ("DTHDT", "NEWTHDT", "PD2DT"):
            s[col] = s[col].where(s[col] <= cut)
        s["LSTALVDT"] = s["LSTALVDT"].where(s["LSTALVDT"] <= cut, cut)

    bad = s["PD2DT"].notna() & (s["NEWTHDT"].isna() | (s["PD2DT"] < s["NEWTHDT"]))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise input_error("adsl", f"subject {s['USUBJID'].iloc[i]}", "PD2DT", str(s["PD2DT"].iloc[i].date()),
                          "a second progression on or after the start of further therapy (NEWTHDT)")

    def first_date(code: str, yes: tuple[str, ...]) -> np.ndarray:
        m = kept & (paramcd == code) & avalc.isin(yes).to_numpy(dtype=bool) & ~np.isnat(adt)
        first = np.full(len(s), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, pos[m], adt[m].view(np.int64))
        return np.where(first == np.iinfo(np.int64).max, np.iinfo(np.int64).min, first).view("datetime64[ns]")

    d = s.copy()
    d["PDDT"] = first_date("PD", ("Y",))
    d["RSPDT"] = first_date("RSP", ("Y",))
    cbor = np.flatnonzero(kept & (paramcd == "CBOR"))
    bor, best = np.full(len(s), "NE", dtype=object), np.full(len(s), np.datetime64("NaT"), dtype="datetime64[ns]")
    bor[pos[cbor]], best[pos[cbor]] = avalc.to_numpy(dtype=object)[cbor], adt[cbor]  # (one CBOR record per subject)
    d["BOR"] = pd.Series(bor, index=d.index).where(pd.notna(bor), "NE")
    d["BESTDT"] = pd.Series(best, index=d.index).where(d["BOR"].isin(("sCR", "CR", "VGPR", "PR")))
    ovr = kept & (paramcd == "OVR") & (avalc != "NE").to_numpy(dtype=bool) & ~np.isnat(adt)
    ovr = (pos[ovr], adt[ovr])
    d["EVDT"] = d[["PDDT", "DTHDT"]].min(axis=1)
    d["LADT"] = last_adequate(ovr, d, None)
    d["LADT_NT"] = last_adequate(ovr, d, d["NEWTHDT"], inclusive=True)
    d["LADT_EV"] = last_adequate(ovr, d, d["EVDT"], inclusive=False)
    d["LADT_PD"] = last_adequate(ovr, d, d["PDDT"], inclusive=False)
    d["LADT_RESP"] = last_adequate(ovr, d, d[["NEWTHDT", "PDDT"]].min(axis=1), inclusive=True)
    d["MAXGAP"] = pd.Timedelta(days=int(max_gap_days))
    return d


def last_adequate(ovr: tuple[np.ndarray, np.ndarray], d: pd.DataFrame, limit: pd.Series | None, inclusive: bool = True) -> pd.Series:
    """Per subject, the last adequate assessment date on/before (inclusive) or before `limit` (NaT = no limit);
    `ovr`: the adequate assessments' subject rows in `d` (one row per subject) and dates."""
    pos, adt = ovr
    lim = (np.full(len(d), np.datetime64("NaT"), dtype="datetime64[ns]") if limit is None
           else pd.to_datetime(pd.Series(limit)).to_numpy(dtype="datetime64[ns]"))[pos]
    keep = np.isnat(lim) | ((adt <= lim) if inclusive else (adt < lim))
    latest = np.full(len(d), np.iinfo(np.int64).min, dtype=np.int64)  # NaT: a subject without a kept date
    np.maximum.at(latest, pos[keep], adt[keep].view(np.int64))  # (NaT is the least int64: never the latest)
    return pd.Series(latest.view("datetime64[ns]"), index=d.index)


# ---------------------------------------------------------------- rules (each one small and named)
def _or_rand(dates: pd.Series, d: pd.DataFrame) -> pd.Series:
    return dates.fillna(d["RANDDT"])


def new_therapy_before(event: str) -> Callable[[pd.DataFrame], pd.Series]:
    """Applies when further therapy started before the first `event` date (NaT = no event)."""
    return lambda d: d["NEWTHDT"].notna() & (d[event].isna() | (d["NEWTHDT"] < d[event]))


def event_after_missed(event: str, last: str) -> Callable[[pd.DataFrame], pd.Series]:
    """Applies when `event` is more than MAXGAP after the last adequate assessment before it."""
    return lambda d: d[event].notna() & ((d[event] - _or_rand(d[last], d)) > d["MAXGAP"])


def pfs_rules(profile: Profile = "FDA", start: str = "RANDDT") -> list[Rule]:
    """PFS: FDA 2018 censoring table (see module docstring)."""
    fda = [
        Rule("new_therapy_before_progression", 1, "Censored: further anti-myeloma therapy before progression",
             "Last adequate assessment on or before start of further therapy", "ADRS", "ADT",
             new_therapy_before("EVDT"), lambda d: d["LADT_NT"].fillna(d[start])),
        Rule("event_after_missed_assessments", 1, "Censored: progression or death after two or more missed assessments",
             "Last adequate assessment before progression or death", "ADRS", "ADT",
             event_after_missed("EVDT", "LADT_EV"), lambda d: d["LADT_EV"].fillna(d[start])),
    ]
    common = [
        Rule("progression", 0, "Progressive disease (IMWG 2016, confirmed)", "", "ADRS", "ADT",
             lambda d: d["PDDT"].notna() & (d["DTHDT"].isna() | (d["PDDT"] <= d["DTHDT"])), lambda d: d["PDDT"]),
        Rule("death", 0, "Death without documented progression", "", "ADSL", "DTHDT",
             lambda d: d["DTHDT"].notna(), lambda d: d["DTHDT"]),
        Rule("no_adequate_assessment", 1, "Censored: no adequate post-baseline assessment",
             "Randomization" if start == "RANDDT" else "Start date", "ADSL", start,
             lambda d: d["LADT"].isna(), lambda d: d[start]),
        Rule("last_adequate_assessment", 1, "Censored: no progression or death",
             "Last adequate assessment", "ADRS", "ADT",
             lambda d: pd.Series(True, index=d.index), lambda d: d["LADT"]),
    ]
    return (fda if profile == "FDA" else []) + common


def ttp_rules(profile: Profile = "FDA") -> list[Rule]:
    """TTP: as PFS but death without progression is censored at the last adequate assessment."""
    fda = [
        Rule("new_therapy_before_progression", 1, "Censored: further anti-myeloma therapy before progression",
             "Last adequate assessment on or before start of further therapy", "ADRS", "ADT",
             new_therapy_before("PDDT"), lambda d: d["LADT_NT"].fillna(d["RANDDT"])),
        Rule("progression_after_missed_assessments", 1, "Censored: progression after two or more missed assessments",
             "Last adequate assessment before progression", "ADRS", "ADT",
             event_after_missed("PDDT", "LADT_PD"), lambda d: d["LADT_PD"].fillna(d["RANDDT"])),
    ]
    common = [
        Rule("progression", 0, "Progressive disease (IMWG 2016, confirmed)", "", "ADRS", "ADT",
             lambda d: d["PDDT"].notna(), lambda d: d["PDDT"]),
        Rule("death_without_progression", 1, "Censored: death without progression",
             "Last adequate assessment before death", "ADRS", "ADT",
             lambda d: d["DTHDT"].notna(), lambda d: d["LADT"].fillna(d["RANDDT"])),
        Rule("no_adequate_assessment", 1, "Censored: no adequate post-baseline assessment", "Randomization",
             "ADSL", "RANDDT", lambda d: d["LADT"].isna(), lambda d: d["RANDDT"]),
        Rule("last_adequate_assessment", 1, "Censored: no progression", "Last adequate assessment", "ADRS", "ADT",
             lambda d: pd.Series(True, index=d.index), lambda d: d["LADT"]),
    ]
    return (fda if profile == "FDA" else []) + common


def contact_after_randomization(d: pd.DataFrame) -> pd.Series:
    """Applies when the last date known alive is on or after randomization (admiral: latest censoring date)."""
    return d["LSTALVDT"].notna() & (d["LSTALVDT"] >= d["RANDDT"])


def os_rules() -> list[Rule]:
    """OS: death from any cause; alive censored at last contact."""
    return [
        Rule("death", 0, "Death", "", "ADSL", "DTHDT", lambda d: d["DTHDT"].notna(), lambda d: d["DTHDT"]),
        Rule("alive_last_contact", 1, "Censored: alive", "Last date known alive", "ADSL", "LSTALVDT",
             contact_after_randomization, lambda d: d["LSTALVDT"]),
        Rule("no_contact_after_randomization", 1, "Censored: no contact after randomization", "Randomization",
             "ADSL", "RANDDT", lambda d: pd.Series(True, index=d.index), lambda d: d["RANDDT"]),
    ]


def pfs2_rules() -> list[Rule]:
    """PFS2: progression on further therapy or death, whichever first; else censored at last contact."""
    return [
        Rule("second_progression", 0, "Progression on further anti-myeloma therapy", "", "ADSL", "PD2DT",
             lambda d: d["PD2DT"].notna() & (d["DTHDT"].isna() | (d["PD2DT"] <= d["DTHDT"])), lambda d: d["PD2DT"]),
        Rule("death", 0, "Death", "", "ADSL", "DTHDT", lambda d: d["DTHDT"].notna(), lambda d: d["DTHDT"]),
        Rule("alive_without_second_progression", 1, "Censored: alive without second progression",
             "Last date known alive", "ADSL", "LSTALVDT", contact_after_randomization, lambda d: d["LSTALVDT"]),
        Rule("no_contact_after_randomization", 1, "Censored: no contact after randomization", "Randomization",
             "ADSL", "RANDDT", lambda d: pd.Series(True, index=d.index), lambda d: d["RANDDT"]),
    ]


def ttnt_rules() -> list[Rule]:
    """TTNT: start of further anti-myeloma therapy or death, whichever first; else censored at last contact."""
    return [
        Rule("next_therapy", 0, "Start of further anti-myeloma therapy", "", "ADSL", "NEWTHDT",
             lambda d: d["NEWTHDT"].notna() & (d["DTHDT"].isna() | (d["NEWTHDT"] <= d["DTHDT"])),
             lambda d: d["NEWTHDT"]),
        Rule("death", 0, "Death", "", "ADSL", "DTHDT", lambda d: d["DTHDT"].notna(), lambda d: d["DTHDT"]),
        Rule("alive_without_next_therapy", 1, "Censored: alive without further therapy", "Last date known alive",
             "ADSL", "LSTALVDT", contact_after_randomization, lambda d: d["LSTALVDT"]),
        Rule("no_contact_after_randomization", 1, "Censored: no contact after randomization", "Randomization",
             "ADSL", "RANDDT", lambda d: pd.Series(True, index=d.index), lambda d: d["RANDDT"]),
    ]


def time_to_response_rules(date_col: str, what: str) -> list[Rule]:
    """TTFR/TTBR: event at `date_col`; others censored at last adequate assessment before PD/therapy."""
    return [
        Rule(f"{what.lower().replace(' ', '_')}", 0, f"{what} (PR or better, confirmed)", "", "ADRS", "ADT",
             lambda d: d[date_col].notna(), lambda d: d[date_col]),
        Rule("no_response_no_assessment", 1, "Censored: no confirmed response and no adequate assessment",
             "Randomization", "ADSL", "RANDDT", lambda d: d["LADT_RESP"].isna(), lambda d: d["RANDDT"]),
        Rule("no_response", 1, "Censored: no confirmed response",
             "Last adequate assessment on or before progression or further therapy", "ADRS", "ADT",
             lambda d: pd.Series(True, index=d.index), lambda d: d["LADT_RESP"]),
    ]


# ---------------------------------------------------------------- composition
def apply_rules(d: pd.DataFrame, rules: list[Rule], paramcd: str, start: str = "RANDDT") -> pd.DataFrame:
    """One ADTTE record per subject of `d`: the first rule that applies sets ADT, CNSR and descriptions."""
    idx = np.full(len(d), -1)
    for k, rule in enumerate(rules):
        m = rule.applies(d).fillna(False).to_numpy(dtype=bool) & (idx < 0)
        idx[m] = k
    if (idx < 0).any():
        i = int(np.flatnonzero(idx < 0)[0])
        raise ValueError(f"{paramcd}: no rule applies to subject {d['USUBJID'].iloc[i]}")
    adt = np.full(len(d), np.datetime64("NaT"), dtype="datetime64[ns]")
    for k, rule in enumerate(rules):
        m = idx == k
        if m.any():
            adt[m] = pd.Series(rule.date(d)).to_numpy(dtype="datetime64[ns]")[m]
    start_dt = d[start].to_numpy(dtype="datetime64[ns]")
    days = (adt - start_dt).astype(np.int64) // np.int64(86_400_000_000_000)  # Timedelta.days (floor)
    pick = lambda attr: np.array([getattr(r, attr) for r in rules], dtype=object)[idx]  # noqa: E731
    return pd.DataFrame({"USUBJID": d["USUBJID"].to_numpy(), **{c: d[c].to_numpy() for c in CARRY if c in d.columns},
                         "PARAMCD": paramcd, "PARAM": PARAMS[paramcd], "STARTDT": start_dt, "ADT": adt,
                         "AVAL": np.where(np.isnat(adt) | np.isnat(start_dt), np.nan, days + 1.0),
                         "CNSR": np.array([r.cnsr for r in rules], dtype=int)[idx], "EVNTDESC": pick("evntdesc"),
                         "CNSDTDSC": pick("cnsdtdsc"), "SRCDOM": pick("srcdom"), "SRCVAR": pick("srcvar"), "RULE": pick("name")})


def derive_param_pfs(d: pd.DataFrame, profile: Profile = "FDA") -> pd.DataFrame:
    """PFS records."""
    return apply_rules(d, pfs_rules(profile), "PFS")


def derive_param_ttp(d: pd.DataFrame, profile: Profile = "FDA") -> pd.DataFrame:
    """TTP records."""
    return apply_rules(d, ttp_rules(profile), "TTP")


def derive_param_os(d: pd.DataFrame) -> pd.DataFrame:
    """OS records."""
    return apply_rules(d, os_rules(), "OS")


def derive_param_pfs2(d: pd.DataFrame) -> pd.DataFrame:
    """PFS2 records."""
    return apply_rules(d, pfs2_rules(), "PFS2")


def derive_param_ttnt(d: pd.DataFrame) -> pd.DataFrame:
    """TTNT records."""
    return apply_rules(d, ttnt_rules(), "TTNT")


def derive_param_dor(d: pd.DataFrame, profile: Profile = "FDA") -> pd.DataFrame:
    """DOR records for responders (first confirmed PR or better to PD or death)."""
    resp = d[d["RSPDT"].notna()].reset_index(drop=True)
    if resp.empty:
        return _empty()
    return apply_rules(resp, pfs_rules(profile, start="RSPDT"), "DOR", start="RSPDT")


def derive_param_ttfr(d: pd.DataFrame) -> pd.DataFrame:
    """Time to first confirmed response (PR or better)."""
    return apply_rules(d, time_to_response_rules("RSPDT", "First response"), "TTFR")


def derive_param_ttbr(d: pd.DataFrame) -> pd.DataFrame:
    """Time to the first date of the best confirmed response (responders have events)."""
    return apply_rules(d, time_to_response_rules("BESTDT", "Best response"), "TTBR")


def _empty() -> pd.DataFrame:
    cols = ["USUBJID", "PARAMCD", "PARAM", "STARTDT", "ADT", "AVAL", "CNSR", "EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR", "RULE"]
    return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})


def default_max_gap_days(protocol: object | None = None) -> int:
    """Two assessment intervals of the protocol's disease-assessment schedule (every cycle: Protocol.cycle_length_days)."""
    if protocol is None:
        from ikema.protocol import load_protocol

        protocol = load_protocol()
    days = getattr(protocol, "cycle_length_days", None)
    if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
        raise ProtocolError(f"protocol: cycle_length_days {days!r}; expected a positive number of days (or pass max_gap_days)")
    return 2 * days


def derive_adtte(
    adsl: pd.DataFrame,
    adrs: pd.DataFrame,
    *,
    max_gap_days: int | None = None,
    cutoff: object | None = None,
    profile: Profile = "FDA",
) -> pd.DataFrame:
    """ADTTE with PFS, TTP, OS, PFS2, TTNT, DOR, TTFR, TTBR (see module docstring for rules and inputs)."""
    if profile not in ("FDA", "ITT"):
        raise ValueError(f"profile must be 'FDA' or 'ITT', got {profile!r}")
    gap = default_max_gap_days() if max_gap_days is None else int(max_gap_days)
    d = subject_timeline(adsl, adrs, gap, cutoff)
    parts = [
        derive_param_pfs(d, profile),
        derive_param_ttp(d, profile),
        derive_param_os(d),
        derive_param_pfs2(d),
        derive_param_ttnt(d),
        derive_param_dor(d, profile),
        derive_param_ttfr(d),
        derive_param_ttbr(d),
    ]
    parts = [p for p in parts if len(p)]
    out = pd.concat(parts, ignore_index=True)
    subject, _ids = pd.factorize(out["USUBJID"], sort=True)  # by subject, then parameter in PARAMS order
    param = np.repeat([list(PARAMS).index(p["PARAMCD"].iloc[0]) for p in parts], [len(p) for p in parts])
    out = out.take(np.lexsort((param, subject))).reset_index(drop=True)
    out["AVALU"] = "DAYS"
    out.insert(out.columns.get_loc("SRCVAR") + 1, "SRCSEQ", derive_srcseq(out, adrs))
    return finish_bds(out, "ADTTE")
