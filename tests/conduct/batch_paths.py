"""Test helper: the same write by capture's column-wise batch path and by its per-record validators."""

from __future__ import annotations

from typing import Any, Callable

from ikema.conduct import batch
from ikema.store import session_factory


def both_paths(engine, write: Callable[[Any], Any]) -> Any:
    """`write(session)` by the column path, then by the per-record path (each rolled back); asserts both give the
    same and returns it."""
    got = []
    for column_path in (True, False):
        saved = dict(batch.BY_KIND)
        if not column_path:
            batch.BY_KIND.clear()
        try:
            with session_factory(engine)() as s:
                got.append(write(s))
                s.rollback()
        finally:
            batch.BY_KIND.update(saved)
    assert got[0] == got[1]
    return got[0]
