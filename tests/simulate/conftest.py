"""Fixtures of the simulator tests: a toy two-arm trial (not IKEMA's regimen) for fast, protocol-free checks."""

from __future__ import annotations

import datetime as dt

import pytest

from ikema.response import Criteria
from ikema.simulate.facts import TrialFacts


def _toy_calendar(arm: str, weight_kg: float, height_cm: float, cycles: int) -> list[dict]:
    rows = []
    for c in range(1, cycles + 1):
        rows.append({"cycle": c, "day": 1, "drug": "Carfilzomib", "route": "IV", "dose_mg": round(20.0 * height_cm / 100, 1)})
        rows.append({"cycle": c, "day": 8, "drug": "Carfilzomib", "route": "IV", "dose_mg": round(20.0 * height_cm / 100, 1)})
        if arm == "A":
            rows.append({"cycle": c, "day": 1, "drug": "Isatuximab", "route": "IV", "dose_mg": round(10.0 * weight_kg, 1)})
    return rows


@pytest.fixture(scope="session")
def toy_facts() -> TrialFacts:
    """A two-arm toy trial ("A" experimental, "B" control) with 21-day cycles and two data cuts."""
    return TrialFacts(
        cycle_days=21, arms=("A", "B"), ratio={"A": 1, "B": 1}, experimental="A", control="B",
        first_patient=dt.date(2018, 1, 1), last_patient=dt.date(2018, 6, 30),
        cutoffs={"interim": dt.date(2019, 1, 31), "final": dt.date(2020, 6, 30)}, enrollment=60,
        calendar=_toy_calendar, teae_window_days=28,
        schedules={
            "pk_isatuximab": {"visits": [{"cycle": 1, "day": 1}, {"cycle": 2, "day": 1}]},
            "pk_carfilzomib": {"visits": [{"cycle": 1, "day": 1}]},
            "ada": {"visits": [{"cycle": 1, "day": 1}, {"cycle": 3, "day": 1}], "after_treatment_days": [60]},
            "qol": {"first_cycle": 1, "every_n_cycles": 2, "day": 1, "after_treatment_days": [60]},
            "survival_follow_up": {"every_days_after_treatment": 56},
        },
    )


@pytest.fixture(scope="session")
def toy_criteria() -> Criteria:
    """IMWG 2016 with a serum measurable-disease threshold of 0.5 g/dL."""
    return Criteria.imwg().with_thresholds(serum_measurable=0.5)
