"""Site, data-management and blinded-review pages. Each route names its permission; site scope and locks
are checked on the server before anything is read or written."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from ikema.errors import AllocationExhaustedError, EligibilityError, IkemaError, PermissionDenied
from ikema.web import auth, blinding, dm, store_glue, trial
from ikema.web.auth import Principal
from ikema.web.deps import (
    LockedError, NotFoundError, RecordId, csrf_guard, current_user, form_values, get_db, now, require_site_authority,
)
from ikema.web.permissions import allowed, can_see_site, require, site_scope
from ikema.web.views import page

router = APIRouter(dependencies=[Depends(csrf_guard)], include_in_schema=False)

FORM_TITLES = {f: trial.FORM_SPECS[f].title for f in trial.FORM_SPECS}
MEANINGS = ("I approve the content of this casebook as accurate and complete", "I have reviewed this casebook")


def visible_subject(db: Session, user: Principal, usubjid: str) -> dict:
    """The patient if it exists inside the user's site scope; 404 otherwise (same answer for both)."""
    s = require_site_authority(db, user, usubjid)
    assert s is not None
    return s


def _spec(form: str) -> trial.FormSpec:
    if form not in trial.FORM_SPECS:
        raise NotFoundError(form)
    return trial.FORM_SPECS[form]


@router.get("/subjects", response_class=HTMLResponse)
def subjects(request: Request, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """Patients in the user's scope."""
    require(user, "subjects.view")
    rows = trial.list_subjects(db, site_scope(user))
    open_q: dict[str, int] = {}
    for q in dm.queries_for(db):
        if q.status != "closed":
            open_q[q.usubjid] = open_q.get(q.usubjid, 0) + 1
    return page(request, "subjects.html", user, subjects=rows, show_arm=allowed(user.role, "arm.view"), open_queries=open_q)


@router.get("/subjects/{usubjid}", response_class=HTMLResponse)
def subject(request: Request, usubjid: str, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """One patient: status, arm (if allowed), forms and locks, visit and dosing calendars, queries, signature."""
    require(user, "subjects.view")
    s = visible_subject(db, user, usubjid)
    show_arm = allowed(user.role, "arm.view")
    sigs = dm.signatures_of(db, usubjid)
    sig = sigs[0] if sigs else None
    qs = dm.queries_for(db, usubjid) if allowed(user.role, "query.view") else []
    dosing = trial.dosing(s) if show_arm else []
    dosing_days: dict[tuple[int, int], list[dict]] = {}
    for d in dosing:
        dosing_days.setdefault((int(d["cycle"]), int(d["day"])), []).append(d)
    return page(
        request, "subject.html", user, s=s, show_arm=show_arm, locks=dm.locks_of(db, usubjid), form_titles=FORM_TITLES,
        visits=trial.visits(db, s, now(request).date()), dosing=dosing, dosing_days=sorted(dosing_days.items()),
        treatment=trial.treatment_visits(db, s, now(request).date()) if show_arm else {"rows": [], "earlier": None},
        queries=qs, history={q.id: dm.query_history(db, q.id) for q in qs}, next_steps=_next_steps(user),
        signature=sig, signature_valid=bool(sig and sig.content_hash == trial.casebook_hash(db, usubjid)),
        verdicts=trial.verdicts(db, usubjid) if allowed(user.role, "verdict.view") else [],
    )


# --- screening and randomization -------------------------------------------------------------------------

@router.get("/screening", response_class=HTMLResponse)
def screening_form(request: Request, user: Principal = Depends(current_user)):
    """The screening form."""
    require(user, "screening.enter")
    return page(request, "screening.html", user, fields=trial.screening_fields(), values={"site": user.site or ""}, errors={})


@router.post("/screening", response_class=HTMLResponse)
def screening_submit(request: Request, user: Principal = Depends(current_user), db: Session = Depends(get_db),
                     form_data: dict[str, str] = Depends(form_values)):
    """Screen a candidate: per-criterion verdicts; a bad field shows at the field and nothing is saved."""
    require(user, "screening.enter")
    values = dict(form_data)
    require_site_authority(db, user, values.get("usubjid", "").strip(), may_be_new=True)  # re-screening: own site only
    if site_scope(user) is not None:
        values["site"] = site_scope(user)  # a site user screens for their own site, whatever the form says
    try:
        result = trial.screen_candidate(db, user, values, now(request))
    except trial.FieldErrors as exc:
        db.rollback()
        return page(request, "screening.html", user, status_code=422, fields=trial.screening_fields(), values=values, errors=exc.errors)
    db.commit()
    return page(request, "screening_result.html", user, **result)


@router.get("/subjects/{usubjid}/randomize", response_class=HTMLResponse)
def randomize_confirm(request: Request, usubjid: str, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """The confirmation step (or the refusal with its reason)."""
    require(user, "randomize")
    s = visible_subject(db, user, usubjid)
    error = trial.randomization_refusal(db, s)
    return page(request, "randomize.html", user, s=s, error=error, status_code=409 if error else 200)


@router.post("/subjects/{usubjid}/randomize", response_class=HTMLResponse)
def randomize_do(request: Request, usubjid: str, confirm: str = Form(""), user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """Randomize after confirmation; then show the arm and the dosing calendar."""
    require(user, "randomize")
    s = require_site_authority(db, user, usubjid)
    if confirm != "yes":
        return page(request, "randomize.html", user, s=s, error=None, status_code=422)
    try:
        trial.randomize(db, user, usubjid, now(request))
    except (EligibilityError, AllocationExhaustedError) as exc:
        db.rollback()
        return page(request, "randomize.html", user, s=s, error=str(exc), status_code=409)
    db.commit()
    return RedirectResponse(f"/subjects/{usubjid}", status_code=303)


# --- capture forms -----------------------------------------------------------------------------------------

def _form_page(request, user, db, s, form, *, values=None, errors=None, saved=None, status_code=200):
    spec = _spec(form)
    return page(
        request, "form_page.html", user, status_code=status_code, s=s, form=form, title=spec.title, entry_title=spec.entry_title,
        columns=spec.columns, entry=trial.entry_fields(form, s), records=trial.records(db, s, form),
        can_enter=allowed(user.role, spec.enter_action), locked=dm.is_locked(db, s["usubjid"], form),
        values=values or {}, errors=errors or {}, saved=saved,
    )


@router.get("/subjects/{usubjid}/forms/{form}", response_class=HTMLResponse)
def form_view(request: Request, usubjid: str, form: str, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """A patient's records of one form, with the entry form for roles that enter it."""
    spec = _spec(form)
    require(user, "subjects.view")
    require(user, spec.view_action)
    s = visible_subject(db, user, usubjid)
    return _form_page(request, user, db, s, form)


@router.post("/subjects/{usubjid}/forms/{form}", response_class=HTMLResponse)
def form_add(request: Request, usubjid: str, form: str, user: Principal = Depends(current_user), db: Session = Depends(get_db),
             form_data: dict[str, str] = Depends(form_values)):
    """Add records through the store's edit checks; all or nothing."""
    spec = _spec(form)
    require(user, spec.enter_action)
    s = require_site_authority(db, user, usubjid)
    if dm.is_locked(db, usubjid, form):
        raise LockedError(f"{usubjid}: the {spec.title.lower()} form is locked; no change is possible")
    values = dict(form_data)
    try:
        n = trial.add(db, user, s, form, values, now(request))
    except trial.FieldErrors as exc:
        db.rollback()
        return _form_page(request, user, db, s, form, values=values, errors=exc.errors, status_code=422)
    db.commit()
    return _form_page(request, user, db, s, form, saved=f"Saved {n} value{'s' if n != 1 else ''}.")


def _record_page(request, user, db, s, form, rid, *, values=None, errors=None, error=None, status_code=200):
    spec = _spec(form)
    rec = trial.record(db, s, form, rid)
    if rec is None:
        raise NotFoundError(f"{form} {rid}")
    current = {(form, rid, f.name): trial.text(rec.get(f.name)) for f in spec.columns}
    sdv = dm.sdv_state(db, s["usubjid"], current)
    qs = [q for q in dm.queries_for(db, s["usubjid"]) if q.form == form and q.record_id == rid] if allowed(user.role, "query.view") else []
    fields = [
        {"name": f.name, "label": f.label, "value": rec.get(f.name), "sdv": sdv.get((form, rid, f.name)),
         "queries": [q for q in qs if q.field == f.name]}
        for f in spec.columns
    ]
    return page(
        request, "record.html", user, status_code=status_code, s=s, form=form, rid=rid, title=spec.title, fields=fields,
        editable=trial.editable_fields(form, rec), values=values or rec, errors=errors or {}, error=error,
        can_enter=allowed(user.role, spec.enter_action), locked=dm.is_locked(db, s["usubjid"], form),
    )


@router.get("/subjects/{usubjid}/forms/{form}/{rid}", response_class=HTMLResponse)
def record_view(request: Request, usubjid: str, form: str, rid: RecordId, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """One record: each field with its audit trail one click away, SDV state and queries."""
    spec = _spec(form)
    require(user, spec.view_action)
    s = visible_subject(db, user, usubjid)
    return _record_page(request, user, db, s, form, rid)


@router.post("/subjects/{usubjid}/forms/{form}/{rid}", response_class=HTMLResponse)
def record_change(request: Request, usubjid: str, form: str, rid: RecordId, user: Principal = Depends(current_user),
                  db: Session = Depends(get_db), form_data: dict[str, str] = Depends(form_values)):
    """Change saved data: a reason is required, edit checks apply, a locked form refuses."""
    spec = _spec(form)
    require(user, spec.enter_action)
    s = require_site_authority(db, user, usubjid)
    if dm.is_locked(db, usubjid, form):
        raise LockedError(f"{usubjid}: the {spec.title.lower()} form is locked; no change is possible")
    values = dict(form_data)
    reason = values.pop("reason", "").strip()
    if not reason:
        return _record_page(request, user, db, s, form, rid, values=values, errors={"reason": "a reason for the change is required"}, status_code=422)
    try:
        trial.change(db, user, s, form, rid, values, reason, now(request))
    except trial.FieldErrors as exc:
        db.rollback()
        return _record_page(request, user, db, s, form, rid, values=values, errors=exc.errors, status_code=422)
    db.commit()
    return RedirectResponse(f"/subjects/{usubjid}/forms/{form}/{rid}", status_code=303)


@router.get("/subjects/{usubjid}/forms/{form}/{rid}/history/{field}", response_class=HTMLResponse)
def field_history(request: Request, usubjid: str, form: str, rid: RecordId, field: str, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """The audit trail of one field (an htmx fragment)."""
    spec = _spec(form)
    require(user, spec.view_action)
    s = visible_subject(db, user, usubjid)
    if trial.record(db, s, form, rid) is None or field not in {c.name for c in spec.columns}:
        raise NotFoundError(field)
    return page(request, "_history.html", user, rows=trial.field_history(db, form, rid, field))


@router.post("/subjects/{usubjid}/forms/{form}/{rid}/query")
def record_query(request: Request, usubjid: str, form: str, rid: RecordId, field: str = Form(""), text: str = Form(""),
                 user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """Raise a query on a field (data manager, monitor)."""
    require(user, "query.raise")
    s = require_site_authority(db, user, usubjid)
    spec = _spec(form)
    if trial.record(db, s, form, rid) is None:
        raise NotFoundError(f"{form} {rid}")
    if field not in {c.name for c in spec.columns}:
        return _record_page(request, user, db, s, form, rid, error=f"field {field!r}: expected one of the record's fields", status_code=422)
    try:
        dm.raise_query(db, user, dm.FieldRef(usubjid, form, rid, field), text, now(request))
    except dm.WorkflowError as exc:
        db.rollback()
        return _record_page(request, user, db, s, form, rid, error=str(exc), status_code=422)
    db.commit()
    return RedirectResponse(f"/subjects/{usubjid}/forms/{form}/{rid}", status_code=303)


@router.post("/subjects/{usubjid}/forms/{form}/{rid}/sdv")
def record_sdv(request: Request, usubjid: str, form: str, rid: RecordId, field: str = Form(""),
               user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """Mark a field's current value source-data verified (monitor); refused on a locked form."""
    require(user, "sdv.mark")
    s = require_site_authority(db, user, usubjid)
    spec = _spec(form)
    rec = trial.record(db, s, form, rid)
    if rec is None:
        raise NotFoundError(f"{form} {rid}")
    if field not in {c.name for c in spec.columns}:
        return _record_page(request, user, db, s, form, rid, error=f"field {field!r}: expected one of the record's fields", status_code=422)
    if dm.is_locked(db, usubjid, form):
        raise LockedError(f"{usubjid}: the {spec.title.lower()} form is locked; no change is possible")
    dm.mark_sdv(db, user, dm.FieldRef(usubjid, form, rid, field), trial.text(rec.get(field)), now(request))
    db.commit()
    return RedirectResponse(f"/subjects/{usubjid}/forms/{form}/{rid}", status_code=303)


# --- data management -----------------------------------------------------------------------------------------

def _next_steps(user: Principal):
    def steps(q) -> list[str]:
        return [a for (state, a), _ in dm.TRANSITIONS.items() if state == q.status and allowed(user.role, dm.ACTION_PERMISSION[a])]
    return steps


@router.get("/queries", response_class=HTMLResponse)
def queries(request: Request, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """Queries inside the user's scope, with history and the next steps the role may take."""
    require(user, "query.view")
    scope = site_scope(user)
    sites = {s["usubjid"]: s["site"] for s in trial.list_subjects(db, scope)}
    qs = [q for q in dm.queries_for(db) if q.usubjid in sites]
    return page(request, "queries.html", user, queries=qs, history={q.id: dm.query_history(db, q.id) for q in qs}, next_steps=_next_steps(user))


@router.post("/queries/{qid}/{action}")
def query_step(request: Request, qid: RecordId, action: str, text: str = Form(""), user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """Answer, close or re-open a query (dm.step_query_by_id, shared with the JSON route); 409 with the page when the
    step does not follow from its state."""
    try:
        dm.step_query_by_id(db, user, qid, action, text, now(request))
    except dm.WorkflowError as exc:
        q = db.get(dm.DataQuery, qid)
        return page(request, "queries.html", user, status_code=409, error=str(exc), queries=[q],
                    history={q.id: dm.query_history(db, q.id)}, next_steps=_next_steps(user))
    db.commit()
    return RedirectResponse(f"/queries#query-{qid}", status_code=303)


@router.post("/subjects/{usubjid}/lock")
def lock(request: Request, usubjid: str, form: str = Form(""), locked: str = Form(""), reason: str = Form(""),
         user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """Lock or unlock one form of a patient (data manager, reason required)."""
    require(user, "lock.set")
    require_site_authority(db, user, usubjid)
    try:
        dm.set_lock(db, user, usubjid, form, locked == "yes", reason, now(request))
    except dm.WorkflowError as exc:
        db.rollback()
        raise LockedError(str(exc)) from None
    db.commit()
    return RedirectResponse(f"/subjects/{usubjid}", status_code=303)


@router.get("/subjects/{usubjid}/sign", response_class=HTMLResponse)
def sign_form(request: Request, usubjid: str, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """The e-signature page (investigator of the patient's site)."""
    require(user, "casebook.sign")
    s = visible_subject(db, user, usubjid)
    return page(request, "sign.html", user, s=s, meanings=MEANINGS, content_hash=trial.casebook_hash(db, usubjid))


@router.post("/subjects/{usubjid}/sign", response_class=HTMLResponse)
def sign(request: Request, usubjid: str, meaning: str = Form(""), password: str = Form(""),
         user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """Sign after re-entering the password; a wrong password counts as a failed log-in."""
    require(user, "casebook.sign")
    s = require_site_authority(db, user, usubjid)
    h = trial.casebook_hash(db, usubjid)
    if meaning not in MEANINGS:
        return page(request, "sign.html", user, s=s, meanings=MEANINGS, content_hash=h, error="choose a meaning", status_code=422)
    try:
        auth.verify_signer(db, user, password, request.app.state.settings, now(request))
    except auth.AuthError as exc:
        db.commit()
        return page(request, "sign.html", user, s=s, meanings=MEANINGS, content_hash=h, error=f"Signature refused: {exc}", status_code=401)
    dm.sign_casebook(db, user, usubjid, h, meaning, now(request))
    db.commit()
    return RedirectResponse(f"/subjects/{usubjid}", status_code=303)


@router.get("/allocation", response_class=HTMLResponse)
def allocation(request: Request, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """Positions left per stratum of the allocation list (data manager): the shortage shows before it happens."""
    require(user, "allocation.view")
    return page(request, "allocation.html", user, rows=store_glue.allocation_stock(db))


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, table: str = "", user_name: str = "", key: str = "",
          user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """The audit trail (admin, data manager), newest first, filterable."""
    require(user, "audit.view")
    who = request.query_params.get("user", user_name)
    rows = trial.audit_rows(db, table=table or None, user=who or None, key=key or None, limit=500)
    return page(request, "audit.html", user, rows=rows, filters={"table": table, "user": who, "key": key}, limit=500)


# --- blinded review -------------------------------------------------------------------------------------------

@router.get("/review", response_class=HTMLResponse)
def review_list(request: Request, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """The assessor's patient list, built from the blinding allow-list."""
    require(user, "review.view")
    rows = trial.review_rows(db)
    return page(request, "review_list.html", user, rows=rows, note=blinding.IFE_NOTE)


def _review_page(request, user, db, usubjid, error=None, status_code=200):
    ctx = trial.review_subject(db, usubjid, now(request).date())
    if ctx is None:
        raise NotFoundError(usubjid)
    return page(request, "review_subject.html", user, status_code=status_code, note=blinding.IFE_NOTE, labels=blinding.PARAM_LABELS,
                verdict_choices=blinding.VERDICTS, error=error, **ctx)


@router.get("/review/{usubjid}", response_class=HTMLResponse)
def review_subject(request: Request, usubjid: str, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """One patient's response data and the engine's verdicts, blinded."""
    require(user, "review.view")
    return _review_page(request, user, db, usubjid)


@router.post("/review/{usubjid}/verdict", response_class=HTMLResponse)
def review_verdict(request: Request, usubjid: str, ady: str = Form(""), verdict: str = Form(""), reason: str = Form(""),
                   user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """Record the assessor's independent verdict for one assessment day, with a reason."""
    require(user, "verdict.enter")
    require_site_authority(db, user, usubjid)
    try:
        trial.record_verdict(db, user, usubjid, ady, verdict, reason, now(request))
    except trial.FieldErrors as exc:
        db.rollback()
        return _review_page(request, user, db, usubjid, error="; ".join(exc.errors.values()), status_code=422)
    except LookupError:
        raise NotFoundError(usubjid) from None
    db.commit()
    return RedirectResponse(f"/review/{usubjid}", status_code=303)


__all__ = ["router", "visible_subject", "PermissionDenied", "IkemaError"]
