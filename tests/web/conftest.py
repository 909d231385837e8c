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

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


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
    make_app = staticmethod(_make_app)


@pytest.fixture()
def kit() -> type[Kit]:
    """The helper kit."""
    return Kit


@pytest.fixture()
def chromium_ok() -> None:
    """The browser suite must fail, not skip, when chromium is missing."""
    assert shutil.which(CHROMIUM), "chromium missing"
