"""Site data capture: the functions a site, the web app and the simulator use to write trial data.

Every function runs server-side edit checks (types, ranges, units, required fields, dates in order, known codes)
and raises `InputError` naming the record, field, value and what was expected; every write is made as `user`
(with `reason`, required when a stored record is changed) and lands in the audit trail (ikema.store.audit).
`record_many(session, kind, rows, user)` is the bulk path (one validation pass, one audited bulk insert);
`correct(session, kind, key, user, reason, **changes)` changes a stored record through the same checks.
Functions flush but do not commit: the caller owns the transaction (`ikema.store.session_scope`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ikema.conduct.edit_checks import Finding, in_range, number
from ikema.errors import InputError, input_error
from ikema.protocol.questionnaires import C30, EQ5D, MY20, item_spec
from ikema.store.audit import bulk_insert_columns
from ikema.store.db import acting
from ikema.store.models import (
    ADASample, AdverseEvent, Base, Death, DiseaseAssessment, Disposition, DrugAdministration, LabResult, PKSample,
    Questionnaire, Randomization, ScreeningResult, Subject, SubsequentTherapy, utcnow,
)

# Disease-assessment PARAMs: numeric (unit, low, high) and coded (allowed AVALC).
NUMERIC_PARAMS: dict[str, tuple[str, float, float]] = {
    "SMPROT": ("g/dL", 0.0, math.inf),
    "UMPROT": ("mg/24h", 0.0, math.inf),
    "FLCK": ("mg/L", 0.0, math.inf),
    "FLCL": ("mg/L", 0.0, math.inf),
    "BMPC": ("%", 0.0, 100.0),
    "PLASMA": ("cm2", 0.0, math.inf),
}
CODED_PARAMS: dict[str, tuple[str, ...]] = {
    "SIFE": ("POSITIVE", "NEGATIVE", "POSITIVE-DRUG"),  # POSITIVE-DRUG: band at the isatuximab position only
    "UIFE": ("POSITIVE", "NEGATIVE"),
    "CLONALPC": ("POSITIVE", "NEGATIVE"),
    "NEWLES": ("Y", "N"),
    "MRD": ("POSITIVE", "NEGATIVE"),
}
VERDICTS = ("pass", "fail", "missing")
DISPOSITION_EVENTS = ("END_OF_TREATMENT", "WITHDRAWAL", "LAST_CONTACT", "FOLLOW_UP_CONTACT")
AE_OUTCOMES = ("RECOVERED/RESOLVED", "RECOVERING/RESOLVING", "NOT RECOVERED/NOT RESOLVED",
               "RECOVERED/RESOLVED WITH SEQUELAE", "FATAL", "UNKNOWN")  # CDISC AEOUT
AE_ACTIONS = ("DOSE NOT CHANGED", "DOSE REDUCED", "DOSE INCREASED", "DRUG INTERRUPTED", "DRUG WITHDRAWN",
              "NOT APPLICABLE", "UNKNOWN")  # CDISC AEACN
ADA_RESULTS = ("POSITIVE", "NEGATIVE", "INCONCLUSIVE")
# Questionnaire items (SDTM QSCAT, QSTESTCD) and their answer ranges; each instrument's items in their order.
QS_ITEMS: dict[tuple[str, str], tuple[int, int]] = {k: (lo, hi) for k, (lo, hi, _) in item_spec().items()}
INSTRUMENTS = (C30, MY20, EQ5D)
QS_ORDER: dict[str, tuple[str, ...]] = {i: tuple(code for inst, code in QS_ITEMS if inst == i) for i in INSTRUMENTS}


# ---------------------------------------------------------------- field checks
def _fail(kind: str, rec: object, fld: str, value: object, expected: str) -> InputError:
    return input_error(kind, rec, fld, value, expected)


def _date(kind: str, rec: object, fld: str, v: Any, required: bool = True) -> dt.date | None:
    if v is None or v == "":
        if required:
            raise _fail(kind, rec, fld, v, "a date (YYYY-MM-DD)")
        return None
    if isinstance(v, dt.datetime):
        v = v.date()
    if isinstance(v, dt.date):
        d = v
    else:
        try:
            d = dt.date.fromisoformat(str(v))
        except ValueError:
            raise _fail(kind, rec, fld, v, "a date (YYYY-MM-DD)") from None
    if d > dt.datetime.now(dt.timezone.utc).date():
        raise _fail(kind, rec, fld, v, "a date not in the future")
    return d


def _num(kind: str, rec: object, fld: str, v: Any, lo: float = -math.inf, hi: float = math.inf,
         required: bool = True, integer: bool = False) -> Any:
    if v is None or v == "":
        if required:
            raise _fail(kind, rec, fld, v, "a number")
        return None
    x = number(kind, rec, fld, v, integer=integer)  # ASCII digits only, finite, whole numbers within 32 bits
    if not lo <= x <= hi:
        raise _fail(kind, rec, fld, v, f"a number in [{lo:g}, {hi:g}]")
    return x


def _code(kind: str, rec: object, fld: str, v: Any, allowed: Sequence[str], required: bool = True) -> str | None:
    if v is None or v == "":
        if required:
            raise _fail(kind, rec, fld, v, "one of " + " | ".join(allowed))
        return None
    s = str(v).strip().upper()
    if s not in allowed:
        raise _fail(kind, rec, fld, v, "one of " + " | ".join(allowed))
    return s


def _text(kind: str, rec: object, fld: str, v: Any, required: bool = True, maxlen: int = 200) -> str | None:
    if v is None or str(v).strip() == "":
        if required:
            raise _fail(kind, rec, fld, v, "a non-empty text")
        return None
    s = str(v).strip()
    if len(s) > maxlen:
        raise _fail(kind, rec, fld, v, f"at most {maxlen} characters")
    return s


def _flag(kind: str, rec: object, fld: str, v: Any, required: bool = True) -> bool | None:
    if v is None or v == "":
        if required:
            raise _fail(kind, rec, fld, v, "Y or N")
        return None
    if isinstance(v, bool):
        return v
    s = str(v).strip().upper()
    if s in ("Y", "YES", "TRUE", "1"):
        return True
    if s in ("N", "NO", "FALSE", "0"):
        return False
    raise _fail(kind, rec, fld, v, "Y or N")


def _order(kind: str, rec: object, first: str, a: dt.date | None, second: str, b: Any) -> None:
    if a is not None and b is not None and b < a:
        raise _fail(kind, rec, second, b.isoformat() if hasattr(b, "isoformat") else b, f"on or after {first} {a.isoformat()}")


@dataclass
class _Context:
    """Per-call lookups (which subjects exist, their randomization and consent dates, arm and body size, the
    protocol's edit checks) and the soft findings of the rows checked so far."""

    session: Session
    subjects: dict[str, dt.date | None | bool] = field(default_factory=dict)
    consent: dict[str, dt.date | None] = field(default_factory=dict)
    body: dict[str, tuple[str | None, Any, Any]] = field(default_factory=dict)  # usubjid -> (arm, weight, height)
    findings: list[Finding] = field(default_factory=list)
    planned: dict[tuple, float | None] = field(default_factory=dict)  # calendar doses already computed
    _protocol: Any = None

    @property
    def protocol(self) -> Any:
        if self._protocol is None:
            self._protocol = protocol_of(self.session)
        return self._protocol

    @property
    def checks(self) -> Any:
        """The protocol's [edit_checks] (None when the protocol file has none)."""
        return getattr(self.protocol, "edit_checks", None)

    def load(self, ids: Iterable[str]) -> None:
        need = sorted({i for i in ids if i not in self.subjects})
        for chunk in (need[i:i + 900] for i in range(0, len(need), 900)):
            found = {u: (at, scr) for u, at, scr in self.session.execute(
                select(Subject.usubjid, Subject.screened_at, Subject.screening).where(Subject.usubjid.in_(chunk)))}
            q = select(Randomization.usubjid, Randomization.randdt, Randomization.arm).where(Randomization.usubjid.in_(chunk))
            rand = {u: (d, arm) for u, d, arm in self.session.execute(q).all()}
            for u in chunk:
                if u not in found:
                    self.subjects[u] = False
                    continue
                at, scr = found[u]
                d, arm = rand.get(u, (None, None))
                self.subjects[u] = d
                self.consent[u] = at.date() if at is not None else None
                scr = scr or {}
                self.body[u] = (arm, scr.get("weight_kg"), scr.get("height_cm"))

    def subject(self, kind: str, rec: object, usubjid: Any, randomized: bool = True) -> tuple[str, dt.date | None]:
        u = _text(kind, rec, "usubjid", usubjid, maxlen=40)
        assert u is not None
        if u not in self.subjects:
            self.load([u])
        state = self.subjects[u]
        if state is False:
            raise _fail(kind, rec, "usubjid", u, "a screened subject")
        if randomized and state is None:
            raise _fail(kind, rec, "usubjid", u, "a randomized subject")
        return u, state or None

    def after_consent(self, kind: str, rec: object, fld: str, u: str, d: dt.date | None) -> None:
        """Refuse a date before the patient's informed consent (the screening date): nothing of the trial precedes it."""
        c = self.consent.get(u)
        if d is not None and c is not None and d < c:
            raise _fail(kind, rec, fld, d.isoformat(), f"a date on or after informed consent ({c.isoformat()})")

    def range(self, kind: str, rec: object, fld: str, x: Any, table: str, key: str, u: str) -> None:
        """The protocol's plausibility range `[edit_checks.<table>.<key>]` on x (refused outside hard, a finding outside soft)."""
        checks = self.checks
        if x is None or checks is None:
            return
        f = in_range(kind, rec, fld, x, getattr(checks, table).get(key), u)
        if f is not None:
            self.findings.append(f)


PROTOCOL_KEY = "ikema.protocol"
FINDINGS_KEY = "ikema.edit_check_findings"


def use_protocol(session: Session, protocol: Any) -> None:
    """Run this session's edit checks on `protocol` (default: the packaged IKEMA protocol)."""
    session.info[PROTOCOL_KEY] = protocol


def protocol_of(session: Session) -> Any:
    """The protocol whose edit checks this session's writes pass (use_protocol, else the packaged one)."""
    p = session.info.get(PROTOCOL_KEY)
    if p is None:
        from ikema.protocol import load_protocol

        p = session.info[PROTOCOL_KEY] = load_protocol()
    return p


def take_findings(session: Session) -> list[Finding]:
    """The soft edit-check findings of this session's writes since the last call (values stored but outside their
    soft range), each with its table, record id and field: the caller opens an automatic query for each."""
    return session.info.pop(FINDINGS_KEY, [])


def _keep(session: Session, findings: list[Finding]) -> None:
    if findings:
        session.info.setdefault(FINDINGS_KEY, []).extend(findings)


# ---------------------------------------------------------------- per-kind validators (row dict -> clean row)
def _v_assessment(r: Mapping[str, Any], c: _Context) -> dict[str, Any]:
    k = "disease_assessments"
    rec = f"{r.get('usubjid')} {r.get('date')} {r.get('param')}"
    u, randdt = c.subject(k, rec, r.get("usubjid"))
    param = _code(k, rec, "param", r.get("param"), tuple(NUMERIC_PARAMS) + tuple(CODED_PARAMS))
    d = _date(k, rec, "date", r.get("date"))
    c.after_consent(k, rec, "date", u, d)
    aval, avalc, unit = r.get("aval"), r.get("avalc"), r.get("unit")
    if param in NUMERIC_PARAMS:
        want, lo, hi = NUMERIC_PARAMS[param]
        aval = _num(k, rec, "aval", aval, lo, hi)
        if avalc not in (None, ""):
            raise _fail(k, rec, "avalc", avalc, f"empty for the numeric PARAM {param} (its result is in aval)")
        if unit is None or unit == "":
            raise _fail(k, rec, "unit", unit, want)
        if str(unit).replace(" ", "") != want.replace(" ", ""):
            raise _fail(k, rec, "unit", unit, want)
        unit, avalc = want, None
        c.range(k, rec, "aval", aval, "assessments", param, u)
    else:
        avalc = _code(k, rec, "avalc", avalc, CODED_PARAMS[param])  # type: ignore[index]
        if aval not in (None, ""):
            raise _fail(k, rec, "aval", aval, f"empty for the coded PARAM {param} (its result is in avalc)")
        aval, unit = None, None
    day = r.get("study_day")
    if day is not None:
        day = _num(k, rec, "study_day", day, integer=True)
        if day == 0:
            raise _fail(k, rec, "study_day", day, "a study day other than 0 (SDTM has no day 0)")
    elif randdt is not None:
        delta = (d - randdt).days
        day = delta + 1 if delta >= 0 else delta
    return dict(usubjid=u, visit=_text(k, rec, "visit", r.get("visit"), required=False), date=d, study_day=day,
                param=param, aval=aval, avalc=avalc, unit=unit)


def _v_lab(r: Mapping[str, Any], c: _Context) -> dict[str, Any]:
    k = "lab_results"
    rec = f"{r.get('usubjid')} {r.get('date')} {r.get('test')}"
    u, _ = c.subject(k, rec, r.get("usubjid"), randomized=False)
    d = _date(k, rec, "date", r.get("date"))
    c.after_consent(k, rec, "date", u, d)
    test = _text(k, rec, "test", r.get("test"), maxlen=8)
    assert test is not None
    if not test.replace("_", "").isalnum() or test.upper() != test:
        raise _fail(k, rec, "test", test, "an upper-case SDTM LBTESTCD (letters and digits, at most 8)")
    low = _num(k, rec, "low", r.get("low"), required=False)
    high = _num(k, rec, "high", r.get("high"), required=False)
    if low is not None and high is not None and high < low:
        raise _fail(k, rec, "high", high, f"at least low {low:g}")
    value = _num(k, rec, "value", r.get("value"), 0.0)
    unit = _text(k, rec, "unit", r.get("unit"), maxlen=20)
    known = c.checks.labs.get(test) if c.checks is not None else None
    if known is not None and unit != known.unit:
        raise _fail(k, rec, "unit", unit, f"{known.unit} (the unit the protocol records {test} in)")
    c.range(k, rec, "value", value, "labs", test, u)
    return dict(usubjid=u, visit=_text(k, rec, "visit", r.get("visit"), required=False), date=d, test=test,
                value=value, unit=unit, low=low, high=high)


def _v_administration(r: Mapping[str, Any], c: _Context) -> dict[str, Any]:
    k = "drug_administrations"
    rec = f"{r.get('usubjid')} cycle {r.get('cycle')} day {r.get('day')} {r.get('drug')}"
    u, randdt = c.subject(k, rec, r.get("usubjid"))
    d = _date(k, rec, "date", r.get("date"))
    _order(k, rec, "randomization date", randdt, "date", d)
    cycle_days = getattr(c.protocol, "cycle_length_days", None) or math.inf
    cycle = _num(k, rec, "cycle", r.get("cycle"), 1, integer=True)
    day = _num(k, rec, "day", r.get("day"), 1, cycle_days, integer=True)  # a day beyond the cycle is refused
    drug = _text(k, rec, "drug", r.get("drug"), maxlen=40)
    dose = _num(k, rec, "dose_mg", r.get("dose_mg"), 0.0)
    adjustment = _text(k, rec, "adjustment_reason", r.get("adjustment_reason"), required=False)
    if c.checks is not None:
        _dose_checks(k, rec, c, u, cycle, day, drug, dose, adjustment)
    return dict(usubjid=u, cycle=cycle, day=day, date=d, drug=drug, route=_text(k, rec, "route", r.get("route"), maxlen=40),
                dose_mg=dose,
                planned_dose_mg=_num(k, rec, "planned_dose_mg", r.get("planned_dose_mg"), 0.0, required=False),
                infusion_interrupted=_flag(k, rec, "infusion_interrupted", r.get("infusion_interrupted"), required=False),
                adjustment_reason=adjustment)


def _dose_checks(k: str, rec: str, c: _Context, u: str, cycle: int, day: int, drug: Any, dose: float,
                 adjustment: str | None) -> None:
    """A drug of the patient's arm, a dose inside the drug's hard range, and within the tolerance of the dosing
    calendar's dose for that patient, cycle and day (a finding otherwise, unless a lower dose carries its reason)."""
    from ikema.conduct.calendar import planned_dose_mg

    arm, weight, height = c.body.get(u, (None, None, None))
    if arm is not None and arm not in {a.code for a in c.protocol.arms}:
        return  # an arm of another protocol than the session's (use_protocol): this protocol cannot judge its doses
    if arm is not None:
        drugs = [x.name for x in c.protocol.arm(arm).drugs]
        if drug not in drugs:
            raise _fail(k, rec, "drug", drug, f"a study drug of the patient's arm {arm} ({' | '.join(drugs)})")
    c.range(k, rec, "dose_mg", dose, "doses", str(drug), u)
    if arm is None or weight is None or height is None:
        return
    key = (arm, weight, height, drug, cycle, day)
    planned = c.planned.get(key, False)
    if planned is False:
        planned = c.planned[key] = planned_dose_mg(c.protocol, arm, weight, height, str(drug), cycle, day)
    if planned is None:
        c.findings.append(Finding(k, rec, "day", day, f"a dosing day of {drug} in cycle {cycle} of the {arm} calendar", u))
        return
    tol = c.checks.dose_tolerance
    if abs(dose - planned) > tol * planned and not (dose < planned and adjustment):
        c.findings.append(Finding(k, rec, "dose_mg", dose, f"dose within {tol:.0%} of the calendar's {planned:g} mg "
                                  "(a lower dose needs its adjustment reason)", u))


def _v_adverse_event(r: Mapping[str, Any], c: _Context) -> dict[str, Any]:
    k = "adverse_events"
    rec = f"{r.get('usubjid')} {r.get('pt')} {r.get('onset')}"
    u, _ = c.subject(k, rec, r.get("usubjid"))
    onset = _date(k, rec, "onset", r.get("onset"))
    c.after_consent(k, rec, "onset", u, onset)
    resolution = _date(k, rec, "resolution", r.get("resolution"), required=False)
    _order(k, rec, "onset", onset, "resolution", resolution)
    grade = _num(k, rec, "grade", r.get("grade"), 1, 5, integer=True)
    outcome = _code(k, rec, "outcome", r.get("outcome"), AE_OUTCOMES)
    if (grade == 5) != (outcome == "FATAL"):
        raise _fail(k, rec, "outcome", outcome, "FATAL exactly when the CTCAE grade is 5")
    return dict(usubjid=u, term=_text(k, rec, "term", r.get("term") or r.get("pt")), pt=_text(k, rec, "pt", r.get("pt")),
                soc=_text(k, rec, "soc", r.get("soc")), grade=grade, serious=_flag(k, rec, "serious", r.get("serious")),
                related=_flag(k, rec, "related", r.get("related")), onset=onset, resolution=resolution, outcome=outcome,
                action_taken=_code(k, rec, "action_taken", r.get("action_taken"), AE_ACTIONS),
                infusion_reaction=bool(_flag(k, rec, "infusion_reaction", r.get("infusion_reaction", False))))


def _v_death(r: Mapping[str, Any], c: _Context) -> dict[str, Any]:
    k = "deaths"
    rec = f"{r.get('usubjid')}"
    u, randdt = c.subject(k, rec, r.get("usubjid"), randomized=False)
    d = _date(k, rec, "date", r.get("date"))
    c.after_consent(k, rec, "date", u, d)
    _order(k, rec, "randomization date", randdt, "date", d)
    return dict(usubjid=u, date=d, cause=_text(k, rec, "cause", r.get("cause")))


def _v_disposition(r: Mapping[str, Any], c: _Context) -> dict[str, Any]:
    k = "dispositions"
    rec = f"{r.get('usubjid')} {r.get('event')}"
    u, randdt = c.subject(k, rec, r.get("usubjid"))
    event = _code(k, rec, "event", r.get("event"), DISPOSITION_EVENTS)
    d = _date(k, rec, "date", r.get("date"))
    _order(k, rec, "randomization date", randdt, "date", d)
    reason = _text(k, rec, "reason", r.get("reason"), required=event not in ("LAST_CONTACT", "FOLLOW_UP_CONTACT"))
    return dict(usubjid=u, event=event, date=d, reason=reason)


def _v_subsequent_therapy(r: Mapping[str, Any], c: _Context) -> dict[str, Any]:
    k = "subsequent_therapies"
    rec = f"{r.get('usubjid')} {r.get('therapy')}"
    u, randdt = c.subject(k, rec, r.get("usubjid"))
    start = _date(k, rec, "start_date", r.get("start_date"))
    _order(k, rec, "randomization date", randdt, "start_date", start)
    end = _date(k, rec, "end_date", r.get("end_date"), required=False)
    _order(k, rec, "start_date", start, "end_date", end)
    pd_ = _date(k, rec, "progression_date", r.get("progression_date"), required=False)
    _order(k, rec, "start_date", start, "progression_date", pd_)
    return dict(usubjid=u, therapy=_text(k, rec, "therapy", r.get("therapy")), start_date=start, end_date=end,
                progression_date=pd_)


def _v_pk_sample(r: Mapping[str, Any], c: _Context) -> dict[str, Any]:
    k = "pk_samples"
    rec = f"{r.get('usubjid')} {r.get('analyte')} cycle {r.get('cycle')} day {r.get('day')} {r.get('nominal_hours')} h"
    u, randdt = c.subject(k, rec, r.get("usubjid"))
    at = r.get("sampled_at")
    if isinstance(at, str):
        try:
            at = dt.datetime.fromisoformat(at)
        except ValueError:
            raise _fail(k, rec, "sampled_at", at, "a date and time (ISO 8601)") from None
    if not isinstance(at, dt.datetime):
        raise _fail(k, rec, "sampled_at", at, "a date and time (ISO 8601)")
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    _order(k, rec, "randomization date", randdt, "sampled_at", at.date())
    blq = bool(_flag(k, rec, "below_lloq", r.get("below_lloq", False)))
    conc = _num(k, rec, "concentration", r.get("concentration"), 0.0, required=not blq)
    return dict(usubjid=u, analyte=_text(k, rec, "analyte", r.get("analyte"), maxlen=40),
                cycle=_num(k, rec, "cycle", r.get("cycle"), 1, integer=True), day=_num(k, rec, "day", r.get("day"), 1, integer=True),
                nominal_hours=_num(k, rec, "nominal_hours", r.get("nominal_hours"), -24.0, 24.0 * 400),
                sampled_at=at, concentration=conc, unit=_text(k, rec, "unit", r.get("unit"), maxlen=20), below_lloq=blq)


def _v_ada(r: Mapping[str, Any], c: _Context) -> dict[str, Any]:
    k = "ada_samples"
    rec = f"{r.get('usubjid')} {r.get('visit')}"
    u, _ = c.subject(k, rec, r.get("usubjid"))
    result = _code(k, rec, "result", r.get("result"), ADA_RESULTS)
    titer = _num(k, rec, "titer", r.get("titer"), 1.0, required=False)
    if titer is not None and result != "POSITIVE":
        raise _fail(k, rec, "titer", titer, "empty unless the result is POSITIVE")
    d = _date(k, rec, "date", r.get("date"))
    c.after_consent(k, rec, "date", u, d)
    return dict(usubjid=u, visit=_text(k, rec, "visit", r.get("visit"), maxlen=40), date=d, result=result, titer=titer)


def _v_questionnaire(r: Mapping[str, Any], c: _Context) -> dict[str, Any]:
    k = "questionnaires"
    rec = f"{r.get('usubjid')} {r.get('instrument')} {r.get('visit')} {r.get('date')}"
    u, _ = c.subject(k, rec, r.get("usubjid"), randomized=False)
    inst = _code(k, rec, "instrument", r.get("instrument"), INSTRUMENTS)
    d = _date(k, rec, "date", r.get("date"))
    c.after_consent(k, rec, "date", u, d)
    return dict(usubjid=u, instrument=inst, visit=_text(k, rec, "visit", r.get("visit"), maxlen=40), date=d,
                answers=_answers(k, rec, inst, r.get("answers")))  # type: ignore[arg-type]


def _answers(k: str, rec: str, inst: str, raw: Any) -> dict[str, int | None]:
    """A questionnaire's answers (item code -> answer, None = not answered), each item checked against the
    instrument's codes and answer range; returned in the instrument's item order."""
    if not isinstance(raw, Mapping) or not raw:
        raise _fail(k, rec, "answers", raw, f"item code -> answer pairs of {inst} (at least one item)")
    given: dict[str, int | None] = {}
    for item, v in raw.items():
        code = str(item or "").strip().upper()
        if (inst, code) not in QS_ITEMS:
            raise _fail(k, rec, f"answers.{item}", item, f"an item code of {inst} ({', '.join(QS_ORDER[inst])})")
        if code in given:
            raise _fail(k, rec, f"answers.{item}", item, f"each item of {inst} once")
        lo, hi = QS_ITEMS[(inst, code)]
        given[code] = _num(k, rec, f"answers.{code}", v, lo, hi, required=False, integer=True)
    return {code: given[code] for code in QS_ORDER[inst] if code in given}


KINDS: dict[str, tuple[type[Base], Callable[[Mapping[str, Any], _Context], dict[str, Any]]]] = {
    "assessment": (DiseaseAssessment, _v_assessment),
    "lab": (LabResult, _v_lab),
    "administration": (DrugAdministration, _v_administration),
    "adverse_event": (AdverseEvent, _v_adverse_event),
    "death": (Death, _v_death),
    "disposition": (Disposition, _v_disposition),
    "subsequent_therapy": (SubsequentTherapy, _v_subsequent_therapy),
    "pk_sample": (PKSample, _v_pk_sample),
    "ada": (ADASample, _v_ada),
    "questionnaire": (Questionnaire, _v_questionnaire),
}


def _one(session: Session, kind: str, row: Mapping[str, Any], user: str, reason: str | None) -> Any:
    model, check = KINDS[kind]
    ctx = _Context(session)
    clean = check(row, ctx)
    obj = model(**clean)
    with acting(session, user, reason):
        session.add(obj)
        session.flush()
    _keep(session, [replace(f, record_id=obj.id if isinstance(getattr(obj, "id", None), int) else None) for f in ctx.findings])
    return obj


def record_many(session: Session, kind: str, rows: Iterable[Mapping[str, Any]] | Any, user: str,
                reason: str | None = None) -> int:
    """Check and insert many records of one kind (see KINDS) in one audited bulk insert; returns the count.

    `rows`: row mappings, or a pandas DataFrame with one column per field. The large kinds are checked column by
    column (ikema.conduct.batch: the same rules); a batch that path cannot pass takes the per-record validators,
    which refuse the first bad record naming it, its field and what was expected."""
    from ikema.conduct.batch import BY_KIND, Slow

    if kind not in KINDS:
        raise InputError(f"record_many: kind {kind!r} is not one of {', '.join(KINDS)}")
    model, check = KINDS[kind]
    frame = rows if hasattr(rows, "columns") and hasattr(rows, "to_numpy") else None
    if frame is None:
        rows = list(rows)
    n = len(frame) if frame is not None else len(rows)
    if not n:
        return 0
    cache: dict[str, list] = {}

    def col(name: str) -> list:
        if name not in cache:
            if frame is not None:
                cache[name] = frame[name].tolist() if name in frame.columns else [None] * n
            else:
                cache[name] = [r.get(name) for r in rows]
        return cache[name]

    ctx = _Context(session)
    ctx.load(str(u) for u in dict.fromkeys(col("usubjid")) if u)
    columns = None
    if kind in BY_KIND:
        try:
            columns, findings = BY_KIND[kind](col, n, ctx)
        except Slow:
            columns = None
    if columns is None:
        if frame is not None:  # native Python values, column by column (as the fast path reads them)
            names = list(frame.columns)
            rows = [dict(zip(names, vals)) for vals in zip(*(col(c) for c in names))]
        ctx.findings = []
        clean = [check(r, ctx) for r in rows]
        columns = {f: [r[f] for r in clean] for f in clean[0]}
        findings = ctx.findings
    with acting(session, user, reason):
        bulk_insert_columns(session, model, columns)
    _keep(session, findings)  # bulk rows: the finding names the record by its key, not its id
    return n


def check_rows(session: Session, kind: str, rows: Sequence[Mapping[str, Any]]) -> list[tuple[int, InputError]]:
    """Run the edit checks of `kind` on every row without storing anything: (row index, error) of each bad row."""
    if kind not in KINDS:
        raise InputError(f"check_rows: kind {kind!r} is not one of {', '.join(KINDS)}")
    _, check = KINDS[kind]
    ctx = _Context(session)
    ctx.load(str(r.get("usubjid")) for r in rows if r.get("usubjid"))
    bad: list[tuple[int, InputError]] = []
    for i, r in enumerate(rows):
        try:
            check(r, ctx)
        except InputError as exc:
            bad.append((i, exc))
    return bad


def correct(session: Session, kind: str, key: Any, user: str, reason: str, **changes: Any) -> Any:
    """Change fields of a stored record of `kind` through the same edit checks (reason required, audited).
    A questionnaire's `answers` change the items given and keep the others (one audit row: old and new answers)."""
    model, check = KINDS[kind]
    if not reason or not str(reason).strip():
        raise _fail(model.__tablename__, key, "reason", reason, "a reason for the change")
    obj = session.get(model, key)
    if obj is None:
        raise _fail(model.__tablename__, key, "key", key, "a stored record")
    current = {c.key: getattr(obj, c.key) for c in model.__mapper__.column_attrs}
    unknown = set(changes) - set(current)
    if unknown:
        raise _fail(model.__tablename__, key, sorted(unknown)[0], changes[sorted(unknown)[0]], "a field of the record")
    if model is Questionnaire and isinstance(changes.get("answers"), Mapping):
        changes["answers"] = {**current["answers"], **{str(i).strip().upper(): v for i, v in changes["answers"].items()}}
    ctx = _Context(session)
    clean = check({**current, **changes}, ctx)
    with acting(session, user, reason):
        for f, v in clean.items():
            if getattr(obj, f) != v:
                setattr(obj, f, v)
        session.flush()
    # only the changed fields raise new queries (an unchanged value was queried when it was entered)
    _keep(session, [replace(f, record_id=key if isinstance(key, int) else None) for f in ctx.findings
                    if f.field in changes or (f.field == "day" and "day" in changes)])
    return obj


# ---------------------------------------------------------------- one function per record kind
def _screening(session: Session, usubjid: str, candidate: Mapping[str, Any], result: Any) -> tuple:
    """A screening record checked: (usubjid, eligible, stratum label, criterion -> (verdict, reason), findings)."""
    k = "subjects"
    u = _text(k, usubjid, "usubjid", usubjid, maxlen=40)
    from ikema.conduct.edit_checks import check_screening

    _, findings = check_screening(candidate, protocol_of(session), u, k)  # the store holds no implausible value
    eligible = getattr(result, "eligible", None) if not isinstance(result, Mapping) else result.get("eligible")
    if not isinstance(eligible, bool):
        raise _fail(k, u, "eligible", eligible, "True or False from screening")
    verdicts = getattr(result, "verdicts", None) if not isinstance(result, Mapping) else result.get("verdicts")
    stratum = getattr(result, "stratum", None) if not isinstance(result, Mapping) else result.get("stratum")
    rows: dict[str, tuple[str, str]] = {}
    for v in verdicts or []:
        if isinstance(v, Mapping):
            cid, verdict, why = v.get("criterion") or v.get("id") or v.get("criterion_id"), v.get("verdict"), v.get("reason")
        elif isinstance(v, (tuple, list)):
            cid, verdict, why = v[0], v[1], v[2]
        else:
            cid = getattr(v, "criterion", None) or getattr(v, "id", None) or getattr(v, "criterion_id", None)
            verdict, why = getattr(v, "verdict", None), getattr(v, "reason", None)
        cid = _text(k, u, "criterion", cid, maxlen=40)
        verdict = str(getattr(verdict, "value", verdict)).lower()
        if verdict not in VERDICTS:
            raise _fail(k, u, f"verdict of {cid}", verdict, " | ".join(VERDICTS))
        rows[cid] = (verdict, str(why or ""))  # type: ignore[index]
    if not rows:
        raise _fail(k, u, "verdicts", verdicts, "at least one criterion verdict")
    if eligible and any(v != "pass" for v, _ in rows.values()):
        raise _fail(k, u, "eligible", eligible, "False when any criterion did not pass")
    from ikema.conduct.randomization import stratum_label

    label = stratum_label(stratum) if stratum else None
    if eligible and not label:
        raise _fail(k, u, "stratum", stratum, "the stratum of an eligible subject")
    return u, eligible, label, rows, findings


def record_screening(session: Session, usubjid: str, candidate: Mapping[str, Any], result: Any, user: str,
                     site_id: str | None = None, reason: str | None = None, when: dt.datetime | None = None) -> Subject:
    """Store a subject's screening record and the per-criterion verdicts (a rescreen updates them, with a reason)."""
    k = "subjects"
    u, eligible, label, rows, findings = _screening(session, usubjid, candidate, result)
    now = when or utcnow()
    with acting(session, user, reason):
        subject = session.get(Subject, u)
        if subject is None:
            subject = Subject(usubjid=u, site_id=site_id, status="SCREENED" if eligible else "SCREEN_FAILED",
                              screening=_jsonable(candidate), screened_at=now, eligible=eligible, stratum=label)
            session.add(subject)
            session.flush()  # the subject row first: screening_results refer to it
            session.add_all(ScreeningResult(usubjid=u, criterion_id=c, verdict=v, reason=w) for c, (v, w) in rows.items())
        else:
            if session.get(Randomization, u) is not None:
                raise _fail(k, u, "usubjid", u, "a subject not yet randomized (screening is closed after randomization)")
            subject.screening, subject.screened_at, subject.eligible, subject.stratum = _jsonable(candidate), now, eligible, label
            subject.status = "SCREENED" if eligible else "SCREEN_FAILED"
            old = {r.criterion_id: r for r in session.scalars(select(ScreeningResult).where(ScreeningResult.usubjid == u))}
            for c, (v, w) in rows.items():
                if c in old:
                    old[c].verdict, old[c].reason = v, w
                else:
                    session.add(ScreeningResult(usubjid=u, criterion_id=c, verdict=v, reason=w))
        session.flush()
    _keep(session, findings)
    return subject


def record_screenings(session: Session, screenings: Sequence[Mapping[str, Any]], user: str,
                      reason: str | None = None) -> int:
    """Store the screening records of many new subjects, in order, as record_screening would one by one (the same
    checks, rows and audit rows), in two audited bulk inserts: subjects, then their verdicts. Each screening gives
    usubjid, candidate, result and optionally site_id and when. All or nothing: the first bad screening is refused
    naming it; a subject already in the store (a rescreen) is refused (record_screening updates it). Returns the count."""
    k = "subjects"
    checked = [(_screening(session, s["usubjid"], s["candidate"], s["result"]), s) for s in screenings]
    ids = [c[0] for c, _ in checked]
    if len(set(ids)) != len(ids):
        dup = next(u for i, u in enumerate(ids) if u in ids[:i])
        raise _fail(k, dup, "usubjid", dup, "each subject once in a batch of screenings")
    for chunk in (ids[i:i + 900] for i in range(0, len(ids), 900)):
        known = session.scalars(select(Subject.usubjid).where(Subject.usubjid.in_(chunk))).first()
        if known is not None:
            raise _fail(k, known, "usubjid", known, "a subject not yet screened (record_screening rescreens)")
    subjects: dict[str, list] = {f: [] for f in ("usubjid", "site_id", "status", "screening", "screened_at", "eligible", "stratum")}
    results: dict[str, list] = {f: [] for f in ("usubjid", "criterion_id", "verdict", "reason")}
    findings: list[Finding] = []
    for (u, eligible, label, rows, found), s in checked:
        for f, v in zip(subjects, (u, s.get("site_id"), "SCREENED" if eligible else "SCREEN_FAILED",
                                   _jsonable(s["candidate"]), s.get("when") or utcnow(), eligible, label)):
            subjects[f].append(v)
        for c, (v, w) in rows.items():
            for f, x in zip(results, (u, c, v, w)):
                results[f].append(x)
        findings.extend(found)
    with acting(session, user, reason):
        bulk_insert_columns(session, Subject, subjects)
        bulk_insert_columns(session, ScreeningResult, results)
    _keep(session, findings)
    return len(checked)


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (dt.date, dt.datetime)):
        return x.isoformat()
    if hasattr(x, "item") and callable(x.item):  # numpy scalar
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def record_assessment(session: Session, usubjid: str, date: dt.date | str, param: str, user: str, *,
                      aval: float | None = None, avalc: str | None = None, unit: str | None = None,
                      visit: str | None = None, study_day: int | None = None, reason: str | None = None) -> DiseaseAssessment:
    """Record one disease-assessment result (PARAM with AVAL and unit, or AVALC)."""
    return _one(session, "assessment", dict(usubjid=usubjid, date=date, param=param, aval=aval, avalc=avalc, unit=unit,
                                             visit=visit, study_day=study_day), user, reason)


def record_lab(session: Session, usubjid: str, date: dt.date | str, test: str, value: float, unit: str, user: str, *,
               visit: str | None = None, low: float | None = None, high: float | None = None,
               reason: str | None = None) -> LabResult:
    """Record one laboratory result (SDTM LBTESTCD, value, unit, optional normal range)."""
    return _one(session, "lab", dict(usubjid=usubjid, date=date, test=test, value=value, unit=unit, visit=visit,
                                      low=low, high=high), user, reason)


def record_administration(session: Session, usubjid: str, cycle: int, day: int, date: dt.date | str, drug: str,
                          route: str, dose_mg: float, user: str, *, planned_dose_mg: float | None = None,
                          infusion_interrupted: bool | None = None, adjustment_reason: str | None = None,
                          reason: str | None = None) -> DrugAdministration:
    """Record one administration of a study drug (dose in mg)."""
    return _one(session, "administration", dict(usubjid=usubjid, cycle=cycle, day=day, date=date, drug=drug, route=route,
                                                 dose_mg=dose_mg, planned_dose_mg=planned_dose_mg,
                                                 infusion_interrupted=infusion_interrupted,
                                                 adjustment_reason=adjustment_reason), user, reason)


def record_adverse_event(session: Session, usubjid: str, pt: str, soc: str, grade: int, serious: bool, related: bool,
                         onset: dt.date | str, outcome: str, action_taken: str, user: str, *, term: str | None = None,
                         resolution: dt.date | str | None = None, infusion_reaction: bool = False,
                         reason: str | None = None) -> AdverseEvent:
    """Record one adverse event (MedDRA PT/SOC, CTCAE grade, seriousness, relatedness, outcome, action taken)."""
    return _one(session, "adverse_event", dict(usubjid=usubjid, term=term, pt=pt, soc=soc, grade=grade, serious=serious,
                                                related=related, onset=onset, resolution=resolution, outcome=outcome,
                                                action_taken=action_taken, infusion_reaction=infusion_reaction), user, reason)


def record_death(session: Session, usubjid: str, date: dt.date | str, cause: str, user: str, *,
                 reason: str | None = None) -> Death:
    """Record a subject's death (once per subject)."""
    if session.get(Death, str(usubjid)) is not None:
        raise _fail("deaths", usubjid, "usubjid", usubjid, "a subject whose death is not yet recorded")
    return _one(session, "death", dict(usubjid=usubjid, date=date, cause=cause), user, reason)


def record_disposition(session: Session, usubjid: str, event: str, date: dt.date | str, user: str, *,
                       disposition_reason: str | None = None, reason: str | None = None) -> Disposition:
    """Record end of treatment, withdrawal or last contact (with its reason, required except for last contact)."""
    return _one(session, "disposition", dict(usubjid=usubjid, event=event, date=date, reason=disposition_reason), user, reason)


def record_subsequent_therapy(session: Session, usubjid: str, therapy: str, start_date: dt.date | str, user: str, *,
                              end_date: dt.date | str | None = None, progression_date: dt.date | str | None = None,
                              reason: str | None = None) -> SubsequentTherapy:
    """Record a further anti-myeloma therapy (and progression on it, for PFS2)."""
    return _one(session, "subsequent_therapy", dict(usubjid=usubjid, therapy=therapy, start_date=start_date,
                                                     end_date=end_date, progression_date=progression_date), user, reason)


def record_pk_sample(session: Session, usubjid: str, analyte: str, cycle: int, day: int, nominal_hours: float,
                     sampled_at: dt.datetime | str, concentration: float | None, unit: str, user: str, *,
                     below_lloq: bool = False, reason: str | None = None) -> PKSample:
    """Record one PK sample and its concentration (empty when below the LLOQ)."""
    return _one(session, "pk_sample", dict(usubjid=usubjid, analyte=analyte, cycle=cycle, day=day,
                                            nominal_hours=nominal_hours, sampled_at=sampled_at,
                                            concentration=concentration, unit=unit, below_lloq=below_lloq), user, reason)


def record_ada(session: Session, usubjid: str, visit: str, date: dt.date | str, result: str, user: str, *,
               titer: float | None = None, reason: str | None = None) -> ADASample:
    """Record one anti-drug-antibody sample (POSITIVE with titre, NEGATIVE, INCONCLUSIVE)."""
    return _one(session, "ada", dict(usubjid=usubjid, visit=visit, date=date, result=result, titer=titer), user, reason)


def record_questionnaire(session: Session, usubjid: str, instrument: str, visit: str, date: dt.date | str,
                         answers: Mapping[str, int | None], user: str, *, reason: str | None = None) -> Questionnaire:
    """Record one completed questionnaire as one record: item code -> answer (None = not answered)."""
    return _one(session, "questionnaire", dict(usubjid=usubjid, instrument=instrument, visit=visit, date=date,
                                                answers=dict(answers)), user, reason)
