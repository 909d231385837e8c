"""The packaged IKEMA protocol: every registry fact present, and malformed files refused with the key path."""

from __future__ import annotations

import datetime as dt
import tomllib

import pytest

from ikema.errors import ProtocolError
from ikema.protocol import DEFAULT_PATH, load_protocol, parse_protocol


@pytest.fixture(scope="module")
def p():
    return load_protocol()


def _raw() -> dict:
    return tomllib.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


def test_identifiers_and_design_facts(p):
    s = p.study
    assert (s.nct_id, s.eudract_number, s.sponsor_id, s.utn) == ("NCT03275285", "2017-001940-37", "EFC15246", "U1111-1195-5957")
    assert (s.phase, s.allocation, s.intervention_model, s.primary_purpose) == ("Phase 3", "Randomized", "Parallel Assignment", "Treatment")
    assert s.masking == "Single (Outcomes Assessor)"
    assert s.enrollment == 302
    assert p.cycle_length_days == 28
    d = p.dates
    assert (d.study_start, d.primary_completion, d.study_completion_estimated) == (
        dt.date(2017, 10, 25), dt.date(2022, 1, 21), dt.date(2023, 2, 7))
    assert (d.interim_cutoff, d.final_pfs_cutoff, d.final_os_cutoff) == (dt.date(2020, 2, 7), dt.date(2022, 1, 14), dt.date(2023, 2, 7))
    assert (d.first_patient_randomized, d.last_patient_randomized) == (dt.date(2017, 11, 15), dt.date(2019, 3, 21))


def test_objectives_and_outcome_measures(p):
    assert p.objectives.primary.startswith("To demonstrate the benefit of isatuximab")
    assert len(p.objectives.secondary) == 12
    om = {o.id: o for o in p.outcome_measures}
    assert len(p.outcome_measures) == 16 and len(om) == 16
    assert [o.id for o in p.outcome_measures if o.kind == "primary"] == ["PFS"]
    assert om["PK_CFZ"].time_frame == "Up to 1 month"
    assert om["ADA"].time_frame == "Up to 13 months"
    assert om["QOL"].time_frame == "Screening to 90 days after last study treatment administration"


def test_arms_drugs_and_doses(p):
    assert [(a.code, a.role) for a in p.arms] == [("IKd", "experimental"), ("Kd", "control")]
    ikd = {d.name: d for d in p.arm("IKd").drugs}
    assert set(ikd) == {"isatuximab", "carfilzomib", "dexamethasone"}
    assert [(x.first_cycle, x.last_cycle, x.days, x.dose, x.basis) for x in ikd["isatuximab"].dosing] == [
        (1, 1, [1, 8, 15, 22], 10, "mg/kg"), (2, None, [1, 15], 10, "mg/kg")]
    assert [(x.days, x.dose, x.basis) for x in ikd["carfilzomib"].dosing] == [
        ([1, 2], 20, "mg/m2"), ([8, 9, 15, 16], 56, "mg/m2"), ([1, 2, 8, 9, 15, 16], 56, "mg/m2")]
    assert ikd["carfilzomib"].bsa_cap_m2 == 2.2 and "Kyprolis" in ikd["carfilzomib"].bsa_cap_source
    assert ikd["dexamethasone"].routes == ["oral", "intravenous"]
    assert all(x.source for d in ikd.values() for x in d.dosing)
    assert {d.name for d in p.arm("Kd").drugs} == {"carfilzomib", "dexamethasone"}
    assert p.treatment.bsa_method == "mosteller"
    assert p.arm_by_role("control").code == "Kd"


def test_randomization_and_strata(p):
    r = p.randomization
    assert r.ratio == {"IKd": 3, "Kd": 2} and r.block_sizes == [5, 10]
    assert [(f.id, [lv.code for lv in f.levels]) for f in r.stratification] == [
        ("PRIOR_LINES", ["1", ">1"]), ("RISS", ["I or II", "III", "NOT CLASSIFIED"])]
    assert len(p.strata) == 6


def test_eligibility_and_lab_thresholds_are_sourced_or_assumed(p):
    assert [(c.id, c.kind) for c in p.eligibility] == [("I01", "inclusion")] + [(f"E0{i}", "exclusion") for i in range(1, 9)]
    assert p.criterion("E04").text == "Patients with inadequate biological tests."
    labs = p.criterion("E04").pass_if.conditions()
    assert {c.field for c in labs} == {"neutrophils_10e9_l", "platelets_10e9_l", "hemoglobin_g_dl",
                                       "creatinine_clearance_ml_min", "bilirubin_uln", "ast_uln", "alt_uln"}
    assert all(c.source or c.assumption for c in labs)


def test_schedules_and_design(p):
    sch = {s.id: s for s in p.schedules}
    da = sch["disease_assessment"]
    assert (da.first_cycle, da.every_n_cycles, da.day, da.until) == (1, 1, 1, "progression")
    assert {"pk_isatuximab", "ada", "qol"} <= set(sch)
    d = p.design
    assert (d.planned_pfs_events, d.information_rates, d.alpha_one_sided, d.spending, d.power, d.hazard_ratio) == (
        159, [0.65, 1.0], 0.025, "obf", 0.90, 0.59)
    assert (d.control_median_pfs_months, d.accrual_months) == (19, 20)
    assert len(d.stratum_prevalence) == 6
    assert sum(s.prevalence for s in d.stratum_prevalence) == pytest.approx(1.0)


# --- malformed protocol files ---------------------------------------------------------------------------------

def test_missing_key_is_named():
    raw = _raw()
    del raw["randomization"]["ratio"]
    with pytest.raises(ProtocolError, match=r"randomization\.ratio: missing key"):
        parse_protocol(raw)


def test_wrong_type_is_named():
    raw = _raw()
    raw["arms"][0]["drugs"][1]["dosing"][0]["dose"] = "twenty"
    with pytest.raises(ProtocolError, match=r"arms\[0\]\.drugs\[1\]\.dosing\[0\]\.dose: .*number.*'twenty'"):
        parse_protocol(raw)


def test_ratio_arm_not_among_arms():
    raw = _raw()
    raw["randomization"]["ratio"] = {"IKd": 3, "Pd": 2}
    with pytest.raises(ProtocolError, match=r"arm 'Pd' is not among the arms \['IKd', 'Kd'\]"):
        parse_protocol(raw)


def test_stratum_rule_with_unknown_field():
    raw = _raw()
    raw["randomization"]["stratification"][1]["levels"][1]["rule"]["field"] = "iss_stage"
    with pytest.raises(ProtocolError, match=r"randomization\.stratification\[1\]\.levels\[1\]\.rule: unknown screening field 'iss_stage'"):
        parse_protocol(raw)


def test_eligibility_rule_with_unknown_field_and_bad_operator():
    raw = _raw()
    raw["eligibility"][3]["pass_if"]["all"][0]["field"] = "age_years"
    with pytest.raises(ProtocolError, match=r"eligibility\[3\] \(E03\)\.pass_if: unknown screening field 'age_years'"):
        parse_protocol(raw)
    raw = _raw()
    raw["eligibility"][3]["pass_if"]["all"][0]["op"] = "=>"
    with pytest.raises(ProtocolError, match=r"eligibility\[3\]\.pass_if\.all\[0\]\.op: .*'=>'"):
        parse_protocol(raw)


def test_block_size_not_a_multiple_and_unknown_key():
    raw = _raw()
    raw["randomization"]["block_sizes"] = [4]
    with pytest.raises(ProtocolError, match=r"randomization: block size 4 is not a positive multiple of the ratio total 5"):
        parse_protocol(raw)
    raw = _raw()
    raw["design"]["alpha"] = 0.05
    with pytest.raises(ProtocolError, match=r"design\.alpha: unknown key"):
        parse_protocol(raw)


def test_dose_day_beyond_cycle_and_bad_file(tmp_path):
    raw = _raw()
    raw["arms"][1]["drugs"][0]["dosing"][0]["days"] = [1, 29]
    with pytest.raises(ProtocolError, match=r"arms\[1\]\.drugs\[0\]\.dosing\[0\]\.days: day\(s\) \[29\] beyond the 28-day cycle"):
        parse_protocol(raw)
    bad = tmp_path / "bad.toml"
    bad.write_text("cycle_length_days = = 28\n")
    with pytest.raises(ProtocolError, match=r"bad\.toml: not valid TOML"):
        load_protocol(bad)
    with pytest.raises(ProtocolError, match=r"nope\.toml: cannot read"):
        load_protocol(tmp_path / "nope.toml")


def test_treatment_emergent_window_is_the_ae_time_frame():
    from ikema.simulate.facts import facts_from_protocol

    ae = next(m for m in load_protocol().outcome_measures if m.id == "AE")
    assert ae.days_after_last_dose == 30 and "30 days after last study treatment" in ae.time_frame
    assert facts_from_protocol().teae_window_days == 30
