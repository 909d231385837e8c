"""ikema.protocol: the study as data. `load_protocol(path=None) -> Protocol` reads and validates a TOML file
(None = the packaged ikema.toml, IKEMA / NCT03275285); a wrong file raises ProtocolError naming the key path.

Attributes of a `Protocol` (pydantic v2, frozen):
- `cycle_length_days` (int, 28)
- `study`: nct_id, eudract_number, sponsor_id, utn, studyid, acronym, short_name, sponsor, brief_title,
  official_title, condition, phase, study_type, allocation, intervention_model, masking, primary_purpose,
  enrollment, enrollment_type, minimum_age_years, sexes, healthy_volunteers
- `dates` (datetime.date): study_start, primary_completion, study_completion_estimated,
  first_patient_randomized, last_patient_randomized, interim_cutoff, final_pfs_cutoff, final_os_cutoff
- `objectives`: primary (str), secondary (list[str]);  `outcome_measures`: [id, kind, title, time_frame, description]
- `treatment`: bsa_method ("mosteller" | "dubois"), dose_rounding_mg (0.1)
- `arms`: [Arm(code "IKd"/"Kd", role "experimental"/"control", label, description, drugs)]; `protocol.arm(code)`,
  `protocol.arm_by_role(role)`. Drug: name, code, other_name, form, routes, route, route_with_infusion (route on days
  another drug of the arm is infused), bsa_cap_m2, dosing: [Dosing(first_cycle, last_cycle (None = onwards),
  days, dose, basis "mg/kg" | "mg/m2" | "flat", source)]
- `randomization`: ratio {"IKd": 3, "Kd": 2}, block_sizes [5, 10], stratification: [Factor(id "PRIOR_LINES" | "RISS",
  label, levels: [Level(code, label, rule)])]; `protocol.strata` lists every stratum as {factor id: level code}
- `screening_fields`: {name: ScreeningField(type "int"|"float"|"bool"|"str", unit, label)}: the names rules read
- `eligibility`: [Criterion(id "I01", "E01".."E08", kind inclusion|exclusion, text (record wording), pass_if: Rule)];
  `protocol.criterion(id)`
- `schedules`: [Schedule(id "disease_assessment" | "pk_isatuximab" | "pk_carfilzomib" | "ada" | "qol", description,
  arms, first_cycle, every_n_cycles, day, until, visits [(cycle, day)], after_treatment_days, time_frame, assumption)]
- `design`: primary_endpoint, planned_pfs_events, information_rates, alpha_one_sided, spending, power, hazard_ratio,
  control_median_pfs_months, accrual_months, annual_dropout, stratum_prevalence [(levels {factor: code}, prevalence)]

A Rule is a condition {field, op, value} (op one of >=, <=, >, <, ==, !=, in; optional param, unit, source,
assumption, allow_null: a present but empty field passes) or {all = [rules]} / {any = [rules]}. Rules are data,
evaluated by `ikema.protocol.rules.evaluate` (three-valued: pass / fail / missing), never by Python eval.
"""

from __future__ import annotations

from ikema.protocol.loader import DEFAULT_PATH, load_protocol, parse_protocol
from ikema.protocol.models import (Arm, Criterion, Design, Dosing, Drug, Factor, Level, Protocol, Randomization, Rule,
                                   Schedule, ScreeningField)

__all__ = ["DEFAULT_PATH", "load_protocol", "parse_protocol", "Protocol", "Arm", "Drug", "Dosing", "Randomization",
           "Factor", "Level", "Rule", "Criterion", "Schedule", "ScreeningField", "Design"]
