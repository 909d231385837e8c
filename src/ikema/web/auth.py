"""Users, log-in with lockout, server-side sessions with idle and absolute timeouts, and API tokens.

Every change goes through the store session, so the audit trail records log-ins (a session row),
failed log-ins and lockouts (the user's counters), log-outs and timeouts (the session's end) with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ikema.errors import IkemaError
from ikema.web import store_glue
from ikema.web.models import ApiToken, WebCredential, WebSession, WebUser
from ikema.web.permissions import ROLES, SITE_ROLES
from ikema.web.security import (
    DUMMY_HASH,
    Settings,
    check_password_policy,
    hash_password,
    new_token,
    token_digest,
    verify_password,
)

LOGIN_FAILED = "Unknown user name or wrong password."  # the same text for both: no user enumeration


class AuthError(IkemaError):
    """Log-in refused; the message is safe to show (never says whether the user exists)."""


class UserError(IkemaError):
    """A user could not be created or changed (duplicate name, unknown role, missing site)."""


@dataclass
class Principal:
    """The logged-in user as the request sees it (no ORM object escapes the request's session)."""

    id: int
    username: str
    full_name: str
    role: str
    site: str | None
    csrf_token: str | None = None
    session_digest: str | None = None


def _principal(u: WebUser, s: WebSession | None = None) -> Principal:
    return Principal(u.id, u.username, u.full_name, u.role, u.site, s.csrf_token if s else None, s.digest if s else None)


def create_user(
    db: Session, username: str, role: str, password: str, *, site: str | None = None, full_name: str = "",
    by: str = "system", now: datetime,
) -> WebUser:
    """Create a user after checking name, role, site and the password policy (audited)."""
    username = username.strip()
    if not username or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise UserError(f"user name {username!r}: expected letters, digits, '.', '-' or '_'")
    if role not in ROLES:
        raise UserError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if role in SITE_ROLES and not site:
        raise UserError(f"role {role!r} works at one site: give --site")
    check_password_policy(password, username)
    if db.scalar(select(WebUser).where(WebUser.username == username)) is not None:
        raise UserError(f"user name {username!r} already exists")
    user = WebUser(username=username, full_name=full_name or username, role=role, site=site or None, failed_logins=0, active=True, created_at=now)
    with store_glue.acting(db, by, f"create user {username} ({role})"):
        db.add(user)
        db.flush()
        db.add(WebCredential(user_id=user.id, password_hash=hash_password(password), changed_at=now))
        db.flush()
    return user


def set_password(db: Session, user: WebUser, password: str, by: str, now: datetime) -> None:
    """Replace a user's password (policy applies); the change is audited as an event, never the hash."""
    check_password_policy(password, user.username)
    cred = db.get(WebCredential, user.id)
    cred.password_hash, cred.changed_at = hash_password(password), now
    store_glue.event(db, by, "PASSWORD", "web_credential", str(user.id), f"password of {user.username} set")
    db.flush()


def check_credentials(db: Session, username: str, password: str, settings: Settings, now: datetime) -> WebUser:
    """Return the user when the password is right and the account usable; count failures and lock."""
    user = db.scalar(select(WebUser).where(WebUser.username == username))
    if user is None:
        verify_password(DUMMY_HASH, password)  # same cost as a real check
        raise AuthError(LOGIN_FAILED)
    if user.locked_until is not None and user.locked_until > now:
        raise AuthError(f"Account locked after {settings.max_failures} failed log-ins; try again later or ask an administrator.")
    cred = db.get(WebCredential, user.id)
    if not user.active or cred is None or not verify_password(cred.password_hash, password):
        with store_glue.acting(db, username, "failed log-in"):
            user.failed_logins += 1
            if user.failed_logins >= settings.max_failures:
                user.locked_until = now + settings.lockout
                user.failed_logins = 0
            db.flush()
        if user.locked_until is not None and user.locked_until > now:
            store_glue.event(db, username, "LOCKOUT", "web_user", str(user.id), f"account locked until {user.locked_until:%Y-%m-%d %H:%M} UTC")
            raise AuthError(f"Account locked after {settings.max_failures} failed log-ins; try again later or ask an administrator.")
        raise AuthError(LOGIN_FAILED)
    if user.failed_logins or user.locked_until is not None:
        with store_glue.acting(db, username, "successful log-in resets the failure count"):
            user.failed_logins = 0
            user.locked_until = None
            db.flush()
    return user


def start_session(db: Session, user: WebUser, now: datetime) -> tuple[str, Principal]:
    """Open a server-side session; returns the cookie token and the principal."""
    token = new_token()
    s = WebSession(digest=token_digest(token), user_id=user.id, csrf_token=new_token(), created_at=now, last_seen=now)
    db.add(s)
    store_glue.event(db, user.username, "LOGIN", "web_session", s.digest[:12], "log-in")
    db.flush()
    return token, _principal(user, s)


def resolve_session(db: Session, token: str | None, settings: Settings, now: datetime) -> Principal | None:
    """The principal of a live session, touching it; None when missing, ended, idle or too old (ending it)."""
    if not token:
        return None
    s = db.get(WebSession, token_digest(token))
    if s is None or s.ended_at is not None:
        return None
    user = db.get(WebUser, s.user_id)
    reason = None
    if user is None or not user.active:
        reason = "user disabled"
    elif now - s.last_seen > settings.idle_timeout:
        reason = "idle timeout"
    elif now - s.created_at > settings.absolute_timeout:
        reason = "absolute timeout"
    if reason:
        s.ended_at, s.end_reason = now, reason
        store_glue.event(db, user.username if user else "system", "LOGOUT", "web_session", s.digest[:12], f"session ended: {reason}")
        db.flush()
        return None
    s.last_seen = now  # activity stamp only; not trial data
    db.flush()
    return _principal(user, s)


def end_session(db: Session, token: str | None, now: datetime, reason: str = "log-out") -> None:
    """End a session (log-out); a replayed cookie is refused afterwards."""
    if not token:
        return
    s = db.get(WebSession, token_digest(token))
    if s is not None and s.ended_at is None:
        user = db.get(WebUser, s.user_id)
        s.ended_at, s.end_reason = now, reason
        store_glue.event(db, user.username if user else "system", "LOGOUT", "web_session", s.digest[:12], reason)
        db.flush()


def issue_token(db: Session, user: WebUser, settings: Settings, now: datetime) -> str:
    """Issue an API bearer token for the user (stored as a digest)."""
    token = new_token()
    t = ApiToken(digest=token_digest(token), user_id=user.id, created_at=now, expires_at=now + settings.token_lifetime, revoked=False)
    db.add(t)
    store_glue.event(db, user.username, "TOKEN", "web_api_token", t.digest[:12], "API token issued")
    db.flush()
    return token


def resolve_token(db: Session, token: str | None, now: datetime) -> Principal | None:
    """The principal of a valid bearer token; None when unknown, expired, revoked or its user disabled."""
    return resolve_tokens(db, [(token, now)])[0]


def resolve_tokens(db: Session, tokens: list[tuple[str | None, datetime]]) -> list[Principal | None]:
    """resolve_token of each (token, now), read from the store in one query (never cached)."""
    digests = {t: token_digest(t) for t, _ in tokens if t}
    rows = {}
    if digests:
        # tokens and users in one round trip: the API's every request pays for this look-up
        rows = {r.digest: r for r in db.execute(
            select(ApiToken.digest, ApiToken.revoked, ApiToken.expires_at, WebUser.id, WebUser.username, WebUser.full_name,
                   WebUser.role, WebUser.site, WebUser.active)
            .join(WebUser, WebUser.id == ApiToken.user_id).where(ApiToken.digest.in_(set(digests.values()))))}
    out: list[Principal | None] = []
    for token, now in tokens:
        row = rows.get(digests.get(token))  # type: ignore[arg-type]
        valid = row is not None and not row.revoked and row.expires_at > now and row.active
        out.append(Principal(row.id, row.username, row.full_name, row.role, row.site) if valid else None)
    return out


def verify_signer(db: Session, principal: Principal, password: str, settings: Settings, now: datetime) -> WebUser:
    """Re-check the logged-in user's own password for an e-signature (a wrong one counts as a failure)."""
    return check_credentials(db, principal.username, password, settings, now)
