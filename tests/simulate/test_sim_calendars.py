"""The simulator's calendar frame (one schedule per arm for its longest course, each subject's rows its first ones,
doses per dosing step) equals the frame of conduct.calendar.dosing_calendar built subject by subject."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ikema.errors import InputError
from ikema.simulate.demo import _facts


def test_calendar_frame_equals_the_per_subject_calendars():
    facts = _facts(None)
    rng = np.random.default_rng(11)
    n = 40
    subjects = pd.DataFrame({
        "USUBJID": [f"S-{i:03d}" for i in range(n)], "ARM": [facts.arms[i % 3 == 0] for i in range(n)],
        "WEIGHT_KG": rng.uniform(45, 120, n).round(1), "HEIGHT_CM": rng.uniform(145, 200, n).round(0)})
    cycles = np.array([1, 2, 13, 3, 1, 40, 7] * 6)[:n]  # arms' longest courses differ; the shortest is one cycle
    fast = facts.calendar_frame(subjects, cycles)
    plain = dataclasses.replace(facts, calendars=None).calendar_frame(subjects, cycles)
    pd.testing.assert_frame_equal(fast, plain, check_exact=True)
    assert fast["USUBJID"].value_counts().loc["S-005"] > fast["USUBJID"].value_counts().loc["S-004"] > 0
    assert set(fast["drug"]) >= {d.name for a in facts.protocol.arms for d in a.drugs if a.code in facts.arms}


def test_calendar_frame_refuses_a_course_of_no_cycles():
    facts = _facts(None)
    subjects = pd.DataFrame({"USUBJID": ["S-1", "S-2"], "ARM": [facts.arms[0]] * 2, "WEIGHT_KG": [70.0, 70.0],
                             "HEIGHT_CM": [170.0, 170.0]})
    with pytest.raises(InputError, match="field cycles: got 0"):
        facts.calendar_frame(subjects, np.array([5, 0]))
