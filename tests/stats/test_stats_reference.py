"""Every case of ../shared/reference/survival (R 4.2.2, survival 3.5.3) reproduced through ikema.stats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ikema.stats import clopper_pearson, cmh, coxph, kaplan_meier, logrank

REF = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "survival"
TTE_CASES = ["colon", "lung", "veteran"]
RTOL = 1e-6


def _na(v):
    return None if v == "NA" else v


def _tte(case):
    ex = json.loads((REF / case / "expected.json").read_text())
    d = pd.read_csv(REF / case / "adtte.csv").merge(pd.read_csv(REF / case / "adsl.csv"), on="USUBJID")
    d = d[d["PARAMCD"] == "OS"]
    strata = d[ex["strata"]].astype(str).agg("/".join, axis=1)
    return ex, d, strata


@pytest.mark.parametrize("case", TTE_CASES)
def test_km_medians_exact(case):
    ex, d, _ = _tte(case)
    for arm, want in ex["results"]["OS"]["arms"].items():
        x = d[d["TRT01P"] == arm]
        km = kaplan_meier(x["AVAL"], 1 - x["CNSR"])
        assert km.n == want["n"] and km.events == want["events"]
        assert (km.median, km.median_lcl, km.median_ucl) == (_na(want["median"]), _na(want["median_lcl"]), _na(want["median_ucl"]))


@pytest.mark.parametrize("case", TTE_CASES)
def test_logrank_and_cox(case):
    ex, d, strata = _tte(case)
    r = ex["results"]["OS"]
    exp = ex["experimental_arm"]
    grp = np.where(d["TRT01P"] == exp, "2 experimental", "1 reference")
    t, e, x = d["AVAL"], 1 - d["CNSR"], (d["TRT01P"] == exp).astype(float)
    s = logrank(t, e, grp, strata)
    assert s.chisq == pytest.approx(r["logrank_stratified_chisq"], rel=RTOL)
    assert s.p == pytest.approx(r["logrank_stratified_p"], rel=RTOL)
    assert logrank(t, e, grp).chisq == pytest.approx(r["logrank_unstratified_chisq"], rel=RTOL)
    f = coxph(t, e, x, strata)
    assert f.hazard_ratio[0] == pytest.approx(r["hr_stratified_efron"], rel=RTOL)
    assert [f.hr_lcl[0], f.hr_ucl[0]] == pytest.approx(r["hr_stratified_efron_ci"], rel=RTOL)
    f = coxph(t, e, x)
    assert f.hazard_ratio[0] == pytest.approx(r["hr_unstratified_efron"], rel=RTOL)
    assert [f.hr_lcl[0], f.hr_ucl[0]] == pytest.approx(r["hr_unstratified_efron_ci"], rel=RTOL)
    assert coxph(t, e, x, strata, ties="breslow").hazard_ratio[0] == pytest.approx(r["hr_stratified_breslow"], rel=RTOL)


def test_unstratified_score_test_is_logrank_without_ties():
    """With no tied times the Cox score test equals the log-rank chi-square (domain_rules 7.2)."""
    ex, d, _ = _tte("lung")
    d = d.drop_duplicates("AVAL")
    grp = (d["TRT01P"] == ex["experimental_arm"]).astype(int)
    f = coxph(d["AVAL"], 1 - d["CNSR"], grp)
    assert f.score_chisq == pytest.approx(logrank(d["AVAL"], 1 - d["CNSR"], grp).chisq, rel=1e-10)


def test_resp1_cmh_and_clopper_pearson():
    ex = json.loads((REF / "resp1" / "expected.json").read_text())
    d = pd.read_csv(REF / "resp1" / "adrs.csv").merge(pd.read_csv(REF / "resp1" / "adsl.csv"), on="USUBJID")
    r = ex["results"]["ORR"]
    strata = d[ex["strata"]].astype(str).agg("/".join, axis=1)
    # the reference ran mantelhaen.test without continuity correction, reference arm in the first row
    res = cmh(d["RESPFL"], d["TRT01P"], strata, reference=ex["experimental_arm"], correct=False)
    assert res.chisq == pytest.approx(r["cmh_chisq"], rel=RTOL)
    assert res.p == pytest.approx(r["cmh_p"], rel=RTOL)
    assert res.common_odds_ratio == pytest.approx(r["mh_common_odds_ratio"], rel=RTOL)
    assert [res.or_lcl, res.or_ucl] == pytest.approx(r["mh_common_odds_ratio_ci"], rel=RTOL)
    assert cmh(d["RESPFL"], d["TRT01P"], strata, correct=True).chisq < res.chisq
    for arm, want in r["arms"].items():
        x = d[d["TRT01P"] == arm]
        k = int((x["RESPFL"] == "Y").sum())
        assert (len(x), k) == (want["n"], want["responders"])
        assert clopper_pearson(k, len(x)) == pytest.approx((want["cp_lcl"], want["cp_ucl"]), rel=RTOL)
