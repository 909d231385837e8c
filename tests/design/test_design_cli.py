"""`ikema design boundaries|events|simulate`: JSON output parses and carries the rpact numbers; tables print; bad
input exits through IkemaError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ikema.cli import app
from ikema.errors import IkemaError

REF = json.loads((Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "design" / "expected.json").read_text())
runner = CliRunner()


def _json(args: list[str]) -> dict:
    res = runner.invoke(app, ["design", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_boundaries_json_matches_rpact():
    out = _json(["boundaries", "--spending", "obf", "--information-rates", "0.65,1", "--alpha", "0.025", "--json"])
    d = REF["designs"]["ikema_obf_65"]
    assert out["efficacy_z"] == pytest.approx(d["efficacy_z"], abs=1e-6)
    assert out["stagewise_p"] == pytest.approx(d["stagewise_one_sided_p"], abs=1e-6)
    assert set(out) >= {"efficacy_z", "cumulative_alpha_spent", "stagewise_p"}
    hsd = _json(["boundaries", "--spending", "hsd", "--gamma", "-4", "--information-rates", "0.5,0.75,1", "--json"])
    assert hsd["efficacy_z"] == pytest.approx(REF["designs"]["hsd_gamma_m4"]["efficacy_z"], abs=1e-6)


def test_boundaries_defaults_come_from_the_protocol_and_table_prints():
    assert _json(["boundaries", "--json"])["efficacy_z"] == pytest.approx(REF["designs"]["ikema_obf_65"]["efficacy_z"], abs=1e-6)
    res = runner.invoke(app, ["design", "boundaries", "--spending", "pocock", "--information-rates", "0.3333333333,0.6666666667,1"])
    assert res.exit_code == 0 and "2.2794" in res.stdout and "pocock" in res.stdout


def test_events_json_matches_rpact():
    out = _json(["events", "--hr", "0.59", "--power", "0.9", "--allocation", "1.5", "--information-rates", "0.65,1",
                 "--spending", "obf", "--alpha", "0.025", "--json"])
    assert out["max_events"] == pytest.approx(REF["events_required"][0]["max_events"], rel=1e-6)
    assert out["patients"] == 302 and out["study_duration_months"] == pytest.approx(40.9224723283, abs=1e-6)
    follow = _json(["events", "--follow-up-months", "12", "--json"])
    assert follow["patients"] == pytest.approx(377.05833858, rel=1e-7)


def test_simulate_json_and_table():
    out = _json(["simulate", "--trials", "1500", "--seed", "5", "--hr", "1", "--workers", "1", "--json"])
    assert out["trials"] == 1500 and out["seed"] == 5 and out["look_events"] == [103, 159]
    assert 0 <= out["rejection_probability"] < 0.06 and len(out["rejection_by_look_se"]) == 2
    assert out["scenario"]["hazard_ratio"] == 1 and out["scenario"]["n_patients"] == 302
    again = _json(["simulate", "--trials", "1500", "--seed", "5", "--hr", "1", "--workers", "2", "--json"])
    assert again["rejection_by_look"] == out["rejection_by_look"] and again["expected_events"] == out["expected_events"]
    res = runner.invoke(app, ["design", "simulate", "--trials", "1000", "--seed", "5", "--unstratified",
                              "--piecewise", "0:0.05,12:0.03", "--delay-months", "3", "--workers", "1"])
    assert res.exit_code == 0 and "unstratified log-rank" in res.stdout and "expected sample size" in res.stdout


@pytest.mark.parametrize("args,fragment", [
    (["boundaries", "--information-rates", "0.7,0.5"], "information_rates: got [0.7, 0.5]"),
    (["boundaries", "--information-rates", "a,1"], "information_rates: got 'a,1'"),
    (["boundaries", "--alpha", "0.7"], "alpha: got 0.7"),
    (["boundaries", "--spending", "foo"], "spending: got 'foo'"),
    (["events", "--hr", "0"], "hazard_ratio: got 0.0"),
    (["simulate", "--trials", "10", "--piecewise", "0:-1"], "piecewise: got hazards [-1.0]"),
])
def test_bad_input_raises_ikema_error(args, fragment):
    res = runner.invoke(app, ["design", *args])
    assert isinstance(res.exception, IkemaError) and fragment in str(res.exception)
