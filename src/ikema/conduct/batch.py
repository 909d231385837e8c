"""Column-wise edit checks of a batch (the bulk path of ikema.conduct.capture.record_many for the large record kinds).

Each check here applies the rule of the per-record validator in ikema.conduct.capture to a whole column: text,
code and date fields through the same scalar function once per distinct value, numbers and ranges with numpy,
the protocol's `[edit_checks]` ranges (hard: refused; soft: a Finding, in record order) per range key. A batch any
check refuses, or holds a value of a type this path does not read (numbers as text, say), raises `Slow`: the caller
then runs the per-record validators over the batch, which refuse the first bad record with the usual error naming
record, field, value and what was expected. So both paths accept, store and refuse exactly the same records.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from ikema.conduct import capture as C
from ikema.conduct.edit_checks import MAX_INT, Finding, _span
from ikema.errors import InputError
from ikema.store.columns import per_distinct

Column = Callable[[str], list]  # field name -> the batch's raw values of that field (None where absent)


class Slow(Exception):
    """The batch needs the per-record validators (a value refused, or of a type this path does not read)."""


def _each(values: Sequence[Any], fn: Callable[[Any], Any]) -> list:
    """fn(value) once per distinct value: the per-record rule itself; a refusal sends the batch to the slow path."""
    try:
        return per_distinct(list(values), fn)
    except (InputError, TypeError):  # TypeError: a value the rule cannot read (the per-record path says why)
        raise Slow() from None


def _numbers(values: Sequence[Any], lo: float = -math.inf, hi: float = math.inf, required: bool = True,
             integer: bool = False) -> tuple[list, np.ndarray, np.ndarray]:
    """capture._num over a column: (clean values, the values as float with NaN where missing, missing mask)."""
    classes = set(map(type, values))
    if not classes <= {int, float, type(None)}:
        raise Slow()  # text, booleans, numpy scalars, "": the per-record reader decides
    if type(None) in classes:
        if required:
            raise Slow()
        missing = np.fromiter((v is None for v in values), bool, len(values))
    else:
        missing = np.zeros(len(values), bool)
    try:
        x = np.array(values, dtype=float)  # None -> NaN (missing); a NaN given stays refused below
    except OverflowError:
        raise Slow() from None
    y = x[~missing]
    if not np.isfinite(y).all() or not ((lo <= y) & (y <= hi)).all():
        raise Slow()
    if integer:
        if (y != np.trunc(y)).any() or (np.abs(y) > MAX_INT).any():
            raise Slow()
        ints = x.copy()
        ints[missing] = 0
        clean = ints.astype(np.int64).tolist()
    else:
        clean = x.tolist()
    if missing.any():
        clean = [None if m else v for v, m in zip(clean, missing)]
    return clean, x, missing


def _subjects(k: str, values: Sequence[Any], c: C._Context, randomized: bool) -> tuple[list, list]:
    """c.subject over a column: (usubjid, randomization date) per record."""
    both = _each(values, lambda v: c.subject(k, "-", v, randomized))
    return [b[0] for b in both], [b[1] for b in both]


def _after_consent(users: list, dates: list, c: C._Context) -> None:
    consent = c.consent
    for u, d in zip(users, dates):
        first = consent.get(u)
        if d is not None and first is not None and d < first:
            raise Slow()


def _not_before(firsts: list, dates: list) -> None:
    """capture._order: each date on or after its first date (None skips)."""
    for a, b in zip(firsts, dates):
        if a is not None and b is not None and b < a:
            raise Slow()


def _coded(values: Sequence[Any]) -> tuple[np.ndarray, list]:
    """Each value's index into the distinct values (in order of first appearance, each the first row's object), by
    pandas codes (hashing in C); values pandas takes for missing (None, NaN) go by a dict, as equal dict keys."""
    codes, distinct = pd.factorize(np.fromiter(values, dtype=object, count=len(values)))
    if (codes < 0).any():
        index: dict[Any, int] = {}
        return np.fromiter((index.setdefault(v, len(index)) for v in values), np.intp, len(values)), list(index)
    return codes, list(distinct)


def _groups(keys: Sequence[Any]) -> dict[Any, np.ndarray]:
    """Row indices (ascending) per distinct key, the keys in order of first appearance (as a dict of row lists)."""
    codes, distinct = _coded(keys)
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes, minlength=len(distinct))).tolist()
    return {key: order[a:b] for key, a, b in zip(distinct, [0, *bounds[:-1]], bounds)}


def _range(found: list, order: int, k: str, fld: str, x: np.ndarray, idx: np.ndarray, rng: Any, users: list,
           rec: Callable[[int], str]) -> None:
    """edit_checks.in_range on the rows `idx` (one range): outside hard -> Slow; outside soft -> a Finding."""
    if rng is None or not len(idx):
        return
    v = x[idx]
    lo, hi = rng.hard
    if not ((lo <= v) & (v <= hi)).all():
        raise Slow()
    if rng.soft is not None:
        slo, shi = rng.soft
        for i in idx[~((slo <= v) & (v <= shi))]:
            found.append((int(i), order, Finding(k, rec(int(i)), fld, float(x[i]), f"range {_span(slo, shi, rng.unit)}",
                                                 users[i])))


def _findings(found: list) -> list[Finding]:
    """Findings in the order the per-record validators make them: by record, then by check."""
    return [f for _, _, f in sorted(found, key=lambda t: (t[0], t[1]))]


def assessments(col: Column, n: int, c: C._Context) -> tuple[dict[str, list], list[Finding]]:
    k = "disease_assessments"
    users, randdt = _subjects(k, col("usubjid"), c, True)
    params = _each(col("param"), lambda v: C._code(k, "-", "param", v, tuple(C.NUMERIC_PARAMS) + tuple(C.CODED_PARAMS)))
    dates = _each(col("date"), lambda v: C._date(k, "-", "date", v))
    _after_consent(users, dates, c)
    raw_aval, raw_avalc, raw_unit = col("aval"), col("avalc"), col("unit")
    aval: list = [None] * n
    avalc: list = [None] * n
    unit: list = [None] * n
    found: list = []
    raw_u, raw_d, raw_p = col("usubjid"), col("date"), col("param")
    rec = lambda i: f"{raw_u[i]} {raw_d[i]} {raw_p[i]}"  # noqa: E731  (the per-record validator's record name)
    for param, idx in _groups(params).items():
        if param in C.NUMERIC_PARAMS:
            want, lo, hi = C.NUMERIC_PARAMS[param]
            vals, x, _ = _numbers([raw_aval[i] for i in idx], lo, hi)
            if any(raw_avalc[i] not in (None, "") for i in idx):
                raise Slow()
            _each([raw_unit[i] for i in idx], lambda u, want=want: _unit(u, want))
            full = np.full(n, np.nan)
            full[idx] = x
            checks = c.checks
            rng = checks.assessments.get(param) if checks is not None else None
            _range(found, 0, k, "aval", full, idx, rng, users, rec)
            for i, v in zip(idx, vals):
                aval[i], unit[i] = v, want
        else:
            allowed = C.CODED_PARAMS[param]
            codes = _each([raw_avalc[i] for i in idx], lambda v: C._code(k, "-", "avalc", v, allowed))
            if any(raw_aval[i] not in (None, "") for i in idx):
                raise Slow()
            for i, v in zip(idx, codes):
                avalc[i] = v
    raw_day = col("study_day")
    given = np.fromiter((v is not None for v in raw_day), bool, n)
    day: list = [None] * n
    if given.any():
        idx = np.flatnonzero(given)
        vals, _, _ = _numbers([raw_day[i] for i in idx], integer=True)
        if 0 in vals:
            raise Slow()
        for i, v in zip(idx, vals):
            day[i] = v
    for i in np.flatnonzero(~given):
        if randdt[i] is not None:
            delta = (dates[i] - randdt[i]).days
            day[i] = delta + 1 if delta >= 0 else delta
    visits = _each(col("visit"), lambda v: C._text(k, "-", "visit", v, required=False))
    return dict(usubjid=users, visit=visits, date=dates, study_day=day, param=params, aval=aval, avalc=avalc,
                unit=unit), _findings(found)


def _unit(u: Any, want: str) -> None:
    if u is None or u == "" or str(u).replace(" ", "") != want.replace(" ", ""):
        raise Slow()


def _lab_test(k: str, v: Any) -> str:
    test = C._text(k, "-", "test", v, maxlen=8)
    assert test is not None
    if not test.replace("_", "").isalnum() or test.upper() != test:
        raise C._fail(k, "-", "test", test, "an upper-case SDTM LBTESTCD (letters and digits, at most 8)")
    return test


def labs(col: Column, n: int, c: C._Context) -> tuple[dict[str, list], list[Finding]]:
    k = "lab_results"
    users, _ = _subjects(k, col("usubjid"), c, False)
    dates = _each(col("date"), lambda v: C._date(k, "-", "date", v))
    _after_consent(users, dates, c)
    tests = _each(col("test"), lambda v: _lab_test(k, v))
    low, xl, ml = _numbers(col("low"), required=False)
    high, xh, mh = _numbers(col("high"), required=False)
    if (~ml & ~mh & (xh < xl)).any():
        raise Slow()
    value, x, _ = _numbers(col("value"), 0.0)
    units = _each(col("unit"), lambda v: C._text(k, "-", "unit", v, maxlen=20))
    checks = c.checks
    found: list = []
    raw_u, raw_d, raw_t = col("usubjid"), col("date"), col("test")
    rec = lambda i: f"{raw_u[i]} {raw_d[i]} {raw_t[i]}"  # noqa: E731
    for test, idx in _groups(tests).items():
        known = checks.labs.get(test) if checks is not None else None
        if known is not None and any(units[i] != known.unit for i in idx):
            raise Slow()
        _range(found, 0, k, "value", x, idx, known, users, rec)
    visits = _each(col("visit"), lambda v: C._text(k, "-", "visit", v, required=False))
    return dict(usubjid=users, visit=visits, date=dates, test=tests, value=value, unit=units, low=low,
                high=high), _findings(found)


def administrations(col: Column, n: int, c: C._Context) -> tuple[dict[str, list], list[Finding]]:
    k = "drug_administrations"
    users, randdt = _subjects(k, col("usubjid"), c, True)
    dates = _each(col("date"), lambda v: C._date(k, "-", "date", v))
    _not_before(randdt, dates)
    cycle_days = getattr(c.protocol, "cycle_length_days", None) or math.inf
    cycle, _, _ = _numbers(col("cycle"), 1, integer=True)
    day, _, _ = _numbers(col("day"), 1, cycle_days, integer=True)
    drugs = _each(col("drug"), lambda v: C._text(k, "-", "drug", v, maxlen=40))
    dose, x, _ = _numbers(col("dose_mg"), 0.0)
    adjustment = _each(col("adjustment_reason"), lambda v: C._text(k, "-", "adjustment_reason", v, required=False))
    found: list = []
    checks = c.checks
    if checks is not None:
        raw = [col(f) for f in ("usubjid", "cycle", "day", "drug")]
        rec = lambda i: f"{raw[0][i]} cycle {raw[1][i]} day {raw[2][i]} {raw[3][i]}"  # noqa: E731
        codes = {a.code for a in c.protocol.arms}
        # per distinct subject, then taken per row: its arm and body size, whether its arm is judged here
        who, subjects = _coded(users)
        bodies = [c.body.get(u, (None, None, None)) for u in subjects]
        judged = np.array([b[0] is None or b[0] in codes for b in bodies], bool)[who]  # else another protocol's arm
        arm_of, arms = _coded([b[0] for b in bodies])
        arm_row = arm_of[who]
        drug_row, names = _coded(drugs)
        pairs = np.unique((arm_row * len(names) + drug_row)[judged]).tolist()
        arm_drugs: dict[str, list[str]] = {}
        for pair in pairs:
            arm, drug = arms[pair // len(names)], names[pair % len(names)]
            if arm is not None:
                given = arm_drugs.setdefault(arm, [d.name for d in c.protocol.arm(arm).drugs])
                if drug not in given:
                    raise Slow()
        for drug, idx in _groups(drugs).items():
            _range(found, 0, k, "dose_mg", x, idx[judged[idx]], checks.doses.get(str(drug)), users, rec)
        try:
            _calendar_doses(found, k, c.protocol, checks.dose_tolerance, bodies, who, judged, arm_row, drug_row, cycle,
                            day, drugs, dose, adjustment, users, rec)
        except InputError:
            raise Slow() from None
    routes = _each(col("route"), lambda v: C._text(k, "-", "route", v, maxlen=40))
    planned_mg, _, _ = _numbers(col("planned_dose_mg"), 0.0, required=False)
    interrupted = _each(col("infusion_interrupted"), lambda v: C._flag(k, "-", "infusion_interrupted", v, required=False))
    return dict(usubjid=users, cycle=cycle, day=day, date=dates, drug=drugs, route=routes, dose_mg=dose,
                planned_dose_mg=planned_mg, infusion_interrupted=interrupted, adjustment_reason=adjustment), _findings(found)


def _step(protocol: Any, arm: str, drug: str, cycle: int, day: int) -> tuple | None:
    """(drug index, dosing-step index, cycle, day) of the first dosing step of `arm` that gives `drug` on (cycle,
    day), as calendar.planned_dose_mg finds it; None when no step does."""
    for a, d in enumerate(protocol.arm(arm).drugs):
        if d.name != drug:
            continue
        for j, ds in enumerate(d.dosing):
            if ds.covers(cycle) and day in ds.days:
                return (a, j, cycle, day)
    return None


def _calendar_doses(found: list, k: str, protocol: Any, tol: float, bodies: list, who: np.ndarray, judged: np.ndarray,
                    arm_row: np.ndarray, drug_row: np.ndarray, cycle: list, day: list, drugs: list, dose: list,
                    adjustment: list, users: list, rec: Callable[[int], str]) -> None:
    """The calendar checks of the administrations of judged subjects with arm and body size: a day off the arm's
    calendar for the drug, or a dose off the calendar's by more than `tol` (a lower one without its adjustment
    reason), each a Finding. The dosing step once per distinct (arm, drug, cycle, day) and the calendar's dose once
    per subject and step (the dose depends on (cycle, day) only through the step); compared with numpy."""
    from ikema.conduct.calendar import planned_dose_mg

    body = np.array([b[0] is not None and b[1] is not None and b[2] is not None for b in bodies], bool)
    rows = np.flatnonzero(judged & body[who])
    if not len(rows):
        return
    cyc, dy = np.asarray(cycle, dtype=np.int64)[rows], np.asarray(day, dtype=np.int64)[rows]
    # one code per distinct (arm, drug, cycle, day), two columns combined at a time (no int64 overflow)
    where, _ = pd.factorize((arm_row[rows] * (drug_row.max() + 1) + drug_row[rows]) * (cyc.max() + 1) + cyc)
    _, first, where = np.unique(where * (dy.max() + 1) + dy, return_index=True, return_inverse=True)
    ids: dict[tuple, int] = {}  # (drug index, dosing-step index) in the subject's arm -> step id
    at_step: list[tuple] = []  # step id -> (drug index, step index, a (cycle, day) it gives the drug on)
    step_of = np.empty(len(first), dtype=np.intp)  # per (arm, drug, cycle, day): its step id, -1 for none
    for j, i in enumerate(rows[first].tolist()):
        step = _step(protocol, bodies[who[i]][0], str(drugs[i]), cycle[i], day[i])
        if step is None:
            step_of[j] = -1
            continue
        if step[:2] not in ids:
            ids[step[:2]] = len(at_step)
            at_step.append(step)
        step_of[j] = ids[step[:2]]
    sid = step_of[where]
    on = sid >= 0
    planned = np.full(len(rows), np.nan)
    doses: dict[tuple, float | None] = {}  # (arm, weight, height, drug, step or cycle and day) -> the calendar's dose
    if on.any():  # the dose once per distinct (subject, step)
        pairs, at = np.unique(who[rows[on]].astype(np.int64) * len(at_step) + sid[on], return_inverse=True)
        values = []
        for p in pairs.tolist():
            (arm, weight, height), (a, j, cy, d) = bodies[p // len(at_step)], at_step[p % len(at_step)]
            drug = protocol.arm(arm).drugs[a].name
            key = (arm, weight, height, drug, a, j)
            if key not in doses:
                doses[key] = planned_dose_mg(protocol, arm, weight, height, drug, cy, d)
            values.append(doses[key])
        planned[on] = np.array(values, dtype=float)[at]
    for r in np.flatnonzero(~on).tolist():  # no dosing step gives the drug that day: the calendar itself says so
        i = int(rows[r])
        arm, weight, height = bodies[who[i]]
        key = (arm, weight, height, drugs[i], cycle[i], day[i])
        if key not in doses:
            doses[key] = planned_dose_mg(protocol, arm, weight, height, str(drugs[i]), cycle[i], day[i])
        if doses[key] is None:
            found.append((i, 1, Finding(k, rec(i), "day", day[i], f"a dosing day of {drugs[i]} in cycle {cycle[i]} "
                                        f"of the {arm} calendar", users[i])))
        else:
            planned[r] = doses[key]
    x = np.asarray(dose, dtype=float)[rows]
    reason = np.array([bool(adjustment[i]) for i in rows.tolist()], bool)
    off = ~np.isnan(planned) & (np.abs(x - planned) > tol * planned) & ~((x < planned) & reason)
    for r in np.flatnonzero(off).tolist():
        i = int(rows[r])
        found.append((i, 1, Finding(k, rec(i), "dose_mg", dose[i], f"dose within {tol:.0%} of the calendar's "
                                    f"{float(planned[r]):g} mg (a lower dose needs its adjustment reason)", users[i])))


def questionnaires(col: Column, n: int, c: C._Context) -> tuple[dict[str, list], list[Finding]]:
    k = "questionnaires"
    users, _ = _subjects(k, col("usubjid"), c, False)
    inst = _each(col("instrument"), lambda v: C._code(k, "-", "instrument", v, C.INSTRUMENTS))
    dates = _each(col("date"), lambda v: C._date(k, "-", "date", v))
    _after_consent(users, dates, c)
    visits = _each(col("visit"), lambda v: C._text(k, "-", "visit", v, maxlen=40))
    raw = col("answers")
    if not all(a.__class__ is dict for a in raw):
        raise Slow()
    # questionnaires of one instrument that give the same items (in its order): one integer matrix
    for (instrument, items), idx in _groups([(i, tuple(a)) for i, a in zip(inst, raw)]).items():
        order = C.QS_ORDER[instrument]
        if not items or items != tuple(code for code in order if code in items) or len(set(items)) != len(items):
            raise Slow()  # an unknown or repeated code, or another order: the per-record check says which
        values = list(chain.from_iterable(map(dict.values, map(raw.__getitem__, idx.tolist()))))
        if not set(map(type, values)) <= {int}:
            raise Slow()  # unanswered items, text, floats, booleans: read one by one
        try:
            x = np.array(values, dtype=np.int64).reshape(len(idx), len(items))
        except OverflowError:
            raise Slow() from None
        if ((x < -MAX_INT) | (x > MAX_INT)).any():
            raise Slow()  # huge numbers: the per-record check says which
        lo, hi = zip(*(C.QS_ITEMS[(instrument, code)] for code in items))
        if not ((np.asarray(lo) <= x) & (x <= np.asarray(hi))).all():
            raise Slow()
    return dict(usubjid=users, instrument=inst, visit=visits, date=dates, answers=[dict(a) for a in raw]), []


BY_KIND: dict[str, Callable[[Column, int, C._Context], tuple[dict[str, list], list[Finding]]]] = {
    "assessment": assessments, "lab": labs, "administration": administrations, "questionnaire": questionnaires,
}
