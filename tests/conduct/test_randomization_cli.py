"""`ikema randomize` and `ikema audit` on a store: the site sees arm and randomization number, never the block."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from ikema.cli import app
from ikema.conduct.randomization import generate_allocation_list, store_allocation_list
from ikema.store import init_db, session_factory, session_scope

from helpers_irt import SCHEME, screen_fail, screen_ok


def test_randomize_and_audit_commands(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = init_db(url)
    rows = generate_allocation_list(SCHEME, np.random.default_rng(5), 10)
    with session_factory(engine)() as s:
        store_allocation_list(s, rows, "irt")
    with session_scope(engine, "site1") as s:
        screen_ok(s, "P-1", SCHEME.strata[3])
        screen_fail(s, "P-2")
    runner = CliRunner()
    first = runner.invoke(app, ["randomize", "P-1", "--db", url, "--user", "dr.a", "--json"])
    assert first.exit_code == 0, first.output
    a = json.loads(first.output)
    expected = next(r for r in rows if r["stratum"] == SCHEME.strata[3] and r["position"] == 1)
    assert (a["arm"], a["randno"], a["repeat"], a["randomized_by"]) == (expected["arm"], expected["randno"], False, "dr.a")
    assert not {"position", "block_id", "block_size"} & set(a)
    again = runner.invoke(app, ["randomize", "P-1", "--db", url, "--user", "dr.b"])
    assert again.exit_code == 0 and "already randomized" in again.output and f"arm {a['arm']}" in again.output
    assert "block" not in (first.output + again.output).lower()
    refused = runner.invoke(app, ["randomize", "P-2", "--db", url])
    assert refused.exit_code != 0 and "E03 fail" in str(refused.exception)
    audit = runner.invoke(app, ["audit", "--db", url, "--table", "randomizations", "--json"])
    lines = [json.loads(x) for x in audit.output.splitlines()]
    assert len(lines) == 1 and lines[0]["user"] == "dr.a" and lines[0]["action"] == "INSERT"
    assert json.loads(lines[0]["new_value"])["arm"] == a["arm"]
    bad = runner.invoke(app, ["audit", "--db", url, "--table", "nope"])
    assert bad.exit_code != 0 and "expected one of" in str(bad.exception)
