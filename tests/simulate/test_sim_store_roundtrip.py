"""The simulator writes only through conduct: every stored record has its audit row, and the SDTM built from
the store equals the SDTM built from the simulated records."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from ikema.cdisc.sdtm import build_sdtm
from ikema.conduct.capture import record_screening
from ikema.conduct.randomization import Scheme, generate_allocation_list, randomize, store_allocation_list
from ikema.simulate.enroll import KIND_OF_TABLE, capture_records
from ikema.cdisc.store import records_from_store
from ikema.simulate.entry import store_rows
from ikema.simulate.safety import pk_lloq
from ikema.simulate.virtual import simulate_records
from ikema.store import AuditEntry, Questionnaire, init_db, session_factory

from simtoy import toy_subjects  # noqa: E402  (tests/simulate/simtoy.py)


@pytest.fixture(scope="module")
def stored(tmp_path_factory, toy_facts, toy_criteria):
    rng = np.random.default_rng(17)
    subjects = toy_subjects(rng, toy_facts, 24)
    engine = init_db(f"sqlite:///{tmp_path_factory.mktemp('db') / 'toy.db'}")
    session = session_factory(engine)()
    scheme = Scheme(ratio={"A": 1, "B": 1}, block_sizes=(2,), factors=(("F", ("x",)),))
    store_allocation_list(session, generate_allocation_list(scheme, rng, len(subjects)), "test")
    arms = []
    for u, randdt in zip(subjects["USUBJID"], subjects["RANDDT"]):
        record_screening(session, u, {"age": 60}, {"eligible": True, "verdicts": [("I1", "pass", "ok")], "stratum": {"F": "x"}}, "test",
                         when=dt.datetime.combine(randdt - dt.timedelta(days=14), dt.time(9), tzinfo=dt.timezone.utc))  # consent first
        session.commit()
        arms.append(randomize(session, u, "test", when=dt.datetime.combine(randdt, dt.time(12), tzinfo=dt.timezone.utc), randdt=randdt).arm)
    subjects["ARM"] = arms
    subjects["ARMLABEL"] = arms
    records = simulate_records(rng, subjects, toy_facts, toy_criteria)
    counts = capture_records(session, records)
    back = records_from_store(session, subjects, toy_facts.cycle_days, pk_lloq())
    yield session, records, back, counts
    session.close()
    engine.dispose()


def test_every_stored_record_has_an_insert_audit_row(stored):
    session, records, _back, counts = stored
    rows = store_rows(records)
    for table, kind in KIND_OF_TABLE.items():
        n = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.table_name == table, AuditEntry.field == "*"))
        assert n == counts[kind] == len(rows[table]), table
    assert counts["assessment"] > 0 and counts["administration"] > 0


def test_sdtm_from_the_store_equals_sdtm_from_the_records(stored):
    _session, records, back, _counts = stored
    a, b = build_sdtm(records, "TOY"), build_sdtm(back, "TOY")
    assert list(a) == list(b)
    for name in a:
        pd.testing.assert_frame_equal(a[name].astype(str).reset_index(drop=True), b[name].astype(str).reset_index(drop=True), obj=name)
    # questionnaires are stored one record per questionnaire and come back as one QS record per item
    assert len(a["QS"]) > 15 * _session.scalar(select(func.count()).select_from(Questionnaire)) > 0


def test_adqs_from_the_store_equals_adqs_from_the_records(stored):
    from ikema.cdisc.adam.adqs import derive_adqs

    _session, records, back, _counts = stored
    qs_a, qs_b = build_sdtm(records, "TOY")["QS"], build_sdtm(back, "TOY")["QS"]
    a, b = derive_adqs(qs_a), derive_adqs(qs_b)
    assert len(a) > 0 and {"C30SUM", "EQ5DIDX", "DY"} <= set(a["PARAMCD"])
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_lean_questionnaire_rows_give_the_lean_sdtm_of_the_item_rows(stored, toy_facts):
    # a twin replicate reads one row per stored questionnaire (no item expansion): its lean SDTM must be the same
    from ikema.cdisc.derive import SAFETY_DOMAINS
    from ikema.cdisc.store import records_from_tables, store_tables

    session, records, back, _counts = stored
    subjects = back["subjects"]
    rows = records_from_tables(store_tables(session), subjects, toy_facts.cycle_days, pk_lloq(), questionnaire_items=False)
    assert len(rows["questionnaires"]) == session.scalar(select(func.count()).select_from(Questionnaire)) < len(back["questionnaires"])
    domains = tuple(d for d in SAFETY_DOMAINS if d != "SV")
    a, b = build_sdtm(back, "TOY", domains=domains, lean=True), build_sdtm(rows, "TOY", domains=domains, lean=True)
    assert list(a) == list(b) and len(a["QS"]) > 0
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
