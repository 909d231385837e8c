"""The JSON API's writes under /api/v1: every write a form does (screening, disease assessments, adverse events,
drug administrations and their changes, disposition and death, queries, SDV, locks, assessor verdicts), the central
laboratory's CSV import and CDISC ODM 1.3 export and import.

Each route names its permission (`require`), finds the patient inside the caller's site scope with issue 16's
`deps.require_site_authority` (404 otherwise, the same answer as for no patient), refuses a locked form (423), and writes through the same functions as the forms
(`trial.add`, `trial.change`, `ikema.conduct.capture`, `dm`), so their edit checks apply and every write lands in
the audit trail. A refused write stores nothing: 422 with `detail` a list of {loc, msg}, FastAPI's own shape.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from ikema.conduct import capture
from ikema.conduct.edit_checks import MAX_INT
from ikema.errors import InputError
from ikema.web import dm, labimport, odm, trial
from ikema.web.auth import Principal
from ikema.web.deps import LockedError, NotFoundError, RecordId, api_user, get_db, now, require_site_authority
from ikema.web.permissions import require, site_scope

router = APIRouter(prefix="/api/v1", tags=["writes"])

# API path segment -> capture form of the web app
KINDS: dict[str, str] = {"assessments": "assessment", "adverse-events": "ae", "administrations": "exposure"}
Scalar = str | int | float | bool | None
MAX_ID = MAX_INT  # record ids and days fit a 32-bit INTEGER on every backend
_FIELD_RE = re.compile(r"field (\w+): got (.*), expected (.*)$")


# --- request and response bodies (they are the OpenAPI documentation) ------------------------------------------

class ScreeningIn(BaseModel):
    """A candidate's screening findings, named as the protocol's screening fields (GET /api/v1/screening/fields)."""

    usubjid: str = Field(max_length=40)
    site: str | None = Field(None, max_length=20, description="ignored for site roles: they screen for their own site")
    findings: dict[str, Scalar] = Field(default_factory=dict)


class AssessmentIn(BaseModel):
    """One assessment visit: IMWG PARAM -> value (numbers in the PARAM's unit, coded values as text)."""

    date: str = Field(description="YYYY-MM-DD")
    values: dict[str, Scalar]


class AdverseEventIn(BaseModel):
    """An adverse event as the site reports it."""

    term: str = Field(max_length=200)
    start: str = Field(description="YYYY-MM-DD")
    end: str | None = Field(None, description="YYYY-MM-DD; empty while ongoing")
    grade: int = Field(ge=1, le=5, description="CTCAE grade 1-5")
    serious: bool | str
    related: bool | str
    outcome: str = Field(description=" | ".join(capture.AE_OUTCOMES))
    action_taken: str = Field(description=" | ".join(capture.AE_ACTIONS))


class AdministrationIn(BaseModel):
    """One administration of one of the patient's study drugs."""

    drug: str = Field(max_length=40)
    date: str = Field(description="YYYY-MM-DD")
    cycle: int = Field(ge=1, le=1000)
    day: int = Field(ge=1, le=1000)
    dose_mg: float = Field(ge=0, le=100_000)


class ChangeIn(BaseModel):
    """A change of a saved record: the fields to change and the reason (required)."""

    changes: dict[str, Scalar]
    reason: str = Field(max_length=500)


class DispositionIn(BaseModel):
    """End of treatment, withdrawal, last or follow-up contact."""

    event: Literal["END_OF_TREATMENT", "WITHDRAWAL", "LAST_CONTACT", "FOLLOW_UP_CONTACT"]
    date: str = Field(description="YYYY-MM-DD")
    reason: str | None = Field(None, max_length=200, description="required except for contacts")


class DeathIn(BaseModel):
    """A patient's death."""

    date: str = Field(description="YYYY-MM-DD")
    cause: str = Field(max_length=200)


class QueryIn(BaseModel):
    """A query on one field of one saved record."""

    kind: Literal["assessments", "adverse-events", "administrations"]
    record_id: int = Field(ge=1, le=MAX_ID)
    field: str = Field(max_length=64)
    text: str = Field(max_length=2000)


class QueryStepIn(BaseModel):
    """The text of an answer, a closing or a re-opening."""

    text: str = Field(max_length=2000)


class SdvIn(BaseModel):
    """The field whose current value the monitor has verified against source."""

    field: str = Field(max_length=64)


class LockIn(BaseModel):
    """Lock or unlock one form of a patient."""

    kind: Literal["assessments", "adverse-events", "administrations"]
    locked: bool
    reason: str = Field(max_length=500)


class VerdictIn(BaseModel):
    """The blinded assessor's independent response verdict for one assessment day."""

    ady: int = Field(ge=-MAX_ID, le=MAX_ID)
    verdict: Literal["sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE"]
    reason: str = Field(max_length=2000)


class Saved(BaseModel):
    """What a write stored: how many values and the new records as the API shows them."""

    saved: int
    records: list[dict[str, Any]] = []


class QueryOut(BaseModel):
    """A data query and its state."""

    id: int
    usubjid: str
    kind: str
    record_id: int
    field: str
    status: str
    text: str
    opened_by: str
    opened_at: str


# --- shared steps ---------------------------------------------------------------------------------------------

def refused(errors: dict[str, str], where: str = "body") -> HTTPException:
    """422 naming every refused field, in FastAPI's documented ValidationError shape (loc, msg, type)."""
    return HTTPException(status_code=422, detail=[{"loc": [where, k], "msg": v, "type": "value_error"} for k, v in errors.items()])


def _form(kind: str) -> str:
    if kind not in KINDS:
        raise NotFoundError(kind)
    return KINDS[kind]


def _unlocked(db: Session, usubjid: str, form: str) -> None:
    if dm.is_locked(db, usubjid, form):
        raise LockedError(f"{usubjid}: the {trial.FORM_SPECS[form].title.lower()} form is locked; no change is possible")


def _text(v: Scalar) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "Y" if v else "N"
    if isinstance(v, float) and v.is_integer():
        return f"{v:g}"
    return str(v)


def _input_error(exc: InputError, default: str) -> dict[str, str]:
    m = _FIELD_RE.search(str(exc))
    return {m.group(1): f"got {m.group(2)}, expected {m.group(3)}"} if m else {default: str(exc)}


def _not_future(request: Request, raw: str, name: str) -> None:
    try:
        d = dt.date.fromisoformat(raw)
    except ValueError:
        raise refused({name: f"{raw!r} is not a date; expected YYYY-MM-DD"}) from None
    if d > now(request).date():
        raise refused({name: f"{raw} is in the future (today is {now(request).date().isoformat()} UTC)"})


def _add(request: Request, db: Session, user: Principal, usubjid: str, form: str, values: dict[str, str]) -> dict:
    require(user, trial.FORM_SPECS[form].enter_action)
    s = require_site_authority(db, user, usubjid)
    _unlocked(db, usubjid, form)
    before = {r["id"] for r in trial.records(db, s, form)}
    try:
        n = trial.add(db, user, s, form, values, now(request))
    except trial.FieldErrors as exc:
        db.rollback()
        raise refused(exc.errors) from None
    db.commit()
    return {"saved": n, "records": [r for r in trial.records(db, s, form) if r["id"] not in before]}


# --- screening and capture ------------------------------------------------------------------------------------

@router.get("/screening/fields")
def api_screening_fields(user: Principal = Depends(api_user)) -> list[dict[str, Any]]:
    """The protocol's screening fields: name, label, type, unit and choices."""
    require(user, "screening.enter")
    return [{"name": f.name, "label": f.label, "type": f.type, "unit": f.unit, "choices": list(f.choices)}
            for f in trial.screening_fields() if f.name not in ("usubjid", "site")]


@router.post("/screening")
def api_screen(request: Request, body: ScreeningIn, user: Principal = Depends(api_user), db: Session = Depends(get_db)) -> dict:
    """Screen a candidate by the protocol's criteria and store the result (per-criterion verdicts back)."""
    require(user, "screening.enter")
    require_site_authority(db, user, body.usubjid.strip(), may_be_new=True)  # re-screening: own site only, as the form
    known = {f.name for f in trial.screening_fields()} - {"usubjid", "site"}
    unknown = sorted(set(body.findings) - known)
    if unknown:
        raise refused({f"findings.{k}": "not a screening field of the protocol" for k in unknown})
    values = {k: _text(v) for k, v in body.findings.items()}
    values["usubjid"] = body.usubjid
    values["site"] = site_scope(user) if site_scope(user) is not None else (body.site or "")
    try:
        result = trial.screen_candidate(db, user, values, now(request))
    except trial.FieldErrors as exc:
        db.rollback()
        raise refused(exc.errors) from None
    db.commit()
    return result


@router.post("/subjects/{usubjid}/assessments", status_code=201, response_model=Saved)
def api_add_assessment(request: Request, usubjid: str, body: AssessmentIn, user: Principal = Depends(api_user),
                       db: Session = Depends(get_db)) -> dict:
    """Enter one assessment visit (all values or none are stored)."""
    unknown = sorted(set(body.values) - set(capture.NUMERIC_PARAMS) - set(capture.CODED_PARAMS))
    if unknown:
        raise refused({f"values.{k}": "not an IMWG PARAM (SMPROT, UMPROT, FLCK, FLCL, BMPC, PLASMA, SIFE, UIFE, "
                                      "CLONALPC, NEWLES, MRD)" for k in unknown})
    return _add(request, db, user, usubjid, "assessment", {"date": body.date} | {k: _text(v) for k, v in body.values.items()})


@router.post("/subjects/{usubjid}/adverse-events", status_code=201, response_model=Saved)
def api_add_ae(request: Request, usubjid: str, body: AdverseEventIn, user: Principal = Depends(api_user),
               db: Session = Depends(get_db)) -> dict:
    """Report an adverse event."""
    return _add(request, db, user, usubjid, "ae", {k: _text(v) for k, v in body.model_dump().items()})


@router.post("/subjects/{usubjid}/administrations", status_code=201, response_model=Saved)
def api_add_administration(request: Request, usubjid: str, body: AdministrationIn, user: Principal = Depends(api_user),
                           db: Session = Depends(get_db)) -> dict:
    """Record one administration of one of the patient's study drugs."""
    return _add(request, db, user, usubjid, "exposure", {k: _text(v) for k, v in body.model_dump().items()})


@router.get("/subjects/{usubjid}/{kind}/{rid}")
def api_record(usubjid: str, kind: str, rid: RecordId, user: Principal = Depends(api_user), db: Session = Depends(get_db)) -> dict:
    """One saved record (assessments, adverse-events, administrations)."""
    form = _form(kind)
    require(user, trial.FORM_SPECS[form].view_action)
    rec = trial.record(db, require_site_authority(db, user, usubjid), form, rid)
    if rec is None:
        raise NotFoundError(f"{kind} {rid}")
    return rec


@router.patch("/subjects/{usubjid}/{kind}/{rid}")
def api_change(request: Request, usubjid: str, kind: str, rid: RecordId, body: ChangeIn, user: Principal = Depends(api_user),
               db: Session = Depends(get_db)) -> dict:
    """Change a saved record with a reason (the same edit checks; audited field by field)."""
    form = _form(kind)
    require(user, trial.FORM_SPECS[form].enter_action)
    s = require_site_authority(db, user, usubjid)
    _unlocked(db, usubjid, form)
    rec = trial.record(db, s, form, rid)
    if rec is None:
        raise NotFoundError(f"{kind} {rid}")
    editable = {f.name for f in trial.editable_fields(form, rec)}
    bad = {f"changes.{k}": f"not a changeable field; expected one of {', '.join(sorted(editable))}" for k in body.changes if k not in editable}
    if not body.reason.strip():
        bad["reason"] = "a reason for the change is required"
    if bad:
        raise refused(bad)
    try:
        trial.change(db, user, s, form, rid, {k: _text(v) for k, v in body.changes.items()}, body.reason.strip(), now(request))
    except trial.FieldErrors as exc:
        db.rollback()
        raise refused(exc.errors) from None
    db.commit()
    return trial.record(db, s, form, rid) or {}


@router.post("/subjects/{usubjid}/dispositions", status_code=201)
def api_disposition(request: Request, usubjid: str, body: DispositionIn, user: Principal = Depends(api_user),
                    db: Session = Depends(get_db)) -> dict:
    """Record end of treatment, withdrawal, last contact or a follow-up contact."""
    require(user, "disposition.enter")
    require_site_authority(db, user, usubjid)
    _not_future(request, body.date, "date")
    try:
        d = capture.record_disposition(db, usubjid, body.event, body.date, user.username, disposition_reason=body.reason)
    except InputError as exc:
        db.rollback()
        raise refused(_input_error(exc, "event")) from None
    db.commit()
    return {"id": d.id, "usubjid": usubjid, "event": d.event, "date": d.date.isoformat(), "reason": d.reason}


@router.post("/subjects/{usubjid}/death", status_code=201)
def api_death(request: Request, usubjid: str, body: DeathIn, user: Principal = Depends(api_user), db: Session = Depends(get_db)) -> dict:
    """Record a patient's death (once)."""
    require(user, "disposition.enter")
    require_site_authority(db, user, usubjid)
    _not_future(request, body.date, "date")
    try:
        d = capture.record_death(db, usubjid, body.date, body.cause, user.username)
    except InputError as exc:
        db.rollback()
        raise refused(_input_error(exc, "date")) from None
    db.commit()
    return {"usubjid": usubjid, "date": d.date.isoformat(), "cause": d.cause}


# --- data management and review ------------------------------------------------------------------------------

def _query_out(q: Any) -> dict:
    kind = {v: k for k, v in KINDS.items()}.get(q.form, q.form)
    return {"id": q.id, "usubjid": q.usubjid, "kind": kind, "record_id": q.record_id, "field": q.field, "status": q.status,
            "text": q.text, "opened_by": q.opened_by, "opened_at": q.opened_at.isoformat()}


@router.get("/queries", response_model=list[QueryOut])
def api_queries(user: Principal = Depends(api_user), db: Session = Depends(get_db)) -> list[dict]:
    """Queries inside the caller's site scope, newest first."""
    require(user, "query.view")
    inside = {s["usubjid"] for s in trial.list_subjects(db, site_scope(user))}
    return [_query_out(q) for q in dm.queries_for(db) if q.usubjid in inside]


@router.post("/subjects/{usubjid}/queries", status_code=201, response_model=QueryOut)
def api_raise_query(request: Request, usubjid: str, body: QueryIn, user: Principal = Depends(api_user),
                    db: Session = Depends(get_db)) -> dict:
    """Raise a query on one field of a saved record (data manager, monitor)."""
    require(user, "query.raise")
    s = require_site_authority(db, user, usubjid)
    form = KINDS[body.kind]
    if trial.record(db, s, form, body.record_id) is None:
        raise NotFoundError(f"{body.kind} {body.record_id}")
    fields = [c.name for c in trial.FORM_SPECS[form].columns]
    if body.field not in fields:
        raise refused({"field": f"{body.field!r}: expected one of {', '.join(fields)}"})
    try:
        q = dm.raise_query(db, user, dm.FieldRef(usubjid, form, body.record_id, body.field), body.text, now(request))
    except dm.WorkflowError as exc:
        db.rollback()
        raise refused({"text": str(exc)}) from None
    db.commit()
    return _query_out(q)


@router.post("/queries/{qid}/{action}", response_model=QueryOut)
def api_query_step(request: Request, qid: RecordId, action: Literal["answer", "close", "reopen"], body: QueryStepIn,
                   user: Principal = Depends(api_user), db: Session = Depends(get_db)) -> dict:
    """Answer (site), close or re-open (data manager) a query; 409 when the step does not follow from its state."""
    try:
        q = dm.step_query_by_id(db, user, qid, action, body.text, now(request))
    except dm.WorkflowError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    db.commit()
    return _query_out(q)


@router.post("/subjects/{usubjid}/{kind}/{rid}/sdv", status_code=201)
def api_sdv(request: Request, usubjid: str, kind: str, rid: RecordId, body: SdvIn, user: Principal = Depends(api_user),
            db: Session = Depends(get_db)) -> dict:
    """Mark a field's current value source-data verified (monitor)."""
    form = _form(kind)
    require(user, "sdv.mark")
    s = require_site_authority(db, user, usubjid)
    rec = trial.record(db, s, form, rid)
    if rec is None:
        raise NotFoundError(f"{kind} {rid}")
    fields = [c.name for c in trial.FORM_SPECS[form].columns]
    if body.field not in fields:
        raise refused({"field": f"{body.field!r}: expected one of {', '.join(fields)}"})
    _unlocked(db, usubjid, form)
    m = dm.mark_sdv(db, user, dm.FieldRef(usubjid, form, rid, body.field), trial.text(rec.get(body.field)), now(request))
    db.commit()
    return {"usubjid": usubjid, "kind": kind, "record_id": rid, "field": body.field, "value": m.value, "by": m.by}


@router.post("/subjects/{usubjid}/locks")
def api_lock(request: Request, usubjid: str, body: LockIn, user: Principal = Depends(api_user), db: Session = Depends(get_db)) -> dict:
    """Lock or unlock one form of a patient (data manager; reason required)."""
    require(user, "lock.set")
    require_site_authority(db, user, usubjid)
    try:
        dm.set_lock(db, user, usubjid, KINDS[body.kind], body.locked, body.reason, now(request))
    except dm.WorkflowError as exc:
        db.rollback()
        raise refused({"reason": str(exc)}) from None
    db.commit()
    return {"usubjid": usubjid, "kind": body.kind, "locked": body.locked}


@router.post("/review/{usubjid}/verdicts", status_code=201)
def api_verdict(request: Request, usubjid: str, body: VerdictIn, user: Principal = Depends(api_user),
                db: Session = Depends(get_db)) -> dict:
    """Record the blinded assessor's independent verdict for one assessment day (with a reason)."""
    require(user, "verdict.enter")
    try:
        v = trial.record_verdict(db, user, usubjid, str(body.ady), body.verdict, body.reason, now(request))
    except trial.FieldErrors as exc:
        db.rollback()
        raise refused(exc.errors) from None
    except LookupError:
        raise NotFoundError(usubjid) from None
    db.commit()
    return {"usubjid": usubjid, "ady": v.ady, "verdict": v.verdict, "agrees": v.agrees, "reason": v.reason}


# --- central laboratory import and CDISC ODM ------------------------------------------------------------------

_CSV_BODY = {"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"},
             "example": "usubjid,date,test,value,unit,low,high,visit\nIKEMA-101-001,2019-03-01,HGB,11.2,g/dL,12,16,C2D1\n"}}}}
_ODM_BODY = {"requestBody": {"required": True, "content": {"application/xml": {"schema": {"type": "string"}}}}}


@router.post("/labs", status_code=201, openapi_extra=_CSV_BODY)
async def api_lab_import(request: Request, user: Principal = Depends(api_user), db: Session = Depends(get_db)) -> dict:
    """Import a central laboratory's CSV (columns usubjid, date, test, value, unit[, low, high, visit]): all rows or
    none; a file with any bad row stores nothing and the 422 lists every bad row with its line and field."""
    require(user, "lab.import")
    raw = await request.body()
    scope = site_scope(user)
    inside = None if scope is None else {s["usubjid"] for s in trial.list_subjects(db, scope)}
    try:
        n = labimport.import_csv(db, raw, user.username, inside=inside, today=now(request).date(),
                                 source=request.headers.get("x-file-name") or "API upload")
    except labimport.LabImportRefused as exc:
        db.rollback()
        raise HTTPException(status_code=422, detail={"message": str(exc), "errors": exc.errors}) from None
    db.commit()
    return {"stored": n}


@router.get("/odm", responses={200: {"content": {"application/xml": {}}}}, response_class=StreamingResponse)
def api_odm_export(request: Request, user: Principal = Depends(api_user), db: Session = Depends(get_db)) -> StreamingResponse:
    """The whole store's clinical data as a CDISC ODM 1.3.2 snapshot (export permission), streamed patient by patient."""
    require(user, "export")
    db.commit()  # end the request's transaction now: on SQLite it holds the store's lock, which the stream's session needs
    from ikema.web.store_glue import protocol

    st, when = protocol().study, now(request)

    def chunks():
        with request.app.state.sessions() as db:  # its own session: the stream outlives the request's dependencies
            yield from odm.export_chunks(db, study_oid=st.nct_id, name=st.acronym, now=when)

    return StreamingResponse(chunks(), media_type="application/xml",
                             headers={"Content-Disposition": 'attachment; filename="ikema-odm.xml"'})


@router.post("/odm", status_code=201, openapi_extra=_ODM_BODY)
async def api_odm_import(request: Request, user: Principal = Depends(api_user), db: Session = Depends(get_db)) -> dict:
    """Import a CDISC ODM 1.3 clinical-data file (all or nothing; every record through the capture edit checks)."""
    require(user, "odm.import")
    try:
        counts = odm.import_odm(db, await request.body(), user.username)
    except InputError as exc:
        db.rollback()
        raise HTTPException(status_code=422, detail=str(exc)) from None
    db.commit()
    return counts

