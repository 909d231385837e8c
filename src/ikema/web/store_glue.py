"""The web app's single seam onto ikema.store: engine, sessions, the audit context and audit events.
The web tables are created by the web's own Alembic migrations (version table alembic_version_web), run
after the store's own migrations have brought the database to their head."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ikema.store import acting, init_db, session_factory
from ikema.store.models import AuditEntry, utcnow

WEB_MIGRATIONS = Path(__file__).with_name("migrations")
WEB_VERSION_TABLE = "alembic_version_web"

__all__ = ["acting", "init", "sessions", "event"]


def init(url: str) -> Engine:
    """Bring the database at `url` to the store's head and then the web tables' head; return an engine."""
    from alembic import command
    from alembic.config import Config

    import ikema.web.models  # noqa: F401  (the web tables on the store's Base)

    engine = init_db(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(WEB_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return engine


def sessions(engine: Engine) -> sessionmaker[Session]:
    """The store's session factory."""
    return session_factory(engine)


def event(db: Session, user: str, action: str, table: str, key: str, reason: str, usubjid: str | None = None) -> None:
    """Append an audit row for an event that changes no audited record (log-in, log-out, lockout, token)."""
    db.execute(insert(AuditEntry), [dict(at=utcnow(), user=user, table_name=table, record_key=key, usubjid=usubjid,
                                         field="-", old_value=None, new_value=None, reason=reason, action=action[:10])])
