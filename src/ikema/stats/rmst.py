"""Restricted mean survival time from a Kaplan-Meier curve (R survival print(survfit, rmean = tau)) and arm differences.

Own implementation: no Python library gives survfit's RMST standard error; formulas follow survival:::survmean.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ikema.stats._checks import StatsInputError
from ikema.stats.survival import KaplanMeier, kaplan_meier


@dataclass(frozen=True)
class RMST:
    """Area under the KM curve from 0 to tau, with survfit's standard error and a normal CI."""

    tau: float
    rmst: float
    se: float
    lcl: float
    ucl: float
    conf_level: float


@dataclass(frozen=True)
class RMSTDifference:
    """Difference of two RMSTs (arm minus reference) with its normal CI and two-sided p-value."""

    difference: float
    se: float
    lcl: float
    ucl: float
    p: float
    conf_level: float


def _z(conf_level: float) -> float:
    if not 0 < conf_level < 1:
        raise StatsInputError(f"rmst: conf_level {conf_level!r}: expected a number between 0 and 1")
    return float(sps.norm.ppf(1 - (1 - conf_level) / 2))


def rmst_km(km: KaplanMeier, tau: float, conf_level: float = 0.95) -> RMST:
    """RMST up to tau of a fitted KM curve, SE as survival:::survmean (Greenwood-type sum over event times)."""
    tau = float(tau)
    if not np.isfinite(tau) or tau <= 0:
        raise StatsInputError(f"rmst: field tau: got {tau!r}, expected a positive time")
    keep = km.time <= tau
    d, nr = km.n_event[keep].astype(float), km.n_risk[keep].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        hh = np.where(nr - d == 0, 0.0, d / (nr * (nr - d)))
    t = np.r_[km.time[keep], tau]
    s = np.r_[km.surv[keep], km.surv[keep][-1] if keep.any() else 1.0]
    rect = np.diff(np.r_[0.0, t]) * np.r_[1.0, s[:-1]]
    # area from each time to tau, times its hazard increment (survmean's cumsum(rev(rectangles[-1]))^2 * rev(hh)[-1])
    tail = np.cumsum(rect[1:][::-1])[::-1]
    var = float((tail ** 2 * hh).sum()) if keep.any() else 0.0
    mean, se = float(rect.sum()), float(np.sqrt(var))
    z = _z(conf_level)
    return RMST(tau=tau, rmst=mean, se=se, lcl=mean - z * se, ucl=mean + z * se, conf_level=conf_level)


def rmst(time: object, event: object, tau: float, conf_level: float = 0.95) -> RMST:
    """RMST of right-censored times up to tau (R print(survfit(Surv(time, event) ~ 1), rmean = tau))."""
    return rmst_km(kaplan_meier(time, event), tau, conf_level)


def rmst_difference(arm: RMST, reference: RMST, conf_level: float = 0.95) -> RMSTDifference:
    """RMST of an arm minus that of the reference: independent-arm normal CI and two-sided Wald p."""
    if arm.tau != reference.tau:
        raise StatsInputError(f"rmst_difference: tau {arm.tau} and {reference.tau} differ; expected one common tau")
    diff = arm.rmst - reference.rmst
    se = float(np.hypot(arm.se, reference.se))
    z = _z(conf_level)
    p = float(2 * sps.norm.sf(abs(diff) / se)) if se > 0 else float("nan")
    return RMSTDifference(difference=diff, se=se, lcl=diff - z * se, ucl=diff + z * se, p=p, conf_level=conf_level)


def default_tau(times_by_arm: Iterable[object]) -> float:
    """survRM2's default tau: the smallest of the arms' largest observed times."""
    maxima = [float(np.max(np.asarray(t, dtype=float))) for t in times_by_arm if len(np.asarray(t))]
    if not maxima:
        raise StatsInputError("rmst: no arm has observations; expected at least one time per arm")
    return min(maxima)
