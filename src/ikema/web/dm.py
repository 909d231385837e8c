"""Data management: field queries with their life cycle, SDV marks, form locks and casebook e-signatures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ikema.errors import IkemaError
from ikema.web import store_glue
from ikema.web.auth import Principal
from ikema.web.deps import NotFoundError, require_site_authority
from ikema.web.models import FORMS, DataQuery, FormLock, QueryEvent, SdvMark, Signature
from ikema.web.permissions import require

# The query state machine: (state, action) -> new state, and the permission each action needs.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("open", "answer"): "answered",
    ("answered", "close"): "closed",
    ("answered", "reopen"): "open",
    ("open", "close"): "closed",
    ("closed", "reopen"): "open",
}
ACTION_PERMISSION = {"answer": "query.answer", "close": "query.close", "reopen": "query.close"}


class WorkflowError(IkemaError):
    """A query step not allowed from the query's state, or a missing text."""


class FormLocked(IkemaError):
    """A change to a locked form was refused."""


@dataclass(frozen=True)
class FieldRef:
    """One field of one record of one form of one patient."""

    usubjid: str
    form: str
    record_id: int
    field: str


def _check_form(form: str) -> None:
    if form not in FORMS:
        raise WorkflowError(f"form {form!r}: expected one of {', '.join(FORMS)}")


def raise_query(db: Session, user: Principal, ref: FieldRef, text: str, now: datetime) -> DataQuery:
    """Open a query on a field (data manager or monitor)."""
    require(user, "query.raise")
    _check_form(ref.form)
    if not text.strip():
        raise WorkflowError("query text: required")
    with store_glue.acting(db, user.username, f"query raised on {ref.form}.{ref.field}"):
        q = DataQuery(usubjid=ref.usubjid, form=ref.form, record_id=ref.record_id, field=ref.field, status="open",
                      text=text.strip(), opened_by=user.username, opened_at=now)
        db.add(q)
        db.flush()
        db.add(QueryEvent(query_id=q.id, action="open", text=text.strip(), by=user.username, at=now))
        db.flush()
    return q


def step_query(db: Session, user: Principal, query: DataQuery, action: str, text: str, now: datetime) -> DataQuery:
    """Answer (site), close or re-open (data manager) a query; keeps every step in its history."""
    if action not in ACTION_PERMISSION:
        raise WorkflowError(f"query action {action!r}: expected answer, close or reopen")
    require(user, ACTION_PERMISSION[action])
    new = TRANSITIONS.get((query.status, action))
    if new is None:
        raise WorkflowError(f"query {query.id} is {query.status}: cannot {action} it")
    if not text.strip():
        raise WorkflowError(f"{action}: a comment is required")
    with store_glue.acting(db, user.username, f"query {query.id} {action}"):
        query.status = new
        db.add(QueryEvent(query_id=query.id, action=action, text=text.strip(), by=user.username, at=now))
        db.flush()
    return query


def step_query_by_id(db: Session, user: Principal, qid: int, action: str, text: str, now: datetime) -> DataQuery:
    """The query step of the page and of the JSON route alike: the action's permission, the query (404 when absent),
    the site authority over its patient (404 outside the user's sites), then `step_query`. A step that does not follow
    from the query's state rolls back and raises WorkflowError (each route answers it in its own way)."""
    if action not in ACTION_PERMISSION:
        raise NotFoundError(action)
    require(user, ACTION_PERMISSION[action])
    q = db.get(DataQuery, qid)
    if q is None:
        raise NotFoundError(str(qid))
    require_site_authority(db, user, q.usubjid)
    try:
        return step_query(db, user, q, action, text, now)
    except WorkflowError:
        db.rollback()
        raise


def query_history(db: Session, query_id: int) -> list[QueryEvent]:
    """Every step of a query, oldest first."""
    return list(db.scalars(select(QueryEvent).where(QueryEvent.query_id == query_id).order_by(QueryEvent.id)))


def queries_for(db: Session, usubjid: str | None = None, sites: set[str] | None = None) -> list[DataQuery]:
    """Queries of a patient (or all), newest first."""
    stmt = select(DataQuery).order_by(DataQuery.id.desc())
    if usubjid is not None:
        stmt = stmt.where(DataQuery.usubjid == usubjid)
    return list(db.scalars(stmt))


def is_locked(db: Session, usubjid: str, form: str) -> bool:
    """True when the patient's form is locked."""
    lock = db.scalar(select(FormLock).where(FormLock.usubjid == usubjid, FormLock.form == form))
    return bool(lock and lock.locked)


def ensure_unlocked(db: Session, usubjid: str, form: str) -> None:
    """Raise FormLocked when the form is locked (every write path calls this first)."""
    if is_locked(db, usubjid, form):
        raise FormLocked(f"{usubjid}: the {form} form is locked by data management; no change is possible until it is unlocked")


def set_lock(db: Session, user: Principal, usubjid: str, form: str, locked: bool, reason: str, now: datetime) -> FormLock:
    """Lock or unlock a patient's form (data manager; a reason is required and audited)."""
    require(user, "lock.set")
    _check_form(form)
    if not reason.strip():
        raise WorkflowError("lock/unlock: a reason is required")
    with store_glue.acting(db, user.username, reason.strip()):
        lock = db.scalar(select(FormLock).where(FormLock.usubjid == usubjid, FormLock.form == form))
        if lock is None:
            lock = FormLock(usubjid=usubjid, form=form, locked=locked, by=user.username, at=now)
            db.add(lock)
        else:
            lock.locked, lock.by, lock.at = locked, user.username, now
        db.flush()
    return lock


def locks_of(db: Session, usubjid: str) -> dict[str, bool]:
    """Lock state of every form of a patient."""
    rows = db.scalars(select(FormLock).where(FormLock.usubjid == usubjid))
    state = {f: False for f in FORMS}
    state.update({r.form: r.locked for r in rows})
    return state


def mark_sdv(db: Session, user: Principal, ref: FieldRef, value: str, now: datetime) -> SdvMark:
    """Mark a field's current value source-data verified (monitor)."""
    require(user, "sdv.mark")
    _check_form(ref.form)
    with store_glue.acting(db, user.username, f"SDV of {ref.form}.{ref.field}"):
        m = SdvMark(usubjid=ref.usubjid, form=ref.form, record_id=ref.record_id, field=ref.field, value=value, by=user.username, at=now)
        db.add(m)
        db.flush()
    return m


def sdv_state(db: Session, usubjid: str, current: dict[tuple[str, int, str], str]) -> dict[tuple[str, int, str], SdvMark]:
    """The SDV marks still valid: the latest mark per field whose value equals the field's current value."""
    latest: dict[tuple[str, int, str], SdvMark] = {}
    for m in db.scalars(select(SdvMark).where(SdvMark.usubjid == usubjid).order_by(SdvMark.id)):
        latest[(m.form, m.record_id, m.field)] = m
    return {k: m for k, m in latest.items() if current.get(k) == m.value}


def sign_casebook(db: Session, user: Principal, usubjid: str, content_hash: str, meaning: str, now: datetime) -> Signature:
    """Record an investigator's e-signature bound to the casebook's content hash (password checked by caller)."""
    require(user, "casebook.sign")
    if not meaning.strip():
        raise WorkflowError("signature meaning: required")
    with store_glue.acting(db, user.username, f"e-signature: {meaning.strip()}"):
        s = Signature(usubjid=usubjid, username=user.username, full_name=user.full_name, meaning=meaning.strip(),
                      content_hash=content_hash, signed_at=now)
        db.add(s)
        db.flush()
    return s


def signatures_of(db: Session, usubjid: str) -> list[Signature]:
    """A patient's signatures, newest first."""
    return list(db.scalars(select(Signature).where(Signature.usubjid == usubjid).order_by(Signature.id.desc())))
