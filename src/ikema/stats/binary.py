"""Binary endpoints: CMH test with the Mantel-Haenszel common odds ratio (R mantelhaen.test), Clopper-Pearson, rate difference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.contingency_tables import StratifiedTable
from statsmodels.stats.proportion import proportion_confint

from ikema.stats._checks import StatsInputError, codes


@dataclass(frozen=True)
class CMHResult:
    """Cochran-Mantel-Haenszel test (1 df) and MH common odds ratio (experimental vs reference, odds of response)."""

    chisq: float
    p: float
    correct: bool
    common_odds_ratio: float
    or_lcl: float
    or_ucl: float
    conf_level: float
    tables: np.ndarray  # K x 2 x 2: [stratum, arm (experimental, reference), (responder, non-responder)]
    strata: list


@dataclass(frozen=True)
class RateDifference:
    """Difference in response rates (experimental minus reference) with its CI and the method used."""

    difference: float
    lcl: float
    ucl: float
    conf_level: float
    method: str


def _responder01(responder: object, source: str) -> np.ndarray:
    r = np.asarray(responder)
    if r.dtype.kind in "OUS":
        m = {"Y": 1, "N": 0, "1": 1, "0": 0, 1: 1, 0: 0, True: 1, False: 0}
        out = np.empty(len(r), dtype=np.int64)
        for i, v in enumerate(r):
            if v not in m:
                v = v.item() if isinstance(v, np.generic) else v
                raise StatsInputError(f"{source}: record {i}, field responder: got {v!r}, expected Y/N or 1/0")
            out[i] = m[v]
        return out
    rf = r.astype(float)
    bad = ~np.isin(rf, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise StatsInputError(f"{source}: record {i}, field responder: got {r[i].item()!r}, expected Y/N or 1/0")
    return rf.astype(np.int64)


def _arm_index(group: object, reference: object | None, source: str) -> tuple[np.ndarray, list]:
    """1 = experimental, 0 = reference; labels returned as [experimental, reference]."""
    g, labels = codes(group, source, "group")
    if len(labels) != 2:
        raise StatsInputError(f"{source}: field group: arms {labels!r}; expected exactly two non-empty arms")
    ref = labels[0] if reference is None else reference
    if ref not in labels:
        raise StatsInputError(f"{source}: reference arm {ref!r} not among the arms {labels!r}")
    ri = labels.index(ref)
    return (g != ri).astype(np.int64), [labels[1 - ri], labels[ri]]


def stratified_tables(responder: object, group: object, strata: object | None = None, reference: object | None = None,
                      source: str = "cmh") -> tuple[np.ndarray, list, list]:
    """K x 2 x 2 tables [stratum, (experimental, reference), (responder, non-responder)] with arm and stratum labels."""
    y = _responder01(responder, source)
    arm, arms = _arm_index(group, reference, source)
    if len(arm) != len(y):
        raise StatsInputError(f"{source}: group has {len(arm)} values for {len(y)} responses")
    if strata is None:
        s, slabels = np.zeros(len(y), np.int64), [None]
    else:
        s, slabels = codes(strata, source, "strata")
    cell = s * 4 + (1 - arm) * 2 + (1 - y)
    tab = np.bincount(cell, minlength=4 * len(slabels)).reshape(len(slabels), 2, 2).astype(float)
    rows = tab.sum(axis=2)
    bad = np.flatnonzero((rows == 0).any(axis=1))
    if len(bad):
        j = int(bad[0])
        only = arms[0] if rows[j, 0] > 0 else arms[1]
        raise StatsInputError(f"{source}: stratum {slabels[j]!r} holds only arm {only!r}; expected both arms in every stratum")
    return tab, arms, slabels


def cmh(responder: object, group: object, strata: object | None = None, reference: object | None = None,
        correct: bool = False, conf_level: float = 0.95) -> CMHResult:
    """CMH test of conditional independence of arm and response across strata, and the MH common OR with RBG CI."""
    tab, arms, slabels = stratified_tables(responder, group, strata, reference)
    return cmh_tables(tab, correct=correct, conf_level=conf_level, strata=slabels)


def cmh_tables(tables: object, correct: bool = False, conf_level: float = 0.95, strata: list | None = None) -> CMHResult:
    """CMH test and MH common odds ratio from K x 2 x 2 tables (rows: experimental, reference; cols: yes, no)."""
    tab = np.asarray(tables, dtype=float)
    if tab.ndim != 3 or tab.shape[1:] != (2, 2):
        raise StatsInputError(f"cmh: tables of shape {tab.shape}; expected K x 2 x 2")
    nk = tab.sum(axis=(1, 2))
    if (nk < 2).any():
        j = int(np.flatnonzero(nk < 2)[0])
        raise StatsInputError(f"cmh: stratum {strata[j] if strata else j!r} has {int(nk[j])} subject(s); expected at least 2 "
                              f"(as R mantelhaen.test)")
    chisq, p = _mantelhaen_chisq(tab, correct)
    # statsmodels' StratifiedTable gives the MH common odds ratio with the Robins-Breslow-Greenland CI
    st = StratifiedTable(np.moveaxis(tab, 0, -1))
    alpha = 1 - conf_level
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, hi = st.oddsratio_pooled_confint(alpha=alpha)
    return CMHResult(chisq=chisq, p=p, correct=correct,
                     common_odds_ratio=float(st.oddsratio_pooled), or_lcl=float(lo), or_ucl=float(hi),
                     conf_level=conf_level, tables=tab, strata=list(strata) if strata is not None else list(range(len(tab))))


def _mantelhaen_chisq(tab: np.ndarray, correct: bool) -> tuple[float, float]:
    """R mantelhaen.test's 2 x 2 x K statistic and p; NaN when the variance is 0 (a degenerate table, never p = 0)."""
    # own: statsmodels' correction always subtracts 0.5; R only when |O - E| >= 0.5
    row1, row2 = tab[:, 0].sum(axis=1), tab[:, 1].sum(axis=1)
    col1, n = tab[:, :, 0].sum(axis=1), tab.sum(axis=(1, 2))
    delta = float((tab[:, 0, 0] - row1 * col1 / n).sum())
    var = float((row1 * row2 * col1 * (n - col1) / (n ** 2 * (n - 1))).sum())
    yates = 0.5 if correct and abs(delta) >= 0.5 else 0.0
    if not var > 0:
        return float("nan"), float("nan")
    chisq = (abs(delta) - yates) ** 2 / var
    return float(chisq), float(sps.chi2.sf(chisq, 1))


def clopper_pearson(x: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson exact confidence interval for a binomial proportion x / n."""
    if not (isinstance(n, (int, np.integer)) and n > 0):
        raise StatsInputError(f"clopper_pearson: field n: got {n!r}, expected a positive integer (an empty arm has no rate)")
    if not (isinstance(x, (int, np.integer)) and 0 <= x <= n):
        raise StatsInputError(f"clopper_pearson: field x: got {x!r}, expected an integer between 0 and n = {n}")
    lo, hi = proportion_confint(int(x), int(n), alpha=1 - conf_level, method="beta")
    return float(lo), float(hi)


def rate_difference(responder: object, group: object, strata: object | None = None, reference: object | None = None,
                    conf_level: float = 0.95) -> RateDifference:
    """Experimental minus reference response rate: Wald CI unstratified; MH-weighted with Sato's variance when stratified."""
    tab, arms, slabels = stratified_tables(responder, group, strata, reference, source="rate_difference")
    z = sps.norm.ppf(1 - (1 - conf_level) / 2)
    y1, y2 = tab[:, 0, 0], tab[:, 1, 0]
    n1, n2 = tab[:, 0].sum(axis=1), tab[:, 1].sum(axis=1)
    if strata is None:
        p1, p2 = y1[0] / n1[0], y2[0] / n2[0]
        d = p1 - p2
        se = np.sqrt(p1 * (1 - p1) / n1[0] + p2 * (1 - p2) / n2[0])
        return RateDifference(float(d), float(d - z * se), float(d + z * se), conf_level, "Wald (unstratified)")
    n = n1 + n2
    w = n1 * n2 / n
    d = float((w * (y1 / n1 - y2 / n2)).sum() / w.sum())
    # own: statsmodels has no stratified risk difference; Sato (1989) variance of the MH estimate, as SAS PROC FREQ
    pp = ((n1 ** 2 * y2 - n2 ** 2 * y1 + n1 * n2 * (n2 - n1) / 2) / n ** 2).sum()
    qq = ((y1 * (n2 - y2) + y2 * (n1 - y1)) / (2 * n)).sum()
    se = np.sqrt(max(d * pp + qq, 0.0)) / w.sum()
    return RateDifference(d, float(d - z * se), float(d + z * se), conf_level, "Mantel-Haenszel weights, Sato variance")
