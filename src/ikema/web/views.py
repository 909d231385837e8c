"""HTML pages. Every route states its permission with `require`; every unsafe one passes the CSRF guard."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from ikema.errors import IkemaError
from ikema.web import auth, dashboards
from ikema.web.auth import Principal
from ikema.web.deps import COOKIE, PRE_COOKIE, csrf_guard, current_user, get_db, maybe_user, now, templates
from ikema.web.models import WebUser
from ikema.web.permissions import ROLES, require
from ikema.web.security import new_token

router = APIRouter(dependencies=[Depends(csrf_guard)], include_in_schema=False)


def page(request: Request, name: str, user: Principal | None, status_code: int = 200, **ctx) -> HTMLResponse:
    """Render a template with the user and the CSRF token in its context."""
    return templates.TemplateResponse(
        request, name, {"user": user, "csrf": user.csrf_token if user else None, **ctx}, status_code=status_code
    )


def _set_cookie(request: Request, response, name: str, value: str) -> None:
    response.set_cookie(
        name, value, httponly=True, samesite="strict", secure=request.app.state.settings.secure_cookies, path="/"
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", expired: int = 0, p: Principal | None = Depends(maybe_user)):
    """The log-in page (a fresh double-submit token each time)."""
    pre = new_token()
    msg = "Your session ended (idle time-out or log-out); please log in again." if expired else None
    r = page(request, "login.html", None, pre=pre, next=_safe_next(next), message=msg)
    _set_cookie(request, r, PRE_COOKIE, pre)
    return r


def _safe_next(nxt: str) -> str:
    return nxt if nxt.startswith("/") and not nxt.startswith("//") else "/"


@router.post("/login")
def login(
    request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/"),
    db: Session = Depends(get_db),
):
    """Check the credentials (with lockout) and open a session."""
    try:
        user = auth.check_credentials(db, username.strip(), password, request.app.state.settings, now(request))
    except auth.AuthError as exc:
        db.commit()  # keep the failure count and lockout
        pre = new_token()
        r = page(request, "login.html", None, status_code=401, pre=pre, next=_safe_next(next), error=str(exc), username=username)
        _set_cookie(request, r, PRE_COOKIE, pre)
        return r
    token, _ = auth.start_session(db, user, now(request))
    db.commit()
    r = RedirectResponse(_safe_next(next), status_code=303)
    _set_cookie(request, r, COOKIE, token)
    r.delete_cookie(PRE_COOKIE, path="/")
    return r


@router.post("/logout")
def logout(request: Request, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """End the session; the old cookie is refused afterwards."""
    auth.end_session(db, request.cookies.get(COOKIE), now(request))
    db.commit()
    r = RedirectResponse("/login", status_code=303)
    r.delete_cookie(COOKIE, path="/")
    return r


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """Start page: where each role begins, and the role's dashboard (ikema.web.dashboards)."""
    return page(request, "home.html", user, dash=dashboards.for_user(db, user, now(request).date()))


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, user: Principal = Depends(current_user), db: Session = Depends(get_db)):
    """User administration (admin only)."""
    require(user, "users.manage")
    rows = db.scalars(select(WebUser).order_by(WebUser.username)).all()
    return page(request, "users.html", user, users=rows, roles=ROLES, now=now(request))


@router.post("/admin/users", response_class=HTMLResponse)
def users_create(
    request: Request, username: str = Form(""), full_name: str = Form(""), role: str = Form(""), site: str = Form(""),
    password: str = Form(""), user: Principal = Depends(current_user), db: Session = Depends(get_db),
):
    """Create a user (admin only; password policy applies)."""
    require(user, "users.manage")
    try:
        auth.create_user(db, username, role, password, site=site.strip() or None, full_name=full_name.strip(), by=user.username, now=now(request))
    except IkemaError as exc:
        db.rollback()
        rows = db.scalars(select(WebUser).order_by(WebUser.username)).all()
        return page(request, "users.html", user, status_code=422, users=rows, roles=ROLES, now=now(request), error=str(exc),
                    form={"username": username, "full_name": full_name, "role": role, "site": site})
    db.commit()
    return RedirectResponse("/admin/users", status_code=303)
