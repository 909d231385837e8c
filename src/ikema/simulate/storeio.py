"""Site records of the virtual trial as store rows (what data entry sends to ikema.conduct.capture) and back:
the records the SDTM builder reads, loaded from the store's tables."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ikema.simulate.safety import pk_lloq

SCREEN_KEEP = ("AGE", "SEX", "ECOG", "ISS", "RISS", "HIGHRISK", "CYTOMISS", "GAIN1Q", "PRIOR_LINES", "PRIOR_LENALIDOMIDE",
               "PRIOR_BORTEZOMIB", "LEN_REFRACTORY", "CRCL", "ISOTYPE", "LIGHT_CHAIN", "WEIGHT_KG", "HEIGHT_CM")
EOT, WITHDRAWAL, LAST_CONTACT, FOLLOW_UP = "END_OF_TREATMENT", "WITHDRAWAL", "LAST_CONTACT", "FOLLOW_UP_CONTACT"
PRE_DOSE_HOURS = -0.25


def _d(x) -> dt.date | None:
    if x is None or (isinstance(x, float) and np.isnan(x)) or pd.isna(x):
        return None
    return pd.Timestamp(x).date()


def store_rows(records: dict[str, pd.DataFrame]) -> dict[str, list[dict]]:
    """Rows per store table (model column names) for the records of randomized subjects after day 1."""
    ev = records["events"]
    start = dict(zip(ev["USUBJID"], pd.to_datetime(ev["TRTSDT"])))

    def date_of(ids: pd.Series, ady) -> list[dt.date]:
        base = pd.to_datetime(ids.map(start).to_numpy())
        return list((base + pd.to_timedelta(np.asarray(ady, float) - 1, unit="D")).date)

    def recs(df: pd.DataFrame) -> list[dict]:
        cols = list(df.columns)  # column by column through tolist(): native Python values, far faster than to_dict
        return [dict(zip(cols, row)) for row in zip(*(df[c].tolist() for c in cols))]

    a = records["assessments"]
    units = {"SMPROT": "g/dL", "UMPROT": "mg/24h", "FLCK": "mg/L", "FLCL": "mg/L", "BMPC": "%"}
    aval = a["AVAL"].astype(object).where(a["AVAL"].notna(), None)
    avalc = a["AVALC"].astype(object).where(a["AVALC"].fillna("") != "", None)
    rows: dict[str, list[dict]] = {}
    rows["disease_assessments"] = recs(pd.DataFrame({
        "usubjid": a["USUBJID"], "visit": None, "date": date_of(a["USUBJID"], a["ADY"]), "study_day": a["ADY"].astype(int),
        "param": a["PARAM"], "aval": aval, "avalc": avalc, "unit": a["PARAM"].map(units).astype(object).where(a["PARAM"].isin(list(units)), None)}))
    x = records["exposure"]
    rows["drug_administrations"] = recs(pd.DataFrame({
        "usubjid": x["USUBJID"], "cycle": x["CYCLE"].astype(int), "day": x["DAY"].astype(int), "date": date_of(x["USUBJID"], x["ADY"]),
        "drug": x["DRUG"], "route": x["ROUTE"], "dose_mg": x["DOSE_MG"].astype(float), "planned_dose_mg": x["PLANNED_MG"].astype(float),
        "adjustment_reason": np.where(x["DOSE_MG"] == x["PLANNED_MG"], None, "DOSE REDUCED")}))
    ae = records["adverse_events"]
    ongoing = ae["AEOUT"] == "NOT RECOVERED/NOT RESOLVED"
    rows["adverse_events"] = recs(pd.DataFrame({
        "usubjid": ae["USUBJID"], "term": ae["AETERM"], "pt": ae["AEDECOD"], "soc": ae["AEBODSYS"], "grade": ae["AETOXGR"].astype(int),
        "serious": ae["AESER"] == "Y", "related": ae["AEREL"] == "RELATED", "onset": date_of(ae["USUBJID"], ae["AESTDY"]),
        "resolution": pd.Series(date_of(ae["USUBJID"], ae["AEENDY"]), index=ae.index, dtype=object).where(~ongoing, None),
        "outcome": ae["AEOUT"], "action_taken": ae["AEACN"], "infusion_reaction": ae["AEDECOD"] == "Infusion related reaction"}))
    lb = records["labs"]
    rows["lab_results"] = recs(pd.DataFrame({
        "usubjid": lb["USUBJID"], "visit": None, "date": date_of(lb["USUBJID"], lb["ADY"]), "test": lb["LBTESTCD"],
        "value": lb["VALUE"].astype(float), "unit": lb["UNIT"], "low": lb["LLN"].astype(float), "high": None}))
    pk = records["pk"]
    rows["pk_samples"] = []
    for u, an, ady, hour, val, unit, tpt in zip(pk["USUBJID"], pk["ANALYTE"], pk["ADY"], pk["HOUR"], pk["VALUE"], pk["UNIT"], pk["TPT"]):
        cyc, day = tpt.split(" ")[0][1:].split("D")
        when = dt.datetime.combine(date_of(pd.Series([u]), [ady])[0], dt.time(0), tzinfo=dt.timezone.utc) + dt.timedelta(hours=float(hour))
        rows["pk_samples"].append({"usubjid": u, "analyte": an, "cycle": int(cyc), "day": int(day),
                                   "nominal_hours": PRE_DOSE_HOURS if "PRE" in tpt else _nominal(tpt), "sampled_at": when,
                                   "concentration": None if val <= 0 else float(val), "unit": unit, "below_lloq": bool(val <= 0)})
    ada = records["ada"]
    rows["ada_samples"] = [
        {"usubjid": u, "visit": v, "date": d, "result": r, "titer": None if pd.isna(t) else float(t)}
        for u, v, d, r, t in zip(ada["USUBJID"], ada["VISIT"], date_of(ada["USUBJID"], ada["ADY"]), ada["RESULT"], ada["TITER"])
    ]
    q = records["questionnaires"]
    rows["questionnaire_answers"] = recs(pd.DataFrame({
        "usubjid": q["USUBJID"], "instrument": q["QSCAT"], "visit": q["VISIT"], "date": date_of(q["USUBJID"], q["ADY"]),
        "item": q["QSTESTCD"], "answer": q["QSORRES"].astype(int)}))
    rows["deaths"] = [{"usubjid": u, "date": _d(d), "cause": c} for u, d, c in zip(ev["USUBJID"], ev["DTHDT"], ev["DTHCAUS"]) if _d(d)]
    disp = []
    for r in ev.itertuples(index=False):
        if r.EOTREAS != "ONGOING":
            disp.append({"usubjid": r.USUBJID, "event": EOT, "date": _d(r.TRTEDT), "reason": r.EOTREAS})
        if r.WITHDRAWN and _d(r.DTHDT) is None:
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


def _nominal(tpt: str) -> float:
    """Nominal hours after the start of the day's infusion of a time-point label ("... EOI", "... 1H POST-EOI")."""
    return -1.0 if "PRE" in tpt else (1.0 if "1H" in tpt else 0.0)


def records_from_store(session: Session, subjects: pd.DataFrame, cycle_days: int) -> dict[str, pd.DataFrame]:
    """The site records of the randomized `subjects` (USUBJID + screening/randomization columns) read back from the store."""
    from ikema.store import (
        ADASample, AdverseEvent, Death, DiseaseAssessment, Disposition, DrugAdministration, LabResult, PKSample,
        QuestionnaireAnswer, SubsequentTherapy,
    )

    def frame(model) -> pd.DataFrame:
        cols = [c.name for c in model.__table__.columns]
        data = session.execute(select(*[getattr(model, c) for c in cols]).order_by(model.__table__.primary_key.columns.values()[0])).all()
        return pd.DataFrame(data, columns=cols)

    ex = frame(DrugAdministration)
    start = ex.groupby("usubjid")["date"].min()
    subj = subjects.copy()
    ids = subj["USUBJID"]

    def ady(u: pd.Series, d: pd.Series) -> np.ndarray:
        delta = (pd.to_datetime(d) - pd.to_datetime(u.map(start))).dt.days.to_numpy()
        return np.where(delta >= 0, delta + 1, delta)

    ex = ex.sort_values(["usubjid", "date", "drug", "id"], kind="stable")
    exposure = pd.DataFrame({"USUBJID": ex["usubjid"], "DRUG": ex["drug"], "ROUTE": ex["route"], "CYCLE": ex["cycle"],
                             "DAY": ex["day"], "ADY": ady(ex["usubjid"], ex["date"]), "ADT": ex["date"],
                             "DOSE_MG": ex["dose_mg"], "PLANNED_MG": ex["planned_dose_mg"]}).reset_index(drop=True)
    da = frame(DiseaseAssessment)
    assessments = pd.DataFrame({"USUBJID": da["usubjid"], "ADY": da["study_day"].astype(int), "ADT": da["date"], "PARAM": da["param"],
                                "AVAL": da["aval"].astype(float), "AVALC": da["avalc"].fillna("")})
    assessments = assessments.sort_values(["USUBJID", "ADY", "PARAM"], kind="stable").reset_index(drop=True)
    ae = frame(AdverseEvent).sort_values(["usubjid", "onset", "pt", "id"], kind="stable")
    adverse_events = pd.DataFrame({
        "USUBJID": ae["usubjid"], "AETERM": ae["term"], "AEDECOD": ae["pt"], "AEBODSYS": ae["soc"], "AETOXGR": ae["grade"],
        "AESER": np.where(ae["serious"], "Y", "N"), "AEREL": np.where(ae["related"], "RELATED", "NOT RELATED"),
        "AEACN": ae["action_taken"], "AEOUT": ae["outcome"], "AESDTH": np.where(ae["outcome"] == "FATAL", "Y", "N"),
        "AESTDY": ady(ae["usubjid"], ae["onset"]),
        "AEENDY": ady(ae["usubjid"], ae["resolution"].where(ae["resolution"].notna(), ae["onset"])),
    }).reset_index(drop=True)
    lb = frame(LabResult)
    labs = pd.DataFrame({"USUBJID": lb["usubjid"], "LBTESTCD": lb["test"], "LBTEST": lb["test"], "ADY": ady(lb["usubjid"], lb["date"]),
                         "VALUE": lb["value"], "UNIT": lb["unit"], "LLN": lb["low"]})
    names = {"NEUT": "Neutrophils", "PLAT": "Platelets", "HGB": "Hemoglobin", "LYM": "Lymphocytes"}
    labs["LBTEST"] = labs["LBTESTCD"].map(names).fillna(labs["LBTESTCD"])
    labs = labs.sort_values(["USUBJID", "ADY", "LBTESTCD"], kind="stable").reset_index(drop=True)
    pk = frame(PKSample)
    at = pd.to_datetime(pk["sampled_at"], utc=True).dt.tz_localize(None)
    pk_day = ady(pk["usubjid"], at.dt.normalize())
    tpt = [f"C{c}D{d} " + ("PRE-DOSE" if h < 0 else ("1H POST-EOI" if h > 0 else "EOI")) for c, d, h in zip(pk["cycle"], pk["day"], pk["nominal_hours"])]
    pkf = pd.DataFrame({"USUBJID": pk["usubjid"], "ANALYTE": pk["analyte"], "DRUG": pk["analyte"].str.title(), "ADY": pk_day,
                        "HOUR": (at - at.dt.normalize()).dt.total_seconds() / 3600.0,
                        "VALUE": pk["concentration"].fillna(0.0), "UNIT": pk["unit"], "LLOQ": pk["analyte"].map(pk_lloq()), "TPT": tpt,
                        "NOMDY": (pk["cycle"] - 1) * cycle_days + pk["day"]})
    ada = frame(ADASample)
    adaf = pd.DataFrame({"USUBJID": ada["usubjid"], "ADY": ady(ada["usubjid"], ada["date"]), "VISIT": ada["visit"],
                         "RESULT": ada["result"], "TITER": ada["titer"].astype(float)})
    qa = frame(QuestionnaireAnswer)
    qs = pd.DataFrame({"USUBJID": qa["usubjid"], "ADY": ady(qa["usubjid"], qa["date"]), "VISIT": qa["visit"],
                       "QSCAT": qa["instrument"], "QSTESTCD": qa["item"], "QSORRES": qa["answer"].astype(str)})
    qs = qs.sort_values(["USUBJID", "ADY", "QSCAT", "QSTESTCD"], kind="stable").reset_index(drop=True)
    deaths = frame(Death).set_index("usubjid")
    disp = frame(Disposition)
    eot = disp[disp["event"] == EOT].set_index("usubjid")
    wd = disp[disp["event"] == WITHDRAWAL].set_index("usubjid")
    lc = disp[disp["event"] == LAST_CONTACT].set_index("usubjid")
    fu = disp[disp["event"] == FOLLOW_UP].sort_values(["usubjid", "date"]).groupby("usubjid")["date"].agg(list)
    st = frame(SubsequentTherapy).sort_values(["usubjid", "start_date"]).groupby("usubjid").first()
    last_dose = ex.groupby("usubjid")["date"].max()
    events = pd.DataFrame({
        "USUBJID": ids, "ARM": subj["ARM"], "TRTSDT": ids.map(start), "TRTEDT": ids.map(last_dose),
        "EOTREAS": ids.map(eot["reason"]).fillna("ONGOING"),
        "DTHDT": ids.map(deaths["date"]), "DTHCAUS": ids.map(deaths["cause"]).fillna(""),
        "NEWTHDT": ids.map(st["start_date"]), "PD2DT": ids.map(st["progression_date"]),
        "LSTALVDT": ids.map(deaths["date"]).fillna(ids.map(lc["date"])),
        "WITHDRAWN": ids.isin(wd.index), "WDDT": ids.map(wd["date"]),
        "CONTACTDT": [fu.get(u, []) for u in ids],
    })
    events["TRTEDY"] = ady(events["USUBJID"], events["TRTEDT"])
    for c in ("DTHDT", "NEWTHDT", "PD2DT", "WDDT"):
        events[c] = events[c].astype(object).where(events[c].notna(), None)
    return {"subjects": subj, "events": events, "assessments": assessments, "exposure": exposure,
            "adverse_events": adverse_events, "labs": labs, "pk": pkf, "ada": adaf, "questionnaires": qs}
