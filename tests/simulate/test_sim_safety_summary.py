"""Safety shares the published comparison reads: per preferred term and grade, and lab abnormalities over the
patients with an on-treatment value of the test (the published denominator)."""

from __future__ import annotations

import pandas as pd
import pytest

from ikema.analysis.sap import safety_summary
from ikema.simulate.published import quantities


def _adam() -> dict[str, pd.DataFrame]:
    adsl = pd.DataFrame({"USUBJID": ["E1", "E2", "E3", "E4", "C1", "C2"], "SAFFL": "Y",
                         "TRT01A": ["E", "E", "E", "E", "C", "C"]})
    ae = pd.DataFrame({
        "USUBJID": ["E1", "E1", "E2", "E3", "C1", "C1"],
        "TRTA": ["E", "E", "E", "E", "C", "C"],
        "AEDECOD": ["Pneumonia", "Pneumonia", "Pneumonia", "Cough", "Pneumonia", "Fatigue"],
        "ATOXGRN": [2, 3, 1, 1, 4, 2],
        "TRTEMFL": ["Y", "Y", "Y", "N", "Y", "Y"],  # E3's cough is not treatment-emergent
        "AESER": "N", "AEDISFL": "N", "AEFATFL": "N",
    })
    # E4 has no on-treatment neutrophil count: not in that test's denominator
    lb = pd.DataFrame({
        "USUBJID": ["E1", "E1", "E2", "E3", "E4", "C1", "C2", "E4"],
        "TRT01A": ["E", "E", "E", "E", "E", "C", "C", "E"],
        "PARAMCD": ["NEUT", "NEUT", "NEUT", "NEUT", "NEUT", "NEUT", "NEUT", "PLAT"],
        "ATOXGRN": [1, 3, 0, 1, 4, 2, 0, 1],
        "ONTRTFL": ["Y", "Y", "Y", "Y", "N", "Y", "Y", "Y"],
    })
    return {"ADSL": adsl, "ADAE": ae, "ADLB": lb}


def test_per_term_shares_count_patients_once_and_only_treatment_emergent_events():
    s = safety_summary(_adam(), "E", "C")
    assert s["pt"]["Pneumonia"]["any"] == {"E": 0.5, "C": 0.5}  # E1 (twice) and E2 of 4; C1 of 2
    assert s["pt"]["Pneumonia"]["g3"] == {"E": 0.25, "C": 0.5}
    assert "Cough" not in s["pt"]
    assert s["pt"]["Fatigue"]["any"] == {"E": 0.0, "C": 0.5}


def test_lab_shares_use_the_patients_with_an_on_treatment_value():
    s = safety_summary(_adam(), "E", "C")
    assert s["neut_any"]["E"] == pytest.approx(2 / 3) and s["neut_g3"]["E"] == pytest.approx(1 / 3)
    assert s["neut_any"]["C"] == 0.5 and s["neut_g3"]["C"] == 0.0
    assert s["plat_any"] == {"E": 1.0, "C": None}  # no control patient had a platelet count


def test_published_reader_gives_zero_for_a_term_nobody_had():
    res = {"safety_summary": safety_summary(_adam(), "E", "C")}
    q = {x.key: x for x in quantities("E", "C")}
    assert q["ae_cough_exp"].read(res) == 0.0
    assert q["ae3_pneumoni_exp"].read(res) == 25.0
    assert q["lab3_neut_exp"].read(res) == pytest.approx(100 / 3)
    assert q["ae_cough_exp"].read({"safety_summary": {}}) is None
