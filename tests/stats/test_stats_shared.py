"""The shared index of ikema.stats.survdata: SurvivalData's methods equal the functions, and every internal path
(pooled units or one unit per subject, compiled or numpy Efron sums, whole-day or general times) gives the same
numbers; the compiled Efron sums reproduce Therneau's closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from ikema.errors import IkemaError
from ikema.stats import SurvivalData, coxph, coxph_loglik, kaplan_meier, logrank
from ikema.stats import cox as cox_module
from ikema.stats._checks import codes, index_times


def _data(n=3000, seed=7, groups=2):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    s = rng.integers(0, 4, n)
    t = np.ceil(rng.exponential(200 * np.exp(-0.4 * g + 0.1 * s)))  # whole days: many ties
    c = rng.uniform(20, 600, n)
    return np.minimum(t, np.ceil(c)), (t <= c).astype(int), g, s


def test_efron_compiled_matches_therneau(monkeypatch):
    """validate.pdf 'Test data 1' (Efron): the compiled sums give the closed-form LL, U and I."""
    monkeypatch.setattr(cox_module, "_COMPILED_DEATHS", 0)
    for beta in (-1.0, 0.0, 0.7):
        r = np.exp(beta)
        ll = 2 * beta - np.log(3 * r + 3) - np.log(r + 3) - np.log(r / 2 + 5 / 2)
        u = (-r ** 3 + 23 * r + 30) / ((r + 1) * (r + 3) * (r + 5))
        i = sum(m - m ** 2 for m in (r / (r + 1), r / (r + 3), r / (r + 5)))
        got = coxph_loglik([1, 1, 6, 6, 8, 9], [1, 0, 1, 1, 0, 1], [1, 1, 1, 0, 0, 0], beta, ties="efron")
        assert got[0] == pytest.approx(ll, rel=1e-12)
        assert got[1][0] == pytest.approx(u, rel=1e-12, abs=1e-14)
        assert got[2][0, 0] == pytest.approx(i, rel=1e-12)


@pytest.mark.parametrize("p", [1, 2])
def test_efron_compiled_equals_numpy(monkeypatch, p):
    t, e, g, s = _data()
    x = g[:, None].astype(float) if p == 1 else np.column_stack([g, np.random.default_rng(3).normal(size=len(g))])
    base = coxph(t, e, x, s)
    monkeypatch.setattr(cox_module, "_COMPILED_DEATHS", 0)
    fast = coxph(t, e, x, s)
    assert fast.coef == pytest.approx(base.coef, rel=1e-10)
    assert fast.var == pytest.approx(base.var, rel=1e-9)
    assert fast.loglik == pytest.approx(base.loglik, rel=1e-12)
    assert fast.score_chisq == pytest.approx(base.score_chisq, rel=1e-10)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_pooled_units_equal_one_unit_per_subject(monkeypatch, ties):
    """Subjects sharing covariates within a (stratum, time) are pooled; without pooling the fit is the same."""
    t, e, g, s = _data()
    z = np.random.default_rng(5).integers(0, 3, len(t))  # a second covariate varying within strata
    x = np.column_stack([g, z]).astype(float)
    pooled = coxph(t, e, x, s, ties=ties)
    assert len(cox_module._cox_data(t, e, x, s).w) < len(t)  # pooled indeed
    monkeypatch.setattr(cox_module, "_MAX_LEVELS", 0)
    assert len(cox_module._cox_data(t, e, x, s).w) == len(t)
    single = coxph(t, e, x, s, ties=ties)
    assert pooled.coef == pytest.approx(single.coef, rel=1e-10)
    assert pooled.loglik == pytest.approx(single.loglik, rel=1e-12)
    assert pooled.lr_chisq == pytest.approx(single.lr_chisq, rel=1e-8)
    assert pooled.n == single.n == len(t) and pooled.events == single.events == e.sum()


def test_survival_data_methods_equal_the_functions():
    t, e, g, s = _data()
    labels = np.array(["ctl", "exp"])[g]
    data = SurvivalData(t, e, labels, s)
    curves = data.kaplan_meier()
    assert list(curves) == ["ctl", "exp"]
    for a, km in curves.items():
        ref = kaplan_meier(t[labels == a], e[labels == a])
        np.testing.assert_array_equal(km.time, ref.time)
        np.testing.assert_array_equal(km.n_risk, ref.n_risk)
        np.testing.assert_allclose(km.surv, ref.surv, rtol=1e-14)
        assert (km.median, km.median_lcl, km.median_ucl) == (ref.median, ref.median_lcl, ref.median_ucl)
    assert data.logrank().chisq == pytest.approx(logrank(t, e, labels, s).chisq, rel=1e-12)
    assert data.logrank(stratified=False).chisq == pytest.approx(logrank(t, e, labels).chisq, rel=1e-12)
    x = (labels == "exp").astype(float)
    assert data.coxph().coef == pytest.approx(coxph(t, e, x, s).coef, rel=1e-12)
    assert data.coxph(stratified=False, ties="breslow").coef == pytest.approx(coxph(t, e, x, ties="breslow").coef,
                                                                               rel=1e-12)
    xz = np.column_stack([x, np.random.default_rng(5).normal(size=len(t))])
    assert data.coxph(x=xz).coef == pytest.approx(coxph(t, e, xz, s).coef, rel=1e-12)


def test_subset_keeps_the_index_and_drops_absent_groups():
    t, e, g, s = _data(groups=3)
    data = SurvivalData(t, e, g, s)
    m = g != 1
    sub = data.subset(m)
    assert sub.group_labels == [0, 2]
    assert sub.logrank().chisq == pytest.approx(logrank(t[m], e[m], g[m], s[m]).chisq, rel=1e-12)
    assert sub.coxph().coef == pytest.approx(coxph(t[m], e[m], (g[m] == 2).astype(float), s[m]).coef, rel=1e-12)
    assert data.logrank().df == 2
    with pytest.raises(IkemaError, match=r"3 groups \[0, 1, 2\]; expected two"):
        data.coxph()
    with pytest.raises(IkemaError, match="subset holds no subjects"):
        data.subset(np.zeros(len(t), bool))


def test_whole_day_and_general_times_index_alike():
    t, e, _, _ = _data()
    v1, c1, _ = index_times(t, e)
    v2, c2, _ = index_times(t / 3, e)  # not whole numbers: the general path
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_allclose(v1 / 3, v2, rtol=1e-15)
    assert np.array_equal(v1[c1], t)
    km1, km2 = kaplan_meier(t, e), kaplan_meier(t / 3, e)
    np.testing.assert_allclose(km1.surv, km2.surv, rtol=1e-15)


def test_integer_codes_fast_path():
    c, labels = codes(np.array([7, -2, 7, 40], np.int8), "x", "group")
    assert labels == [-2, 7, 40] and c.tolist() == [1, 0, 1, 2]
    c, labels = codes(np.array([3, 1, 0, 2]), "x", "group")
    assert labels == [0, 1, 2, 3] and c.tolist() == [3, 1, 0, 2]
    with pytest.raises(IkemaError, match="time and event must be 1-D of equal length"):
        SurvivalData([1, 2], [1])
    with pytest.raises(IkemaError, match="group has 1 values for 2 times"):
        SurvivalData([1, 2], [1, 0], group=[1])
