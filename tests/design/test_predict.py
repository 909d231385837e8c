"""Event prediction (ikema.design.predict) on synthetic trials with known accrual, event and dropout laws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from ikema.design.predict import (
    AT_RISK, DROPOUT, EVENT, PredictionError, fit_accrual, predict_event_days, select_hazard_model,
)


def synthetic_trial(rng, n_total=300, n_now=240, accrual_per_day=0.5, event=("exp", 1 / 400), dropout_rate=1 / 3000):
    """Entry days (as-of = 0), observed times and states of the first `n_now` subjects, and the true day of every
    event in the complete trial (subjects entered later included), from a Poisson accrual."""
    entry = np.cumsum(rng.standard_exponential(n_total)) / accrual_per_day
    entry = entry - entry[n_now - 1] - rng.uniform(0, 1)  # the as-of day falls after the n_now-th entry
    kind, a, *b = event
    u = rng.standard_exponential(n_total)
    t_ev = u / a if kind == "exp" else b[0] * u ** (1 / a)  # exponential rate a, or Weibull shape a, scale b
    t_do = rng.standard_exponential(n_total) / dropout_rate
    ev_day = np.where(t_ev < t_do, entry + t_ev, np.inf)
    now = slice(0, n_now)
    follow = -entry[now]
    t = np.minimum.reduce([t_ev[now], t_do[now], follow])
    state = np.where(t == t_ev[now], EVENT, np.where(t == t_do[now], DROPOUT, AT_RISK))
    return entry[now], t, state, np.sort(ev_day)


def test_exponential_events_recover_rate_model_and_date():
    rng = np.random.default_rng(20240601)
    entry, t, state, truth = synthetic_trial(rng, n_total=300, n_now=300, event=("exp", 1 / 400), dropout_rate=1e-9)
    choice = select_hazard_model(t, (state == EVENT).astype(int), "events")
    assert choice.model == "exponential"
    rate, se = np.exp(choice.fit.theta[0]), np.sqrt(choice.fit.cov[0, 0])
    assert abs(np.log(rate) - np.log(1 / 400)) < 3 * se
    observed = int((state == EVENT).sum())
    k = observed + 60
    pred = predict_event_days(entry, t, state, planned=300, targets=[k], rng=np.random.default_rng(1), replicates=4000)
    # all 300 entered, no dropout: the expected events by day x are observed + sum over those at risk of
    # 1 - exp(-rate (x - censoring day)); with the fitted rate its root at k - 1/2 is the median within a few days
    risk = state == AT_RISK
    cens_day = entry[risk] + t[risk]
    expected = lambda x: observed + np.sum(1 - np.exp(-rate * np.maximum(x - cens_day, 0))) - (k - 0.5)  # noqa: E731
    x = optimize.brentq(expected, 0, 5000)
    assert pred.median_day[0] == pytest.approx(x, abs=6)
    assert pred.lower_day[0] < truth[k - 1] < pred.upper_day[0]
    assert pred.events.model == "exponential" and pred.accrual.model == "complete" and pred.dropout.model == "none"


def test_weibull_with_clear_shape_is_chosen_and_recovered():
    rng = np.random.default_rng(7)
    entry, t, state, _ = synthetic_trial(rng, n_total=300, n_now=300, event=("weib", 2.0, 500.0))
    choice = select_hazard_model(t, (state == EVENT).astype(int), "events")
    assert choice.model == "weibull" and "smallest AIC" in choice.reason
    shape, scale = np.exp(choice.fit.theta)
    se = np.sqrt(np.diag(choice.fit.cov))
    assert abs(np.log(shape) - np.log(2.0)) < 3 * se[0] and abs(np.log(scale) - np.log(500.0)) < 3 * se[1]
    aics = {c["model"]: c["delta_aic"] for c in choice.candidates}
    assert aics["exponential"] > 10 and aics["weibull"] == 0
    assert choice.as_dict()["weights"]["weibull"] > 0.5 > choice.as_dict()["weights"]["exponential"]


def test_accrual_rate_constant_or_recent():
    rng = np.random.default_rng(3)
    entry = -np.sort(rng.uniform(0, 600, 300))[::-1]
    flat = fit_accrual(entry, planned=400)
    assert flat.model == "constant" and flat.rate_per_day == pytest.approx(299 / -entry[0])
    assert abs(np.log(flat.rate_per_day / 0.5)) < 3 * np.sqrt(flat.log_rate_var)
    # the rate doubles in the last third: the last third's rate is projected
    late = np.r_[-np.sort(rng.uniform(200, 600, 160)), -np.sort(rng.uniform(0, 200, 160))]
    steps = fit_accrual(np.sort(late), planned=400)
    assert steps.model == "piecewise" and steps.remaining == 80
    assert abs(np.log(steps.rate_per_day / 0.8)) < 3 * np.sqrt(steps.log_rate_var)
    assert fit_accrual(entry, planned=300).model == "complete"


def test_interval_covers_the_true_date_about_as_often_as_stated():
    """100 synthetic trials (accrual continuing, Weibull events, exponential dropouts): the 90% interval for the
    event count 40 beyond the observed covers the true date in about 90 of them (binomial sd 3)."""
    rng = np.random.default_rng(2024)
    covered = 0
    for _ in range(100):
        entry, t, state, truth = synthetic_trial(rng, n_total=260, n_now=200, event=("weib", 1.3, 600.0), dropout_rate=1 / 1500)
        k = int((state == EVENT).sum()) + 40
        pred = predict_event_days(entry, t, state, planned=260, targets=[k], rng=rng, replicates=500)
        covered += pred.lower_day[0] <= truth[k - 1] <= pred.upper_day[0]
    assert 82 <= covered <= 97


def test_same_seed_same_prediction_other_seed_differs():
    entry, t, state, _ = synthetic_trial(np.random.default_rng(5), n_total=300, n_now=250)
    k = int((state == EVENT).sum()) + 30
    run = lambda seed: predict_event_days(entry, t, state, planned=300, targets=[k, k + 20],  # noqa: E731
                                          rng=np.random.default_rng(seed), replicates=1200)
    a, b, c = run(11), run(11), run(12)
    assert np.array_equal(a.target_days, b.target_days) and a.as_dict() == b.as_dict()
    assert not np.array_equal(a.target_days, c.target_days)
    assert a.median_day[0] < a.median_day[1]
    ticks = []
    predict_event_days(entry, t, state, planned=300, targets=[k], rng=np.random.default_rng(11), replicates=1200,
                       progress=lambda done, total: ticks.append((done, total)))
    assert ticks == [(500, 1200), (1000, 1200), (1200, 1200)]


def test_unreachable_target_is_reported_not_dated():
    entry, t, state, _ = synthetic_trial(np.random.default_rng(9), n_total=100, n_now=100, dropout_rate=1 / 300)
    pred = predict_event_days(entry, t, state, planned=100, targets=[100], rng=np.random.default_rng(1), replicates=200)
    assert pred.share_reached[0] < 0.5 and pred.median_day[0] is None


@pytest.mark.parametrize("targets,fragment", [
    ([5], "events: got target 5, expected more than the"),
    ([400], "events: got target 400, expected at most the 300 planned subjects"),
    ([10.5], "events: got 10.5, expected whole numbers"),
    ([], "events: got no target"),
])
def test_bad_targets_are_refused(targets, fragment):
    entry, t, state, _ = synthetic_trial(np.random.default_rng(5), n_total=300, n_now=250)
    with pytest.raises(PredictionError, match=fragment):
        predict_event_days(entry, t, state, planned=300, targets=targets, rng=np.random.default_rng(1))


def test_bad_records_are_refused_naming_the_field():
    with pytest.raises(PredictionError, match="record 1, field entry: got 3"):
        predict_event_days([-5, 3], [1, 1], [1, 0], planned=10, targets=[2], rng=np.random.default_rng(1))
    with pytest.raises(PredictionError, match="record 0, field status: got 4"):
        predict_event_days([-5, -3], [1, 1], [4, 0], planned=10, targets=[2], rng=np.random.default_rng(1))
    with pytest.raises(PredictionError, match="no event observed yet"):
        predict_event_days([-5, -3], [1, 1], [0, 0], planned=10, targets=[2], rng=np.random.default_rng(1))
