"""Bad input to ikema.stats gets an IkemaError naming the record, field, value and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from ikema.errors import IkemaError
from ikema.stats import clopper_pearson, cmh, coxph, kaplan_meier, logrank, rate_difference

T = [5.0, 8.0, 3.0, 9.0]
E = [1, 0, 1, 1]
G = ["A", "B", "A", "B"]


def test_negative_time():
    with pytest.raises(IkemaError, match=r"record 1, field time: got -2.0, expected a time >= 0"):
        kaplan_meier([5, -2, 3], [1, 1, 0])


def test_missing_time():
    with pytest.raises(IkemaError, match=r"record 2, field time: got nan, expected a finite, non-missing time"):
        logrank([5, 2, np.nan, 4], [1, 1, 0, 1], G)


def test_event_not_01():
    with pytest.raises(IkemaError, match=r"record 3, field event: got 2, expected 0 \(censored\) or 1 \(event\)"):
        coxph(T, [1, 0, 1, 2], [0, 1, 0, 1])


def test_stratum_with_one_arm():
    with pytest.raises(IkemaError, match=r"stratum 'y' holds only arm \['B'\]"):
        logrank(T, E, G, strata=["x", "x", "x", "y"])
    with pytest.raises(IkemaError, match=r"stratum 'y' holds one arm only"):
        coxph(T, E, [0, 1, 0, 1], strata=["x", "x", "x", "y"])
    with pytest.raises(IkemaError, match=r"stratum 'y' holds only arm 'B'"):
        cmh(["Y", "N", "Y", "Y"], G, strata=["x", "x", "x", "y"])


def test_empty_arm():
    with pytest.raises(IkemaError, match=r"only \['A'\] present; expected at least 2 arms"):
        logrank(T, E, ["A"] * 4)
    with pytest.raises(IkemaError, match=r"one arm is empty"):
        coxph(T, E, [1, 1, 1, 1])
    with pytest.raises(IkemaError, match=r"field n: got 0, expected a positive integer"):
        clopper_pearson(0, 0)


def test_bad_responder():
    with pytest.raises(IkemaError, match=r"record 1, field responder: got 'maybe', expected Y/N or 1/0"):
        rate_difference(["Y", "maybe", "N", "Y"], G)


def test_rate_difference_wald_and_stratified():
    y = ["Y", "N", "Y", "Y", "N", "Y", "N", "N"]
    g = ["A", "B", "A", "B", "A", "B", "A", "B"]
    r = rate_difference(y, g, reference="A")
    # B: 2/4 responders, A: 2/4 ... recomputed by hand: A = Y,Y,N,N -> 0.5 ; B = N,Y,Y,N -> 0.5
    assert r.difference == pytest.approx(0.0, abs=1e-15)
    assert r.ucl == pytest.approx(1.959963984540054 * np.sqrt(0.25 / 4 + 0.25 / 4), rel=1e-12)
    # two strata: s1 A 1/2 vs B 2/2 (w = 1), s2 A 1/2 vs B 0/2 (w = 1) -> MH difference (+1/2 - 1/2) / 2 = 0
    st = ["s1", "s1", "s1", "s1", "s2", "s2", "s2", "s2"]
    y2 = ["Y", "Y", "N", "Y", "Y", "N", "N", "N"]
    s = rate_difference(y2, g, strata=st, reference="A")
    assert s.difference == pytest.approx(0.0, abs=1e-15)
    assert s.method.startswith("Mantel-Haenszel")
    s = rate_difference(["Y", "Y", "N", "Y", "Y", "N", "N", "Y"], g, strata=st, reference="A")
    assert s.difference == pytest.approx((0.5 + 0.0) / 2, rel=1e-12)  # s1: B 2/2 vs A 1/2; s2: 1/2 vs 1/2
