"""The demo end to end in a temporary folder (a smaller enrollment keeps it fast)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from typer.testing import CliRunner

from ikema.cli import app
from ikema.pipeline import DEMO_STAGES, jsonable, replicate, run_demo


@pytest.mark.slow
def test_demo_end_to_end_small(tmp_path):
    out = tmp_path / "out"
    stages: list[str] = []
    results = run_demo(out, seed=11, enrollment=60, advance=stages.append)
    assert len(stages) == DEMO_STAGES  # the progress bar's total
    for f in ("report.html", "results.json", "enrollment.json", "ikema.db", "sdtm/dm.xpt", "sdtm/lb.csv", "sdtm/ts.xpt", "sdtm/define.xml", "adam/define.xml", "adam/adsl.xpt", "adam/adtte.csv"):
        assert (out / f).exists(), f
    saved = json.loads((out / "results.json").read_text())
    assert saved["parameters"]["PFS"]["kind"] == "tte"
    assert set(saved["cuts"]) == {"interim", "final", "final_os"}
    enrollment = json.loads((out / "enrollment.json").read_text())
    assert enrollment["randomized"] == 60 == len(pd.read_csv(out / "sdtm" / "dm.csv"))
    assert enrollment["screened"] == 60 + enrollment["screen_failures"]
    # ADSL arms are the IRT's arms, and every randomized subject has a PFS record at the final cut
    adsl = pd.read_csv(out / "adam" / "adsl.csv")
    adtte = pd.read_csv(out / "adam" / "adtte.csv")
    assert set(adtte.loc[adtte["PARAMCD"] == "PFS", "USUBJID"]) == set(adsl["USUBJID"])
    assert results["consort"]["randomized"] == 60
    html = (out / "report.html").read_text()
    assert "Published versus simulated" in html and html.count("data:image/png") >= 5
    for key in ("TTFR_R", "TTBR_R"):  # responders' times: medians within each arm's range, in days
        for arm in saved["parameters"][key]["arms"].values():
            if arm["n"]:
                assert arm["min"] <= arm["median"] <= arm["max"]
    assert "Time to best response (days, responders)" in html
    rsp = saved["parameters"]["RSP"]  # the report's odds ratio is experimental vs reference
    assert f"{rsp['odds_ratio_experimental_vs_reference']:.2f} [" in html
    # a twin replicate of the same seed and size runs the same path: the demo's published comparison
    twin = jsonable(replicate(11, enrollment=60))
    assert {r["key"]: r["simulated"] for r in saved["published_comparison"]} == twin


@pytest.mark.slow
def test_demo_command_prints_consort_and_published_table(tmp_path):
    out = tmp_path / "cli"
    res = CliRunner().invoke(app, ["demo", "--out", str(out), "--seed", "5", "--enrollment", "40"])
    assert res.exit_code == 0, res.output
    assert "Assessed for eligibility" in res.output and "Published versus simulated" in res.output
    enrollment = json.loads((out / "enrollment.json").read_text())
    assert enrollment["randomized"] == 40 and "Randomized: 40" in res.output.replace("[bold]", "")
    assert (out / "report.html").exists() and (out / "adam" / "adtte.xpt").exists()
