"""The trial facts the simulator needs, read from the protocol (the single source of trial facts)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd


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
    # (subjects with USUBJID, ARM, WEIGHT_KG, HEIGHT_CM; cycles per subject) -> every subject's calendar rows and USUBJID
    calendars: Callable[[pd.DataFrame, np.ndarray], pd.DataFrame] | None = None

    def calendar_frame(self, subjects: pd.DataFrame, cycles: np.ndarray) -> pd.DataFrame:
        """The calendar rows of every subject for its number of cycles, one after the other, with its USUBJID."""
        if self.calendars is not None:
            return self.calendars(subjects, cycles)
        rows: list[dict] = []
        who: list[str] = []
        for r, n in zip(subjects.itertuples(index=False), cycles):
            cal = self.calendar(r.ARM, float(r.WEIGHT_KG), float(r.HEIGHT_CM), int(n))
            rows.extend(cal)
            who.extend([r.USUBJID] * len(cal))
        ex = pd.DataFrame(rows)
        ex["USUBJID"] = who
        return ex

    @property
    def end_of_data(self) -> dt.date:
        """Last date the simulation must cover (the latest cutoff)."""
        return max(self.cutoffs.values())


def facts_from_protocol(protocol: Any = None) -> TrialFacts:
    """The simulator's trial facts from the protocol file (None = the packaged IKEMA protocol)."""
    from ikema.conduct.calendar import dosing_calendar
    from ikema.conduct.randomization import scheme_from_protocol
    from ikema.errors import ProtocolError
    from ikema.protocol import load_protocol
    p = protocol if protocol is not None else load_protocol()
    scheme = scheme_from_protocol(p)
    roles = {a.role: a.code for a in p.arms if a.code in scheme.ratio}
    labels = {a.code: a.label for a in p.arms}
    if set(roles) != {"experimental", "control"}:
        raise ProtocolError("protocol: arms need one experimental and one control arm (role) among the randomization ratio's arms")
    d = p.dates
    missing = [n for n, v in (("dates.interim_cutoff", d.interim_cutoff), ("dates.final_pfs_cutoff", d.final_pfs_cutoff),
                              ("dates.final_os_cutoff", d.final_os_cutoff),
                              ("dates.first_patient_randomized", d.first_patient_randomized),
                              ("dates.last_patient_randomized", d.last_patient_randomized)) if v is None]
    if missing:
        raise ProtocolError(f"protocol: the virtual trial needs {', '.join(missing)}")
    cutoffs = p.cutoffs
    cycle, enrollment, studyid = p.cycle_length_days, p.study.enrollment, p.study.studyid
    first, last = d.first_patient_randomized, d.last_patient_randomized

    def calendar(arm: str, weight_kg: float, height_cm: float, cycles: int) -> list[dict]:
        return dosing_calendar(p, arm, weight_kg, height_cm, cycles)

    def calendars(subjects: pd.DataFrame, cycles: np.ndarray) -> pd.DataFrame:
        return _calendars(p, subjects, cycles)

    return TrialFacts(
        cycle_days=int(cycle), arms=(roles["experimental"], roles["control"]), ratio=scheme.ratio,
        experimental=roles["experimental"], control=roles["control"],
        first_patient=first, last_patient=last,
        cutoffs=cutoffs, enrollment=int(enrollment), calendar=calendar, calendars=calendars, protocol=p, studyid=str(studyid), arm_labels=labels,
        teae_window_days=_teae_window(p),
        schedules={sc.id: sc.model_dump() for sc in p.schedules},
    )


def _calendars(p: Any, subjects: pd.DataFrame, cycles: np.ndarray) -> pd.DataFrame:
    """TrialFacts.calendar_frame for the protocol `p`: the frame of conduct.calendar.dosing_calendar's rows of every
    subject, built per arm once (for the most cycles any of its subjects gets: a calendar of fewer cycles is its
    first rows, the cycles being in order) and per subject only its doses (the calendar's rows are the same for
    every body size; the mg dose depends on the dosing step)."""
    from ikema.conduct.calendar import schedule, step_doses_mg

    arms, counts = subjects["ARM"].tolist(), [int(n) for n in cycles]
    known = {a.code for a in p.arms}
    for arm, n in zip(arms, counts):
        if n < 1 or arm not in known:
            schedule(p, arm, n)  # refuses this subject's calendar (as building it alone would)
    most: dict[str, int] = {}
    for arm, n in zip(arms, counts):
        most[arm] = max(most.get(arm, n), n)
    plans: dict[str, tuple] = {}  # arm -> (dosing steps, step of each row, first row of the arm, rows up to each cycle)
    frames = []
    start = 0
    for arm, n in most.items():
        given = schedule(p, arm, n)
        first: dict[int, tuple] = {}  # dosing steps in order of appearance
        for _, _, drug, ds, _ in given:
            first.setdefault(id(ds), (drug, ds))
        index = {k: j for j, k in enumerate(first)}
        upto = np.searchsorted(np.array([g[0] for g in given], dtype=int), np.arange(n + 1), side="right")
        plans[arm] = (list(first.values()), np.array([index[id(g[3])] for g in given], dtype=np.intp), start, upto)
        frames.append(pd.DataFrame({
            "cycle": [g[0] for g in given], "day": [g[1] for g in given],
            "study_day": [(g[0] - 1) * p.cycle_length_days + g[1] for g in given], "drug": [g[2].name for g in given],
            "route": [g[4] for g in given], "dose": [g[3].dose for g in given], "basis": [g[3].basis for g in given]}))
        start += len(given)
    rows, doses = [], []
    for r, arm, n in zip(subjects.itertuples(index=False), arms, counts):
        steps, step_of, at, upto = plans[arm]
        mg = np.asarray(step_doses_mg(p, steps, float(r.WEIGHT_KG), float(r.HEIGHT_CM)), dtype=float)
        rows.append(np.arange(at, at + upto[n]))
        doses.append(mg[step_of[:upto[n]]])
    lengths = [len(x) for x in rows]
    ex = pd.concat(frames, ignore_index=True).take(np.concatenate(rows)).reset_index(drop=True)
    ex["dose_mg"] = np.concatenate(doses)
    ex["USUBJID"] = text_at(subjects["USUBJID"].to_numpy(dtype=object), np.repeat(np.arange(len(lengths)), lengths))
    return ex


def text_at(values: Any, idx: np.ndarray) -> Any:
    """The text column values[idx] as pandas makes it of text: converted to pandas' text type once per distinct
    value, then taken (half a million rows of text converted one by one cost a tenth of a second)."""
    return pd.Series(np.asarray(values, dtype=object)).array.take(idx)


def per_subject(ids: pd.Series, keys: pd.Series, values: np.ndarray) -> np.ndarray:
    """ids.map(dict(zip(keys, values))).to_numpy() where every id is one of the distinct keys: looked up once per
    distinct id (pandas codes), not once per row; otherwise by the map itself."""
    codes, distinct = pd.factorize(ids)
    index = pd.Index(keys)
    at = index.get_indexer(distinct) if index.is_unique else np.array([-1])
    if (codes < 0).any() or (at < 0).any():
        return ids.map(dict(zip(keys, values))).to_numpy()
    return np.asarray(values)[at][codes]


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
        # baseline characteristics entered with the screening record (the protocol's [baseline_fields])
        "iss": int(c["ISS"]), "high_risk_cytogenetics": bool(c["HIGHRISK"]), "cytogenetics_missing": bool(c["CYTOMISS"]),
        "gain_1q21": bool(c["GAIN1Q"]), "prior_lenalidomide": bool(c["PRIOR_LENALIDOMIDE"]),
        "prior_bortezomib": bool(c["PRIOR_BORTEZOMIB"]), "lenalidomide_refractory": bool(c["LEN_REFRACTORY"]),
        "isotype": str(c["ISOTYPE"]), "light_chain": str(c["LIGHT_CHAIN"]),
        "prior_asct": bool(c["PRIOR_ASCT"]),
        **({"race": str(c["RACE"]), "ethnicity": str(c["ETHNIC"])} if "RACE" in c else {}),
    }


def screen_candidate(fields: dict, facts: TrialFacts) -> Any:
    """Screen one candidate's record by the protocol's criteria (ikema.conduct.screening)."""
    from ikema.conduct.screening import screen

    return screen(fields, facts.protocol)
