"""The web app's view of the trial, read and written ONLY through ikema.store, ikema.conduct and
ikema.protocol (no data layer of its own): patients, screening, randomization, calendars, capture forms,
the audit trail and the casebook hash that e-signatures bind to."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ikema.errors import ProtocolError

from ikema.web import blinding, review, store_glue
from ikema.web.auth import Principal
from ikema.web.forms import FORM_SPECS, Field, FieldErrors, FormSpec, param_fields, text
from ikema.web.models import AssessorVerdict

__all__ = [
    "FORM_SPECS", "FieldErrors", "FormSpec", "text", "sites", "list_subjects", "get_subject", "screening_fields",
    "screen_candidate", "randomization_refusal", "randomize", "dosing", "visits", "treatment_visits", "entry_fields", "editable_fields",
    "records", "record", "add", "change", "field_history", "audit_rows", "casebook_hash", "assessments_long",
    "review_rows", "review_subject", "record_verdict", "verdicts",
]

VISIT_WINDOW_DAYS = 3  # +/- days around a scheduled assessment visit before it counts as overdue
TREATMENT_WINDOW_DAYS = 1  # days a dosing visit may slip before it counts as overdue (ASSUMPTION: not published)


def sites(db: Session) -> list[str]:
    """Sites that have patients, busiest first."""
    counts: dict[str, int] = {}
    for s in store_glue.subjects(db):
        counts[s["site"]] = counts.get(s["site"], 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))


def list_subjects(db: Session, site: str | None = None) -> list[dict[str, Any]]:
    """Patients (all, or of one site) as plain dicts."""
    return [s for s in store_glue.subjects(db) if site is None or s["site"] == site]


def get_subject(db: Session, usubjid: str) -> dict[str, Any] | None:
    """One patient as a plain dict, or None."""
    return store_glue.subject(db, usubjid)


def screening_fields() -> list[Field]:
    """The inputs of the screening form (from the protocol's eligibility rules)."""
    return store_glue.screening_fields()


def screen_candidate(db: Session, user: Principal, values: dict[str, str], now: datetime) -> dict[str, Any]:
    """Screen a candidate and store the result; FieldErrors for unreadable input (nothing saved)."""
    return store_glue.screen(db, user.username, values, now)


def randomization_refusal(db: Session, subject: dict[str, Any]) -> str | None:
    """Why this patient cannot be randomized now, or None."""
    return store_glue.randomization_refusal(db, subject)


def randomize(db: Session, user: Principal, usubjid: str, now: datetime) -> dict[str, Any]:
    """Randomize through the IRT (idempotent); EligibilityError with the reason when refused."""
    return store_glue.randomize(db, usubjid, user.username, now)


def dosing(subject: dict[str, Any], cycles: int = 2) -> list[dict[str, Any]]:
    """The patient's dosing calendar for the first cycles (arm-revealing: callers check arm.view)."""
    if not subject.get("arm"):
        return []
    try:
        return store_glue.dosing_calendar(subject, cycles)
    except ProtocolError:
        return []


def visits(db: Session, subject: dict[str, Any], today: date) -> list[dict[str, Any]]:
    """Disease-assessment visits (day 1 of every cycle, same in both arms): expected, done or overdue."""
    start = subject.get("randdt")
    if not start:
        return []
    start_d = date.fromisoformat(str(start))
    try:
        cycle_days = store_glue.cycle_length()
    except ProtocolError:
        return []
    done_days = {int(r["ady"]) for r in store_glue.assessments(db, subject["usubjid"])}
    _, follow_up_end = store_glue.follow_up_ends(db, subject["usubjid"])
    out = []
    n = 1
    while True:
        expected = start_d + timedelta(days=(n - 1) * cycle_days)
        if expected > today + timedelta(days=cycle_days) or n > 60:
            break
        ady = (n - 1) * cycle_days + 1
        done = any(abs(d - ady) <= VISIT_WINDOW_DAYS for d in done_days)
        if follow_up_end and expected > follow_up_end and not done:
            break  # the schedule ended (progression, withdrawal, last contact or death)
        late = today > expected + timedelta(days=VISIT_WINDOW_DAYS)
        out.append({"label": f"Cycle {n} day 1 assessment", "cycle": n, "date": expected.isoformat(), "ady": ady,
                    "window": VISIT_WINDOW_DAYS, "state": "done" if done else ("overdue" if late else "expected")})
        n += 1
    return out


def treatment_visits(db: Session, subject: dict[str, Any], today: date) -> dict[str, Any]:
    """The patient's treatment (dosing) visits, arm-revealing (callers check arm.view): every dosing day of the
    arm's calendar up to the next cycle (or the end of treatment), expected, done (an administration recorded
    for that cycle and day) or overdue (more than TREATMENT_WINDOW_DAYS late). Returns the rows of the current
    and neighbouring cycles and counts for the earlier ones."""
    start = subject.get("randdt")
    if not start or not subject.get("arm"):
        return {"rows": [], "earlier": None}
    start_d = date.fromisoformat(str(start))
    try:
        cycle_days = store_glue.cycle_length()
    except ProtocolError:
        return {"rows": [], "earlier": None}
    end_of_treatment, follow_up_end = store_glue.follow_up_ends(db, subject["usubjid"])
    end_of_treatment = min(d for d in (end_of_treatment, follow_up_end) if d) if (end_of_treatment or follow_up_end) else None
    last = min(today, end_of_treatment) if end_of_treatment else today
    current = max(1, (last - start_d).days // cycle_days + 1)
    given = store_glue.administered(db, subject["usubjid"])
    by_day: dict[tuple[int, int], list[str]] = {}
    for r in dosing(subject, cycles=min(current + 1, 120)):
        by_day.setdefault((int(r["cycle"]), int(r["day"])), []).append(str(r["drug"]))
    rows, earlier = [], {"done": 0, "overdue": 0}
    for (cycle, day), drugs in sorted(by_day.items()):
        when = start_d + timedelta(days=(cycle - 1) * cycle_days + day - 1)
        if end_of_treatment and when > end_of_treatment:
            continue
        state = "done" if (cycle, day) in given else ("overdue" if today > when + timedelta(days=TREATMENT_WINDOW_DAYS) else "expected")
        if cycle < current - 1:
            if state in earlier:
                earlier[state] += 1
            continue
        rows.append({"cycle": cycle, "day": day, "date": when.isoformat(), "drugs": ", ".join(sorted(set(drugs))),
                     "given": ", ".join(sorted(set(given.get((cycle, day), [])))), "state": state})
    return {"rows": rows, "earlier": earlier if current > 2 else None, "ended": end_of_treatment.isoformat() if end_of_treatment else None}


def entry_fields(form: str, subject: dict[str, Any]) -> list[Field]:
    """The inputs of a form's entry block for this patient."""
    if form == "assessment":
        return [Field("date", "Assessment date", "date")] + param_fields()
    if form == "exposure":
        drugs = tuple(store_glue.arm_drugs(subject))
        cols = list(FORM_SPECS["exposure"].columns)
        cols[0] = Field("drug", "Drug", "choice", "", drugs, True)
        return cols
    return list(FORM_SPECS[form].columns)


def editable_fields(form: str, rec: dict[str, Any]) -> list[Field]:
    """The fields a change of a saved record may touch."""
    spec = FORM_SPECS[form]
    out = [f for f in spec.columns if f.name in spec.editable]
    if form == "assessment":
        param = rec.get("param")
        pf = {f.name: f for f in param_fields()}.get(param)
        out = [Field("date", "Assessment date", "date")] + ([Field("value", f"Value ({pf.label})", pf.type, pf.unit, pf.choices)] if pf else [])
    return out


def records(db: Session, subject: dict[str, Any], form: str) -> list[dict[str, Any]]:
    """A patient's saved records of one form."""
    return store_glue.records(db, subject, form)


def record(db: Session, subject: dict[str, Any], form: str, rid: int) -> dict[str, Any] | None:
    """One saved record of a patient's form, or None."""
    for r in records(db, subject, form):
        if r["id"] == rid:
            return r
    return None


def add(db: Session, user: Principal, subject: dict[str, Any], form: str, values: dict[str, str], now: datetime) -> int:
    """Save new records through the store's edit checks (all or nothing); returns how many were saved."""
    return store_glue.add(db, user.username, subject, form, values, now)


def change(db: Session, user: Principal, subject: dict[str, Any], form: str, rid: int, values: dict[str, str], reason: str, now: datetime) -> None:
    """Change a saved record with a reason, through the store's edit checks."""
    allowed_names = {f.name for f in editable_fields(form, record(db, subject, form, rid) or {})}
    store_glue.change(db, user.username, subject, form, rid, {k: v for k, v in values.items() if k in allowed_names}, reason, now)


def field_history(db: Session, form: str, rid: int, field: str) -> list[dict[str, Any]]:
    """Audit rows of one field of one record, oldest first."""
    return store_glue.field_history(db, form, rid, field)


def audit_rows(db: Session, *, table: str | None = None, user: str | None = None, key: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Audit-trail rows, newest first, optionally filtered."""
    return store_glue.audit_rows(db, table=table, user=user, key=key, limit=limit)


def assessments_long(db: Session, subject: dict[str, Any]) -> list[dict[str, Any]]:
    """The patient's disease assessments as long rows (id, usubjid, ady, date, param, value, unit)."""
    return store_glue.assessments(db, subject["usubjid"])


def casebook_hash(db: Session, usubjid: str) -> str:
    """SHA-256 of the patient's whole casebook (identity, allocation, every form's records)."""
    s = get_subject(db, usubjid) or {}
    content = {"subject": {k: text(v) for k, v in sorted(s.items())}}
    for form in FORM_SPECS:
        content[form] = [{k: text(v) for k, v in sorted(r.items())} for r in store_glue.records(db, s, form)] if s else []
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


# --- blinded review (built from blinding's allow-list only) ----------------------------------------------------

def review_rows(db: Session) -> list[dict[str, Any]]:
    """The assessor's patient list: allow-listed fields, assessment-day count, engine BOR, own verdict count."""
    out = []
    for s in store_glue.subjects(db):
        if not s.get("randomized"):
            continue
        view = blinding.subject_view(s)
        rows = blinding.assessments_view(store_glue.assessments(db, s["usubjid"]))
        days, bor = review.days_table(rows)
        view.update(days=len(days), bor=bor or "", nverdicts=len(review.verdicts(db, s["usubjid"])))
        out.append(view)
    return out


def review_subject(db: Session, usubjid: str, today: date) -> dict[str, Any] | None:
    """Everything the assessor's patient page shows, or None when the patient is not randomized."""
    s = get_subject(db, usubjid)
    if s is None or not s.get("randomized"):
        return None
    rows = blinding.assessments_view(store_glue.assessments(db, usubjid))
    days, bor = review.days_table(rows)
    vis = [{k: v[k] for k in ("label", "date", "state")} for v in visits(db, s, today)]
    return {"s": blinding.subject_view(s), "days": days, "bor": bor, "params": blinding.ALLOWED_PARAMS,
            "visits": vis, "verdicts": review.verdicts(db, usubjid)}


def record_verdict(db: Session, user: Principal, usubjid: str, ady: str, verdict: str, reason: str, now: datetime) -> AssessorVerdict:
    """Record the assessor's independent verdict (LookupError when the patient is not under review)."""
    s = get_subject(db, usubjid)
    if s is None or not s.get("randomized"):
        raise LookupError(usubjid)
    rows = blinding.assessments_view(store_glue.assessments(db, usubjid))
    return review.record_verdict(db, user, usubjid, rows, ady, verdict, reason, now)


def verdicts(db: Session, usubjid: str) -> list[AssessorVerdict]:
    """The independent verdicts of a patient."""
    return review.verdicts(db, usubjid)
