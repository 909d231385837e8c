"""The column-wise bulk path (ikema.conduct.batch) stores, audits, queries and refuses exactly what the per-record
validators do: a small IKEMA virtual trial captured both ways gives the same tables and audit rows, soft-range
findings come in the same order, and a bad record in a frame is refused naming its record and field."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from sqlalchemy import select

from ikema.cdisc.store import _live, _models
from ikema.conduct import batch
from ikema.conduct import capture as C
from ikema.conduct.randomization import randomize
from ikema.errors import InputError
from ikema.store import session_factory, session_scope

from batch_paths import both_paths
from helpers_irt import SCHEME, store_with_randomized
from store_dump import dump as _dump  # tests/store_dump.py

RAND = dt.datetime(2018, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """A 16-patient virtual trial (every record kind) captured by the column path and by the per-record path."""
    from ikema.simulate.demo import simulate_into_store

    got = {}
    for name, kinds in (("fast", batch.BY_KIND), ("slow", {})):
        out = tmp_path_factory.mktemp(name)
        saved = dict(batch.BY_KIND)
        batch.BY_KIND.clear()
        batch.BY_KIND.update(kinds)
        try:
            engine, _ = simulate_into_store(out, 5, enrollment=16)
        finally:
            batch.BY_KIND.clear()
            batch.BY_KIND.update(saved)
        got[name] = (engine, out / "ikema.db")
    yield got
    for engine, _ in got.values():
        engine.dispose()


@pytest.mark.slow
def test_column_path_stores_and_audits_what_the_per_record_path_does(both):
    fast, slow = _dump(both["fast"][1]), _dump(both["slow"][1])
    assert set(fast) == set(slow)
    for t in fast:
        assert fast[t] == slow[t], t
    assert len(fast["questionnaires"]) > 50 and len(fast["drug_administrations"]) > 500
    reasons = {r[-1] for r in fast["drug_administrations"]}  # adjustment_reason: empty for a full dose, never "nan"
    assert None in reasons and "nan" not in reasons
    inserts = [json.loads(r[-3]) for r in fast["audit_log"] if r[1] == "lab_results"]  # new_value column
    assert len(inserts) == len(fast["lab_results"]) and isinstance(inserts[0]["date"], str)


@pytest.mark.slow
def test_read_back_frames_equal_the_orm_select(both):
    """cdisc.store._live (DBAPI cursor, cached result processors) gives the frame SQLAlchemy's select gives."""
    engine, _ = both["fast"]
    with session_factory(engine)() as s:
        for name, model in _models().items():
            cols = [c.key for c in model.__mapper__.column_attrs]
            rows = s.execute(select(*[getattr(model, c) for c in cols]).order_by(*model.__mapper__.primary_key)).all()
            pd.testing.assert_frame_equal(_live(s, model), pd.DataFrame(rows, columns=cols), obj=name)


@pytest.fixture
def engine(tmp_path):
    """A store with P-1 randomized (the IRT scheme of tests/conduct)."""
    return store_with_randomized(tmp_path / "c.db", RAND)


def _rows(n: int) -> pd.DataFrame:
    day = [dt.date(2018, 3, 2) + dt.timedelta(days=7 * i) for i in range(n)]
    return pd.DataFrame({"usubjid": "P-1", "visit": None, "date": day, "test": ["NEUT", "PLAT"] * (n // 2),
                         "value": [[0.02, 1.0, 3.0, 200.0, 60.0, 1500.0][i % 6] for i in range(n)],
                         "unit": ["10^9/L", "10^9/L"] * (n // 2), "low": 1.8, "high": None})


def _findings_both_ways(engine, kind: str, rows) -> list:
    """The findings of record_many by the column path and by the per-record path (each rolled back)."""
    def write(s):
        with C.acting(s, "site1"):
            C.record_many(s, kind, rows, "site1")
            return C.take_findings(s)

    return both_paths(engine, write)


def test_soft_range_findings_are_the_same_and_in_record_order(engine):
    found = _findings_both_ways(engine, "lab", _rows(40))
    assert len(found) >= 2  # low neutrophils and platelets, high platelets: queried
    assert [f.record for f in found] == sorted((f.record for f in found), key=lambda r: r.split()[1])


@pytest.mark.parametrize("field, bad, expected", [
    ("value", -1.0, "[0, inf]"),
    ("value", "12,5", "a number written with the digits 0-9"),
    ("unit", "mg/L", "10^9/L (the unit the protocol records NEUT in)"),
    ("date", "2018-02-30", "a date (YYYY-MM-DD)"),
    ("test", "neut", "an upper-case SDTM LBTESTCD"),
])
def test_a_bad_record_in_a_frame_is_refused_naming_record_and_field(engine, field, bad, expected):
    rows = _rows(10).astype(object)
    rows.loc[6, field] = bad
    with session_factory(engine)() as s:
        with pytest.raises(InputError) as err:
            C.record_many(s, "lab", rows, "lab")
        s.rollback()
    msg = str(err.value)
    assert f"field {field}:" in msg and expected in msg and "P-1 " in msg


def test_a_dose_off_the_calendar_is_queried_the_same_both_ways(engine):
    with session_scope(engine, "site1") as s:
        C.record_screening(s, "P-3", {"weight_kg": 70.0, "height_cm": 170.0},
                           {"eligible": True, "stratum": SCHEME.strata[0], "verdicts": [("I01", "pass", "ok")]}, "site1",
                           when=RAND - dt.timedelta(days=20))
    with session_factory(engine)() as s:
        arm = randomize(s, "P-3", "site1", when=RAND).arm
        drug = C.protocol_of(s).arm(arm).drugs[0].name
    rows = pd.DataFrame({"usubjid": "P-3", "cycle": [1, 1, 2], "day": [1, 3, 1], "date": [dt.date(2018, 3, 2)] * 3,
                         "drug": drug, "route": "IV", "dose_mg": [10.0, 10.0, 10.0], "planned_dose_mg": None,
                         "adjustment_reason": pd.Series([None, None, "DOSE REDUCED"], dtype=object)})
    found = _findings_both_ways(engine, "administration", rows)
    assert [(f.field, f.record) for f in found] == [("dose_mg", f"P-3 cycle 1 day 1 {drug}"),
                                                    ("day", f"P-3 cycle 1 day 3 {drug}")]
    # many cycles and days: the calendar's dose per dosing step, the same findings as dose by dose
    grid = [(cy, dy) for cy in range(1, 8) for dy in (1, 2, 3, 8, 15, 22)]
    many = pd.DataFrame({"usubjid": "P-3", "cycle": [g[0] for g in grid], "day": [g[1] for g in grid],
                         "date": [dt.date(2018, 3, 2)] * len(grid), "drug": drug, "route": "IV",
                         "dose_mg": [700.0 if i % 3 else 500.0 for i in range(len(grid))], "planned_dose_mg": None,
                         "adjustment_reason": pd.Series([None] * len(grid), dtype=object)})
    found = _findings_both_ways(engine, "administration", many)
    assert {f.field for f in found} == {"day", "dose_mg"}
    # isatuximab 10 mg/kg at 70 kg = 700 mg on C1 D1/8/15/22 and D1/15 of later cycles: the days off that calendar
    # (C1 D2/3, D2/3/8/22 of C2-C7) are queried, and the 500 mg doses on its days (every third, from C1 D1)
    days_off = [(1, 2), (1, 3)] + [(c, d) for c in range(2, 8) for d in (2, 3, 8, 22)]
    low = [(c, d) for i, (c, d) in enumerate(grid) if i % 3 == 0 and (c, d) not in days_off]
    assert sorted(f.record for f in found if f.field == "day") == sorted(f"P-3 cycle {c} day {d} {drug}" for c, d in days_off)
    assert sorted(f.record for f in found if f.field == "dose_mg") == sorted(f"P-3 cycle {c} day {d} {drug}" for c, d in low)


def test_calendar_doses_of_many_subjects_are_queried_as_the_calendar_says(tmp_path):
    """Administrations of subjects of both arms and different body sizes, each given the calendar dose of the first
    subject's body, on and off the calendar's days, with and without an adjustment reason: the column path (dosing
    step per (arm, drug, cycle, day), dose per subject and step) queries exactly what dose-by-dose arithmetic on
    conduct.calendar.planned_dose_mg says, and the per-record path the same."""
    from ikema.conduct.calendar import planned_dose_mg

    people = {"P-1": (55.0, 150.0), "P-2": (70.0, 170.0), "P-3": (70.0, 170.0), "P-4": (101.5, 192.0), "P-5": (83.0, 160.0)}
    engine = store_with_randomized(tmp_path / "m.db", RAND, usubjid="P-0")
    with session_scope(engine, "site1") as s:
        for u, (w, h) in people.items():
            C.record_screening(s, u, {"weight_kg": w, "height_cm": h},
                               {"eligible": True, "stratum": SCHEME.strata[0], "verdicts": [("I01", "pass", "ok")]},
                               "site1", when=RAND - dt.timedelta(days=20))
    arms = {}
    with session_factory(engine)() as s:
        for u in people:
            arms[u] = randomize(s, u, "site1", when=RAND).arm
        protocol = C.protocol_of(s)
    assert len(set(arms.values())) == 2  # both arms among them
    w0, h0 = people["P-1"]
    rows = []
    for u in people:
        for drug in [d.name for d in protocol.arm(arms[u]).drugs]:
            for cycle, day in [(c, d) for c in (1, 2, 3) for d in (1, 2, 3, 8, 15, 16)]:
                ref = planned_dose_mg(protocol, arms["P-1"], w0, h0, drug, cycle, day) if drug in [
                    d.name for d in protocol.arm(arms["P-1"]).drugs] else None
                mg = ref if ref is not None else 20.0
                reason = "DOSE REDUCED" if (cycle + day) % 4 == 0 else None
                rows.append((u, cycle, day, drug, mg, reason))
    frame = pd.DataFrame({"usubjid": [r[0] for r in rows], "cycle": [r[1] for r in rows], "day": [r[2] for r in rows],
                          "date": [dt.date(2018, 3, 2)] * len(rows), "drug": [r[3] for r in rows], "route": "IV",
                          "dose_mg": [r[4] for r in rows], "planned_dose_mg": None,
                          "adjustment_reason": pd.Series([r[5] for r in rows], dtype=object)})
    tol = protocol.edit_checks.dose_tolerance
    want = []
    for u, cycle, day, drug, mg, reason in rows:
        planned = planned_dose_mg(protocol, arms[u], *people[u], drug, cycle, day)
        if planned is None:
            want.append(("day", f"{u} cycle {cycle} day {day} {drug}"))
        elif abs(mg - planned) > tol * planned and not (mg < planned and reason):
            want.append(("dose_mg", f"{u} cycle {cycle} day {day} {drug}"))
    found = [(f.field, f.record) for f in _findings_both_ways(engine, "administration", frame) if f.field in ("day", "dose_mg")
             and "range" not in str(f.expected)]
    assert found == want
    kinds = {(field, rec.split()[0]) for field, rec in want}
    assert {("day", "P-1"), ("dose_mg", "P-4")} <= kinds and ("dose_mg", "P-1") not in kinds
