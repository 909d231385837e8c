"""Hand-worked IMWG patient histories: every response category, both measurable-disease types, confirmation
and its failure, nadir-based progression, new lesions, relapse from CR, missing data and interference.

Each expected value was worked out by hand from the rule named in the comment (decision numbers D1-D15 are
those of the ikema.response.engine docstring).
"""

from __future__ import annotations

import pandas as pd
import pytest
from imwg_helpers import IKEMA, History, frame_of, na, run

from ikema.response import Criteria, evaluate

NEG, POS, DRUG = "NEGATIVE", "POSITIVE", "POSITIVE-DRUG"


def test_h01_scr_confirmed_needs_clonality_and_normal_ratio():
    h = (
        History()
        .visit(-3, SMPROT=3.0, UMPROT=50, BMPC=40, FLCK=300, FLCL=10)
        .visit(29, SMPROT=1.0, UMPROT=40)  # 66.7 % reduction -> PR
        .visit(57, SMPROT=0, UMPROT=0, SIFE=NEG, UIFE=NEG, BMPC=2, CLONALPC=NEG, FLCK=12, FLCL=10)
        .visit(85, SMPROT=0, UMPROT=0, SIFE=NEG, UIFE=NEG, FLCK=11, FLCL=10)  # marrow carried (D6)
    )
    resp, conf, s = run(h)
    assert resp == ["PR", "sCR", "sCR"]
    assert conf == ["PR", "sCR", "SD"]  # last sCR has no confirming assessment
    assert s["BOR"] == "sCR" and s["FIRST_RESP_DY"] == 29 and s["BEST_RESP_DY"] == 57
    assert na(s["PD_DY"]) and s["MRDNEG"] == "N" and s["MEASDIS"] == "SERUM"


def test_h02_cr_when_clonality_missing():
    h = (
        History()
        .visit(1, SMPROT=3.0, UMPROT=50, BMPC=40)
        .visit(57, SMPROT=0, UMPROT=0, SIFE=NEG, UIFE=NEG, BMPC=2, FLCK=12, FLCL=10)
        .visit(85, SMPROT=0, UMPROT=0, SIFE=NEG, UIFE=NEG, FLCK=11, FLCL=10)
    )
    resp, conf, s = run(h)
    assert resp == ["CR", "CR"] and conf == ["CR", "SD"] and s["BOR"] == "CR"


def test_h03_scr_downgraded_to_cr_with_abnormal_flc_ratio():
    h = (
        History()
        .visit(1, SMPROT=3.0, UMPROT=50, BMPC=40)
        .visit(57, SMPROT=0, UMPROT=0, SIFE=NEG, UIFE=NEG, BMPC=2, CLONALPC=NEG, FLCK=40, FLCL=10)
        .visit(85, SMPROT=0, UMPROT=0, SIFE=NEG, UIFE=NEG, FLCK=12, FLCL=10)
    )
    resp, conf, s = run(h)
    assert resp == ["CR", "sCR"] and conf == ["CR", "SD"] and s["BOR"] == "CR"


def test_h04_vgpr_serum_and_urine_measurable():
    h = (
        History()
        .visit(1, SMPROT=3.0, UMPROT=300)
        .visit(29, SMPROT=0.25, UMPROT=90)  # 91.7 % and < 100 mg
        .visit(57, SMPROT=0.2, UMPROT=80, SIFE=POS)
    )
    resp, conf, s = run(h)
    assert resp == ["VGPR", "VGPR"] and conf == ["VGPR", "SD"]
    assert s["BOR"] == "VGPR" and s["MEASDIS"] == "SERUM+URINE"


def test_h05_pr_needs_both_components_lowest_level_wins():
    h = (
        History()
        .visit(1, SMPROT=2.0, UMPROT=1000)
        .visit(29, SMPROT=0.9, UMPROT=150)  # serum 55 % PR; urine < 200 PR
        .visit(57, SMPROT=0.8, UMPROT=90)  # serum 60 % PR; urine < 100 VGPR -> PR
    )
    resp, conf, s = run(h)
    assert resp == ["PR", "PR"] and conf == ["PR", "SD"]
    assert s["BOR"] == "PR" and s["FIRST_RESP_DY"] == 29 and s["BEST_RESP_DY"] == 29


def test_h06_minimal_response_is_not_a_response():
    h = (
        History()
        .visit(1, SMPROT=2.0, UMPROT=50)
        .visit(29, SMPROT=1.4)  # 30 %
        .visit(57, SMPROT=1.45)  # 27.5 %
        .visit(85, SMPROT=1.3)  # 35 %
    )
    resp, conf, s = run(h)
    assert resp == ["MR", "MR", "MR"] and conf == ["MR", "MR", "SD"]
    assert s["BOR"] == "MR" and na(s["FIRST_RESP_DY"]) and s["BEST_RESP_DY"] == 29


def test_h07_stable_disease_needs_no_confirmation():
    h = History().visit(1, SMPROT=2.0).visit(29, SMPROT=1.9).visit(57, SMPROT=1.8)
    resp, conf, s = run(h)
    assert resp == ["SD", "SD"] and conf == ["SD", "SD"]
    assert s["BOR"] == "SD" and s["BEST_RESP_DY"] == 29 and na(s["FIRST_RESP_DY"])


def test_h08_confirmed_progression_from_nadir():
    h = (
        History()
        .visit(1, SMPROT=2.0)
        .visit(29, SMPROT=1.0)
        .visit(57, SMPROT=1.0)
        .visit(85, SMPROT=1.6)  # +0.6 from nadir 1.0 (>= 0.5 and >= 25 %)
        .visit(113, SMPROT=1.9)
    )
    resp, conf, s = run(h)
    assert resp == ["PR", "PR", "PD", "PD"]
    assert conf == ["PR", "SD", "PD", "NE"]
    assert s["BOR"] == "PR" and s["PD_DY"] == 85


def test_h09_unconfirmed_progression_is_ne_and_no_event():
    h = (
        History()
        .visit(1, SMPROT=2.0)
        .visit(29, SMPROT=1.0)
        .visit(57, SMPROT=1.6)  # PD not confirmed by the next assessment
        .visit(85, SMPROT=1.0)
        .visit(113, SMPROT=1.0)
    )
    resp, conf, s = run(h)
    assert resp == ["PR", "PD", "PR", "PR"]
    assert conf == ["SD", "NE", "PR", "SD"]
    assert s["BOR"] == "PR" and s["FIRST_RESP_DY"] == 85 and na(s["PD_DY"])


def test_h10_serum_between_half_and_one_gram_measurable_only_under_protocol():
    h = History().visit(1, SMPROT=0.8, UMPROT=50).visit(29, SMPROT=0.3).visit(57, SMPROT=0.35)
    resp, conf, s = run(h, IKEMA)
    assert resp == ["PR", "PR"] and s["BOR"] == "PR" and s["MEASDIS"] == "SERUM"
    resp, conf, s = run(h, Criteria.imwg())
    assert resp == ["NE", "NE"] and s["BOR"] == "NE" and s["MEASDIS"] == "NONE"


def test_h11_urine_only_measurable_disease():
    h = (
        History()
        .visit(1, SMPROT=0.3, UMPROT=800)
        .visit(29, SMPROT=0.2, UMPROT=150)  # 81 % but < 200 -> PR
        .visit(57, UMPROT=80)  # < 100 -> VGPR (serum not followed relatively, D4)
        .visit(85, UMPROT=60)
    )
    resp, conf, s = run(h)
    assert resp == ["PR", "VGPR", "VGPR"] and conf == ["PR", "VGPR", "SD"]
    assert s["BOR"] == "VGPR" and s["FIRST_RESP_DY"] == 29 and s["BEST_RESP_DY"] == 57
    assert s["MEASDIS"] == "URINE"


def test_h12_flc_only_disease_response_and_cr_needs_normal_ratio():
    h = (
        History()
        .visit(1, SMPROT=0.2, UMPROT=50, FLCK=400, FLCL=10)  # dFLC 390 mg/L
        .visit(29, FLCK=150, FLCL=10)  # dFLC 140: 64 % -> PR
        .visit(57, FLCK=30, FLCL=10)  # dFLC 20: 94.9 % -> VGPR
        .visit(85, FLCK=20, FLCL=12, SIFE=NEG, UIFE=NEG, BMPC=3)  # ratio 1.67 abnormal -> no CR
        .visit(113, FLCK=15, FLCL=12, SIFE=NEG, UIFE=NEG)  # ratio 1.25 -> CR (marrow carried)
        .visit(141, FLCK=14, FLCL=12, SIFE=NEG, UIFE=NEG)
    )
    resp, conf, s = run(h)
    assert resp == ["PR", "VGPR", "VGPR", "CR", "CR"]
    assert conf == ["PR", "VGPR", "VGPR", "CR", "SD"]
    assert s["BOR"] == "CR" and s["BEST_RESP_DY"] == 113 and s["MEASDIS"] == "FLC"


def test_h13_flc_progression_needs_more_than_100_mg_per_l():
    h = (
        History()
        .visit(1, FLCK=400, FLCL=10)
        .visit(29, FLCK=30, FLCL=10)  # dFLC 20 -> VGPR
        .visit(57, FLCK=130, FLCL=10)  # +100 exactly: not > 100 -> PR (69 %)
        .visit(85, FLCK=131, FLCL=10)  # +101 -> PD
        .visit(113, FLCK=200, FLCL=10)
    )
    resp, conf, s = run(h)
    assert resp == ["VGPR", "PR", "PD", "PD"]
    assert conf == ["PR", "SD", "PD", "NE"]
    assert s["BOR"] == "PR" and s["PD_DY"] == 85


def test_h14_high_nadir_one_gram_rule():
    hi = (
        History("HI")
        .visit(1, SMPROT=8.0)
        .visit(29, SMPROT=6.0)  # 25 % -> MR
        .visit(57, SMPROT=7.1)  # +1.1 from nadir 6.0 >= 5: PD although < 25 %
        .visit(85, SMPROT=7.3)
    )
    lo = History("LO").visit(1, SMPROT=8.0).visit(29, SMPROT=4.8).visit(57, SMPROT=5.9)  # +1.1 < 25 % of 4.8
    ev = evaluate(frame_of(hi, lo), IKEMA)
    r = ev.responses.set_index(["USUBJID", "ADY"])
    assert list(r.loc["HI", "RESP"]) == ["MR", "PD", "PD"]
    assert list(r.loc["HI", "CONFIRMED"]) == ["SD", "PD", "NE"]
    assert list(r.loc["LO", "RESP"]) == ["MR", "MR"]
    s = ev.summary.set_index("USUBJID")
    assert s.loc["HI", "PD_DY"] == 57 and s.loc["HI", "BOR"] == "SD"
    assert na(s.loc["LO", "PD_DY"])


def test_h15_zero_nadir_absolute_rule_after_cr():
    h = (
        History()
        .visit(1, SMPROT=3.0, BMPC=50)
        .visit(29, SMPROT=0, SIFE=NEG, UIFE=NEG, BMPC=1)
        .visit(57, SMPROT=0, SIFE=NEG, UIFE=NEG)
        .visit(85, SMPROT=0.4, SIFE=POS)  # +0.4 from 0: not PD; 86.7 % -> PR
        .visit(113, SMPROT=0.5, SIFE=POS)  # +0.5 from nadir 0 -> PD
        .visit(141, SMPROT=0.9, SIFE=POS)
    )
    resp, conf, s = run(h)
    assert resp == ["CR", "CR", "PR", "PD", "PD"]
    assert conf == ["CR", "PR", "SD", "PD", "NE"]
    assert s["BOR"] == "CR" and s["BEST_RESP_DY"] == 29 and s["PD_DY"] == 113


def test_h16_relapse_from_cr_is_not_progression():
    h = (
        History()
        .visit(1, SMPROT=3.0, UMPROT=50, BMPC=50)
        .visit(29, SMPROT=0, UMPROT=0, SIFE=NEG, UIFE=NEG, BMPC=1)
        .visit(57, SMPROT=0, UMPROT=0, SIFE=NEG, UIFE=NEG)
        .visit(85, SMPROT=0, UMPROT=0, SIFE=POS, UIFE=NEG)  # IFE back: relapse from CR (D14)
        .visit(113, SMPROT=0, UMPROT=0, SIFE=POS, UIFE=NEG)
    )
    resp, conf, s = run(h)
    assert resp == ["CR", "CR", "VGPR", "VGPR"]
    assert conf == ["CR", "VGPR", "VGPR", "SD"]
    assert s["BOR"] == "CR" and na(s["PD_DY"])


def test_h17_new_lesion_is_progression_without_confirmation():
    h = (
        History()
        .visit(1, SMPROT=2.0)
        .visit(29, SMPROT=0.9)
        .visit(57, SMPROT=0.9, NEWLES="Y")
    )
    ev = evaluate(h.frame(), IKEMA)
    assert list(ev.responses["RESP"]) == ["PR", "PD"]
    assert list(ev.responses["CONFIRMED"]) == ["SD", "PD"]
    assert list(ev.responses["PDSRC"]) == ["", "IMAGING"]
    s = ev.summary.iloc[0]
    assert s["PD_DY"] == 57 and s["BOR"] == "SD"


def test_h18_plasmacytoma_growth_from_nadir_is_progression():
    h = (
        History()
        .visit(1, SMPROT=2.0, UMPROT=50, PLASMA=10)
        .visit(29, SMPROT=0.9, PLASMA=4)  # 60 % smaller -> PR allowed
        .visit(57, SMPROT=0.9)
        .visit(85, SMPROT=0.8, PLASMA=6.5)  # >= 1.5 x nadir 4
    )
    resp, conf, s = run(h)
    assert resp == ["PR", "PR", "PD"] and conf == ["PR", "SD", "PD"]
    assert s["BOR"] == "PR" and s["PD_DY"] == 85


def test_h19_plasmacytoma_gate_caps_response():
    h = (
        History()
        .visit(1, SMPROT=2.0, UMPROT=50, PLASMA=10)
        .visit(29, SMPROT=0.1)  # 95 % but not re-imaged: VGPR downgraded to PR (D8)
        .visit(57, SMPROT=0.1, PLASMA=7)  # 30 % smaller -> capped at MR
        .visit(85, SMPROT=0.1, PLASMA=4)  # 60 % -> VGPR
        .visit(113, SMPROT=0, UMPROT=0, SIFE=NEG, UIFE=NEG, BMPC=2, PLASMA=0)  # CR
    )
    resp, _, _ = run(h)
    assert resp == ["PR", "MR", "VGPR", "CR"]


def test_h20_marrow_only_disease_pr_and_marrow_progression():
    h = (
        History()
        .visit(1, SMPROT=0.1, UMPROT=20, FLCK=15, FLCL=12, BMPC=40)
        .visit(29, SMPROT=0.1)  # no marrow yet: NE
        .visit(57, BMPC=15)  # 62.5 % reduction from >= 30 % -> PR
        .visit(85, SMPROT=0.1)  # marrow carried -> PR
        .visit(113, BMPC=30)  # +15 points from nadir 15 -> PD, no confirmation needed
    )
    ev = evaluate(h.frame(), IKEMA)
    assert list(ev.responses["RESP"]) == ["NE", "PR", "PR", "PD"]
    assert list(ev.responses["CONFIRMED"]) == ["NE", "PR", "SD", "PD"]
    assert ev.responses["PDSRC"].iloc[-1] == "MARROW"
    s = ev.summary.iloc[0]
    assert s["BOR"] == "PR" and s["PD_DY"] == 113 and s["MEASDIS"] == "NONE"


def test_h21_marrow_progression_needs_ten_points_2016_wording():
    h = History().visit(1, BMPC=8).visit(57, BMPC=12).visit(113, BMPC=19)
    resp, _, s = run(h)
    assert resp == ["SD", "PD"]  # 8 -> 12 is +4 (PD under 2011 only); 8 -> 19 is +11
    assert s["PD_DY"] == 113


def test_h22_missing_urine_downgrades_and_missing_everything_is_ne():
    h = (
        History()
        .visit(1, SMPROT=3.0, UMPROT=500)
        .visit(29, SMPROT=0.2)  # serum VGPR, measurable urine missing -> PR (D5)
        .visit(57, SMPROT=0.2, UMPROT=50)  # VGPR
        .visit(85, FLCK=10, FLCL=10)  # no serum, no urine -> NE
        .visit(113, SMPROT=0.2, UMPROT=40)
    )
    resp, conf, s = run(h)
    assert resp == ["PR", "VGPR", "NE", "VGPR"]
    assert conf == ["PR", "VGPR", "NE", "SD"]  # NE skipped when confirming
    assert s["BOR"] == "VGPR" and s["FIRST_RESP_DY"] == 29 and s["BEST_RESP_DY"] == 57


def test_h23_unmeasurable_urine_absolute_limit_for_vgpr():
    a = (
        History("A")
        .visit(1, SMPROT=3.0, UMPROT=150)
        .visit(29, SMPROT=0.2)  # urine carried from baseline 150 >= 100 -> PR
        .visit(57, SMPROT=0.2, UMPROT=120)
        .visit(85, SMPROT=0.2, UMPROT=90)  # < 100 -> VGPR
    )
    b = History("B").visit(1, SMPROT=3.0).visit(29, SMPROT=0.1)  # no urine at all -> PR
    r = evaluate(frame_of(a, b), IKEMA).responses
    assert list(r["RESP"]) == ["PR", "PR", "VGPR", "PR"]


def test_h24_isatuximab_interference_assessed_and_adjusted():
    h = (
        History()
        .visit(1, SMPROT=2.0, UMPROT=30, BMPC=30)
        .visit(29, SMPROT=0, UMPROT=0, SIFE=DRUG, UIFE=NEG, BMPC=2)
        .visit(57, SMPROT=0, UMPROT=0, SIFE=DRUG, UIFE=NEG)
    )
    resp, _, s = run(h, interference="assessed")
    assert resp == ["VGPR", "VGPR"] and s["BOR"] == "VGPR"
    resp, conf, s = run(h, interference="adjusted")
    assert resp == ["CR", "CR"] and conf == ["CR", "SD"] and s["BOR"] == "CR"
    # a true IgG band (POSITIVE) is never adjusted away
    real = History().visit(1, SMPROT=2.0, UMPROT=30).visit(29, SMPROT=0, UMPROT=0, SIFE=POS, UIFE=NEG, BMPC=2)
    assert run(real, interference="adjusted")[0] == ["VGPR"]


def test_h25_new_therapy_before_confirmation_breaks_it():
    h = History().visit(1, SMPROT=2.0).visit(29, SMPROT=0.9).visit(57, SMPROT=0.9)
    subjects = pd.DataFrame({"USUBJID": ["P1"], "NEWTHDY": [40]})
    resp, conf, s = run(h, subjects=subjects)
    assert conf[0] == "SD" and s["BOR"] == "SD" and na(s["FIRST_RESP_DY"])
    resp, conf, s = run(h)  # without new therapy the same PR is confirmed
    assert conf[0] == "PR" and s["BOR"] == "PR"


def test_h26_death_confirms_a_last_biochemical_progression():
    h = History().visit(1, SMPROT=2.0).visit(29, SMPROT=1.0).visit(57, SMPROT=1.6)
    _, conf, s = run(h)
    assert conf[-1] == "NE" and na(s["PD_DY"])
    _, conf, s = run(h, subjects=pd.DataFrame({"USUBJID": ["P1"], "DTHDY": [70]}))
    assert conf[-1] == "PD" and s["PD_DY"] == 57


def test_h27_better_then_worse_confirms_the_lower_level():
    h = (
        History()
        .visit(1, SMPROT=3.0, UMPROT=50)
        .visit(29, SMPROT=0.2)  # VGPR
        .visit(57, SMPROT=0.6)  # +0.4 from nadir 0.2 is not PD; 80 % -> PR
        .visit(85, SMPROT=0.6)
    )
    resp, conf, s = run(h)
    assert resp == ["VGPR", "PR", "PR"] and conf == ["PR", "PR", "SD"]
    assert s["BOR"] == "PR" and s["BEST_RESP_DY"] == 29


def test_h28_mrd_negativity_before_new_therapy_only():
    h = (
        History()
        .visit(1, SMPROT=2.0)
        .visit(29, SMPROT=0.9)
        .visit(57, SMPROT=0.9)
        .visit(200, MRD=NEG)
    )
    assert run(h)[2]["MRDNEG"] == "Y"
    s = run(h, subjects=pd.DataFrame({"USUBJID": ["P1"], "NEWTHDY": [100]}))[2]
    assert s["MRDNEG"] == "N"
    pos = History().visit(1, SMPROT=2.0).visit(29, SMPROT=0.9, MRD=POS)
    assert run(pos)[2]["MRDNEG"] == "N"


def test_h29_no_post_baseline_assessment_and_subject_without_rows():
    h = History("A").visit(-10, SMPROT=2.0).visit(1, SMPROT=2.1)
    ev = evaluate(h.frame(), IKEMA, subjects=pd.DataFrame({"USUBJID": ["A", "Z"]}))
    assert ev.responses.empty
    s = ev.summary.set_index("USUBJID")
    assert list(s.index) == ["A", "Z"] and list(s["BOR"]) == ["NE", "NE"]
    assert s["FIRST_RESP_DY"].isna().all() and s["PD_DY"].isna().all()
    assert s.loc["A", "MEASDIS"] == "SERUM" and s.loc["Z", "MEASDIS"] == "NONE"


def test_h30_baseline_is_last_value_on_or_before_day_1():
    h = History().visit(-20, SMPROT=4.0).visit(1, SMPROT=2.0).visit(29, SMPROT=1.4)
    assert run(h)[0] == ["MR"]  # 30 % from day 1 (from day -20 it would be 65 %: PR)
    h2 = History().visit(-20, SMPROT=2.0).visit(-2, SMPROT=4.0).visit(29, SMPROT=2.9)
    assert run(h2)[0] == ["MR"]  # 27.5 % from day -2 (from day -20 it would be an increase)


def test_h31_nadir_mode_confirmed_ignores_an_unconfirmed_low():
    h = History().visit(1, SMPROT=3.0).visit(29, SMPROT=1.0).visit(57, SMPROT=2.0).visit(85, SMPROT=2.6)
    assert run(h, IKEMA)[0] == ["PR", "PD", "PD"]  # nadir 1.0 (all values)
    confirmed = Criteria(thresholds=IKEMA.thresholds, nadir_mode="confirmed")
    # day 29's 1.0 is confirmed only at 2.0 (next value): nadir 2.0 -> day 57 +0, day 85 +0.6 -> PD
    assert run(h, confirmed)[0] == ["PR", "MR", "PD"]


def test_h32_compression_of_many_subjects_is_order_independent():
    a = History("B").visit(1, SMPROT=2.0).visit(29, SMPROT=0.9).visit(57, SMPROT=0.9)
    b = History("A").visit(1, SMPROT=2.0).visit(29, SMPROT=1.9).visit(57, SMPROT=1.8)
    df = frame_of(a, b)
    ev1 = evaluate(df, IKEMA)
    ev2 = evaluate(df.sample(frac=1.0, random_state=3), IKEMA)
    pd.testing.assert_frame_equal(ev1.responses, ev2.responses)
    pd.testing.assert_frame_equal(ev1.summary, ev2.summary)
    assert list(ev1.summary["BOR"]) == ["SD", "PR"]


@pytest.mark.parametrize(
    ("s0", "s", "expected"),
    [(3.0, 0.3, "VGPR"), (3.0, 0.31, "PR"), (2.0, 1.0, "PR"), (2.0, 1.01, "MR"), (2.0, 1.5, "MR"), (2.0, 1.51, "SD")],
)
def test_h33_reduction_boundaries_are_inclusive(s0, s, expected):
    h = History().visit(1, SMPROT=s0, UMPROT=50).visit(29, SMPROT=s)
    assert run(h)[0] == [expected]
