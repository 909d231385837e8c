"""Kaplan-Meier survival at chosen times with its CI (R summary(survfit, times = ...))."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ikema.stats.survival import KaplanMeier


@dataclass(frozen=True)
class Landmark:
    """The KM estimate at one time: survival, its standard error (of S), CI and number at risk; None past follow-up."""

    time: float
    survival: float | None
    std_err: float | None
    lcl: float | None
    ucl: float | None
    n_risk: int | None


def _f(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def landmarks(km: KaplanMeier, times: object) -> list[Landmark]:
    """Survival with its CI at each time; times beyond the last observed time give None, as summary() drops them."""
    t = np.atleast_1d(np.asarray(times, dtype=float))
    last = km.time[-1] if len(km.time) else 0.0
    nrisk = km.n_risk_at(t)
    out = []
    for tt, nr in zip(t, nrisk):
        if tt > last:
            out.append(Landmark(float(tt), None, None, None, None, None))
            continue
        i = int(np.searchsorted(km.time, tt, side="right")) - 1
        if i < 0:  # before the first observed time: the curve starts at 1
            out.append(Landmark(float(tt), 1.0, 0.0, 1.0, 1.0, int(nr)))
            continue
        s = float(km.surv[i])
        out.append(Landmark(float(tt), s, _f(km.std_err[i] * s), _f(km.lower[i]), _f(km.upper[i]), int(nr)))
    return out
