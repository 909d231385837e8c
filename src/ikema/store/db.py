"""Engines, sessions and schema upgrades: SQLite file by default, any SQLAlchemy URL through IKEMA_DATABASE_URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

import ikema.store.audit  # noqa: F401  (registers the audit hooks on every Session)

DEFAULT_URL = "sqlite:///out/ikema.db"
MIGRATIONS = Path(__file__).with_name("migrations")


def database_url(url: str | None = None) -> str:
    """The store URL: `url`, else $IKEMA_DATABASE_URL, else the SQLite file out/ikema.db."""
    url = url or os.environ.get("IKEMA_DATABASE_URL") or DEFAULT_URL
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3 is the installed driver
    return url


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for the store; on SQLite every transaction takes the write lock at BEGIN (BEGIN IMMEDIATE)."""
    url = database_url(url)
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if u.database and u.database != ":memory:":
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below issue BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # serializes writers: the IRT's lock on SQLite

    return engine


def init_db(url: str | None = None) -> Engine:
    """Upgrade the database at `url` to the newest schema (Alembic head) and return an engine for it."""
    from alembic import command
    from alembic.config import Config

    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to `engine` (objects stay readable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def acting(session: Session, user: str, reason: str | None = None) -> Iterator[Session]:
    """Within the block, writes on `session` are audited as made by `user` for `reason` (None keeps the session's)."""
    old = (session.info.get("user"), session.info.get("reason"))
    session.info["user"], session.info["reason"] = user, (reason if reason is not None else old[1])
    try:
        yield session
    finally:
        session.info["user"], session.info["reason"] = old


@contextmanager
def bulk_load(session: Session) -> Iterator[Session]:
    """A bulk load into a SQLite store: its secondary indexes are dropped for the block and built again after it
    with the same definitions (one sort per index instead of a B-tree insert per row: about a quarter of the insert
    time); the store ends as it would have. Other backends: nothing changes. The caller commits; an error in the block
    rolls the session back."""
    if session.get_bind().dialect.name != "sqlite":
        yield session
        return
    indexes = session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                                   "ORDER BY name")).all()
    for name, _ in indexes:
        session.execute(text(f'DROP INDEX "{name}"'))
    try:
        yield session
    except BaseException:
        session.rollback()  # (SQLite's DDL is transactional: this also undoes the drops not yet committed)
        raise
    finally:
        present = set(session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'")))
        for name, sql in indexes:
            if name not in present:
                session.execute(text(sql))


@contextmanager
def session_scope(engine: Engine, user: str, reason: str | None = None) -> Iterator[Session]:
    """A session acting as `user` (for `reason`) that commits at the end of the block or rolls back on error."""
    with session_factory(engine)() as session:
        session.info["user"], session.info["reason"] = user, reason
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
