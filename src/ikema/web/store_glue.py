"""The web app's single seam onto ikema.store: engine, sessions and the audit context (user, reason)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ikema.web._base import Base


def make_engine(url: str) -> Engine:
    """An engine for the store URL."""
    return create_engine(url, future=True)


def init(url: str) -> Engine:
    """Bring the database at `url` to the current schema and return an engine."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    return engine


def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to the engine."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def acting(db: Session, user: str, reason: str) -> Iterator[Session]:
    """Within the block, writes are audited as made by `user` for `reason`."""
    old = (db.info.get("user"), db.info.get("reason"))
    db.info["user"], db.info["reason"] = user, reason
    try:
        yield db
    finally:
        db.info["user"], db.info["reason"] = old
