"""Kaplan-Meier estimator (Greenwood variance, R survfit CIs and quantile rules) and the (stratified) log-rank test.

Own implementation: statsmodels' SurvfuncRight has no log-log CI for the median and no survfit
flat-curve median rule, and its log-rank is not vectorised enough for 10^6 subjects. Both work on the counts per
distinct time of ikema.stats.survdata (one index per data set, no sort of their own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import stats as sps

from ikema.stats._checks import StatsInputError, index_times
from ikema.stats.survdata import SurvivalData, count_events

_TOL = float(np.sqrt(np.finfo(float).eps))  # survfit's quantile tolerance sqrt(.Machine$double.eps)


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan-Meier curve at each distinct time (events and censorings), as R survfit reports it."""

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    surv: np.ndarray
    std_err: np.ndarray  # standard error of -log S (Greenwood), as survfit's std.err
    lower: np.ndarray
    upper: np.ndarray
    conf_level: float
    conf_type: str
    n: int
    events: int
    median: float | None
    median_lcl: float | None
    median_ucl: float | None

    def quantile(self, p: float) -> tuple[float | None, float | None, float | None]:
        """Time at which the curve reaches 1 - p, with its CI (survfit quantile rules); None = not reached."""
        x = np.r_[0.0, self.time]
        # the lower survival band reaches 1 - p first, so it gives the lower limit of the quantile
        return (_findq(x, np.r_[0.0, 1 - self.surv], p), _findq(x, np.r_[0.0, 1 - self.lower], p),
                _findq(x, np.r_[0.0, 1 - self.upper], p))

    def survival_at(self, times: object) -> np.ndarray:
        """Survival probability at the given times (right-continuous step function)."""
        t = np.asarray(times, dtype=float)
        i = np.searchsorted(self.time, t, side="right")
        return np.where(i == 0, 1.0, self.surv[np.maximum(i - 1, 0)])

    def n_risk_at(self, times: object) -> np.ndarray:
        """Number of subjects still at risk (time >= t) at the given times."""
        t = np.asarray(times, dtype=float)
        i = np.searchsorted(self.time, t, side="left")
        nr = np.r_[self.n_risk, 0]
        return nr[i].astype(np.int64)


def _findq(x: np.ndarray, y: np.ndarray, p: float) -> float | None:
    """R survival's findq: where 1 - S crosses p; midpoint of a flat stretch lying at p within tolerance."""
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return None
    xmax = x[-1]
    # drop duplicated y values (censorings), NaN counting as equal to NaN, as duplicated() does
    yk = np.where(np.isnan(y), np.inf, y)
    keep = np.r_[True, yk[1:] != yk[:-1]]
    # y is monotone, so consecutive comparison finds every duplicate except repeated NaN blocks separated by values
    x, y = x[keep], y[keep]
    valid = ~np.isnan(y)
    idx = np.flatnonzero(valid)
    yv = y[valid]

    def first_at_least(v: np.ndarray) -> int | None:
        if len(v) == 0 or p > v[-1] or p < v[0]:
            return None
        return int(idx[np.searchsorted(v, p, side="left")])

    i1 = first_at_least(yv + _TOL)
    i2 = first_at_least(yv - _TOL)
    if not np.isnan(y[-1]) and abs(p - y[-1]) < _TOL and i1 is not None:
        return float((x[i1] + xmax) / 2)
    if i1 is None or i2 is None:
        return None
    return float((x[i1] + x[i2]) / 2)


@lru_cache(maxsize=16)
def _z(conf_level: float) -> float:
    """Two-sided normal quantile (scipy's ppf costs more than a small curve: computed once per level)."""
    return float(sps.norm.ppf(1 - (1 - conf_level) / 2))


def _conf_bands(surv: np.ndarray, se: np.ndarray, conf_level: float, conf_type: str) -> tuple[np.ndarray, np.ndarray]:
    z = _z(conf_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log-log":
            xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
            lx = np.log(xx)
            t3 = np.log(-lx)
            return np.exp(-np.exp(t3 - z * se / lx)), np.exp(-np.exp(t3 + z * se / lx))  # log S < 0
        if conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            return np.exp(np.log(xx) - z * se), np.minimum(np.exp(np.log(xx) + z * se), 1.0)
        if conf_type == "plain":
            return np.maximum(surv - z * se * surv, 0.0), np.minimum(surv + z * se * surv, 1.0)
    raise StatsInputError(f"conf_type {conf_type!r}: expected 'log-log', 'log' or 'plain'")


def kaplan_meier(time: object, event: object, conf_level: float = 0.95, conf_type: str = "log-log") -> KaplanMeier:
    """Kaplan-Meier estimate with Greenwood variance, pointwise CIs and the median with its Brookmeyer-Crowley CI."""
    values, code, e = index_times(time, event, "kaplan_meier")
    c = count_events(code, len(values), e)
    return _km_curve(values, c[:, 0], c[:, 1], conf_level, conf_type)


def kaplan_meier_groups(data: SurvivalData, conf_level: float = 0.95, conf_type: str = "log-log") -> dict:
    """Kaplan-Meier curve of each group of a SurvivalData, from one count per (group, distinct time)."""
    nt, k = len(data.times), len(data.group_labels)
    key = data.code if k == 1 else data.group * nt + data.code
    c = count_events(key, k * nt, data.event).reshape(k, nt, 2)
    return {label: _km_curve(data.times, c[j, :, 0], c[j, :, 1], conf_level, conf_type)
            for j, label in enumerate(data.group_labels)}


def _km_curve(values: np.ndarray, count: np.ndarray, events: np.ndarray, conf_level: float, conf_type: str) -> KaplanMeier:
    """The curve from the number of subjects and of events at each distinct time (times without subjects dropped)."""
    keep = count > 0
    ut, cnt, d = values[keep], count[keep].astype(np.int64), events[keep].astype(np.int64)
    n = int(cnt.sum())
    nr = n - np.r_[0, np.cumsum(cnt)[:-1]]
    surv = np.cumprod(1.0 - d / nr)
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = np.where(d > 0, d / (nr * (nr - d).astype(float)), 0.0)
    se = np.sqrt(np.cumsum(inc))
    lo, hi = _conf_bands(surv, se, conf_level, conf_type)
    x = np.r_[0.0, ut]
    med = _findq(x, np.r_[0.0, 1 - surv], 0.5)
    mlcl = _findq(x, np.r_[0.0, 1 - lo], 0.5)
    mucl = _findq(x, np.r_[0.0, 1 - hi], 0.5)
    return KaplanMeier(time=ut, n_risk=nr, n_event=d, n_censor=cnt - d, surv=surv, std_err=se, lower=lo, upper=hi,
                       conf_level=conf_level, conf_type=conf_type, n=n, events=int(d.sum()),
                       median=med, median_lcl=mlcl, median_ucl=mucl)


@dataclass(frozen=True)
class LogrankResult:
    """Log-rank test (survdiff, rho = 0): per-group observed and expected events summed over strata, variance, chi-square."""

    groups: list
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    chisq: float
    df: int
    p: float
    z: float | None = field(default=None)  # two groups: (O - E)/sqrt(V) of the second group (the first is the reference)


def _check_arms(g: np.ndarray, glabels: list, s: np.ndarray, slabels: list, source: str, min_groups: int = 2) -> None:
    if len(glabels) < min_groups:
        raise StatsInputError(f"{source}: field group: only {glabels!r} present; expected at least {min_groups} arms, none empty")
    k = len(glabels)
    tab = np.bincount(s * k + g, minlength=len(slabels) * k).reshape(len(slabels), k)
    bad = np.flatnonzero((tab > 0).sum(axis=1) < 2)
    if len(bad):
        j = int(bad[0])
        present = [glabels[i] for i in np.flatnonzero(tab[j] > 0)]
        raise StatsInputError(f"{source}: stratum {slabels[j]!r} holds only arm {present!r}; expected every stratum to hold "
                              f"at least two arms (merge sparse strata or drop the stratification)")


def logrank(time: object, event: object, group: object, strata: object | None = None) -> LogrankResult:
    """Log-rank test of equal survival across groups, optionally stratified (R survdiff, rho = 0)."""
    return logrank_data(SurvivalData(time, event, group, strata, "logrank"))


def logrank_data(data: SurvivalData, stratified: bool = True) -> LogrankResult:
    """Log-rank test across the groups of a SurvivalData, stratified by its strata when given and `stratified`."""
    g, glabels = data.group, data.group_labels
    strat = stratified and data.strata_labels != [None]
    s, slabels = (data.strata, data.strata_labels) if strat else (np.zeros(data.n, np.int64), [None])
    _check_arms(g, glabels, s, slabels, "logrank")
    k = len(glabels)
    cells = data.cells(strat)
    cnt, dg = cells.count(g, k, data.event)
    cnt, dg = cnt.astype(float), dg.astype(float)
    # at risk in group g at a (stratum, time) = subjects of the same stratum with time >= t
    ng = cells.at_or_after(cnt)
    d = dg.sum(axis=1)
    m = d > 0
    ng, dg, d = ng[m], dg[m], d[m]
    n = ng.sum(axis=1)
    frac = ng / n[:, None]
    expected = (d[:, None] * frac).sum(axis=0)
    observed = dg.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
    var = np.diag((c[:, None] * frac).sum(axis=0)) - (c[:, None, None] * frac[:, :, None] * frac[:, None, :]).sum(axis=0) \
        if k > 2 else _var2(c, frac)
    use = expected > 0
    if use.sum() < 2:
        chisq, df = 0.0, 0
    else:
        diff = (observed - expected)[use][1:]
        vv = var[np.ix_(use, use)][1:, 1:]
        chisq = float(diff @ np.linalg.solve(vv, diff))
        df = int(use.sum() - 1)
    p = float(sps.chi2.sf(chisq, df)) if df > 0 else 1.0
    z = float((observed[1] - expected[1]) / np.sqrt(var[1, 1])) if k == 2 and var[1, 1] > 0 else None
    return LogrankResult(groups=glabels, observed=observed, expected=expected, variance=var, chisq=chisq, df=df, p=p, z=z)


def _var2(c: np.ndarray, frac: np.ndarray) -> np.ndarray:
    v = float((c * frac[:, 0] * frac[:, 1]).sum())
    return np.array([[v, -v], [-v, v]])
