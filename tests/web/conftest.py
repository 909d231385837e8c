"""Fixtures for the web tests: an app on a throwaway SQLite store, a live uvicorn server, Debian's chromium."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from ikema.web.app import create_app

from eligible_findings import eligible_findings  # tests/eligible_findings.py

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
# where the app writes a random token: CSRF form fields, the page's data-csrf, and cookie values
_SECRET_RE = re.compile(r'(name="csrf_token" value=|data-csrf=)"[^"]*"|((?:^|\n)set-cookie: [^=;\s]+=)[^;\n]*', re.IGNORECASE)


def without_secrets(text: str) -> str:
    """`text` with every random token blanked (the attribute and the cookie name stay): a token can spell an
    arm such as "Kd" by chance, so leak scans read this; anything else the page shows is still scanned."""
    return _SECRET_RE.sub(lambda m: f'{m.group(1)}""' if m.group(1) else m.group(2), text)


class Clock:
    """An injectable clock for session time-outs."""

    def __init__(self) -> None:
        from ikema.web.security import utcnow

        self.t = utcnow()

    def __call__(self):
        return self.t


def login(client: TestClient, username: str, password: str) -> str:
    """Log a TestClient in through the form; returns the session's CSRF token."""
    r = client.get("/login")
    pre = CSRF_RE.search(r.text).group(1)
    r = client.post("/login", data={"username": username, "password": password, "csrf_token": pre, "next": "/"})
    assert r.status_code == 200 and "Log in</h1>" not in r.text, r.text[:500]
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    """The CSRF token of the client's session (read from a page)."""
    r = client.get("/")
    return re.search(r'data-csrf="([^"]+)"', r.text).group(1)


@pytest.fixture(scope="session")
def browser():
    """One headless Debian chromium for the run (never Playwright's own download)."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} missing: run scripts/system-deps.sh test")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--disable-background-networking", "--disable-component-update"],
        )
        yield b
        b.close()


class LiveServer:
    """uvicorn serving an app in a thread on a kernel-chosen 127.0.0.1 port."""

    def __init__(self, app) -> None:
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 10 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture()
def artifacts() -> Path:
    """tests/_artifacts (git-ignored) for screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def all_routes(app):
    """(path, methods, in the OpenAPI document) of every route, also inside included routers."""
    for r in app.routes:
        if hasattr(r, "effective_route_contexts"):  # FastAPI >= 0.16x wraps included routers
            for ctx in r.effective_route_contexts():
                yield ctx.path, set(ctx.methods or ()), bool(ctx.include_in_schema)
        elif getattr(r, "methods", None):
            yield r.path, set(r.methods), bool(getattr(r, "include_in_schema", True))


def _make_app(tmp_path: Path, **kw):
    """A fresh app on a SQLite file under tmp_path."""
    return create_app(f"sqlite:///{tmp_path / 'web.db'}", **kw)


class Kit:
    """Helpers handed to tests as the `kit` fixture (conftest modules are not imported by tests)."""

    CSRF_RE = CSRF_RE
    Clock = Clock
    LiveServer = LiveServer
    login = staticmethod(login)
    csrf_of = staticmethod(csrf_of)
    without_secrets = staticmethod(without_secrets)
    make_app = staticmethod(_make_app)
    seed_journey = staticmethod(lambda app: seed_journey(app))
    seed_trial = staticmethod(lambda db, clock: seed_trial(db, clock))
    all_routes = staticmethod(all_routes)
    eligible = staticmethod(lambda usubjid: _eligible_candidate(usubjid))


@pytest.fixture()
def kit() -> type[Kit]:
    """The helper kit."""
    return Kit


@pytest.fixture()
def chromium_ok() -> None:
    """The browser suite must fail, not skip, when chromium is missing."""
    assert shutil.which(CHROMIUM), "chromium missing"


ROLE_USERS = {  # one user per role; site roles at site 101
    "admin": None, "investigator": "101", "coordinator": "101", "pharmacist": "101", "assessor": None,
    "data_manager": None, "monitor": None, "statistician": None,
}
ROLE_PW = "Role-password-2017"


class World:
    """An app with one user per role, patients at sites 101 and 202 (randomized in both arms), a logged-in
    TestClient per role (with its CSRF token) and a bearer token per role."""

    def __init__(self, app) -> None:
        self.app = app
        self.clients: dict[str, TestClient] = {}
        self.csrf: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.arms: dict[str, str] = {}
        self.randomized: list[str] = []

    without_secrets = staticmethod(without_secrets)

    def call(self, role: str, method: str, url: str):
        """Call a route as a role: the API with the bearer token, pages with the session and CSRF token."""
        if url.startswith("/api/"):
            c = TestClient(self.app, base_url="https://testserver")
            return c.request(method, url, headers={"Authorization": f"Bearer {self.tokens[role]}"})
        c = self.clients[role]
        if method == "GET":
            return c.get(url, follow_redirects=False)
        return c.post(url, data={"csrf_token": self.csrf[role]}, follow_redirects=False)


def seed_trial(db, clock) -> dict:
    """Sites, screened subjects (one ineligible) and a stored allocation list, all through the store's models."""
    from datetime import timedelta, timezone

    import numpy as np

    from ikema.conduct import randomization as irt
    from ikema.store import ScreeningResult, Site, Subject, acting

    scheme = irt.Scheme(ratio={"IKd": 3, "Kd": 2}, block_sizes=(5, 10), factors=(("AGE", ("<65", ">=65")),))
    with acting(db, "fixture", "test fixture"):
        for sid in ("101", "202"):
            db.add(Site(site_id=sid, name=f"Site {sid}", country="FRA"))
        db.flush()
        subjects = {}
        for i in range(1, 9):
            site = "101" if i <= 5 else "202"
            u = f"IKEMA-{site}-{i:03d}"
            eligible = i != 5
            db.add(Subject(usubjid=u, site_id=site, status="SCREENED" if eligible else "SCREEN_FAILED",
                           screening={"weight_kg": 70 + i, "height_cm": 170}, screened_at=(clock() - timedelta(days=120)).replace(tzinfo=timezone.utc),
                           eligible=eligible, stratum="AGE=<65" if i % 2 else "AGE=>=65"))
            db.flush()
            db.add(ScreeningResult(usubjid=u, criterion_id="I01", verdict="pass" if eligible else "fail",
                                   reason="age >= 18" if eligible else "creatinine clearance 10 mL/min < 15"))
            subjects[u] = eligible
        db.flush()
    db.commit()
    irt.store_allocation_list(db, irt.generate_allocation_list(scheme, np.random.default_rng(7), 20), "fixture")
    return subjects


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """See World (one per test module: the route matrix only reads status codes)."""
    tmp_path = tmp_path_factory.mktemp("world")
    from datetime import date, timedelta

    from ikema.conduct import randomization as irt
    from ikema.store import DiseaseAssessment, acting
    from ikema.web import auth

    clock = Clock()
    app = _make_app(tmp_path, clock=clock)
    w = World(app)
    with app.state.sessions() as db:
        for role, site in ROLE_USERS.items():
            auth.create_user(db, f"u_{role}", role, ROLE_PW, site=site, full_name=f"{role.title()} User", now=clock())
        db.commit()
        seed_trial(db, clock)
        for u in ("IKEMA-101-001", "IKEMA-101-002", "IKEMA-101-003", "IKEMA-101-004", "IKEMA-202-006"):
            a = irt.randomize(db, u, "fixture", randdt=date.today() - timedelta(days=60))
            w.arms[u] = a.arm
            w.randomized.append(u)
        d0 = date.today() - timedelta(days=60)
        with acting(db, "fixture", None):
            for u in w.randomized:
                for day, sm in ((0, 3.0), (28, 1.2), (56, 1.0)):
                    db.add(DiseaseAssessment(usubjid=u, date=d0 + timedelta(days=day), study_day=day + 1, param="SMPROT", aval=sm, unit="g/dL"))
                db.add(DiseaseAssessment(usubjid=u, date=d0 + timedelta(days=56), study_day=57, param="SIFE", avalc="POSITIVE-DRUG" if w.arms[u] == "IKd" else "NEGATIVE"))
            db.flush()
        db.commit()
        w.a101 = min(a.id for a in db.query(DiseaseAssessment).filter_by(usubjid="IKEMA-101-001"))
    w.u101, w.u202 = "IKEMA-101-001", "IKEMA-202-006"
    w.arm202 = w.arms[w.u202]
    for role in ROLE_USERS:
        c = TestClient(app, base_url="https://testserver")
        w.csrf[role] = login(c, f"u_{role}", ROLE_PW)
        w.clients[role] = c
        r = c.post("/api/v1/token", data={"username": f"u_{role}", "password": ROLE_PW})
        w.tokens[role] = r.json()["access_token"]
    return w


# --- the browser journey's candidates ----------------------------------------------------------------------

def _eligible_candidate(usubjid: str) -> dict[str, str]:
    """Screening-form values that pass every criterion of the packaged protocol (form names, as typed)."""
    return {"usubjid": usubjid, "site": "101", **eligible_findings()}


def seed_journey(app) -> None:
    """What exists before the first user logs in: the sites and the IRT's allocation list (from the protocol)."""
    import numpy as np

    from ikema.conduct import randomization as irt
    from ikema.store import Site, acting
    from ikema.web import store_glue

    with app.state.sessions() as db:
        with acting(db, "setup", "trial set-up"):
            for sid, country in (("101", "FRA"), ("202", "ESP")):
                db.add(Site(site_id=sid, name=f"Site {sid}", country=country))
            db.flush()
        db.commit()
        scheme = irt.scheme_from_protocol(store_glue.protocol())
        irt.store_allocation_list(db, irt.generate_allocation_list(scheme, np.random.default_rng(20171025), 10), "setup")


@pytest.fixture()
def candidates() -> dict:
    """The journey's data: a candidate failing two criteria (ECOG 3, creatinine clearance 10 mL/min), an
    eligible one, the assessment visits (study day -> IMWG PARAM values) and the audit tables to look for."""
    failing = _eligible_candidate("IKEMA-101-901") | {"ecog": "3", "creatinine_clearance_ml_min": "10"}
    return {
        "failing": failing,
        "failing_criteria": ("E03", "E04"),
        "eligible": _eligible_candidate("IKEMA-101-902"),
        # cycle 1 day 1 (baseline, before the first dose) and cycle 2 day 1 (the response to cycle 1)
        "assessments": [
            (1, {"SMPROT": "2.4", "UMPROT": "150", "FLCK": "60", "FLCL": "12", "SIFE": "POSITIVE", "UIFE": "POSITIVE"}),
            (29, {"SMPROT": "0.9", "UMPROT": "40", "FLCK": "22", "FLCL": "11", "SIFE": "POSITIVE", "UIFE": "POSITIVE"}),
        ],
        "verdict": "PR",
        "audit_capture_table": "disease_assessments",
        "audit_random_table": "randomizations",
    }
