"""Event prediction for a blinded trial in progress: when will the pooled event count reach each target?

Input (trial-independent): for each subject entered so far, the entry day relative to the as-of date (<= 0), the
time from entry to its event or censoring, and its state: 0 censored and still followed (at risk), 1 event,
2 dropped out (censored and no longer followed: no later event can count); the planned number of subjects.

Method (Bagiella and Heitjan, Stat Med 2001; Ying and Heitjan 2008, with parameter uncertainty):
  1. models: events and dropouts each get a cause-specific hazard (the other outcomes censored), fitted as
     exponential, Weibull and piecewise-exponential (knots at the event-time tertiles) by maximum likelihood
     (ikema.stats.parametric) and compared by AIC. Each simulated replicate uses one model, drawn with its
     Akaike weight exp(-dAIC/2) / sum (model averaging, Burnham and Anderson 2002): the best fit dominates when
     the data tell the models apart, and when they do not, the interval carries that uncertainty instead of
     betting on one shape (400 synthetic trials, 90% intervals: with Weibull events of shape 1.3 the
     smallest-AIC model alone covered the true date in 85%, the weighted mixture in 88%; with exponential
     events 89% and 95%). AIC rather than likelihood-ratio tests because the
     candidates are not all nested (Weibull and piecewise); the piecewise model's data-chosen knots are not
     counted as parameters, which favours it slightly. Accrual is a Poisson process: a constant rate since the first entry against a rate
     per third of the elapsed time (the last third's rate projected), also by AIC.
  2. simulation: each replicate draws the parameters from the normal approximation of their MLE (log scale),
     then for every subject at risk an event time and a dropout time after its censoring time (inverse
     cumulative hazard, conditional on survival so far), the entry days of the subjects still to come until
     the planned number, and their event and dropout times. An event counts if it comes before the dropout.
  3. for each target K, the day of the K-th event (observed and simulated together) in each replicate: its
     median and the central `level` interval; replicates that never reach K (too few subjects left) are
     counted and shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ikema.errors import InputError
from ikema.stats.parametric import (
    ParametricFit, event_quantile_knots, fit_exponential, fit_piecewise, fit_weibull,
)

AT_RISK, EVENT, DROPOUT = 0, 1, 2
PIECES = 3  # piecewise-exponential pieces (events) and accrual periods
MIN_EVENTS_WEIBULL = 5
MIN_EVENTS_PER_PIECE = 5
CHUNK = 500  # replicates simulated at a time (the progress bar's step; results do not depend on it)
NEVER = 1e12  # stands for "not reached" in quantiles


class PredictionError(InputError):
    """Data or targets given to the event prediction break its contract."""


@dataclass(frozen=True)
class ModelChoice:
    """The models for one hazard (events or dropouts): every candidate fitted, its Akaike weight, and the reason."""

    outcome: str
    fits: tuple[ParametricFit, ...]
    weights: np.ndarray
    candidates: list[dict]
    reason: str

    @property
    def fit(self) -> ParametricFit | None:
        """The best-fitting model (smallest AIC), None when there is nothing to fit."""
        return self.fits[int(np.argmax(self.weights))] if self.fits else None

    @property
    def model(self) -> str:
        """Name of the best-fitting model ("none" when there is nothing to fit)."""
        return self.fit.model if self.fit is not None else "none"

    def draw(self, rng: np.random.Generator, size: int) -> list[tuple[np.ndarray, ParametricFit, np.ndarray]]:
        """For `size` replicates: (rows, model, parameter rows) per model, each replicate's model drawn by weight."""
        if not self.fits:
            return []
        pick = rng.choice(len(self.fits), size=size, p=self.weights)
        return [(pick == j, f, f.draw(rng, int((pick == j).sum()))) for j, f in enumerate(self.fits)]

    def as_dict(self) -> dict:
        """JSON-ready description."""
        return {"outcome": self.outcome, "model": self.model, "criterion": "AIC (Akaike weights)", "reason": self.reason,
                "weights": {f.model: float(w) for f, w in zip(self.fits, self.weights)},
                "estimate": self.fit.describe() if self.fit is not None else None, "candidates": self.candidates}


@dataclass(frozen=True)
class AccrualFit:
    """Poisson accrual: the rate projected (per day), its log-scale variance, and the candidates."""

    model: str
    rate_per_day: float
    log_rate_var: float
    entered: int
    planned: int
    candidates: list[dict]
    reason: str

    @property
    def remaining(self) -> int:
        """Subjects still to enter."""
        return max(self.planned - self.entered, 0)

    def as_dict(self) -> dict:
        """JSON-ready description."""
        return {"model": self.model, "criterion": "AIC", "reason": self.reason, "rate_per_day": self.rate_per_day,
                "rate_per_month": self.rate_per_day * 30.4375, "entered": self.entered, "planned": self.planned,
                "remaining": self.remaining, "candidates": self.candidates}


@dataclass(frozen=True)
class EventPrediction:
    """Per target: the median day of reaching it (relative to the as-of day) and the central interval."""

    targets: tuple[int, ...]
    median_day: tuple[float | None, ...]
    lower_day: tuple[float | None, ...]
    upper_day: tuple[float | None, ...]
    share_reached: tuple[float, ...]
    level: float
    replicates: int
    observed_events: int
    at_risk: int
    dropouts: int
    events: ModelChoice
    dropout: ModelChoice
    accrual: AccrualFit
    target_days: np.ndarray = field(repr=False)  # replicates x targets (NEVER where not reached)

    def as_dict(self) -> dict:
        """JSON-ready summary (days relative to the as-of day)."""
        return {
            "level": self.level, "replicates": self.replicates, "observed_events": self.observed_events,
            "at_risk": self.at_risk, "dropouts": self.dropouts,
            "targets": [{"events": k, "median_day": m, "lower_day": lo, "upper_day": hi, "share_reached": s}
                        for k, m, lo, hi, s in zip(self.targets, self.median_day, self.lower_day, self.upper_day,
                                                   self.share_reached)],
            "event_model": self.events.as_dict(), "dropout_model": self.dropout.as_dict(),
            "accrual_model": self.accrual.as_dict(),
        }


def select_hazard_model(time: np.ndarray, event: np.ndarray, outcome: str, pieces: int = PIECES) -> ModelChoice:
    """Fit exponential, Weibull and piecewise-exponential hazards; weigh them by AIC (Akaike weights)."""
    d = int(np.sum(event))
    if d == 0:
        return ModelChoice(outcome, (), np.zeros(0), [], f"no {outcome} observed: hazard taken as 0")
    fits: list[ParametricFit] = [fit_exponential(time, event, outcome)]
    skipped: list[dict] = []
    distinct = len(np.unique(time[event == 1]))
    if d >= MIN_EVENTS_WEIBULL and distinct >= 2:
        fits.append(fit_weibull(time, event, outcome))
    else:
        skipped.append({"model": "weibull", "skipped": f"{d} {outcome} at {distinct} distinct times, fewer than "
                                                       f"{MIN_EVENTS_WEIBULL} or 2"})
    knots = event_quantile_knots(time, event, pieces)
    if d >= MIN_EVENTS_PER_PIECE * pieces and len(knots) == pieces:
        fits.append(fit_piecewise(time, event, knots, outcome))
    else:
        skipped.append({"model": "piecewise", "skipped": f"{d} {outcome}, fewer than {MIN_EVENTS_PER_PIECE} per piece "
                                                         f"for {pieces} pieces"})
    delta = np.array([f.aic for f in fits]) - min(f.aic for f in fits)
    weights = np.exp(-delta / 2) / np.exp(-delta / 2).sum()
    rows = [{**f.describe(), "delta_aic": float(x), "weight": float(w)} for f, x, w in zip(fits, delta, weights)] + skipped
    best = fits[int(np.argmax(weights))]
    shares = ", ".join(f"{f.model} {w:.0%}" for f, w in sorted(zip(fits, weights), key=lambda fw: -fw[1]))
    reason = (f"{best.model} has the smallest AIC ({best.aic:.1f}); each simulation uses one model drawn by its "
              f"Akaike weight ({shares})")
    if skipped:
        reason += "; " + "; ".join(f"{x['model']} not fitted: {x['skipped']}" for x in skipped)
    return ModelChoice(outcome, tuple(fits), weights, rows, reason)


def fit_accrual(entry: np.ndarray, planned: int, pieces: int = PIECES) -> AccrualFit:
    """Poisson accrual from the entry days (<= 0, as-of = 0): constant rate or a rate per period, by AIC."""
    e = np.sort(np.asarray(entry, float))
    n = len(e)
    span = float(-e[0])
    if n >= planned:
        return AccrualFit("complete", 0.0, 0.0, n, planned, [], f"accrual complete ({n} of {planned} entered)")
    if span <= 0 or n < 2:
        raise PredictionError(f"accrual: {n} subject(s) entered over {span:g} days; expected at least 2 entries "
                              "before the as-of date to estimate the accrual rate")
    arrivals = e[1:] - e[0]  # the first entry starts the process
    total = n - 1
    const_ll = total * np.log(total / span) - total
    cands = [{"model": "constant", "rate_per_day": total / span, "loglik": float(const_ll), "aic": float(2 - 2 * const_ll)}]
    edges = np.linspace(0.0, span, pieces + 1)
    counts = np.histogram(arrivals, bins=edges)[0]
    width = span / pieces
    chosen = ("constant", total / span, 1.0 / total)
    if (counts > 0).all():
        ll = float((counts * np.log(counts / width) - counts).sum())
        cands.append({"model": "piecewise", "rate_per_day": float(counts[-1] / width), "rates_per_day": list(counts / width),
                      "period_days": width, "loglik": ll, "aic": 2 * pieces - 2 * ll})
        if cands[1]["aic"] < cands[0]["aic"]:
            chosen = ("piecewise", float(counts[-1] / width), 1.0 / float(counts[-1]))
    else:
        cands.append({"model": "piecewise", "skipped": "a period without entries"})
    best = min((c for c in cands if "aic" in c), key=lambda c: c["aic"])
    for c in cands:
        if "aic" in c:
            c["delta_aic"] = c["aic"] - best["aic"]
    reason = (f"smallest AIC ({best['aic']:.1f}); the rate of the last {width:.0f} days projected" if chosen[0] == "piecewise"
              else f"smallest AIC ({best['aic']:.1f}); the rate since the first entry projected")
    return AccrualFit(chosen[0], chosen[1], chosen[2], n, planned, cands, reason)


def check_inputs(entry: object, time: object, status: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated float entry days (<= 0), times (>= 0) and states (0 at risk, 1 event, 2 dropout)."""
    e, t, s = (np.asarray(x, float) for x in (entry, time, status))
    if not (e.ndim == t.ndim == s.ndim == 1 and len(e) == len(t) == len(s)):
        raise PredictionError(f"prediction: entry, time and status must be 1-D of equal length, got {e.shape}, {t.shape}, {s.shape}")
    for name, x, ok, expected in (("entry", e, np.isfinite(e) & (e <= 0), "a finite day on or before the as-of day (<= 0)"),
                                  ("time", t, np.isfinite(t) & (t >= 0), "a finite time >= 0"),
                                  ("status", s, np.isin(s, (AT_RISK, EVENT, DROPOUT)), "0 (at risk), 1 (event) or 2 (dropout)")):
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise PredictionError(f"prediction: record {i}, field {name}: got {x[i]:g}, expected {expected}")
    return e, t, s.astype(int)


def check_targets(targets: Sequence[int], observed: int, planned: int) -> tuple[int, ...]:
    """Targets above the events observed and at most the planned number of subjects, in the order given."""
    out = []
    for k in targets:
        if int(k) != k:
            raise PredictionError(f"events: got {k!r}, expected whole numbers of events")
        if k <= observed:
            raise PredictionError(f"events: got target {int(k)}, expected more than the {observed} events already observed")
        if k > planned:
            raise PredictionError(f"events: got target {int(k)}, expected at most the {planned} planned subjects")
        out.append(int(k))
    if not out:
        raise PredictionError("events: got no target, expected at least one event count such as 103")
    return tuple(out)


def predict_event_days(
    entry: object, time: object, status: object, *, planned: int, targets: Sequence[int], rng: np.random.Generator,
    replicates: int = 4000, level: float = 0.90, progress: Callable[[int, int], None] | None = None,
) -> EventPrediction:
    """Predict the day (relative to the as-of day 0) each target event count is reached (see module docstring)."""
    e, t, s = check_inputs(entry, time, status)
    observed = int((s == EVENT).sum())
    ks = check_targets(targets, observed, planned)
    if replicates < 1:
        raise PredictionError(f"replicates: got {replicates}, expected at least 1")
    if not 0 < level < 1:
        raise PredictionError(f"level: got {level}, expected a probability strictly between 0 and 1")
    events = select_hazard_model(t, (s == EVENT).astype(int), "events")
    if events.fit is None:
        raise PredictionError("events: no event observed yet; expected at least one to fit the event hazard")
    dropout = select_hazard_model(t, (s == DROPOUT).astype(int), "dropouts")
    accrual = fit_accrual(e, planned)
    obs_days = np.sort(e[s == EVENT] + t[s == EVENT])
    risk = s == AT_RISK
    c, e_risk = t[risk], e[risk]
    out = np.empty((replicates, len(ks)))
    done = 0
    while done < replicates:
        r = min(CHUNK, replicates - done)
        days = _simulate_chunk(rng, r, c, e_risk, events, dropout, accrual)
        allk = np.concatenate([np.broadcast_to(obs_days, (r, len(obs_days))), days], axis=1)
        allk.sort(axis=1)
        padded = np.concatenate([allk, np.full((r, 1), np.inf)], axis=1)
        idx = np.minimum(np.array(ks) - 1, padded.shape[1] - 1)
        out[done:done + r] = np.minimum(padded[:, idx], NEVER)  # inf (never reached) -> NEVER: finite quantiles
        done += r
        if progress is not None:
            progress(done, replicates)
    reached = out < NEVER / 10
    q = np.quantile(out, [(1 - level) / 2, 0.5, (1 + level) / 2], axis=0)
    fin = lambda x: float(x) if x < NEVER / 10 else None  # noqa: E731
    return EventPrediction(
        targets=ks, median_day=tuple(fin(x) for x in q[1]), lower_day=tuple(fin(x) for x in q[0]),
        upper_day=tuple(fin(x) for x in q[2]), share_reached=tuple(float(x) for x in reached.mean(axis=0)),
        level=level, replicates=replicates, observed_events=observed, at_risk=int(risk.sum()),
        dropouts=int((s == DROPOUT).sum()), events=events, dropout=dropout, accrual=accrual, target_days=out)


def _times(rng: np.random.Generator, draws: list, after: np.ndarray) -> np.ndarray:
    """Times after `after` (R x m), conditional on surviving to it, each replicate by its drawn model and parameters
    (inverse cumulative hazard); infinite when there is no hazard."""
    y = np.full(after.shape, np.inf)
    if not draws:
        return y
    e = rng.standard_exponential(after.shape)
    for rows, fit, theta in draws:
        if rows.any():
            a = after[rows]
            y[rows] = fit.inverse_cumhaz(fit.cumhaz(a, theta) + e[rows], theta)
    return y


def _simulate_chunk(rng: np.random.Generator, r: int, c: np.ndarray, entry: np.ndarray, ev: ModelChoice,
                    do: ModelChoice, accrual: AccrualFit) -> np.ndarray:
    """Event days (relative to as-of; inf = none) of the at-risk and the future subjects in `r` replicates."""
    ev_draws, do_draws = ev.draw(rng, r), do.draw(rng, r)
    after = np.broadcast_to(c, (r, len(c)))
    t_ev = _times(rng, ev_draws, after)
    t_do = _times(rng, do_draws, after)
    risk_days = np.where(t_ev < t_do, entry + t_ev, np.inf)
    n_new = accrual.remaining
    if n_new == 0:
        return risk_days
    rate = accrual.rate_per_day * np.exp(np.sqrt(accrual.log_rate_var) * rng.standard_normal((r, 1)))
    arrive = np.cumsum(rng.standard_exponential((r, n_new)), axis=1) / rate
    zero = np.zeros((r, n_new))
    n_ev = _times(rng, ev_draws, zero)
    n_do = _times(rng, do_draws, zero)
    return np.concatenate([risk_days, np.where(n_ev < n_do, arrive + n_ev, np.inf)], axis=1)
