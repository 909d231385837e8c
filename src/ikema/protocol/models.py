"""Pydantic models of a protocol file (see ikema.protocol for the attribute names)."""

from __future__ import annotations

import datetime as dt
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = Union[bool, int, float, str]
OPS = (">=", "<=", ">", "<", "==", "!=", "in")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Model):
    """A condition {field, op, value} or a combination {all = [...]} / {any = [...]} of rules."""

    field: Optional[str] = None
    op: Optional[Literal[">=", "<=", ">", "<", "==", "!=", "in"]] = None
    value: Optional[Union[Scalar, list[Scalar]]] = None
    all: Optional[list["Rule"]] = None
    any: Optional[list["Rule"]] = None
    allow_null: bool = False  # a field present but empty (null) passes: "not applicable"
    param: Optional[str] = None  # CDISC PARAMCD the threshold applies to (e.g. SMPROT)
    unit: Optional[str] = None
    source: Optional[str] = None
    assumption: bool = False
    note: Optional[str] = None

    @model_validator(mode="after")
    def _one_form(self) -> "Rule":
        forms = [self.field is not None, self.all is not None, self.any is not None]
        if sum(forms) != 1:
            raise ValueError("a rule is exactly one of {field, op, value}, {all = [...]} or {any = [...]}")
        if self.field is not None:
            if self.op is None:
                raise ValueError(f"condition on {self.field!r} needs `op` (one of {', '.join(OPS)})")
            if self.value is None:
                raise ValueError(f"condition on {self.field!r} needs `value`")
            if (self.op == "in") != isinstance(self.value, list):
                raise ValueError(f"condition on {self.field!r}: op 'in' takes a list value and only 'in' does")
        elif not (self.all or self.any):
            raise ValueError("an all/any rule needs at least one member")
        return self

    def fields(self) -> list[str]:
        """Every screening field the rule reads."""
        if self.field is not None:
            return [self.field]
        return [f for r in (self.all or self.any or []) for f in r.fields()]

    def conditions(self) -> list["Rule"]:
        """Every leaf condition of the rule, in order."""
        if self.field is not None:
            return [self]
        return [c for r in (self.all or self.any or []) for c in r.conditions()]


class Study(_Model):
    """Identifiers and registry design facts."""

    nct_id: str
    eudract_number: Optional[str] = None
    sponsor_id: Optional[str] = None
    utn: Optional[str] = None
    studyid: str
    acronym: str
    short_name: Optional[str] = None
    sponsor: Optional[str] = None
    brief_title: str
    official_title: str
    condition: Optional[str] = None
    phase: str
    study_type: str
    allocation: str
    intervention_model: str
    masking: str
    primary_purpose: str
    enrollment: int = Field(gt=0)
    enrollment_type: Optional[str] = None
    minimum_age_years: Optional[int] = None
    sexes: Optional[str] = None
    healthy_volunteers: Optional[bool] = None


class Dates(_Model):
    """Key dates of the study."""

    study_start: dt.date
    primary_completion: Optional[dt.date] = None
    study_completion_estimated: Optional[dt.date] = None
    first_patient_randomized: Optional[dt.date] = None
    last_patient_randomized: Optional[dt.date] = None
    interim_cutoff: Optional[dt.date] = None
    final_pfs_cutoff: Optional[dt.date] = None
    final_os_cutoff: Optional[dt.date] = None
    source: Optional[str] = None


class Objectives(_Model):
    """Primary and secondary objectives (record wording)."""

    primary: str
    secondary: list[str] = []


class OutcomeMeasure(_Model):
    """One registry outcome measure."""

    id: str
    kind: Literal["primary", "secondary", "other"]
    title: str
    time_frame: str
    description: str
    days_after_last_dose: Optional[int] = Field(None, ge=0)  # the time frame's window after the last administration


class Treatment(_Model):
    """Dose computation conventions shared by every arm."""

    bsa_method: Literal["mosteller", "dubois"] = "mosteller"
    bsa_method_source: Optional[str] = None
    dose_rounding_mg: float = Field(0.1, gt=0)
    dose_rounding_assumption: bool = False
    dose_rounding_note: Optional[str] = None


class Dosing(_Model):
    """Doses of one drug on some days of a range of cycles (last_cycle None = every later cycle)."""

    first_cycle: int = Field(1, ge=1)
    last_cycle: Optional[int] = Field(None, ge=1)
    days: list[int] = Field(min_length=1)
    dose: float = Field(gt=0)
    basis: Literal["mg/kg", "mg/m2", "flat"]
    source: Optional[str] = None
    assumption: bool = False

    @model_validator(mode="after")
    def _range(self) -> "Dosing":
        if self.last_cycle is not None and self.last_cycle < self.first_cycle:
            raise ValueError(f"last_cycle {self.last_cycle} is before first_cycle {self.first_cycle}")
        if len(set(self.days)) != len(self.days):
            raise ValueError(f"days {self.days} repeat a day")
        return self

    def covers(self, cycle: int) -> bool:
        """Whether this dosing applies in `cycle`."""
        return cycle >= self.first_cycle and (self.last_cycle is None or cycle <= self.last_cycle)


class Drug(_Model):
    """A study drug of one arm: routes, form, dosing by cycle and day."""

    name: str
    code: Optional[str] = None
    other_name: Optional[str] = None
    form: str
    routes: list[str] = Field(min_length=1)
    route: str  # the route of an administration
    route_with_infusion: Optional[str] = None  # route on days another drug of the arm is infused
    route_source: Optional[str] = None
    bsa_cap_m2: Optional[float] = Field(None, gt=0)
    bsa_cap_source: Optional[str] = None
    dosing: list[Dosing] = Field(min_length=1)

    @model_validator(mode="after")
    def _routes(self) -> "Drug":
        for r in (self.route, self.route_with_infusion):
            if r is not None and r not in self.routes:
                raise ValueError(f"route {r!r} is not among routes {self.routes}")
        return self


class Arm(_Model):
    """A treatment arm."""

    code: str
    role: Literal["experimental", "control"]
    label: str
    description: Optional[str] = None
    drugs: list[Drug] = Field(min_length=1)


class Level(_Model):
    """One level of a stratification factor and the screening-field rule that selects it."""

    code: str
    label: Optional[str] = None
    rule: Rule


class Factor(_Model):
    """A stratification factor."""

    id: str
    label: Optional[str] = None
    levels: list[Level] = Field(min_length=2)


class Randomization(_Model):
    """Allocation ratio (arm code -> weight), block sizes and stratification factors."""

    method: Optional[str] = None
    ratio: dict[str, int]
    block_sizes: list[int] = Field(min_length=1)
    block_sizes_assumption: bool = False
    source: Optional[str] = None
    stratification: list[Factor] = []

    @model_validator(mode="after")
    def _blocks(self) -> "Randomization":
        total = sum(self.ratio.values())
        if any(v <= 0 for v in self.ratio.values()):
            raise ValueError(f"ratio weights must be positive, got {self.ratio}")
        for b in self.block_sizes:
            if b <= 0 or b % total:
                raise ValueError(f"block size {b} is not a positive multiple of the ratio total {total}")
        return self


class ScreeningField(_Model):
    """A named field of the screening record (`codes`: the only values a text field takes)."""

    type: Literal["int", "float", "bool", "str"]
    unit: Optional[str] = None
    label: Optional[str] = None
    codes: Optional[list[str]] = Field(None, min_length=1)
    subject_column: Optional[str] = None  # the column of the subject records (SDTM DM/SUPPDM input) it fills

    @model_validator(mode="after")
    def _codes(self) -> "ScreeningField":
        if self.codes is not None and self.type != "str":
            raise ValueError(f"codes are for text fields, not type {self.type!r}")
        return self


class Range(_Model):
    """A plausibility range in `unit`: refused outside `hard`, stored with an automatic query outside `soft`."""

    unit: str
    hard: tuple[float, float]
    soft: Optional[tuple[float, float]] = None
    source: Optional[str] = None
    assumption: bool = True
    note: Optional[str] = None

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        lo, hi = self.hard
        if not lo <= hi:
            raise ValueError(f"hard range [{lo:g}, {hi:g}] is not low <= high")
        if self.soft is not None:
            slo, shi = self.soft
            if not (lo <= slo <= shi <= hi):
                raise ValueError(f"soft range [{slo:g}, {shi:g}] is not inside the hard range [{lo:g}, {hi:g}]")
        return self


class EditChecks(_Model):
    """Plausibility checks: ranges by screening field, lab test (LBTESTCD), assessment PARAMCD and drug (mg)."""

    dose_tolerance: float = Field(0.10, gt=0, lt=1)
    dose_tolerance_source: Optional[str] = None
    screening: dict[str, Range] = {}
    labs: dict[str, Range] = {}
    assessments: dict[str, Range] = {}
    doses: dict[str, Range] = {}


class Criterion(_Model):
    """An eligibility criterion: record wording and the rule a candidate must satisfy to pass it."""

    id: str
    kind: Literal["inclusion", "exclusion"]
    text: str
    pass_if: Rule
    note: Optional[str] = None


class Visit(_Model):
    """A (cycle, day) visit."""

    cycle: int = Field(ge=1)
    day: int = Field(ge=1)


class Schedule(_Model):
    """An assessment schedule: recurring (first_cycle, every_n_cycles, day, until) and/or listed visits."""

    id: str
    description: str
    arms: Optional[list[str]] = None  # None = every arm
    first_cycle: Optional[int] = Field(None, ge=1)
    every_n_cycles: Optional[int] = Field(None, ge=1)
    day: Optional[int] = Field(None, ge=1)
    until: Optional[str] = None
    visits: list[Visit] = []
    after_treatment_days: list[int] = []
    every_days_after_treatment: Optional[int] = Field(None, gt=0)  # follow-up contacts after the end of treatment
    time_frame: Optional[str] = None
    source: Optional[str] = None
    assumption: bool = False
    note: Optional[str] = None

    @model_validator(mode="after")
    def _some(self) -> "Schedule":
        recurring = (self.first_cycle, self.every_n_cycles, self.day)
        if any(v is not None for v in recurring) and not all(v is not None for v in recurring):
            raise ValueError("a recurring schedule needs first_cycle, every_n_cycles and day")
        if self.every_n_cycles is None and not self.visits and self.every_days_after_treatment is None:
            raise ValueError("a schedule needs a recurrence (first_cycle, every_n_cycles, day), visits or "
                             "every_days_after_treatment")
        return self


class StratumPrevalence(_Model):
    """Expected share of one stratum (factor id -> level code)."""

    levels: dict[str, str]
    prevalence: float = Field(ge=0, le=1)
    source: Optional[str] = None
    assumption: bool = False


class Design(_Model):
    """Design (SAP) parameters of the primary analysis."""

    primary_endpoint: str = "PFS"
    planned_pfs_events: int = Field(gt=0)
    information_rates: list[float] = Field(min_length=1)
    alpha_one_sided: float = Field(gt=0, lt=0.5)
    spending: str
    power: float = Field(gt=0, lt=1)
    hazard_ratio: float = Field(gt=0)
    control_median_pfs_months: float = Field(gt=0)
    accrual_months: float = Field(gt=0)
    annual_dropout: float = Field(0.0, ge=0, lt=1)
    annual_dropout_assumption: bool = False
    source: Optional[str] = None
    stratum_prevalence: list[StratumPrevalence] = []

    @model_validator(mode="after")
    def _rates(self) -> "Design":
        r = self.information_rates
        if any(b <= a for a, b in zip(r, r[1:])) or r[0] <= 0 or abs(r[-1] - 1.0) > 1e-12:
            raise ValueError(f"information_rates {r} must increase strictly and end at 1")
        if self.stratum_prevalence:
            total = sum(s.prevalence for s in self.stratum_prevalence)
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"stratum_prevalence sums to {total:g}, expected 1")
        return self


class MeasurableDisease(_Model):
    """The trial's measurable-disease thresholds (the IMWG response criteria take them from here)."""

    serum_mprotein_g_dl: float = Field(gt=0)
    urine_mprotein_mg_24h: Optional[float] = Field(None, gt=0)
    source: Optional[str] = None


class PKAssay(_Model):
    """A bioanalytical assay: the analyte (store and SDTM PCTESTCD) and its lower limit of quantification."""

    analyte: str
    lloq: float = Field(gt=0)
    unit: str
    source: Optional[str] = None
    assumption: bool = False


class Subgroup(_Model):
    """A subgroup of the forest plot: an ADSL variable and its label."""

    variable: str
    label: str


class GroupSequential(_Model):
    """The SAP's group-sequential plan applied to data: the parameter tested and the data cuts that are its looks."""

    parameter: str
    looks: list[str] = Field(min_length=1)  # cut names (keys of Protocol.cutoffs), in order


class Sap(_Model):
    """The statistical analysis plan as applied to ADaM: parameters analysed, strata, pooling, subgroups, looks."""

    tte_parameters: list[str] = []
    response_parameters: list[str] = []
    strata: list[str] = []  # ADSL stratification variables
    sparse_strata: Literal["pool", "keep"] = "pool"
    subgroups: list[Subgroup] = []
    forest_parameter: str = "PFS"
    main_cut: Optional[str] = None  # the cut whose analysis is results.json's `parameters`
    group_sequential: Optional[GroupSequential] = None
    source: Optional[str] = None


class Protocol(_Model):
    """A whole protocol file."""

    cycle_length_days: int = Field(gt=0)
    study: Study
    dates: Dates
    objectives: Objectives
    outcome_measures: list[OutcomeMeasure] = []
    treatment: Treatment = Treatment()
    arms: list[Arm] = Field(min_length=2)
    randomization: Randomization
    screening_fields: dict[str, ScreeningField]
    baseline_fields: dict[str, ScreeningField] = {}  # recorded at screening beside the screening fields, judged by no rule
    pk_assays: list[PKAssay] = []
    measurable_disease: Optional[MeasurableDisease] = None
    sap: Optional[Sap] = None
    eligibility: list[Criterion] = Field(min_length=1)
    schedules: list[Schedule] = []
    design: Optional[Design] = None
    edit_checks: Optional[EditChecks] = None

    @model_validator(mode="after")
    def _consistent(self) -> "Protocol":
        codes = [a.code for a in self.arms]
        if len(set(codes)) != len(codes):
            raise ValueError(f"arms: arm codes repeat: {codes}")
        for arm in self.randomization.ratio:
            if arm not in codes:
                raise ValueError(f"randomization.ratio: arm {arm!r} is not among the arms {codes}")
        for code in codes:
            if code not in self.randomization.ratio:
                raise ValueError(f"randomization.ratio: arm {code!r} has no weight")
        known = set(self.screening_fields)
        for i, f in enumerate(self.randomization.stratification):
            for j, lv in enumerate(f.levels):
                for name in lv.rule.fields():
                    if name not in known:
                        raise ValueError(f"randomization.stratification[{i}].levels[{j}].rule: unknown screening field "
                                         f"{name!r} (declare it under [screening_fields])")
        for i, c in enumerate(self.eligibility):
            for name in c.pass_if.fields():
                if name not in known:
                    raise ValueError(f"eligibility[{i}] ({c.id}).pass_if: unknown screening field {name!r} "
                                     "(declare it under [screening_fields])")
        ids = [c.id for c in self.eligibility]
        if len(set(ids)) != len(ids):
            raise ValueError(f"eligibility: criterion ids repeat: {ids}")
        for i, arm in enumerate(self.arms):
            for j, d in enumerate(arm.drugs):
                for k, ds in enumerate(d.dosing):
                    bad = [x for x in ds.days if x > self.cycle_length_days]
                    if bad:
                        raise ValueError(f"arms[{i}].drugs[{j}].dosing[{k}].days: day(s) {bad} beyond the "
                                         f"{self.cycle_length_days}-day cycle")
        for i, s in enumerate(self.schedules):
            for a in s.arms or []:
                if a not in codes:
                    raise ValueError(f"schedules[{i}] ({s.id}).arms: arm {a!r} is not among the arms {codes}")
        if self.edit_checks is not None:
            ec = self.edit_checks
            recorded = {**self.screening_fields, **self.baseline_fields}  # both are entered on the screening record
            for name, spec in recorded.items():
                rng = ec.screening.get(name)
                if spec.type in ("int", "float") and rng is None:
                    raise ValueError(f"edit_checks.screening: no range for the numeric screening field {name!r}")
                if rng is not None and (rng.unit or None) != (spec.unit or None):
                    raise ValueError(f"edit_checks.screening.{name}: unit {rng.unit!r} is not the field's unit {spec.unit!r}")
            for name in ec.screening:
                if name not in recorded or recorded[name].type not in ("int", "float"):
                    raise ValueError(f"edit_checks.screening.{name}: not a numeric screening field")
            for arm in self.arms:
                for d in arm.drugs:
                    if d.name not in ec.doses:
                        raise ValueError(f"edit_checks.doses: no range for the drug {d.name!r} of arm {arm.code}")
        if self.sap is not None and self.sap.group_sequential is not None:
            cuts = {"interim", "final", "final_os"}
            bad = [c for c in self.sap.group_sequential.looks if c not in cuts]
            if bad:
                raise ValueError(f"sap.group_sequential.looks: {bad} are not cut names {sorted(cuts)}")
        if self.design is not None:
            factors = {f.id: {lv.code for lv in f.levels} for f in self.randomization.stratification}
            for i, sp in enumerate(self.design.stratum_prevalence):
                if set(sp.levels) != set(factors) or any(v not in factors[k] for k, v in sp.levels.items()):
                    raise ValueError(f"design.stratum_prevalence[{i}].levels {sp.levels} is not a stratum of "
                                     f"the factors {factors}")
        return self

    def arm(self, code: str) -> Arm:
        """The arm with this code (ProtocolError naming the known codes otherwise)."""
        from ikema.errors import ProtocolError

        for a in self.arms:
            if a.code == code:
                return a
        raise ProtocolError(f"protocol: arm {code!r} is not among the arms {[a.code for a in self.arms]}")

    def arm_by_role(self, role: str) -> Arm:
        """The (first) arm of this role: 'experimental' or 'control'."""
        from ikema.errors import ProtocolError

        for a in self.arms:
            if a.role == role:
                return a
        raise ProtocolError(f"protocol: no arm has role {role!r}")

    def criterion(self, cid: str) -> Criterion:
        """The eligibility criterion with this id."""
        from ikema.errors import ProtocolError

        for c in self.eligibility:
            if c.id == cid:
                return c
        raise ProtocolError(f"protocol: no eligibility criterion {cid!r}")

    @property
    def cutoffs(self) -> dict[str, dt.date]:
        """The published data cuts by name (interim, final, final_os), those the dates table gives, in date order."""
        d = self.dates
        named = {"interim": d.interim_cutoff, "final": d.final_pfs_cutoff, "final_os": d.final_os_cutoff}
        return dict(sorted(((k, v) for k, v in named.items() if v is not None), key=lambda kv: kv[1]))

    def subject_columns(self) -> dict[str, str]:
        """Subject-record column -> screening or baseline field name, for the fields that name a subject_column."""
        fields = {**self.screening_fields, **self.baseline_fields}
        return {f.subject_column: name for name, f in fields.items() if f.subject_column}

    @property
    def acronym(self) -> str:
        """The study acronym (study.acronym)."""
        return self.study.acronym

    @property
    def short_name(self) -> str:
        """The study's short name (study.short_name, else the acronym)."""
        return self.study.short_name or self.study.acronym

    @property
    def strata(self) -> list[dict[str, str]]:
        """Every stratum as factor id -> level code, in protocol order."""
        import itertools

        fs = self.randomization.stratification
        return [dict(zip([f.id for f in fs], combo)) for combo in itertools.product(*([lv.code for lv in f.levels] for f in fs))]
