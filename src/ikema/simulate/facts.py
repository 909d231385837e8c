"""The trial facts the simulator needs, read from the protocol (the single source of trial facts)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class TrialFacts:
    """Facts of the protocol the simulator uses: cycle length, arms with ratio, key dates, calendar."""

    cycle_days: int
    arms: tuple[str, ...]  # experimental first
    ratio: dict[str, int]
    experimental: str
    control: str
    first_patient: dt.date
    last_patient: dt.date
    cutoffs: dict[str, dt.date]  # name -> date, ascending
    enrollment: int
    calendar: Callable[[str, float, float, int], list[dict]]  # (arm, weight_kg, height_cm, cycles) -> rows
    teae_window_days: int  # an AE with onset up to this many days after the last dose is treatment-emergent
    protocol: Any = None
    studyid: str = "STUDY"
    arm_labels: dict[str, str] = field(default_factory=dict)
    schedules: dict[str, dict] = field(default_factory=dict)  # schedule id -> {visits, every_n_cycles, ...}

    @property
    def end_of_data(self) -> dt.date:
        """Last date the simulation must cover (the latest cutoff)."""
        return max(self.cutoffs.values())


def _walk(obj: Any, depth: int = 0):
    """Every mapping inside the protocol (pydantic models dumped), depth first."""
    if depth > 12:
        return
    if hasattr(obj, "model_dump"):
        obj = obj.model_dump()
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from _walk(v, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _walk(v, depth + 1)


def find_fact(protocol: Any, *names: str) -> Any:
    """The first scalar value stored under any of `names` (case-insensitive) at any depth of the protocol."""
    wanted = [n.lower() for n in names]
    found: dict[str, Any] = {}
    for rec in _walk(protocol):
        for k, v in rec.items():
            key = str(k).lower()
            if key in wanted and key not in found and not isinstance(v, (dict, list)) and v is not None:
                found[key] = v
    for n in wanted:
        if n in found:
            return found[n]
    return None


def _as_date(v: Any, what: str) -> dt.date:
    from ikema.errors import ProtocolError

    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v)[:10])
    except ValueError as exc:
        raise ProtocolError(f"protocol: {what} {v!r} is not an ISO date") from exc


def facts_from_protocol(protocol: Any = None) -> TrialFacts:
    """The simulator's trial facts from the protocol file (None = the packaged IKEMA protocol)."""
    from ikema.conduct.calendar import dosing_calendar
    from ikema.conduct.randomization import scheme_from_protocol
    from ikema.errors import ProtocolError
    from ikema.protocol import load_protocol
    p = protocol if protocol is not None else load_protocol()
    scheme = scheme_from_protocol(p)
    roles: dict[str, str] = {}
    labels: dict[str, str] = {}
    for rec in _walk(p):
        code = rec.get("code") or rec.get("arm") or rec.get("id")
        if rec.get("role") in ("experimental", "control") and str(code) in scheme.ratio:
            roles[str(rec["role"])] = str(code)
            labels[str(code)] = str(rec.get("label") or rec.get("name") or code)
    if set(roles) != {"experimental", "control"}:
        raise ProtocolError("protocol: arms need one experimental and one control arm (role) among the randomization ratio's arms")
    cycle = find_fact(p, "cycle_length_days", "cycle_days", "cycle_length")
    enrollment = find_fact(p, "enrollment", "target_enrollment", "planned_enrollment")
    interim = find_fact(p, "interim_cutoff", "interim_analysis_cutoff", "interim_cutoff_date", "interim_data_cutoff")
    final = find_fact(p, "final_pfs_cutoff", "final_cutoff", "final_pfs_analysis_cutoff", "final_analysis_cutoff")
    studyid = find_fact(p, "studyid", "sponsor_id", "sponsor_study_id", "study_id") or "IKEMA"
    missing = [n for n, v in (("cycle length", cycle), ("enrollment", enrollment), ("interim cutoff", interim),
                              ("final PFS cutoff", final)) if v is None]
    if missing:
        raise ProtocolError(f"protocol: the virtual trial needs {', '.join(missing)}")
    final_os = find_fact(p, "final_os_cutoff", "os_cutoff")
    first = find_fact(p, "first_patient_randomized", "first_patient")
    last = find_fact(p, "last_patient_randomized", "last_patient")
    missing = [n for n, v in (("final OS cutoff", final_os), ("first patient randomized", first),
                              ("last patient randomized", last)) if v is None]
    if missing:
        raise ProtocolError(f"protocol: the virtual trial needs {', '.join(missing)}")
    cutoffs = {"interim": _as_date(interim, "interim cutoff"), "final": _as_date(final, "final PFS cutoff"),
               "final_os": _as_date(final_os, "final OS cutoff")}

    def calendar(arm: str, weight_kg: float, height_cm: float, cycles: int) -> list[dict]:
        return dosing_calendar(p, arm, weight_kg, height_cm, cycles)

    return TrialFacts(
        cycle_days=int(cycle), arms=(roles["experimental"], roles["control"]), ratio=scheme.ratio,
        experimental=roles["experimental"], control=roles["control"],
        first_patient=_as_date(first, "first patient randomized"), last_patient=_as_date(last, "last patient randomized"),
        cutoffs=cutoffs, enrollment=int(enrollment), calendar=calendar, protocol=p, studyid=str(studyid), arm_labels=labels,
        teae_window_days=_teae_window(p),
        schedules={str(sc["id"]): sc for sc in (x.model_dump() if hasattr(x, "model_dump") else dict(x)
                                                 for x in (getattr(p, "schedules", None) or []))},
    )


def _teae_window(p: Any) -> int:
    """Days after the last dose in the adverse-event outcome measure's time frame (its days_after_last_dose)."""
    from ikema.errors import ProtocolError

    for m in getattr(p, "outcome_measures", None) or []:
        if getattr(m, "days_after_last_dose", None) is not None:
            return int(m.days_after_last_dose)
    raise ProtocolError("protocol: no outcome measure gives days_after_last_dose (the treatment-emergent window)")


def response_criteria(facts: TrialFacts | None = None):
    """IMWG 2016 with the protocol's measurable-disease thresholds."""
    from ikema.response import Criteria

    return Criteria.from_protocol(facts.protocol if facts is not None else None)


def screening_fields(c: Any) -> dict:
    """The screening record of a virtual candidate, in the field names the protocol's eligibility rules read."""
    return {
        "age": int(c["AGE"]), "sex": str(c["SEX"]), "ecog": int(c["ECOG"]), "prior_lines": int(c["PRIOR_LINES"]),
        "serum_mprotein_g_dl": float(c["SERUM_M0"]), "urine_mprotein_mg_24h": float(c["URINE_M0"]),
        "flc_involved_mg_l": round(float(c["INV_FLC0"]), 1),
        "riss": str(c["RISS"]), "prior_carfilzomib": False, "carfilzomib_minor_response": True,
        "days_since_last_therapy": 60,
        "neutrophils_10e9_l": float(c["ANC"]), "platelets_10e9_l": float(c["PLATELETS"]),
        "hemoglobin_g_dl": round(float(c["HGB"]) / 10.0, 1), "creatinine_clearance_ml_min": float(c["CRCL"]),
        "bilirubin_uln": round(float(c["BILIRUBIN"]) / 21.0, 2), "ast_uln": round(float(c["AST"]) / 40.0, 2),
        "alt_uln": round(float(c["ALT"]) / 40.0, 2),  # ULN 21 umol/L and 40 U/L (ASSUMPTION: typical ULNs)
        "mi_last_6_months": False, "lvef_percent": 60.0, "nyha_class": 0, "prior_cancer_disease_free_years": None,
        "hiv_on_antiretroviral": False, "active_hepatitis": False, "childbearing_potential": False,
        "contraception_agreed": True, "weight_kg": float(c["WEIGHT_KG"]), "height_cm": float(c["HEIGHT_CM"]),
    }


def screen_candidate(fields: dict, facts: TrialFacts) -> Any:
    """Screen one candidate's record by the protocol's criteria (ikema.conduct.screening)."""
    from ikema.conduct.screening import screen

    return screen(fields, facts.protocol)
