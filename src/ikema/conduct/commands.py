"""Site commands: `ikema randomize`, `ikema calendar` (by arm or for a randomized subject), `ikema screen`
(ikema.conduct.screening), `ikema db init` and `ikema audit`."""

from __future__ import annotations

import getpass
import json
import os
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from ikema.errors import InputError, StoreError

DB_HELP = "SQLAlchemy URL of the store (default: $IKEMA_DATABASE_URL, else sqlite:///out/ikema.db)"
USER_HELP = "acting user recorded in the audit trail (default: $IKEMA_USER, else the login name)"


def _user(user: str | None) -> str:
    return user or os.environ.get("IKEMA_USER") or getpass.getuser()


def _engine(db: str | None):
    from ikema.store import init_db

    return init_db(db)


def randomize_command(
    subject: str = typer.Argument(..., help="USUBJID of a screened, eligible subject"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    user: Optional[str] = typer.Option(None, "--user", help=USER_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the assignment as JSON"),
) -> None:
    """Randomize a subject (a repeat shows the original assignment); ineligible or unscreened subjects are refused."""
    from ikema.conduct.randomization import randomize
    from ikema.store import session_factory

    engine = _engine(db)
    with session_factory(engine)() as s:
        a = randomize(s, subject, _user(user))
    out = {"usubjid": a.usubjid, "arm": a.arm, "randno": a.randno, "stratum": a.stratum,
           "randomized_at": a.randomized_at.isoformat(), "randomized_by": a.randomized_by, "repeat": not a.new}
    if as_json:
        typer.echo(json.dumps(out))
        return
    note = "already randomized: original assignment" if not a.new else "randomized"
    Console().print(f"{a.usubjid} {note}: arm [bold]{a.arm}[/], randomization number {a.randno}, "
                    f"stratum {a.stratum}, {a.randomized_at:%Y-%m-%d %H:%M} UTC by {a.randomized_by}", highlight=False)


def _find(screening: dict[str, Any], *names: str) -> Any:
    low = {str(k).lower(): v for k, v in screening.items()}
    for n in names:
        if n.lower() in low and low[n.lower()] not in (None, ""):
            return low[n.lower()]
    return None


def subject_calendar_inputs(db: str | None, subject: str) -> tuple[str, float, float]:
    """Arm, weight (kg) and height (cm) of a randomized subject, from the store."""
    from ikema.store import Randomization, Subject, session_factory

    engine = _engine(db)
    with session_factory(engine)() as s:
        r = s.get(Randomization, subject)
        sub = s.get(Subject, subject)
    if r is None or sub is None:
        raise InputError(f"calendar: record {subject}, field SUBJECT: got {subject!r}, expected a randomized subject")
    weight = _find(sub.screening or {}, "weight_kg", "weight", "WEIGHT_KG", "WTKG")
    height = _find(sub.screening or {}, "height_cm", "height", "HEIGHT_CM", "HTCM")
    if weight is None or height is None:
        raise InputError(f"calendar: record {subject}, field weight_kg/height_cm: got {weight!r}/{height!r}, "
                         "expected both in the subject's screening record")
    return r.arm, float(weight), float(height)


def calendar_command(
    subject: Optional[str] = typer.Argument(None, help="USUBJID of a randomized subject (arm, weight, height from the store)"),
    arm: Optional[str] = typer.Option(None, "--arm", help="arm code (without SUBJECT)"),
    weight_kg: Optional[float] = typer.Option(None, "--weight-kg", help="body weight in kg (without SUBJECT)"),
    height_cm: Optional[float] = typer.Option(None, "--height-cm", help="height in cm (without SUBJECT)"),
    cycles: int = typer.Option(2, "--cycles", min=1, help="number of cycles to list"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list of {cycle, day, drug, route, dose_mg}"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """List every administration (cycle, day, drug, route, dose in mg) for an arm and body size, or for a subject."""
    from ikema.conduct.calendar import dosing_calendar
    from ikema.protocol import load_protocol

    if subject is not None:
        if arm is not None or weight_kg is not None or height_cm is not None:
            raise InputError("calendar: record -, field SUBJECT: got both a subject and --arm/--weight-kg/--height-cm, "
                             "expected one form (a subject's come from the store)")
        arm, weight_kg, height_cm = subject_calendar_inputs(db, subject)
    elif arm is None or weight_kg is None or height_cm is None:
        raise InputError("calendar: record -, field --arm/--weight-kg/--height-cm: got a missing option, "
                         "expected SUBJECT or all three options")
    rows = dosing_calendar(load_protocol(), arm, weight_kg, height_cm, cycles)
    rows = [dict(r) if not isinstance(r, dict) else r for r in rows]
    if as_json:
        typer.echo(json.dumps([{k: r[k] for k in ("cycle", "day", "drug", "route", "dose_mg")} for r in rows]))
        return
    t = Table(title=f"Dosing calendar: {subject + ', ' if subject else ''}arm {arm}, {weight_kg:g} kg, {height_cm:g} cm")
    for c in ("cycle", "day", "drug", "route", "dose (mg)"):
        t.add_column(c, justify="right" if c in ("cycle", "day", "dose (mg)") else "left")
    for r in rows:
        t.add_row(str(r["cycle"]), str(r["day"]), str(r["drug"]), str(r["route"]), f"{r['dose_mg']:.1f}")
    Console().print(t)


def audit_command(
    table: Optional[str] = typer.Option(None, "--table", help="only rows of this table"),
    subject: Optional[str] = typer.Option(None, "--subject", help="only rows of this USUBJID"),
    limit: int = typer.Option(200, "--limit", min=1, help="newest N rows"),
    as_json: bool = typer.Option(False, "--json", help="print JSON lines"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Print audit-trail rows (who, when, table, record, field, old, new, reason), newest last."""
    from ikema.store import AuditEntry, Base, session_factory

    if table is not None and table not in Base.metadata.tables:
        raise InputError(f"audit: record -, field --table: got {table!r}, expected one of {', '.join(sorted(Base.metadata.tables))}")
    engine = _engine(db)
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if table:
        q = q.where(AuditEntry.table_name == table)
    if subject:
        q = q.where(AuditEntry.usubjid == subject)
    with session_factory(engine)() as s:
        rows = list(reversed(s.scalars(q).all()))
    cols = ("id", "at", "user", "action", "table_name", "record_key", "field", "old_value", "new_value", "reason")
    if as_json:
        for r in rows:
            typer.echo(json.dumps({c: (getattr(r, c).isoformat() if c == "at" else getattr(r, c)) for c in cols}))
        return
    t = Table(title=f"Audit trail ({len(rows)} rows)")
    for c in cols:
        t.add_column(c, overflow="fold")
    def cell(r: Any, c: str) -> str:
        v = getattr(r, c)
        if c == "at":
            return f"{v:%Y-%m-%d %H:%M:%S}"
        v = "" if v is None else str(v)
        return v if len(v) <= 80 else v[:79] + "…"  # --json prints the full values

    for r in rows:
        t.add_row(*[cell(r, c) for c in cols])
    Console().print(t)


def db_init_command(db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Create or upgrade the store to the newest schema (Alembic head)."""
    from ikema.store import database_url

    _engine(db)
    typer.echo(f"store at {database_url(db)} is at the newest schema")


def register(app: typer.Typer) -> None:
    """Add screen, randomize, calendar, db and audit to the ikema command line."""
    from ikema.conduct.screening import register_screen

    register_screen(app)
    app.command("randomize")(randomize_command)
    app.command("calendar")(calendar_command)
    app.command("audit")(audit_command)
    db_app = typer.Typer(no_args_is_help=True, help="The trial database (store).")
    db_app.command("init")(db_init_command)
    app.add_typer(db_app, name="db")


__all__ = ["register", "StoreError"]
