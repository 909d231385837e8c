"""Request plumbing shared by pages and API: the store session, who is calling, CSRF, error types."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.security import OAuth2PasswordBearer
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from ikema.conduct.edit_checks import MAX_INT
from ikema.errors import IkemaError
from ikema.web import auth, store_glue
from ikema.web.auth import Principal
from ikema.web.forms import text
from ikema.web.permissions import allowed, can_see_site
from ikema.web.security import same

COOKIE = "ikema_session"
PRE_COOKIE = "ikema_pre"  # double-submit token that protects the log-in form itself
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["allowed"] = lambda user, action: bool(user) and allowed(user.role, action)
templates.env.filters["txt"] = text  # a value as shown, compared for SDV and hashed for signatures (60.0 -> 60)


# A record id in a URL: the store's integer keys (a larger number once reached SQLite and ended in HTTP 500).
RecordId = Annotated[int, PathParam(ge=1, le=MAX_INT, description="a record id (1 to 2^31-1)")]


class NotAuthenticated(IkemaError):
    """No live session or token: pages redirect to the log-in, the API answers 401."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("not authenticated")
        self.expired = expired


class CsrfError(IkemaError):
    """An unsafe request without the session's CSRF token or from a foreign origin (403)."""


class NotFoundError(IkemaError):
    """No such record inside the caller's scope (404, the same for another site's patient)."""


class LockedError(IkemaError):
    """The form is locked: every change is refused (423)."""


def require_site_authority(db: Session, user: Principal, usubjid: str, *, may_be_new: bool = False) -> dict | None:
    """The site-authority check of every write that creates or changes a patient's data: call it before anything
    else is read or written. Returns the patient (as trial.get_subject gives it) when the user's site owns it or the
    role spans all sites; NotFoundError (404, the same answer as for a patient that does not exist) otherwise.
    `may_be_new`: a write that may create the patient (screening) gets None for an unknown USUBJID instead."""
    s = store_glue.subject(db, str(usubjid))
    if s is None:
        if may_be_new:
            return None
        raise NotFoundError(usubjid)
    if not can_see_site(user, s["site"]):
        raise NotFoundError(usubjid)
    return s


async def form_values(request: Request) -> dict[str, str]:
    """The posted form's fields as text, without the CSRF token. Read in this async dependency so that the
    handler itself can be a plain `def`: it then runs in the thread pool, and its blocking store calls never
    stall the event loop (an `async def` handler waiting on SQLite's write lock froze every other request)."""
    return {k: str(v) for k, v in (await request.form()).items() if k != "csrf_token"}


def get_db(request: Request) -> Iterator[Session]:
    """One store session per request; rolled back unless the handler committed. A sync generator on purpose: an
    async one (opened and closed in the event loop) doubled the p95 of a 250-randomization burst on SQLite."""
    db: Session = request.app.state.sessions()
    try:
        yield db
    except Exception:
        db.rollback()
        raise
    finally:
        db.close()


def now(request: Request):
    """The app's clock (injectable for timeout tests)."""
    return request.app.state.clock()


def maybe_user(request: Request, db: Session = Depends(get_db)) -> Principal | None:
    """The principal of the session cookie, or None (an expired session is ended and audited)."""
    token = request.cookies.get(COOKIE)
    p = auth.resolve_session(db, token, request.app.state.settings, now(request))
    db.commit()
    request.state.user = p
    request.state.had_cookie = bool(token)
    return p


def current_user(request: Request, p: Principal | None = Depends(maybe_user)) -> Principal:
    """The logged-in principal; otherwise NotAuthenticated."""
    if p is None:
        raise NotAuthenticated(expired=bool(getattr(request.state, "had_cookie", False)))
    return p


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def csrf_guard(request: Request, p: Principal | None = Depends(maybe_user)) -> None:
    """Refuse an unsafe HTML request without the session's CSRF token or from a foreign Origin."""
    if request.method in SAFE_METHODS:
        return
    if not _same_origin(request):
        raise CsrfError("request refused: foreign origin")
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/x-www-form-urlencoded") or ctype.startswith("multipart/form-data"):
            sent = (await request.form()).get("csrf_token")
    if request.url.path == "/login":
        if not same(sent, request.cookies.get(PRE_COOKIE)):
            raise CsrfError("request refused: missing or wrong CSRF token (reload the log-in page)")
        return
    if p is None:
        raise NotAuthenticated(expired=bool(getattr(request.state, "had_cookie", False)))
    if not same(sent, p.csrf_token):
        raise CsrfError("request refused: missing or wrong CSRF token")


bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/token", auto_error=False)  # the request's bearer token, or None


def api_user(request: Request, token: str | None = Depends(bearer), db: Session = Depends(get_db)) -> Principal:
    """The principal of a bearer token; otherwise NotAuthenticated (401)."""
    p = auth.resolve_token(db, token, now(request))
    if p is None:
        raise NotAuthenticated()
    request.state.user = p
    return p
