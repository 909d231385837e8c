"""`ikema analyze` beyond two arms, held to R survival (tests/reference_r/analyze_reference.R -> expected.json):
RMST and its SE, RMST differences, landmarks, the joint k-arm Cox model, the global log-rank, R-exact CMH."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ikema.cli import app
from ikema.stats import cmh_tables, kaplan_meier
from ikema.stats.landmark import landmarks
from ikema.stats.rmst import rmst, rmst_difference, rmst_km

HERE = Path(__file__).resolve().parents[1] / "reference_r"
EXPECTED = json.loads((HERE / "expected.json").read_text())
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PILOT = SHARED / "data" / "safetyData-cdiscpilot01" / "csv"
RTOL = 1e-6


def approx(v):
    return None if v is None else pytest.approx(v, rel=RTOL, abs=1e-12)


def _run(tmp_path: Path, *args: str) -> dict:
    res = CliRunner().invoke(app, ["analyze", "--out", str(tmp_path), *args])
    assert res.exit_code == 0, (res.output, res.exception)
    return json.loads((tmp_path / "results.json").read_text())


def _check_tte(got: dict, want: dict) -> None:
    assert got["rmst_tau"] == approx(want["rmst_tau"])
    assert got["logrank_chisq"] == approx(want["logrank_chisq"])
    assert got["logrank_df"] == want["logrank_df"]
    assert got["logrank_p"] == approx(want["logrank_p"])
    assert set(got["arms"]) == set(want["arms"])
    for arm, w in want["arms"].items():
        g = got["arms"][arm]
        for k in ("n", "events", "median", "median_lcl", "median_ucl"):
            assert g[k] == w[k], (arm, k)
        for k in ("rmst", "rmst_se", "rmst_lcl", "rmst_ucl"):
            assert g[k] == approx(w[k]), (arm, k)
        assert len(g["landmarks"]) == len(w["landmarks"])
        for gl, wl in zip(g["landmarks"], w["landmarks"]):
            assert gl["time"] == wl["time"] and gl["n_risk"] == wl["n_risk"]
            for k in ("survival", "lcl", "ucl", "std_err"):
                assert gl[k] == approx(wl[k]), (arm, wl["time"], k)
    assert set(got["comparisons"]) == set(want["comparisons"])
    for arm, w in want["comparisons"].items():
        c = got["comparisons"][arm]
        assert c["hazard_ratio"] == approx(w["hazard_ratio"])
        assert c["hazard_ratio_ci"] == [approx(v) for v in w["hazard_ratio_ci"]]
        assert c["hazard_ratio_p"] == approx(w["hazard_ratio_p"])
        assert c["pairwise"]["hazard_ratio"] == approx(w["pairwise_hazard_ratio"])
        assert c["pairwise"]["hazard_ratio_ci"] == [approx(v) for v in w["pairwise_hazard_ratio_ci"]]
        assert c["rmst_difference"] == approx(w["rmst_difference"])
        assert c["rmst_difference_ci"] == [approx(v) for v in w["rmst_difference_ci"]]
        assert c["rmst_difference_p"] == approx(w["rmst_difference_p"])


def _case_args(case: dict) -> list[str]:
    args = ["--reference-arm", case["reference_arm"], "--strata", ",".join(case["strata"]) or "none",
            "--landmarks", ",".join(str(t) for t in case["landmarks"])]
    if "rmst_tau" in case:
        args += ["--rmst-tau", str(case["rmst_tau"])]
    if "conf_level" in case:
        args += ["--conf-level", str(case["conf_level"]), "--conf-type", case["conf_type"]]
    return args


@pytest.mark.parametrize("name,folder", [("colon3", "colon3"), ("colon3_tau1000_log90", "colon3"),
                                         ("colon3_plain", "colon3"), ("veteran4", "veteran4")])
def test_k_arms_match_r(name, folder, tmp_path):
    """Three and four arms: joint stratified Cox, global log-rank, RMST, landmarks and CI options as R."""
    case = EXPECTED["cases"][name]
    r = _run(tmp_path, "--adam", str(HERE / folder), *_case_args(case))
    got = r["parameters"]["OS"]
    assert got["strata"] == case["strata"] and r["population"]["flag"] == "ITTFL"
    assert got["logrank_df"] == len(got["arms"]) - 1 > 1
    _check_tte(got, case["results"])


@pytest.mark.parametrize("name", ["pilot_ttde", "pilot_ttde_site"])
def test_cdisc_pilot_three_arms_match_r(name, tmp_path):
    """CDISC pilot time to first dermatologic event from gzip CSV files with other names, ITT population."""
    case = EXPECTED["cases"][name]
    r = _run(tmp_path, "--adsl", str(PILOT / "adam_adsl.csv.gz"), "--adtte", str(PILOT / "adam_adtte.csv.gz"),
             *_case_args(case))
    assert r["population"] == {"flag": "ITTFL", "rule": "ITTFL = 'Y'", "n": 254, "n_adsl": 254}
    _check_tte(r["parameters"]["TTDE"], case["results"])


def _arm_data(folder: str, arm: str) -> pd.DataFrame:
    adsl = pd.read_csv(HERE / folder / "adsl.csv")
    d = pd.read_csv(HERE / folder / "adtte.csv").merge(adsl, on="USUBJID")
    return d[d["TRT01P"] == arm]


def test_rmst_functions_match_r():
    """ikema.stats.rmst directly: RMST, SE, CI and the difference to the reference (veteran, four cell types)."""
    case = EXPECTED["cases"]["veteran4"]["results"]
    tau = case["rmst_tau"]
    fits = {}
    for arm, w in case["arms"].items():
        d = _arm_data("veteran4", arm)
        fits[arm] = rmst(d["AVAL"], 1 - d["CNSR"], tau)
        assert (fits[arm].rmst, fits[arm].se) == (approx(w["rmst"]), approx(w["rmst_se"]))
        assert (fits[arm].lcl, fits[arm].ucl) == (approx(w["rmst_lcl"]), approx(w["rmst_ucl"]))
    for arm, w in case["comparisons"].items():
        diff = rmst_difference(fits[arm], fits["squamous"])
        assert (diff.difference, diff.lcl, diff.ucl, diff.p) == (approx(w["rmst_difference"]),
                                                                 approx(w["rmst_difference_ci"][0]),
                                                                 approx(w["rmst_difference_ci"][1]),
                                                                 approx(w["rmst_difference_p"]))


def test_rmst_tau_before_first_time_and_past_last():
    """Edge cases of survmean's rule: tau before any time is tau itself with SE 0; tau past the end extends S."""
    km = kaplan_meier([5.0, 8.0, 12.0], [1, 0, 1])
    early = rmst_km(km, 2.0)
    assert (early.rmst, early.se) == (2.0, 0.0)
    late = rmst_km(km, 20.0)  # S = 1 to 5, 2/3 to 12, 0 after: 5 + 7 * 2/3
    assert late.rmst == pytest.approx(5 + 7 * 2 / 3, rel=1e-12)


def test_landmarks_beyond_follow_up_are_none():
    d = _arm_data("veteran4", "adeno")
    km = kaplan_meier(d["AVAL"], 1 - d["CNSR"])
    lms = landmarks(km, [0, 365])
    assert (lms[0].survival, lms[0].lcl) == (1.0, 1.0)
    assert lms[1].survival is None and lms[1].n_risk is None


@pytest.mark.parametrize("name", ["small_delta", "two_strata", "three_strata", "no_responders"])
def test_cmh_continuity_correction_as_r(name):
    """mantelhaen.test(correct = TRUE) subtracts 0.5 only when |O - E| >= 0.5; a degenerate table gives NaN, not p = 0."""
    c = EXPECTED["cmh"][name]
    plain, corr = cmh_tables(c["tables"]), cmh_tables(c["tables"], correct=True)
    if c["p"] is None:
        assert np.isnan(plain.p) and np.isnan(corr.p) and np.isnan(corr.chisq)
        return
    assert (plain.chisq, plain.p) == (approx(c["chisq"]), approx(c["p"]))
    assert (corr.chisq, corr.p) == (approx(c["chisq_corrected"]), approx(c["p_corrected"]))
    if abs(c["delta"]) < 0.5:
        assert corr.chisq == plain.chisq  # no correction below |O - E| = 0.5 (statsmodels would subtract it)
    else:
        assert corr.chisq < plain.chisq


def test_response_corrected_cmh_through_analyze(tmp_path):
    """resp1 (shared reference ADRS): the corrected CMH of results.json equals R's; comparisons hold the arm."""
    r = _run(tmp_path, "--adam", str(SHARED / "reference" / "survival" / "resp1"), "--reference-arm", "Control")
    c = r["parameters"]["ORR"]["comparisons"]["Experimental"]
    assert c["cmh_chisq_corrected"] == approx(EXPECTED["resp1"]["cmh_chisq_corrected"])
    assert c["cmh_p_corrected"] == approx(EXPECTED["resp1"]["cmh_p_corrected"])
    assert r["parameters"]["ORR"]["cmh_p_corrected"] == c["cmh_p_corrected"]
