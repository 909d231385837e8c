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



def test_serve_demo_prints_one_user_per_role_that_can_log_in(tmp_path, monkeypatch, kit):
    """`ikema serve --demo` on the database `make demo` writes (out/ikema.db): one demo user per role with a
    password that works, site roles at the busiest site; uvicorn itself is not started here."""
    import re

    import uvicorn
    from fastapi.testclient import TestClient

    from ikema.web.app import create_app
    from ikema.web.permissions import ROLES, SITE_ROLES

    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    clock = kit.Clock()
    seeded = create_app(f"sqlite:///{tmp_path / 'out' / 'ikema.db'}", clock=clock)
    with seeded.state.sessions() as db:
        kit.seed_trial(db, clock)  # 5 patients at site 101, 3 at 202
    seeded.state.engine.dispose()
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda a, **kw: served.update(app=a, **kw))
    r = CliRunner().invoke(app, ["serve", "--demo", "--port", "8123"])
    assert r.exit_code == 0, r.output
    rows = re.findall(r"^\s+(\w+)\s+user (demo\.\w+)\s+password (\S+)(?:\s+\(site (\w+)\))?$", r.output, re.M)
    assert sorted(role for role, *_ in rows) == sorted(ROLES)
    assert all(bool(site) == (role in SITE_ROLES) for role, _, _, site in rows)
    assert {site for _, _, _, site in rows if site} == {"101"}  # the busiest site
    assert served["port"] == 8123 and "http://127.0.0.1:8123/" in r.output
    pw = {user: p for _, user, p, _ in rows}
    client = TestClient(served["app"], base_url="https://testserver")
    kit.login(client, "demo.coordinator", pw["demo.coordinator"])
    listing = client.get("/subjects").text
    assert "IKEMA-101-001" in listing and "IKEMA-202" not in listing
    again = CliRunner().invoke(app, ["serve", "--demo"])  # a second start resets the passwords, users unchanged
    assert again.exit_code == 0 and again.output.count("user demo.") == len(ROLES) and pw["demo.admin"] not in again.output
