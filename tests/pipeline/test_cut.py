"""`ikema cut`: a data cut of the demo's store gives the ADaM the demo analysed, record for record, and
`ikema analyze` on it the demo's hazard ratios exactly; reruns give the same bytes; --as-of rebuilds the data as
they stood from the audit trail; bad dates are refused with nothing written."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from ikema.analysis.commands import run_analyze
from ikema.cli import app
from ikema.errors import InputError
from ikema.pipeline import run_cut, run_demo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    results = run_demo(out, seed=7, enrollment=30)
    return out, results, f"sqlite:///{out / 'ikema.db'}"


def test_cuts_of_the_demo_store_give_the_demos_adam_and_hazard_ratios(demo, tmp_path):
    out, results, url = demo
    for name, date in results["cutoffs"].items():
        cut = tmp_path / name
        info = run_cut(date, cut, url)
        assert info["cut_date"] == date and info["rows"]["sdtm"]["DM"] == 30
        if name == results["main_cut"]:  # the demo wrote this cut's ADaM: the same bytes
            for f in sorted((out / "adam").glob("*.csv")):
                assert (cut / "adam" / f.name).read_bytes() == f.read_bytes(), f.name
        analysed = run_analyze(cut / "adam", tmp_path / f"an-{name}")
        for p, want in results["cuts"][name]["parameters"].items():
            got = analysed["parameters"][p]
            for key in ("hazard_ratio", "hazard_ratio_ci", "logrank_p", "mh_common_odds_ratio", "arms"):
                assert got.get(key) == want.get(key), (name, p, key)
    files = json.loads((tmp_path / "final" / "cut.json").read_text())["sha256"]
    # CSV and XPT of the 25 SDTM (IE included) and 9 ADaM datasets, and each package's define.xml
    assert "adam/adsl.xpt" in files and "sdtm/dm.csv" in files and "sdtm/define.xml" in files and len(files) == 2 * (25 + 9) + 2


def test_rerun_gives_the_same_bytes(demo, tmp_path):
    _out, results, url = demo
    date = results["cutoffs"]["interim"]
    a = run_cut(date, tmp_path / "a", url, as_of="2100-01-01T00:00:00Z", today=dt.date(2100, 1, 2))
    b = run_cut(date, tmp_path / "b", url, as_of="2100-01-01T00:00:00Z", today=dt.date(2100, 1, 2))
    assert a == b and (tmp_path / "a" / "cut.json").read_bytes() == (tmp_path / "b" / "cut.json").read_bytes()
    for rel in a["sha256"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    live = run_cut(date, tmp_path / "live", url)  # the live tables and the audit trail's replay agree
    assert live["sha256"] == a["sha256"]


def test_as_of_ignores_a_later_correction(tmp_path, demo):
    import shutil

    from sqlalchemy import select

    from ikema.conduct.capture import correct
    from ikema.store import DiseaseAssessment, make_engine, session_factory
    from ikema.cdisc.store import last_change

    out, results, _url = demo
    db = tmp_path / "copy.db"
    shutil.copy(out / "ikema.db", db)
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    with session_factory(engine)() as s:
        before = last_change(s)
        row = s.scalars(select(DiseaseAssessment).where(DiseaseAssessment.param == "SMPROT")
                        .order_by(DiseaseAssessment.id)).first()
        key, old = (row.usubjid, str(row.date)), row.aval
        correct(s, "assessment", row.id, "dm1", "transcription error", aval=row.aval + 1.25)
        s.commit()
    engine.dispose()
    date = results["cutoffs"]["final"]
    then = run_cut(date, tmp_path / "then", url, as_of=before.isoformat())
    now = run_cut(date, tmp_path / "now", url)
    assert then["as_of"] == before.isoformat() and now["as_of"] > then["as_of"]
    xd = {w: pd.read_csv(tmp_path / w / "sdtm" / "lb.csv") for w in ("then", "now")}

    def value(d: pd.DataFrame) -> float:
        m = (d["USUBJID"] == key[0]) & (d["LBDTC"] == key[1]) & (d["LBTESTCD"] == "SMPROT")
        return float(d.loc[m, "LBSTRESN"].iloc[0])

    assert value(xd["then"]) == old and value(xd["now"]) == old + 1.25
    original = run_cut(date, tmp_path / "orig", f"sqlite:///{out / 'ikema.db'}", as_of=before.isoformat())
    assert original["sha256"] == then["sha256"]  # the store before the correction, the same bytes


@pytest.mark.parametrize("date, message", [
    ("2021-02-30", "expected a calendar date"), ("next week", "expected a calendar date"),
    ("2999-01-01", "after today"), ("2000-01-01", "before the first randomization"),
])
def test_bad_dates_are_refused_and_nothing_is_written(demo, tmp_path, date, message):
    _out, _results, url = demo
    with pytest.raises(InputError, match=message):
        run_cut(date, tmp_path / "cut", url)
    assert not (tmp_path / "cut").exists()
    res = CliRunner().invoke(app, ["cut", "--date", date, "--database-url", url, "--out", str(tmp_path / "cli")])
    assert res.exit_code != 0 and not (tmp_path / "cli").exists()


@pytest.mark.postgres
def test_cut_of_a_postgresql_store(pg_server_url, tmp_path):
    """The same path on PostgreSQL: the cut's ADaM is the demo's, and --as-of replays the audit trail there too."""
    from ikema.store.pgserver import fresh_database

    url = fresh_database(pg_server_url, "cutpg")
    out = tmp_path / "demo"
    results = run_demo(out, seed=3, database_url=url, enrollment=20)
    date = results["cutoffs"][results["main_cut"]]
    live = run_cut(date, tmp_path / "live", url)
    for f in sorted((out / "adam").glob("*.csv")):
        assert (tmp_path / "live" / "adam" / f.name).read_bytes() == f.read_bytes(), f.name
    replay = run_cut(date, tmp_path / "replay", url, as_of=live["as_of"])
    assert replay["sha256"] == live["sha256"] and live["store"].startswith("postgresql") and "@" not in live["store"]


def test_report_renders_the_demos_results_from_its_adam(demo, tmp_path):
    """`ikema report` on the demo's results.json and ADaM: the decision of each group-sequential look, KM plots."""
    from ikema.pipeline import run_report

    out, results, _url = demo
    html = run_report(out / "results.json", out / "adam", tmp_path).read_text()
    for name in ("interim", "final"):
        gs = results["cuts"][name]["group_sequential"]
        assert f"look {gs['look']}: z = {gs['z']:.3f} against the boundary {gs['boundary_z']:.3f}" in html
    assert html.count("data:image/png;base64,") >= 3 and "forest plot" in html


@pytest.mark.parametrize("undosed", ["half", "all"])
def test_a_cut_with_randomized_patients_not_yet_dosed(demo, undosed):
    """Early in a live trial some (or all) randomized patients have no dose yet: ADSL keeps them in the ITT
    population with TRTSDT missing and SAFFL N, their times to event run from randomization, and the SAP runs."""
    from ikema.pipeline import adam_at_cut, analyse_adam, sdtm_from_store, trial_setup
    from ikema.store import make_engine, session_factory

    _out, results, url = demo
    setup = trial_setup()
    with session_factory(make_engine(url))() as s:
        sdtm = sdtm_from_store(s, setup)
    ids = sorted(sdtm["DM"]["USUBJID"])
    none = set(ids[::2]) if undosed == "half" else set(ids)
    for dom in ("EX", "PC"):  # no dose: no administration and no drug concentration
        sdtm[dom] = sdtm[dom][~sdtm[dom]["USUBJID"].isin(none)].reset_index(drop=True)
    cutoff = dt.date.fromisoformat(results["cutoffs"]["final"])
    cut, adam = adam_at_cut(sdtm, setup, cutoff)
    adsl = adam["ADSL"].set_index("USUBJID")
    assert sorted(adsl.index) == ids and (adsl["ITTFL"] == "Y").all()
    assert adsl.loc[sorted(none), "TRTSDT"].isna().all() and (adsl.loc[sorted(none), "SAFFL"] == "N").all()
    dosed = sorted(set(ids) - none)
    assert adsl.loc[dosed, "TRTSDT"].notna().all() and (adsl.loc[dosed, "SAFFL"] == "Y").all()
    pfs = adam["ADTTE"][adam["ADTTE"]["PARAMCD"] == "PFS"].set_index("USUBJID")
    assert sorted(pfs.index) == ids
    assert (pd.to_datetime(pfs["STARTDT"]) == pd.to_datetime(adsl.loc[pfs.index, "RANDDT"])).all()
    res = analyse_adam(adam, setup, ds=cut["DS"])
    assert sum(a["n"] for a in res["parameters"]["PFS"]["arms"].values()) == len(ids)
    assert sum(res["safety_summary"]["n"].values()) == len(dosed)
