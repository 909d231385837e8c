"""Alembic environment of the ikema store: runs on the connection ikema.store.init_db passes, or on a URL."""

from __future__ import annotations

from alembic import context

from ikema.store.models import Base

target_metadata = Base.metadata
config = context.config
connection = config.attributes.get("connection")
if connection is None:
    from ikema.store.db import make_engine

    with make_engine(config.get_main_option("sqlalchemy.url") or None).begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    context.run_migrations()
