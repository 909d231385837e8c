"""The IRT's batch path (randomize_many, the web's group commit): the same answers, rows and audit rows as one
`randomize` call per request in the same order (SQLite and PostgreSQL), one request's refusal failing no other, and
no position handed out twice when batches and single requests run at once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import defaultdict

import numpy as np
import pytest
from sqlalchemy import select

from ikema.conduct.randomization import Request, generate_allocation_list, randomize, randomize_many, store_allocation_list
from ikema.errors import AllocationExhaustedError, EligibilityError, StoreError
from ikema.store import (
    AllocationEntry, AuditEntry, Randomization, Subject, init_db, session_factory, session_scope,
)

from helpers_irt import SCHEME, screen_fail, screen_ok

T0 = dt.datetime(2018, 3, 1, 8, 30, tzinfo=dt.timezone.utc)


def _second_url(url: str) -> str:
    """Another empty database next to `url` (same backend)."""
    if url.startswith("sqlite"):
        return url[:-3] + "-b.db"
    from ikema.store.pgserver import fresh_database

    return fresh_database(url, url.rsplit("/", 1)[1] + "b")


def _store(url: str):
    """A store with a 5-per-stratum list (blocks of 5 or 10), subjects in three strata (more in the first than its
    list holds), one ineligible, and R-00 randomized already."""
    engine = init_db(url)
    with session_factory(engine)() as s:
        store_allocation_list(s, generate_allocation_list(SCHEME, np.random.default_rng(1), 5), "irt-admin")
    with session_scope(engine, "site1") as s:
        for i in range(12):
            screen_ok(s, f"A-{i:02d}", SCHEME.strata[0])
        for i in range(3):
            screen_ok(s, f"B-{i:02d}", SCHEME.strata[1])
        screen_ok(s, "R-00", SCHEME.strata[2])
        screen_fail(s, "F-00")
    with session_factory(engine)() as s:
        randomize(s, "R-00", "site2", when=T0 - dt.timedelta(days=1))
    return engine


def _requests() -> list[Request]:
    """Arrival order: strata interleaved, a repeat of an earlier request (A-01), a repeat of a stored randomization
    (R-00), an unscreened and an ineligible patient, and more first-stratum patients than its list holds."""
    order = ["A-00", "B-00", "A-01", "NO-SCREEN", "A-01", "F-00", "R-00", "B-01"] + [f"A-{i:02d}" for i in range(2, 12)] + ["B-02"]
    return [Request(u, f"site{1 + k % 2}", T0 + dt.timedelta(seconds=k)) for k, u in enumerate(order)]


def _one_at_a_time(engine, requests):
    out = []
    with session_factory(engine)() as s:
        for r in requests:
            try:
                out.append(randomize(s, r.usubjid, r.user, when=r.when))
            except (EligibilityError, AllocationExhaustedError) as exc:
                out.append(exc)
    return out


def _outcome(a):
    return (type(a).__name__, str(a)) if isinstance(a, Exception) else dataclasses.astuple(a)


def _tables(engine, since: int):
    """Every row the randomizations wrote or changed, comparable across two stores (audit ids and times aside)."""
    with session_factory(engine)() as s:
        def rows(model, order):
            cols = [c.key for c in model.__table__.c]
            return [tuple(getattr(r, c) for c in cols) for r in s.scalars(select(model).order_by(order))]

        audit = sorted((a.user, a.table_name, a.record_key, a.usubjid, a.field, a.old_value, a.new_value, a.reason, a.action)
                       for a in s.scalars(select(AuditEntry).where(AuditEntry.id > since)))
        return {"randomizations": rows(Randomization, Randomization.usubjid),
                "allocation_list": rows(AllocationEntry, AllocationEntry.id),
                "subjects": [(u, st) for u, st, *_ in rows(Subject, Subject.usubjid)], "audit": audit}


def _last_audit_id(engine) -> int:
    with session_factory(engine)() as s:
        return max(s.scalars(select(AuditEntry.id)).all())


def test_batch_and_one_at_a_time_give_the_same_answers_rows_and_audit_rows(store_url):
    single, batch = _store(store_url), _store(_second_url(store_url))
    since = _last_audit_id(single), _last_audit_id(batch)
    requests = _requests()
    expected = _one_at_a_time(single, requests)
    with session_factory(batch)() as s:
        got = randomize_many(s, requests)
    assert [_outcome(a) for a in got] == [_outcome(a) for a in expected]
    kinds = [type(a).__name__ for a in got]
    # the list of the first stratum holds 5 or 10 positions: the patients beyond it are refused, naming the stratum
    size = sum(1 for r in generate_allocation_list(SCHEME, np.random.default_rng(1), 5) if r["stratum"] == SCHEME.strata[0])
    assert kinds.count("AllocationExhaustedError") == 12 - size
    assert all(SCHEME.strata[0] in str(a) for a in got if isinstance(a, AllocationExhaustedError))
    assert [kinds[i] for i in (3, 5)] == ["EligibilityError", "EligibilityError"]
    assert got[4].usubjid == "A-01" and not got[4].new and got[2].new and got[4].randno == got[2].randno  # a repeat
    assert got[6].randomized_by == "site2" and not got[6].new  # the stored randomization
    a, b = _tables(single, since[0]), _tables(batch, since[1])
    assert a == b
    assert len(b["audit"]) == 4 * sum(1 for x in got if getattr(x, "new", False))  # used_by, used_at, status, the row
    with session_factory(batch)() as s:  # positions of each stratum used in arrival order
        used = s.execute(select(AllocationEntry.stratum, AllocationEntry.position, AllocationEntry.used_by)
                         .where(AllocationEntry.used_by.is_not(None), AllocationEntry.used_by != "R-00")
                         .order_by(AllocationEntry.stratum, AllocationEntry.position)).all()
    arrival = {r.usubjid: k for k, r in reversed(list(enumerate(requests)))}
    for stratum in {st for st, _, _ in used}:
        mine = [(p, arrival[u]) for st, p, u in used if st == stratum]
        assert [p for p, _ in mine] == list(range(1, len(mine) + 1))
        assert [k for _, k in mine] == sorted(k for _, k in mine)


def test_a_batch_of_one_behaves_as_one_request(store_url):
    single, batch = _store(store_url), _store(_second_url(store_url))
    since = _last_audit_id(single), _last_audit_id(batch)
    for u in ("A-00", "F-00", "A-00", "NO-SCREEN"):
        r = [Request(u, "site1", T0)]
        with session_factory(batch)() as s:
            assert [_outcome(x) for x in randomize_many(s, r)] == [_outcome(x) for x in _one_at_a_time(single, r)]
    assert _tables(single, since[0]) == _tables(batch, since[1])


def test_concurrent_batches_and_single_requests_never_share_a_position(store_url):
    """Four threads randomize at once, two through batches and two one at a time, with some patients asked for twice
    (the same patient sent to two server processes): every patient once, no position twice, each stratum's list used
    from its start without gaps."""
    engine = init_db(store_url)
    with session_factory(engine)() as s:
        store_allocation_list(s, generate_allocation_list(SCHEME, np.random.default_rng(2), 60), "irt-admin")
    patients = [f"C-{i:03d}" for i in range(120)]
    with session_scope(engine, "site1") as s:
        for i, u in enumerate(patients):
            screen_ok(s, u, SCHEME.strata[i % 3])
    chunks = [patients[k::4] + patients[(k + 1) % 4::16] for k in range(4)]
    answers: dict[str, set] = defaultdict(set)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            with session_factory(engine)() as s:
                if k < 2:
                    for start in range(0, len(chunks[k]), 9):
                        for a in randomize_many(s, [Request(u, "site1", None) for u in chunks[k][start:start + 9]]):
                            assert not isinstance(a, Exception), a
                            answers[a.usubjid].add((a.arm, a.randno))
                else:
                    for u in chunks[k]:
                        a = randomize(s, u, "site1")
                        answers[a.usubjid].add((a.arm, a.randno))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert set(answers) == set(patients) and all(len(v) == 1 for v in answers.values())
    with session_factory(engine)() as s:
        used = s.execute(select(AllocationEntry.stratum, AllocationEntry.position, AllocationEntry.used_by)
                         .where(AllocationEntry.used_by.is_not(None))).all()
        assert len(used) == len(patients) == len({u for *_, u in used})
        for stratum in SCHEME.strata[:3]:
            positions = sorted(p for st, p, _ in used if st == stratum)
            assert positions == list(range(1, len(positions) + 1))
        assert len(s.scalars(select(Randomization)).all()) == len(patients)


@pytest.mark.postgres
def test_a_batch_waits_for_positions_another_transaction_holds(pg_server_url):
    """The last position of a stratum held (FOR UPDATE) by an open transaction: the batch neither refuses it as used up
    nor gives up; it gets the position once that transaction ends without using it."""
    from ikema.store.pgserver import fresh_database

    engine = init_db(fresh_database(pg_server_url, "batchwait"))
    with session_factory(engine)() as s:
        store_allocation_list(s, generate_allocation_list(SCHEME, np.random.default_rng(1), 5), "irt-admin")
        size = s.scalar(select(AllocationEntry.position).where(AllocationEntry.stratum == SCHEME.strata[0])
                        .order_by(AllocationEntry.position.desc()).limit(1))
    with session_scope(engine, "site1") as s:
        for i in range(size):
            screen_ok(s, f"W-{i:02d}", SCHEME.strata[0])
    with session_factory(engine)() as s:
        for i in range(size - 1):
            randomize(s, f"W-{i:02d}", "site1")
    holder = session_factory(engine)()
    held = holder.scalars(select(AllocationEntry).where(AllocationEntry.used_by.is_(None),
                                                        AllocationEntry.stratum == SCHEME.strata[0]).with_for_update()).one().randno
    out = []
    t = threading.Thread(target=lambda: out.extend(randomize_many(session_factory(engine)(), [Request(f"W-{size - 1:02d}", "site1", T0)])))
    t.start()
    t.join(1.0)
    assert t.is_alive() and not out  # waiting, not refused
    holder.rollback()
    holder.close()
    t.join(30)
    assert not t.is_alive() and out[0].randno == held and out[0].new


def test_randomize_many_refuses_a_request_without_a_user(store_url):
    engine = _store(store_url)
    with session_factory(engine)() as s, pytest.raises(StoreError, match="one acting user per record"):
        randomize_many(s, [Request("A-00", "", T0)])
