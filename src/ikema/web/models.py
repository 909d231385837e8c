"""The web application's own tables: users, sessions, API tokens, queries, SDV marks, form locks,
e-signatures and the blinded assessor's verdicts. They live on the store's declarative Base, so the
store's audit hook records every insert and update of them like any trial data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ikema.store.models import Base

FORMS: tuple[str, ...] = ("assessment", "ae", "exposure")


class WebUser(Base):
    """A person who logs in: unique name, one role, a site for site roles, lockout state (audited)."""

    __tablename__ = "web_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    full_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    site: Mapped[str | None] = mapped_column(String(32), nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class WebCredential(Base):
    """A user's argon2id password hash, kept apart so that hashes never reach the audit trail."""

    __tablename__ = "web_credential"
    __audited__ = False
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class WebSession(Base):
    """A server-side login session; the cookie carries a random token whose digest is the key.
    Not audited row by row (its activity stamp moves on every request): log-in, log-out and time-out are
    written to the audit trail as events instead."""

    __tablename__ = "web_session"
    __audited__ = False
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id"), nullable=False)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    last_seen: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ApiToken(Base):
    """An opaque bearer token (stored as its digest) that carries exactly its user's permissions."""

    __tablename__ = "web_api_token"
    __audited__ = False
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class DataQuery(Base):
    """A query on one field of one record: open -> answered (site) -> closed / re-opened (data manager)."""

    __tablename__ = "web_query"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    usubjid: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    form: Mapped[str] = mapped_column(String(32), nullable=False)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    field: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    opened_by: Mapped[str] = mapped_column(String(64), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class QueryEvent(Base):
    """One step of a query's history (open, answer, close, reopen) with who, when and the text."""

    __tablename__ = "web_query_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("web_query.id"), nullable=False, index=True)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    by: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class SdvMark(Base):
    """Source-data verification of one field's value by a monitor; void once the value changes."""

    __tablename__ = "web_sdv"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    usubjid: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    form: Mapped[str] = mapped_column(String(32), nullable=False)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    field: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    by: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class FormLock(Base):
    """The lock state of one form of one patient; a locked form refuses every write."""

    __tablename__ = "web_form_lock"
    __table_args__ = (UniqueConstraint("usubjid", "form"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    usubjid: Mapped[str] = mapped_column(String(64), nullable=False)
    form: Mapped[str] = mapped_column(String(32), nullable=False)
    locked: Mapped[bool] = mapped_column(Boolean, nullable=False)
    by: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class Signature(Base):
    """An investigator's e-signature of a casebook, bound to a hash of the signed content."""

    __tablename__ = "web_signature"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    usubjid: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    full_name: Mapped[str] = mapped_column(String(200), nullable=False)
    meaning: Mapped[str] = mapped_column(String(200), nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    signed_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class AssessorVerdict(Base):
    """The blinded outcome assessor's independent response verdict for one assessment day, with reason."""

    __tablename__ = "web_assessor_verdict"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    usubjid: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    ady: Mapped[int] = mapped_column(Integer, nullable=False)
    verdict: Mapped[str] = mapped_column(String(16), nullable=False)
    agrees: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    by: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
