"""The JSON API under /api/v1: OAuth2 password token, subjects, randomization, audit (same permission table)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ikema.errors import AllocationExhaustedError, EligibilityError
from ikema.web import auth, blinding, trial
from ikema.web.auth import Principal
from ikema.web.deps import NotAuthenticated, NotFoundError, api_user, bearer, get_db, now
from ikema.web.permissions import allowed, can_see_site, require, site_scope

router = APIRouter(prefix="/api/v1", tags=["ikema"])


class Token(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"


@router.post("/token", response_model=Token)
def token(request: Request, form: OAuth2PasswordRequestForm = Depends(), db: Session = Depends(get_db)) -> Token:
    """Exchange user name and password for a bearer token (lockout applies)."""
    try:
        user = auth.check_credentials(db, form.username, form.password, request.app.state.settings, now(request))
    except auth.AuthError:
        db.commit()
        raise NotAuthenticated() from None
    t = auth.issue_token(db, user, request.app.state.settings, now(request))
    db.commit()
    return Token(access_token=t)


class Subject(BaseModel):
    """A patient as the API shows it; `arm`, `randno`, `stratum` only for roles allowed to see the arm."""

    usubjid: str
    site: str
    status: str | None = None
    randomized: bool | None = None
    randdt: str | None = None
    arm: str | None = None
    randno: str | None = None
    stratum: str | None = None


class Allocation(BaseModel):
    """The result of a randomization (idempotent: a repeat returns the same allocation)."""

    usubjid: str
    arm: str
    randno: str | None = None
    randdt: str | None = None


class AuditRow(BaseModel):
    """One audit-trail row."""

    id: int
    at: str
    user: str | None
    action: str | None
    table: str | None
    key: str | None
    field: str | None
    old: str | None
    new: str | None
    reason: str | None


def _subject_out(user: Principal, s: dict) -> dict:
    if allowed(user.role, "arm.view"):
        return {k: s.get(k) for k in Subject.model_fields}
    return blinding.subject_view(s)


def _can_list(user: Principal) -> None:
    if not (allowed(user.role, "subjects.view") or allowed(user.role, "review.view")):
        require(user, "subjects.view")


def _visible(db: Session, user: Principal, usubjid: str) -> dict:
    s = trial.get_subject(db, usubjid)
    if s is None or not can_see_site(user, s["site"]):
        raise NotFoundError(usubjid)
    if not allowed(user.role, "subjects.view") and not s.get("randomized"):
        raise NotFoundError(usubjid)  # the blinded review sees randomized patients only
    return s


@router.get("/subjects", response_model=list[Subject], response_model_exclude_none=True)
def api_subjects(user: Principal = Depends(api_user), db: Session = Depends(get_db)) -> list[dict]:
    """Patients in the caller's scope; `arm` only for roles allowed to see it."""
    _can_list(user)
    rows = trial.list_subjects(db, site_scope(user))
    if not allowed(user.role, "subjects.view"):
        rows = [r for r in rows if r.get("randomized")]
    return [_subject_out(user, s) for s in rows]


@router.get("/subjects/{usubjid}", response_model=Subject, response_model_exclude_none=True)
def api_subject(usubjid: str, user: Principal = Depends(api_user), db: Session = Depends(get_db)) -> dict:
    """One patient (404 outside the caller's site scope)."""
    _can_list(user)
    return _subject_out(user, _visible(db, user, usubjid))


# served by the process's Randomizer (group commit): no thread or connection of its own, so not admission-gated
RANDOMIZE_PATH = re.compile(r"/api/v1/subjects/[^/]+/randomize")


@router.post("/subjects/{usubjid}/randomize", response_model=Allocation,
             responses={409: {"description": "refused: not screened, not eligible, or the stratum's allocation list is used up (named)"}})
async def api_randomize(request: Request, usubjid: str, token: str | None = Depends(bearer)) -> dict:
    """Randomize an eligible patient (409 with the reason when refused; a repeat returns the same arm)."""
    try:
        return await request.app.state.randomizer.submit(token, usubjid, now(request))
    except (EligibilityError, AllocationExhaustedError) as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None


@router.get("/subjects/{usubjid}/assessments")
def api_assessments(usubjid: str, user: Principal = Depends(api_user), db: Session = Depends(get_db)) -> list[dict]:
    """Disease-assessment values (the assessor gets the blinded, interference-resolved view)."""
    if allowed(user.role, "assessment.view"):
        s = _visible(db, user, usubjid)
        return [{k: trial.text(v) if k == "value" else v for k, v in r.items()} for r in trial.assessments_long(db, s)]
    require(user, "review.view")
    s = _visible(db, user, usubjid)
    return blinding.assessments_view(trial.assessments_long(db, s))


@router.get("/audit", response_model=list[AuditRow])
def api_audit(table: str | None = None, key: str | None = None, limit: int = 1000,
              user: Principal = Depends(api_user), db: Session = Depends(get_db)) -> list[dict]:
    """The audit trail, newest first (admin and data manager only)."""
    require(user, "audit.view")
    rows = trial.audit_rows(db, table=table, key=key, limit=max(1, min(limit, 10000)))
    return [{k: (None if r.get(k) is None else (r[k] if k == "id" else str(r[k]))) for k in AuditRow.model_fields} for r in rows]
