"""Events of the group-sequential design (Schoenfeld x inflation factor) against rpact 3.3.4, and the patients /
duration that yield them under uniform accrual with exponential dropout (rpact getSampleSizeSurvival numbers in
rpact_simulation.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy import integrate

from ikema.design.events import events_plan, expected_events
from ikema.errors import IkemaError
from ikema.stats.groupseq import efficacy_boundaries, max_events, power_at_events, schoenfeld_events

REF = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "design" / "expected.json"
EXPECTED = json.loads(REF.read_text())["events_required"]
RPACT = json.loads((Path(__file__).parent / "rpact_simulation.json").read_text())
NAMES = {"asOF": "obf", "asP": "pocock", "asHSD": "hsd", "asKD": "kd"}


@pytest.mark.parametrize("case", EXPECTED, ids=lambda c: f"hr{c['hazard_ratio']}")
def test_max_events_match_rpact(case):
    b = efficacy_boundaries(case["information_rates"], 0.025, NAMES[case["spending"]])
    d = max_events(b, case["hazard_ratio"], case["power"], case["allocation_ratio"])
    assert d == pytest.approx(case["max_events"], rel=1e-6)


def test_schoenfeld_fixed_design_formula():
    z = 1.959963984540054 + 1.2815515655446004
    assert schoenfeld_events(0.59, 0.025, 0.9, 1.5) == pytest.approx(z ** 2 * 2.5 ** 2 / (1.5 * math.log(0.59) ** 2), rel=1e-12)
    assert schoenfeld_events(0.5, 0.025, 0.8, 1.0) == pytest.approx(65.3, abs=0.1)  # the textbook 4 (z+z)^2 / log(HR)^2


def test_power_at_the_planned_events_is_the_design_power():
    b = efficacy_boundaries([0.65, 1.0], 0.025, "obf")
    assert power_at_events(b, 0.59, 158.949978778995, 1.5) == pytest.approx(0.9, abs=1e-8)
    assert power_at_events(b, 0.59, 159, 1.5) == pytest.approx(RPACT["analytic_power_hr_059"]["overall_reject"], abs=1e-7)


def test_duration_for_302_patients_matches_rpact():
    plan = events_plan(0.59, 0.9, 1.5, [0.65, 1], 0.025, "obf", control_median=19, accrual_months=20,
                       annual_dropout=0.05, patients=302)
    ref = RPACT["sample_size_survival"]["patients_302"]
    assert plan.follow_up_months == pytest.approx(ref["follow_up_months"], abs=1e-6)
    assert list(plan.analysis_times_months) == pytest.approx(ref["analysis_time_months"], abs=1e-6)


def test_patients_for_12_months_follow_up_match_rpact():
    plan = events_plan(0.59, 0.9, 1.5, [0.65, 1], 0.025, "obf", control_median=19, accrual_months=20,
                       annual_dropout=0.05, follow_up_months=12)
    ref = RPACT["sample_size_survival"]["follow_up_12"]
    assert plan.patients == pytest.approx(ref["patients"], rel=1e-7)
    assert list(plan.analysis_times_months) == pytest.approx(ref["analysis_time_months"], abs=1e-6)


def test_expected_events_formula_against_numerical_integration():
    lam, hr, r, phi, n, acc = math.log(2) / 19, 0.59, 1.5, -math.log(0.95) / 12, 302, 20.0
    for tau in (7.0, 20.0, 33.0):
        def integrand(u, lam_j):
            k = lam_j + phi
            return lam_j / k * (1 - math.exp(-k * (tau - u)))
        a = min(tau, acc)
        num = n / acc * sum(share * integrate.quad(integrand, 0, a, args=(lj,))[0]
                            for share, lj in ((r / (1 + r), lam * hr), (1 / (1 + r), lam)))
        assert expected_events(tau, n, acc, lam, hr, r, phi) == pytest.approx(num, rel=1e-10)


def test_too_few_patients_and_both_targets_are_refused():
    with pytest.raises(IkemaError, match=r"^patients: got 150 patients"):
        events_plan(0.59, 0.9, 1.5, [0.65, 1], 0.025, "obf", control_median=19, accrual_months=20,
                    annual_dropout=0.05, patients=150)
    with pytest.raises(IkemaError, match=r"^follow_up_months: got both"):
        events_plan(0.59, 0.9, 1.5, [0.65, 1], 0.025, "obf", control_median=19, accrual_months=20,
                    follow_up_months=10, patients=400)
    with pytest.raises(IkemaError, match=r"^hazard_ratio: got 1.0"):
        events_plan(1.0, 0.9, 1.5, [0.65, 1], 0.025, "obf")
    with pytest.raises(IkemaError, match=r"^power: got 1.2"):
        events_plan(0.59, 1.2, 1.5, [0.65, 1], 0.025, "obf")
    with pytest.raises(IkemaError, match=r"^annual_dropout: got 1.5"):
        events_plan(0.59, 0.9, 1.5, [0.65, 1], 0.025, "obf", control_median=19, accrual_months=20,
                    annual_dropout=1.5, patients=302)
