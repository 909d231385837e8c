"""A second trial's protocol file (1:1, one factor, 21-day cycles, flat and mg/kg doses) runs screening, the IRT and
the calendar with no code change."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ikema.conduct.calendar import dosing_calendar
from ikema.conduct.capture import record_screening
from ikema.conduct.randomization import generate_allocation_list, randomize, scheme_from_protocol, store_allocation_list
from ikema.conduct.screening import screen
from ikema.protocol import load_protocol
from ikema.store import init_db, session_factory

OTHER = Path(__file__).resolve().parents[1] / "fixtures" / "other_trial.toml"


def test_loads_with_its_own_facts():
    p = load_protocol(OTHER)
    assert p.cycle_length_days == 21 and p.randomization.ratio == {"XY": 1, "Y": 1}
    assert [a.code for a in p.arms] == ["XY", "Y"] and p.strata == [{"ECOG": "0"}, {"ECOG": "1-2"}]


def test_screening_by_its_criteria():
    p = load_protocol(OTHER)
    r = screen({"age": 20, "ecog": 0}, p)
    assert not r.eligible and r.verdicts[0].criterion == "INC1" and "age = 20 (fails >= 21)" in r.verdicts[0].reason
    r = screen({"age": 21, "ecog": 2}, p)
    assert r.eligible and r.stratum == {"ECOG": "1-2"}
    assert screen({"age": 40}, p).verdicts[0].verdict == "missing"


def test_calendar_21_day_cycles_flat_and_per_kg():
    p = load_protocol(OTHER)
    rows = dosing_calendar(p, "XY", 70.05, 170, 2)
    assert [(r["cycle"], r["day"]) for r in rows if r["drug"] == "drugx"] == [(1, 1), (1, 8), (2, 1), (2, 8)]
    assert [r["study_day"] for r in rows if r["drug"] == "drugx"] == [1, 8, 22, 29]
    assert {r["dose_mg"] for r in rows if r["drug"] == "drugx"} == {1051.0}  # 15 x 70.05 = 1050.75, to 1 mg
    assert {(r["dose_mg"], r["route"]) for r in rows if r["drug"] == "drugy"} == {(40.0, "oral")}
    assert {r["drug"] for r in dosing_calendar(p, "Y", 70, 170, 1)} == {"drugy"}


def test_irt_randomizes_one_to_one(tmp_path):
    p = load_protocol(OTHER)
    scheme = scheme_from_protocol(p)
    assert scheme.ratio == {"XY": 1, "Y": 1} and scheme.strata == ["ECOG=0", "ECOG=1-2"]
    engine = init_db(f"sqlite:///{tmp_path / 'other.db'}")
    arms: dict[str, Counter[str]] = {"ECOG=0": Counter(), "ECOG=1-2": Counter()}
    with session_factory(engine)() as s:
        store_allocation_list(s, generate_allocation_list(scheme, np.random.default_rng(7), 8), "tester")
        for k in range(8):
            cand = {"age": 30 + k, "ecog": k % 2}
            res = screen(cand, p)
            record_screening(s, f"O-{k}", cand, res, "tester")
            s.commit()
            a = randomize(s, f"O-{k}", "tester")
            assert a.stratum == f"ECOG={res.stratum['ECOG']}"
            arms[a.stratum][a.arm] += 1
    for c in arms.values():  # 4 per stratum in blocks of 2 or 4: never more than 2 apart
        assert set(c) <= {"XY", "Y"} and sum(c.values()) == 4 and abs(c["XY"] - c["Y"]) <= 2
