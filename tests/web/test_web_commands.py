"""`ikema users add` from scripts: password on stdin or IKEMA_PASSWORD, policy and role checks."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from ikema.cli import app


def _run(args, db, stdin="", env_pw=None):
    env = {"IKEMA_DATABASE_URL": f"sqlite:///{db}", "IKEMA_PASSWORD": env_pw}
    return CliRunner().invoke(app, ["users", "add", *args], input=stdin, env=env)


def test_users_add_from_stdin_and_env(tmp_path):
    db = tmp_path / "u.db"
    r = _run(["cora", "--role", "coordinator", "--site", "101"], db, stdin="Coordinator-2017!\n")
    assert r.exit_code == 0, r.output
    assert "created user cora (coordinator, site 101)" in r.output
    r = _run(["dana", "--role", "data_manager"], db, env_pw="DataManager-2017!")
    assert r.exit_code == 0, r.output
    with create_engine(f"sqlite:///{db}").connect() as c:
        rows = c.execute(text("select u.username, u.role, u.site, c.password_hash from web_user u join web_credential c on c.user_id = u.id order by u.username")).all()
    assert [(u, ro, s) for u, ro, s, _ in rows] == [("cora", "coordinator", "101"), ("dana", "data_manager", None)]
    assert all(h.startswith("$argon2id$") for *_, h in rows)


def test_users_add_refusals_are_clear(tmp_path):
    db = tmp_path / "u.db"
    cases = [
        (["x", "--role", "coordinator"], "Coordinator-2017!\n", "give --site"),
        (["x", "--role", "king"], "Coordinator-2017!\n", "expected one of admin"),
        (["x", "--role", "monitor"], "short\n", "too short"),
    ]
    for args, pw, msg in cases:
        r = _run(args, db, stdin=pw)
        assert r.exit_code != 0 and msg in str(r.exception), (args, r.exception)
    assert _run(["x", "--role", "monitor"], db, stdin="Monitor-pass-2017\n").exit_code == 0
    r = _run(["x", "--role", "monitor"], db, stdin="Monitor-pass-2017\n")
    assert "already exists" in str(r.exception)
