"""Group-sequential designs, one-sided efficacy only: Lan-DeMets alpha-spending boundaries, boundary-crossing
probabilities by recursive numerical integration, power, the inflation factor and Schoenfeld's number of events.

Sources: Lan & DeMets (1983) for alpha spending; O'Brien-Fleming and Pocock type spending functions as in
Lan & DeMets (1983) and rpact (one-sided: asOF = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)), asP = alpha log(1 + (e - 1) t));
Hwang, Shih & DeCani (1990) for the gamma family; Kim & DeMets (1987) for the power family alpha t^gamma;
Jennison & Turnbull (2000, ch. 19) for the recursive integration of the joint density of the sequential Z
statistics; Schoenfeld (1983) for the number of events of a fixed design.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from scipy import optimize
from scipy.stats import norm

from ikema.stats._checks import StatsInputError

SPENDING_FUNCTIONS = ("obf", "pocock", "hsd", "kd")
RPACT_NAMES = {"obf": "asOF", "pocock": "asP", "hsd": "asHSD", "kd": "asKD"}

_LOWER = -8.0  # lower truncation of the (centred) Z grid; P(Z < -8) = 6e-16 is below every tolerance used here
_UPPER_CAP = 8.0  # a boundary above 8 is integrated as if it were 8 (the mass beyond is < 1e-15)
_PANELS = 30  # composite 7-point Newton-Cotes panels per stage: 181 grid points
# closed 7-point Newton-Cotes weights (times h / 140), the rule rpact also uses on its grid
_NC7 = np.array([41.0, 216.0, 27.0, 272.0, 27.0, 216.0, 41.0]) / 140.0


@dataclass(frozen=True)
class Boundaries:
    """One-sided efficacy boundaries of a group-sequential design and the alpha they spend."""

    spending: str
    gamma: Optional[float]
    alpha: float
    information_rates: tuple[float, ...]
    efficacy_z: tuple[float, ...]
    cumulative_alpha_spent: tuple[float, ...]
    stagewise_p: tuple[float, ...]

    def as_dict(self) -> dict:
        """JSON-ready dict: efficacy_z, cumulative_alpha_spent, stagewise_p and the inputs."""
        return {"spending": self.spending, "gamma": self.gamma, "alpha": self.alpha,
                "information_rates": list(self.information_rates), "efficacy_z": list(self.efficacy_z),
                "cumulative_alpha_spent": list(self.cumulative_alpha_spent), "stagewise_p": list(self.stagewise_p)}


def check_information_rates(information_rates: Sequence[float], field: str = "information_rates") -> np.ndarray:
    """Validated information rates: finite, strictly increasing in (0, 1], the last one 1."""
    try:
        t = np.asarray([float(x) for x in information_rates], dtype=float)
    except (TypeError, ValueError):
        raise StatsInputError(f"{field}: got {information_rates!r}, expected numbers in (0, 1]") from None
    if t.ndim != 1 or len(t) == 0:
        raise StatsInputError(f"{field}: got {information_rates!r}, expected at least one rate")
    if not np.all(np.isfinite(t)) or t[0] <= 0 or t[-1] > 1:
        raise StatsInputError(f"{field}: got {t.tolist()}, expected rates in (0, 1]")
    if np.any(np.diff(t) <= 0):
        raise StatsInputError(f"{field}: got {t.tolist()}, expected strictly increasing rates")
    if abs(t[-1] - 1.0) > 1e-12:
        raise StatsInputError(f"{field}: got {t.tolist()}, expected the last rate to be 1 (the final analysis)")
    t[-1] = 1.0
    return t


def check_alpha(alpha: float, field: str = "alpha") -> float:
    """Validated one-sided significance level in (0, 0.5)."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise StatsInputError(f"{field}: got {alpha!r}, expected a number in (0, 0.5)") from None
    if not (0 < a < 0.5):
        raise StatsInputError(f"{field}: got {alpha!r}, expected a one-sided level in (0, 0.5)")
    return a


def _check_spending(spending: str, gamma: Optional[float]) -> tuple[str, Optional[float]]:
    name = str(spending).lower()
    if name not in SPENDING_FUNCTIONS:
        raise StatsInputError(f"spending: got {spending!r}, expected one of {', '.join(SPENDING_FUNCTIONS)}")
    if name in ("obf", "pocock"):
        if gamma is not None:
            raise StatsInputError(f"gamma: got {gamma!r} with spending {name!r}, expected no gamma (only hsd and kd take one)")
        return name, None
    if gamma is None:
        raise StatsInputError(f"gamma: got None with spending {name!r}, expected a number "
                              f"({'any real, e.g. -4' if name == 'hsd' else 'a power > 0, e.g. 3'})")
    g = float(gamma)
    if not math.isfinite(g) or (name == "kd" and g <= 0):
        raise StatsInputError(f"gamma: got {gamma!r} with spending {name!r}, expected "
                              f"{'a finite real' if name == 'hsd' else 'a finite power > 0'}")
    return name, g


def spending_alpha(spending: str, alpha: float, t: Sequence[float] | float, gamma: Optional[float] = None) -> np.ndarray:
    """Cumulative alpha spent at information rates t (Lan & DeMets 1983; HSD 1990; Kim & DeMets 1987)."""
    name, g = _check_spending(spending, gamma)
    a = check_alpha(alpha)
    x = np.asarray(t, dtype=float)
    if name == "obf":
        return 2.0 * norm.sf(norm.isf(a / 2.0) / np.sqrt(x))
    if name == "pocock":
        return a * np.log1p((math.e - 1.0) * x)
    if name == "kd":
        return a * x ** g
    if g == 0:
        return a * x
    return a * (-np.expm1(-g * x)) / (-math.expm1(-g))


def _grid(upper: float) -> tuple[np.ndarray, np.ndarray]:
    """Composite 7-point Newton-Cotes nodes and weights on [_LOWER, upper]."""
    n = 6 * _PANELS + 1
    x = np.linspace(_LOWER, upper, n)
    h = (upper - _LOWER) / (n - 1)
    w = np.zeros(n)
    for p in range(_PANELS):
        w[6 * p:6 * p + 7] += _NC7
    return x, w * h


class _Recursion:
    """Sub-density of the centred Z_k on the continuation region, looked at stage by stage (Jennison & Turnbull ch. 19)."""

    # own quadrature rather than scipy's multivariate normal CDF: that one is Monte Carlo (Genz) above 3 dimensions,
    # too noisy for 1e-8 root finding; the grid recursion is deterministic and costs O(K n^2).
    def __init__(self, t: np.ndarray):
        self.t = t
        self.x: Optional[np.ndarray] = None  # grid of Z_{k-1} (centred) on its continuation region
        self.wf: Optional[np.ndarray] = None  # quadrature weight x sub-density at those nodes
        self.k = 0  # number of looks already absorbed

    def cross(self, b: float) -> float:
        """P(continue at looks 1..k, centred Z_{k+1} >= b)."""
        k = self.k
        if k == 0:
            return float(norm.sf(b))
        if self.x is None:
            return 0.0
        tk, tp = self.t[k], self.t[k - 1]
        arg = (b * math.sqrt(tk) - self.x * math.sqrt(tp)) / math.sqrt(tk - tp)
        return float(self.wf @ norm.sf(arg))

    def advance(self, b: float) -> None:
        """Absorb the look k+1 with (centred) boundary b: the trial continues below b."""
        k = self.k
        upper = min(b, _UPPER_CAP)
        if upper <= _LOWER or (k > 0 and self.x is None):
            self.x, self.wf = None, None
        else:
            x, w = _grid(upper)
            if k == 0:
                f = norm.pdf(x)
            else:
                tk, tp = self.t[k], self.t[k - 1]
                s = math.sqrt(tk - tp)
                arg = (x[:, None] * math.sqrt(tk) - self.x[None, :] * math.sqrt(tp)) / s
                f = (norm.pdf(arg) @ self.wf) * math.sqrt(tk) / s
            self.x, self.wf = x, w * f
        self.k += 1


def crossing_probabilities(efficacy_z: Sequence[float], information_rates: Sequence[float], drift: float = 0.0) -> np.ndarray:
    """P(first crossing of the efficacy boundary at each look) when E[Z_k] = drift sqrt(t_k) (Jennison & Turnbull ch. 19)."""
    t = check_information_rates(information_rates)
    b = np.asarray(efficacy_z, dtype=float)
    if b.shape != t.shape:
        raise StatsInputError(f"efficacy_z: got {len(b)} boundaries for {len(t)} information rates, expected one per look")
    centred = b - float(drift) * np.sqrt(t)
    rec = _Recursion(t)
    out = np.empty(len(t))
    for k, c in enumerate(centred):
        out[k] = rec.cross(c)
        rec.advance(c)
    return out


def efficacy_boundaries(information_rates: Sequence[float], alpha: float = 0.025, spending: str = "obf",
                        gamma: Optional[float] = None) -> Boundaries:
    """One-sided Lan-DeMets alpha-spending efficacy boundaries (Lan & DeMets 1983; Jennison & Turnbull 2000 ch. 7, 19)."""
    name, g = _check_spending(spending, gamma)
    a = check_alpha(alpha)
    t = check_information_rates(information_rates)
    cum = spending_alpha(name, a, t, g)
    inc = np.diff(np.r_[0.0, cum])
    rec = _Recursion(t)
    z = np.empty(len(t))
    spent = np.empty(len(t))
    for k in range(len(t)):
        target = float(inc[k])
        if k == 0:
            z[k] = float(norm.isf(target))
        elif target <= 0.0:
            z[k] = math.inf
        else:
            f = lambda c: rec.cross(c) - target  # noqa: E731
            lo, hi = -_UPPER_CAP, _UPPER_CAP
            if f(hi) > 0:  # the increment is below P(Z > 8): the boundary is effectively infinite
                z[k] = math.inf
            else:
                z[k] = optimize.brentq(f, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=200)
        spent[k] = rec.cross(z[k]) if math.isfinite(z[k]) else 0.0
        rec.advance(z[k])
    cumulative = np.cumsum(spent)
    return Boundaries(spending=name, gamma=g, alpha=a, information_rates=tuple(t.tolist()),
                      efficacy_z=tuple(z.tolist()), cumulative_alpha_spent=tuple(cumulative.tolist()),
                      stagewise_p=tuple(norm.sf(z).tolist()))


def power(boundaries: Boundaries, drift: float) -> float:
    """Probability of crossing the efficacy boundary at some look when E[Z_k] = drift sqrt(t_k)."""
    return float(crossing_probabilities(boundaries.efficacy_z, boundaries.information_rates, drift).sum())


def drift_for_power(boundaries: Boundaries, target_power: float) -> float:
    """Drift theta (E[Z at full information]) giving the target power; theta^2 is rpact's `shift`."""
    p = float(target_power)
    if not (boundaries.alpha < p < 1):
        raise StatsInputError(f"power: got {target_power!r}, expected a probability in (alpha = {boundaries.alpha}, 1)")
    hi = 2.0 * (norm.isf(boundaries.alpha) + norm.isf(1 - p)) + 1.0
    return float(optimize.brentq(lambda d: power(boundaries, d) - p, 0.0, hi, xtol=1e-13, rtol=4 * np.finfo(float).eps))


def inflation_factor(boundaries: Boundaries, target_power: float) -> float:
    """Maximum information of the design over the fixed design's at the same alpha and power (rpact's inflationFactor)."""
    theta = drift_for_power(boundaries, target_power)
    fixed = (norm.isf(boundaries.alpha) + norm.isf(1 - float(target_power))) ** 2
    return theta ** 2 / fixed


def check_hazard_ratio(hazard_ratio: float, field: str = "hazard_ratio") -> float:
    """Validated hazard ratio: finite, > 0 and != 1."""
    try:
        hr = float(hazard_ratio)
    except (TypeError, ValueError):
        raise StatsInputError(f"{field}: got {hazard_ratio!r}, expected a number > 0") from None
    if not (math.isfinite(hr) and hr > 0) or hr == 1:
        raise StatsInputError(f"{field}: got {hazard_ratio!r}, expected a hazard ratio > 0 other than 1")
    return hr


def check_allocation(allocation: float, field: str = "allocation") -> float:
    """Validated allocation ratio (experimental : control) > 0."""
    try:
        r = float(allocation)
    except (TypeError, ValueError):
        raise StatsInputError(f"{field}: got {allocation!r}, expected a ratio > 0") from None
    if not (math.isfinite(r) and r > 0):
        raise StatsInputError(f"{field}: got {allocation!r}, expected a ratio > 0 (experimental : control)")
    return r


def schoenfeld_events(hazard_ratio: float, alpha: float, target_power: float, allocation: float = 1.0) -> float:
    """Events of a fixed design: (z_{1-alpha} + z_{power})^2 (1 + r)^2 / (r log(HR)^2) (Schoenfeld 1983)."""
    hr = check_hazard_ratio(hazard_ratio)
    a = check_alpha(alpha)
    r = check_allocation(allocation)
    p = float(target_power)
    if not (a < p < 1):
        raise StatsInputError(f"power: got {target_power!r}, expected a probability in (alpha = {a}, 1)")
    return (norm.isf(a) + norm.isf(1 - p)) ** 2 * (1 + r) ** 2 / (r * math.log(hr) ** 2)


def max_events(boundaries: Boundaries, hazard_ratio: float, target_power: float, allocation: float = 1.0) -> float:
    """Maximum events of the group-sequential design: Schoenfeld's fixed-design events x the inflation factor (as rpact)."""
    fixed = schoenfeld_events(hazard_ratio, boundaries.alpha, target_power, allocation)
    return fixed * inflation_factor(boundaries, target_power)


def power_at_events(boundaries: Boundaries, hazard_ratio: float, events: float, allocation: float = 1.0) -> float:
    """Power of the design at `events` maximum events, drift |log HR| sqrt(D r) / (1 + r) (Schoenfeld 1983)."""
    hr = check_hazard_ratio(hazard_ratio)
    r = check_allocation(allocation)
    if not (float(events) > 0):
        raise StatsInputError(f"events: got {events!r}, expected a number of events > 0")
    return power(boundaries, abs(math.log(hr)) * math.sqrt(float(events) * r) / (1 + r))
