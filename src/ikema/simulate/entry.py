"""Site records of the virtual trial as store rows: what the simulator's data entry sends to ikema.conduct.capture
(the way back, store -> site records, is ikema.cdisc.store)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ikema.simulate.facts import per_subject


EOT, WITHDRAWAL, LAST_CONTACT, FOLLOW_UP = "END_OF_TREATMENT", "WITHDRAWAL", "LAST_CONTACT", "FOLLOW_UP_CONTACT"
PRE_DOSE_HOURS = -0.25


def _d(x) -> dt.date | None:
    if x is None or (isinstance(x, float) and np.isnan(x)) or pd.isna(x):
        return None
    return pd.Timestamp(x).date()


def store_rows(records: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame | list[dict]]:
    """Rows per store table (model column names) for the records of randomized subjects after day 1: a frame per
    large table (one column per field, dates as datetime.date, None where empty), a list of row dicts per small one."""
    ev = records["events"]
    start = pd.Series(pd.to_datetime(ev["TRTSDT"]).to_numpy("datetime64[D]"), index=ev["USUBJID"].to_numpy())

    def date_of(ids: pd.Series, ady) -> np.ndarray:
        """datetime.date of study day `ady` (day 1 = first dose) per subject: numpy days, then one conversion."""
        base = per_subject(ids, start.index, start.to_numpy()).astype("datetime64[D]")
        days = base + (np.asarray(ady, float) - 1).astype("timedelta64[D]")
        return days.astype(object)  # datetime64[D] -> datetime.date

    a = records["assessments"]
    units = {"SMPROT": "g/dL", "UMPROT": "mg/24h", "FLCK": "mg/L", "FLCL": "mg/L", "BMPC": "%"}
    aval = a["AVAL"].astype(object).where(a["AVAL"].notna(), None)
    avalc = a["AVALC"].astype(object).where(a["AVALC"].fillna("") != "", None)
    rows: dict[str, pd.DataFrame | list[dict]] = {}
    rows["disease_assessments"] = pd.DataFrame({
        "usubjid": a["USUBJID"], "visit": None, "date": date_of(a["USUBJID"], a["ADY"]), "study_day": a["ADY"].astype(int),
        "param": a["PARAM"], "aval": aval, "avalc": avalc, "unit": a["PARAM"].map(units).astype(object).where(a["PARAM"].isin(list(units)), None)})
    x = records["exposure"]
    rows["drug_administrations"] = pd.DataFrame({
        "usubjid": x["USUBJID"], "cycle": x["CYCLE"].astype(int), "day": x["DAY"].astype(int), "date": date_of(x["USUBJID"], x["ADY"]),
        "drug": x["DRUG"], "route": x["ROUTE"], "dose_mg": x["DOSE_MG"].astype(float), "planned_dose_mg": x["PLANNED_MG"].astype(float),
        # object dtype: pandas would read None beside text as a string column whose missing value is NaN ("nan")
        "adjustment_reason": pd.Series(np.where(x["DOSE_MG"] == x["PLANNED_MG"], None, "DOSE REDUCED"), index=x.index,
                                       dtype=object)})
    ae = records["adverse_events"]
    ongoing = ae["AEOUT"] == "NOT RECOVERED/NOT RESOLVED"
    rows["adverse_events"] = pd.DataFrame({
        "usubjid": ae["USUBJID"], "term": ae["AETERM"], "pt": ae["AEDECOD"], "soc": ae["AEBODSYS"], "grade": ae["AETOXGR"].astype(int),
        "serious": ae["AESER"] == "Y", "related": ae["AEREL"] == "RELATED", "onset": date_of(ae["USUBJID"], ae["AESTDY"]),
        "resolution": pd.Series(date_of(ae["USUBJID"], ae["AEENDY"]), index=ae.index, dtype=object).where(~ongoing, None),
        "outcome": ae["AEOUT"], "action_taken": ae["AEACN"], "infusion_reaction": ae["AEDECOD"] == "Infusion related reaction"})
    lb = records["labs"]
    rows["lab_results"] = pd.DataFrame({
        "usubjid": lb["USUBJID"], "visit": None, "date": date_of(lb["USUBJID"], lb["ADY"]), "test": lb["LBTESTCD"],
        "value": lb["VALUE"].astype(float), "unit": lb["UNIT"], "low": lb["LLN"].astype(float), "high": None})
    pk = records["pk"]
    rows["pk_samples"] = []
    days = date_of(pk["USUBJID"], pk["ADY"])
    for u, an, d, hour, val, unit, tpt in zip(pk["USUBJID"], pk["ANALYTE"], days, pk["HOUR"], pk["VALUE"], pk["UNIT"], pk["TPT"]):
        cyc, day = tpt.split(" ")[0][1:].split("D")
        when = dt.datetime.combine(d, dt.time(0), tzinfo=dt.timezone.utc) + dt.timedelta(hours=float(hour))
        rows["pk_samples"].append({"usubjid": u, "analyte": an, "cycle": int(cyc), "day": int(day),
                                   "nominal_hours": PRE_DOSE_HOURS if "PRE" in tpt else _nominal(tpt), "sampled_at": when,
                                   "concentration": None if val <= 0 else float(val), "unit": unit, "below_lloq": bool(val <= 0)})
    ada = records["ada"]
    rows["ada_samples"] = [
        {"usubjid": u, "visit": v, "date": d, "result": r, "titer": None if pd.isna(t) else float(t)}
        for u, v, d, r, t in zip(ada["USUBJID"], ada["VISIT"], date_of(ada["USUBJID"], ada["ADY"]), ada["RESULT"], ada["TITER"])
    ]
    rows["questionnaires"] = _questionnaires(records["questionnaires"], date_of)
    rows["deaths"] = [{"usubjid": u, "date": _d(d), "cause": c} for u, d, c in zip(ev["USUBJID"], ev["DTHDT"], ev["DTHCAUS"]) if _d(d)]
    disp = []
    for r in ev.itertuples(index=False):
        if r.EOTREAS != "ONGOING":
            disp.append({"usubjid": r.USUBJID, "event": EOT, "date": _d(r.TRTEDT), "reason": r.EOTREAS})
        if r.WITHDRAWN:  # withdrawal of consent, also when a later death became known
            disp.append({"usubjid": r.USUBJID, "event": WITHDRAWAL, "date": _d(r.WDDT), "reason": "WITHDRAWAL BY SUBJECT"})
        if _d(r.DTHDT) is None:
            disp.append({"usubjid": r.USUBJID, "event": LAST_CONTACT, "date": _d(r.LSTALVDT), "reason": None})
        disp.extend({"usubjid": r.USUBJID, "event": FOLLOW_UP, "date": d, "reason": None} for d in r.CONTACTDT)
    rows["dispositions"] = disp
    rows["subsequent_therapies"] = [
        {"usubjid": u, "therapy": "FURTHER ANTI-MYELOMA REGIMEN", "start_date": _d(s), "end_date": None, "progression_date": _d(p)}
        for u, s, p in zip(ev["USUBJID"], ev["NEWTHDT"], ev["PD2DT"]) if _d(s)
    ]
    return rows


def _questionnaires(q: pd.DataFrame, date_of) -> pd.DataFrame:
    """One row per completed questionnaire (subject, instrument, visit, day) with its answers (item code -> answer),
    from the item answers (one row each, a questionnaire's items together, as the simulator writes them)."""
    new = np.zeros(len(q), bool)
    new[:1] = True
    for c in ("USUBJID", "ADY", "QSCAT", "VISIT"):
        x = _codes(q[c])
        new[1:] |= x[1:] != x[:-1]
    first = np.flatnonzero(new)
    bounds = np.append(first, len(q)).tolist()
    codes, answers = _listed(q["QSTESTCD"]), _listed(q["QSORRES"], int)
    head = q.iloc[first]
    return pd.DataFrame({
        "usubjid": head["USUBJID"].to_numpy(), "instrument": head["QSCAT"].to_numpy(), "visit": head["VISIT"].to_numpy(),
        "date": date_of(head["USUBJID"], head["ADY"]),
        "answers": [dict(zip(codes[a:b], answers[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]})


def _codes(s: pd.Series) -> np.ndarray:
    """Integer codes equal where the values are equal (pandas' factorize: no half million Python strings made), or
    the values themselves where one is missing (NaN equals no other value)."""
    codes, _ = pd.factorize(s)
    return codes if (codes >= 0).all() else s.to_numpy()


def _listed(s: pd.Series, fn=None) -> list:
    """s.tolist(), or [fn(v) for v in s], with one Python value (and fn call) per distinct value."""
    codes, uniques = pd.factorize(s)
    if not (codes >= 0).all():  # a missing value: one by one, as the plain list gives it
        return s.tolist() if fn is None else [fn(v) for v in s.tolist()]
    values = np.empty(len(uniques), dtype=object)
    for i, v in enumerate(uniques.tolist()):
        values[i] = v if fn is None else fn(v)
    return values[codes].tolist()


def _nominal(tpt: str) -> float:
    """Nominal hours after the start of the day's infusion of a time-point label ("... EOI", "... 1H POST-EOI")."""
    return -1.0 if "PRE" in tpt else (1.0 if "1H" in tpt else 0.0)
