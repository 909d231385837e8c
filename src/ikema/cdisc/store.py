"""Site records from the store: the records the SDTM builder reads (ikema.cdisc.sdtm.build_sdtm), from the live
tables or from the tables as they stood at an earlier moment, rebuilt from the audit trail.

The audit trail (ikema.store.audit) keeps every insert as the whole record (field '*', JSON) and every later
change as one row per field (old and new value); records are never deleted. Replaying the rows up to a moment
therefore gives each table exactly as it stood then (`store_tables(session, as_of)`), so a correction entered
after a data cut does not change that cut.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Boolean, Date, Float, Integer, JSON, func, select
from sqlalchemy.orm import Session

from ikema.cdisc.distinct import per_distinct as distinct_values
from ikema.errors import StoreError
from ikema.store.columns import per_distinct

# disposition events of the store (ikema.store.models.Disposition)
EOT, WITHDRAWAL, LAST_CONTACT, FOLLOW_UP = "END_OF_TREATMENT", "WITHDRAWAL", "LAST_CONTACT", "FOLLOW_UP_CONTACT"


def _models() -> dict[str, Any]:
    from ikema.store import (
        ADASample, AdverseEvent, Death, DiseaseAssessment, Disposition, DrugAdministration, LabResult, PKSample,
        Questionnaire, Randomization, ScreeningResult, Subject, SubsequentTherapy,
    )

    return {m.__tablename__: m for m in (Subject, ScreeningResult, Randomization, DrugAdministration, DiseaseAssessment,
                                         LabResult, AdverseEvent, Death, Disposition, SubsequentTherapy, PKSample,
                                         ADASample, Questionnaire)}


def last_change(session: Session) -> dt.datetime | None:
    """The time of the latest audit row: the moment the live tables stand at."""
    from ikema.store import AuditEntry

    at = session.scalar(select(func.max(AuditEntry.at)))
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return at


def _columns(model) -> list[str]:
    return [c.key for c in model.__mapper__.column_attrs]


def _holds_items(raw: Any) -> bool:
    """Whether a stored JSON object or array (its text as the driver returns it, or the decoded value) holds an item,
    read off the text without decoding it: a questionnaire's answers run to a few hundred characters."""
    if isinstance(raw, bytes):
        raw = raw.decode()
    if isinstance(raw, str):
        return raw.lstrip()[1:].lstrip()[:1] not in ("]", "}", "")
    return len(raw) > 0


# columns a reading may ask for that are worked out from a stored column: name -> (stored column, value of the
# driver's raw value, value of the stored Python value)
DERIVED = {"has_items": ("answers", _holds_items, lambda v: len(v) > 0)}
# what a lean SDTM (ikema.cdisc.sdtm.build_sdtm lean, no PC, IS, IE) reads of the store: table -> columns (not the
# keys: the tables come in key order)
LEAN_COLUMNS = {
    "subjects": ("usubjid", "site_id", "screening", "screened_at"),
    "randomizations": ("usubjid", "stratum", "arm", "randdt"),
    "drug_administrations": ("usubjid", "cycle", "day", "date", "drug", "route", "dose_mg", "planned_dose_mg"),
    "disease_assessments": ("usubjid", "date", "study_day", "param", "aval", "avalc"),
    "lab_results": ("usubjid", "date", "test", "value", "unit", "low"),
    "adverse_events": ("usubjid", "term", "pt", "soc", "grade", "serious", "related", "onset", "resolution", "outcome",
                       "action_taken"),
    "deaths": ("usubjid", "date", "cause"),
    "dispositions": ("usubjid", "event", "date", "reason"),
    "subsequent_therapies": ("usubjid", "start_date", "progression_date"),
    "questionnaires": ("usubjid", "date", "has_items"),  # (lean QS: the dates of each subject's questionnaires)
}


def lean_columns(domains: Collection[str] | None) -> dict[str, tuple[str, ...] | None]:
    """What `store_tables` reads for a lean SDTM of `domains` (None: every domain): LEAN_COLUMNS, with the PK and ADA
    samples (every column) where PC or IS is built and the screening verdicts where IE is."""
    want = (lambda _d: True) if domains is None else set(domains).__contains__
    extra = {t: None for t, ds in (("pk_samples", ("PC", "IS")), ("ada_samples", ("PC", "IS")), ("screening_results", ("IE",)))
             if any(map(want, ds))}
    return {**LEAN_COLUMNS, **extra}


def _live(session: Session, model, columns: Sequence[str] | None = None, day_dates: bool = False) -> pd.DataFrame:
    """The live table in key order: one SELECT through the DBAPI cursor, each column's stored values turned into
    Python values by the column type's own result processor, once per distinct value (dates, instants, booleans);
    `columns`: only these (None: every column; DERIVED names allowed); `day_dates`: Date columns as datetime64[s]."""
    cols = _columns(model) if columns is None else list(columns)
    stored = [DERIVED[c][0] if c in DERIVED else c for c in cols]
    pk = list(model.__mapper__.primary_key)
    conn = session.connection()
    dialect = conn.dialect
    compiled = select(*[getattr(model, c) for c in stored]).order_by(*pk).compile(dialect=dialect)
    cursor = conn.connection.dbapi_connection.cursor()  # plain tuples: no Row object per record
    try:
        cursor.execute(str(compiled))
        rows = cursor.fetchall()
        types = [d[1] for d in cursor.description]  # the driver's type codes (some result processors need them)
    finally:
        cursor.close()
    if not rows:
        return pd.DataFrame([], columns=cols)
    data = {}
    for i, (c, key) in enumerate(zip(cols, stored)):
        values = list(map(itemgetter(i), rows))
        if c in DERIVED:
            data[c] = list(map(DERIVED[c][1], values))
            continue
        column = model.__table__.c[getattr(model, key).property.columns[0].key]
        proc = column.type._cached_result_processor(dialect, types[i])
        if day_dates and isinstance(column.type, Date):
            data[c] = _day_dates(values, proc)
        else:
            data[c] = _typed(values) if proc is None else per_distinct(values, proc)
    return pd.DataFrame(data, columns=cols)


def _day_dates(values: list, proc) -> np.ndarray:
    """A Date column's driver values as datetime64[s] (NaT where missing), each distinct value converted once, through
    the column type's result processor where it has one."""
    codes, distinct = pd.factorize(np.array(values, dtype=object))
    days = pd.to_datetime(pd.Series([v if proc is None else proc(v) for v in distinct], dtype=object)).to_numpy("datetime64[s]")
    return np.append(days, np.datetime64("NaT", "s"))[codes]  # code -1 (missing): the NaT last


def _typed(values: list) -> Any:
    """A column's driver values as the frame would infer them, built directly where they are all text, all integers
    or all floats (missing allowed among text and floats): pandas' inference costs more than the conversion."""
    classes = set(map(type, values))
    missing = type(None) in classes
    classes.discard(type(None))
    if classes == {str}:
        return pd.array(pa.array(values, type=pa.large_string()), dtype="str")
    if classes == {int} and not missing:
        try:
            return np.fromiter(values, dtype=np.int64, count=len(values))
        except OverflowError:  # beyond 64 bits: as pandas infers it
            return values
    if classes == {float}:
        return np.array(values, dtype=float)
    return values


def _value(column, raw: Any, text: bool) -> Any:
    """A stored value back from its audit rendering (`text`: an UPDATE row's text, else the insert's JSON value)."""
    if raw is None:
        return None
    kind = column.type
    if isinstance(kind, Boolean):
        return raw if isinstance(raw, bool) else str(raw) == "True"
    if isinstance(kind, Integer):
        return int(raw)
    if isinstance(kind, Float):
        return float(raw)
    if isinstance(kind, Date):
        return dt.date.fromisoformat(str(raw)[:10])
    if isinstance(kind, JSON):
        return json.loads(raw) if text else raw
    if getattr(kind, "python_type", None) is dt.datetime or kind.__class__.__name__ == "DateTime":
        v = dt.datetime.fromisoformat(str(raw))
        return v.replace(tzinfo=dt.timezone.utc) if v.tzinfo is None else v.astimezone(dt.timezone.utc)
    return str(raw)


def _as_of(session: Session, model, as_of: dt.datetime, columns: Sequence[str] | None = None,
           day_dates: bool = False) -> pd.DataFrame:
    """The table `model` as it stood at `as_of`: its audit inserts up to then, with the changes up to then applied;
    `columns`: only these (None: every column; DERIVED names allowed); `day_dates`: Date columns as datetime64[s]."""
    from ikema.store import AuditEntry

    table = model.__tablename__
    cols = _columns(model)
    column = {c.key: c for c in model.__mapper__.column_attrs}
    col_obj = {k: v.columns[0] for k, v in column.items()}
    pk = [c.key for c in model.__mapper__.primary_key]
    rows = session.execute(select(AuditEntry.record_key, AuditEntry.field, AuditEntry.new_value, AuditEntry.action)
                           .where(AuditEntry.table_name == table, AuditEntry.at <= as_of)
                           .order_by(AuditEntry.id)).all()
    records: dict[str, dict[str, Any]] = {}
    for key, field, new, action in rows:
        if action == "INSERT":
            rec = json.loads(new)
            records[key] = {c: _value(col_obj[c], rec.get(c), False) for c in cols}
        elif key in records and field in col_obj:
            records[key][field] = _value(col_obj[field], new, True)
        elif key not in records:
            raise StoreError(f"audit_log: {table} {key}: a change to field {field} before the record's insert")
    frame = pd.DataFrame(list(records.values()), columns=cols)
    frame = frame.sort_values(pk, kind="stable").reset_index(drop=True) if len(frame) else frame
    if day_dates:
        for c in cols:
            if isinstance(col_obj[c].type, Date):
                frame[c] = pd.to_datetime(pd.Series(frame[c], dtype=object)).to_numpy("datetime64[s]")
    if columns is None:
        return frame
    return pd.DataFrame({c: ([DERIVED[c][2](v) for v in frame[DERIVED[c][0]]] if c in DERIVED else frame[c]) for c in columns},
                        columns=list(columns))


def store_tables(session: Session, as_of: dt.datetime | None = None,
                 columns: Mapping[str, Sequence[str] | None] | None = None, day_dates: bool = False) -> dict[str, pd.DataFrame]:
    """Every table of subjects and their records: live (as_of None) or as it stood at `as_of` (from the audit trail).
    The randomizations come in the order they were made. `columns`: only these tables, each with these columns
    (None: every column; e.g. `lean_columns`); None: every table, every column. `day_dates`: Date columns as
    datetime64[s] (NaT where missing), not Python dates: what records_from_tables works with column at a time."""
    from ikema.store import AuditEntry

    models = _models()
    wanted = {name: None for name in models} if columns is None else dict(columns)
    out = {name: (_live(session, models[name], cols, day_dates) if as_of is None
                  else _as_of(session, models[name], as_of, cols, day_dates))
           for name, cols in wanted.items()}
    order = session.scalars(select(AuditEntry.record_key).where(AuditEntry.table_name == "randomizations",
                                                                AuditEntry.action == "INSERT").order_by(AuditEntry.id)).all()
    rank = {k: i for i, k in enumerate(order)}
    r = out["randomizations"]
    out["randomizations"] = r.iloc[np.argsort([rank.get(u, len(rank)) for u in r["usubjid"]], kind="stable")].reset_index(drop=True)
    return out


def subjects_from_tables(tables: Mapping[str, pd.DataFrame], columns: Mapping[str, str], arm_labels: Mapping[str, str],
                         studyid: str, randomized_by: dt.date | None = None) -> pd.DataFrame:
    """The randomized subjects (in randomization order) as subject records: USUBJID, SUBJID, SITEID, ICDT, RANDDT,
    ARM, ARMLABEL, STRATUM, STRATnR (one per stratification factor, in the stratum's order) and, per
    `columns` (subject column -> field of the screening record), the screening and baseline values entered.
    A field the site did not enter is missing. `randomized_by`: only subjects randomized on or before it."""
    r = tables["randomizations"]
    if randomized_by is not None:
        r = r[pd.to_datetime(r["randdt"]).dt.date <= randomized_by]
    subj = tables["subjects"].set_index("usubjid")
    ids = r["usubjid"].astype(str)
    prefix = f"{studyid}-"
    out = pd.DataFrame({
        "USUBJID": ids.to_numpy(),
        "SUBJID": [u[len(prefix):] if u.startswith(prefix) else u for u in ids],
        "SITEID": ids.map(subj["site_id"]).to_numpy(),
        "ICDT": [None if pd.isna(t) else pd.Timestamp(t).date() for t in ids.map(subj["screened_at"])],
        "RANDDT": list(r["randdt"]),
        "ARM": r["arm"].to_numpy(), "ARMLABEL": [arm_labels.get(a, a) for a in r["arm"]],
        "STRATUM": r["stratum"].to_numpy(),
    })
    levels = [[part.split("=", 1)[1].strip() for part in str(s).split(";") if "=" in part] for s in r["stratum"]]
    for i in range(max((len(lv) for lv in levels), default=0)):
        out[f"STRAT{i + 1}R"] = [lv[i] if i < len(lv) else None for lv in levels]
    screening = [subj.at[u, "screening"] or {} for u in ids]
    for column, field in columns.items():
        out[column] = [rec.get(field) for rec in screening]
    return out

def records_from_store(session: Session, subjects: pd.DataFrame, cycle_days: int,
                       pk_lloq: Mapping[str, float] | None = None) -> dict[str, pd.DataFrame]:
    """The site records of the randomized `subjects` (USUBJID + screening/randomization columns) from the live store."""
    return records_from_tables(store_tables(session), subjects, cycle_days, pk_lloq)


def _assessment_day(da: pd.DataFrame, start: pd.Series) -> np.ndarray:
    """The day of each assessment after the first dose, counted as the SDTM builder counts back (date = first dose +
    day - 1), so that SDTM shows the date entered; the entered study day where no dose is recorded."""
    first = pd.to_datetime(pd.Series(start.reindex(da["usubjid"].to_numpy()).to_numpy(), index=da.index))  # (map fails
    # on an empty datetime Series: nobody dosed yet)
    delta = (pd.to_datetime(da["date"]) - first).dt.days + 1
    entered = pd.to_numeric(da["study_day"], errors="coerce")
    return delta.where(first.notna(), entered).astype(int).to_numpy()


def _questionnaire_items(q: pd.DataFrame, ady) -> pd.DataFrame:
    """One row per item answer (QS) of the stored questionnaires (one record each, its answers item code -> answer):
    USUBJID, ADY, VISIT, QSCAT, QSTESTCD, QSORRES (the answer as text; empty when not answered)."""
    answers = q["answers"].tolist()
    sizes = [len(a) for a in answers]

    def each(column: str) -> np.ndarray:
        return np.repeat(q[column].to_numpy(), sizes)

    usubjid = pd.Series(each("usubjid"), dtype=object)
    return pd.DataFrame({"USUBJID": usubjid, "ADY": ady(usubjid, pd.Series(each("date"), dtype=object)),
                         "VISIT": each("visit"), "QSCAT": each("instrument"),
                         "QSTESTCD": list(chain.from_iterable(answers)),
                         "QSORRES": ["" if v is None else str(v) for v in chain.from_iterable(a.values() for a in answers)]})


def _pk_records(pk: pd.DataFrame, ady, cycle_days: int, pk_lloq: Mapping[str, float] | None) -> pd.DataFrame:
    """The PK records (USUBJID, ANALYTE, DRUG, ADY, HOUR, VALUE, UNIT, LLOQ, TPT, NOMDY) of the stored samples."""
    at = pd.to_datetime(pk["sampled_at"], utc=True).dt.tz_localize(None)
    pk_day = ady(pk["usubjid"], at.dt.normalize())
    tpt = [f"C{c}D{d} " + ("PRE-DOSE" if h < 0 else ("1H POST-EOI" if h > 0 else "EOI")) for c, d, h in zip(pk["cycle"], pk["day"], pk["nominal_hours"])]
    return pd.DataFrame({"USUBJID": pk["usubjid"], "ANALYTE": pk["analyte"], "DRUG": pk["analyte"].str.title(), "ADY": pk_day,
                         "HOUR": (at - at.dt.normalize()).dt.total_seconds() / 3600.0,
                         "VALUE": pk["concentration"].fillna(0.0), "UNIT": pk["unit"], "LLOQ": pk["analyte"].map(dict(pk_lloq or {})),
                         "TPT": pd.Series(tpt, index=pk.index, dtype=object), "NOMDY": (pk["cycle"] - 1) * cycle_days + pk["day"]})


def _first_and_last(usubjid: pd.Series, date: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Each subject's earliest and latest date (groupby min and max) of records sorted by subject and date (dates never
    missing), read off the first and last record of each subject rather than compared as Python dates."""
    if date.isna().any() or len(date) == 0:
        return date.groupby(usubjid).min(), date.groupby(usubjid).max()
    u = usubjid.to_numpy(object)
    new = np.r_[True, u[1:] != u[:-1]]
    index = pd.Index(usubjid[new].to_numpy(), name=usubjid.name, dtype=usubjid.dtype)
    ends = np.r_[np.flatnonzero(new)[1:] - 1, len(u) - 1]
    return (pd.Series(date.to_numpy()[new], index=index, name=date.name),
            pd.Series(date.to_numpy()[ends], index=index, name=date.name))


def records_from_tables(tables: Mapping[str, pd.DataFrame], subjects: pd.DataFrame, cycle_days: int,
                        pk_lloq: Mapping[str, float] | None = None, questionnaire_items: bool = True) -> dict[str, pd.DataFrame]:
    """The site records of the randomized `subjects` from the store's tables (`store_tables`); `pk_lloq`: the
    assays' lower limits of quantification by analyte (the protocol's pk_assays). `questionnaire_items` False: one
    questionnaires row per stored questionnaire holding an item (USUBJID, ADY; VISIT, QSCAT where the table has them),
    not one per item, in the same (USUBJID, ADY, QSCAT) order: all a lean SDTM (ikema.cdisc.sdtm.build_sdtm) reads of QS. Without the
    table pk_samples (ada_samples) in `tables` there are no pk (ada) records (`lean_columns`)."""
    ids_kept = set(subjects["USUBJID"])

    def frame(name: str) -> pd.DataFrame:
        t = tables[name]
        kept = t["usubjid"].isin(ids_kept)
        return (t if kept.all() else t[kept]).reset_index(drop=True)  # every record kept: not copied

    def by_key(t: pd.DataFrame) -> list[str]:
        # the tables come in key order (store_tables), so a stable sort breaks ties by the key whether read or not
        return ["id"] if "id" in t else []

    ex = frame("drug_administrations")
    ex = ex.sort_values(["usubjid", "date", "drug", *by_key(ex)], kind="stable")
    start, last_dose = _first_and_last(ex["usubjid"], ex["date"])
    subj = subjects.copy()
    ids = subj["USUBJID"]

    first_dt = pd.to_datetime(start)

    def ady(u: pd.Series, d: pd.Series) -> np.ndarray:
        # each subject's first dose and each distinct date converted once (half a million questionnaire answers);
        # looked up by reindex: map fails on an empty datetime Series (nobody dosed yet)
        first = distinct_values(u, lambda x: pd.Series(first_dt.reindex(x.to_numpy()).to_numpy(), index=x.index))
        delta = (distinct_values(d, pd.to_datetime) - first).dt.days.to_numpy()
        return np.where(delta >= 0, delta + 1, delta)

    exposure = pd.DataFrame({"USUBJID": ex["usubjid"], "DRUG": ex["drug"], "ROUTE": ex["route"], "CYCLE": ex["cycle"],
                             "DAY": ex["day"], "ADY": ady(ex["usubjid"], ex["date"]), "ADT": ex["date"],
                             "DOSE_MG": ex["dose_mg"], "PLANNED_MG": ex["planned_dose_mg"]}).reset_index(drop=True)
    da = frame("disease_assessments")
    assessments = pd.DataFrame({"USUBJID": da["usubjid"], "ADY": _assessment_day(da, start), "ADT": da["date"], "PARAM": da["param"],
                                "AVAL": da["aval"].astype(float), "AVALC": da["avalc"].fillna("")})
    assessments = assessments.sort_values(["USUBJID", "ADY", "PARAM"], kind="stable").reset_index(drop=True)
    ae = frame("adverse_events")
    ae = ae.sort_values(["usubjid", "onset", "pt", *by_key(ae)], kind="stable")
    adverse_events = pd.DataFrame({
        "USUBJID": ae["usubjid"], "AETERM": ae["term"], "AEDECOD": ae["pt"], "AEBODSYS": ae["soc"], "AETOXGR": ae["grade"],
        "AESER": np.where(ae["serious"], "Y", "N"), "AEREL": np.where(ae["related"], "RELATED", "NOT RELATED"),
        "AEACN": ae["action_taken"], "AEOUT": ae["outcome"], "AESDTH": np.where(ae["outcome"] == "FATAL", "Y", "N"),
        "AESTDY": ady(ae["usubjid"], ae["onset"]),
        "AEENDY": ady(ae["usubjid"], ae["resolution"].where(ae["resolution"].notna(), ae["onset"])),
    }).reset_index(drop=True)
    lb = frame("lab_results")
    labs = pd.DataFrame({"USUBJID": lb["usubjid"], "LBTESTCD": lb["test"], "LBTEST": lb["test"], "ADY": ady(lb["usubjid"], lb["date"]),
                         "VALUE": lb["value"], "UNIT": lb["unit"], "LLN": lb["low"]})
    names = {"NEUT": "Neutrophils", "PLAT": "Platelets", "HGB": "Hemoglobin", "LYM": "Lymphocytes"}
    labs["LBTEST"] = distinct_values(labs["LBTESTCD"], lambda u: u.map(names).fillna(u))
    labs = labs.sort_values(["USUBJID", "ADY", "LBTESTCD"], kind="stable").reset_index(drop=True)
    out = {}
    if "pk_samples" in tables:  # not read for a lean SDTM without PC and IS (lean_columns)
        out["pk"] = _pk_records(frame("pk_samples"), ady, cycle_days, pk_lloq)
    if "ada_samples" in tables:
        ada = frame("ada_samples")
        out["ada"] = pd.DataFrame({"USUBJID": ada["usubjid"], "ADY": ady(ada["usubjid"], ada["date"]), "VISIT": ada["visit"],
                                   "RESULT": ada["result"], "TITER": ada["titer"].astype(float)})
    if questionnaire_items:
        qs = _questionnaire_items(frame("questionnaires"), ady)
        qs = qs.sort_values(["USUBJID", "ADY", "QSCAT", "QSTESTCD"], kind="stable").reset_index(drop=True)
    else:
        q = frame("questionnaires")
        held_items = q["has_items"] if "has_items" in q else [len(a) > 0 for a in q["answers"]]
        q = q[np.asarray(held_items, dtype=bool)]
        qs = pd.DataFrame({"USUBJID": q["usubjid"].astype(object), "ADY": ady(q["usubjid"], q["date"]),
                           **{k: q[c] for k, c in (("VISIT", "visit"), ("QSCAT", "instrument")) if c in q}})
        qs = qs.sort_values([k for k in ("USUBJID", "ADY", "QSCAT") if k in qs], kind="stable").reset_index(drop=True)
    deaths = frame("deaths").set_index("usubjid")
    disp = frame("dispositions")
    eot = disp[disp["event"] == EOT].set_index("usubjid")
    wd = disp[disp["event"] == WITHDRAWAL].set_index("usubjid")
    lc = disp[disp["event"] == LAST_CONTACT].set_index("usubjid")
    fu = disp[disp["event"] == FOLLOW_UP].sort_values(["usubjid", "date"]).groupby("usubjid")["date"].agg(list)
    st = frame("subsequent_therapies").sort_values(["usubjid", "start_date"]).groupby("usubjid").first()
    def on(by_subject: pd.Series) -> pd.Series:
        # each subject's value (ids.map), looked up by reindex: map fails on an empty datetime Series
        return pd.Series(by_subject.reindex(ids.to_numpy()).to_numpy(), index=ids.index)

    events = pd.DataFrame({
        "USUBJID": ids, "ARM": subj["ARM"], "TRTSDT": on(start), "TRTEDT": on(last_dose),
        "EOTREAS": ids.map(eot["reason"]).astype(object).fillna("ONGOING"),
        "DTHDT": on(deaths["date"]), "DTHCAUS": ids.map(deaths["cause"]).astype(object).fillna(""),
        "NEWTHDT": on(st["start_date"]), "PD2DT": on(st["progression_date"]),
        "LSTALVDT": on(deaths["date"]).fillna(on(lc["date"])),
        "WITHDRAWN": ids.isin(wd.index), "WDDT": on(wd["date"]),
        "CONTACTDT": [fu.get(u, []) for u in ids],
    })
    events["TRTEDY"] = ady(events["USUBJID"], events["TRTEDT"])
    for c in ("DTHDT", "NEWTHDT", "PD2DT", "WDDT"):
        events[c] = events[c].astype(object).where(events[c].notna(), None)
    sr = frame("screening_results") if "screening_results" in tables else pd.DataFrame(columns=["usubjid", "criterion_id", "verdict"])
    sr = sr[sr["verdict"] == "fail"].sort_values(["usubjid", "criterion_id"], kind="stable")
    not_met = pd.DataFrame({"USUBJID": sr["usubjid"].astype(object), "CRITERION": sr["criterion_id"].astype(object)}).reset_index(drop=True)
    return {"subjects": subj, "events": events, "assessments": assessments, "exposure": exposure,
            "adverse_events": adverse_events, "labs": labs, **out, "questionnaires": qs, "criteria_not_met": not_met}
