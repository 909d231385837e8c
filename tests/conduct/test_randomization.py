"""The IRT: 3:2 within every stratum after each completed block, one assignment per subject under repetition and
concurrency (SQLite and PostgreSQL), refusal of unscreened and ineligible subjects."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter, defaultdict

import numpy as np
import pytest
from sqlalchemy import select

from ikema.conduct.randomization import generate_allocation_list, randomize, store_allocation_list
from ikema.errors import EligibilityError, StoreError
from ikema.store import AllocationEntry, AuditEntry, Randomization, Subject, init_db, make_engine, session_factory, session_scope

from helpers_irt import SCHEME, screen_fail, screen_ok


def test_allocation_list_keeps_the_ratio_after_every_completed_block():
    rows = generate_allocation_list(SCHEME, np.random.default_rng(7), per_stratum=302)
    by_stratum = defaultdict(list)
    for r in rows:
        by_stratum[r["stratum"]].append(r)
    assert sorted(by_stratum) == sorted(SCHEME.strata) and len(by_stratum) == 6
    sizes = Counter()
    for stratum, entries in by_stratum.items():
        assert [e["position"] for e in entries] == list(range(1, len(entries) + 1))
        assert len(entries) >= 302
        counts = Counter()
        for i, e in enumerate(entries):
            counts[e["arm"]] += 1
            last_of_block = i + 1 == len(entries) or entries[i + 1]["block_id"] != e["block_id"]
            if last_of_block:
                sizes[e["block_size"]] += 1
                assert counts["IKd"] * 2 == counts["Kd"] * 3, (stratum, i, counts)
        for block in {e["block_id"] for e in entries}:
            members = [e for e in entries if e["block_id"] == block]
            assert len(members) == members[0]["block_size"] in (5, 10)
    assert sizes[5] > 10 and sizes[10] > 10  # both block sizes are used
    assert len({r["randno"] for r in rows}) == len(rows)
    again = generate_allocation_list(SCHEME, np.random.default_rng(7), per_stratum=302)
    assert again == rows
    other = generate_allocation_list(SCHEME, np.random.default_rng(8), per_stratum=302)
    assert [r["arm"] for r in other] != [r["arm"] for r in rows]


def _setup(url, per_stratum=40):
    engine = init_db(url)
    with session_factory(engine)() as s:
        store_allocation_list(s, generate_allocation_list(SCHEME, np.random.default_rng(1), per_stratum), "irt-admin")
    return engine


def test_randomize_once_and_repeat_returns_original(store_url):
    engine = _setup(store_url)
    stratum = SCHEME.strata[2]
    with session_scope(engine, "site1") as s:
        screen_ok(s, "P-001", stratum)
    with session_factory(engine)() as s:
        first = randomize(s, "P-001", "site1")
        again = randomize(s, "P-001", "site2")
    assert first.new and not again.new
    assert (again.arm, again.randno, again.stratum, again.randomized_by) == (first.arm, first.randno, stratum, "site1")
    assert not {"position", "block_id", "block_size"} & {f.name for f in dataclasses.fields(first)}
    with session_factory(engine)() as s:
        entry = s.scalars(select(AllocationEntry).where(AllocationEntry.used_by == "P-001")).one()
        assert (entry.stratum, entry.position, entry.arm) == (stratum, 1, first.arm)
        assert s.get(Subject, "P-001").status == "RANDOMIZED"
        assert len(s.scalars(select(Randomization)).all()) == 1
        audit = s.scalars(select(AuditEntry).where(AuditEntry.table_name == "allocation_list",
                                                   AuditEntry.action == "UPDATE")).all()
        assert {a.field for a in audit} == {"used_by", "used_at"}
        assert all(a.user == "site1" and a.reason == "randomization" for a in audit)


def test_unscreened_and_ineligible_are_refused_with_the_reason(store_url):
    engine = _setup(store_url)
    with session_scope(engine, "site1") as s:
        screen_fail(s, "P-002")
    with session_factory(engine)() as s:
        with pytest.raises(EligibilityError, match="P-009: not screened"):
            randomize(s, "P-009", "site1")
        with pytest.raises(EligibilityError, match=r"not eligible \(E03 fail: ECOG performance status 3 > 2\)"):
            randomize(s, "P-002", "site1")
        assert s.scalars(select(AllocationEntry).where(AllocationEntry.used_by.is_not(None))).all() == []


def test_allocation_list_is_stored_once(store_url):
    engine = _setup(store_url, per_stratum=5)
    with session_factory(engine)() as s:
        with pytest.raises(StoreError, match="already stored"):
            store_allocation_list(s, generate_allocation_list(SCHEME, np.random.default_rng(2), 5), "irt-admin")


def test_concurrent_requests_never_share_a_position(store_url):
    threads, per_thread = 16, 10
    engine = _setup(store_url, per_stratum=threads * per_thread)
    rng = np.random.default_rng(3)
    subjects = {f"C-{t:02d}-{i:02d}": SCHEME.strata[int(rng.integers(6))] for t in range(threads) for i in range(per_thread)}
    with session_scope(engine, "site1") as s:
        for u, st in subjects.items():
            screen_ok(s, u, st)
    engine.dispose()
    worker_engine = make_engine(store_url, pool_size=threads + 2, max_overflow=0)
    factory = session_factory(worker_engine)
    results: dict[str, set] = defaultdict(set)
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)
    ids = sorted(subjects)

    def work(t: int) -> None:
        mine = ids[t * per_thread:(t + 1) * per_thread]
        other = ids[((t + 1) % threads) * per_thread:((t + 1) % threads + 1) * per_thread]  # a neighbour's subjects too
        try:
            barrier.wait()
            with factory() as s:
                for u in [x for pair in zip(mine, other) for x in pair]:
                    a = randomize(s, u, f"user{t}")
                    results[u].add((a.arm, a.randno))
        except BaseException as exc:  # reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert errors == []
    assert all(len(v) == 1 for v in results.values()) and len(results) == len(subjects)
    with factory() as s:
        used = s.scalars(select(AllocationEntry).where(AllocationEntry.used_by.is_not(None))).all()
        rands = {r.usubjid: r for r in s.scalars(select(Randomization))}
    assert len(used) == len(subjects) == len(rands)
    assert len({e.used_by for e in used}) == len(used)
    per_stratum = defaultdict(list)
    for e in used:
        per_stratum[e.stratum].append(e.position)
        assert rands[e.used_by].randno == e.randno and rands[e.used_by].arm == e.arm
        assert subjects[e.used_by] == e.stratum
        assert results[e.used_by] == {(e.arm, e.randno)}
    for stratum, positions in per_stratum.items():
        assert sorted(positions) == list(range(1, len(positions) + 1))  # the list is used in order, no gaps
    worker_engine.dispose()


def test_exhausted_stratum_list_is_refused_clearly(store_url):
    engine = _setup(store_url, per_stratum=5)
    with session_scope(engine, "site1") as s:
        for i in range(11):
            screen_ok(s, f"X-{i:02d}", SCHEME.strata[0])
    with session_factory(engine)() as s:
        size = sum(1 for r in generate_allocation_list(SCHEME, np.random.default_rng(1), 5) if r["stratum"] == SCHEME.strata[0])
        for i in range(size):
            randomize(s, f"X-{i:02d}", "site1")
        with pytest.raises(StoreError, match="exhausted"):
            randomize(s, f"X-{size:02d}", "site1")


def test_eligibility_is_read_from_the_locked_row_not_a_copy_read_earlier(store_url):
    """The web reads the patient (site authority) before randomizing in the same session. A re-screening that made
    the patient ineligible in between must still be seen: the IRT's locked read refreshes the session's copy."""
    engine = _setup(store_url)
    with session_scope(engine, "site1") as s:
        screen_ok(s, "P-020", SCHEME.strata[0])
    factory = session_factory(engine)
    with factory() as request_session:
        early = request_session.get(Subject, "P-020")
        assert early.eligible is True
        request_session.commit()  # the request's first transaction ends; the copy stays in the session
        with session_scope(engine, "site1", "re-screening") as other:
            screen_fail(other, "P-020")
        with pytest.raises(EligibilityError, match="E03"):
            randomize(request_session, "P-020", "site1")
    with factory() as s:
        assert s.get(Randomization, "P-020") is None
        assert s.scalars(select(AllocationEntry).where(AllocationEntry.used_by.is_not(None))).all() == []


def test_stored_allocation_list_and_its_audit_rows_are_what_an_orm_insert_writes(tmp_path):
    """store_allocation_list writes by the column bulk path: the same positions and, times aside, the same audit rows
    (one per position: key, the position as JSON, user, reason) as the ORM insert it replaced."""
    from sqlalchemy import insert

    from ikema.store.db import acting

    rows = generate_allocation_list(SCHEME, np.random.default_rng(7), 12)
    got = []
    for name in ("bulk", "orm"):
        engine = init_db(f"sqlite:///{tmp_path / name}.db")
        with session_factory(engine)() as s:
            if name == "bulk":
                assert store_allocation_list(s, rows, "irt") == len(rows)
            else:
                with acting(s, "irt", "allocation list generated"):
                    s.execute(insert(AllocationEntry), [dict(r) for r in rows])
                s.commit()
            cols = [c.key for c in AllocationEntry.__mapper__.column_attrs]
            stored = [tuple(getattr(a, c) for c in cols) for a in s.scalars(select(AllocationEntry).order_by(AllocationEntry.id))]
            audit = [(a.user, a.table_name, a.record_key, a.usubjid, a.field, a.old_value, a.new_value, a.reason, a.action)
                     for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        engine.dispose()
        got.append((stored, audit))
    assert got[0] == got[1]
    assert len(got[0][1]) == len(rows) > 24 and got[0][1][0][2] == "1" and '"randno": ' in got[0][1][0][6]
