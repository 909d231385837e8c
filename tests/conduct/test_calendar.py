"""Dosing calendar: the record's days per cycle and arm, doses by weight / capped BSA / flat, routes, the command."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from ikema.cli import app
from ikema.conduct.calendar import bsa_m2, dosing_calendar
from ikema.errors import InputError
from ikema.protocol import load_protocol

P = load_protocol()


def _days(rows, cycle, drug):
    return [r["day"] for r in rows if r["cycle"] == cycle and r["drug"] == drug]


def test_ikd_days_cycles_1_and_2_as_in_the_record():
    rows = dosing_calendar(P, "IKd", 70, 170, 2)
    assert _days(rows, 1, "isatuximab") == [1, 8, 15, 22]
    assert _days(rows, 2, "isatuximab") == [1, 15]
    for c in (1, 2):
        assert _days(rows, c, "carfilzomib") == [1, 2, 8, 9, 15, 16]
        assert _days(rows, c, "dexamethasone") == [1, 2, 8, 9, 15, 16, 22, 23]
    assert len(rows) == 4 + 2 + 2 * 6 + 2 * 8
    assert rows == sorted(rows, key=lambda r: (r["cycle"], r["day"], r["drug"]))
    assert {r["study_day"] for r in rows if r["cycle"] == 2 and r["day"] == 15} == {43}


def test_kd_days_cycles_1_and_2_as_in_the_record():
    rows = dosing_calendar(P, "Kd", 70, 170, 2)
    assert {r["drug"] for r in rows} == {"carfilzomib", "dexamethasone"}
    for c in (1, 2):
        assert _days(rows, c, "carfilzomib") == [1, 2, 8, 9, 15, 16]
        assert _days(rows, c, "dexamethasone") == [1, 2, 8, 9, 15, 16, 22, 23]


def test_doses_70kg_170cm():
    assert bsa_m2(70, 170) == pytest.approx(math.sqrt(170 * 70 / 3600)) and round(bsa_m2(70, 170), 4) == 1.8181
    rows = dosing_calendar(P, "IKd", 70, 170, 2)
    dose = {(r["cycle"], r["day"], r["drug"]): r["dose_mg"] for r in rows}
    assert dose[(1, 1, "carfilzomib")] == 36.4 and dose[(1, 2, "carfilzomib")] == 36.4
    assert dose[(1, 8, "carfilzomib")] == 101.8 and dose[(2, 1, "carfilzomib")] == 101.8
    assert dose[(1, 1, "isatuximab")] == 700.0 and dose[(2, 15, "isatuximab")] == 700.0
    assert {v for (c, d, drug), v in dose.items() if drug == "dexamethasone"} == {20.0}


def test_doses_120kg_190cm_bsa_capped():
    assert bsa_m2(120, 190) > 2.5
    rows = dosing_calendar(P, "Kd", 120, 190, 2)
    dose = {(r["cycle"], r["day"], r["drug"]): r["dose_mg"] for r in rows}
    assert dose[(1, 1, "carfilzomib")] == 44.0  # 20 mg/m2 x 2.2 m2
    assert dose[(1, 9, "carfilzomib")] == 123.2  # 56 mg/m2 x 2.2 m2
    ikd = dosing_calendar(P, "IKd", 120, 190, 1)
    assert {r["dose_mg"] for r in ikd if r["drug"] == "isatuximab"} == {1200.0}  # weight is not capped


def test_dexamethasone_iv_on_infusion_days_oral_otherwise():
    rows = dosing_calendar(P, "IKd", 70, 170, 2)
    route = {(r["cycle"], r["day"]): r["route"] for r in rows if r["drug"] == "dexamethasone"}
    assert route[(1, 22)] == "intravenous"  # isatuximab infused on C1D22
    assert route[(1, 23)] == "oral" and route[(2, 22)] == "oral"
    assert route[(1, 1)] == "intravenous"
    assert {r["route"] for r in rows if r["drug"] != "dexamethasone"} == {"intravenous"}


def test_dose_rounded_to_a_tenth_of_a_mg():
    rows = dosing_calendar(P, "IKd", 71.234, 170, 1)
    assert {r["dose_mg"] for r in rows if r["drug"] == "isatuximab"} == {712.3}  # 712.34 mg
    bsa = bsa_m2(71.234, 170)
    c1d8 = [r["dose_mg"] for r in rows if r["drug"] == "carfilzomib" and r["day"] == 8]
    assert c1d8 == [round(56 * bsa, 1)] and abs(56 * bsa - c1d8[0]) <= 0.05


@pytest.mark.parametrize("args,msg", [
    (("XX", 70, 170, 1), r"field arm: got 'XX', expected one of IKd, Kd"),
    (("IKd", -1, 170, 1), r"field weight_kg: got -1, expected a positive number"),
    (("IKd", 70, "tall", 1), r"field height_cm: got 'tall'"),
    (("IKd", 70, 170, 0), r"field cycles: got 0"),
])
def test_bad_inputs(args, msg):
    with pytest.raises(InputError, match=msg):
        dosing_calendar(P, *args)


def test_calendar_command_json():
    res = CliRunner().invoke(app, ["calendar", "--arm", "IKd", "--weight-kg", "70", "--height-cm", "170", "--cycles", "2", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert rows[0] == {"cycle": 1, "day": 1, "drug": "carfilzomib", "route": "intravenous", "dose_mg": 36.4}
    assert len(rows) == 34
