"""questionnaires: one record per completed questionnaire (all its item answers) instead of one per item

A patient completes and submits a questionnaire as one unit, so it is stored, checked and audited as one record:
`questionnaires` (usubjid, instrument, visit, date, answers: item code -> answer in the instrument's item order)
replaces `questionnaire_answers` (one row per item). Upgrade combines the item rows of one subject, instrument,
visit and date into one questionnaire (an item met twice starts another questionnaire, so no answer is lost);
downgrade splits each questionnaire back into its item rows. Both carry the audit history over: the old table's
audit rows stay as they are, and the new table gets the same history in its own terms (each insert and change with
its original time, user and reason), so a data cut "as of" any earlier time reads the same answers as before. One
audit row (table alembic_version, action MIGRATE) records the conversion itself.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 15:20:00
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

CHUNK = 10_000
ITEMS = "questionnaire_answers"
FORMS = "questionnaires"


def _item_rank() -> dict[tuple[str, str], int]:
    """(instrument, item code) -> position in the instrument's item order (the protocol's questionnaires)."""
    from ikema.protocol.questionnaires import item_spec

    return {key: i for i, key in enumerate(item_spec())}


def _audit() -> sa.TableClause:
    return sa.table("audit_log", sa.column("id", sa.Integer), sa.column("at", sa.DateTime(timezone=True)),
                    sa.column("user", sa.String), sa.column("table_name", sa.String), sa.column("record_key", sa.String),
                    sa.column("usubjid", sa.String), sa.column("field", sa.String), sa.column("old_value", sa.Text),
                    sa.column("new_value", sa.Text), sa.column("reason", sa.Text), sa.column("action", sa.String))


def _items() -> sa.TableClause:
    return sa.table(ITEMS, sa.column("id", sa.Integer), sa.column("usubjid", sa.String), sa.column("instrument", sa.String),
                    sa.column("visit", sa.String), sa.column("date", sa.Date), sa.column("item", sa.String),
                    sa.column("answer", sa.Integer))


def _forms() -> sa.TableClause:
    return sa.table(FORMS, sa.column("id", sa.Integer), sa.column("usubjid", sa.String), sa.column("instrument", sa.String),
                    sa.column("visit", sa.String), sa.column("date", sa.Date), sa.column("answers", sa.JSON))


def _record_json(rec: dict[str, Any]) -> str:
    """An insert's audit rendering (as ikema.store.audit writes it: the record as JSON, sorted keys, ISO dates)."""
    return json.dumps(rec, sort_keys=True, default=str)


def _text(value: Any) -> str | None:
    """An update's audit rendering of one value (as ikema.store.audit._text)."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _carry_history(conn: sa.Connection, source: str, target: str, parse: dict[str, Callable[[str | None], Any]],
                   targets_of: dict[str, list[str]], derive: Callable[[str, dict[str, dict]], dict | None],
                   live: dict[str, dict]) -> None:
    """Append to the audit trail the history of `target`'s records as replayed from `source`'s audit rows.

    The source's audit rows are applied in order, in runs of one time, user, reason and action; after each run the
    target records it touches are derived again (`derive(target key, current source records)`) and every change
    becomes an audit row of `target` with the run's time, user and reason (an insert, or one update per changed
    field). `targets_of`: source key -> target keys; `live`: the target's stored records (by key, JSON-able values).
    A target record whose replayed history does not end at its stored values gets one closing row now."""
    audit = _audit()
    sources: dict[str, dict] = {}
    state: dict[str, dict | None] = {}
    out: list[dict] = []
    columns = [c for c in next(iter(live.values()), {}) if c != "id"]

    def emit(key: str, new: dict | None, at: Any, user: str, reason: str) -> None:
        old = state.get(key)
        if new is None or new == old:
            return
        if old is None:
            out.append(dict(at=at, user=user, table_name=target, record_key=key, usubjid=new.get("usubjid"), field="*",
                            old_value=None, new_value=_record_json(new), reason=reason, action="INSERT"))
        else:
            for c in columns:
                if _text(old.get(c)) != _text(new.get(c)):
                    out.append(dict(at=at, user=user, table_name=target, record_key=key, usubjid=new.get("usubjid"),
                                    field=c, old_value=_text(old.get(c)), new_value=_text(new.get(c)), reason=reason,
                                    action="UPDATE"))
        state[key] = new

    def close_run(run: list, touched: dict[str, None]) -> None:
        if not run:
            return
        at, user, reason, _ = run
        for key in sorted(touched, key=int):
            emit(key, derive(key, sources), at, user, reason)
        touched.clear()

    q = (sa.select(audit.c.at, audit.c.user, audit.c.record_key, audit.c.field, audit.c.new_value, audit.c.reason,
                   audit.c.action).where(audit.c.table_name == source).order_by(audit.c.id))
    run: list = []
    touched: dict[str, None] = {}
    for at, user, key, field, new_value, reason, action in conn.execute(q.execution_options(stream_results=True, yield_per=CHUNK)):
        if action not in ("INSERT", "UPDATE"):
            continue
        if run != [at, user, reason, action]:
            close_run(run, touched)
            run = [at, user, reason, action]
        if action == "INSERT":
            sources[key] = json.loads(new_value)
        elif key in sources and field in parse:
            sources[key][field] = parse[field](new_value)
        touched.update(dict.fromkeys(targets_of.get(key, ())))
    close_run(run, touched)
    now = dt.datetime.now(dt.timezone.utc)
    for key in sorted(live, key=int):
        if state.get(key) != live[key]:
            emit(key, live[key], now, "alembic", f"migration {revision}: the record as stored (its audit history did "
                 "not account for it)")
    for i in range(0, len(out), CHUNK):  # written after the scan: the audit table is not changed while it is read
        conn.execute(sa.insert(audit), out[i:i + CHUNK])


def _note(conn: sa.Connection, converted: int, what: str) -> None:
    """The conversion's own audit row (none when there was nothing to convert: a new store)."""
    if converted:
        conn.execute(sa.insert(_audit()), [dict(at=dt.datetime.now(dt.timezone.utc), user="alembic",
                                                table_name="alembic_version", record_key=revision, usubjid=None, field="-",
                                                old_value=None, new_value=None, reason=what, action="MIGRATE")])


def _reset_sequence(conn: sa.Connection, table: str) -> None:
    """PostgreSQL: the id sequence continues after the ids written here (SQLite needs nothing)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                             f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"))


def _insert(conn: sa.Connection, table: sa.TableClause, rows: Iterable[dict]) -> None:
    rows = list(rows)
    for i in range(0, len(rows), CHUNK):
        conn.execute(sa.insert(table), rows[i:i + CHUNK])


def upgrade() -> None:
    op.create_table(FORMS,
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('usubjid', sa.String(length=40), nullable=False),
    sa.Column('instrument', sa.String(length=20), nullable=False),
    sa.Column('visit', sa.String(length=40), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['usubjid'], ['subjects.usubjid'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table(FORMS, schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_questionnaires_usubjid'), ['usubjid'], unique=False)

    conn = op.get_bind()
    t = _items()
    rank = _item_rank()
    forms: list[dict] = []  # in the order of their first item row
    members: list[list[tuple[int, str]]] = []  # per questionnaire: (item row id, item code)
    open_form: dict[tuple, int] = {}
    for rid, u, inst, visit, date, item, answer in conn.execute(sa.select(t).order_by(t.c.id)):
        key = (u, inst, visit, date)
        f = open_form.get(key)
        if f is None or item in forms[f]["answers"]:  # an item met twice: another questionnaire of that day
            f = open_form[key] = len(forms)
            forms.append(dict(id=f + 1, usubjid=u, instrument=inst, visit=visit, date=date, answers={}))
            members.append([])
        forms[f]["answers"][item] = answer
        members[f].append((rid, item))
    for f, form in zip(forms, members):
        # the instrument's item order (items it does not know after, in entry order)
        order = sorted(range(len(form)), key=lambda i: (rank.get((f["instrument"], form[i][1]), len(rank)), i))
        form[:] = [form[i] for i in order]
        f["answers"] = {item: f["answers"][item] for _, item in form}
    _insert(conn, _forms(), forms)
    _reset_sequence(conn, FORMS)

    targets_of = {str(rid): [str(f["id"])] for f, form in zip(forms, members) for rid, _ in form}
    item_ids = {str(f["id"]): [str(rid) for rid, _ in form] for f, form in zip(forms, members)}

    def derive(key: str, items: dict[str, dict]) -> dict | None:
        present = [items[i] for i in item_ids[key] if i in items]
        if not present:
            return None
        head = present[0]
        return dict(id=int(key), usubjid=head["usubjid"], instrument=head["instrument"], visit=head["visit"],
                    date=head["date"], answers={r["item"]: r["answer"] for r in present})

    live = {str(f["id"]): dict(f, date=f["date"].isoformat()) for f in forms}
    parse = {"answer": lambda v: None if v is None else int(v), "usubjid": str, "instrument": str, "visit": str,
             "date": str, "item": str}
    _carry_history(conn, ITEMS, FORMS, parse, targets_of, derive, live)
    _note(conn, len(forms), f"migration {revision}: {sum(map(len, members))} item rows of {ITEMS} combined into {len(forms)} "
                f"records of {FORMS} (their audit history carried over; the {ITEMS} audit rows kept)")

    with op.batch_alter_table(ITEMS, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_questionnaire_answers_usubjid'))
    op.drop_table(ITEMS)


def downgrade() -> None:
    op.create_table(ITEMS,
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('usubjid', sa.String(length=40), nullable=False),
    sa.Column('instrument', sa.String(length=20), nullable=False),
    sa.Column('visit', sa.String(length=40), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('item', sa.String(length=20), nullable=False),
    sa.Column('answer', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['usubjid'], ['subjects.usubjid'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table(ITEMS, schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_questionnaire_answers_usubjid'), ['usubjid'], unique=False)

    conn = op.get_bind()
    t = _forms()
    audit = _audit()
    forms = conn.execute(sa.select(t).order_by(t.c.id)).mappings().all()
    # every item a questionnaire ever held (a code its answers lost later stays, unanswered): its own row
    codes: dict[str, list[str]] = {str(f["id"]): list(f["answers"]) for f in forms}
    q = sa.select(audit.c.record_key, audit.c.field, audit.c.new_value).where(
        audit.c.table_name == FORMS, audit.c.field.in_(["*", "answers"])).order_by(audit.c.id)
    for key, field, new_value in conn.execute(q.execution_options(stream_results=True, yield_per=CHUNK)):
        held = codes.setdefault(key, [])
        answers = json.loads(new_value)["answers"] if field == "*" else json.loads(new_value or "{}")
        held.extend(c for c in answers if c not in held)
    items, item_of = [], {}
    for f in forms:
        for code in codes[str(f["id"])]:
            item_of[(str(f["id"]), code)] = str(len(items) + 1)
            items.append(dict(id=len(items) + 1, usubjid=f["usubjid"], instrument=f["instrument"], visit=f["visit"],
                              date=f["date"], item=code, answer=f["answers"].get(code)))
    _insert(conn, _items(), items)
    _reset_sequence(conn, ITEMS)

    targets_of: dict[str, list[str]] = {}
    form_of: dict[str, tuple[str, str]] = {}
    for (fkey, code), ikey in item_of.items():
        targets_of.setdefault(fkey, []).append(ikey)
        form_of[ikey] = (fkey, code)
    seen: set[str] = set()

    def derive(key: str, sources: dict[str, dict]) -> dict | None:
        fkey, code = form_of[key]
        f = sources.get(fkey)
        if f is None or (code not in f["answers"] and key not in seen):
            return None
        seen.add(key)
        return dict(id=int(key), usubjid=f["usubjid"], instrument=f["instrument"], visit=f["visit"], date=f["date"],
                    item=code, answer=f["answers"].get(code))

    live = {str(r["id"]): dict(r, date=r["date"].isoformat()) for r in items}
    parse = {"answers": lambda v: json.loads(v) if v is not None else {}, "usubjid": str, "instrument": str,
             "visit": str, "date": str}
    _carry_history(conn, FORMS, ITEMS, parse, targets_of, derive, live)
    _note(conn, len(forms), f"migration {revision} downgrade: {len(forms)} records of {FORMS} split into {len(items)} item rows "
                f"of {ITEMS} (their audit history carried over; the {FORMS} audit rows kept)")

    with op.batch_alter_table(FORMS, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_questionnaires_usubjid'))
    op.drop_table(FORMS)
