"""The batched simulation engine: numpy draws one chunk of trials at once, numba kernels turn them into trials
(stratified block randomization, piecewise-exponential event times, exponential dropout, looks at planned event
counts) and analyse each look by the (stratified) log-rank test, the statistic of ikema.stats.logrank."""

from __future__ import annotations

import math

import numba
import numpy as np

from ikema.design.scenario import Scenario

# result columns per trial and look
STOP_NONE = -1


@numba.njit(cache=True, nogil=True)
def _bucket_argsort(y, m, order, counts):
    """Write into order[:m] the stable ascending order of the finite values y[:m]."""
    # own sort rather than np.argsort: a counting sort into m buckets then insertion sort is O(m) on these
    # continuous times, 3-4 times faster than numba's argsort, and sorting is most of the cost of a trial
    if m == 0:
        return
    lo = y[0]
    hi = y[0]
    for i in range(1, m):
        v = y[i]
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    if hi <= lo:
        for i in range(m):
            order[i] = i
        return
    scale = (m - 1) / (hi - lo)
    for j in range(m + 1):
        counts[j] = 0
    for i in range(m):
        counts[int((y[i] - lo) * scale) + 1] += 1
    for j in range(m):
        counts[j + 1] += counts[j]
    for i in range(m):
        k = int((y[i] - lo) * scale)
        order[counts[k]] = i
        counts[k] += 1
    for i in range(1, m):
        p = order[i]
        v = y[p]
        j = i - 1
        while j >= 0 and y[order[j]] > v:
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = p


@numba.njit(cache=True, nogil=True)
def _logrank_one(y, d, a, s, m, n_strata, order, atrisk, dd, d1, touched):
    """(E_exp - O_exp, variance) summed over strata for the first m subjects (survdiff's tie handling)."""
    # own loop rather than ikema.stats.logrank: it runs once per look of each of 10^5 trials, in numba
    for st in range(n_strata):
        atrisk[st, 0] = 0
        atrisk[st, 1] = 0
        dd[st] = 0
        d1[st] = 0
    for i in range(m):
        atrisk[s[i], a[i]] += 1
    u = 0.0
    v = 0.0
    i = 0
    while i < m:
        ti = y[order[i]]
        j = i
        ntouch = 0
        while j < m and y[order[j]] == ti:
            p = order[j]
            if d[p]:
                st = s[p]
                if dd[st] == 0:
                    touched[ntouch] = st
                    ntouch += 1
                dd[st] += 1
                if a[p] == 1:
                    d1[st] += 1
            j += 1
        for q in range(ntouch):
            st = touched[q]
            n0 = float(atrisk[st, 0])
            n1 = float(atrisk[st, 1])
            n = n0 + n1
            dk = float(dd[st])
            u += dk * n1 / n - d1[st]
            if n > 1.0:
                v += dk * (n - dk) / (n - 1.0) * n1 * n0 / (n * n)
            dd[st] = 0
            d1[st] = 0
        for jj in range(i, j):
            p = order[jj]
            atrisk[s[p], a[p]] -= 1
        i = j
    return u, v


@numba.njit(cache=True, nogil=True)
def _logrank_batch(time, event, arm, stratum, count, n_strata):
    b_n, n_max = time.shape
    z = np.empty(b_n)
    atrisk = np.zeros((n_strata, 2), np.int64)
    dd = np.zeros(n_strata, np.int64)
    d1 = np.zeros(n_strata, np.int64)
    touched = np.zeros(n_strata, np.int64)
    order = np.zeros(n_max, np.int64)
    counts = np.zeros(n_max + 1, np.int64)
    for b in range(b_n):
        m = count[b]
        _bucket_argsort(time[b], m, order, counts)
        u, v = _logrank_one(time[b], event[b], arm[b], stratum[b], m, n_strata, order, atrisk, dd, d1, touched)
        z[b] = u / math.sqrt(v) if v > 0 else 0.0
    return z


def logrank_z_batch(time: np.ndarray, event: np.ndarray, arm: np.ndarray, stratum: np.ndarray | None = None,
                    count: np.ndarray | None = None) -> np.ndarray:
    """Log-rank Z = (E - O) / sqrt(V) of arm 1 for each row (the first count[b] subjects), stratified if strata given."""
    t = np.ascontiguousarray(time, dtype=np.float64)
    if t.ndim != 2:
        raise ValueError(f"time: got shape {t.shape}, expected (trials, subjects)")
    e = np.ascontiguousarray(event, dtype=np.bool_)
    a = np.ascontiguousarray(arm, dtype=np.int64)
    s = np.zeros(t.shape, np.int64) if stratum is None else np.ascontiguousarray(stratum, dtype=np.int64)
    c = np.full(t.shape[0], t.shape[1], np.int64) if count is None else np.ascontiguousarray(count, dtype=np.int64)
    return _logrank_batch(t, e, a, s, c, int(s.max()) + 1 if s.size else 1)


@numba.njit(cache=True, nogil=True)
def _inverse_cumhaz(e, starts, h):
    """Time at which the piecewise-constant cumulative hazard reaches e."""
    acc = 0.0
    p_n = starts.shape[0]
    for j in range(p_n - 1):
        step = h[j] * (starts[j + 1] - starts[j])
        if acc + step >= e and h[j] > 0:
            return starts[j] + (e - acc) / h[j]
        acc += step
    if h[p_n - 1] > 0:
        return starts[p_n - 1] + (e - acc) / h[p_n - 1]
    return np.inf


@numba.njit(cache=True, nogil=True)
def _make_patients(b, u_stratum, u_block, gaps, accrual, e_event, e_drop, cum_prev, block_sizes, w_exp, w_tot,
                   starts, hazards, dropout_rate, n_strata, entry, s_all, arm, t_ev, t_dr, rem0, rem1):
    """Entry, stratum, arm (stratified permuted blocks), event and dropout times of the patients of trial b."""
    n = u_stratum.shape[1]
    nb = block_sizes.shape[0]
    rem0[:] = 0
    rem1[:] = 0
    # uniform order statistics on (0, accrual) from normalised exponential spacings: sorted without a sort
    total = 0.0
    for i in range(n + 1):
        total += gaps[b, i]
    acc = 0.0
    for i in range(n):
        acc += gaps[b, i]
        entry[i] = acc / total * accrual
    n_blocks = 0
    for i in range(n):
        u = u_stratum[b, i]
        st = 0
        while st < n_strata - 1 and u >= cum_prev[st]:
            st += 1
        s_all[i] = st
        lo = cum_prev[st - 1] if st > 0 else 0.0
        v = (u - lo) / (cum_prev[st] - lo)  # given the stratum, the rest of the uniform is a fresh uniform
        if rem0[st] + rem1[st] == 0:  # a new permuted block in this stratum
            bs = block_sizes[min(int(u_block[b, n_blocks] * nb), nb - 1)]
            n_blocks += 1
            rem1[st] = bs * w_exp // w_tot
            rem0[st] = bs - rem1[st]
        # drawing arms without replacement from the block's remaining slots = a random permutation of the block
        if v * (rem0[st] + rem1[st]) < rem1[st]:
            arm[i] = 1
            rem1[st] -= 1
        else:
            arm[i] = 0
            rem0[st] -= 1
        t_ev[i] = _inverse_cumhaz(e_event[b, i], starts, hazards[arm[i]])
        t_dr[i] = e_drop[b, i] / dropout_rate if dropout_rate > 0 else np.inf


@numba.njit(cache=True, nogil=True)
def _patients_batch(u_stratum, u_block, gaps, accrual, e_event, e_drop, cum_prev, block_sizes, w_exp, w_tot, starts,
                    hazards, dropout_rate, n_strata):
    b_n, n = u_stratum.shape
    entry = np.zeros((b_n, n))
    strata = np.zeros((b_n, n), np.int64)
    arms = np.zeros((b_n, n), np.int64)
    t_event = np.zeros((b_n, n))
    t_drop = np.zeros((b_n, n))
    rem0 = np.zeros(n_strata, np.int64)
    rem1 = np.zeros(n_strata, np.int64)
    for b in range(b_n):
        _make_patients(b, u_stratum, u_block, gaps, accrual, e_event, e_drop, cum_prev, block_sizes, w_exp, w_tot,
                       starts, hazards, dropout_rate, n_strata, entry[b], strata[b], arms[b], t_event[b], t_drop[b],
                       rem0, rem1)
    return entry, strata, arms, t_event, t_drop


@numba.njit(cache=True, nogil=True)
def _simulate(u_stratum, u_block, gaps, accrual, e_event, e_drop, cum_prev, block_sizes, w_exp, w_tot, starts,
              hazards, dropout_rate, look_events, crit, stratified, n_strata):
    b_n, n = u_stratum.shape
    k_n = look_events.shape[0]
    stop = np.full(b_n, -1, np.int64)
    last = np.zeros(b_n, np.int64)
    short = np.zeros(b_n, np.bool_)
    zs = np.full((b_n, k_n), np.nan)
    taus = np.full((b_n, k_n), np.nan)
    events = np.zeros((b_n, k_n), np.int64)
    enrolled = np.zeros((b_n, k_n), np.int64)
    entry = np.zeros(n)
    s_all = np.zeros(n, np.int64)
    s_use = np.zeros(n, np.int64)
    arm = np.zeros(n, np.int64)
    t_ev = np.zeros(n)
    t_dr = np.zeros(n)
    cal = np.zeros(n)
    y = np.zeros(n)
    dlt = np.zeros(n, np.bool_)
    a_use = np.zeros(n, np.int64)
    rem0 = np.zeros(n_strata, np.int64)
    rem1 = np.zeros(n_strata, np.int64)
    n_an = n_strata if stratified else 1
    atrisk = np.zeros((n_an, 2), np.int64)
    dd = np.zeros(n_an, np.int64)
    d1 = np.zeros(n_an, np.int64)
    touched = np.zeros(n_an, np.int64)
    order = np.zeros(n, np.int64)
    order_cal = np.zeros(n, np.int64)
    counts = np.zeros(n + 1, np.int64)
    fin = np.zeros(n)
    for b in range(b_n):
        n_events = 0
        last_obs = 0.0
        _make_patients(b, u_stratum, u_block, gaps, accrual, e_event, e_drop, cum_prev, block_sizes, w_exp, w_tot,
                       starts, hazards, dropout_rate, n_strata, entry, s_all, arm, t_ev, t_dr, rem0, rem1)
        for i in range(n):
            if t_ev[i] <= t_dr[i]:
                cal[i] = entry[i] + t_ev[i]
                n_events += 1
            else:
                cal[i] = np.inf
            end = entry[i] + min(t_ev[i], t_dr[i])
            if end > last_obs and end < np.inf:
                last_obs = end
        nf = 0
        for i in range(n):
            if cal[i] < np.inf:
                fin[nf] = cal[i]
                nf += 1
        _bucket_argsort(fin, nf, order_cal, counts)
        for k in range(k_n):
            dk = look_events[k]
            if dk <= n_events:
                tau = fin[order_cal[dk - 1]]
            else:  # the planned events never occur: analyse everything observable
                tau = last_obs
                short[b] = True
            m = 0
            ne = 0
            for i in range(n):
                if entry[i] <= tau:
                    if t_ev[i] <= t_dr[i] and entry[i] + t_ev[i] <= tau:
                        y[m] = t_ev[i]
                        dlt[m] = True
                        ne += 1
                    else:
                        y[m] = min(t_dr[i], tau - entry[i])
                        dlt[m] = False
                    a_use[m] = arm[i]
                    s_use[m] = s_all[i] if stratified else 0
                    m += 1
            _bucket_argsort(y, m, order, counts)
            u, v = _logrank_one(y, dlt, a_use, s_use, m, n_an, order, atrisk, dd, d1, touched)
            z = u / math.sqrt(v) if v > 0 else 0.0
            zs[b, k] = z
            taus[b, k] = tau
            events[b, k] = ne
            enrolled[b, k] = m
            last[b] = k
            if z >= crit[k]:
                stop[b] = k
                break
            if short[b]:
                break
    return stop, last, short, zs, taus, events, enrolled


def draw_chunk(scenario: Scenario, n_trials: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every random number of `n_trials` trials, drawn in one fixed order from `rng`."""
    n = scenario.n_patients
    shape = (n_trials, n)
    u_stratum = rng.random(shape)  # stratum, then (rescaled) the arm within the block
    u_block = rng.random((n_trials, n // min(scenario.block_sizes) + len(scenario.stratum_prevalence) + 1))
    gaps = rng.standard_exponential((n_trials, n + 1))  # accrual spacings
    e_event = rng.standard_exponential(shape)
    e_drop = rng.standard_exponential(shape)
    return {"u_stratum": u_stratum, "u_block": u_block, "gaps": gaps, "e_event": e_event, "e_drop": e_drop}


def _constants(scenario: Scenario) -> tuple:
    starts, hazards = scenario.piecewise_table()
    w_exp, w_ctl = scenario.allocation
    prev = np.asarray(scenario.stratum_prevalence, dtype=float)
    return starts, hazards, int(w_exp), int(w_exp + w_ctl), np.cumsum(prev) / prev.sum(), len(prev)


def trial_patients(scenario: Scenario, n_trials: int, seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """The patients of the trials simulate_chunk runs from this seed: entry, stratum, arm, event and dropout times."""
    draws = draw_chunk(scenario, n_trials, np.random.default_rng(seed))
    starts, hazards, w_exp, w_tot, cum_prev, n_strata = _constants(scenario)
    entry, strata, arms, t_event, t_drop = _patients_batch(
        draws["u_stratum"], draws["u_block"], draws["gaps"], float(scenario.accrual_months), draws["e_event"],
        draws["e_drop"], cum_prev, np.asarray(scenario.block_sizes, dtype=np.int64), w_exp, w_tot, starts, hazards,
        scenario.dropout_rate, n_strata)
    return {"entry": entry, "stratum": strata, "arm": arms, "t_event": t_event, "t_drop": t_drop}


def simulate_chunk(scenario: Scenario, n_trials: int, seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """Simulate and analyse `n_trials` trials from one seeded stream; per-trial outcome arrays."""
    rng = np.random.default_rng(seed)
    draws = draw_chunk(scenario, n_trials, rng)
    starts, hazards, w_exp, w_tot, cum_prev, n_strata = _constants(scenario)
    stop, last, short, zs, taus, events, enrolled = _simulate(
        draws["u_stratum"], draws["u_block"], draws["gaps"], float(scenario.accrual_months), draws["e_event"],
        draws["e_drop"],
        cum_prev, np.asarray(scenario.block_sizes, dtype=np.int64), w_exp, w_tot, starts, hazards,
        scenario.dropout_rate, np.asarray(scenario.look_events, dtype=np.int64),
        np.asarray(scenario.efficacy_z, dtype=float), bool(scenario.stratified), n_strata)
    return {"stop": stop, "last": last, "short": short, "z": zs, "tau": taus, "events": events, "enrolled": enrolled}
