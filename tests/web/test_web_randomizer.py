"""The randomization API's group commit (ikema.web.randomizer): requests served in one batch each get the answer they
get alone (401 unknown, revoked or disabled caller, 403 role, 404 another site's patient, 409 refusal with the reason,
200 with the allocation), one's refusal fails no other, nothing is written for a refused request, and a token revoked
after a batch is refused in the next one (no authorization is cached)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from ikema.store import AllocationEntry, AuditEntry, Subject, acting
from ikema.web import auth
from ikema.web.app import POOLED_CONCURRENT_REQUESTS, Admission
from ikema.web.models import ApiToken, WebUser

PW = "Randomizer-pass-2017"


def _world(kit, tmp_path):
    clock = kit.Clock()
    app = kit.make_app(tmp_path, clock=clock)
    tokens = {}
    with app.state.sessions() as db:
        kit.seed_trial(db, clock)
        for name, role, site in (("c101", "coordinator", "101"), ("c202", "coordinator", "202"), ("assessor", "assessor", None),
                                 ("revoked", "coordinator", "101"), ("gone", "investigator", "101")):
            user = auth.create_user(db, name, role, PW, site=site, now=clock())
            tokens[name] = auth.issue_token(db, user, app.state.settings, clock())
        db.commit()
        _revoke(app, tokens["revoked"])
        with acting(db, "admin", "user left the trial"):
            db.scalar(select(WebUser).where(WebUser.username == "gone")).active = False
            db.flush()
        db.commit()
    return app, tokens


def _revoke(app, token: str) -> None:
    with app.state.sessions() as db, acting(db, "admin", "token revoked"):
        db.get(ApiToken, auth.token_digest(token)).revoked = True
        db.commit()


async def _post_all(app, calls, hold: bool = False, raise_app_exceptions: bool = True):
    """POST every (token, usubjid) at once; `hold`: the Randomizer's thread is kept busy until all are pending, so
    that they are served as one batch. Returns the responses and the sizes of the batches served."""
    r = app.state.randomizer
    sizes = []
    serve = r._serve
    r._serve = lambda batch: (sizes.append(len(batch)), serve(batch))[1]
    gate = threading.Event()
    if hold:
        r._thread.submit(gate.wait)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        def post(token, u):
            return c.post(f"/api/v1/subjects/{u}/randomize", headers={"Authorization": f"Bearer {token}"} if token else {})

        tasks = [asyncio.ensure_future(post(t, u)) for t, u in calls]
        while hold and len(r._pending) < len(calls):
            await asyncio.sleep(0.01)
        gate.set()
        answers = await asyncio.gather(*tasks)
    r._serve = serve
    return answers, sizes


def _run(coro):
    """asyncio.run in a thread of its own: the browser tests keep an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _audit_rows(app, usubjid: str) -> int:
    with app.state.sessions() as db:
        return db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.usubjid == usubjid))


def test_one_batch_answers_each_request_as_it_would_alone(kit, tmp_path):
    app, tok = _world(kit, tmp_path)
    calls = [
        (tok["c101"], "IKEMA-101-001", 200),
        (tok["c202"], "IKEMA-101-002", 404),  # another site's patient
        (tok["assessor"], "IKEMA-101-002", 403),  # a role that may not randomize
        (tok["revoked"], "IKEMA-101-002", 401),
        (tok["gone"], "IKEMA-101-003", 401),  # a disabled user's token
        (None, "IKEMA-101-003", 401),
        ("no-such-token", "IKEMA-101-003", 401),
        (tok["c101"], "IKEMA-101-005", 409),  # not eligible
        (tok["c101"], "IKEMA-101-999", 404),  # no such patient
        (tok["c202"], "IKEMA-202-006", 200),
        (tok["c101"], "IKEMA-101-001", 200),  # a repeat in the same batch
        (tok["c101"], "IKEMA-101-004", 200),
    ]
    before = {u: _audit_rows(app, u) for u in ("IKEMA-101-002", "IKEMA-101-003", "IKEMA-101-005")}
    answers, sizes = _run(_post_all(app, [(t, u) for t, u, _ in calls], hold=True))
    assert sizes == [len(calls)]
    assert [a.status_code for a in answers] == [s for *_, s in calls], [a.text for a in answers]
    assert answers[3].headers["www-authenticate"] == "Bearer" and answers[3].json() == {"detail": "Not authenticated"}
    assert answers[1].json() == {"detail": "Not found"}
    assert "may not randomize" in answers[2].json()["detail"]
    assert "IKEMA-101-005: not eligible (I01 fail: creatinine clearance 10 mL/min < 15)" == answers[7].json()["detail"]
    first, repeat = answers[0].json(), answers[10].json()
    assert first == repeat and set(first) == {"usubjid", "arm", "randno", "randdt"} and first["arm"] in ("IKd", "Kd")
    assert len({answers[i].json()["randno"] for i in (0, 9, 11)}) == 3
    assert {u: _audit_rows(app, u) for u in before} == before  # nothing written for a refused request
    with app.state.sessions() as db:
        audit = db.scalars(select(AuditEntry).where(AuditEntry.table_name == "randomizations")).all()
        assert sorted((a.user, a.record_key) for a in audit) == [("c101", "IKEMA-101-001"), ("c101", "IKEMA-101-004"),
                                                                 ("c202", "IKEMA-202-006")]


def test_a_token_revoked_after_a_batch_is_refused_in_the_next(kit, tmp_path):
    app, tok = _world(kit, tmp_path)
    answers, _ = _run(_post_all(app, [(tok["c101"], "IKEMA-101-001")]))
    assert answers[0].status_code == 200
    _revoke(app, tok["c101"])
    answers, sizes = _run(_post_all(app, [(tok["c101"], "IKEMA-101-002"), (tok["c101"], "IKEMA-101-001")]))
    assert [a.status_code for a in answers] == [401, 401] and sum(sizes) == 2


def test_an_exhausted_stratum_is_a_409_naming_it_and_fails_no_other_request(kit, tmp_path):
    from ikema.conduct import randomization as irt

    app, tok = _world(kit, tmp_path)
    with app.state.sessions() as db:  # use up the list of stratum AGE=<65 but one position (001 and 003 are in it)
        left = db.scalar(select(func.count()).select_from(AllocationEntry).where(AllocationEntry.stratum == "AGE=<65",
                                                                                 AllocationEntry.used_by.is_(None)))
        with acting(db, "fixture", "fill"):
            db.add_all([Subject(usubjid=f"FILL-{k:03d}", site_id="101", status="SCREENED", screening={}, eligible=True,
                                stratum="AGE=<65") for k in range(left - 1)])
            db.flush()
        db.commit()
        for k in range(left - 1):
            irt.randomize(db, f"FILL-{k:03d}", "fixture")
    answers, sizes = _run(_post_all(app, [(tok["c101"], "IKEMA-101-001"), (tok["c101"], "IKEMA-101-003"),
                                                 (tok["c101"], "IKEMA-101-002")], hold=True))
    assert sizes == [3]
    assert [a.status_code for a in answers] == [200, 409, 200]
    assert "AGE=<65" in answers[1].json()["detail"] and "exhausted" in answers[1].json()["detail"]


def test_the_randomization_route_is_not_held_at_the_admission_gate(tmp_path, kit):
    app = kit.make_app(tmp_path)
    gate = [m for m in app.user_middleware if m.cls is Admission][0]
    exempt = gate.kwargs["exempt"]
    assert exempt.fullmatch("/api/v1/subjects/IKEMA-101-001/randomize")
    assert not exempt.fullmatch("/api/v1/subjects/IKEMA-101-001") and not exempt.fullmatch("/subjects/IKEMA-101-001/randomize")
    assert gate.kwargs["limit"] <= POOLED_CONCURRENT_REQUESTS


def test_a_failed_batch_fails_its_requests_only_and_the_next_batch_is_served(kit, tmp_path, monkeypatch):
    """A store failure gives 500 to every request of its batch, writes nothing, and the next batch is served."""
    from ikema.web import store_glue

    app, tok = _world(kit, tmp_path)
    real = store_glue.randomize_many
    served = []

    def broken(db, requests):
        served.append(len(requests))
        raise RuntimeError("the store went away")

    monkeypatch.setattr(store_glue, "randomize_many", broken)
    ids = ("IKEMA-101-001", "IKEMA-101-004")
    before = {u: _audit_rows(app, u) for u in ids}
    answers, sizes = _run(_post_all(app, [(tok["c101"], u) for u in ids], hold=True, raise_app_exceptions=False))
    assert sizes == [2] and served == [2]  # both in the one batch that failed
    assert [a.status_code for a in answers] == [500, 500]
    assert {u: _audit_rows(app, u) for u in ids} == before  # nothing written
    monkeypatch.setattr(store_glue, "randomize_many", real)
    answers, sizes = _run(_post_all(app, [(tok["c101"], u) for u in ids], hold=True))
    assert sizes == [2] and [a.status_code for a in answers] == [200, 200]
    assert len({a.json()["randno"] for a in answers}) == 2
