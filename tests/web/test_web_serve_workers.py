"""`ikema serve --workers N` (issue 16): several server processes on PostgreSQL hand out every allocation once under
concurrent randomizations; SQLite, which serializes writers in one file, is refused more than one process."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from ikema.cli import app as cli

PW = "Coordinator-pass-2017"


def test_sqlite_is_served_by_one_process(tmp_path, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: pytest.fail("uvicorn must not start"))
    r = CliRunner().invoke(cli, ["serve", "--database-url", f"sqlite:///{tmp_path / 'w.db'}", "--workers", "3"])
    assert r.exit_code != 0 and "SQLite serializes writers" in r.output + str(r.exception)


@pytest.mark.postgres
@pytest.mark.slow
def test_several_workers_on_postgresql_randomize_each_patient_once(pg_server_url):
    from ikema.conduct import capture
    from ikema.conduct import randomization as irt
    from ikema.store import Site, acting
    from ikema.store.pgserver import fresh_database
    from ikema.web import auth, store_glue
    from ikema.web.security import utcnow

    url = fresh_database(pg_server_url, "workers")
    engine = store_glue.init(url)
    scheme = irt.scheme_from_protocol(store_glue.protocol())
    patients = [f"IKEMA-101-{i:03d}" for i in range(30)]
    with store_glue.sessions(engine)() as db:
        with acting(db, "setup", "site"):
            db.add(Site(site_id="101", name="Site 101", country="FRA"))
            db.flush()
        auth.create_user(db, "cora", "coordinator", PW, site="101", now=utcnow())
        db.commit()
        irt.store_allocation_list(db, irt.generate_allocation_list(scheme, np.random.default_rng(3), 30), "setup")
        for i, u in enumerate(patients):
            capture.record_screening(db, u, {}, {"eligible": True, "stratum": scheme.strata[i % 2], "verdicts": [("I01", "pass", "ok")]},
                                     "setup", site_id="101")
        db.commit()
    engine.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(Path(sys.executable).with_name("ikema")), "serve", "--port", str(port), "--database-url", url,
                             "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "ikema serve --workers 2 did not start"
            time.sleep(0.3)

        async def fire():
            async with httpx.AsyncClient(base_url=base, timeout=120) as c:
                tok = (await c.post("/api/v1/token", data={"username": "cora", "password": PW})).json()["access_token"]
                h = {"Authorization": f"Bearer {tok}"}
                return await asyncio.gather(*(c.post(f"/api/v1/subjects/{u}/randomize", headers=h) for u in patients + patients[:10]))

        with ThreadPoolExecutor(1) as pool:  # a thread of its own: the browser tests keep an event loop in this one
            answers = pool.submit(lambda: asyncio.run(fire())).result()
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers if r.status_code != 200][:3]
    assert out.count("Started server process") >= 2, out[-2000:]  # two worker processes served
    arms = {}
    for r in answers:
        arms.setdefault(r.json()["usubjid"], set()).add((r.json()["arm"], r.json()["randno"]))
    assert len(arms) == 30 and all(len(v) == 1 for v in arms.values())  # a repeat returns the same allocation
    assert len({next(iter(v))[1] for v in arms.values()}) == 30  # no list position handed out twice
