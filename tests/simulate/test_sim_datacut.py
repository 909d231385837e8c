"""Data cut: only records dated on or before the cutoff survive; end dates after it become ongoing."""

from __future__ import annotations

import pandas as pd

from ikema.cdisc.sdtm import data_cut


def _sdtm() -> dict[str, pd.DataFrame]:
    dm = pd.DataFrame({"USUBJID": ["A", "B"], "DTHDTC": ["2020-03-01", "2019-05-02"], "RFENDTC": ["2020-02-20", "2019-05-01"],
                       "DTHFL": ["Y", "Y"]})
    ex = pd.DataFrame({"USUBJID": ["A", "A", "A", "B"], "EXSTDTC": ["2019-01-01T09:00", "2020-02-07T09:00", "2020-02-08T09:00", "2019-05-01T09:00"],
                       "EXENDTC": ["2019-01-01T09:00", "2020-02-07T09:00", "2020-02-08T09:00", "2019-05-01T09:00"]})
    ae = pd.DataFrame({"USUBJID": ["A", "A", "B"], "AESTDTC": ["2020-01-30", "2020-02-08", "2019-04-01"],
                       "AEENDTC": ["2020-02-10", "2020-02-09", "2019-04-05"]})
    xd = pd.DataFrame({"USUBJID": ["A", "A"], "XDDTC": ["2020-02-07", "2020-02-08"], "XDTESTCD": ["SMPROT", "SMPROT"]})
    return {"DM": dm, "EX": ex, "AE": ae, "XD": xd}


def test_records_after_the_cutoff_are_removed_and_dates_blanked():
    cut = data_cut(_sdtm(), "2020-02-07")
    assert cut["XD"]["XDDTC"].tolist() == ["2020-02-07"]  # on the cutoff day is kept
    assert cut["EX"]["EXSTDTC"].str.slice(0, 10).tolist() == ["2019-01-01", "2020-02-07", "2019-05-01"]
    assert cut["AE"]["AESTDTC"].tolist() == ["2020-01-30", "2019-04-01"]
    assert cut["AE"]["AEENDTC"].tolist() == ["", "2019-04-05"]  # resolved after the cut: ongoing at the cut
    dm = cut["DM"].set_index("USUBJID")
    assert dm.loc["A", "DTHDTC"] == "" and dm.loc["A", "DTHFL"] == ""  # death after the cut is not yet known
    assert dm.loc["B", "DTHDTC"] == "2019-05-02" and dm.loc["B", "DTHFL"] == "Y"
    assert dm.loc["A", "RFENDTC"] == "2020-02-07"  # last dose in the cut


def test_the_input_is_not_changed():
    s = _sdtm()
    before = {k: v.copy() for k, v in s.items()}
    data_cut(s, "2019-06-01")
    for k in s:
        pd.testing.assert_frame_equal(s[k], before[k])


def test_treatment_status_weeks_and_still_on_treatment():
    import pandas as pd

    from ikema.analysis.sap import treatment_status

    adsl = pd.DataFrame({"USUBJID": ["a", "b", "c", "d", "e"], "TRT01A": ["X", "X", "X", "Y", "Y"],
                         "SAFFL": ["Y", "Y", "Y", "Y", "N"],
                         "TRTSDT": ["2020-01-01"] * 5,
                         "TRTEDT": ["2020-01-07", "2020-01-14", "2020-03-03", "2020-01-21", "2020-01-01"]})
    ds = pd.DataFrame({"USUBJID": ["a", "d", "e"], "DSSCAT": ["END OF TREATMENT", "END OF TREATMENT", "END OF TREATMENT"]})
    out = treatment_status(adsl, ds, "X", "Y")
    assert out["treatment_weeks_median"] == {"X": 2.0, "Y": 3.0}  # 7, 14, 63 days -> median 14 days; Y: 21 days
    assert out["on_treatment"]["X"] == 2 / 3 and out["on_treatment"]["Y"] == 0.0  # e is outside the safety population


def test_follow_up_median_is_reverse_km_on_os():
    import pandas as pd

    from ikema.analysis.sap import follow_up_median

    # censored (alive) at 10, 20, 30, 40; deaths at 5 and 25 censor the reverse KM: S = 1, 0.75 (t=10), ...
    t = pd.DataFrame({"PARAMCD": ["OS"] * 6 + ["PFS"], "AVAL": [10, 20, 30, 40, 5, 25, 1], "CNSR": [1, 1, 1, 1, 0, 0, 0]})
    # reverse KM: at 10: 5 at risk -> 4/5; at 20: 4 at risk -> 0.8*3/4 = 0.6; at 30: 2 at risk -> 0.3: median 30
    assert follow_up_median(t) == 30.0
