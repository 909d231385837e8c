"""Log-in, password policy, lockout, idle/absolute time-outs, log-out replay, CSRF, cookie flags, tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from ikema.web import auth
from ikema.web.models import WebSession, WebUser
from ikema.web.security import PasswordPolicyError, Settings, check_password_policy

PW = "Myeloma-Trial-2017!"


@pytest.fixture()
def env(tmp_path, kit):
    clock = kit.Clock()
    app = kit.make_app(tmp_path, settings=Settings(max_failures=3, lockout=timedelta(minutes=10), idle_timeout=timedelta(minutes=20)), clock=clock)
    with app.state.sessions() as db:
        auth.create_user(db, "ada", "coordinator", PW, site="101", now=clock())
        db.commit()
    return app, clock


def test_password_policy_names_the_rule():
    with pytest.raises(PasswordPolicyError, match="too short"):
        check_password_policy("short1!")
    with pytest.raises(PasswordPolicyError, match="too common"):
        check_password_policy("passwordpassword")
    with pytest.raises(PasswordPolicyError, match="user name"):
        check_password_policy("ada-is-my-name-2017", "ada")
    check_password_policy("a-long-enough-passphrase", "bob")


def test_hash_is_argon2id_and_no_plaintext_stored(env, kit):
    app, _ = env
    from ikema.store import AuditEntry
    from ikema.web.models import WebCredential

    with app.state.sessions() as db:
        u = db.query(WebUser).filter_by(username="ada").one()
        h = db.get(WebCredential, u.id).password_hash
        assert h.startswith("$argon2id$") and PW not in h
        audit = " ".join(f"{a.new_value} {a.old_value} {a.reason}" for a in db.query(AuditEntry))
        assert "web_user" in {a.table_name for a in db.query(AuditEntry)}  # the user's creation is audited
        assert h not in audit and PW not in audit and "argon2" not in audit  # neither hash nor password


def test_login_sets_strict_httponly_secure_cookie_and_logout_kills_replay(env, kit):
    app, _ = env
    c = TestClient(app, base_url="https://testserver")
    r = c.get("/login")
    pre = kit.CSRF_RE.search(r.text).group(1)
    r = c.post("/login", data={"username": "ada", "password": PW, "csrf_token": pre}, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    token = c.cookies.get("ikema_session")
    csrf = kit.csrf_of(c)
    assert c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    c2 = TestClient(app, base_url="https://testserver")
    c2.cookies.set("ikema_session", token)
    r = c2.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_same_message_for_unknown_user_and_wrong_password_then_lockout(env, kit):
    app, clock = env
    c = TestClient(app, base_url="https://testserver")

    def attempt(user, pw):
        pre = kit.CSRF_RE.search(c.get("/login").text).group(1)
        return c.post("/login", data={"username": user, "password": pw, "csrf_token": pre})

    r1, r2 = attempt("nobody", "whatever-it-is"), attempt("ada", "wrong-password-1")
    assert r1.status_code == r2.status_code == 401
    assert auth.LOGIN_FAILED in r1.text and auth.LOGIN_FAILED in r2.text
    attempt("ada", "wrong-password-2")
    r = attempt("ada", "wrong-password-3")
    assert "locked" in r.text
    assert "locked" in attempt("ada", PW).text  # right password refused while locked
    from ikema.store import AuditEntry

    with app.state.sessions() as db:
        assert db.query(WebUser).filter_by(username="ada").one().locked_until is not None
        actions = [a.action for a in db.query(AuditEntry).order_by(AuditEntry.id)]
        assert "LOCKOUT" in actions
        assert [a.reason for a in db.query(AuditEntry).filter_by(table_name="web_user", field="failed_logins")][:2] == ["failed log-in"] * 2
    clock.t += timedelta(minutes=11)
    r = attempt("ada", PW)
    assert r.status_code == 200 and "Welcome" in r.text


def test_idle_and_absolute_timeouts_end_the_session(env, kit):
    app, clock = env
    c = TestClient(app, base_url="https://testserver")
    kit.login(c, "ada", PW)
    clock.t += timedelta(minutes=19)
    assert c.get("/", follow_redirects=False).status_code == 200
    clock.t += timedelta(minutes=21)
    r = c.get("/", follow_redirects=False)
    assert r.status_code == 303 and "expired=1" in r.headers["location"]
    with app.state.sessions() as db:
        assert [s.end_reason for s in db.query(WebSession)] == ["idle timeout"]
    kit.login(c, "ada", PW)
    for _ in range(30):  # active every 19 minutes, past the 8 h absolute limit
        clock.t += timedelta(minutes=19)
        if c.get("/", follow_redirects=False).status_code != 200:
            break
    with app.state.sessions() as db:
        assert "absolute timeout" in [s.end_reason for s in db.query(WebSession)]


def test_csrf_missing_wrong_and_foreign_origin_refused(env, kit):
    app, _ = env
    c = TestClient(app, base_url="https://testserver")
    pre = kit.CSRF_RE.search(c.get("/login").text).group(1)
    assert c.post("/login", data={"username": "ada", "password": PW}).status_code == 403
    assert c.post("/login", data={"username": "ada", "password": PW, "csrf_token": "x" + pre}).status_code == 403
    token = kit.login(c, "ada", PW)
    assert c.post("/logout", data={}).status_code == 403
    assert c.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    r = c.post("/logout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert c.get("/").status_code == 200  # still logged in: nothing above took effect


def test_security_headers_present(env, kit):
    app, _ = env
    r = TestClient(app, base_url="https://testserver").get("/login")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"


def test_api_token_and_401(env, kit):
    app, clock = env
    c = TestClient(app, base_url="https://testserver")
    assert c.post("/api/v1/token", data={"username": "ada", "password": "nope-nope-nope"}).status_code == 401
    r = c.post("/api/v1/token", data={"username": "ada", "password": PW})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    with app.state.sessions() as db:
        u = db.query(WebUser).filter_by(username="ada").one()
        assert auth.resolve_token(db, r.json()["access_token"], clock()).username == "ada"
        db.info["user"], db.info["reason"] = "admin", "left the trial"
        u.active = False
        db.commit()
        assert auth.resolve_token(db, r.json()["access_token"], clock()) is None  # dies with the user


def test_api_token_refused_once_revoked_or_expired(env, kit):
    """The bearer token's one-query look-up (token joined to its user) still refuses a revoked or expired token."""
    from ikema.web.models import ApiToken
    from ikema.web.security import token_digest

    app, clock = env
    c = TestClient(app, base_url="https://testserver")
    tokens = [c.post("/api/v1/token", data={"username": "ada", "password": PW}).json()["access_token"] for _ in range(2)]
    auth_header = [{"Authorization": f"Bearer {t}"} for t in tokens]
    assert [c.get("/api/v1/subjects", headers=h).status_code for h in auth_header] == [200, 200]
    with app.state.sessions() as db:
        db.get(ApiToken, token_digest(tokens[0])).revoked = True
        db.commit()
    assert [c.get("/api/v1/subjects", headers=h).status_code for h in auth_header] == [401, 200]
    clock.t += timedelta(minutes=59)
    assert c.get("/api/v1/subjects", headers=auth_header[1]).status_code == 200
    clock.t += timedelta(minutes=1)  # the token's lifetime (1 hour) is over
    assert c.get("/api/v1/subjects", headers=auth_header[1]).status_code == 401
