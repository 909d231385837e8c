"""`ikema serve` and `ikema users add`: run the web app and create users from scripts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from ikema.errors import IkemaError

DEMO_DB = Path("out") / "ikema.db"


def _url(database_url: str | None) -> str:
    from ikema.store import database_url as store_url

    return store_url(database_url)


def _read_password() -> str:
    pw = os.environ.get("IKEMA_PASSWORD")
    if pw is None:
        if sys.stdin.isatty():
            pw = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        else:
            pw = sys.stdin.readline().rstrip("\n")
    if not pw:
        raise IkemaError("no password: give it on standard input or in IKEMA_PASSWORD")
    return pw


def register(app: typer.Typer) -> None:
    """Add `serve` and the `users` group to the CLI."""
    users = typer.Typer(help="Web users: create accounts (password on stdin or IKEMA_PASSWORD).", no_args_is_help=True)

    @users.command("add")
    def users_add(
        name: str = typer.Argument(..., help="user name (letters, digits, . - _)"),
        role: str = typer.Option(..., "--role", help="admin, investigator, coordinator, pharmacist, assessor, data_manager, monitor, statistician"),
        site: str | None = typer.Option(None, "--site", help="site id (required for investigator, coordinator, pharmacist)"),
        full_name: str = typer.Option("", "--full-name", help="printed name (e-signatures show it)"),
        database_url: str | None = typer.Option(None, "--database-url", help="SQLAlchemy URL (default IKEMA_DATABASE_URL or sqlite:///out/ikema.db)"),
    ) -> None:
        """Create a web user; the password is read from standard input or IKEMA_PASSWORD."""
        from ikema.web import auth, store_glue
        from ikema.web.security import utcnow

        password = _read_password()
        engine = store_glue.init(_url(database_url))
        with store_glue.sessions(engine)() as db:
            user = auth.create_user(db, name, role, password, site=site, full_name=full_name, by="cli", now=utcnow())
            db.commit()
            typer.echo(f"created user {user.username} ({user.role}{', site ' + user.site if user.site else ''})")

    app.add_typer(users, name="users")

    odm_app = typer.Typer(help="CDISC ODM 1.3.2 clinical data: export the store, import into it.", no_args_is_help=True)

    @odm_app.command("export")
    def odm_export(
        out: Path = typer.Option(..., "--out", help="the ODM XML file to write"),
        database_url: str | None = typer.Option(None, "--database-url", help="SQLAlchemy URL (default IKEMA_DATABASE_URL or sqlite:///out/ikema.db)"),
    ) -> None:
        """Write every patient of the store as one ODM 1.3.2 snapshot (as GET /api/v1/odm)."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from sqlalchemy import func, select

        from ikema.store.models import Subject
        from ikema.web import odm, store_glue
        from ikema.web.security import utcnow

        engine = store_glue.init(_url(database_url))
        st = store_glue.protocol().study
        with store_glue.sessions(engine)() as db, out.open("wb") as f, Progress(
                TextColumn("ODM export"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True)) as bar:
            task = bar.add_task("patients", total=db.scalar(select(func.count()).select_from(Subject)) + 2)
            for chunk in odm.export_chunks(db, study_oid=st.nct_id, name=st.acronym, now=utcnow()):
                f.write(chunk)
                bar.advance(task)
        typer.echo(f"wrote {out}")

    @odm_app.command("import")
    def odm_import(
        path: Path = typer.Argument(..., help="an ODM 1.3 XML file (as written by `ikema odm export`)"),
        user: str = typer.Option("odm-import", "--user", help="the name the audit trail records for these writes"),
        database_url: str | None = typer.Option(None, "--database-url", help="SQLAlchemy URL (default IKEMA_DATABASE_URL or sqlite:///out/ikema.db)"),
    ) -> None:
        """Add the file's patients to the store through the capture edit checks, all or nothing (as POST /api/v1/odm)."""
        from rich.console import Console

        from ikema.web import odm, store_glue

        if not path.is_file():
            raise IkemaError(f"{path}: no such file")
        engine = store_glue.init(_url(database_url))
        with store_glue.sessions(engine)() as db, Console(stderr=True).status(f"importing {path}"):
            counts = odm.import_odm(db, path.read_bytes(), user)
            db.commit()
        typer.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))

    app.add_typer(odm_app, name="odm")

    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="interface to listen on"),
        port: int = typer.Option(8000, "--port", help="TCP port"),
        demo: bool = typer.Option(False, "--demo", help="serve out/ikema.db (from `make demo`) with one demo user per role"),
        database_url: str | None = typer.Option(None, "--database-url", help="SQLAlchemy URL (default IKEMA_DATABASE_URL or sqlite:///out/ikema.db)"),
        workers: int = typer.Option(1, "--workers", min=1, max=64, help="server processes (PostgreSQL only; SQLite serves from one)"),
        access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="log every request"),
    ) -> None:
        """Serve the web application (pages, JSON API under /api/v1, docs at /api/v1/docs)."""
        import uvicorn

        from ikema.web.app import serving_app

        url = _url(database_url)
        if demo:
            if not DEMO_DB.is_file():
                raise IkemaError(f"{DEMO_DB}: no demo database; run `make demo` first")
            url = f"sqlite:///{DEMO_DB.resolve()}"
        app = serving_app(url)
        if demo:
            from ikema.web.demo import ensure_demo_users

            for username, role, site, password in ensure_demo_users(app):
                typer.echo(f"  {role:<13} user {username:<14} password {password}{'  (site ' + site + ')' if site else ''}")
        typer.echo(f"ikema EDC on http://{host}:{port}/  (API docs: /api/v1/docs)")
        if workers == 1:
            uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)
            return
        if app.state.engine.dialect.name == "sqlite":
            raise IkemaError(f"--workers {workers}: SQLite serializes writers in one file, so it is served by one process; "
                             "use PostgreSQL (--database-url postgresql+psycopg://...) for several")
        app.state.engine.dispose()  # migrated above; each worker builds its own app and engine on the same URL
        os.environ["IKEMA_DATABASE_URL"] = url
        # a worker imports the whole package before it can answer uvicorn's health check (5 s by default: too short
        # on a busy machine, where the workers were killed and restarted in a loop)
        uvicorn.run("ikema.web.app:serving_app", factory=True, host=host, port=port, workers=workers, log_level="info",
                    access_log=access_log, timeout_worker_healthcheck=120)
