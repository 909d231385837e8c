"""The JSON API under /api/v1: OAuth2 password token, subjects, randomization, audit (same permission table)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ikema.web import auth
from ikema.web.deps import get_db, now

router = APIRouter(prefix="/api/v1", tags=["ikema"])


class Token(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"


@router.post("/token", response_model=Token)
def token(request: Request, form: OAuth2PasswordRequestForm = Depends(), db: Session = Depends(get_db)) -> Token:
    """Exchange user name and password for a bearer token (lockout applies)."""
    from ikema.web.deps import NotAuthenticated

    try:
        user = auth.check_credentials(db, form.username, form.password, request.app.state.settings, now(request))
    except auth.AuthError:
        db.commit()
        raise NotAuthenticated() from None
    t = auth.issue_token(db, user, request.app.state.settings, now(request))
    db.commit()
    return Token(access_token=t)
