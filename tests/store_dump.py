"""A SQLite store's content for comparing two stores in tests."""

from __future__ import annotations

import sqlite3


def dump(db) -> dict[str, list]:
    """Every table's rows in insert order; the audit trail without its wall-clock time and id, sorted (the order of
    the update rows one flush writes is the session's, which no seed fixes)."""
    con = sqlite3.connect(db)
    out = {}
    for (t,) in con.execute("select name from sqlite_master where type='table' and name != 'alembic_version'"):
        cols = [r[1] for r in con.execute(f"pragma table_info({t})") if not (t == "audit_log" and r[1] == "at")]
        if t == "audit_log":
            cols.remove("id")
        out[t] = con.execute(f"select {', '.join(chr(34) + c + chr(34) for c in cols)} from {t} order by rowid").fetchall()
        if t == "audit_log":
            out[t] = sorted(out[t], key=repr)
    con.close()
    return out
