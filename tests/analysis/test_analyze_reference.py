"""`ikema analyze` on the R reference ADaM folders (../shared/reference/survival) and the CDISC pilot ADTTE."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ikema.cdisc.io import read_dataset, write_dataset
from ikema.cli import app
from ikema.report.figures import numbers_at_risk

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
REF = SHARED / "reference" / "survival"
RTOL = 1e-6


def _na(v):
    return None if v == "NA" else v


def _analyze(adam: Path, out: Path, *extra: str):
    res = CliRunner().invoke(app, ["analyze", "--adam", str(adam), "--out", str(out), *extra])
    return res


def _check_case(case: str, results: dict) -> None:
    ex = json.loads((REF / case / "expected.json").read_text())
    assert results["strata"] == ex["strata"]
    for p, want in ex["results"].items():
        got = results["parameters"][p]
        assert got["reference_arm"] == ex["reference_arm"] and got["experimental_arm"] == ex["experimental_arm"]
        for arm, w in want["arms"].items():
            g = got["arms"][arm]
            for k, v in w.items():
                if k in ("n", "events", "responders", "median", "median_lcl", "median_ucl"):
                    assert g[k] == _na(v), (p, arm, k)  # counts, medians and their bounds exactly
                else:
                    assert g[k] == pytest.approx(v, rel=RTOL), (p, arm, k)
        if ex["kind"] == "tte":
            assert got["logrank_chisq"] == pytest.approx(want["logrank_stratified_chisq"], rel=RTOL)
            assert got["logrank_p"] == pytest.approx(want["logrank_stratified_p"], rel=RTOL)
            assert got["logrank_unstratified_chisq"] == pytest.approx(want["logrank_unstratified_chisq"], rel=RTOL)
            assert got["hazard_ratio"] == pytest.approx(want["hr_stratified_efron"], rel=RTOL)
            assert got["hazard_ratio_ci"] == pytest.approx(want["hr_stratified_efron_ci"], rel=RTOL)
            assert got["hazard_ratio_unstratified"] == pytest.approx(want["hr_unstratified_efron"], rel=RTOL)
            assert got["hazard_ratio_unstratified_ci"] == pytest.approx(want["hr_unstratified_efron_ci"], rel=RTOL)
        else:
            for k in ("cmh_chisq", "cmh_p", "mh_common_odds_ratio", "mh_common_odds_ratio_ci"):
                assert got[k] == pytest.approx(want[k], rel=RTOL), k


@pytest.mark.parametrize("case", ["colon", "lung", "veteran", "resp1"])
def test_analyze_reproduces_reference(case, tmp_path):
    ex = json.loads((REF / case / "expected.json").read_text())
    res = _analyze(REF / case, tmp_path, "--reference-arm", ex["reference_arm"])
    assert res.exit_code == 0, res.output
    results = json.loads((tmp_path / "results.json").read_text())
    _check_case(case, results)
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html if ex["kind"] == "tte" else "CMH p" in html
    assert "http://" not in html and "https://" not in html and "<link" not in html  # self-contained


def test_analyze_reads_xpt_and_defaults_reference_arm(tmp_path):
    """XPT input detected by extension; 'Observation' is taken as the reference without --reference-arm."""
    adam = tmp_path / "adam"
    adam.mkdir()
    for name in ("adsl", "adtte"):
        write_dataset(read_dataset(REF / "colon" / f"{name}.csv"), adam / f"{name}.xpt")
    res = _analyze(adam, tmp_path / "out")
    assert res.exit_code == 0, res.output
    _check_case("colon", json.loads((tmp_path / "out" / "results.json").read_text()))


def test_report_table_shows_medians_and_hr(tmp_path):
    assert _analyze(REF / "veteran", tmp_path).exit_code == 0
    html = (tmp_path / "report.html").read_text()
    assert "52.5 [43.0, 90.0]" in html  # Test arm median (flat-at-0.5 rule) with its CI, days
    assert "1.184 [0.803, 1.746]" in html  # stratified Efron HR
    assert "0.4022" in html  # stratified log-rank p


def test_unstratified_option(tmp_path):
    assert _analyze(REF / "lung", tmp_path, "--reference-arm", "Male", "--strata", "none").exit_code == 0
    r = json.loads((tmp_path / "results.json").read_text())["parameters"]["OS"]
    ex = json.loads((REF / "lung" / "expected.json").read_text())["results"]["OS"]
    assert r["strata"] == []
    assert r["hazard_ratio"] == pytest.approx(ex["hr_unstratified_efron"], rel=RTOL)
    assert r["logrank_chisq"] == pytest.approx(ex["logrank_unstratified_chisq"], rel=RTOL)


def test_cdisc_pilot_numbers_at_risk():
    """Published: rconsortium-pilot1/output/tlf-kmplot.pdf (Figure 14-1, time to first dermatologic event, At risk)."""
    published = {
        "Placebo": [86, 75, 65, 59, 50, 47, 45, 42, 40, 35, 0],
        "Xanomeline Low Dose": [84, 58, 31, 20, 14, 12, 8, 6, 6, 5, 0],
        "Xanomeline High Dose": [84, 48, 31, 14, 7, 4, 4, 4, 4, 3, 0],
    }
    adtte = read_dataset(SHARED / "data" / "rconsortium-pilot1" / "adam" / "adtte.xpt")
    adtte = adtte[adtte["PARAMCD"] == "TTDE"]
    assert numbers_at_risk(adtte, list(range(0, 201, 20)), arm_var="TRTA") == published


def test_cdisc_pilot_through_analyze(tmp_path):
    """Three arms: placebo found as reference, an HR per active arm, and the overall 2-df log-rank."""
    adam = tmp_path / "adam"
    adam.mkdir()
    src = SHARED / "data" / "rconsortium-pilot1" / "adam"
    shutil.copy(src / "adtte.xpt", adam / "adtte.xpt")
    shutil.copy(src / "adsl.xpt", adam / "adsl.xpt")
    res = _analyze(adam, tmp_path / "out", "--arm-var", "TRT01A")
    assert res.exit_code == 0, res.output
    r = json.loads((tmp_path / "out" / "results.json").read_text())["parameters"]["TTDE"]
    assert r["reference_arm"] == "Placebo" and r["logrank_df"] == 2
    assert {a: v["n"] for a, v in r["arms"].items()} == {"Placebo": 86, "Xanomeline High Dose": 84, "Xanomeline Low Dose": 84}
    assert r["comparisons"]["Xanomeline High Dose"]["hazard_ratio"] > 1


def _bad_folder(tmp_path, mutate) -> Path:
    d = tmp_path / "bad"
    d.mkdir()
    adsl = pd.read_csv(REF / "veteran" / "adsl.csv")
    adtte = pd.read_csv(REF / "veteran" / "adtte.csv")
    adsl, adtte = mutate(adsl, adtte)
    adsl.to_csv(d / "adsl.csv", index=False)
    adtte.to_csv(d / "adtte.csv", index=False)
    return d


def _set(df, i, col, v):
    df = df.copy()
    df[col] = df[col].astype(object)
    df.loc[i, col] = v
    return df


@pytest.mark.parametrize("mutate,message", [
    (lambda s, t: (s, _set(t, 3, "AVAL", -4)), r"ADTTE \(\S+adtte.csv\): record 3 \(USUBJID VET-004, PARAMCD OS\), field AVAL: got -4"),
    (lambda s, t: (s, _set(t, 5, "AVAL", None)), r"ADTTE \(\S+adtte.csv\): record 5 \(USUBJID VET-006, PARAMCD OS\), field AVAL: got nan"),
    (lambda s, t: (s, _set(t, 2, "CNSR", 2)), r"field CNSR: got 2, expected 0 \(event\) or 1 \(censored\)"),
    (lambda s, t: (s.assign(STRAT1R=["only-here" if i == 0 else v for i, v in enumerate(s["STRAT1R"])]), t),
     r"stratum 'only-here' holds only arm"),
    (lambda s, t: (s.assign(TRT01P="Standard"), t), r"arms \['Standard'\]; expected at least two arms"),
    (lambda s, t: (s, pd.concat([t, t.iloc[[0]]])), r"no parameter could be analysed: ADTTE PARAMCD OS: 138 records for 137 subjects \(e.g. record 137, USUBJID "
     r"VET-001\); expected one record per subject"),
])
def test_bad_input_messages(tmp_path, mutate, message):
    res = _analyze(_bad_folder(tmp_path, mutate), tmp_path / "out", "--reference-arm", "Standard")
    assert res.exit_code != 0
    assert res.exception is not None
    import re

    assert re.search(message, str(res.exception)), str(res.exception)


def test_ambiguous_reference_arm_refused(tmp_path):
    res = _analyze(REF / "lung", tmp_path)
    assert "cannot tell the reference arm among ['Female', 'Male']" in str(res.exception)


def test_outcome_sections_joined_when_present(tmp_path, pilot_adam):
    """ADAE beside ADSL/ADTTE: the safety section is added to results.json and the page; ADAE alone is enough."""
    adam = pilot_adam("adsl", "adtte", "adae")
    assert _analyze(adam, tmp_path / "o1", "--arm-var", "TRT01A").exit_code == 0
    r = json.loads((tmp_path / "o1" / "results.json").read_text())
    assert "TTDE" in r["parameters"] and "safety" in r
    (adam / "adtte.xpt").unlink()
    assert _analyze(adam, tmp_path / "o2", "--reference-arm", "Placebo").exit_code == 0
    r = json.loads((tmp_path / "o2" / "results.json").read_text())
    assert r["parameters"] == {} and "safety" in r
    (adam / "adae.xpt").unlink()
    res = _analyze(adam, tmp_path / "o3")
    assert "no analysis dataset besides ADSL" in str(res.exception) and "found ['adsl.xpt']" in str(res.exception)
