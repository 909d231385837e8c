"""The batched simulation engine: numpy draws one chunk of trials at once, numba kernels turn them into trials
(stratified block randomization, piecewise-exponential event times, exponential dropout, looks at planned event
counts) and analyse each look by the (stratified) log-rank test, the statistic of ikema.stats.logrank."""

from __future__ import annotations

import math
import threading

import numba
import numpy as np

from ikema.design.scenario import Scenario

# result columns per trial and look
STOP_NONE = -1


@numba.njit(cache=True, nogil=True)
def _inverse_cumhaz(e, starts, hazards, a):
    """Time at which the piecewise-constant cumulative hazard of arm a (row a of hazards) reaches e."""
    p_n = starts.shape[0]
    if p_n == 1:
        return starts[0] + e / hazards[a, 0] if hazards[a, 0] > 0 else np.inf
    acc = 0.0
    for j in range(p_n - 1):
        step = hazards[a, j] * (starts[j + 1] - starts[j])
        if acc + step >= e and hazards[a, j] > 0:
            return starts[j] + (e - acc) / hazards[a, j]
        acc += step
    if hazards[a, p_n - 1] > 0:
        return starts[p_n - 1] + (e - acc) / hazards[a, p_n - 1]
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
        for j in range(n_strata - 1):  # cum_prev ascends: the count of limits passed, without a branch per limit
            st += u >= cum_prev[j]
        s_all[i] = st
        lo = cum_prev[st - 1] if st > 0 else 0.0
        v = (u - lo) / (cum_prev[st] - lo)  # given the stratum, the rest of the uniform is a fresh uniform
        if rem0[st] + rem1[st] == 0:  # a new permuted block in this stratum
            bs = block_sizes[min(int(u_block[b, n_blocks] * nb), nb - 1)]
            n_blocks += 1
            rem1[st] = bs * w_exp // w_tot
            rem0[st] = bs - rem1[st]
        # drawing arms without replacement from the block's remaining slots = a random permutation of the block
        a = np.int64(v * (rem0[st] + rem1[st]) < rem1[st])
        arm[i] = a
        rem1[st] -= a
        rem0[st] -= 1 - a
        t_ev[i] = _inverse_cumhaz(e_event[b, i], starts, hazards, arm[i])
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
def _kth_smallest(v, m, k, bucket, counts, tmp):
    """The k-th smallest (1-based) of the finite values v[:m]: one counting pass, then a sort of one bucket only."""
    lo = v[0]
    hi = v[0]
    for i in range(1, m):
        if v[i] < lo:
            lo = v[i]
        if v[i] > hi:
            hi = v[i]
    if hi <= lo:
        return lo
    scale = (m - 1) / (hi - lo)
    for j in range(m):
        counts[j] = 0
    for i in range(m):
        j = int((v[i] - lo) * scale)
        bucket[i] = j
        counts[j] += 1
    below = 0
    j = 0
    while below + counts[j] < k:
        below += counts[j]
        j += 1
    q = 0
    for i in range(m):
        if bucket[i] == j:
            x = v[i]
            r = q - 1
            while r >= 0 and tmp[r] > x:
                tmp[r + 1] = tmp[r]
                r -= 1
            tmp[r + 1] = x
            q += 1
    return tmp[k - below - 1]


@numba.njit(cache=True, nogil=True)
def _sort_pairs(y, f, m, ys, fs, bucket, counts):
    """ys[:m], fs[:m] = y[:m], f[:m] in ascending, stable order of y."""
    # own sort rather than np.argsort: a counting sort into m buckets then insertion sort is O(m) on these
    # continuous times, 3-4 times faster than numba's argsort, and sorting is most of the cost of a look
    lo = y[0]
    hi = y[0]
    for i in range(1, m):
        if y[i] < lo:
            lo = y[i]
        if y[i] > hi:
            hi = y[i]
    if hi <= lo:
        for i in range(m):
            ys[i] = y[i]
            fs[i] = f[i]
        return
    scale = (m - 1) / (hi - lo)
    for j in range(m + 1):
        counts[j] = 0
    for i in range(m):
        j = int((y[i] - lo) * scale)
        bucket[i] = j
        counts[j + 1] += 1
    for j in range(m):
        counts[j + 1] += counts[j]
    for i in range(m):
        j = bucket[i]
        ys[counts[j]] = y[i]
        fs[counts[j]] = f[i]
        counts[j] += 1
    for i in range(1, m):
        x = ys[i]
        g = fs[i]
        r = i - 1
        while r >= 0 and ys[r] > x:
            ys[r + 1] = ys[r]
            fs[r + 1] = fs[r]
            r -= 1
        ys[r + 1] = x
        fs[r + 1] = g


@numba.njit(cache=True, nogil=True)
def _logrank_sorted(ys, fs, m, n_strata, atrisk, dd, d1, touched):
    """(E_exp - O_exp, variance) summed over strata (survdiff's ties) for m subjects in time order, each flag =
    stratum * 4 + arm * 2 + event; atrisk holds their numbers by stratum and arm (used up)."""
    # own loop rather than ikema.stats.logrank: it runs once per look of each of 10^5 trials, in numba
    u = 0.0
    v = 0.0
    i = 0
    if n_strata == 1:
        n0i = atrisk[0, 0]
        n1i = atrisk[0, 1]
        while i < m:
            ti = ys[i]
            j = i
            dk = 0
            dk1 = 0
            r1 = 0
            while j < m and ys[j] == ti:
                g = fs[j]
                ev = g & 1
                a = (g >> 1) & 1
                dk += ev
                dk1 += ev & a
                r1 += a
                j += 1
            if dk > 0:
                n0 = float(n0i)
                n1 = float(n1i)
                n = n0 + n1
                dkf = float(dk)
                u += dkf * n1 / n - dk1
                if n > 1.0:
                    v += dkf * (n - dkf) / (n - 1.0) * n1 * n0 / (n * n)
            n0i -= j - i - r1
            n1i -= r1
            i = j
        return u, v
    while i < m:
        ti = ys[i]
        j = i
        ntouch = 0
        while j < m and ys[j] == ti:
            g = fs[j]
            if g & 1:
                st = g >> 2
                if dd[st] == 0:
                    touched[ntouch] = st
                    ntouch += 1
                dd[st] += 1
                d1[st] += (g >> 1) & 1
            j += 1
        for q in range(ntouch):
            st = touched[q]
            n0 = float(atrisk[st, 0])
            n1 = float(atrisk[st, 1])
            n = n0 + n1
            dkf = float(dd[st])
            u += dkf * n1 / n - d1[st]
            if n > 1.0:
                v += dkf * (n - dkf) / (n - 1.0) * n1 * n0 / (n * n)
            dd[st] = 0
            d1[st] = 0
        for jj in range(i, j):
            g = fs[jj]
            atrisk[g >> 2, (g >> 1) & 1] -= 1
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
    flag = np.zeros(n_max, np.int64)
    ys = np.zeros(n_max)
    fs = np.zeros(n_max, np.int64)
    bucket = np.zeros(n_max, np.int64)
    counts = np.zeros(n_max + 1, np.int64)
    for b in range(b_n):
        m = count[b]
        atrisk[:, :] = 0
        for i in range(m):
            flag[i] = stratum[b, i] * 4 + arm[b, i] * 2 + np.int64(event[b, i])
            atrisk[stratum[b, i], arm[b, i]] += 1
        u, v = 0.0, 0.0
        if m > 0:
            _sort_pairs(time[b], flag, m, ys, fs, bucket, counts)
            u, v = _logrank_sorted(ys, fs, m, n_strata, atrisk, dd, d1, touched)
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
    arm = np.zeros(n, np.int64)
    t_ev = np.zeros(n)
    t_dr = np.zeros(n)
    y = np.zeros(n)
    flag = np.zeros(n, np.int64)
    ys = np.zeros(n)
    fs = np.zeros(n, np.int64)
    rem0 = np.zeros(n_strata, np.int64)
    rem1 = np.zeros(n_strata, np.int64)
    n_an = n_strata if stratified else 1
    atrisk = np.zeros((n_an, 2), np.int64)
    dd = np.zeros(n_an, np.int64)
    d1 = np.zeros(n_an, np.int64)
    touched = np.zeros(n_an, np.int64)
    bucket = np.zeros(n, np.int64)
    counts = np.zeros(n + 1, np.int64)
    fin = np.zeros(n)
    tmp = np.zeros(n)
    cal = np.zeros(n)
    base = np.zeros(n, np.int64)
    for b in range(b_n):
        last_obs = 0.0
        _make_patients(b, u_stratum, u_block, gaps, accrual, e_event, e_drop, cum_prev, block_sizes, w_exp, w_tot,
                       starts, hazards, dropout_rate, n_strata, entry, s_all, arm, t_ev, t_dr, rem0, rem1)
        nf = 0  # events that occur at all: their calendar times
        for i in range(n):
            is_ev = t_ev[i] <= t_dr[i]
            cal[i] = entry[i] + t_ev[i] if is_ev else np.inf
            if is_ev and cal[i] < np.inf:
                fin[nf] = cal[i]
                nf += 1
            base[i] = (s_all[i] if stratified else 0) * 4 + arm[i] * 2
            end = entry[i] + min(t_ev[i], t_dr[i])
            if end > last_obs and end < np.inf:
                last_obs = end
        for k in range(k_n):
            dk = look_events[k]
            if dk <= nf:  # the look is at the calendar time of the dk-th event
                tau = _kth_smallest(fin, nf, dk, bucket, counts, tmp)
            else:  # the planned events never occur: analyse everything observable
                tau = last_obs
                short[b] = True
            for st in range(n_an):
                atrisk[st, 0] = 0
                atrisk[st, 1] = 0
                dd[st] = 0
                d1[st] = 0
            m = 0
            ne = 0
            for i in range(n):  # entry is ascending: the enrolled are a prefix
                if entry[i] > tau:
                    break
                ev = cal[i] <= tau  # an event by the look (cal is infinite for the censored)
                y[m] = t_ev[i] if ev else min(t_dr[i], tau - entry[i])
                flag[m] = base[i] + ev
                ne += ev
                m += 1
            for i in range(m):
                atrisk[flag[i] >> 2, (flag[i] >> 1) & 1] += 1
            z = 0.0
            if m > 0:
                _sort_pairs(y, flag, m, ys, fs, bucket, counts)
                u, v = _logrank_sorted(ys, fs, m, n_an, atrisk, dd, d1, touched)
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


_buffers = threading.local()  # per thread: Dask runs chunks on threads of one process


def _buffer(name: str, shape: tuple[int, int], reuse: bool) -> np.ndarray | None:
    """A kept array of this shape to draw into (None: let numpy allocate)."""
    if not reuse:
        return None
    kept = getattr(_buffers, "arrays", None)
    if kept is None:
        kept = _buffers.arrays = {}
    if name not in kept or kept[name].shape != shape:
        kept[name] = np.empty(shape)
    return kept[name]


def draw_chunk(scenario: Scenario, n_trials: int, rng: np.random.Generator, reuse: bool = False) -> dict[str, np.ndarray]:
    """Every random number of `n_trials` trials, drawn in one fixed order from `rng`.

    reuse: draw into arrays kept by this thread (valid until its next reuse call): a fresh 12 MB per chunk costs
    as much in page faults as the drawing itself."""
    n = scenario.n_patients
    shape = (n_trials, n)
    n_block = n // min(scenario.block_sizes) + len(scenario.stratum_prevalence) + 1
    u_stratum = rng.random(shape, out=_buffer("u_stratum", shape, reuse))  # stratum, then the arm within the block
    u_block = rng.random((n_trials, n_block), out=_buffer("u_block", (n_trials, n_block), reuse))
    gaps = rng.standard_exponential((n_trials, n + 1), out=_buffer("gaps", (n_trials, n + 1), reuse))  # accrual spacings
    e_event = rng.standard_exponential(shape, out=_buffer("e_event", shape, reuse))
    e_drop = rng.standard_exponential(shape, out=_buffer("e_drop", shape, reuse))
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
    draws = draw_chunk(scenario, n_trials, rng, reuse=True)
    starts, hazards, w_exp, w_tot, cum_prev, n_strata = _constants(scenario)
    stop, last, short, zs, taus, events, enrolled = _simulate(
        draws["u_stratum"], draws["u_block"], draws["gaps"], float(scenario.accrual_months), draws["e_event"],
        draws["e_drop"],
        cum_prev, np.asarray(scenario.block_sizes, dtype=np.int64), w_exp, w_tot, starts, hazards,
        scenario.dropout_rate, np.asarray(scenario.look_events, dtype=np.int64),
        np.asarray(scenario.efficacy_z, dtype=float), bool(scenario.stratified), n_strata)
    return {"stop": stop, "last": last, "short": short, "z": zs, "tau": taus, "events": events, "enrolled": enrolled}
