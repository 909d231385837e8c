"""`ikema twin`: replicates with their own seeds, summarised against the published values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ikema.cli import app
from ikema.simulate.published import quantities
from ikema.simulate.twin import summarize


def test_summarize_percentiles_and_inside():
    q = quantities("E", "C")
    table = pd.DataFrame({q[0].key: np.arange(1.0, 201.0), q[1].key: np.full(200, 9.0)})
    s = summarize(table, "E", "C").set_index("key")
    assert s.loc[q[0].key, "p2.5"] == pytest.approx(np.percentile(np.arange(1.0, 201.0), 2.5))
    assert s.loc[q[0].key, "mean"] == pytest.approx(100.5) and s.loc[q[0].key, "n"] == 200
    assert bool(s.loc[q[0].key, "inside"]) == (5.975 <= q[0].published <= 195.025)
    assert not s.loc[q[1].key, "inside"]  # every replicate at 9: a published 0.531 lies outside


@pytest.fixture(scope="module")
def local_twin(tmp_path_factory):
    """A two-replicate twin of 40-patient trials run locally (seeds 3 and 4): its folder and command output."""
    out = tmp_path_factory.mktemp("twin-local")
    res = CliRunner().invoke(app, ["twin", "--replicates", "2", "--workers", "1", "--seed", "3", "--enrollment", "40",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, res.output


@pytest.mark.slow
def test_twin_command_two_replicates(local_twin):
    tmp_path, output = local_twin
    reps = pd.read_csv(tmp_path / "replicates.csv", index_col="seed")
    assert list(reps.index) == [3, 4] and reps.loc[3].ne(reps.loc[4]).any()  # different seeds, different trials
    twin = pd.read_csv(tmp_path / "twin.csv")
    assert set(twin["key"]) == {q.key for q in quantities("IKd", "Kd")}
    assert "published values inside the replicates' central 95%" in output


@pytest.mark.slow
def test_twin_on_a_dask_cluster_equals_the_local_twin(local_twin, tmp_path):
    """A scheduler and two worker processes on 127.0.0.1: the same seeds give byte-identical twin and replicate files."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        res = CliRunner().invoke(app, ["twin", "--replicates", "2", "--seed", "3", "--enrollment", "40", "--out",
                                       str(tmp_path), "--scheduler", cluster.scheduler_address])
    assert res.exit_code == 0, res.output
    for name in ("twin.csv", "replicates.csv", "twin.json"):
        assert (tmp_path / name).read_bytes() == (local_twin[0] / name).read_bytes(), name


@pytest.mark.slow
def test_a_replicate_through_the_store_gives_the_published_quantities_of_the_records():
    """A replicate captures every record into the store and reads it back; its quantities equal those of the
    replicate that built SDTM straight from the simulated records (committed from that code: seed 3, 60 patients)."""
    import json
    import math
    from pathlib import Path

    from ikema.pipeline import replicate

    before = json.loads((Path(__file__).with_name("replicate_seed3.json")).read_text())["quantities"]
    now = replicate(3, enrollment=60)
    assert set(now) == set(before)
    for key, value in before.items():
        assert now[key] == value or (value is None and (now[key] is None or math.isnan(now[key]))), key


def test_twin_refuses_a_bad_scheduler(tmp_path):
    res = CliRunner().invoke(app, ["twin", "--replicates", "1", "--scheduler", "localhost:1", "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert "scheduler: got 'localhost:1', expected a Dask scheduler address" in str(res.exception or res.output)


@pytest.mark.slow
def test_twin_on_two_forked_workers_equals_the_one_process_twin(local_twin, tmp_path):
    """Two local worker processes (forked after the replicate's modules are imported) give the same files."""
    res = CliRunner().invoke(app, ["twin", "--replicates", "2", "--workers", "2", "--seed", "3", "--enrollment", "40",
                                   "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for name in ("twin.csv", "replicates.csv", "twin.json"):
        assert (tmp_path / name).read_bytes() == (local_twin[0] / name).read_bytes(), name


@pytest.mark.slow
def test_import_replicate_modules_leaves_nothing_for_the_first_replicate_to_import():
    """After ikema.pipeline.import_replicate_modules a replicate imports no module of ikema or of its heavy
    libraries (the forked twin workers would each import it again); run in a fresh interpreter."""
    import subprocess
    import sys

    code = """
import sys
from ikema.pipeline import import_replicate_modules, replicate
import_replicate_modules()
before = set(sys.modules)
replicate(5, enrollment=12)
heavy = ("ikema", "scipy", "statsmodels", "sqlalchemy", "alembic", "pandas", "numpy", "pyarrow", "sqlite3", "_sqlite3")
print(sorted(m for m in set(sys.modules) - before if m.split(".")[0] in heavy))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]"
