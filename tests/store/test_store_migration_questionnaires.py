"""Migration 0002: the item rows of questionnaire_answers become one questionnaires record per completed
questionnaire and back, nothing lost: values, the audit history as of any earlier time, and new ids after the
converted ones (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from ikema.cdisc.store import _as_of
from ikema.conduct import capture as C
from ikema.store import AuditEntry, Questionnaire, Subject, init_db, make_engine, session_factory, session_scope
from ikema.store.db import MIGRATIONS

ENTERED = dt.datetime(2018, 3, 2, 10, 0, tzinfo=dt.timezone.utc)
CORRECTED = dt.datetime(2018, 4, 1, 9, 0, tzinfo=dt.timezone.utc)
ITEMS = sa.table("questionnaire_answers", *(sa.column(c) for c in ("id", "usubjid", "instrument", "visit", "item", "answer")),
                 sa.column("date", sa.Date))
AUDIT = AuditEntry.__table__
# (id, instrument, visit, date, item, answer) as a site entered them, one row per item (ids 2 and 1 out of item
# order; item 4 repeats item 2 of the same questionnaire: a second questionnaire that day; item 5 has no audit row)
ROWS = [(1, C.C30, "C1D1", "2018-03-02", "EOR0102", 2), (2, C.C30, "C1D1", "2018-03-02", "EOR0101", 3),
        (3, C.EQ5D, "C1D1", "2018-03-02", "EQ5D0206", 80), (4, C.C30, "C1D1", "2018-03-02", "EOR0101", 4),
        (5, C.MY20, "C2D1", "2018-03-30", "EOR1931", None)]


def _migrate(url: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with make_engine(url).begin() as conn:
        cfg.attributes["connection"] = conn
        (command.upgrade if revision == "head" else command.downgrade)(cfg, revision)


def _item_store(url: str) -> None:
    """A store at revision 0001 holding ROWS with their audit rows (item 2's answer corrected 3 -> 1)."""
    engine = init_db(url)
    with session_scope(engine, "site1") as s:
        s.add(Subject(usubjid="P-1", status="RANDOMIZED", screening={}, screened_at=ENTERED - dt.timedelta(days=2)))
    engine.dispose()
    _migrate(url, "0001")
    with make_engine(url).begin() as conn:
        for rid, inst, visit, date, item, answer in ROWS:
            rec = dict(id=rid, usubjid="P-1", instrument=inst, visit=visit, date=date, item=item, answer=answer)
            conn.execute(sa.insert(ITEMS), [dict(rec, date=dt.date.fromisoformat(date), answer=1 if rid == 2 else answer)])
            if rid != 5:
                conn.execute(sa.insert(AUDIT), [dict(at=ENTERED, user="site1", table_name="questionnaire_answers",
                                                     record_key=str(rid), usubjid="P-1", field="*", old_value=None,
                                                     new_value=json.dumps(rec, sort_keys=True), reason="initial entry",
                                                     action="INSERT")])
        conn.execute(sa.insert(AUDIT), [dict(at=CORRECTED, user="monitor", table_name="questionnaire_answers", record_key="2",
                                             usubjid="P-1", field="answer", old_value="3", new_value="1",
                                             reason="SDV: 1 on the paper form", action="UPDATE")])


def _items(url: str) -> list[tuple]:
    with make_engine(url).connect() as conn:
        return sorted(conn.execute(sa.select(ITEMS.c.usubjid, ITEMS.c.instrument, ITEMS.c.visit, ITEMS.c.date, ITEMS.c.item,
                                             ITEMS.c.answer)).all(), key=repr)


def _items_as_of(url: str, at: dt.datetime) -> list[tuple]:
    """questionnaire_answers replayed from its audit rows up to `at` (as ikema.cdisc.store replays a table)."""
    recs: dict[str, dict] = {}
    with make_engine(url).connect() as conn:
        for key, field, new, action in conn.execute(sa.select(AUDIT.c.record_key, AUDIT.c.field, AUDIT.c.new_value,
                                                              AUDIT.c.action).where(AUDIT.c.table_name == "questionnaire_answers",
                                                                                    AUDIT.c.at <= at).order_by(AUDIT.c.id)):
            if action == "INSERT":
                recs[key] = json.loads(new)
            else:
                recs[key][field] = None if new is None else (int(new) if field == "answer" else new)
    return sorted(((r["usubjid"], r["instrument"], r["visit"], r["date"], r["item"], r["answer"]) for r in recs.values()), key=repr)


def _forms(url: str, at: dt.datetime | None = None) -> list[tuple]:
    with session_factory(make_engine(url))() as s:
        if at is None:
            rows = [(q.id, q.instrument, q.visit, q.date.isoformat(), list(q.answers.items()))
                    for q in s.scalars(sa.select(Questionnaire).order_by(Questionnaire.id))]
        else:
            f = _as_of(s, Questionnaire, at)
            rows = [(int(i), inst, v, d.isoformat(), list(a.items()))
                    for i, inst, v, d, a in zip(f["id"], f["instrument"], f["visit"], f["date"], f["answers"])]
    return rows


def test_item_rows_become_questionnaires_and_back_with_their_history(store_url):
    _item_store(store_url)
    items, entered, corrected = _items(store_url), _items_as_of(store_url, ENTERED), _items_as_of(store_url, CORRECTED)
    assert [r[-1] for r in entered if r[-2] == "EOR0101"] == [3, 4] and len(entered) == 4  # item 5: no audit row

    _migrate(store_url, "head")
    with make_engine(store_url).connect() as conn:
        assert "questionnaire_answers" not in sa.inspect(conn).get_table_names()
    stored = [(1, C.C30, "C1D1", "2018-03-02", [("EOR0101", 1), ("EOR0102", 2)]),  # the instrument's item order
              (2, C.EQ5D, "C1D1", "2018-03-02", [("EQ5D0206", 80)]),
              (3, C.C30, "C1D1", "2018-03-02", [("EOR0101", 4)]),
              (4, C.MY20, "C2D1", "2018-03-30", [("EOR1931", None)])]
    assert _forms(store_url) == stored
    # the history in the new table's terms: as entered, then the correction (one row with old and new answers)
    assert _forms(store_url, ENTERED) == [(1, C.C30, "C1D1", "2018-03-02", [("EOR0101", 3), ("EOR0102", 2)]), *stored[1:3]]
    assert _forms(store_url, CORRECTED) == stored[:3]
    with session_factory(make_engine(store_url))() as s:
        rows = s.scalars(sa.select(AuditEntry).where(AuditEntry.table_name == "questionnaires").order_by(AuditEntry.id)).all()
        upd = [r for r in rows if r.action == "UPDATE"]
        assert [(r.record_key, r.field, json.loads(r.old_value), json.loads(r.new_value), r.user, r.reason) for r in upd] == [
            ("1", "answers", {"EOR0101": 3, "EOR0102": 2}, {"EOR0101": 1, "EOR0102": 2}, "monitor", "SDV: 1 on the paper form")]
        assert [(r.record_key, r.user) for r in rows if r.action == "INSERT"] == [("1", "site1"), ("2", "site1"), ("3", "site1"),
                                                                                 ("4", "alembic")]
        # the old rows stay, and a new questionnaire gets the next id (ORM and bulk path)
        assert s.scalar(sa.select(sa.func.count()).where(AUDIT.c.table_name == "questionnaire_answers")) == 5
        with C.acting(s, "site1"):
            assert C.record_questionnaire(s, "P-1", C.EQ5D, "C2D1", "2018-03-30", {"EQ5D0201": 2}, "site1").id == 5
            C.record_many(s, "questionnaire", [dict(usubjid="P-1", instrument=C.EQ5D, visit="C3D1", date="2018-04-27",
                                                    answers={"EQ5D0201": 1})], "site1")
            assert s.scalars(sa.select(Questionnaire.id).order_by(Questionnaire.id)).all() == [1, 2, 3, 4, 5, 6]
        s.rollback()

    _migrate(store_url, "0001")
    assert _items(store_url) == items
    assert _items_as_of(store_url, ENTERED) == entered and _items_as_of(store_url, CORRECTED) == corrected
    _migrate(store_url, "head")
    assert _forms(store_url) == stored and _forms(store_url, ENTERED)[0][-1] == [("EOR0101", 3), ("EOR0102", 2)]
