"""Efron's tie correction summed over the deaths of each tied time in one compiled pass (numba).

Numpy would expand every death into its own row (660,000 rows for 10^6 subjects) and pass over them a dozen
times per Newton step; this loop holds one death at a time. Imported by ikema.stats.cox for large data only.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def efron_sums(s0, s1, s2, e0, e1, e2, dm):  # pragma: no cover - compiled
    """Sum over tied times i and their deaths j < dm[i] (f = j / dm[i]) of log(den), a and (s2 - f e2) / den - a a'."""
    m, p = s1.shape
    if p == 1:
        return _efron_one(s0, s1[:, 0], s2[:, 0, 0], e0, e1[:, 0], e2[:, 0, 0], dm)
    ll = 0.0
    score = np.zeros(p)
    info = np.zeros((p, p))
    a = np.empty(p)
    for i in range(m):
        d = int(round(dm[i]))
        inv_d = 1.0 / dm[i]
        inv_s0 = 1.0 / s0[i]
        # sum of log(den) = d log(s0) + log of the product of den / s0 in (0, 1]: one log per time, not per death
        prod = 1.0
        for j in range(d):
            f = j * inv_d
            den = s0[i] - f * e0[i]
            prod *= den * inv_s0
            if prod < 1e-250:
                ll += math.log(prod)
                prod = 1.0
            inv = 1.0 / den
            for u in range(p):
                a[u] = (s1[i, u] - f * e1[i, u]) * inv
                score[u] += a[u]
            for u in range(p):
                for v in range(p):
                    info[u, v] += (s2[i, u, v] - f * e2[i, u, v]) * inv - a[u] * a[v]
        ll += d * math.log(s0[i]) + math.log(prod)
    return ll, score, info


@numba.njit(cache=True, nogil=True)
def _efron_one(s0, s1, s2, e0, e1, e2, dm):  # pragma: no cover - compiled
    """efron_sums for one covariate, in scalars (twice as fast as the general loop: 1.4 vs 2.6 ms, 630,000 deaths)."""
    ll = 0.0
    score = 0.0
    info = 0.0
    for i in range(len(s0)):
        d = int(round(dm[i]))
        inv_d = 1.0 / dm[i]
        inv_s0 = 1.0 / s0[i]
        prod = 1.0
        for j in range(d):
            f = j * inv_d
            den = s0[i] - f * e0[i]
            prod *= den * inv_s0
            if prod < 1e-250:
                ll += math.log(prod)
                prod = 1.0
            inv = 1.0 / den
            a = (s1[i] - f * e1[i]) * inv
            score += a
            info += (s2[i] - f * e2[i]) * inv - a * a
        ll += d * math.log(s0[i]) + math.log(prod)
    return ll, np.array([score]), np.array([[info]])
