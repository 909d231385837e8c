"""Shared fixtures: a throwaway PostgreSQL server for the run, and a fresh store database per test (SQLite/PostgreSQL)."""

from __future__ import annotations

import itertools

import pytest

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server_url():
    """URL of a database on a PostgreSQL server started for this test run (stopped and removed afterwards)."""
    from ikema.store.pgserver import pg_server

    with pg_server() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    """An empty database URL, once on SQLite (a temp file) and once on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ikema.db'}"
    from ikema.store.pgserver import fresh_database

    return fresh_database(request.getfixturevalue("pg_server_url"), f"t{next(_counter)}")
