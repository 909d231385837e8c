"""Events and patients: the maximum number of events of a group-sequential design (Schoenfeld 1983 x the
design's inflation factor, as rpact getSampleSizeSurvival), and the patients or study duration that yield them.

Expected events by calendar time tau (months from the first patient in), N patients entering uniformly over
[0, A], arm j (share pi_j) with event hazard lambda_j and dropout hazard phi (competing exponential risks):

    P_j(s) = lambda_j / (lambda_j + phi) * (1 - exp(-(lambda_j + phi) s))     (event observed within s months)
    E(tau) = (N / A) sum_j pi_j int_0^min(tau, A) P_j(tau - u) du
           = (N / A) sum_j pi_j lambda_j / k_j * [a - (exp(-k_j (tau - a)) - exp(-k_j tau)) / k_j],
             k_j = lambda_j + phi, a = min(tau, A).

Patients for a follow-up F after the end of accrual: N = D / (E(A + F) / N); study duration for N patients: the
tau solving E(tau) = D; the look times solve E(tau) = t_k D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from scipy import optimize

from ikema.design.scenario import DesignError, monthly_dropout_rate
from ikema.stats.groupseq import (check_allocation, check_hazard_ratio, efficacy_boundaries, inflation_factor,
                                  schoenfeld_events)


@dataclass(frozen=True)
class EventsPlan:
    """Events needed by a group-sequential design and, with accrual assumptions, patients and duration."""

    max_events: float
    fixed_events: float
    inflation_factor: float
    events_per_look: tuple[float, ...]
    efficacy_z: tuple[float, ...]
    patients: Optional[float] = None
    follow_up_months: Optional[float] = None
    study_duration_months: Optional[float] = None
    analysis_times_months: Optional[tuple[float, ...]] = None

    def as_dict(self) -> dict:
        """JSON-ready dict of every field."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _positive(value: float, field: str, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DesignError(f"{field}: got {value!r}, expected {what}") from None
    if not (v > 0 and math.isfinite(v)):
        raise DesignError(f"{field}: got {value!r}, expected {what}")
    return v


def expected_events(tau: float, n_patients: float, accrual_months: float, control_hazard: float, hazard_ratio: float,
                    allocation: float, dropout_rate: float = 0.0) -> float:
    """Expected events by calendar time tau under uniform accrual and exponential event and dropout times."""
    if tau <= 0:
        return 0.0
    a = min(tau, accrual_months)
    r = allocation
    total = 0.0
    for share, lam in ((r / (1 + r), control_hazard * hazard_ratio), (1 / (1 + r), control_hazard)):
        k = lam + dropout_rate
        total += share * lam / k * (a - (math.exp(-k * (tau - a)) - math.exp(-k * tau)) / k)
    return n_patients / accrual_months * total


def _time_for_events(target: float, n_patients: float, accrual: float, lam: float, hr: float, r: float,
                     phi: float) -> float:
    limit = expected_events(1e7, n_patients, accrual, lam, hr, r, phi)
    if target >= limit:
        raise DesignError(f"patients: got {n_patients:g} patients, who are expected to yield at most {limit:.2f} "
                          f"events, expected enough patients for {target:.2f} events")
    hi = accrual
    while expected_events(hi, n_patients, accrual, lam, hr, r, phi) < target:
        hi *= 2
    return float(optimize.brentq(lambda x: expected_events(x, n_patients, accrual, lam, hr, r, phi) - target,
                                 0.0, hi, xtol=1e-10))


def events_plan(hazard_ratio: float, power: float, allocation: float, information_rates: Sequence[float],
                alpha: float, spending: str, gamma: Optional[float] = None, control_median: Optional[float] = None,
                accrual_months: Optional[float] = None, annual_dropout: float = 0.0,
                follow_up_months: Optional[float] = None, patients: Optional[float] = None) -> EventsPlan:
    """Maximum events (Schoenfeld 1983 x inflation factor) and, given accrual, patients or study duration."""
    hr = check_hazard_ratio(hazard_ratio)
    r = check_allocation(allocation)
    bnd = efficacy_boundaries(information_rates, alpha, spending, gamma)
    fixed = float(schoenfeld_events(hr, bnd.alpha, power, r))
    infl = float(inflation_factor(bnd, power))
    dmax = fixed * infl
    per_look = tuple(float(t * dmax) for t in bnd.information_rates)
    if control_median is None or accrual_months is None or (follow_up_months is None and patients is None):
        return EventsPlan(max_events=dmax, fixed_events=fixed, inflation_factor=infl, events_per_look=per_look,
                          efficacy_z=bnd.efficacy_z)
    if follow_up_months is not None and patients is not None:
        raise DesignError("follow_up_months: got both a follow-up and a number of patients, expected one of them")
    lam = math.log(2) / _positive(control_median, "control_median", "a median > 0 months")
    acc = _positive(accrual_months, "accrual_months", "an accrual period > 0 months")
    phi = monthly_dropout_rate(annual_dropout)
    if follow_up_months is not None:
        f = float(follow_up_months)
        if not (f >= 0 and math.isfinite(f)):
            raise DesignError(f"follow_up_months: got {follow_up_months!r}, expected a follow-up >= 0 months")
        per_patient = expected_events(acc + f, 1.0, acc, lam, hr, r, phi)
        n = float(dmax / per_patient)
    else:
        n = _positive(patients, "patients", "a number of patients > 0")
    duration = _time_for_events(dmax, n, acc, lam, hr, r, phi)
    looks = tuple(_time_for_events(d, n, acc, lam, hr, r, phi) for d in per_look[:-1]) + (duration,)
    return EventsPlan(max_events=dmax, fixed_events=fixed, inflation_factor=infl, events_per_look=per_look,
                      efficacy_z=bnd.efficacy_z, patients=n, follow_up_months=duration - acc,
                      study_duration_months=duration, analysis_times_months=looks)
