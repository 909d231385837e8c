"""ADAE/ADLB/ADEX derivations on tiny hand-made tables, lab grades against admiral's ADLB, and safety shift tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from outcomes_helpers import DATA

from ikema.analysis.safety import analyze_safety, exposure_summary, lab_shift_tables, teae_overview
from ikema.cdisc.adam.adae import derive_adae
from ikema.cdisc.adam.adex import derive_adex
from ikema.cdisc.adam.adlb import ctcae_lab_criteria, derive_adlb, derive_atoxgrn, grade_lab
from ikema.errors import InputError
from ikema.report.safety import render_safety_html

ADSL = pd.DataFrame({"USUBJID": ["S1", "S2", "S3"], "TRT01A": ["IKd", "IKd", "Kd"], "SAFFL": ["Y", "Y", "Y"],
                     "TRTSDT": pd.to_datetime(["2020-01-01", "2020-01-01", "2020-01-05"])})
EX = pd.DataFrame({
    "USUBJID": ["S1", "S1", "S1", "S2", "S3", "S3"],
    "EXTRT": ["ISATUXIMAB", "ISATUXIMAB", "CARFILZOMIB", "ISATUXIMAB", "CARFILZOMIB", "CARFILZOMIB"],
    "EXDOSE": [700, 700, 40, 650, 40, 0],
    "EXDOSU": ["mg", "mg", "mg", "mg", "mg", "mg"],
    "EXSTDTC": ["2020-01-01", "2020-01-29", "2020-01-02", "2020-01-01", "2020-01-05", "2020-03-01"],
    "VISIT": ["CYCLE 1 DAY 1", "CYCLE 2 DAY 1", "CYCLE 1 DAY 2", "CYCLE 1 DAY 1", "CYCLE 1 DAY 1", "CYCLE 3 DAY 1"],
})


def test_teae_window_boundaries():
    ae = pd.DataFrame({
        "USUBJID": ["S1"] * 5 + ["S3"],
        "AEDECOD": ["A", "B", "C", "D", "E", "F"], "AEBODSYS": ["X"] * 6,
        # before first dose; on first dose; last dose (Jan 29) + 30 = Feb 28; + 31 = Feb 29; unknown onset
        "AESTDTC": ["2019-12-31", "2020-01-01", "2020-02-28", "2020-02-29", "", "2020-01-04"],
        "AEENDTC": ["", "", "", "", "", ""],
        "AETOXGR": ["1", "3", "2", "1", "", "5"],
        "AESER": ["N", "Y", "N", "N", "N", "Y"],
        "AEACN": ["", "DRUG WITHDRAWN", "", "", "", ""],
    })
    adae = derive_adae(ae, EX, ADSL, window_days=30)
    assert adae["TRTEMFL"].tolist() == ["N", "Y", "Y", "N", "Y", "N"]  # S3's first real dose is Jan 5
    assert adae.loc[1, "ASTDY"] == 1 and adae.loc[0, "ASTDY"] == -1
    assert adae["AEDISFL"].tolist() == ["N", "Y", "N", "N", "N", "N"]
    assert adae["AEFATFL"].tolist() == ["N", "N", "N", "N", "N", "Y"]
    ov = {r["category"]: r["arms"] for r in teae_overview(adae, ADSL)}
    assert ov["Any TEAE"]["IKd"]["n"] == 1 and ov["Any TEAE"]["IKd"]["events"] == 3
    assert ov["Grade >= 3 TEAE"]["IKd"]["n"] == 1
    assert ov["TEAE leading to discontinuation"]["IKd"]["n"] == 1
    assert ov["TEAE with fatal outcome"]["Kd"]["n"] == 0  # S3's fatal AE started before the first dose
    with pytest.raises(InputError, match="AETOXGR"):
        derive_adae(ae.assign(AETOXGR=["7", "", "", "", "", ""]), EX, ADSL, window_days=30)


def test_lab_grades_cut_points():
    paramcd = "NEUT"
    aval = pd.Series([0.49, 0.5, 0.99, 1.0, 1.49, 1.5, 1.79, 1.8, 1.45, np.nan, 1.0])
    lln = pd.Series([1.8] * 8 + [1.4, 1.8, np.nan])
    g = grade_lab(paramcd, aval, lln, "10^9/L")
    assert g.tolist()[:9] == [4, 3, 3, 2, 2, 1, 1, 0, 2]
    assert pd.isna(g[9])  # missing value
    assert g[10] == 2  # absolute cut-point graded though the LLN is missing
    assert pd.isna(grade_lab(paramcd, pd.Series([2.0]), pd.Series([np.nan]), "10^9/L")[0])
    # haemoglobin: 7.9 g/dL -> 3; 9.9 g/dL -> 2; 4.8 mmol/L (77.3 g/L) -> 3; 6.1 mmol/L (98.3 g/L) -> 2
    hb = grade_lab("HGB", pd.Series([7.9, 9.9, 4.8, 6.1, 130.0]), pd.Series([12.0, 12.0, 7.4, 7.4, 120.0]),
                   pd.Series(["g/dL", "g/dL", "mmol/L", "mmol/L", "g/L"]))
    assert hb.tolist() == [3, 2, 3, 2, 0]
    with pytest.raises(InputError, match="unit"):
        grade_lab("PLAT", pd.Series([100.0]), pd.Series([150.0]), "furlongs")


def test_criteria_table_has_sources_and_four_terms():
    crit = ctcae_lab_criteria()
    assert {"NEUT", "PLAT", "LYMPH", "HGB"} <= set(crit["PARAMCD"])
    assert crit["SOURCE"].str.contains("CTCAE v4.03").all()


def test_lab_grades_match_admiral_pharmaverseadam():
    lb = pd.read_csv(DATA / "pharmaverseadam" / "csv" / "adlb.csv.gz", low_memory=False,
                     usecols=["PARAMCD", "AVAL", "ANRLO", "LBSTRESU", "ATOXGRL"])
    lb = lb[lb["PARAMCD"].isin(["PLAT", "WBC"])].reset_index(drop=True)
    ours = derive_atoxgrn(lb)
    assert len(lb) > 4000
    assert (ours.astype(float).to_numpy() == lb["ATOXGRL"].to_numpy()).all()


def _lb() -> pd.DataFrame:
    return pd.DataFrame({
        "USUBJID": ["S1", "S1", "S1", "S2", "S2", "S3", "S3"],
        "LBTESTCD": ["NEUT"] * 7,
        "LBSTRESN": [2.0, 0.9, 1.6, 1.2, 0.4, 3.0, 2.5],
        "LBSTRESU": ["10^9/L"] * 7,
        "LBSTNRLO": [1.8] * 7,
        "LBDTC": ["2019-12-30", "2020-01-15", "2020-02-01", "2020-01-01", "2020-01-20", "2020-01-02", "2020-01-20"],
    })


def test_adlb_baseline_and_shift_table():
    adlb = derive_adlb(_lb(), ADSL)
    base = adlb[adlb["ABLFL"] == "Y"].set_index("USUBJID")["ATOXGRN"]
    assert base.to_dict() == {"S1": 0, "S2": 2, "S3": 0}
    shift = lab_shift_tables(adlb, ADSL)["NEUT"]
    assert shift["IKd"]["0"]["3"] == 1  # S1: baseline 0, worst 0.9 -> grade 3
    assert shift["IKd"]["2"]["4"] == 1  # S2: baseline 1.2 (grade 2, on day 1), worst 0.4 -> grade 4
    assert shift["Kd"]["0"]["0"] == 1
    assert sum(v for row in shift["IKd"].values() for v in row.values()) == 2


def test_exposure_cycles_duration_rdi():
    planned = pd.DataFrame({"EXTRT": ["ISATUXIMAB", "ISATUXIMAB", "CARFILZOMIB", "CARFILZOMIB", "CARFILZOMIB"],
                            "CYCLE": [1, 2, 1, 2, 3], "PLANDOSE": [1400, 1400, 80, 80, 80]})
    adex = derive_adex(EX, planned=planned).set_index(["USUBJID", "EXTRT"])
    assert adex.loc[("S1", "ISATUXIMAB"), "CYCLES"] == 2
    assert adex.loc[("S1", "ISATUXIMAB"), "TRTDURD"] == 29
    assert adex.loc[("S1", "ISATUXIMAB"), "RDI"] == pytest.approx(1400 / 2800)
    assert adex.loc[("S3", "CARFILZOMIB"), "CYCLES"] == 1  # the zero dose in cycle 3 does not start it
    assert adex.loc[("S3", "CARFILZOMIB"), "RDI"] == pytest.approx(0.5)
    rows = exposure_summary(adex.reset_index(), ADSL)
    isa = next(r for r in rows if r["arm"] == "IKd" and r["drug"] == "ISATUXIMAB")
    assert isa["n_treated"] == 2 and isa["cycles"]["median"] == 1.5
    by_dates = derive_adex(EX.drop(columns=["VISIT"]), cycle_days=28).set_index(["USUBJID", "EXTRT"])
    assert by_dates.loc[("S1", "ISATUXIMAB"), "CYCLES"] == 2
    with pytest.raises(InputError, match="cycle length"):
        derive_adex(EX.drop(columns=["VISIT"]))


def test_analyze_safety_and_html():
    ae = pd.DataFrame({"USUBJID": ["S1", "S2"], "AEDECOD": ["INFUSION RELATED REACTION"] * 2,
                       "AEBODSYS": ["INJURY, POISONING AND PROCEDURAL COMPLICATIONS"] * 2,
                       "AESTDTC": ["2020-01-01", "2020-01-02"], "AETOXGR": ["2", "3"], "AESER": ["N", "N"]})
    adae = derive_adae(ae, EX, ADSL, window_days=30)
    res = analyze_safety({"adsl": ADSL, "adae": adae, "adlb": derive_adlb(_lb(), ADSL),
                          "adex": derive_adex(EX, cycle_days=28)})
    irr = next(r for r in res["overview"] if r["category"] == "Infusion reaction")
    assert irr["arms"]["IKd"]["n"] == 2 and irr["arms"]["IKd"]["pct"] == 100.0
    g3 = next(r for r in res["overview"] if r["category"] == "Grade >= 3 infusion reaction")
    assert g3["arms"]["IKd"]["n"] == 1
    pt = res["soc_pt"][2]
    assert pt["pt"] == "INFUSION RELATED REACTION" and pt["arms"]["IKd"]["max_grade"] == {"1": 0, "2": 1, "3": 1,
                                                                                          "4": 0, "5": 0}
    assert pt["arms"]["Kd"]["n"] == 0 and pt["arms"]["Kd"]["grade3plus"] == 0  # graded table: zeros, not n/a
    page = render_safety_html(res)
    assert page.startswith('<section id="safety">') and "INFUSION RELATED REACTION" in page and "NEUT" in page


def test_planned_doses_from_calendar_rows():
    from ikema.cdisc.adam.adex import planned_from_calendar

    cal = [{"cycle": 1, "day": d, "drug": "isatuximab", "dose_mg": 700.0} for d in (1, 8, 15, 22)]
    cal += [{"cycle": 2, "day": d, "drug": "isatuximab", "dose_mg": 700.0} for d in (1, 15)]
    plan = planned_from_calendar(cal, usubjid="S1", drug_names={"isatuximab": "ISATUXIMAB"})
    assert plan.set_index("CYCLE")["PLANDOSE"].to_dict() == {1: 2800.0, 2: 1400.0}
    cfz = pd.DataFrame({"USUBJID": ["S1"], "EXTRT": ["CARFILZOMIB"], "CYCLE": [1], "PLANDOSE": [80.0]})
    adex = derive_adex(EX[EX["USUBJID"] == "S1"], planned=pd.concat([plan, cfz], ignore_index=True))
    isa = adex.set_index("EXTRT").loc["ISATUXIMAB"]
    assert isa["PLANDOSE"] == 4200.0 and isa["RDI"] == pytest.approx(1400 / 4200)


def test_rdi_from_per_administration_planned_dose():
    ex = EX.assign(EXPLDOS=[700, 700, 40, 700, 40, 40], EXDOSE=[700, 350, 40, 650, 40, 0])
    adex = derive_adex(ex).set_index(["USUBJID", "EXTRT"])
    assert adex.loc[("S1", "ISATUXIMAB"), "RDI"] == pytest.approx(1050 / 1400)
    assert adex.loc[("S3", "CARFILZOMIB"), "RDI"] == pytest.approx(1.0)  # the missed dose is in an unstarted cycle
    ex2 = ex.assign(VISIT=["CYCLE 1 DAY 1", "CYCLE 2 DAY 1", "CYCLE 1 DAY 2", "CYCLE 1 DAY 1", "CYCLE 1 DAY 1",
                           "CYCLE 1 DAY 8"])
    assert derive_adex(ex2).set_index(["USUBJID", "EXTRT"]).loc[("S3", "CARFILZOMIB"), "RDI"] == pytest.approx(0.5)
