"""Alembic environment of the web tables: own version table, only the web_* tables, on the store's connection."""

from __future__ import annotations

from alembic import context

import ikema.web.models  # noqa: F401
from ikema.store.models import Base

VERSION_TABLE = "alembic_version_web"


def _web_only(obj, name, type_, reflected, compare_to) -> bool:
    return type_ != "table" or name.startswith("web_")


config = context.config
connection = config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  version_table=VERSION_TABLE, include_object=_web_only)
context.run_migrations()
