"""Sparse strata (a stratum without every arm) are pooled before the stratified analyses."""

from __future__ import annotations

import pandas as pd

from ikema.analysis.sap import POOLED, pool_sparse_strata


def test_strata_lacking_an_arm_are_pooled():
    adsl = pd.DataFrame({
        "TRT01P": ["A", "B", "A", "B", "A", "A", "B"],
        "STRAT1R": ["1", "1", ">1", ">1", ">1", "1", "1"],
        "STRAT2R": ["I/II", "I/II", "I/II", "I/II", "III", "III", "NC"],
    })
    out, pooled = pool_sparse_strata(adsl, ("STRAT1R", "STRAT2R"))
    assert pooled == ["1 / III", "1 / NC", ">1 / III"]
    assert out["STRATAR"].tolist() == ["1 / I/II", "1 / I/II", ">1 / I/II", ">1 / I/II", POOLED, POOLED, POOLED]


def test_a_pool_that_still_lacks_an_arm_joins_the_largest_stratum():
    adsl = pd.DataFrame({"TRT01P": ["A", "B", "A", "B", "A", "A"], "STRAT1R": ["x", "x", "x", "y", "y", "z"]})
    out, pooled = pool_sparse_strata(adsl, ("STRAT1R",))
    assert pooled == ["z"]
    assert out["STRATAR"].tolist() == ["x", "x", "x", "y", "y", "x"]
