"""Parametric survival fits (ikema.stats.parametric) against R survival 3.5.3 / R 4.2.2 on the veteran Standard arm.

R code (Rscript, run from the worktree):
    library(survival)
    d <- merge(read.csv("../shared/reference/survival/veteran/adtte.csv"),
               read.csv("../shared/reference/survival/veteran/adsl.csv"), by = "USUBJID")
    x <- d[d$TRT01P == "Standard", ]
    w <- survreg(Surv(AVAL, 1 - CNSR) ~ 1, data = x, dist = "weibull")      # coef, log(w$scale), w$loglik, vcov(w)
    e <- survreg(Surv(AVAL, 1 - CNSR) ~ 1, data = x, dist = "exponential")  # coef, e$loglik, vcov(e)
    s <- survSplit(Surv(AVAL, 1 - CNSR) ~ ., data = x, cut = c(50, 150), episode = "piece")
    s$expo <- s$AVAL - s$tstart
    g <- glm(event ~ factor(piece) - 1 + offset(log(expo)), family = poisson, data = s)   # exp(coef(g))
    r <- exp(coef(g)); dj <- tapply(s$event, s$piece, sum); Ej <- tapply(s$expo, s$piece, sum)
    sum(dj * log(r) - r * Ej)                                                  # piecewise log-likelihood
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ikema.stats._checks import StatsInputError
from ikema.stats.parametric import (
    event_quantile_knots, fit_exponential, fit_piecewise, fit_weibull,
)

REF = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "survival" / "veteran"


@pytest.fixture(scope="module")
def standard():
    d = pd.read_csv(REF / "adtte.csv").merge(pd.read_csv(REF / "adsl.csv"), on="USUBJID")
    x = d[d["TRT01P"] == "Standard"]
    return x["AVAL"].to_numpy(float), (1 - x["CNSR"]).to_numpy()


def test_weibull_matches_survreg(standard):
    fit = fit_weibull(*standard)
    intercept, log_scale = 4.8163547262117099, 0.0146361454058426
    assert fit.theta == pytest.approx([-log_scale, intercept], rel=1e-6)  # shape = 1 / survreg scale
    assert fit.loglik == pytest.approx(-372.5595393510063786, rel=1e-9)
    # survreg's vcov is for (intercept, log scale); ours for (log shape, log scale) = (-log scale_sr, intercept)
    assert fit.cov[1, 1] == pytest.approx(0.01724624080316356, rel=1e-6)
    assert fit.cov[0, 0] == pytest.approx(0.00978772735952587, rel=1e-6)
    assert fit.cov[0, 1] == pytest.approx(0.00336532181793071, rel=1e-6)
    assert fit.aic == pytest.approx(2 * 2 + 2 * 372.5595393510063786, rel=1e-9)


def test_exponential_matches_survreg(standard):
    fit = fit_exponential(*standard)
    assert -fit.theta[0] == pytest.approx(4.8214149946856688, rel=1e-9)
    assert fit.loglik == pytest.approx(-372.5705597191132483, rel=1e-9)
    assert fit.cov[0, 0] == pytest.approx(0.0156249999855394, rel=1e-6)  # 1 / 64 events
    assert fit.median() == pytest.approx(np.log(2) * np.exp(4.8214149946856688), rel=1e-9)


def test_piecewise_matches_poisson_glm(standard):
    fit = fit_piecewise(*standard, knots=(0.0, 50.0, 150.0))
    assert np.exp(fit.theta) == pytest.approx([0.00813910475407144, 0.00755667506479067, 0.00871248789932243], rel=1e-6)
    assert fit.loglik == pytest.approx(-372.465389904758, rel=1e-9)
    # glm's variances of the log rates (IRLS to its tolerance) are 1 / events per piece: 22, 24, 18
    assert np.diag(fit.cov) == pytest.approx([1 / 22, 1 / 24, 1 / 18], rel=1e-12)
    assert np.diag(fit.cov) == pytest.approx([0.0454492332004610, 0.0416657526063695, 0.0555555483245261], rel=1e-3)


@pytest.mark.parametrize("make", [
    lambda t, e: fit_exponential(t, e), lambda t, e: fit_weibull(t, e),
    lambda t, e: fit_piecewise(t, e, event_quantile_knots(t, e, 3)),
])
def test_inverse_cumulative_hazard_inverts(standard, make):
    fit = make(*standard)
    rng = np.random.default_rng(3)
    theta = fit.draw(rng, 5)
    t = rng.uniform(0, 900, (5, 40))
    assert fit.inverse_cumhaz(fit.cumhaz(t, theta), theta) == pytest.approx(t, rel=1e-9, abs=1e-9)
    assert fit.cumhaz(np.array([[fit.median()]]))[0, 0] == pytest.approx(np.log(2), rel=1e-12)


def test_event_quantile_knots_split_events_in_thirds(standard):
    t, e = standard
    knots = event_quantile_knots(t, e, 3)
    assert knots[0] == 0 and len(knots) == 3
    pieces = np.searchsorted(knots, t[e == 1], side="right") - 1
    assert np.bincount(pieces).tolist() == pytest.approx([21, 22, 21], abs=1)


def test_bad_input_is_refused():
    with pytest.raises(StatsInputError, match="no events"):
        fit_exponential([1.0, 2.0], [0, 0])
    with pytest.raises(StatsInputError, match="field time: got 0.0 for an event"):
        fit_weibull([0.0, 2.0, 3.0], [1, 1, 0])
    with pytest.raises(StatsInputError, match="fewer than 2 distinct event times"):
        fit_weibull([2.0, 2.0, 3.0], [1, 1, 0])
    with pytest.raises(StatsInputError, match="field knots"):
        fit_piecewise([1.0, 2.0], [1, 1], knots=(1.0, 2.0))
    with pytest.raises(StatsInputError, match="no events in the piece starting at 5"):
        fit_piecewise([1.0, 2.0, 9.0], [1, 1, 0], knots=(0.0, 5.0))
