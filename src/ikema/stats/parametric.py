"""Parametric time-to-event models fitted by maximum likelihood to right-censored data: exponential, Weibull and
piecewise-exponential, with the covariance of the estimates (inverse observed information) and AIC.

Parameterisations (all on the log scale, where the sampling distribution of the MLE is closest to normal):
  exponential  theta = [log rate];                 H(t) = rate * t
  weibull      theta = [log shape, log scale];     H(t) = (t / scale) ** shape   (R survreg: shape = 1 / scale_sr,
                                                                                 scale = exp(intercept))
  piecewise    theta = [log rate_1 .. log rate_K]; constant hazard rate_j on [knot_j, knot_{j+1}), knot_1 = 0,
                                                   the last rate beyond the last knot
Log-likelihood on the time scale: sum over events of log h(t_i) minus sum over all of H(t_i), the value R survreg
reports for dist = "exponential" / "weibull" (checked in tests/stats/test_stats_parametric.py), so the three
models' AIC = 2 p - 2 loglik are comparable.

Own implementation: three closed-form likelihoods; lifelines would bring autograd and formulaic for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ikema.stats._checks import StatsInputError, check_times_events

MODELS = ("exponential", "weibull", "piecewise")


@dataclass(frozen=True)
class ParametricFit:
    """A fitted parametric survival model: estimates on the log scale, their covariance, log-likelihood, AIC."""

    model: str
    theta: np.ndarray
    cov: np.ndarray
    loglik: float
    n: int
    events: int
    knots: tuple[float, ...] = (0.0,)

    @property
    def n_params(self) -> int:
        """Number of estimated parameters."""
        return int(len(self.theta))

    @property
    def aic(self) -> float:
        """Akaike's information criterion, 2 p - 2 loglik."""
        return 2.0 * self.n_params - 2.0 * self.loglik

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """`size` parameter vectors from the normal approximation of the MLE (rows of theta on the log scale)."""
        z = rng.standard_normal((size, self.n_params))
        return self.theta + z @ np.linalg.cholesky(self.cov).T

    def cumhaz(self, t: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        """Cumulative hazard H(t); `theta` rows (R x p) broadcast against `t` (R x m); default the estimate."""
        th = np.atleast_2d(self.theta if theta is None else theta)
        return cumulative_hazard(self.model, np.asarray(t, float), th, self.knots)

    def inverse_cumhaz(self, y: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        """The time t with H(t) = y, for `theta` rows (R x p) against `y` (R x m)."""
        th = np.atleast_2d(self.theta if theta is None else theta)
        return inverse_cumulative_hazard(self.model, np.asarray(y, float), th, self.knots)

    def median(self) -> float:
        """Median time of the fitted distribution, H^-1(log 2)."""
        return float(self.inverse_cumhaz(np.array([[np.log(2.0)]]))[0, 0])

    def describe(self) -> dict:
        """The estimates on their natural scale with the fit statistics, for reports and JSON."""
        out: dict = {"model": self.model, "n": self.n, "events": self.events, "parameters": self.n_params,
                     "loglik": self.loglik, "aic": self.aic, "median": self.median()}
        if self.model == "exponential":
            out["rate"] = float(np.exp(self.theta[0]))
        elif self.model == "weibull":
            out["shape"], out["scale"] = (float(x) for x in np.exp(self.theta))
        else:
            out["knots"] = list(self.knots)
            out["rates"] = [float(x) for x in np.exp(self.theta)]
        return out


def cumulative_hazard(model: str, t: np.ndarray, theta: np.ndarray, knots: tuple[float, ...] = (0.0,)) -> np.ndarray:
    """H(t) of `model` for parameter rows `theta` (R x p), broadcast against `t` (R x m or m)."""
    if model == "exponential":
        return np.exp(theta[:, :1]) * t
    if model == "weibull":
        return (np.maximum(t, 0.0) / np.exp(theta[:, 1:2])) ** np.exp(theta[:, :1])
    if model == "piecewise":
        k = np.asarray(knots, float)
        widths = np.diff(np.r_[k, np.inf])
        rates = np.exp(theta)
        out = np.zeros(np.broadcast_shapes(t.shape, (theta.shape[0], 1)))
        for j in range(len(k)):
            out = out + rates[:, j:j + 1] * np.clip(t - k[j], 0.0, widths[j])
        return out
    raise StatsInputError(f"model: got {model!r}, expected one of {', '.join(MODELS)}")


def inverse_cumulative_hazard(model: str, y: np.ndarray, theta: np.ndarray, knots: tuple[float, ...] = (0.0,)) -> np.ndarray:
    """The time at which H reaches `y` (R x m) for parameter rows `theta` (R x p)."""
    if model == "exponential":
        return y / np.exp(theta[:, :1])
    if model == "weibull":
        return np.exp(theta[:, 1:2]) * np.maximum(y, 0.0) ** (1.0 / np.exp(theta[:, :1]))
    if model == "piecewise":
        k = np.asarray(knots, float)
        rates = np.exp(theta)
        at_knot = np.concatenate([np.zeros((theta.shape[0], 1)), np.cumsum(rates[:, :-1] * np.diff(k), axis=1)], axis=1)
        out = np.zeros(np.broadcast_shapes(y.shape, (theta.shape[0], 1)))
        for j in range(len(k)):  # pieces in time order: the last piece whose start H is reached wins
            inside = y >= at_knot[:, j:j + 1]
            out = np.where(inside, k[j] + (y - at_knot[:, j:j + 1]) / rates[:, j:j + 1], out)
        return out
    raise StatsInputError(f"model: got {model!r}, expected one of {', '.join(MODELS)}")


def _checked(time: object, event: object, source: str) -> tuple[np.ndarray, np.ndarray]:
    t, e = check_times_events(time, event, source)
    if e.sum() == 0:
        raise StatsInputError(f"{source}: field event: no events among {len(t)} subjects; expected at least one to fit a hazard")
    bad = (e == 1) & (t <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise StatsInputError(f"{source}: record {i}, field time: got {float(t[i])!r} for an event, expected a time > 0")
    return t, e.astype(bool)


def fit_exponential(time: object, event: object, source: str = "input") -> ParametricFit:
    """Exponential MLE: rate = events / total time; var(log rate) = 1 / events."""
    t, e = _checked(time, event, source)
    d, total = int(e.sum()), float(t.sum())
    rate = d / total
    return ParametricFit("exponential", np.array([np.log(rate)]), np.array([[1.0 / d]]),
                         float(d * np.log(rate) - rate * total), len(t), d)


def _weibull_terms(theta: np.ndarray, logt: np.ndarray, ev_logt: np.ndarray, d: int):
    u, v = theta
    k = np.exp(u)
    a = logt - v
    h = np.exp(k * a)
    ev_a = ev_logt - v
    loglik = d * u + k * ev_a.sum() - ev_logt.sum() - h.sum()
    ka = k * a
    grad = np.array([d + k * ev_a.sum() - (ka * h).sum(), -k * d + k * h.sum()])
    huu = k * ev_a.sum() - (ka * h + ka * ka * h).sum()
    huv = -k * d + (k * h + ka * k * h).sum()
    hvv = -k * k * h.sum()
    return loglik, grad, np.array([[huu, huv], [huv, hvv]])


def fit_weibull(time: object, event: object, source: str = "input") -> ParametricFit:
    """Weibull MLE (log shape, log scale) by a trust-region Newton method from the exponential fit."""
    t, e = _checked(time, event, source)
    d = int(e.sum())
    if len(np.unique(t[e])) < 2:
        raise StatsInputError(f"{source}: field time: fewer than 2 distinct event times; expected at least 2 to fit a Weibull shape")
    keep = t > 0  # subjects censored at time 0 contribute H(0) = 0
    logt = np.log(t[keep])
    ev_logt = np.log(t[e])
    start = np.array([0.0, np.log(t.sum() / d)])
    res = optimize.minimize(lambda th: -_weibull_terms(th, logt, ev_logt, d)[0], start, method="trust-exact",
                            jac=lambda th: -_weibull_terms(th, logt, ev_logt, d)[1],
                            hess=lambda th: -_weibull_terms(th, logt, ev_logt, d)[2],
                            options={"gtol": 1e-9, "maxiter": 500})
    loglik, grad, hess = _weibull_terms(res.x, logt, ev_logt, d)
    # trust-exact may stop at the optimum with "bad approximation" once steps are at rounding level: judge the gradient
    if not np.all(np.abs(grad) <= 1e-6 * max(1.0, d)) or not np.all(np.linalg.eigvalsh(-hess) > 0):
        raise StatsInputError(f"{source}: the Weibull fit did not converge ({res.message}); expected data with a finite MLE")
    return ParametricFit("weibull", res.x, np.linalg.inv(-hess), float(loglik), len(t), d)


def event_quantile_knots(time: object, event: object, pieces: int) -> tuple[float, ...]:
    """Knots 0 < q_1 < ... that cut the event times into `pieces` groups of about equal size (duplicates merged)."""
    t, e = check_times_events(time, event)
    q = np.quantile(t[e == 1], np.arange(1, pieces) / pieces) if e.sum() else np.array([])
    return tuple(float(x) for x in np.unique(np.r_[0.0, q[q > 0]]))


def fit_piecewise(time: object, event: object, knots: tuple[float, ...], source: str = "input") -> ParametricFit:
    """Piecewise-exponential MLE on fixed `knots` (first 0): rate_j = events_j / exposure_j; var(log rate_j) = 1 / events_j."""
    t, e = _checked(time, event, source)
    k = np.asarray(knots, float)
    if k[0] != 0.0 or np.any(np.diff(k) <= 0):
        raise StatsInputError(f"{source}: field knots: got {list(knots)}, expected increasing cut points starting at 0")
    widths = np.diff(np.r_[k, np.inf])
    exposure = np.array([np.clip(t - k[j], 0.0, widths[j]).sum() for j in range(len(k))])
    piece = np.searchsorted(k, t[e], side="right") - 1
    d = np.bincount(piece, minlength=len(k)).astype(float)
    if (d == 0).any():
        j = int(np.flatnonzero(d == 0)[0])
        raise StatsInputError(f"{source}: field knots: no events in the piece starting at {k[j]:g}; expected at least one per piece")
    rate = d / exposure
    return ParametricFit("piecewise", np.log(rate), np.diag(1.0 / d), float((d * np.log(rate) - rate * exposure).sum()),
                         len(t), int(d.sum()), tuple(float(x) for x in k))
