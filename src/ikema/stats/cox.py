"""Cox proportional hazards (R coxph): Efron or Breslow ties, strata, Wald CI, score and likelihood-ratio tests.

Own implementation: statsmodels PHReg has no Efron ties and is too slow at 10^6 subjects; this one indexes the
times once (ikema.stats.survdata) and evaluates each Newton-Raphson step on sums per (stratum, distinct time):
subjects with the same covariate values in a (stratum, time) are one unit, so a treatment-arm model of 10^6
subjects with day-rounded times iterates over a few thousand units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ikema.stats._checks import StatsInputError, codes, index_times
from ikema.stats.survdata import Cells, SurvivalData, build_cells, compact, count_events


@dataclass(frozen=True)
class CoxResult:
    """A fitted Cox model: coefficients, covariance, hazard ratios with Wald CI and the three global tests."""

    coef: np.ndarray
    var: np.ndarray
    se: np.ndarray
    hazard_ratio: np.ndarray
    hr_lcl: np.ndarray
    hr_ucl: np.ndarray
    conf_level: float
    loglik_null: float
    loglik: float
    score_chisq: float
    score_p: float
    lr_chisq: float
    lr_p: float
    wald_chisq: float
    wald_p: float
    df: int
    n: int
    events: int
    iterations: int
    ties: str
    converged: bool = True  # False: max_iter reached (e.g. a monotone likelihood, coefficient tending to infinity)


_MAX_LEVELS = 64  # covariate patterns up to which subjects are pooled into units
_COMPILED_DEATHS = 50_000  # from this many deaths Efron's sums run compiled; below, numpy beats numba's 0.7 s import


def _check_x(x: object, n: int) -> np.ndarray:
    xx = np.asarray(x, dtype=float)
    if xx.ndim == 1:
        xx = xx[:, None]
    if xx.shape[0] != n:
        raise StatsInputError(f"coxph: x has {xx.shape[0]} rows for {n} times")
    bad = ~np.isfinite(xx).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise StatsInputError(f"coxph: record {i}, field x: got {xx[i].tolist()!r}, expected finite covariate values")
    return xx


def _levels(xx: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Distinct covariate rows (at most _MAX_LEVELS) and each subject's pattern code; None when there are more."""
    code = np.zeros(len(xx), np.int64)
    radix = 1
    cols = []
    for j in range(xx.shape[1]):
        v = np.unique(xx[:, j])
        if radix * len(v) > _MAX_LEVELS:
            return None
        cj = np.zeros(len(xx), np.int64)
        for i in range(1, len(v)):  # a few comparisons per subject, cheaper than a search
            cj[xx[:, j] == v[i]] = i
        code += cj * radix
        cols.append((v, radix))
        radix *= len(v)
    grid = np.arange(radix)
    lv = np.column_stack([v[(grid // r) % len(v)] for v, r in cols])
    return lv, code


def _check_arms(xx: np.ndarray, s: np.ndarray, slabels: list, arm: np.ndarray | None = None) -> None:
    """A 0/1 covariate (arm: its 0/1 codes when known) must take both values, in every stratum."""
    if arm is not None or (xx.shape[1] == 1 and np.isin(xx[:, 0], (0.0, 1.0)).all()):
        arm = xx[:, 0].astype(np.int64) if arm is None else arm
        tab = np.bincount(s * 2 + arm, minlength=2 * len(slabels)).reshape(-1, 2)
        if (tab.sum(axis=0) == 0).any():
            raise StatsInputError("coxph: field x: one arm is empty (x takes a single value); expected both arms present")
        bad = np.flatnonzero((tab > 0).sum(axis=1) < 2)
        if len(bad):
            raise StatsInputError(f"coxph: stratum {slabels[int(bad[0])]!r} holds one arm only (x = "
                                  f"{int(np.argmax(tab[bad[0]]))}); expected both arms in every stratum")


class _CoxData:
    """Units (subjects, or subjects pooled by covariate pattern within a (stratum, time)) on the rows of Cells."""

    def __init__(self, cells: Cells, event: np.ndarray, xx: np.ndarray,
                 levels: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.n, self.p = len(xx), xx.shape[1]
        lv = _levels(xx) if levels is None else levels
        if lv is not None and cells.n_rows * len(lv[0]) <= 8 * self.n + 1024:
            levels, lcode = lv
            ukey, unit = compact(cells.row * len(levels) + lcode, cells.n_rows * len(levels))
            c = count_events(unit, len(ukey), event).astype(float)
            self.w, self.dcount = c[:, 0], c[:, 1]
            ux = levels[ukey % len(levels)]
            self.urow = ukey // len(levels)
        else:
            self.w, self.dcount, ux, self.urow = np.ones(self.n), event.astype(float), xx, cells.row
        self.cells = cells
        self.x = ux - (self.w[:, None] * ux).sum(axis=0) / self.n  # centred as coxph does, for exp() stability
        d = np.bincount(self.urow, weights=self.dcount, minlength=cells.n_rows)
        self.gsel = np.flatnonzero(d > 0)
        self.dm = d[self.gsel]
        self.events = int(round(d.sum()))
        self.xe_sum = (self.x * self.dcount[:, None]).sum(axis=0)
        self.pairs = [(j, k) for j in range(self.p) for k in range(j, self.p)]
        self.compiled = self.events >= _COMPILED_DEATHS
        if not self.compiled:  # Efron: one row per death, k = 0..d-1 within its tied group
            dmi = np.rint(self.dm).astype(np.int64)
            rep = np.repeat(np.arange(len(dmi)), dmi)
            first = np.r_[0, np.cumsum(dmi)[:-1]]
            self.efron_group = rep
            self.efron_frac = (np.arange(len(rep)) - first[rep]) / self.dm[rep]

    def _sums(self, weights: np.ndarray, at_risk: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per event row: sums of weight, weight * x and weight * x x' over the risk set (or over the row itself)."""
        cols = [weights] + [weights * self.x[:, j] for j in range(self.p)] + \
            [weights * self.x[:, j] * self.x[:, k] for j, k in self.pairs]
        m = np.column_stack([np.bincount(self.urow, weights=c, minlength=self.cells.n_rows) for c in cols])
        if at_risk:
            m = self.cells.at_or_after(m)
        m = m[self.gsel]
        s2 = np.empty((len(m), self.p, self.p))
        for i, (j, k) in enumerate(self.pairs):
            s2[:, j, k] = s2[:, k, j] = m[:, 1 + self.p + i]
        return m[:, 0], m[:, 1:1 + self.p], s2

    def evaluate(self, beta: np.ndarray, ties: str) -> tuple[float, np.ndarray, np.ndarray]:
        """Log partial likelihood, score vector and information matrix at beta."""
        eta = self.x @ beta
        r = np.exp(eta)
        s0, s1, s2 = self._sums(self.w * r, True)
        ll = float((eta * self.dcount).sum())
        score = self.xe_sum.copy()
        if ties == "breslow":
            ll -= float((self.dm * np.log(s0)).sum())
            a = s1 / s0[:, None]
            score -= (self.dm[:, None] * a).sum(axis=0)
            info = (self.dm[:, None, None] * (s2 / s0[:, None, None] - a[:, :, None] * a[:, None, :])).sum(axis=0)
            return ll, score, info
        e0, e1, e2 = self._sums(self.dcount * r, False)
        if self.compiled:
            from ikema.stats._efron import efron_sums

            lle, a_sum, info = efron_sums(s0, s1, s2, e0, e1, e2, self.dm)
            return ll - lle, score - a_sum, info
        g, f = self.efron_group, self.efron_frac
        den = s0[g] - f * e0[g]
        a = (s1[g] - f[:, None] * e1[g]) / den[:, None]
        ll -= float(np.log(den).sum())
        score -= a.sum(axis=0)
        info = ((s2[g] - f[:, None, None] * e2[g]) / den[:, None, None] - a[:, :, None] * a[:, None, :]).sum(axis=0)
        return ll, score, info


def _cox_data(time: object, event: object, x: object, strata: object | None) -> _CoxData:
    values, code, e = index_times(time, event, "coxph")
    xx = _check_x(x, len(code))
    if strata is None:
        s, slabels = np.zeros(len(code), np.int64), [None]
    else:
        s, slabels = codes(strata, "coxph", "strata")
        if len(s) != len(code):
            raise StatsInputError(f"coxph: strata has {len(s)} values for {len(code)} times")
    _check_arms(xx, s, slabels)
    return _CoxData(build_cells(code, len(values), s, len(slabels)), e, xx)


def coxph_loglik(time: object, event: object, x: object, beta: object, strata: object | None = None,
                 ties: str = "efron") -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood, score and information of a Cox model at a given beta."""
    _check_ties(ties)
    data = _cox_data(time, event, x, strata)
    b = np.atleast_1d(np.asarray(beta, dtype=float))
    return data.evaluate(b, ties)  # the partial likelihood is invariant to centring x


def _check_ties(ties: str) -> None:
    if ties not in ("efron", "breslow"):
        raise StatsInputError(f"coxph: ties {ties!r}: expected 'efron' or 'breslow'")


def coxph(time: object, event: object, x: object, strata: object | None = None, ties: str = "efron",
          conf_level: float = 0.95, max_iter: int = 30, eps: float = 1e-12) -> CoxResult:
    """Fit a (stratified) Cox proportional hazards model by Newton-Raphson, as R coxph."""
    _check_ties(ties)
    return _fit(_cox_data(time, event, x, strata), ties, conf_level, max_iter, eps)


def coxph_data(data: SurvivalData, x: object | None = None, stratified: bool = True, ties: str = "efron",
               conf_level: float = 0.95, max_iter: int = 30, eps: float = 1e-12) -> CoxResult:
    """Cox model on a SurvivalData: covariates x (default: indicator of its second of two groups), its strata."""
    _check_ties(ties)
    if x is None:
        if len(data.group_labels) != 2:
            raise StatsInputError(f"coxph: field group: {len(data.group_labels)} groups {data.group_labels!r}; expected "
                                  f"two (or covariates x)")
        xx, arm, levels = data.group[:, None].astype(float), data.group, (np.array([[0.0], [1.0]]), data.group)
    else:
        xx, arm, levels = _check_x(x, data.n), None, None
    strat = stratified and data.strata_labels != [None]
    s, slabels = (data.strata, data.strata_labels) if strat else (np.zeros(data.n, np.int64), [None])
    _check_arms(xx, s, slabels, arm)
    return _fit(_CoxData(data.cells(strat), data.event, xx, levels), ties, conf_level, max_iter, eps)


def _fit(data: _CoxData, ties: str, conf_level: float, max_iter: int, eps: float) -> CoxResult:
    if data.events == 0:
        raise StatsInputError("coxph: field event: no events; expected at least one event to fit a Cox model")
    beta = np.zeros(data.p)
    ll0, u0, i0 = data.evaluate(beta, ties)
    try:
        score_chisq = float(u0 @ np.linalg.solve(i0, u0))
    except np.linalg.LinAlgError:
        raise StatsInputError("coxph: field x: the information matrix is singular (a covariate is constant within every "
                              "stratum); expected covariates that vary") from None
    ll, u, info = ll0, u0, i0
    it = 0
    done = False
    for it in range(1, max_iter + 1):
        step = np.linalg.solve(info, u)
        new = beta + step
        lln, un, infon = data.evaluate(new, ties)
        halvings = 0
        while (not np.isfinite(lln) or lln < ll - 1e-12 * abs(ll)) and halvings < 30:
            new = (new + beta) / 2  # step-halving, as coxph does when the likelihood goes down
            lln, un, infon = data.evaluate(new, ties)
            halvings += 1
        done = abs(lln - ll) <= eps * max(abs(lln), 1.0) and np.max(np.abs(new - beta)) < 1e-8
        beta, ll, u, info = new, lln, un, infon
        if done:
            break
    var = np.linalg.inv(info)
    se = np.sqrt(np.diag(var))
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    wald = float(beta @ info @ beta)
    lr = 2 * (ll - ll0)
    df = data.p
    with np.errstate(over="ignore"):  # an infinite coefficient gives an infinite HR bound, reported as inf
        lcl, ucl = np.exp(beta - z * se), np.exp(beta + z * se)
    return CoxResult(coef=beta, var=var, se=se, hazard_ratio=np.exp(beta), hr_lcl=lcl,
                     hr_ucl=ucl, conf_level=conf_level, loglik_null=ll0, loglik=ll,
                     score_chisq=score_chisq, score_p=float(sps.chi2.sf(score_chisq, df)), lr_chisq=float(lr),
                     lr_p=float(sps.chi2.sf(lr, df)), wald_chisq=wald, wald_p=float(sps.chi2.sf(wald, df)), df=df,
                     n=data.n, events=data.events, iterations=it, ties=ties, converged=bool(done))
