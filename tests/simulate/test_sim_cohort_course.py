"""Virtual patients: baseline margins near the published ones, the two-population M-protein model's shape."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ikema.simulate import params as P
from ikema.simulate.cohort import draw_candidates
from ikema.simulate.course import Latent, relative_burden


def test_baseline_margins_match_published_pooled_shares():
    c = draw_candidates(np.random.default_rng(11), 40_000)
    c = c[c["ECOG"] < 3]
    tol = 0.012
    assert abs((c["AGE"] < 65).mean() - P.AGE_BAND_P[0]) < tol
    assert abs((c["AGE"] >= 75).mean() - P.AGE_BAND_P[2]) < tol
    assert abs((c["ECOG"] == 2).mean() - P.ECOG2_P) < tol
    assert abs((c["ISS"] == 3).mean() - P.ISS_P[2]) < tol
    assert abs(c["PRIOR_LENALIDOMIDE"].mean() - P.pooled(40, 48)) < tol
    assert abs(c["PRIOR_BORTEZOMIB"].mean() - P.pooled(91, 83)) < tol
    assert abs(c["PRIOR_ASCT"].mean() - P.pooled(65, 56)) < tol
    evaluable = ~c["CYTOMISS"]
    assert abs(c.loc[evaluable, "HIGHRISK"].mean() - P.HIGH_RISK_P / (1 - 0)) < 0.02
    assert 63 <= c["AGE"].median() <= 66  # published medians 65 / 63 [11]
    assert c["AGE"].min() >= 33 and c["AGE"].max() <= 90
    # R-ISS III only from ISS III; not classified exactly when cytogenetics are missing
    assert set(c.loc[c["RISS"] == "III", "ISS"]) == {3}
    assert ((c["RISS"] == "NOT CLASSIFIED") == c["CYTOMISS"]).all()


def test_candidates_are_deterministic_per_seed():
    a = draw_candidates(np.random.default_rng(5), 50)
    b = draw_candidates(np.random.default_rng(5), 50)
    pd.testing.assert_frame_equal(a, b)
    assert not draw_candidates(np.random.default_rng(6), 50).equals(a)


def test_screen_failure_findings_near_published_rate():
    c = draw_candidates(np.random.default_rng(3), 20_000)
    fails = (
        ((c["SERUM_M0"] < 0.5) & (c["URINE_M0"] < 200)) | (c["ANC"] < 1.0) | (c["PLATELETS"] < 50) | (c["HGB"] < 80)
        | (c["CRCL"] < 15) | (c["ECOG"] > 2) | (c["PRIOR_LINES"] > 3) | (c["BILIRUBIN"] > 30)
    )
    assert abs(fails.mean() - 39 / 341) < 0.025  # 39 of 341 screened failed [1]


def _latent(pi, gs, gr) -> Latent:
    n = len(pi)
    return Latent(np.asarray(pi, float), np.asarray(gs, float), np.asarray(gr, float), np.ones(n), np.ones(n), np.zeros(n, bool))


def test_two_population_model_values():
    lat = _latent([0.1, 1.0, 0.0], [-0.05, -0.05, -0.05], [0.01, 0.01, 0.01])
    t = np.array([100.0, 100.0, 100.0])
    r = relative_burden(lat, t)
    expect = [0.1 * np.exp(1.0) + 0.9 * np.exp(-5.0), np.exp(1.0), np.exp(-5.0)]
    np.testing.assert_allclose(r, expect, rtol=1e-12)
    assert relative_burden(lat, np.zeros(3)).tolist() == [1.0, 1.0, 1.0]


def test_two_population_model_has_a_nadir_then_regrowth():
    lat = _latent([0.02], [-0.07], [0.004])
    t = np.arange(0, 1500, 7.0)
    r = relative_burden(lat, t, np.zeros(len(t), int))
    k = int(np.argmin(r))
    assert 0 < k < len(t) - 1
    assert np.all(np.diff(r[: k + 1]) < 0) and np.all(np.diff(r[k:]) > 0)
    # analytic nadir time of pi e^{gr t} + (1-pi) e^{gs t}
    tmin = np.log(-(1 - 0.02) * -0.07 / (0.02 * 0.004)) / (0.004 + 0.07)
    assert abs(t[k] - tmin) <= 7


def test_assay_reporting_limits_are_the_protocols_hard_bounds():
    from ikema.protocol import load_protocol

    hard = {k: v.hard[1] for k, v in load_protocol().edit_checks.assessments.items()}
    assert (P.SPEP_MAX, P.UPEP_MAX, P.FLC_MAX, P.FLC_MAX) == (hard["SMPROT"], hard["UMPROT"], hard["FLCK"], hard["FLCL"])


def test_a_runaway_relapse_is_reported_at_the_assays_upper_limits():
    """Burden far above anything plausible (all of it resistant and growing): each result is reported at its assay's
    upper limit, never above it (the site's entry would be refused and the capture stop)."""
    from ikema.simulate.course import observe

    lat = Latent(pi_r=np.ones(2), g_s=np.zeros(2), g_r=np.full(2, 0.05), marrow_factor=np.ones(2),
                 ife_lod=np.ones(2), interference=np.zeros(2, bool))
    subjects = pd.DataFrame({"USUBJID": ["A", "B"], "SERUM_M0": [15.0, 0.0], "URINE_M0": [0.0, 9000.0],
                             "INV_FLC0": [5000.0, 5000.0], "UNINV_FLC0": [9.0, 9.0], "BMPC0": [30.0, 30.0],
                             "ISOTYPE": ["IgG", "LC"], "LIGHT_CHAIN": ["KAPPA", "LAMBDA"], "ARM": ["Kd", "Kd"]})
    a = observe(np.random.default_rng(1), subjects, lat, np.array([400, 400]), 28, np.array([-1, -1]))
    top = a.groupby(["USUBJID", "PARAM"])["AVAL"].max()
    assert top[("A", "SMPROT")] == P.SPEP_MAX and top[("B", "UMPROT")] == P.UPEP_MAX
    assert top[("A", "FLCK")] == P.FLC_MAX and top[("B", "FLCL")] == P.FLC_MAX
    assert (a.loc[a["PARAM"] == "SMPROT", "AVAL"] <= P.SPEP_MAX).all()
