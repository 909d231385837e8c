"""QLQ-C30 / MY20 / EQ-5D-5L scoring against hand-computed scores; answer validation; ADQS change from baseline; CLI."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ikema.analysis.qol import (C30, EQ5D, MY20, analyze_qol, c30_summary, change_from_baseline, eq5d5l_index,
                                item_code, score_answers, validate_answers)
from ikema.cdisc.adam.adqs import derive_adqs
from ikema.errors import InputError
from ikema.report.qol import render_qol_html


def _answers(usubjid: str, visit: str, c30: dict[int, object], my20: dict[int, object] | None = None,
             eq: dict[str, object] | None = None) -> list[dict]:
    rows = [{"USUBJID": usubjid, "VISIT": visit, "QSCAT": C30, "QSTESTCD": item_code(C30, i), "QSORRES": str(v)}
            for i, v in c30.items()]
    rows += [{"USUBJID": usubjid, "VISIT": visit, "QSCAT": MY20, "QSTESTCD": item_code(MY20, i), "QSORRES": str(v)}
             for i, v in (my20 or {}).items()]
    rows += [{"USUBJID": usubjid, "VISIT": visit, "QSCAT": EQ5D, "QSTESTCD": k, "QSORRES": str(v)}
             for k, v in (eq or {}).items()]
    return rows


def _c30_example() -> dict[int, object]:
    items = {i: 1 for i in range(1, 29)}
    items.update({1: 1, 2: 2, 3: 2, 4: 1, 5: 1, 29: 5, 30: 6, 10: 2, 12: 3, 15: 2, 20: 4, 25: 1, 21: 2})
    for i in (18, 14, 22, 23, 24):
        del items[i]
    return items


def test_c30_hand_computed():
    valid, rejected = validate_answers(pd.DataFrame(_answers("S1", "CYCLE 1 DAY 1", _c30_example())))
    assert rejected == []
    s = score_answers(valid).set_index("PARAMCD")["AVAL"]
    assert s["PF2"] == pytest.approx((1 - (1.4 - 1) / 3) * 100)
    assert s["QL2"] == pytest.approx((5.5 - 1) / 6 * 100)
    assert s["FA"] == pytest.approx((2.5 - 1) / 3 * 100)  # 2 of 3 items answered
    assert s["NV"] == pytest.approx((2 - 1) / 3 * 100)  # 1 of 2 items: exactly half is enough
    assert math.isnan(s["EF"])  # 1 of 4 items answered
    assert s["CF"] == pytest.approx(50.0)
    assert s["DY"] == 0 and s["RF2"] == 100
    assert math.isnan(s["C30SUM"])  # EF missing
    assert len(s) == 16  # 15 scales + summary score
    from ikema.analysis.qol import C30_SCALES, score_scale

    items = {i: float(v) for i, v in _c30_example().items()}
    for scale in C30_SCALES:  # the one-subject scorer agrees with the vectorised one
        one = score_scale(items, scale)
        assert (math.isnan(one) and math.isnan(s[scale.code])) or one == pytest.approx(s[scale.code], rel=1e-12)


def test_c30_summary_score():
    scores = {"PF2": 80, "RF2": 70, "EF": 60, "CF": 90, "SF": 50, "FA": 30, "NV": 10, "PA": 20, "DY": 0, "SL": 40,
              "AP": 10, "CO": 0, "DI": 20}
    expected = (80 + 70 + 60 + 90 + 50 + 70 + 90 + 80 + 100 + 60 + 90 + 100 + 80) / 13
    assert c30_summary(scores) == pytest.approx(expected)


def test_my20_hand_computed():
    my = {i: 2 for i in range(31, 51)}
    my.update({31: 4, 32: 4, 47: 3, 48: 1, 49: 2})
    del my[50]
    valid, _ = validate_answers(pd.DataFrame(_answers("S1", "C2D1", {}, my20=my)))
    s = score_answers(valid).set_index("PARAMCD")["AVAL"]
    assert s["MYDS"] == pytest.approx(((4 + 4 + 2 * 4) / 6 - 1) / 3 * 100)
    assert s["MYSE"] == pytest.approx((2 - 1) / 3 * 100)
    assert s["MYBI"] == pytest.approx((1 - (3 - 1) / 3) * 100)
    assert s["MYFP"] == pytest.approx((1 - (1.5 - 1) / 3) * 100)


@pytest.mark.parametrize("state,value_set,expected", [
    ("11111", "England", 1.0), ("11112", "England", 0.922), ("11121", "England", 0.937), ("11211", "England", 0.950),
    ("12111", "England", 0.950), ("21111", "England", 0.942), ("23245", "England", 0.247),
    ("55555", "England", -0.285), ("21111", "US", 0.904), ("12111", "US", 0.911), ("11211", "US", 0.932),
    ("11121", "US", 0.940), ("11112", "US", 0.943), ("21354", "US", 0.090), ("55555", "US", -0.573)])
def test_eq5d5l_index_test_vectors(state, value_set, expected):
    # fragla/eq5d tests/testthat/test-eq5d5l.R
    assert round(eq5d5l_index([int(c) for c in state], value_set), 3) == pytest.approx(expected, abs=1e-9)


def test_eq5d_scoring_and_unknown_value_set():
    eq = {"EQ5D0201": 2, "EQ5D0202": 3, "EQ5D0203": 2, "EQ5D0204": 4, "EQ5D0205": 5, "EQ5D0206": 62.5}
    valid, _ = validate_answers(pd.DataFrame(_answers("S1", "C1D1", {}, eq=eq)))
    s = score_answers(valid).set_index("PARAMCD")["AVAL"]
    assert s["EQ5DIDX"] == pytest.approx(0.247) and s["EQ5DVAS"] == 62.5 and s["EQ5DPD"] == 4
    with pytest.raises(InputError, match="VALUE_SET"):
        eq5d5l_index([1, 1, 1, 1, 1], "Atlantis")


def test_invalid_answers_reported_by_line_and_never_scored():
    rows = _answers("S1", "C1D1", {1: 1, 2: 5, 3: "abc", 4: 2.5, 29: 7, 30: 8}, eq={"EQ5D0206": "101"})
    rows += [{"USUBJID": "S1", "VISIT": "C1D1", "QSCAT": C30, "QSTESTCD": "EOR0199", "QSORRES": "1"},
             {"USUBJID": "", "VISIT": "C1D1", "QSCAT": C30, "QSTESTCD": "EOR0105", "QSORRES": "1"},
             {"USUBJID": "S1", "VISIT": "C1D1", "QSCAT": "SF-36", "QSTESTCD": "X", "QSORRES": "1"},
             {"USUBJID": "S1", "VISIT": "C1D1", "QSCAT": C30, "QSTESTCD": "EOR0101", "QSORRES": "3"}]
    valid, rejected = validate_answers(pd.DataFrame(rows), "answers.csv")
    got = [(r.line, r.field, r.value) for r in rejected]
    assert got == [(2, "QSTESTCD", "EOR0101"), (3, "QSORRES", "5"), (4, "QSORRES", "abc"), (5, "QSORRES", "2.5"),
                   (7, "QSORRES", "8"), (8, "QSORRES", "101"), (9, "QSTESTCD", "EOR0199"), (10, "USUBJID", ""),
                   (11, "QSCAT", "SF-36"), (12, "QSTESTCD", "EOR0101")]
    assert "expected an integer from 1 to 4 for EOR0102" in rejected[1].message()
    assert rejected[1].message().startswith("answers.csv: line 3, field QSORRES")
    s = score_answers(valid).set_index("PARAMCD")
    assert math.isnan(s.loc["PF2", "AVAL"]) and s.loc["PF2", "NITEMS"] == 0  # items 1 (conflict), 2, 3, 4 rejected
    assert math.isnan(s.loc["QL2", "AVAL"]) is False and s.loc["QL2", "AVAL"] == pytest.approx(100.0)  # item 29 only
    with pytest.raises(InputError, match="QSORRES"):
        validate_answers(pd.DataFrame(rows).drop(columns=["QSORRES"]))


def _qs() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    base = {i: 2 for i in range(1, 31)}
    # QL2 from items 29/30: baseline 4/4 -> 50; cycle 2: S1 6/6 -> 83.33, S2 5/5 -> 66.67, S3 3/3 -> 33.33
    for u, c2 in (("S1", 6), ("S2", 5), ("S3", 3)):
        rows += _answers(u, "CYCLE 1 DAY 1", {**base, 29: 4, 30: 4})
        rows += _answers(u, "CYCLE 2 DAY 1", {**base, 29: c2, 30: c2})
    adsl = pd.DataFrame({"USUBJID": ["S1", "S2", "S3"], "TRT01A": ["IKd", "IKd", "IKd"]})
    return pd.DataFrame(rows), adsl


def test_adqs_change_from_baseline_ci_and_report():
    qs, adsl = _qs()
    adqs = derive_adqs(qs, adsl)
    ql = adqs[adqs["PARAMCD"] == "QL2"].set_index(["USUBJID", "AVISITN"])
    assert ql.loc[("S1", 1), "ABLFL"] == "Y" and ql.loc[("S1", 2), "CHG"] == pytest.approx(100 / 3)
    rows = change_from_baseline(adqs, ["QL2"])
    assert len(rows) == 1
    chg = np.array([100 / 3, 50 / 3, -50 / 3])
    from scipy.stats import t

    half = t.ppf(0.975, 2) * chg.std(ddof=1) / math.sqrt(3)
    assert rows[0]["mean"] == pytest.approx(chg.mean()) and rows[0]["lcl"] == pytest.approx(chg.mean() - half)
    res = analyze_qol({"adqs": adqs})
    assert res["baseline_n"] == {"IKd": 3} and res["value_set"] is None
    page = render_qol_html(res)
    assert page.startswith('<section id="qol">') and "data:image/png;base64," in page


def test_cli_scores_valid_rows_and_exits_1(tmp_path):
    from ikema.cli import app

    qs, _ = _qs()
    qs.loc[3, "QSORRES"] = "9"
    src = tmp_path / "answers.csv"
    qs.to_csv(src, index=False)
    out = tmp_path / "scores.csv"
    errs = tmp_path / "errors.csv"
    res = CliRunner().invoke(app, ["qol", "score", "--in", str(src), "--out", str(out), "--errors", str(errs)])
    assert res.exit_code == 1
    scores = pd.read_csv(out)
    assert len(scores) == 6 * 16
    e = pd.read_csv(errs, dtype={"value": str})
    assert e[["line", "field", "value"]].values.tolist() == [[5, "QSORRES", "9"]]
    qs.loc[3, "QSORRES"] = "2"
    qs.to_csv(src, index=False)
    res = CliRunner().invoke(app, ["qol", "score", "--in", str(src), "--out", str(out)])
    assert res.exit_code == 0
