"""The virtual trial's enrollment enters its screenings and randomizations in batches (capture.record_screenings,
randomization.randomize_many): the store gets exactly the rows and audit rows that record_screening and randomize
give one by one, and the screening batch refuses what record_screening refuses."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ikema.conduct import capture as C
from ikema.conduct import randomization as R
from ikema.errors import EligibilityError, InputError
from ikema.store import session_factory

from store_dump import dump  # tests/store_dump.py

RAND = dt.datetime(2018, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


def _one_by_one(monkeypatch) -> None:
    def screenings(session, rows, user, reason=None):
        for r in rows:
            C.record_screening(session, r["usubjid"], r["candidate"], r["result"], user, site_id=r.get("site_id"),
                               when=r.get("when"), reason=reason)
            session.commit()
        return len(rows)

    monkeypatch.setattr(C, "record_screenings", screenings)
    monkeypatch.setattr(R, "randomize_many", lambda session, requests, attempts=50: [
        R.randomize(session, r.usubjid, r.user, when=r.when, randdt=r.randdt) for r in requests])


def _enroll(tmp_path, name: str):
    from ikema.simulate.demo import _facts, demo_engine, enroll_demo

    out = tmp_path / name
    out.mkdir()
    engine = demo_engine(out)
    with session_factory(engine)() as s:
        subjects, summary = enroll_demo(s, np.random.default_rng(11), _facts(40), out, 11)
    engine.dispose()
    return subjects, summary, dump(out / "ikema.db")


def test_batched_enrollment_stores_and_audits_what_one_by_one_does(tmp_path, monkeypatch):
    batched = _enroll(tmp_path, "batched")
    with monkeypatch.context() as m:
        _one_by_one(m)
        single = _enroll(tmp_path, "single")
    assert batched[1] == single[1] and batched[1]["screen_failures"] > 0
    assert batched[0].equals(single[0]) and list(batched[0]["ARM"].unique()) != [None]
    a, b = batched[2], single[2]
    for table in ("subjects", "screening_results", "allocation_list", "randomizations", "audit_log"):
        assert a[table] == b[table], table
    assert len(a["randomizations"]) == 40
    assert {r[-1] for r in a["audit_log"]} == {"INSERT", "UPDATE"}  # allocation and status updates audited as such


def test_the_screening_batch_refuses_what_one_by_one_refuses(store_url):
    from ikema.store import init_db

    scheme = R.Scheme(ratio={"A": 1, "B": 1}, block_sizes=(2,), factors=(("F", ("x",)),))
    engine = init_db(store_url)
    ok = {"eligible": True, "stratum": {"F": "x"}, "verdicts": [("I01", "pass", "ok")]}
    failed = dict(ok, eligible=False, stratum=None, verdicts=[("I01", "fail", "no")])
    with session_factory(engine)() as s:
        R.store_allocation_list(s, R.generate_allocation_list(scheme, np.random.default_rng(1), 4), "irt")
        C.record_screenings(s, [dict(usubjid=u, candidate={}, result=ok, when=RAND) for u in ("P-1", "P-2")], "u")
        C.record_screenings(s, [dict(usubjid="P-8", candidate={}, result=failed, when=RAND)], "u")
        s.commit()
        with pytest.raises(InputError, match="record P-1, field usubjid: .*not yet screened"):
            C.record_screenings(s, [dict(usubjid="P-9", candidate={}, result=ok), dict(usubjid="P-1", candidate={}, result=ok)], "u")
        s.rollback()
        with pytest.raises(InputError, match="record P-9, field eligible"):
            C.record_screenings(s, [dict(usubjid="P-9", candidate={}, result=dict(ok, verdicts=[("I01", "fail", "no")]))], "u")
        s.rollback()
        got = R.randomize_many(s, [R.Request(u, "u", RAND) for u in ("P-2", "P-8", "P-1", "P-2")])
        assert isinstance(got[1], EligibilityError) and "P-8: not eligible" in str(got[1])
        assert [a.new for a in (got[0], got[2], got[3])] == [True, True, False] and got[0].randno == got[3].randno
