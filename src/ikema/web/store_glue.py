"""The web app's single seam onto ikema.store: engine, sessions, the audit context and audit events.
The web tables are created by the web's own Alembic migrations (version table alembic_version_web), run
after the store's own migrations have brought the database to their head."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ikema.conduct import capture
from ikema.conduct import randomization as irt
from ikema.errors import InputError, ProtocolError
from ikema.response import NUMERIC_PARAMS, PARAMS
from ikema.web.forms import FieldErrors
from ikema.store import acting, init_db, session_factory
from ikema.store.models import (
    AdverseEvent, AllocationEntry, AuditEntry, DiseaseAssessment, DrugAdministration, Randomization, Subject, utcnow,
)

WEB_MIGRATIONS = Path(__file__).with_name("migrations")
WEB_VERSION_TABLE = "alembic_version_web"

__all__ = ["acting", "init", "sessions", "event"]


def init(url: str) -> Engine:
    """Bring the database at `url` to the store's head and then the web tables' head; return an engine."""
    from alembic import command
    from alembic.config import Config

    import ikema.web.models  # noqa: F401  (the web tables on the store's Base)

    engine = init_db(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(WEB_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return engine


def sessions(engine: Engine) -> sessionmaker[Session]:
    """The store's session factory."""
    return session_factory(engine)


def event(db: Session, user: str, action: str, table: str, key: str, reason: str, usubjid: str | None = None) -> None:
    """Append an audit row for an event that changes no audited record (log-in, log-out, lockout, token)."""
    db.execute(insert(AuditEntry), [dict(at=utcnow(), user=user, table_name=table, record_key=key, usubjid=usubjid,
                                         field="-", old_value=None, new_value=None, reason=reason, action=action[:10])])


# --- reads of the store's trial tables, as plain dicts ------------------------------------------------------------

def _subject_dict(s: Any, r: Any | None) -> dict[str, Any]:
    return {
        "usubjid": s.usubjid, "site": s.site_id or "", "status": (s.status or "").lower().replace("_", "-"),
        "eligible": s.eligible, "stratum": r.stratum if r is not None else s.stratum, "randomized": r is not None,
        "arm": r.arm if r is not None else None, "randno": str(r.randno) if r is not None else None,
        "randdt": r.randdt.isoformat() if r is not None else None,
        "screening": dict(s.screening or {}),
    }


def subjects(db: Session) -> list[dict[str, Any]]:
    """Every subject with its randomization, ordered by USUBJID."""
    rows = db.execute(select(Subject, Randomization).outerjoin(Randomization, Randomization.usubjid == Subject.usubjid)
                      .order_by(Subject.usubjid)).all()
    return [_subject_dict(s, r) for s, r in rows]


def subject(db: Session, usubjid: str) -> dict[str, Any] | None:
    """One subject with its randomization, or None."""
    row = db.execute(select(Subject, Randomization).outerjoin(Randomization, Randomization.usubjid == Subject.usubjid)
                     .where(Subject.usubjid == usubjid)).one_or_none()
    return None if row is None else _subject_dict(*row)


def assessments(db: Session, usubjid: str) -> list[dict[str, Any]]:
    """Disease assessments of a subject as long rows (id, usubjid, ady, date, param, value, unit)."""
    rows = db.scalars(select(DiseaseAssessment).where(DiseaseAssessment.usubjid == usubjid)
                      .order_by(DiseaseAssessment.date, DiseaseAssessment.param, DiseaseAssessment.id)).all()
    rand = db.get(Randomization, usubjid)
    out = []
    for a in rows:
        ady = a.study_day
        if ady is None and rand is not None:
            delta = (a.date - rand.randdt).days
            ady = delta + 1 if delta >= 0 else delta  # SDTM: no day 0
        out.append({"id": a.id, "usubjid": a.usubjid, "ady": ady, "date": a.date.isoformat(), "param": a.param,
                    "value": a.aval if a.aval is not None else a.avalc, "unit": a.unit or ""})
    return out


def _ae(a: Any) -> dict[str, Any]:
    return {"id": a.id, "term": a.term, "start": a.onset.isoformat(), "end": a.resolution.isoformat() if a.resolution else None,
            "grade": str(a.grade), "serious": "Y" if a.serious else "N", "related": "Y" if a.related else "N",
            "outcome": a.outcome, "action_taken": a.action_taken}


def _ex(x: Any) -> dict[str, Any]:
    return {"id": x.id, "drug": x.drug, "date": x.date.isoformat(), "cycle": x.cycle, "day": x.day, "dose_mg": x.dose_mg}


FORM_MODELS = {"assessment": DiseaseAssessment, "ae": AdverseEvent, "exposure": DrugAdministration}
# form field -> model column, where the names differ
FORM_COLUMNS = {
    "assessment": {"date": "date", "value": "aval", "ady": "study_day"},
    "ae": {"start": "onset", "end": "resolution"},
    "exposure": {},
}


def records(db: Session, subject_row: dict[str, Any], form: str) -> list[dict[str, Any]]:
    """A subject's records of one form as dicts (ids are the store's primary keys)."""
    u = subject_row.get("usubjid")
    if form == "assessment":
        return assessments(db, u)
    model = FORM_MODELS[form]
    rows = db.scalars(select(model).where(model.usubjid == u).order_by(model.id)).all()
    return [_ae(r) if form == "ae" else _ex(r) for r in rows]


def field_history(db: Session, form: str, rid: int, field: str) -> list[dict[str, Any]]:
    """Audit rows of one field of one record (its creation and every change), oldest first."""
    model = FORM_MODELS[form]
    col = FORM_COLUMNS[form].get(field, field)
    cols = {col} | ({"aval", "avalc"} if form == "assessment" and field == "value" else set())
    rows = db.scalars(select(AuditEntry).where(AuditEntry.table_name == model.__tablename__, AuditEntry.record_key == str(rid))
                      .order_by(AuditEntry.id)).all()
    out = []
    for a in rows:
        if a.field == "*":
            try:
                rec = json.loads(a.new_value or "{}")
            except ValueError:
                rec = {}
            new = next((rec[c] for c in sorted(cols) if rec.get(c) is not None), None)
            out.append({"at": _fmt(a.at), "user": a.user, "old": None, "new": new, "reason": a.reason})
        elif a.field in cols:
            out.append({"at": _fmt(a.at), "user": a.user, "old": a.old_value, "new": a.new_value, "reason": a.reason})
    return out


def _fmt(t: Any) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t is not None else ""


def audit_rows(db: Session, *, table: str | None, user: str | None, key: str | None, limit: int) -> list[dict[str, Any]]:
    """Audit-trail rows, newest first; `key` matches the record key or the USUBJID."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if table:
        stmt = stmt.where(AuditEntry.table_name == table)
    if user:
        stmt = stmt.where(AuditEntry.user == user)
    if key:
        stmt = stmt.where((AuditEntry.record_key.contains(key)) | (AuditEntry.usubjid.contains(key)))
    return [{"id": a.id, "at": _fmt(a.at), "user": a.user, "action": a.action, "table": a.table_name, "key": a.record_key,
             "field": None if a.field in ("*", "-") else a.field, "old": a.old_value, "new": a.new_value, "reason": a.reason}
            for a in db.scalars(stmt)]


def follow_up_ends(db: Session, usubjid: str) -> tuple[date | None, date | None]:
    """(end of treatment, end of the disease-assessment schedule) from the store's dispositions and death.
    Treatment ends at the first disposition event or death. Disease assessments run "until progression"
    (the protocol's schedule): they end at withdrawal, last contact or death, and at an end of treatment
    whose reason is progression. None where not recorded."""
    from ikema.store.models import Death, Disposition

    events = db.scalars(select(Disposition).where(Disposition.usubjid == usubjid).order_by(Disposition.date)).all()
    death = db.get(Death, usubjid)
    ends = [e.date for e in events] + ([death.date] if death else [])
    follow = [e.date for e in events if e.event in ("WITHDRAWAL", "LAST_CONTACT")
              or (e.event == "END_OF_TREATMENT" and "PROGRESS" in (e.reason or "").upper())] + ([death.date] if death else [])
    return (min(ends) if ends else None), (min(follow) if follow else None)


def administered(db: Session, usubjid: str) -> dict[tuple[int, int], list[str]]:
    """(cycle, day) -> drugs recorded as administered."""
    out: dict[tuple[int, int], list[str]] = {}
    for x in db.scalars(select(DrugAdministration).where(DrugAdministration.usubjid == usubjid).order_by(DrugAdministration.id)):
        out.setdefault((x.cycle, x.day), []).append(x.drug)
    return out


def randomization_refusal(db: Session, subject_row: dict[str, Any]) -> str | None:
    """The IRT's reason for refusing this subject, or None (already randomized counts as refused here)."""
    if subject_row.get("randomized"):
        return f"{subject_row['usubjid']}: already randomized"
    why = irt.refusal(db, subject_row["usubjid"])
    stratum = subject_row.get("stratum")
    if why is None and stratum:
        used, total = irt.positions(db).get(stratum, (0, 0))
        if used >= total:
            why = (f"{subject_row['usubjid']}: the allocation list of stratum {stratum!r} is exhausted or not stored; "
                   "no position is left to randomize this patient (data management must extend the list)")
    return why


def allocation_stock(db: Session) -> list[dict[str, Any]]:
    """Positions used and left per stratum of the stored allocation list (no arm), and which strata run short:
    'used up' at none left, 'low' when fewer than the protocol's largest block remain."""
    try:
        sizes = irt.scheme_from_protocol(protocol()).block_sizes
    except ProtocolError:
        sizes = (1,)
    low = max(sizes)
    out = []
    for stratum, (used, total) in irt.positions(db).items():
        left = total - used
        out.append({"stratum": stratum, "used": used, "total": total, "left": left,
                    "state": "used up" if left <= 0 else ("low" if left < low else "ok")})
    return out


def randomize(db: Session, usubjid: str, user: str, now: datetime) -> dict[str, Any]:
    """Randomize through the IRT (commits); a repeat returns the original allocation."""
    return _allocation(irt.randomize(db, usubjid, user, when=now.replace(tzinfo=timezone.utc)))


def randomize_many(db: Session, requests: list[tuple[str, str, datetime]]) -> list[dict[str, Any] | Exception]:
    """Randomize a batch of (usubjid, user, now) in one transaction (commits): per request, what `randomize` returns
    or the EligibilityError / AllocationExhaustedError it raises (returned, so that one refusal fails no other)."""
    out = irt.randomize_many(db, [irt.Request(u, user, now.replace(tzinfo=timezone.utc)) for u, user, now in requests])
    return [a if isinstance(a, Exception) else _allocation(a) for a in out]


def _allocation(a: irt.Assignment) -> dict[str, Any]:
    return {"usubjid": a.usubjid, "arm": a.arm, "randno": str(a.randno), "randdt": a.randdt.isoformat() if a.randdt else None}


def subject_sites(db: Session, usubjids: list[str]) -> dict[str, str]:
    """USUBJID -> site ('' when none) of the subjects that exist among `usubjids` (one query)."""
    return {u: site or "" for u, site in db.execute(select(Subject.usubjid, Subject.site_id).where(Subject.usubjid.in_(usubjids)))}


def allocations(db: Session) -> list[tuple[str, int, str]]:
    """(usubjid, allocation-list id, arm) of every used allocation-list position."""
    return [(e.used_by, e.id, e.arm) for e in db.scalars(select(AllocationEntry).where(AllocationEntry.used_by.is_not(None)))]


# --- automatic queries: the soft findings of conduct's edit checks, opened for the site -----------------------------

EDIT_CHECK_USER = "edit-check"  # the author of automatic queries in the audit trail and the query history
_FORM_OF_TABLE = {"disease_assessments": "assessment", "adverse_events": "ae", "drug_administrations": "exposure",
                  "subjects": "screening", "screening": "screening"}


def automatic_queries(db: Session, findings: list[Any], now: datetime) -> list[str]:
    """Open one query per soft edit-check finding (ikema.conduct.capture.take_findings) on the record's field, as
    an EDC does for a value outside its soft range; returns the query texts. Audited as EDIT_CHECK_USER."""
    from ikema.web.models import DataQuery, QueryEvent

    texts = []
    for f in findings:
        form = _FORM_OF_TABLE.get(f.table, f.table)
        field = _FORM_INPUT.get(form, {}).get(f.field, f.field)
        usubjid = f.usubjid or f.record
        with acting(db, EDIT_CHECK_USER, f"automatic query: {form}.{field}"):
            q = DataQuery(usubjid=usubjid, form=form, record_id=f.record_id or 0, field=field, status="open", text=f.text,
                          opened_by=EDIT_CHECK_USER, opened_at=now)
            db.add(q)
            db.flush()
            db.add(QueryEvent(query_id=q.id, action="open", text=f.text, by=EDIT_CHECK_USER, at=now))
            db.flush()
        texts.append(f"{field}: {f.text}")
    return texts


# --- writes of site records: through ikema.conduct.capture (its edit checks) plus the web's own checks -----------

_FIELD_RE = re.compile(r"field (\w+): got (.*), expected (.*)$")
# capture's field name -> the web form's input name
_FORM_INPUT = {
    "assessment": {"aval": "value", "avalc": "value", "date": "date"},
    "ae": {"onset": "start", "resolution": "end", "term": "term", "pt": "term", "grade": "grade", "serious": "serious",
           "outcome": "outcome", "related": "related", "action_taken": "action_taken"},
    "exposure": {"dose_mg": "dose_mg", "date": "date", "cycle": "cycle", "day": "day", "drug": "drug"},
}
_KIND = {"assessment": "assessment", "ae": "adverse_event", "exposure": "administration"}


def _field_error(form: str, exc: InputError, default: str) -> tuple[str, str]:
    """(form input, message) of a capture InputError."""
    m = _FIELD_RE.search(str(exc))
    if not m:
        return default, str(exc)
    fld, got, expected = m.groups()
    return _FORM_INPUT[form].get(fld, default), f"got {got}, expected {expected}"


def _parse_date(values: dict[str, str], name: str, errors: dict[str, str], required: bool = True) -> date | None:
    raw = (values.get(name) or "").strip()
    if not raw:
        if required:
            errors[name] = "required: a date YYYY-MM-DD"
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = f"{raw!r} is not a date; expected YYYY-MM-DD"
        return None


def _web_checks(form: str, values: dict[str, str], subject_row: dict[str, Any], today: date, errors: dict[str, str]) -> None:
    """Checks the web adds on top of capture's: no future dates, site data not before screening."""
    for name in ("date", "start", "end"):
        raw = (values.get(name) or "").strip()
        if not raw:
            continue
        try:
            d = date.fromisoformat(raw)
        except ValueError:
            errors[name] = f"{raw!r} is not a date; expected YYYY-MM-DD"
            continue
        if d > today:
            errors[name] = f"{raw} is in the future (today is {today.isoformat()} UTC)"
        elif form == "assessment" and subject_row.get("randdt") and d < date.fromisoformat(subject_row["randdt"]) - timedelta(days=28):
            errors[name] = f"{raw} is more than 28 days before randomization ({subject_row['randdt']})"


def _yn(v: str | None) -> bool | str | None:
    v = (v or "").strip().upper()
    return True if v == "Y" else False if v == "N" else (v or None)


def add(db: Session, user: str, subject_row: dict[str, Any], form: str, values: dict[str, str], now: datetime) -> int:
    """Insert a form's new records through capture's edit checks (audited as `user`); FieldErrors on any bad field,
    and the caller rolls the whole transaction back so that nothing is saved."""
    errors: dict[str, str] = {}
    u = subject_row["usubjid"]
    _web_checks(form, values, subject_row, now.date(), errors)
    n = 0
    if form == "assessment":
        given = {p: (values.get(p) or "").strip() for p in PARAMS}
        given = {p: v for p, v in given.items() if v}
        if not given:
            errors.setdefault("SMPROT", "enter at least one measurement")
        d = (values.get("date") or "").strip()
        if not d:
            errors["date"] = "required: a date YYYY-MM-DD"
        for p, raw in given.items():
            if errors.get("date"):
                break
            numeric = p in NUMERIC_PARAMS
            dup = db.scalar(select(DiseaseAssessment.id).where(DiseaseAssessment.usubjid == u, DiseaseAssessment.param == p,
                                                               DiseaseAssessment.date == date.fromisoformat(d)))
            if dup is not None:
                errors[p] = f"already recorded on {d} (record {dup}); change that record instead, with a reason"
                continue
            try:
                capture.record_assessment(db, u, d, p, user, aval=raw if numeric else None, avalc=None if numeric else raw.upper(),
                                          unit=NUMERIC_PARAMS[p][2] if numeric else None)
                n += 1
            except InputError as exc:
                fld, msg = _field_error(form, exc, p)
                errors[p if fld in ("value", p) else fld] = msg
    elif form == "ae":
        if not errors:
            try:
                capture.record_adverse_event(
                    db, u, pt=(values.get("term") or "").strip(), soc="(not yet coded)", grade=values.get("grade") or None,
                    serious=_yn(values.get("serious")), related=_yn(values.get("related")), onset=values.get("start") or None,
                    outcome=values.get("outcome") or None, action_taken=values.get("action_taken") or None, user=user,
                    term=(values.get("term") or "").strip() or None, resolution=values.get("end") or None)
                n = 1
            except InputError as exc:
                fld, msg = _field_error(form, exc, "term")
                errors[fld] = msg
    elif form == "exposure":
        drugs = arm_drugs(subject_row)
        drug = (values.get("drug") or "").strip()
        if drug not in drugs:
            errors["drug"] = f"{drug!r}: expected one of this patient's study drugs ({', '.join(drugs) or 'not randomized'})"
        if not errors:
            try:
                capture.record_administration(db, u, values.get("cycle") or None, values.get("day") or None, values.get("date") or None,
                                              drug, drug_route(subject_row, drug), values.get("dose_mg") or None, user)
                n = 1
            except InputError as exc:
                fld, msg = _field_error(form, exc, "dose_mg")
                errors[fld] = msg
    if errors:
        raise FieldErrors(errors)
    automatic_queries(db, capture.take_findings(db), now)
    return n


def change(db: Session, user: str, subject_row: dict[str, Any], form: str, rid: int, values: dict[str, str], reason: str, now: datetime) -> None:
    """Change a saved record through capture.correct (same edit checks, reason required, audited field by field)."""
    model = FORM_MODELS[form]
    obj = db.get(model, rid)
    if obj is None or obj.usubjid != subject_row["usubjid"]:
        raise FieldErrors({"record": f"no {form} record {rid} for this patient"})
    errors: dict[str, str] = {}
    _web_checks(form, values, subject_row, now.date(), errors)
    if errors:
        raise FieldErrors(errors)
    changes: dict[str, Any] = {}
    for name, raw in values.items():
        col = FORM_COLUMNS[form].get(name, name)
        if form == "assessment" and name == "value":
            if obj.param in NUMERIC_PARAMS:
                changes["aval"] = raw.strip()
            else:
                changes["avalc"] = raw.strip().upper()
        elif name in ("serious", "related"):
            changes[col] = _yn(raw)
        elif hasattr(obj, col):
            changes[col] = raw.strip() or None
    try:
        capture.correct(db, _KIND[form], rid, user, reason, **changes)
    except InputError as exc:
        fld, msg = _field_error(form, exc, "value" if form == "assessment" else "reason")
        raise FieldErrors({fld: msg}) from None
    automatic_queries(db, capture.take_findings(db), now)


# --- protocol facts (ikema.protocol) and the dosing calendar (ikema.conduct.calendar) -----------------------------

@lru_cache(maxsize=1)
def protocol() -> Any:
    """The packaged protocol (loaded once)."""
    from ikema.protocol import load_protocol

    return load_protocol()


def response_criteria() -> Any:
    """The IMWG criteria with the protocol's measurable-disease thresholds (IMWG 2016 as published without one)."""
    from ikema.response import Criteria

    try:
        return Criteria.from_protocol(protocol())
    except ProtocolError:
        return Criteria.imwg()


def cycle_length() -> int:
    """Days per treatment cycle, from the protocol (Protocol.cycle_length_days)."""
    return int(protocol().cycle_length_days)


def dosing_calendar(subject_row: dict[str, Any], cycles: int) -> list[dict[str, Any]]:
    """The patient's dosing calendar from the protocol, the arm and the screening weight and height."""
    p = protocol()
    from ikema.conduct.calendar import dosing_calendar as calendar

    scr = subject_row.get("screening") or {}
    weight = _first(scr, ("weight_kg", "weight", "WEIGHT"))
    height = _first(scr, ("height_cm", "height", "HEIGHT"))
    return [dict(r) for r in calendar(p, subject_row["arm"], float(weight), float(height), cycles)]


def _first(d: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        if d.get(k) not in (None, ""):
            return d[k]
    raise ProtocolError(f"screening record: none of {', '.join(keys)} given; the dosing calendar needs it")


def arm_drugs(subject_row: dict[str, Any]) -> list[str]:
    """The study drugs of the patient's arm (empty before randomization)."""
    if not subject_row.get("arm"):
        return []
    return sorted({r["drug"] for r in dosing_calendar(subject_row, 1)})


def drug_route(subject_row: dict[str, Any], drug: str) -> str:
    """The route of one study drug of the patient's arm."""
    for r in dosing_calendar(subject_row, 1):
        if r["drug"] == drug:
            return str(r.get("route") or "")
    return ""


# --- screening: ikema.conduct.screening.screen on the protocol, stored by ikema.conduct.capture.record_screening ---

def _items(obj: Any) -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        return list(obj.items())
    if hasattr(obj, "items"):
        return list(obj.items())
    if hasattr(obj, "model_dump"):
        return list(obj.model_dump().items())
    return []


def _attr(spec: Any, name: str) -> Any:
    return spec.get(name) if isinstance(spec, dict) else getattr(spec, name, None)


def _field_specs() -> dict[str, dict[str, str]]:
    """name -> {type, unit, label} of the protocol's screening fields."""
    p = protocol()
    sf = getattr(p, "screening_fields", None)
    if sf is None and isinstance(p, dict):
        sf = p.get("screening_fields")
    out = {}
    for name, spec in _items(sf):
        out[str(name)] = {k: str(_attr(spec, k) or "") for k in ("type", "unit", "label")}
    if not out:
        raise ProtocolError("protocol: no screening_fields table")
    return out


def screening_fields() -> list[Any]:
    """Inputs of the screening form: patient id, site, then the protocol's screening fields (type, unit, label)."""
    from ikema.web.forms import Field

    fields = [Field("usubjid", "Patient id (USUBJID)", required=True), Field("site", "Site", required=True)]
    for name, spec in _field_specs().items():
        if spec["type"] == "bool":
            fields.append(Field(name, spec["label"] or name, "choice", "", ("N", "Y")))
        else:
            fields.append(Field(name, spec["label"] or name, "number" if spec["type"] in ("int", "float") else "text", spec["unit"]))
    return fields


def screen(db: Session, user: str, values: dict[str, str], now: datetime) -> dict[str, Any]:
    """Screen a candidate with the protocol's criteria and store the result; FieldErrors for bad input."""
    from ikema.store import Site

    p = protocol()
    from ikema.conduct.screening import screen as protocol_screen

    errors: dict[str, str] = {}
    u = (values.get("usubjid") or "").strip()
    site = (values.get("site") or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,39}", u):
        errors["usubjid"] = f"{u!r}: expected 3-40 letters, digits, '-', '_' or '.'"
    elif db.get(Randomization, u) is not None:
        errors["usubjid"] = f"{u} is already randomized; screening is closed"
    if not site:
        errors["site"] = "required"
    elif db.get(Site, site) is None:
        errors["site"] = f"unknown site {site!r}"
    from ikema.conduct.edit_checks import check_screening_field

    candidate: dict[str, Any] = {}
    for name, spec in _field_specs().items():
        raw = (values.get(name) or "").strip()
        if raw == "":
            candidate[name] = None  # missing: the criterion that reads it says so
            continue
        if spec["type"] == "bool":
            if raw.upper() not in ("Y", "N"):
                errors[name] = f"{raw!r}: expected Y or N"
                continue
            candidate[name] = raw.upper() == "Y"
            continue
        try:  # the protocol's plausibility checks (ASCII numbers, ranges, codes), field by field to show every error
            candidate[name], _ = check_screening_field(name, raw, p, u or "-")
        except InputError as exc:
            m = _FIELD_RE.search(str(exc))
            errors[name] = f"got {m.group(2)}, expected {m.group(3)}" if m else str(exc)
    if errors:
        raise FieldErrors(errors)
    try:
        result = protocol_screen(candidate, p)
    except InputError as exc:
        m = _FIELD_RE.search(str(exc))
        raise FieldErrors({m.group(1) if m else "usubjid": str(exc)}) from None
    try:
        capture.record_screening(db, u, candidate, result, user, site_id=site, reason="re-screening" if db.get(Subject, u) else None,
                                 when=now.replace(tzinfo=timezone.utc))
    except InputError as exc:
        m = _FIELD_RE.search(str(exc))
        raise FieldErrors({m.group(1) if m else "usubjid": str(exc)}) from None
    queries = automatic_queries(db, capture.take_findings(db), now)
    wording = {str(_attr(c, "id")): f"{_attr(c, 'kind') or ''}: {_attr(c, 'text') or ''}".strip(": ")
               for c in (getattr(p, "eligibility", None) or [])}
    verdicts = []
    for v in result.verdicts:
        cid, verdict, reason = (v[0], v[1], v[2]) if isinstance(v, (tuple, list)) else (getattr(v, "criterion", getattr(v, "id", "")), getattr(v, "verdict", ""), getattr(v, "reason", ""))
        verdicts.append({"id": cid, "verdict": str(getattr(verdict, "value", verdict)).lower(), "reason": reason,
                         "text": wording.get(str(cid), "")})
    return {"usubjid": u, "eligible": bool(result.eligible), "verdicts": verdicts,
            "stratum": irt.stratum_label(result.stratum) if result.stratum else None, "queries": queries}
