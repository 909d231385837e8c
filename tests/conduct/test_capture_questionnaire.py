"""A completed questionnaire is one record: stored with its answers in the instrument's item order, audited in one
row that carries every answer, each item checked against the instrument (an error names the record and the item),
corrected with old and new answers in one audit row; the column-wise bulk path stores and refuses the same."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from ikema.conduct import capture as C
from ikema.errors import InputError
from ikema.store import AuditEntry, Questionnaire, session_factory, session_scope

from batch_paths import both_paths
from helpers_irt import store_with_randomized

RAND = dt.datetime(2018, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def engine(tmp_path):
    return store_with_randomized(tmp_path / "q.db", RAND)


def _audit(s, action):
    return s.scalars(select(AuditEntry).where(AuditEntry.table_name == "questionnaires", AuditEntry.action == action)
                     .order_by(AuditEntry.id)).all()


def test_a_questionnaire_is_one_record_and_one_audit_row_in_item_order(engine):
    with session_scope(engine, "site1") as s:
        q = C.record_questionnaire(s, "P-1", "eq-5d-5l", "C1D1", "2018-03-02",
                                   {"EQ5D0206": 75, " eq5d0202": 2, "EQ5D0201": "1", "EQ5D0203": None}, "site1")
        key = q.id
    with session_factory(engine)() as s:
        q = s.get(Questionnaire, key)
        assert (q.instrument, q.visit, q.date) == (C.EQ5D, "C1D1", dt.date(2018, 3, 2))
        assert list(q.answers.items()) == [("EQ5D0201", 1), ("EQ5D0202", 2), ("EQ5D0203", None), ("EQ5D0206", 75)]
        (row,) = _audit(s, "INSERT")
        assert json.loads(row.new_value)["answers"] == {"EQ5D0201": 1, "EQ5D0202": 2, "EQ5D0203": None, "EQ5D0206": 75}
        assert (row.record_key, row.usubjid, row.user) == (str(key), "P-1", "site1")


@pytest.mark.parametrize("answers, field, expected", [
    ({"EOR0101": 2, "EOR0105": 5}, "answers.EOR0105", "got 5, expected a number in [1, 4]"),
    ({"EOR0129": 0}, "answers.EOR0129", "a number in [1, 7]"),
    ({"EOR0101": 2.5}, "answers.EOR0101", "a whole number"),
    ({"EOR0101": "two"}, "answers.EOR0101", "a number written with the digits 0-9"),
    ({"EOR0101": 1, "EOR1931": 1}, "answers.EOR1931", "an item code of EORTC QLQ-C30 V3.0 (EOR0101, "),
    ({"EOR0101": 1, "eor0101": 2}, "answers.eor0101", "each item of EORTC QLQ-C30 V3.0 once"),
    ({}, "answers", "at least one item"),
])
def test_each_item_is_checked_and_an_error_names_record_and_item(engine, answers, field, expected):
    with session_factory(engine)() as s:
        with pytest.raises(InputError) as err:
            C.record_questionnaire(s, "P-1", C.C30, "C2D1", "2018-03-30", answers, "site1")
        s.rollback()
    msg = str(err.value)
    assert msg.startswith(f"questionnaires: record P-1 {C.C30} C2D1 2018-03-30, field {field}: ") and expected in msg, msg


def test_a_correction_keeps_the_other_answers_and_is_audited_with_old_and_new_answers(engine):
    with session_scope(engine, "site1") as s:
        key = C.record_questionnaire(s, "P-1", C.C30, "C1D1", "2018-03-02", {"EOR0101": 2, "EOR0102": 3}, "site1").id
    with session_factory(engine)() as s:
        with pytest.raises(InputError, match="field answers.EOR0102: got 9"):
            C.correct(s, "questionnaire", key, "monitor", "SDV", answers={"EOR0102": 9})
        s.rollback()
    with session_scope(engine, "monitor") as s:
        C.correct(s, "questionnaire", key, "monitor", "SDV: the paper form says 1", answers={"eor0102": 1})
    with session_factory(engine)() as s:
        assert s.get(Questionnaire, key).answers == {"EOR0101": 2, "EOR0102": 1}
        (row,) = _audit(s, "UPDATE")
        assert (row.field, json.loads(row.old_value), json.loads(row.new_value), row.user, row.reason) == (
            "answers", {"EOR0101": 2, "EOR0102": 3}, {"EOR0101": 2, "EOR0102": 1}, "monitor", "SDV: the paper form says 1")


def _rows(n: int, **change) -> list[dict]:
    day = [dt.date(2018, 3, 2) + dt.timedelta(days=28 * i) for i in range(n)]
    return [dict(usubjid="P-1", instrument=C.C30 if i % 2 else C.EQ5D, visit=f"C{i + 1}D1", date=d,
                 answers=({f"EOR01{j:02d}": 1 + (i + j) % 4 for j in range(1, 29)} | {"EOR0129": 5, "EOR0130": 6}) if i % 2
                 else {"EQ5D0201": 1 + i % 5, "EQ5D0202": 2, "EQ5D0203": 3, "EQ5D0204": 4, "EQ5D0205": 5, "EQ5D0206": 60 + i})
            | (change if i == n - 1 else {}) for i, d in enumerate(day)]


def _both_ways(engine, rows) -> list | str:
    """What record_many stores (or the error it raises) by the column path and by the per-record path."""
    def write(s):
        try:
            C.record_many(s, "questionnaire", rows, "site1")
        except InputError as exc:
            return str(exc)
        return [(q.instrument, q.visit, q.date, list(q.answers.items()))
                for q in s.scalars(select(Questionnaire).order_by(Questionnaire.id))]

    return both_paths(engine, write)


@pytest.mark.parametrize("change, stored, last", [
    # last: the changed (last) record's answers as stored: (its first items, its number of items)
    ({}, True, ([("EOR0101", 1), ("EOR0102", 2)], 30)),
    ({"answers": {"EOR0102": 1, "EOR0101": 2}}, True, ([("EOR0101", 2), ("EOR0102", 1)], 2)),  # stored in the instrument's order
    ({"answers": {"EOR0101": None}}, True, ([("EOR0101", None)], 1)),  # not answered: kept as such, not 0
    ({"answers": {"EOR0101": 5}}, False, None),
    ({"answers": {"EQ5D0201": 1}}, False, None),
    ({"answers": {"EOR0101": True}}, False, None),
    ({"answers": "EOR0101=1"}, False, None),
])
def test_the_bulk_path_stores_and_refuses_what_the_per_record_path_does(engine, change, stored, last):
    got = _both_ways(engine, _rows(12, **change))
    if stored:
        assert len(got) == 12 and got[1][3][:2] == [("EOR0101", 3), ("EOR0102", 4)] and got[-1][3][0][0] == "EOR0101"
        head, size = last
        assert got[-1][3][:len(head)] == head and len(got[-1][3]) == size
    else:
        assert isinstance(got, str) and "record P-1 EORTC QLQ-C30 V3.0 C12D1 " in got and "field answers" in got
