"""Plausibility checks (issue 16): strict numbers, protocol ranges (hard refused, soft queried), the protocol file's
edit-check tables validated, the calendar's dose for one administration, and capture applying them."""

from __future__ import annotations

import datetime as dt
import tomllib

import numpy as np
import pytest

from ikema.conduct import capture as C
from ikema.conduct.calendar import dosing_calendar, planned_dose_mg
from ikema.conduct.edit_checks import MAX_INT, check_screening, number
from ikema.conduct.randomization import randomize, store_allocation_list
from ikema.errors import InputError, ProtocolError
from ikema.protocol import load_protocol
from ikema.protocol.loader import DEFAULT_PATH, parse_protocol
from ikema.store import init_db, session_factory, session_scope

from helpers_irt import CONSENT

P = load_protocol()


@pytest.mark.parametrize("raw", ["\uff11\uff12", "\u0661\u0662", "nan", "NaN", "inf", "-Infinity", "1e400", "", "12 kg", "0x10"])
def test_number_refuses_what_is_not_ascii_finite(raw):
    with pytest.raises(InputError, match="field f: got"):
        number("t", "r", "f", raw)


def test_number_reads_ascii_and_bounds_whole_numbers():
    assert number("t", "r", "f", " 12.5 ") == 12.5 and number("t", "r", "f", "-3", integer=True) == -3
    assert number("t", "r", "f", "1e2", integer=True) == 100
    with pytest.raises(InputError, match="a whole number between"):
        number("t", "r", "f", str(MAX_INT + 1), integer=True)
    with pytest.raises(InputError, match="a whole number"):
        number("t", "r", "f", "2.5", integer=True)
    for bad in (True, float("nan"), float("inf")):
        with pytest.raises(InputError):
            number("t", "r", "f", bad)


def test_screening_ranges_hard_and_soft():
    out, findings = check_screening({"age": "97", "weight_kg": 70.0, "riss": "II"}, P, "S-1")
    assert out["age"] == 97 and [(f.field, f.value) for f in findings] == [("age", 97)]
    assert "[18, 95] years" in findings[0].text
    with pytest.raises(InputError, match=r"record S-1, field weight_kg: got -70.0, expected a value in \[20, 350\] kg"):
        check_screening({"weight_kg": "-70"}, P, "S-1")
    with pytest.raises(InputError, match="field sex: got 'X', expected one of M | F"):
        check_screening({"sex": "X"}, P, "S-1")
    with pytest.raises(InputError, match="field hemoglobin_g_dl"):
        check_screening({"hemoglobin_g_dl": float("nan")}, P, "S-1")  # NaN is refused, never taken as missing


def _data() -> dict:
    return tomllib.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


def test_protocol_file_must_give_every_numeric_field_and_drug_a_range():
    d = _data()
    del d["edit_checks"]["screening"]["height_cm"]
    with pytest.raises(ProtocolError, match="edit_checks.screening: no range for the numeric screening field 'height_cm'"):
        parse_protocol(d)
    d = _data()
    del d["edit_checks"]["doses"]["carfilzomib"]
    with pytest.raises(ProtocolError, match="edit_checks.doses: no range for the drug 'carfilzomib'"):
        parse_protocol(d)
    d = _data()
    d["edit_checks"]["screening"]["age"]["soft"] = [18, 130]
    with pytest.raises(ProtocolError, match=r"soft range \[18, 130\] is not inside the hard range"):
        parse_protocol(d)
    d = _data()
    d["edit_checks"]["screening"]["age"]["unit"] = "months"
    with pytest.raises(ProtocolError, match="unit 'months' is not the field's unit 'years'"):
        parse_protocol(d)


def test_planned_dose_is_the_calendars():
    cal = dosing_calendar(P, "IKd", 71.0, 168.0, 3)
    for r in cal:
        assert planned_dose_mg(P, "IKd", 71.0, 168.0, r["drug"], r["cycle"], r["day"]) == r["dose_mg"]
    assert planned_dose_mg(P, "IKd", 71.0, 168.0, "isatuximab", 2, 8) is None  # every 2 weeks after cycle 1
    assert planned_dose_mg(P, "Kd", 71.0, 168.0, "isatuximab", 1, 1) is None


@pytest.fixture
def engine(tmp_path):
    """P-1 randomized (71 kg, 168 cm) on 2018-03-01 after consent on 2018-02-01."""
    eng = init_db(f"sqlite:///{tmp_path / 'e.db'}")
    rows = [dict(stratum="S", position=i + 1, block_id=1, block_size=5, arm=arm, randno=100001 + i)
            for i, arm in enumerate(["Kd"] * 5)]
    with session_factory(eng)() as s:
        store_allocation_list(s, rows, "irt")
    with session_scope(eng, "site1") as s:
        C.record_screening(s, "P-1", {"weight_kg": 71.0, "height_cm": 168.0}, {"eligible": True, "stratum": "S",
                           "verdicts": [("I01", "pass", "ok")]}, "site1", when=CONSENT)
    with session_factory(eng)() as s:
        randomize(s, "P-1", "site1", when=dt.datetime(2018, 3, 1, 9, tzinfo=dt.timezone.utc))
    return eng


def test_capture_applies_the_protocols_checks(engine):
    planned = planned_dose_mg(P, "Kd", 71.0, 168.0, "carfilzomib", 1, 8)
    with session_scope(engine, "site1") as s:
        for call, match in [
            (lambda: C.record_lab(s, "P-1", "2018-03-02", "HGB", 11.0, "g/dL", "site1"), "field unit: got 'g/dL', expected g/L"),
            (lambda: C.record_lab(s, "P-1", "2018-03-02", "HGB", 2.0, "g/L", "site1"), r"\[10, 250\] g/L"),
            (lambda: C.record_lab(s, "P-1", "2018-01-02", "HGB", 110.0, "g/L", "site1"), "on or after informed consent"),
            (lambda: C.record_assessment(s, "P-1", "2018-03-29", "SMPROT", "u", aval=55.0, unit="g/dL"), r"\[0, 40\] g/dL"),
            (lambda: C.record_administration(s, "P-1", 1, 29, "2018-03-02", "carfilzomib", "IV", 40, "u"), r"field day: got 29, expected a number in \[1, 28\]"),
            (lambda: C.record_administration(s, "P-1", 1, 8, "2018-03-08", "carfilzomib", "IV", 0, "u"), r"\[1, 125\] mg"),
            (lambda: C.record_administration(s, "P-1", 1, 1, "2018-03-02", "isatuximab", "IV", 700, "u"), "a study drug of the patient's arm Kd"),
            (lambda: C.record_adverse_event(s, "P-1", "Nausea", "GI", 1, False, False, "1900-01-01", "RECOVERED/RESOLVED",
                                            "DOSE NOT CHANGED", "u"), "on or after informed consent"),
        ]:
            with pytest.raises(InputError, match=match):
                call()
        assert C.take_findings(s) == []
        C.record_lab(s, "P-1", "2018-03-02", "HGB", 230.0, "g/L", "site1")  # soft: stored, found
        C.record_administration(s, "P-1", 1, 8, "2018-03-08", "carfilzomib", "IV", round(planned * 0.8, 1), "u")
        C.record_administration(s, "P-1", 1, 9, "2018-03-09", "carfilzomib", "IV", round(planned * 0.8, 1), "u",
                                adjustment_reason="DOSE REDUCED")  # a documented reduction: no finding
        C.record_administration(s, "P-1", 1, 3, "2018-03-03", "carfilzomib", "IV", planned, "u")  # not a dosing day
        found = C.take_findings(s)
        assert [(f.table, f.field) for f in found] == [("lab_results", "value"), ("drug_administrations", "dose_mg"),
                                                       ("drug_administrations", "day")]
        assert all(f.usubjid == "P-1" and f.record_id for f in found)
        assert C.take_findings(s) == []


def test_simulated_candidates_are_plausible():
    """The virtual trial's screening records pass every hard range (the simulator makes patients, not typos)."""
    from ikema.simulate.cohort import draw_candidates
    from ikema.simulate.facts import screening_fields

    cands = draw_candidates(np.random.default_rng(11), 3000)
    numeric = [n for n, f in P.screening_fields.items() if f.type in ("int", "float")]
    queried = []
    for _, c in cands.iterrows():
        fields = screening_fields(c)
        values, findings = check_screening(fields, P)  # a hard-range refusal raises InputError
        for name in numeric:
            if fields.get(name) is not None:
                assert values[name] == float(fields[name]), name  # read as the number drawn, not changed
        queried += findings
    # soft-range queries only for the serum M-protein tail above its soft bound, in under 1% of the candidates
    soft_hi = P.edit_checks.screening["serum_mprotein_g_dl"].soft[1]
    assert 0 < len(queried) < 30
    assert all(f.field == "serum_mprotein_g_dl" and f.value > soft_hi for f in queried)
