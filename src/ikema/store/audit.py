"""The audit trail: session hooks that write an append-only audit row for every insert and update of trial data.

The acting user and reason ride on the session: `session.info["user"]`, `session.info["reason"]` (see
`ikema.store.db.acting`). An insert writes one row per record (field '*', new value = the record as JSON);
an update writes one row per changed field (old and new value) and needs a reason; deletes of trial data and
any change to audit rows are refused (StoreError). ORM bulk inserts (`session.execute(insert(Model), rows)`)
are audited by the same hook, in bulk; ORM bulk UPDATE/DELETE statements on trial tables are refused.
`bulk_insert_columns` and `bulk_update_columns` write many records with Core (no unit of work) and the same
audit rows the hooks write for them, each record's rows as made by its own user when `users` is given.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from sqlalchemy import JSON, Integer, bindparam, event, func, insert, inspect, select, text, update
from sqlalchemy.orm import ORMExecuteState, Session

from ikema.errors import StoreError
from ikema.store.columns import json_dicts, per_distinct
from ikema.store.models import AuditEntry, Base, utcnow

INSERT_REASON = "initial entry"


def _audited(obj: object) -> bool:
    return isinstance(obj, Base) and type(obj).__audited__


def _text(value: Any) -> str | None:
    """An audit-trail rendering of one stored value."""
    if value is None:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)


def _user(session: Session, what: str) -> str:
    user = session.info.get("user")
    if not user:
        raise StoreError(f"{what}: no acting user on the session (set session.info['user'])")
    return str(user)


@event.listens_for(Session, "before_flush")
def _check(session: Session, flush_context: Any, instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, Base):
            raise StoreError(
                f"{type(obj).__tablename__} {_key(obj)}: deleting stored records is refused; correct the record with a reason instead"
            )
    for obj in session.dirty:
        if isinstance(obj, AuditEntry) and session.is_modified(obj):
            raise StoreError(f"audit_log {obj.id}: audit rows are never changed")
        if _audited(obj) and session.is_modified(obj):
            user = _user(session, f"{type(obj).__tablename__} {_key(obj)}")
            if not session.info.get("reason"):
                raise StoreError(
                    f"{type(obj).__tablename__} {_key(obj)}: an update by {user} needs a reason (set session.info['reason'])"
                )
    for obj in session.new:
        if _audited(obj):
            _user(session, f"{type(obj).__tablename__} (new record)")


def _key(obj: Base) -> str:
    ident = inspect(obj).identity
    if ident is None:
        ident = inspect(obj).mapper.primary_key_from_instance(obj)
    return "/".join(str(v) for v in ident)


def _record(obj: Base) -> dict[str, Any]:
    mapper = inspect(obj).mapper
    return {a.key: _jsonable(getattr(obj, a.key)) for a in mapper.column_attrs}


@event.listens_for(Session, "after_flush")
def _write(session: Session, flush_context: Any) -> None:
    rows: list[dict[str, Any]] = []
    now = utcnow()
    user = session.info.get("user")
    reason = session.info.get("reason")
    for obj in session.new:
        if _audited(obj):
            rec = _record(obj)
            rows.append(dict(at=now, user=user, table_name=type(obj).__tablename__, record_key=_key(obj),
                             usubjid=rec.get("usubjid"), field="*", old_value=None,
                             new_value=json.dumps(rec, sort_keys=True, default=str), reason=reason or INSERT_REASON,
                             action="INSERT"))
    # session.dirty is a set ordered by memory address: sort, so the same work writes its audit rows in the same order
    changed = sorted((o for o in session.dirty if _audited(o) and session.is_modified(o)),
                     key=lambda o: (type(o).__tablename__, _key(o)))
    for obj in changed:
        state = inspect(obj)
        for attr in state.mapper.column_attrs:
            hist = state.attrs[attr.key].history
            if not hist.has_changes():
                continue
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            if _text(old) == _text(new):
                continue
            rows.append(dict(at=now, user=user, table_name=type(obj).__tablename__, record_key=_key(obj),
                             usubjid=getattr(obj, "usubjid", None), field=attr.key, old_value=_text(old),
                             new_value=_text(new), reason=reason, action="UPDATE"))
    if rows:
        session.connection().execute(insert(AuditEntry.__table__), rows)


def bulk_insert(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> list[Any]:
    """Insert many records of `model` (row dicts that all give the same fields) and their audit rows; returns their
    keys (see bulk_insert_columns)."""
    if rows:
        fields = list(rows[0])
        if any(r.keys() != rows[0].keys() for r in rows):
            raise StoreError(f"{model.__tablename__}: bulk_insert rows must all give the same fields ({', '.join(fields)})")
        return bulk_insert_columns(session, model, {f: [r[f] for r in rows] for f in fields})
    return bulk_insert_columns(session, model, {})


def bulk_insert_columns(session: Session, model: type[Base], columns: dict[str, list[Any]], *,
                        users: list[str] | None = None, reason: str | None = None) -> list[Any]:
    """Insert many records of `model`, given column by column (field -> one value per record), in one executemany
    and their audit rows (one per record: field '*', the record as JSON) in another; returns their keys.

    The acting user is the session's, or each record's own from `users`; the reason `reason`, else the session's,
    else INSERT_REASON. Integer surrogate keys are reserved up front (SQLite: the transaction already holds the
    write lock; PostgreSQL: the column's sequence), so no RETURNING round trip is needed.
    """
    table = model.__tablename__
    if not getattr(model, "__audited__", False) or model is AuditEntry:
        raise StoreError(f"{table}: bulk_insert is for audited trial tables")
    sizes = {len(v) for v in columns.values()}
    if len(sizes) > 1:
        raise StoreError(f"{table}: bulk_insert columns of different lengths ({sorted(sizes)})")
    n = sizes.pop() if sizes else 0
    who = _users(session, f"{table} (bulk insert)", users, n)
    if not n:
        return []
    mapper = inspect(model)
    pk = list(mapper.primary_key)
    conn = session.connection()
    tbl = model.__table__
    if len(pk) == 1 and pk[0].autoincrement in (True, "auto") and isinstance(pk[0].type, Integer) and pk[0].key not in columns:
        if conn.dialect.name == "postgresql":
            keys = conn.execute(text("SELECT nextval(pg_get_serial_sequence(:t, :c)) FROM generate_series(1, :n)"),
                                {"t": tbl.name, "c": pk[0].name, "n": n}).scalars().all()
        else:
            start = conn.execute(select(func.max(pk[0]))).scalar() or 0
            keys = list(range(start + 1, start + 1 + n))
        columns = {pk[0].key: keys, **columns}
    else:
        keys = ["/".join(map(str, vals)) for vals in zip(*(columns[c.key] for c in pk))]
    _executemany(conn, tbl, columns, n)
    now = utcnow()
    reason = reason or session.info.get("reason") or INSERT_REASON
    _executemany(conn, AuditEntry.__table__, {
        "record_key": list(map(str, keys)), "usubjid": columns.get("usubjid", [None] * n),
        "new_value": _json_records(columns, n), **({} if len(set(who)) == 1 else {"user": who})}, n,
        same={"at": now, **({"user": who[0]} if len(set(who)) == 1 else {}), "table_name": table, "field": "*",
              "old_value": None, "reason": reason, "action": "INSERT"})
    return keys


def bulk_update_columns(session: Session, model: type[Base], keys: dict[str, list[Any]], old: dict[str, list[Any]],
                        new: dict[str, list[Any]], *, users: list[str] | None = None, reason: str | None = None) -> None:
    """Update many records of `model` with Core: `keys` gives each record's primary key column by column, `old` the
    values of the changed fields as read (under the caller's lock), `new` their new values; one executemany, then
    the audit rows the ORM hook writes for such an update (one per field whose text changes: old and new value,
    the reason). The acting user is the session's or each record's own from `users`; the reason `reason` or the
    session's, and an update needs one."""
    table = model.__tablename__
    if not getattr(model, "__audited__", False) or model is AuditEntry:
        raise StoreError(f"{table}: bulk_update is for audited trial tables")
    mapper = inspect(model)
    pk = [c.key for c in mapper.primary_key]
    if sorted(keys) != sorted(pk) or set(old) != set(new) or set(new) & set(pk):
        raise StoreError(f"{table}: bulk_update needs the primary key ({', '.join(pk)}) and the same changed fields old and new")
    sizes = {len(v) for v in (*keys.values(), *old.values(), *new.values())}
    if len(sizes) > 1:
        raise StoreError(f"{table}: bulk_update columns of different lengths ({sorted(sizes)})")
    n = sizes.pop() if sizes else 0
    who = _users(session, f"{table} (bulk update)", users, n)
    reason = reason or session.info.get("reason")
    if not reason:
        raise StoreError(f"{table}: an update needs a reason (set session.info['reason'])")
    if not n:
        return
    tbl = model.__table__
    # the hook's audit row names the record's usubjid after the change (None for a table without one)
    usubjids = new.get("usubjid") or keys.get("usubjid") or old.get("usubjid")
    if usubjids is None:
        if "usubjid" in tbl.c:
            raise StoreError(f"{table}: bulk_update needs each record's usubjid (as key or old value) for its audit rows")
        usubjids = [None] * n
    conn = session.connection()
    stmt = (update(tbl).where(*(tbl.c[k] == bindparam(f"k_{k}", type_=tbl.c[k].type) for k in pk))
            .values({f: bindparam(f"v_{f}", type_=tbl.c[f].type) for f in new}))
    _executemany(conn, tbl, {**{f"k_{k}": keys[k] for k in pk}, **{f"v_{f}": new[f] for f in new}}, n, stmt)
    now = utcnow()
    record_keys = ["/".join(map(str, vals)) for vals in zip(*(keys[k] for k in pk))]
    rows = [(who[i], record_keys[i], usubjids[i], f, _text(old[f][i]), _text(new[f][i]))
            for i in range(n) for f in new if _text(old[f][i]) != _text(new[f][i])]
    if rows:
        m = len(rows)
        user, key, usubjid, field, old_value, new_value = map(list, zip(*rows))
        _executemany(conn, AuditEntry.__table__, {
            "user": user, "record_key": key, "usubjid": usubjid, "field": field, "old_value": old_value,
            "new_value": new_value}, m, same={"at": now, "table_name": table, "reason": reason, "action": "UPDATE"})


def _users(session: Session, what: str, users: list[str] | None, n: int) -> list[str]:
    """Each record's acting user: `users` (one per record, none empty) or the session's."""
    if users is None:
        return [_user(session, what)] * n
    if len(users) != n or not all(users):
        raise StoreError(f"{what}: one acting user per record expected ({len(users)} for {n} records)")
    return [str(u) for u in users]


def _json_records(columns: dict[str, list[Any]], n: int) -> list[str]:
    """Each record as the JSON text json.dumps(record, sort_keys=True) gives (dates as ISO text), built column by
    column: each distinct value encoded once (a JSON column's dicts per set of keys), then one string format per
    record."""
    dumps = json.JSONEncoder(sort_keys=True, default=_jsonable).encode
    names = sorted(columns)
    template = "{" + ", ".join(dumps(k).replace("%", "%%") + ": %s" for k in names) + "}"
    encoded = [_json_column(columns[k], dumps) for k in names]
    return list(map(template.__mod__, zip(*encoded))) if names else ["{}"] * n


def _json_column(values: list[Any], dumps: Any) -> list[str]:
    """[dumps(v) for v in values]: whole numbers and finite floats by their repr (as json writes them; a float
    column of few distinct values once per value), a JSON column's dicts per set of keys, the rest per distinct
    value."""
    classes = set(map(type, values))
    if dict in classes:
        return json_dicts(values, dumps, sort_keys=True)
    if classes <= {int, type(None)}:
        return list(map(int.__repr__, values)) if type(None) not in classes else [
            "null" if v is None else int.__repr__(v) for v in values]
    if classes <= {float, type(None)}:
        distinct = set(values)
        if all(v is None or math.isfinite(v) for v in distinct):
            if 4 * len(distinct) > len(values):
                return ["null" if v is None else float.__repr__(v) for v in values]
            table = {v: "null" if v is None else float.__repr__(v) for v in distinct if v or v is None}
            return [table[v] if v or v is None else float.__repr__(v) for v in values]  # 0.0 == -0.0: one by one
    return per_distinct(values, dumps)


def _executemany(conn: Any, tbl: Any, columns: dict[str, list[Any]], n: int, statement: Any = None,
                 same: dict[str, Any] | None = None) -> None:
    """INSERT the records given column by column (or run `statement`, whose bind parameters are named as the keys of
    `columns`, once per row): one compiled statement, each distinct value through its bind processor once (dates,
    JSON, booleans), DBAPI executemany with parameter tuples. Own code because SQLAlchemy's executemany builds and
    processes a parameter dict per row (most of the simulator's capture time).
    `same`: columns of an INSERT with one value for every record; SQLite takes each (after its bind processor) as a
    literal of the statement (a fifth of the audit rows' insert time: fewer parameters bound per row), other
    backends per row."""
    dialect = conn.dialect
    literals: dict[str, str] = {}
    for k, v in (same or {}).items():
        proc = tbl.c[k].type._cached_bind_processor(dialect)
        text_ = _sql_literal(v if proc is None else proc(v)) if dialect.name == "sqlite" and statement is None else None
        if text_ is None:
            columns = {**columns, k: [v] * n}
        else:
            literals[k] = text_
    keys = list(columns)
    compiled = insert(tbl).compile(dialect=dialect, column_keys=keys) if statement is None else statement.compile(dialect=dialect)
    types = {b.key: b.type for b in compiled.binds.values()}
    order = [compiled.binds[b].key for b in compiled.positiontup] if compiled.positional else keys
    processed = []
    for k in order:
        proc = types[k]._cached_bind_processor(dialect)
        if proc is None:
            processed.append(columns[k])
        elif isinstance(types[k], JSON) and dialect._json_serializer is None and dict in set(map(type, columns[k])):
            processed.append(json_dicts(columns[k], proc, sort_keys=False))  # the processor's json.dumps, per key set
        else:
            processed.append(per_distinct(columns[k], proc))
    if compiled.positional:
        params: list[Any] = list(zip(*processed))
    else:
        names = {b.key: name for name, b in compiled.binds.items()}  # column key -> bind name in the statement
        bind = [names[k] for k in order]
        params = [dict(zip(bind, vals)) for vals in zip(*processed)]
    sql = str(compiled)
    if literals:
        prep = dialect.identifier_preparer
        sql = (f"INSERT INTO {prep.format_table(tbl)} ({', '.join(prep.quote(tbl.c[k].name) for k in [*order, *literals])}) "
               f"VALUES ({', '.join(['?'] * len(order) + list(literals.values()))})")
    conn.exec_driver_sql(sql, params)


def _sql_literal(v: Any) -> str | None:
    """A SQLite literal of a bound value (NULL, a whole number, a finite float, quoted text), or None when it has none."""
    if v is None:
        return "NULL"
    if type(v) is int:
        return str(v)
    if type(v) is float and math.isfinite(v):
        return repr(v)
    if type(v) is str and "\x00" not in v:
        return "'" + v.replace("'", "''") + "'"
    return None


@event.listens_for(Session, "do_orm_execute")
def _bulk(state: ORMExecuteState) -> Any:
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    mapper = state.bind_mapper
    if mapper is None or not issubclass(mapper.class_, Base):
        return None
    cls = mapper.class_
    table = cls.__tablename__
    if cls is AuditEntry:
        if state.is_insert:
            return None
        raise StoreError("audit_log: audit rows are never changed or deleted")
    if not cls.__audited__:
        return None
    if state.is_delete:
        raise StoreError(f"{table}: deleting stored records is refused")
    if state.is_update:
        raise StoreError(f"{table}: bulk UPDATE statements are refused; change records through the ORM with a reason")
    session = state.session
    user = _user(session, f"{table} (bulk insert)")
    params = state.parameters
    if not isinstance(params, list) or not params:
        raise StoreError(f"{table}: inserts through session.execute must pass a list of row dicts")
    pk = list(mapper.primary_key)
    result = state.invoke_statement(statement=state.statement.returning(*pk, sort_by_parameter_order=True))
    frozen = result.freeze()
    keys = frozen().all()
    now = utcnow()
    reason = session.info.get("reason") or INSERT_REASON
    rows = [dict(at=now, user=user, table_name=table, record_key="/".join(str(v) for v in key),
                 usubjid=p.get("usubjid"), field="*", old_value=None,
                 new_value=json.dumps({k: _jsonable(v) for k, v in ({pk[0].key: key[0]} | p).items()}, sort_keys=True, default=str),
                 reason=reason, action="INSERT")
            for key, p in zip(keys, params, strict=True)]
    session.connection().execute(insert(AuditEntry.__table__), rows)
    return frozen()
