"""SDTM built for a twin replicate (only the domains its ADaM reads, QS as its dates, RS without the IMWG responses)
gives the same domains and, at every cut, the same ADaM as the whole package."""

from __future__ import annotations

import pandas as pd


def test_the_domains_adam_reads_give_the_same_adam_at_every_cut(small_records):
    from ikema.cdisc.derive import SAFETY_DOMAINS, derive_adam
    from ikema.cdisc.sdtm import build_sdtm, data_cut

    records, facts, criteria = small_records
    full = build_sdtm(records, facts.studyid, protocol=facts.protocol, criteria=criteria)
    part = build_sdtm(records, facts.studyid, protocol=facts.protocol, criteria=criteria, domains=SAFETY_DOMAINS,
                      lean=True)
    assert list(part) == [k for k in full if k in SAFETY_DOMAINS]
    assert set(SAFETY_DOMAINS) == set(part)
    assert "RFPENDTC" not in part["DM"] and full["DM"]["RFPENDTC"].ne("").any()
    for name, d in part.items():
        if name not in ("QS", "RS"):
            pd.testing.assert_frame_equal(d, full[name].drop(columns=["RFPENDTC"]) if name == "DM" else full[name])
    rs = full["RS"][full["RS"]["RSTESTCD"] != "OVRLRESP"]
    assert set(rs["RSTESTCD"]) == {"ECOG101", "PD2"} and len(rs) < len(full["RS"])
    pd.testing.assert_frame_equal(part["RS"].drop(columns="RSSEQ"), rs.drop(columns="RSSEQ").reset_index(drop=True))
    dates = full["QS"][["STUDYID", "DOMAIN", "USUBJID", "QSDTC"]].drop_duplicates(["USUBJID", "QSDTC"])
    assert len(part["QS"]) == len(dates) < len(full["QS"])
    pd.testing.assert_frame_equal(part["QS"].sort_values(["USUBJID", "QSDTC"]).reset_index(drop=True),
                                  dates.sort_values(["USUBJID", "QSDTC"]).reset_index(drop=True))
    for cutoff in facts.cutoffs.values():
        a = derive_adam(data_cut(full, cutoff), cutoff, criteria, facts.cycle_days, facts.teae_window_days, "safety")
        b = derive_adam(data_cut(part, cutoff), cutoff, criteria, facts.cycle_days, facts.teae_window_days, "safety")
        assert list(a) == list(b) == ["ADSL", "ADRS", "ADTTE", "ADAE", "ADLB"]
        for name in a:
            pd.testing.assert_frame_equal(a[name], b[name])


def test_questionnaire_dates_alone_leave_no_visits_to_derive(small_records):
    import pytest

    from ikema.cdisc.sdtm import build_sdtm

    records, facts, criteria = small_records
    with pytest.raises(ValueError, match="lean"):
        build_sdtm(records, facts.studyid, protocol=facts.protocol, criteria=criteria, lean=True)


def test_a_cut_without_the_laboratory_grades_or_adjusted_responses_keeps_the_rest(package):
    from ikema.cdisc.adam.adrs import ADJUSTED
    from ikema.cdisc.derive import derive_adam

    facts, criteria, cutoff = package["facts"], package["criteria"], package["cutoff"]
    full = derive_adam(package["sdtm"], cutoff, criteria, facts.cycle_days, facts.teae_window_days, "safety")
    lean = derive_adam(package["sdtm"], cutoff, criteria, facts.cycle_days, facts.teae_window_days, "safety",
                       lab=False, adjusted=False)
    assert list(lean) == ["ADSL", "ADRS", "ADTTE", "ADAE"]
    for name in ("ADSL", "ADAE"):
        pd.testing.assert_frame_equal(lean[name], full[name])
    # ASEQ numbers the records a dataset holds (and ADTTE's SRCSEQ points at them): the rest is the same
    kept = full["ADRS"][~full["ADRS"]["PARAMCD"].isin(ADJUSTED)]
    assert set(full["ADRS"]["PARAMCD"]) & set(ADJUSTED) and not set(lean["ADRS"]["PARAMCD"]) & set(ADJUSTED)
    pd.testing.assert_frame_equal(lean["ADRS"].drop(columns="ASEQ"), kept.drop(columns="ASEQ").reset_index(drop=True))
    pd.testing.assert_frame_equal(lean["ADTTE"].drop(columns="SRCSEQ"), full["ADTTE"].drop(columns="SRCSEQ"))
