"""More R survival 3.5.3 / R 4.2.2 numbers (computed with Rscript on the shared reference data, code in each docstring)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ikema.cdisc.io import read_dataset
from ikema.stats import cmh, coxph, kaplan_meier, logrank

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
REF = SHARED / "reference" / "survival"


def _case(case):
    return pd.read_csv(REF / case / "adtte.csv").merge(pd.read_csv(REF / case / "adsl.csv"), on="USUBJID")


def test_km_pointwise_loglog_and_log_cis():
    """summary(survfit(Surv(AVAL, 1-CNSR) ~ 1, data=veteran Standard, conf.type='log-log'), times=c(30,100,250,500));
    std.err there is the SE of S (= S x Greenwood SE of log S). Default conf.type='log' at times 30, 100, 250."""
    d = _case("veteran")
    x = d[d["TRT01P"] == "Standard"]
    km = kaplan_meier(x["AVAL"], 1 - x["CNSR"])
    t = np.array([30, 100, 250, 500])
    i = np.searchsorted(km.time, t, side="right") - 1
    assert km.surv[i] == pytest.approx([0.72406933788008, 0.50198084348829, 0.141617859491054, 0.0177022324363818], rel=1e-10)
    assert km.lower[i] == pytest.approx([0.602147702817031, 0.37843373173179, 0.0682157322153648, 0.0014764839285899], rel=1e-10)
    assert km.upper[i] == pytest.approx([0.814234584808399, 0.6133534773055, 0.241018498616027, 0.0823568710314056], rel=1e-10)
    assert km.surv[i] * km.std_err[i] == pytest.approx([0.0538852368930517, 0.0606397567872004, 0.0448430092121965,
                                                       0.0174819377037503], rel=1e-10)
    kl = kaplan_meier(x["AVAL"], 1 - x["CNSR"], conf_type="log")
    assert kl.lower[i[:3]] == pytest.approx([0.625797381743964, 0.396151403661802, 0.076135424970245], rel=1e-10)
    assert kl.upper[i[:3]] == pytest.approx([0.83777340933746, 0.636081974972219, 0.263420321547637], rel=1e-10)
    assert (kl.median, kl.median_lcl, kl.median_ucl) == (103, 59, 132)  # print(survfit(...)) with the log CI


def test_cox_global_tests_colon():
    """coxph(Surv(AVAL,1-CNSR) ~ arm + strata(STRAT1R, STRAT2R)) on colon: summary()$logtest, $sctest, fit$loglik, fit$var;
    the same with ties='breslow': $sctest and $loglik."""
    d = _case("colon")
    x = (d["TRT01P"] == "Lev+5FU").astype(float)
    s = d["STRAT1R"] + "/" + d["STRAT2R"]
    f = coxph(d["AVAL"], 1 - d["CNSR"], x, s)
    assert f.lr_chisq == pytest.approx(9.49213298461655, rel=1e-6)
    assert f.score_chisq == pytest.approx(9.46948494062841, rel=1e-9)
    assert [f.loglik_null, f.loglik] == pytest.approx([-1408.24083175952, -1403.49476526721], rel=1e-10)
    assert f.var[0, 0] == pytest.approx(0.0141755822204323, rel=1e-6)
    assert f.wald_chisq == pytest.approx(9.37, abs=0.005)  # summary() prints it rounded to 2 decimals
    b = coxph(d["AVAL"], 1 - d["CNSR"], x, s, ties="breslow")
    assert b.score_chisq == pytest.approx(9.46417645623701, rel=1e-9)
    assert [b.loglik_null, b.loglik] == pytest.approx([-1408.34320527453, -1403.59978104468], rel=1e-10)


def test_logrank_three_arms_cdisc_pilot():
    """survdiff(Surv(AVAL, 1-CNSR) ~ TRTA, data=read.xport('rconsortium-pilot1/adam/adtte.xpt')): chisq, obs, exp."""
    a = read_dataset(SHARED / "data" / "rconsortium-pilot1" / "adam" / "adtte.xpt")
    lr = logrank(a["AVAL"], 1 - a["CNSR"], a["TRTA"])
    assert lr.groups == ["Placebo", "Xanomeline High Dose", "Xanomeline Low Dose"]
    assert lr.df == 2
    assert lr.chisq == pytest.approx(60.2695567390281, rel=1e-9)
    assert lr.observed.tolist() == [29, 61, 62]
    assert lr.expected == pytest.approx([74.268380529131, 35.3730881189226, 42.3585313519465], rel=1e-10)


def test_cmh_with_continuity_correction():
    """mantelhaen.test(table(arm [Experimental, Control], RESPFL [Y, N], STRAT1R x STRAT2R), correct=TRUE) on resp1."""
    ex = json.loads((REF / "resp1" / "expected.json").read_text())
    d = pd.read_csv(REF / "resp1" / "adrs.csv").merge(pd.read_csv(REF / "resp1" / "adsl.csv"), on="USUBJID")
    r = cmh(d["RESPFL"], d["TRT01P"], d["STRAT1R"] + "/" + d["STRAT2R"], reference="Control", correct=True)
    assert [r.chisq, r.p] == pytest.approx([0.0175284369917505, 0.894671866399276], rel=1e-9)
    assert [r.common_odds_ratio, r.or_lcl, r.or_ucl] == pytest.approx([0.913581366963515, 0.49429377738335,
                                                                       1.68853210833691], rel=1e-9)
    assert r.common_odds_ratio == pytest.approx(1 / ex["results"]["ORR"]["mh_common_odds_ratio"], rel=1e-12)


def test_quantile_method_matches_median():
    d = _case("colon")
    x = d[d["TRT01P"] == "Observation"]
    km = kaplan_meier(x["AVAL"], 1 - x["CNSR"])
    assert km.quantile(0.5) == (2083, 1548, 2552)
    assert km.survival_at([0, km.time[0] - 0.5, km.time[-1]]).tolist()[:2] == [1.0, 1.0]
    assert km.n_risk_at([0])[0] == 315


@pytest.mark.parametrize("time,event,probs,want", [
    # curve ends flat at exactly 0.5: survfit takes the midpoint of the last jump and the last time
    ([1, 2, 3, 4], [1, 1, 0, 0], [0.5], [(3, 1, None)]),
    ([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 1, 0], [0.25, 0.5], [(2, 1, 5), (4, 1, None)]),
    ([5, 5, 5, 5], [1, 1, 1, 1], [0.5], [(5, None, None)]),
    ([2, 4, 4, 7, 9, 9, 12, 15, 20, 22], [1, 1, 0, 1, 1, 1, 0, 1, 0, 1], [0.25, 0.5, 0.75],
     [(7, 2, 9), (9, 2, None), (22, 9, None)]),
])
def test_quantile_rules_small_cases(time, event, probs, want):
    """quantile(survfit(Surv(time, event) ~ 1, conf.type='log-log'), probs): $quantile, $lower, $upper (NA = None)."""
    km = kaplan_meier(time, event)
    assert [km.quantile(p) for p in probs] == want


def test_near_tied_times_are_tied_as_r_timefix():
    """survival's aeqSurv: 2 and 2 + 1e-12 are one tied time, so KM, log-rank and Cox see a tie as R does."""
    t = np.array([1.0, 2.0, 2.0 + 1e-12, 3.0, 4.0, 5.0])
    e = [1, 1, 1, 0, 1, 1]
    km = kaplan_meier(t, e)
    assert km.time.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert km.n_event.tolist() == [1, 2, 0, 1, 1]
    g = [0, 1, 0, 1, 0, 1]
    assert logrank(t, e, g).chisq == pytest.approx(logrank(np.round(t), e, g).chisq, rel=1e-14)
    assert coxph(t, e, g).coef[0] == pytest.approx(coxph(np.round(t), e, g).coef[0], rel=1e-12)
