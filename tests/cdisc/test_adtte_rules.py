"""ADTTE: every event/censoring rule on a tiny hand-worked table (dates chosen so that AVAL is easy to check).

Randomization is 2020-01-01 for every subject; AVAL = ADT - STARTDT + 1. Assessments every 28 days from
2020-01-29 (days 29, 57, 85, ... after randomization); max_gap_days = 56 (two 28-day intervals).
"""

from __future__ import annotations

import pandas as pd
import pytest

from ikema.cdisc.adam.adtte import (
    derive_adtte,
    derive_param_dor,
    derive_param_os,
    derive_param_pfs,
    derive_param_pfs2,
    derive_param_ttnt,
    derive_param_ttbr,
    derive_param_ttfr,
    derive_param_ttp,
    subject_timeline,
)
from ikema.errors import InputError

RAND = "2020-01-01"
GAP = 56
VISITS = pd.date_range("2020-01-29", periods=12, freq="28D")  # 01-29, 02-26, 03-25, 04-22, ...


def adrs_of(subject: str, ovr: list[tuple[str, str]], pd_dt: str | None = None, rsp_dt: str | None = None,
            bor: tuple[str, str | None] = ("SD", None)) -> pd.DataFrame:
    """ADRS records (OVR per assessment, PD, RSP, CBOR) of one subject."""
    rows = [(subject, "OVR", r, d) for d, r in ovr]
    rows.append((subject, "PD", "Y" if pd_dt else "N", pd_dt))
    rows.append((subject, "RSP", "Y" if rsp_dt else "N", rsp_dt))
    rows.append((subject, "CBOR", bor[0], bor[1]))
    out = pd.DataFrame(rows, columns=["USUBJID", "PARAMCD", "AVALC", "ADT"])
    out["ADT"] = pd.to_datetime(out["ADT"])
    return out


def adsl_of(subject: str, **dates: str) -> pd.DataFrame:
    """ADSL row randomized 2020-01-01 with the given dates."""
    row = {"USUBJID": subject, "RANDDT": RAND, "TRT01P": "IKd", "LSTALVDT": "2021-01-01"}
    row.update(dates)
    return pd.DataFrame([row])


def visits(*resp: str) -> list[tuple[str, str]]:
    """Assessments on consecutive 28-day visits with the given responses."""
    return [(str(VISITS[k].date()), r) for k, r in enumerate(resp)]


def timeline(adsl: pd.DataFrame, adrs: pd.DataFrame) -> pd.DataFrame:
    return subject_timeline(adsl, adrs, GAP)


def one(frame: pd.DataFrame) -> dict:
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def test_pfs_event_progression():
    d = timeline(adsl_of("S"), adrs_of("S", visits("PR", "PR", "PD", "PD"), pd_dt="2020-03-25"))
    r = one(derive_param_pfs(d))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (0, 85.0, "progression")
    assert r["EVNTDESC"] == "Progressive disease (IMWG 2016, confirmed)" and r["SRCDOM"] == "ADRS"


def test_pfs_event_death_between_adequate_assessments():
    d = timeline(adsl_of("S", DTHDT="2020-03-10"), adrs_of("S", visits("SD", "SD")))
    r = one(derive_param_pfs(d))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (0, 70.0, "death")


def test_pfs_death_before_first_assessment_is_an_event():
    d = timeline(adsl_of("S", DTHDT="2020-01-20"), adrs_of("S", []))
    r = one(derive_param_pfs(d))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (0, 20.0, "death")


def test_pfs_new_therapy_before_progression_censors_at_last_adequate_before_it():
    d = timeline(adsl_of("S", NEWTHDT="2020-03-01"), adrs_of("S", visits("SD", "SD", "SD", "PD", "PD"), pd_dt="2020-04-22"))
    r = one(derive_param_pfs(d))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (1, 57.0, "new_therapy_before_progression")
    assert r["CNSDTDSC"] == "Last adequate assessment on or before start of further therapy"


def test_pfs_new_therapy_without_prior_assessment_censors_at_randomization():
    d = timeline(adsl_of("S", NEWTHDT="2020-01-15"), adrs_of("S", visits("SD", "SD")))
    r = one(derive_param_pfs(d))
    assert (r["CNSR"], r["AVAL"], str(r["ADT"].date())) == (1, 1.0, RAND)


def test_pfs_progression_after_two_missed_assessments_is_censored():
    ovr = [("2020-01-29", "SD"), ("2020-04-22", "PD"), ("2020-05-20", "PD")]  # 84 days > 56 after 01-29
    d = timeline(adsl_of("S"), adrs_of("S", ovr, pd_dt="2020-04-22"))
    r = one(derive_param_pfs(d))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (1, 29.0, "event_after_missed_assessments")
    # one missed visit (56 days) is still an event
    ovr = [("2020-01-29", "SD"), ("2020-03-25", "PD"), ("2020-04-22", "PD")]
    r = one(derive_param_pfs(timeline(adsl_of("S"), adrs_of("S", ovr, pd_dt="2020-03-25"))))
    assert (r["CNSR"], r["AVAL"]) == (0, 85.0)


def test_pfs_death_after_missed_assessments_is_censored():
    d = timeline(adsl_of("S", DTHDT="2020-06-01"), adrs_of("S", visits("SD")))
    r = one(derive_param_pfs(d))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (1, 29.0, "event_after_missed_assessments")


def test_pfs_no_adequate_post_baseline_assessment_censors_at_randomization():
    d = timeline(adsl_of("S"), adrs_of("S", visits("NE", "NE")))
    r = one(derive_param_pfs(d))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (1, 1.0, "no_adequate_assessment")
    assert r["CNSDTDSC"] == "Randomization"


def test_pfs_no_event_censors_at_last_adequate_assessment_ignoring_ne():
    d = timeline(adsl_of("S"), adrs_of("S", visits("PR", "PR", "NE")))
    r = one(derive_param_pfs(d))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (1, 57.0, "last_adequate_assessment")


def test_pfs_itt_profile_counts_events_after_new_therapy():
    d = timeline(adsl_of("S", NEWTHDT="2020-03-01"), adrs_of("S", visits("SD", "SD", "SD", "PD", "PD"), pd_dt="2020-04-22"))
    r = one(derive_param_pfs(d, profile="ITT"))
    assert (r["CNSR"], r["AVAL"]) == (0, 113.0)


def test_ttp_censors_death_without_progression():
    d = timeline(adsl_of("S", DTHDT="2020-03-10"), adrs_of("S", visits("SD", "SD")))
    r = one(derive_param_ttp(d))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (1, 57.0, "death_without_progression")
    d = timeline(adsl_of("S"), adrs_of("S", visits("PR", "PD", "PD"), pd_dt="2020-02-26"))
    assert one(derive_param_ttp(d))["CNSR"] == 0


def test_os_death_alive_and_no_contact():
    d = timeline(
        pd.concat([adsl_of("A", DTHDT="2020-07-01"), adsl_of("B"), adsl_of("C", LSTALVDT="")]),
        pd.concat([adrs_of(s, []) for s in "ABC"]),
    )
    r = derive_param_os(d).set_index("USUBJID")
    assert list(r["CNSR"]) == [0, 1, 1]
    assert list(r["AVAL"]) == [183.0, 367.0, 1.0]
    assert list(r["RULE"]) == ["death", "alive_last_contact", "no_contact_after_randomization"]


def test_pfs2_second_progression_death_and_censoring():
    d = timeline(
        pd.concat([
            adsl_of("A", NEWTHDT="2020-05-01", PD2DT="2020-09-01", DTHDT="2020-12-01"),
            adsl_of("B", DTHDT="2020-04-09"),
            adsl_of("C"),
        ]),
        pd.concat([adrs_of(s, []) for s in "ABC"]),
    )
    r = derive_param_pfs2(d).set_index("USUBJID")
    assert list(r["CNSR"]) == [0, 0, 1]
    assert list(r["AVAL"]) == [245.0, 100.0, 367.0]
    assert list(r["RULE"]) == ["second_progression", "death", "alive_without_second_progression"]


def test_ttnt_next_therapy_death_and_censoring():
    d = timeline(
        pd.concat([
            adsl_of("A", NEWTHDT="2020-05-01", PD2DT="2020-09-01", DTHDT="2020-12-01"),
            adsl_of("B", DTHDT="2020-04-09"),
            adsl_of("C", NEWTHDT="2020-06-01", DTHDT="2020-06-01"),
            adsl_of("D"),
            adsl_of("E", LSTALVDT="2019-12-01"),
        ]),
        pd.concat([adrs_of(s, []) for s in "ABCDE"]),
    )
    r = derive_param_ttnt(d).set_index("USUBJID")
    assert list(r["CNSR"]) == [0, 0, 0, 1, 1]
    assert list(r["AVAL"]) == [122.0, 100.0, 153.0, 367.0, 1.0]
    assert list(r["RULE"]) == ["next_therapy", "death", "next_therapy", "alive_without_next_therapy",
                               "no_contact_after_randomization"]


def test_pfs2_before_further_therapy_is_refused():
    with pytest.raises(InputError, match="PD2DT"):
        timeline(adsl_of("S", PD2DT="2020-03-01"), adrs_of("S", []))


def test_dor_responders_only_from_first_response():
    adsl = pd.concat([adsl_of("R"), adsl_of("N")])
    adrs = pd.concat([
        adrs_of("R", visits("PR", "VGPR", "VGPR", "PD", "PD"), pd_dt="2020-04-22", rsp_dt="2020-01-29", bor=("VGPR", "2020-02-26")),
        adrs_of("N", visits("SD", "SD")),
    ])
    r = derive_param_dor(timeline(adsl, adrs))
    assert list(r["USUBJID"]) == ["R"]
    row = r.iloc[0]
    assert (row["CNSR"], row["AVAL"], str(row["STARTDT"].date())) == (0, 85.0, "2020-01-29")


def test_dor_censored_at_further_therapy():
    adrs = adrs_of("R", visits("PR", "PR", "PR", "PR"), rsp_dt="2020-01-29", bor=("PR", "2020-01-29"))
    r = one(derive_param_dor(timeline(adsl_of("R", NEWTHDT="2020-03-30"), adrs)))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (1, 57.0, "new_therapy_before_progression")


def test_time_to_first_and_best_response():
    adsl = pd.concat([adsl_of("R"), adsl_of("N", NEWTHDT="2020-03-30")])
    adrs = pd.concat([
        adrs_of("R", visits("MR", "PR", "VGPR", "VGPR"), rsp_dt="2020-02-26", bor=("VGPR", "2020-03-25")),
        adrs_of("N", visits("SD", "SD", "SD", "SD")),
    ])
    d = timeline(adsl, adrs)
    f = derive_param_ttfr(d).set_index("USUBJID")
    b = derive_param_ttbr(d).set_index("USUBJID")
    assert (f.loc["R", "AVAL"], f.loc["R", "CNSR"]) == (57.0, 0)
    assert (b.loc["R", "AVAL"], b.loc["R", "CNSR"]) == (85.0, 0)
    # non-responder censored at the last adequate assessment on or before further therapy (03-25)
    assert (f.loc["N", "AVAL"], f.loc["N", "CNSR"], f.loc["N", "RULE"]) == (85.0, 1, "no_response")


def test_cutoff_drops_later_events_and_caps_last_contact():
    adsl = adsl_of("S", DTHDT="2020-06-01", LSTALVDT="2020-06-01")
    adrs = adrs_of("S", visits("SD", "SD", "SD", "SD", "PD", "PD"), pd_dt="2020-05-20")
    t = derive_adtte(adsl, adrs, max_gap_days=GAP, cutoff="2020-04-30").set_index("PARAMCD")
    assert (t.loc["OS", "CNSR"], t.loc["OS", "AVAL"]) == (1, 121.0)
    assert (t.loc["PFS", "CNSR"], t.loc["PFS", "AVAL"]) == (1, 113.0)


def test_derive_adtte_has_the_columns_analyze_reads():
    adsl = adsl_of("S", STRAT1R="1", STRAT2R="<75")
    t = derive_adtte(adsl, adrs_of("S", visits("PR", "PR"), rsp_dt="2020-01-29", bor=("PR", "2020-01-29")), max_gap_days=GAP)
    for col in ("USUBJID", "PARAMCD", "PARAM", "AVAL", "CNSR", "STARTDT", "ADT", "EVNTDESC", "CNSDTDSC", "TRT01P", "STRAT1R", "STRAT2R"):
        assert col in t.columns
    assert list(t["PARAMCD"]) == ["PFS", "TTP", "OS", "PFS2", "TTNT", "DOR", "TTFR", "TTBR"]


def test_ttp_new_therapy_and_missed_assessment_rules():
    d = timeline(adsl_of("S", NEWTHDT="2020-03-01"), adrs_of("S", visits("SD", "SD", "SD", "PD", "PD"), pd_dt="2020-04-22"))
    r = one(derive_param_ttp(d))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (1, 57.0, "new_therapy_before_progression")
    ovr = [("2020-01-29", "SD"), ("2020-04-22", "PD"), ("2020-05-20", "PD")]
    r = one(derive_param_ttp(timeline(adsl_of("S"), adrs_of("S", ovr, pd_dt="2020-04-22"))))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (1, 29.0, "progression_after_missed_assessments")


def test_ttp_no_adequate_assessment_and_no_event():
    d = timeline(pd.concat([adsl_of("A"), adsl_of("B")]), pd.concat([adrs_of("A", []), adrs_of("B", visits("SD", "MR"))]))
    r = derive_param_ttp(d).set_index("USUBJID")
    assert list(r["RULE"]) == ["no_adequate_assessment", "last_adequate_assessment"]
    assert list(r["AVAL"]) == [1.0, 57.0] and list(r["CNSR"]) == [1, 1]


def test_time_to_response_without_any_adequate_assessment_censors_at_randomization():
    d = timeline(adsl_of("S"), adrs_of("S", visits("NE")))
    r = one(derive_param_ttfr(d))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (1, 1.0, "no_response_no_assessment")


def test_pfs2_last_contact_before_randomization_censors_at_randomization():
    d = timeline(adsl_of("S", LSTALVDT="2019-12-30"), adrs_of("S", []))
    r = one(derive_param_pfs2(d))
    assert (r["CNSR"], r["AVAL"], r["RULE"]) == (1, 1.0, "no_contact_after_randomization")


def test_default_gap_is_two_cycles_of_the_protocol():
    from ikema.cdisc.adam.adtte import default_max_gap_days

    from ikema.protocol import load_protocol

    p = load_protocol()
    assert default_max_gap_days(p) == 2 * p.cycle_length_days == 56
    assert default_max_gap_days(p.model_copy(update={"cycle_length_days": 21})) == 42
    from ikema.errors import ProtocolError

    with pytest.raises(ProtocolError, match="cycle_length_days"):
        default_max_gap_days(object())


def test_srcseq_is_the_first_adrs_record_of_the_source_parameter_on_the_date():
    # the ASEQ of the first ADRS record with the subject, source parameter (PD/RSP/CBOR for events by SOURCE_PARAM,
    # OVR for censorings) and date; none where no record matches, ADSL sources none
    import numpy as np

    from ikema.cdisc.adam.structure import derive_srcseq

    adrs = pd.DataFrame({
        "USUBJID": ["A", "A", "A", "A", "B", "B", "B"],
        "PARAMCD": ["OVR", "OVR", "PD", "PD", "OVR", "CBOR", "RSP"],
        "ADT": pd.to_datetime(["2020-02-01", "2020-03-01", "2020-03-01", "2020-03-01", "2020-02-01", "2020-02-01", None]),
        "ASEQ": [1, 2, 3, 4, 1, 2, 3]})
    adtte = pd.DataFrame({
        "USUBJID": ["A", "A", "A", "B", "B", "B", "C", "A"],
        "PARAMCD": ["PFS", "TTP", "OS", "PFS", "TTBR", "TTFR", "PFS", "DOR"],
        "ADT": pd.to_datetime(["2020-03-01", "2020-02-01", "2020-03-01", "2020-02-01", "2020-02-01", "2020-05-01",
                               "2020-02-01", "2020-04-01"]),
        "CNSR": [0, 1, 0, 1, 0, 1, 1, 0],
        "SRCDOM": ["ADRS", "ADRS", "ADSL", "ADRS", "ADRS", "ADRS", "ADRS", "ADRS"]}, index=[10, 11, 12, 13, 14, 15, 16, 17])
    got = derive_srcseq(adtte, adrs)
    assert got.index.tolist() == adtte.index.tolist()
    # PFS event: PD on 03-01 (the first of the two); TTP censored: OVR 02-01; OS from ADSL; B's censored PFS: OVR;
    # TTBR event: CBOR; TTFR censored on a date without an OVR; subject C has no ADRS; DOR event: no PD on 04-01
    np.testing.assert_array_equal(got.to_numpy(), [3.0, 1.0, np.nan, 1.0, 2.0, np.nan, np.nan, np.nan])
