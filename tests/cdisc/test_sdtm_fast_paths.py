"""The SDTM builder's column-at-a-time paths (text as codes into distinct values, one lexsort for LB, the data cut's
last dose per subject) give what the record-at-a-time formulas give, on records shuffled and with ties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def test_float_codes_are_g_format_of_each_value():
    from ikema.cdisc.distinct import float_codes, text_of

    values = [1.5, -0.0, 0.0, np.nan, 1e-7, 123456789.0, 1.5, -2.25, 0.0, -0.0]
    codes, names = float_codes(values)
    assert names[codes].tolist() == [f"{x:g}" for x in values] and len(float_codes([])[0]) == 0
    got = text_of([2, 0, 1, 0], ["a", None, "c"])
    assert got.dtype == "str" and [got[0], got[1], got[3]] == ["c", "a", "a"] and pd.isna(got[2])


@pytest.fixture(scope="module")
def shuffled(small_records):
    """The small trial's records with labs and assessments shuffled, some repeated (same subject, day and test) with
    other values, and signed zeros among the lab values."""
    records, facts, criteria = small_records
    rng = np.random.default_rng(5)
    out = dict(records)
    lb = records["labs"].sample(frac=1.0, random_state=1).reset_index(drop=True)
    twins = lb.sample(40, random_state=2).assign(VALUE=lambda d: d["VALUE"] + 1.0)
    lb = pd.concat([lb, twins], ignore_index=True)
    lb.loc[rng.choice(len(lb), 6, replace=False), "VALUE"] = [0.0, -0.0, -0.0, 0.0, np.nan, -0.0]
    a = records["assessments"].sample(frac=1.0, random_state=3).reset_index(drop=True)
    out["labs"] = lb
    out["assessments"] = pd.concat([a, a.sample(30, random_state=4).assign(AVAL=lambda d: d["AVAL"] * 2)], ignore_index=True)
    return out, facts, criteria


def test_lb_is_the_stable_sort_of_haematology_then_disease_assessments(shuffled):
    from ikema.cdisc.sdtm import DISEASE, DISEASE_TESTS, build_sdtm

    records, facts, criteria = shuffled
    lb, a = records["labs"], records["assessments"]
    hem = pd.DataFrame({"USUBJID": lb["USUBJID"], "LBTESTCD": lb["LBTESTCD"], "LBCAT": "HEMATOLOGY", "LBSPEC": "BLOOD",
                        "LBORRES": [f"{x:g}" for x in lb["VALUE"]], "LBORRESU": lb["UNIT"], "LBSTRESN": lb["VALUE"],
                        "LBSTNRLO": lb["LLN"], "LBLNKID": "", "LBDY": lb["ADY"]})
    dis = pd.DataFrame({"USUBJID": a["USUBJID"], "LBTESTCD": a["PARAM"], "LBCAT": DISEASE,
                        "LBSPEC": [DISEASE_TESTS[p][1] for p in a["PARAM"]],
                        "LBORRES": [c if isinstance(c, str) and c else ("" if pd.isna(v) else f"{v:g}") for c, v in zip(a["AVALC"], a["AVAL"])],
                        "LBORRESU": [DISEASE_TESTS[p][2] for p in a["PARAM"]], "LBSTRESN": a["AVAL"], "LBSTNRLO": np.nan,
                        "LBLNKID": "IMWG", "LBDY": a["ADY"]})
    expected = pd.concat([hem, dis], ignore_index=True).sort_values(["USUBJID", "LBDY", "LBCAT", "LBTESTCD"], kind="stable")
    from ikema.cdisc.derive import SAFETY_DOMAINS

    # lean: the IMWG responses (not built) would refuse two results of one test on one day
    sdtm = build_sdtm(records, facts.studyid, protocol=facts.protocol, criteria=criteria, domains=SAFETY_DOMAINS, lean=True)
    got = sdtm["LB"]
    assert got["LBORRES"].isin(["-0"]).any() and got.duplicated(["USUBJID", "LBDY", "LBCAT", "LBTESTCD"]).sum() >= 60
    got = got.assign(LBLNKID=got["LBLNKID"].str.slice(0, 4))
    assert (got["LBSEQ"] == got.groupby("USUBJID").cumcount() + 1).all()
    pd.testing.assert_frame_equal(got[list(expected)].astype(object), expected.reset_index(drop=True).astype(object))
    # EPOCH: before the first dose SCREENING, to the last TREATMENT, after it FOLLOW-UP
    ev = records["events"].set_index("USUBJID")
    day = pd.to_datetime(got["LBDTC"])
    first, last = pd.to_datetime(got["USUBJID"].map(ev["TRTSDT"])), pd.to_datetime(got["USUBJID"].map(ev["TRTEDT"]))
    expected_epoch = np.where(day < first, "SCREENING", np.where(day <= last, "TREATMENT", "FOLLOW-UP"))
    assert (got["EPOCH"].to_numpy(object) == expected_epoch).all() and len(set(expected_epoch)) == 2
    ecog = sdtm["RS"][sdtm["RS"]["RSTESTCD"] == "ECOG101"]
    assert len(ecog) > 0 and ecog["EPOCH"].eq("SCREENING").all() and sdtm["RS"]["EPOCH"].dtype == "str"


def test_exposure_visits_name_each_cycle_and_day(small_records):
    from ikema.cdisc.sdtm import build_sdtm

    records, facts, criteria = small_records
    ex = records["exposure"].sample(frac=1.0, random_state=7).reset_index(drop=True)
    got = build_sdtm({**records, "exposure": ex}, facts.studyid, protocol=facts.protocol, criteria=criteria)["EX"]
    back = ex  # EX keeps the records' order
    assert got["VISIT"].dtype == "str" and got["VISIT"].nunique() > 10
    assert got["VISIT"].tolist() == [f"CYCLE {c} DAY {d}" for c, d in zip(back["CYCLE"], back["DAY"])]
    assert (got["VISITNUM"].to_numpy() == (back["CYCLE"] * 100 + back["DAY"]).to_numpy(float)).all()


def test_a_cut_dates_each_subjects_last_dose_and_leaves_the_domains_as_they_were(small_records):
    from ikema.cdisc.sdtm import build_sdtm, data_cut

    records, facts, criteria = small_records
    sdtm = build_sdtm(records, facts.studyid, protocol=facts.protocol, criteria=criteria)
    before = {k: v.copy() for k, v in sdtm.items()}
    ex = sdtm["EX"]
    for cutoff in (*facts.cutoffs.values(), ex["EXSTDTC"].min()[:10], "2000-01-01"):
        cut = data_cut(sdtm, cutoff)
        day = pd.Timestamp(cutoff).strftime("%Y-%m-%d")
        dosed = ex[ex["EXSTDTC"].str.slice(0, 10) <= day]
        last = {u: max(g)[:10] for u, g in dosed.groupby("USUBJID")["EXSTDTC"]}
        assert cut["DM"]["RFENDTC"].tolist() == [last.get(u, "") for u in cut["DM"]["USUBJID"]]
        assert cut["DM"]["RFENDTC"].dtype == object and cut["DM"]["RFXENDTC"].tolist() == cut["DM"]["RFENDTC"].tolist()
        ended = cut["AE"]["AEENDTC"]
        assert (ended.str.slice(0, 10) <= day).all() and len(cut["AE"]) == (sdtm["AE"]["AESTDTC"].str.slice(0, 10) <= day).sum()
    assert cut["DM"]["RFENDTC"].eq("").all() and sdtm["AE"]["AEENDTC"].str.slice(0, 10).gt(min(facts.cutoffs.values()).isoformat()).any()
    for k, v in before.items():
        pd.testing.assert_frame_equal(sdtm[k], v, obj=k)
