"""ADA incidence: hand-made subjects for every category; pharmaverse IS -> ADAB INDUCD1/ENHANC1 reproduced."""

from __future__ import annotations

import pandas as pd
import pytest
from outcomes_helpers import DATA

from ikema.analysis.immunogenicity import ada_subject_status, analyze_immunogenicity
from ikema.cdisc.adam.adis import derive_adis
from ikema.errors import InputError
from ikema.report.pk import render_immunogenicity_html


def _is() -> pd.DataFrame:
    rows = [  # USUBJID, VISIT, result, titre
        ("A", "CYCLE 1 DAY 1", "NEGATIVE", None), ("A", "CYCLE 3 DAY 1", "POSITIVE", 40),  # induced
        ("B", "CYCLE 1 DAY 1", "POSITIVE", 20), ("B", "CYCLE 3 DAY 1", "POSITIVE", 80),  # boosted (exactly 4x)
        ("C", "CYCLE 1 DAY 1", "POSITIVE", 20), ("C", "CYCLE 3 DAY 1", "POSITIVE", 70),  # 3.5x: not boosted
        ("D", "CYCLE 3 DAY 1", "POSITIVE", 10),  # missing baseline: induced
        ("E", "CYCLE 1 DAY 1", "NEGATIVE", None), ("E", "CYCLE 3 DAY 1", "NEGATIVE", None),
        ("F", "CYCLE 1 DAY 1", "NEGATIVE", None),  # not evaluable
        ("G", "CYCLE 1 DAY 1", "NEGATIVE", None), ("G", "CYCLE 3 DAY 1", "NEGATIVE", None),
    ]
    return pd.DataFrame([{"USUBJID": u, "VISIT": v, "ISTESTCD": "ADA_BAB", "ISSTRESC": r, "ISSTRESN": t}
                         for u, v, r, t in rows])


def test_categories_by_hand():
    adsl = pd.DataFrame({"USUBJID": list("ABCDEFG"), "TRT01A": ["IKd"] * 5 + ["Kd"] * 2})
    adis = derive_adis(_is(), adsl)
    st = ada_subject_status(adis).set_index("USUBJID")
    assert st["INDUCED"].to_dict() == {"A": True, "B": False, "C": False, "D": True, "E": False, "F": False, "G": False}
    assert st["BOOSTED"].to_dict() == {"A": False, "B": True, "C": False, "D": False, "E": False, "F": False,
                                       "G": False}
    assert not st.loc["F", "EVALFL"]
    res = analyze_immunogenicity({"ADIS": adis})
    ikd = next(r for r in res["incidence"] if r["arm"] == "IKd")
    assert ikd["evaluable"] == 5 and ikd["treatment_emergent"] == {"n": 3, "pct": 60.0}
    assert ikd["boosted"]["n"] == 1 and ikd["baseline_positive"]["n"] == 2
    kd = next(r for r in res["incidence"] if r["arm"] == "Kd")
    assert kd["evaluable"] == 1 and kd["treatment_emergent"]["n"] == 0
    assert "Treatment-boosted" in render_immunogenicity_html(res)
    with pytest.raises(InputError, match="titer_scale"):
        ada_subject_status(adis, titer_scale="ln")


def test_pharmaverse_adab_induced_and_enhanced_reproduced():
    is_ = pd.read_csv(DATA / "pharmaversesdtm" / "inst" / "extdata" / "is_ada.csv")
    ab = pd.read_csv(DATA / "pharmaverseadam" / "csv" / "adab.csv.gz", low_memory=False,
                     usecols=["USUBJID", "PARAMCD", "AVALC"])
    st = ada_subject_status(derive_adis(is_), titer_scale="log10").set_index("USUBJID")
    induced = set(ab[(ab.PARAMCD == "INDUCD1") & (ab.AVALC == "Y")].USUBJID)
    enhanced = set(ab[(ab.PARAMCD == "ENHANC1") & (ab.AVALC == "Y")].USUBJID)
    assert len(induced) == 27 and len(enhanced) == 22
    assert set(st.index[st["INDUCED"]]) == induced
    assert set(st.index[st["BOOSTED"]]) == enhanced
