"""Therneau's closed-form Cox examples (r-survival/doc/validate.pdf, 'Test data 1'): loglik, score, information, solution."""

from __future__ import annotations

import numpy as np
import pytest

from ikema.stats import coxph, coxph_loglik

TIME = [1, 1, 6, 6, 8, 9]
STATUS = [1, 0, 1, 1, 0, 1]
X = [1, 1, 1, 0, 0, 0]


def breslow1(beta):
    """validate.pdf section 3.1: LPL, U and H under the Breslow approximation."""
    r = np.exp(beta)
    lpl = 2 * beta - (np.log(3 * r + 3) + 2 * np.log(r + 3))
    u = (6 + 3 * r - r ** 2) / ((r + 1) * (r + 3))
    h = r / (r + 1) ** 2 + 6 * r / (r + 3) ** 2
    return lpl, u, h


def efron1(beta):
    """validate.pdf section 3.2: LL, U and I under the Efron approximation."""
    r = np.exp(beta)
    ll = 2 * beta - np.log(3 * r + 3) - np.log(r + 3) - np.log(r / 2 + 5 / 2)
    u = (-r ** 3 + 23 * r + 30) / ((r + 1) * (r + 3) * (r + 5))
    i = sum(m - m ** 2 for m in (r / (r + 1), r / (r + 3), r / (r + 5)))
    return ll, u, i


@pytest.mark.parametrize("ties,formula", [("breslow", breslow1), ("efron", efron1)])
@pytest.mark.parametrize("beta", [0.0, 0.7, -1.3, 2.5])
def test_closed_form_loglik_score_information(ties, formula, beta):
    ll, u, info = coxph_loglik(TIME, STATUS, X, beta, ties=ties)
    want = formula(beta)
    assert ll == pytest.approx(want[0], rel=1e-12)
    assert u[0] == pytest.approx(want[1], rel=1e-10, abs=1e-14)
    assert info[0, 0] == pytest.approx(want[2], rel=1e-12)


def test_breslow_solution_and_published_values():
    fit = coxph(TIME, STATUS, X, ties="breslow")
    assert fit.coef[0] == pytest.approx(np.log((3 + np.sqrt(33)) / 2), rel=1e-9)  # 1.475285
    assert fit.loglik_null == pytest.approx(-4.564348, abs=5e-7)
    assert fit.loglik == pytest.approx(-3.824750, abs=5e-7)
    assert 1 / fit.var[0, 0] == pytest.approx(0.6341681, abs=5e-8)
    assert fit.score_chisq == pytest.approx(1 / 0.625, rel=1e-12)  # U(0)^2 / H(0) with U(0) = 1


def test_efron_solution_is_the_cubic_root():
    phi = np.arccos((45 / 23) * np.sqrt(3 / 23))
    r = 2 * np.sqrt(23 / 3) * np.cos(phi / 3)
    fit = coxph(TIME, STATUS, X, ties="efron")
    assert fit.coef[0] == pytest.approx(np.log(r), rel=1e-9)  # 1.676857
    assert fit.loglik_null == pytest.approx(-4.276666, abs=5e-7)
    # the document prints LL(beta-hat) = -3.358979; its own formula gives -3.3589748 there (rounding in the text)
    assert fit.loglik == pytest.approx(-3.358979, abs=5e-6)
    assert fit.loglik == pytest.approx(efron1(np.log(r))[0], rel=1e-12)
    assert 1 / fit.var[0, 0] == pytest.approx(0.612632, abs=5e-7)
    assert fit.score_chisq == pytest.approx((52 / 48) ** 2 / (83 / 144), rel=1e-12)
    assert fit.lr_chisq == pytest.approx(2 * (efron1(np.log(r))[0] - efron1(0.0)[0]), rel=1e-9)


def test_monotone_likelihood_reported_not_converged():
    """Every death in the x = 1 group before any x = 0 time: beta-hat is infinite (validate.pdf 'Test data 1' variant)."""
    fit = coxph([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 0], max_iter=15)
    assert not fit.converged and fit.coef[0] > 5
    assert coxph(TIME, STATUS, X).converged
