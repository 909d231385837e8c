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


def test_lean_columns_read_what_the_full_tables_hold(stored):
    # a lean SDTM reads only some tables and columns of the store: each must be the full read's column, as read
    # live and from the audit trail (dates as datetime64 days); has_items is whether the questionnaire's answers hold
    # an item
    from ikema.cdisc.derive import SAFETY_DOMAINS
    from sqlalchemy import Date

    from ikema.cdisc.store import _models, last_change, lean_columns, store_tables

    session = stored[0]
    wanted = lean_columns(SAFETY_DOMAINS)
    assert not {"pk_samples", "ada_samples", "screening_results"} & set(wanted)
    assert {"pk_samples", "ada_samples"} <= set(lean_columns(("DM", "PC"))) and "screening_results" in lean_columns(None)
    for as_of in (None, last_change(session)):
        full, lean = store_tables(session, as_of), store_tables(session, as_of, wanted, day_dates=True)
        assert list(lean) == list(wanted)
        for table, cols in wanted.items():
            assert list(lean[table]) == list(cols) and len(lean[table]) > 0, table
            for c in cols:
                expected = full[table]["answers"].map(len).gt(0).rename(c) if c == "has_items" else full[table][c]
                if isinstance(_models()[table].__table__.c[c if c != "has_items" else "answers"].type, Date):
                    assert lean[table][c].dtype == "datetime64[s]"
                    expected = pd.to_datetime(expected).astype("datetime64[s]")
                pd.testing.assert_series_equal(lean[table][c], expected, check_dtype=c != "has_items", obj=f"{table}.{c}")
        assert lean["questionnaires"]["has_items"].all()


@pytest.mark.parametrize("answers", [{}, [], {"EOR0101": None}, {"EOR0101": 2, "EOR0102": "x"}, ["a"], {"": 0}])
def test_holds_items_reads_the_stored_json_text(answers):
    import json

    from ikema.cdisc.store import _holds_items

    for text in (json.dumps(answers), json.dumps(answers, indent=2), json.dumps(answers, separators=(",", ":")),
                 f"  {json.dumps(answers, indent=1)}\n"):
        assert _holds_items(text) is _holds_items(text.encode()) is (len(answers) > 0), text
    assert _holds_items(answers) is (len(answers) > 0)


def test_lean_sdtm_from_the_lean_read_equals_the_lean_sdtm_of_the_full_read(stored, toy_facts):
    # live, and as the store stood before any questionnaire was entered (no QS record at all)
    from ikema.cdisc.derive import SAFETY_DOMAINS
    from ikema.cdisc.store import lean_columns, records_from_tables, store_tables, subjects_from_tables

    session = stored[0]
    first_qs, first_ex = (session.scalar(select(func.min(AuditEntry.at)).where(AuditEntry.table_name == t))
                          for t in ("questionnaires", "drug_administrations"))
    domains = tuple(d for d in SAFETY_DOMAINS if d != "SV")
    for as_of in (None, first_qs - dt.timedelta(microseconds=1), first_ex - dt.timedelta(microseconds=1)):
        full, lean = store_tables(session, as_of), store_tables(session, as_of, lean_columns(domains), day_dates=True)
        a, b = (subjects_from_tables(t, {"AGE": "age"}, {"A": "A", "B": "B"}, "TOY") for t in (lean, full))
        assert isinstance(b["RANDDT"].iloc[0], dt.date) and len(a) > 0
        pd.testing.assert_frame_equal(a, b.assign(RANDDT=pd.to_datetime(b["RANDDT"]).astype("datetime64[s]")))
        subjects = stored[2]["subjects"]
        a = build_sdtm(records_from_tables(full, subjects, toy_facts.cycle_days, pk_lloq(), questionnaire_items=False),
                       "TOY", domains=domains, lean=True)
        b = build_sdtm(records_from_tables(lean, subjects, toy_facts.cycle_days, pk_lloq(), questionnaire_items=False),
                       "TOY", domains=domains, lean=True)
        assert list(a) == list(b) and (len(a["QS"]) > 0) is (as_of is None) and (len(a["EX"]) > 0) is (as_of != first_ex - dt.timedelta(microseconds=1))
        for name in a:
            pd.testing.assert_frame_equal(a[name], b[name], obj=name)


@pytest.mark.parametrize("values", [["a", None, "b"], [None, None], [1, 2, 3], [1, None, 3], [1.5, None, 2.0], [1, 2.5],
                                    [True, False], [True, None], ["a", 1], [], [2**70, 1], [float("nan"), 1.0]])
def test_typed_columns_are_what_pandas_infers(values):
    from ikema.cdisc.store import _typed

    pd.testing.assert_series_equal(pd.Series(_typed(list(values))), pd.Series(list(values)))


def test_first_and_last_dates_are_the_groupwise_min_and_max():
    from ikema.cdisc.store import _first_and_last

    rng = np.random.default_rng(3)
    days = [dt.date(2018, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 900, 400)]
    t = pd.DataFrame({"usubjid": [f"S-{u:03d}" for u in rng.integers(0, 37, 400)], "date": days})
    for frame in (t, t.iloc[:0], t.iloc[:1], t.assign(date=[None if i % 50 == 0 else d for i, d in enumerate(days)])):
        frame = frame.sort_values(["usubjid", "date"], kind="stable").reset_index(drop=True)
        first, last = _first_and_last(frame["usubjid"], frame["date"])
        pd.testing.assert_series_equal(first, frame.groupby("usubjid")["date"].min())
        pd.testing.assert_series_equal(last, frame.groupby("usubjid")["date"].max())


def test_day_dates_convert_each_stored_date_through_its_processor():
    from ikema.cdisc.store import _day_dates

    raw = ["2019-01-31", None, "2018-12-01", "2019-01-31", None]
    got = _day_dates(raw, dt.date.fromisoformat)
    assert got.dtype == "datetime64[s]" and np.isnat(got).tolist() == [False, True, False, False, True]
    assert got[[0, 2, 3]].tolist() == [dt.datetime(2019, 1, 31), dt.datetime(2018, 12, 1), dt.datetime(2019, 1, 31)]
    as_dates = [dt.date(2019, 1, 31), None, dt.date(2018, 12, 1), dt.date(2019, 1, 31), None]
    assert np.array_equal(_day_dates(as_dates, None), got, equal_nan=True) and len(_day_dates([None], None)) == 1
