"""The app's admission gate (ikema.web.app.Admission): at most `limit` requests inside the app at once on every
backend, so that a burst cannot leave the connection holders starving for a thread (issue 16, PostgreSQL burst)."""

from __future__ import annotations

import asyncio

import pytest

from ikema.web.app import POOLED_CONCURRENT_REQUESTS, SQLITE_CONCURRENT_REQUESTS, Admission, create_app


def _run_burst(limit: int, n: int, path: str = "/api/v1/x") -> int:
    """n requests at once through Admission(limit) around an app that waits a little; the most seen inside at once."""
    inside = peak = 0

    async def app(scope, receive, send):
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        await asyncio.sleep(0.001)
        inside -= 1

    gate = Admission(app, limit=limit)

    async def main():
        await asyncio.gather(*(gate({"type": "http", "path": path}, None, None) for _ in range(n)))

    asyncio.run(main())
    return peak


def test_admission_holds_requests_beyond_the_limit():
    assert _run_burst(limit=3, n=40) == 3
    assert _run_burst(limit=8, n=250) == 8


def test_static_files_are_not_queued():
    assert _run_burst(limit=2, n=20, path="/static/ikema.css") == 20


def test_both_backends_are_gated_below_the_pools(tmp_path):
    """The limits stay below the thread pool (40) and SQLAlchemy's default connection pool (5 + 10 overflow)."""
    assert 1 <= SQLITE_CONCURRENT_REQUESTS < 15 and 1 <= POOLED_CONCURRENT_REQUESTS < 15
    app = create_app(f"sqlite:///{tmp_path / 'a.db'}")
    gates = [m for m in app.user_middleware if m.cls is Admission]
    assert len(gates) == 1 and gates[0].kwargs["limit"] == SQLITE_CONCURRENT_REQUESTS


@pytest.mark.postgres
def test_each_backend_takes_its_own_limit(tmp_path, pg_server_url, monkeypatch):
    # the two limits are equal today: set them apart, so that a backend given the other's limit is seen
    from ikema.store.pgserver import fresh_database
    from ikema.web import app as web_app

    monkeypatch.setattr(web_app, "SQLITE_CONCURRENT_REQUESTS", 3)
    monkeypatch.setattr(web_app, "POOLED_CONCURRENT_REQUESTS", 5)
    for url, limit in ((f"sqlite:///{tmp_path / 'a.db'}", 3), (fresh_database(pg_server_url, "gates"), 5)):
        app = web_app.create_app(url)
        try:
            gates = [m for m in app.user_middleware if m.cls is Admission]
            assert len(gates) == 1 and gates[0].kwargs["limit"] == limit, url
        finally:
            app.state.engine.dispose()
