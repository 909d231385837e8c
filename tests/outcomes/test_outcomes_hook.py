"""The analyze/demo hook: every outcome analysis on public CDISC data, strict-JSON results and HTML fragments."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from outcomes_helpers import DATA

from ikema.analysis.outcomes import analyze_outcomes
from ikema.report.safety import render_outcome_sections


def test_pilot_adsl_adae_and_pharmaverse_pk(pilot_adsl, pilot_adae):
    adpc = pd.read_csv(DATA / "pharmaverseadam" / "csv" / "adpc.csv.gz", low_memory=False,
                       usecols=["USUBJID", "PARAMCD", "PCTESTCD", "PCSPEC", "AVAL", "NRRLT", "TRT01A", "DTYPE", "AVISIT"])
    adpp = pd.read_csv(DATA / "pharmaverseadam" / "csv" / "adpp.csv.gz", low_memory=False,
                       usecols=["USUBJID", "PARAMCD", "AVAL", "TRTA", "PPCAT", "PPSPEC", "AVISIT"]).drop_duplicates()
    results = analyze_outcomes({"adsl": pilot_adsl, "adae": pilot_adae, "ADPC": adpc, "ADPP": adpp},
                               reference_arm="Placebo")
    page = render_outcome_sections(results)
    text = json.dumps(results, allow_nan=False)
    assert set(results) == {"safety", "pk"}
    assert results["safety"]["population"] == {"Placebo": 86, "Xanomeline High Dose": 84, "Xanomeline Low Dose": 84}
    top = results["safety"]["soc_pt"][0]
    assert top["arms"]["Xanomeline Low Dose"]["n"] == 77 and round(top["p"]["Xanomeline Low Dose"], 3) == 0.007
    # SOCs by descending frequency: general disorders (108 subjects) before skin (99)
    assert [r["soc"] for r in results["safety"]["soc_pt"] if r["level"] == "soc"][:2] == [
        "GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS", "SKIN AND SUBCUTANEOUS TISSUE DISORDERS"]
    cmax = [r for r in results["pk"]["summary_by_cycle"] if r["PARAMCD"] == "CMAX"]
    assert {r["TRTA"] for r in cmax} == {"Xanomeline High Dose", "Xanomeline Low Dose"}
    one = adpp[adpp["PARAMCD"] == "CMAX"].drop_duplicates("USUBJID")
    for r in cmax:
        v = one.loc[one["TRTA"] == r["TRTA"], "AVAL"]
        assert r["n"] == len(v) and r["geomean"] == pytest.approx(float(np.exp(np.log(v).mean())), rel=1e-12)
    assert '<section id="safety">' in page and '<section id="pk">' in page and "data:image/png;base64," in page
    assert "NaN" not in text
