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


def test_shares_equal_pandas_distinct_subject_counts_with_missing_values():
    # the summary counts distinct patients per arm (and term) on codes; pandas' groupby nunique is the oracle, with
    # missing grades, arms and terms, a third arm, several events of one patient, and a non-safety patient's labs
    import numpy as np

    adsl = pd.DataFrame({"USUBJID": ["E1", "E2", "E3", "C1", "C2", "X1", "N1"], "SAFFL": ["Y"] * 6 + ["N"],
                         "TRT01A": ["E", "E", "E", "C", "C", "X", "E"]})
    ae = pd.DataFrame({
        "USUBJID": ["E1", "E1", "E2", "E3", "C1", "C1", "C2", "X1", "E2"],
        "TRTA": ["E", "E", "E", None, "C", "C", "C", "X", "E"],
        "AEDECOD": ["Rash", "Rash", None, "Rash", "Cough", "Rash", "Cough", "Rash", "Cough"],
        "ATOXGRN": pd.array([3, None, 4, 3, 1, 5, None, 3, 2], dtype="Float64"),
        "TRTEMFL": "Y", "AESER": ["Y", "N", "N", "Y", None, "N", "Y", "Y", "N"],
        "AEDISFL": "N", "AEFATFL": ["N", "N", "N", "N", "N", "Y", "N", "N", "N"]})
    lb = pd.DataFrame({
        "USUBJID": ["E1", "E2", "E3", "C1", "C2", "N1", "X1", "C1"],
        "TRT01A": ["E", "E", "E", "C", "C", "E", "X", "C"],
        "PARAMCD": ["HGB", "HGB", "HGB", "HGB", "HGB", "HGB", "HGB", "PLAT"],
        "ATOXGRN": pd.array([3, None, 1, 0, 4, 4, 3, 1], dtype="Float64"), "ONTRTFL": "Y"})
    s = safety_summary({"ADSL": adsl, "ADAE": ae, "ADLB": lb}, "E", "C")

    saf = adsl[adsl["SAFFL"] == "Y"]
    n = saf.groupby("TRT01A")["USUBJID"].nunique()
    te = ae[ae["TRTEMFL"] == "Y"]

    def share(mask):
        c = te[mask].groupby("TRTA")["USUBJID"].nunique()
        return {a: float(c.get(a, 0) / n.get(a, np.nan)) for a in ("E", "C")}

    assert s["any"] == share(pd.Series(True, index=te.index)) and s["grade3"] == share(te["ATOXGRN"] >= 3)
    assert s["serious"] == share(te["AESER"] == "Y") and s["fatal"] == share(te["AEFATFL"] == "Y")
    for k, m in (("any", pd.Series(True, index=te.index)), ("g3", te["ATOXGRN"] >= 3)):
        c = te[m].groupby(["AEDECOD", "TRTA"])["USUBJID"].nunique()
        assert {t: v[k] for t, v in s["pt"].items()} == {
            t: {a: float(c.get((t, a), 0) / n.get(a, np.nan)) for a in ("E", "C")} for t in ("Cough", "Rash")}
    post = lb[(lb["ONTRTFL"] == "Y") & lb["USUBJID"].isin(saf["USUBJID"]) & (lb["PARAMCD"] == "HGB")]
    evaluated = post.groupby("TRT01A")["USUBJID"].nunique()
    for suffix, low in (("any", 1), ("g3", 3)):
        c = post[post["ATOXGRN"] >= low].groupby("TRT01A")["USUBJID"].nunique()
        assert s[f"hgb_{suffix}"] == {a: float(c.get(a, 0) / evaluated[a]) for a in ("E", "C")}
    # E2's missing grade counts in the denominator (a value on treatment), N1 (not in the safety population) nowhere
    assert s["hgb_g3"] == {"E": pytest.approx(1 / 3), "C": 0.5} and s["plat_any"] == {"E": None, "C": 1.0}
