"""A throwaway PostgreSQL server from Debian's binaries (/usr/lib/postgresql/*/bin) for tests: initdb into a temp
dir, start on a free loopback port, create a database, yield its URL, stop and remove everything afterwards.

    with pg_server() as url:      # url = "postgresql+psycopg://postgres@127.0.0.1:PORT/ikema"
        engine = init_db(url)

When running as root the server runs as the `postgres` OS user (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ikema.errors import StoreError


def pg_bindir() -> Path:
    """The newest Debian PostgreSQL bin directory, or StoreError when none is installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise StoreError("PostgreSQL: no /usr/lib/postgresql/*/bin/pg_ctl; run scripts/system-deps.sh test")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def pg_server(dbname: str = "ikema", durable: bool = False) -> Iterator[str]:
    """Run a temporary PostgreSQL server and yield the SQLAlchemy URL of a fresh database on it.

    Tests run it with fsync and full-page writes off (a throw-away server); `durable=True` keeps PostgreSQL's
    production defaults (every commit flushed to disk), for benchmarks whose figures stand for a real deployment."""
    bindir = pg_bindir()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    tmp = Path(tempfile.mkdtemp(prefix="ikema-pg-"))
    if as_root:
        shutil.chown(tmp, "postgres", "postgres")
    data, sock = tmp / "data", tmp
    port = _free_port()

    def run(*args: str) -> None:
        proc = subprocess.run([*prefix, *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise StoreError(f"PostgreSQL: {' '.join(args[:1])} failed: {proc.stderr.strip() or proc.stdout.strip()}")

    started = False
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "log"), "-w", "-t", "60", "-o",
            f"-h 127.0.0.1 -p {port} -k {sock} -c max_connections=100"
            + ("" if durable else " -c fsync=off -c full_page_writes=off"), "start")
        started = True
        for _ in range(100):
            try:
                run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", dbname)
                break
            except StoreError:
                time.sleep(0.1)
        else:
            raise StoreError(f"PostgreSQL: could not create database {dbname} on port {port}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{dbname}"
    finally:
        if started:
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def fresh_database(server_url: str, name: str) -> str:
    """Create an empty database `name` on the server of `server_url` and return its URL."""
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name
