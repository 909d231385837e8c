"""The store: Alembic upgrade from empty, and the audit trail on every insert and update (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import insert, inspect, select, text, update

from ikema.errors import StoreError
from ikema.store import AuditEntry, DiseaseAssessment, Site, Subject, init_db, session_factory, session_scope
from ikema.store.models import Base


def _audit(engine, table=None):
    with session_factory(engine)() as s:
        q = select(AuditEntry).order_by(AuditEntry.id)
        if table:
            q = q.where(AuditEntry.table_name == table)
        return s.scalars(q).all()


def test_upgrade_from_empty_creates_every_table(store_url):
    engine = init_db(store_url)
    tables = set(inspect(engine).get_table_names())
    # the store's own models (the web registers its tables on the same Base, under its own migrations)
    store_tables = {m.local_table.name for m in Base.registry.mappers if m.class_.__module__ == "ikema.store.models"}
    assert {"subjects", "audit_log", "sites"} <= store_tables
    assert store_tables <= tables
    assert "alembic_version" in tables
    init_db(store_url)  # a second upgrade is a no-op
    with engine.connect() as c:
        assert c.execute(text("select version_num from alembic_version")).scalar() == "0002"


def test_insert_and_update_are_audited_field_by_field(store_url):
    engine = init_db(store_url)
    with session_scope(engine, "alice") as s:
        s.add(Site(site_id="S1", name="Site one"))
        s.add(Subject(usubjid="X-1", site_id="S1", status="SCREENED", screening={"AGE": 64}))
    with session_scope(engine, "bob", "transcription error") as s:
        sub = s.get(Subject, "X-1")
        sub.status = "SCREEN_FAILED"
        sub.screening = {"AGE": 17}
    rows = _audit(engine, "subjects")
    ins = [r for r in rows if r.action == "INSERT"]
    assert len(ins) == 1 and ins[0].user == "alice" and ins[0].record_key == "X-1" and ins[0].field == "*"
    assert json.loads(ins[0].new_value)["status"] == "SCREENED"
    upd = {r.field: r for r in rows if r.action == "UPDATE"}
    assert set(upd) == {"status", "screening"}
    assert (upd["status"].old_value, upd["status"].new_value) == ("SCREENED", "SCREEN_FAILED")
    assert json.loads(upd["screening"].old_value) == {"AGE": 64} and json.loads(upd["screening"].new_value) == {"AGE": 17}
    assert all(r.user == "bob" and r.reason == "transcription error" and r.usubjid == "X-1" for r in upd.values())
    assert all(r.at.utcoffset() == dt.timedelta(0) for r in rows)  # UTC, timezone-aware on every backend
    assert len(_audit(engine, "sites")) == 1


def test_update_without_reason_or_user_is_refused_and_nothing_changes(store_url):
    engine = init_db(store_url)
    with session_scope(engine, "alice") as s:
        s.add(Subject(usubjid="X-1", status="SCREENED", screening={}))
    with pytest.raises(StoreError, match="needs a reason"):
        with session_scope(engine, "bob") as s:
            s.get(Subject, "X-1").status = "RANDOMIZED"
    with pytest.raises(StoreError, match="no acting user"):
        with session_factory(engine)() as s:
            s.add(Subject(usubjid="X-2", status="SCREENED", screening={}))
            s.commit()
    with session_factory(engine)() as s:
        assert s.get(Subject, "X-1").status == "SCREENED"
        assert s.get(Subject, "X-2") is None
    assert len(_audit(engine)) == 1


def test_delete_of_trial_data_is_refused(store_url):
    engine = init_db(store_url)
    with session_scope(engine, "alice") as s:
        s.add(Subject(usubjid="X-1", status="SCREENED", screening={}))
    with pytest.raises(StoreError, match="deleting"):
        with session_scope(engine, "alice", "duplicate") as s:
            s.delete(s.get(Subject, "X-1"))
    with session_factory(engine)() as s:
        assert s.get(Subject, "X-1") is not None


def test_audit_rows_are_immutable_in_orm_and_database(store_url):
    engine = init_db(store_url)
    with session_scope(engine, "alice") as s:
        s.add(Subject(usubjid="X-1", status="SCREENED", screening={}))
    with pytest.raises(StoreError, match="never changed"):
        with session_scope(engine, "mallory", "cover up") as s:
            s.scalars(select(AuditEntry)).first().user = "nobody"
    with pytest.raises(StoreError):
        with session_scope(engine, "mallory", "cover up") as s:
            s.delete(s.scalars(select(AuditEntry)).first())
    with pytest.raises(StoreError):
        with session_scope(engine, "mallory", "cover up") as s:
            s.execute(update(AuditEntry).values(user="nobody"))
    sqls = ["UPDATE audit_log SET \"user\" = 'x'", "DELETE FROM audit_log"]
    if engine.dialect.name == "postgresql":
        sqls.append("TRUNCATE audit_log")
    for sql in sqls:
        with pytest.raises(Exception, match="append-only"):
            with engine.begin() as c:
                c.execute(text(sql))
    assert [r.user for r in _audit(engine)] == ["alice"]


def test_bulk_insert_is_audited_per_record(store_url):
    engine = init_db(store_url)
    with session_scope(engine, "alice") as s:
        s.add(Subject(usubjid="X-1", status="RANDOMIZED", screening={}))
    rows = [dict(usubjid="X-1", date=dt.date(2020, 1, 1 + i), param="SMPROT", aval=1.5 + i, unit="g/dL") for i in range(25)]
    with session_scope(engine, "sim", "simulated entry") as s:
        s.execute(insert(DiseaseAssessment), rows)
    audit = _audit(engine, "disease_assessments")
    assert len(audit) == 25
    with session_factory(engine)() as s:
        stored = {str(a.id): a.aval for a in s.scalars(select(DiseaseAssessment))}
    for a in audit:
        assert json.loads(a.new_value)["aval"] == stored[a.record_key]
        assert a.user == "sim" and a.reason == "simulated entry" and a.action == "INSERT"
    with pytest.raises(StoreError, match="bulk UPDATE"):
        with session_scope(engine, "sim", "x") as s:
            s.execute(update(DiseaseAssessment).values(aval=0.0))


def test_bulk_insert_reserves_keys_after_existing_rows_and_audits_them(store_url):
    from ikema.store.audit import bulk_insert

    engine = init_db(store_url)
    with session_scope(engine, "alice") as s:
        s.add(Subject(usubjid="X-1", status="RANDOMIZED", screening={}))
        s.flush()
        s.add(DiseaseAssessment(usubjid="X-1", date=dt.date(2020, 1, 1), param="SMPROT", aval=3.0, unit="g/dL"))
    rows = [dict(usubjid="X-1", date=dt.date(2020, 2, i + 1), param="SMPROT", aval=float(i), unit="g/dL") for i in range(5)]
    with session_scope(engine, "sim", "simulated entry") as s:
        keys = bulk_insert(s, DiseaseAssessment, rows)
    with session_scope(engine, "o'brien", "the patient's diary; DROP TABLE audit_log --") as s:  # quotes in the text
        bulk_insert(s, DiseaseAssessment, rows[:1])
    with session_scope(engine, "alice") as s:
        s.add(DiseaseAssessment(usubjid="X-1", date=dt.date(2020, 3, 1), param="SMPROT", aval=9.0, unit="g/dL"))
    with session_factory(engine)() as s:
        stored = {a.id: a.aval for a in s.scalars(select(DiseaseAssessment))}
    assert len(stored) == 8 and len(set(keys)) == 5 and set(keys) < set(stored)
    assert [stored[k] for k in keys] == [0.0, 1.0, 2.0, 3.0, 4.0]
    audit = {a.record_key: a for a in _audit(engine, "disease_assessments") if a.user == "sim"}
    assert set(audit) == {str(k) for k in keys}
    assert all(json.loads(audit[str(k)].new_value)["aval"] == stored[k] for k in keys)
    assert all((a.field, a.old_value, a.reason, a.action, a.at.tzinfo is not None) == ("*", None, "simulated entry", "INSERT", True)
               for a in audit.values())
    (quoted,) = [a for a in _audit(engine, "disease_assessments") if a.user != "sim" and a.user != "alice"]
    assert (quoted.user, quoted.reason) == ("o'brien", "the patient's diary; DROP TABLE audit_log --")
    assert len({a.at for a in audit.values()}) == 1 and abs(quoted.at - next(iter(audit.values())).at) < dt.timedelta(minutes=5)
    with pytest.raises(StoreError, match="no acting user"):
        with session_factory(engine)() as s:
            bulk_insert(s, DiseaseAssessment, rows)


def test_bulk_load_drops_sqlite_indexes_for_the_block_and_rebuilds_the_same(tmp_path):
    from ikema.store.db import bulk_load

    engine = init_db(f"sqlite:///{tmp_path / 'b.db'}")
    q = text("select name, tbl_name, sql from sqlite_master where type = 'index' and sql is not null order by name")
    with engine.connect() as c:
        before = c.execute(q).all()
    assert ("ix_audit_log_usubjid", "audit_log") in {r[:2] for r in before}
    with session_scope(engine, "alice") as s:
        with bulk_load(s):
            assert s.execute(q).all() == []
            s.add(Site(site_id="S1", name="Site one"))
            s.flush()
    with engine.connect() as c:
        assert c.execute(q).all() == before
        assert c.execute(text("pragma integrity_check")).scalar() == "ok"
    with pytest.raises(StoreError):
        with session_scope(engine, "alice") as s:
            with bulk_load(s):
                s.add(Site(site_id="S2", name="Site two"))
                s.flush()
                raise StoreError("a bad batch")
    with engine.connect() as c:
        assert c.execute(q).all() == before
        assert c.execute(text("select count(*) from sites")).scalar() == 1


def test_updates_of_one_flush_are_audited_in_table_and_key_order(store_url):
    # the session's dirty set iterates in memory-address order; the audit rows must not (same work, same audit log)
    engine = init_db(store_url)
    keys = [f"X-{i:02d}" for i in range(40)]
    with session_scope(engine, "alice") as s:
        s.add(Site(site_id="S1", name="Site one"))
        for k in keys:
            s.add(Subject(usubjid=k, site_id="S1", status="SCREENED", screening={}))
    with session_scope(engine, "bob", "status corrected") as s:
        subjects = {k: s.get(Subject, k) for k in reversed(keys)}  # loaded before any change: one flush below
        site = s.get(Site, "S1")
        for k in reversed(keys):
            subjects[k].status = "SCREEN_FAILED"
        site.name = "Site 1"
    upd = [(r.table_name, r.record_key) for r in _audit(engine) if r.action == "UPDATE"]
    assert upd == [("sites", "S1")] + [("subjects", k) for k in keys]


def test_bulk_update_writes_what_an_orm_update_writes_and_its_audit_rows(store_url):
    """bulk_update_columns against the same change made through the ORM (the audit hook): the same stored values and
    the same audit rows (ids and times aside), each record's rows as made by its own user; a field whose value does
    not change gets no row; no reason or a user missing is refused."""
    from ikema.store.audit import bulk_update_columns

    engine = init_db(store_url)
    when = dt.datetime(2020, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    with session_scope(engine, "alice") as s:
        for k in range(4):
            s.add(Subject(usubjid=f"U-{k}", status="SCREENED", screening={}, eligible=k != 3, stratum="S"))
    first = _audit(engine)[-1].id
    new = {"U-0": ("RANDOMIZED", when), "U-1": ("RANDOMIZED", when), "U-2": ("SCREENED", when)}  # U-2's status unchanged
    users = {"U-0": "bob", "U-1": "carol", "U-2": "bob"}
    for u, (status, at) in new.items():
        with session_scope(engine, users[u], "batch test") as s:
            subject = s.get(Subject, u)
            subject.status, subject.screened_at = status, at
    orm_rows = [(a.user, a.table_name, a.record_key, a.usubjid, a.field, a.old_value, a.new_value, a.reason, a.action)
                for a in _audit(engine) if a.id > first]
    with session_scope(engine, "alice") as s:  # back to the start, unaudited (a test's own reset)
        s.connection().execute(update(Subject.__table__).values(status="SCREENED", screened_at=None))
    second = _audit(engine)[-1].id
    with session_factory(engine)() as s:
        bulk_update_columns(s, Subject, {"usubjid": list(new)}, {"status": ["SCREENED"] * 3, "screened_at": [None] * 3},
                            {"status": [v[0] for v in new.values()], "screened_at": [v[1] for v in new.values()]},
                            users=[users[u] for u in new], reason="batch test")
        s.commit()
    bulk_rows = [(a.user, a.table_name, a.record_key, a.usubjid, a.field, a.old_value, a.new_value, a.reason, a.action)
                 for a in _audit(engine) if a.id > second]
    assert sorted(bulk_rows) == sorted(orm_rows) and len(bulk_rows) == 5  # U-2: its time only
    with session_factory(engine)() as s:
        assert {u: (x.status, x.screened_at is not None) for u in new for x in [s.get(Subject, u)]} == {
            "U-0": ("RANDOMIZED", True), "U-1": ("RANDOMIZED", True), "U-2": ("SCREENED", True)}
        with pytest.raises(StoreError, match="needs a reason"):
            bulk_update_columns(s, Subject, {"usubjid": ["U-3"]}, {"status": ["SCREENED"]}, {"status": ["X"]}, users=["bob"])
        with pytest.raises(StoreError, match="one acting user per record"):
            bulk_update_columns(s, Subject, {"usubjid": ["U-3"]}, {"status": ["SCREENED"]}, {"status": ["X"]}, users=[], reason="r")
        with pytest.raises(StoreError, match="primary key"):
            bulk_update_columns(s, Subject, {"site_id": ["U-3"]}, {"status": ["SCREENED"]}, {"status": ["X"]}, reason="r")


def test_bulk_insert_audit_json_is_the_orm_hooks_text(store_url):
    """bulk_insert_columns builds each record's audit JSON column by column (each distinct value encoded once, a JSON
    column's dicts per set of keys with a template): its text must be, character for character, the text the ORM
    hook writes for the same record (json.dumps(record, sort_keys=True)): float zeros of both signs, NaN, values
    without a short repr, booleans, dates, instants, NULLs, answers with text keys (%, non-ASCII) and whole numbers,
    with None or a boolean among them, in any key order."""
    import re

    from ikema.store import PKSample, Questionnaire
    from ikema.store.audit import bulk_insert_columns

    when = dt.datetime(2020, 5, 1, 12, 30, tzinfo=dt.timezone.utc)
    floats = [0.0, -0.0, 1 / 3, 0.1, 1e-7, 1e22, 100.0, 2.675, 745.3000000000001, float("nan"), None, -0.0, 0.0, 1 / 3]
    hours = [-0.25 if i % 2 else (0.0 if i % 4 else -0.0) for i in range(len(floats))]  # few distinct, both zeros
    pk = [dict(usubjid="X-1", analyte="ISA", cycle=1 + i % 3, day=1, nominal_hours=hours[i],
               sampled_at=when + dt.timedelta(hours=i), concentration=v, unit="ug/mL", below_lloq=v is None)
          for i, v in enumerate(floats)]
    answers = [{"Q%1": 1, "\u00c4B": -2, "A": 3}, {"Q%1": 4, "\u00c4B": 5, "A": 6}, {"A": 1, "Q%1": 2, "\u00c4B": 3},
               {"Q%1": None, "\u00c4B": 1, "A": 2}, {"Q%1": 1, "\u00c4B": True, "A": 2}, {}, {"B": 10**20}]
    qs = [dict(usubjid="X-1", instrument="EQ-5D-5L", visit=f"V{i}", date=dt.date(2020, 1, 1 + i), answers=a)
          for i, a in enumerate(answers)]
    engine = init_db(store_url)
    with session_scope(engine, "alice") as s:
        s.add(Subject(usubjid="X-1", status="RANDOMIZED", screening={}))
    texts = {}
    for path in ("orm", "bulk"):
        with session_scope(engine, path, "same records") as s:
            for model, rows in ((PKSample, pk), (Questionnaire, qs)):
                if path == "orm":
                    s.add_all([model(**r) for r in rows])
                    s.flush()
                else:
                    bulk_insert_columns(s, model, {f: [r[f] for r in rows] for f in rows[0]})
        texts[path] = [re.sub(r'"id": \d+', '"id": ?', a.new_value, count=1) for a in _audit(engine) if a.user == path]
    assert len(texts["bulk"]) == len(pk) + len(qs)
    assert texts["bulk"] == texts["orm"]
    assert '"concentration": -0.0' in texts["bulk"][1] and '"concentration": NaN' in texts["bulk"][9]
    assert '"nominal_hours": -0.0' in texts["bulk"][0] and '"nominal_hours": 0.0' in texts["bulk"][2]
    with session_factory(engine)() as s:  # the stored answers: the same text both ways, in the order given
        stored = s.execute(text("SELECT answers FROM questionnaires ORDER BY id")).scalars().all()
    assert [json.loads(a) if isinstance(a, str) else a for a in stored] == answers * 2
    if engine.dialect.name == "sqlite":
        assert stored[:len(qs)] == stored[len(qs):] and stored[0] == '{"Q%1": 1, "\\u00c4B": -2, "A": 3}'
