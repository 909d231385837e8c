"""The dosing calendar of an arm for a patient's body size: every administration (cycle, day, drug, route, mg).

Doses: mg/kg x actual weight; mg/m2 x BSA (the protocol's `treatment.bsa_method`, Mosteller by default), with the
drug's `bsa_cap_m2` (carfilzomib: 2.2 m2, Kyprolis label); flat doses as written. BSA is not rounded; each mg dose
is rounded half-up to `treatment.dose_rounding_mg` (0.1 mg in IKEMA, an assumption stated in the protocol file).
A drug with `route_with_infusion` takes that route on days another drug of the arm is given by it (dexamethasone IV
on infusion days), its `route` otherwise.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ikema.errors import InputError
from ikema.protocol.models import Protocol


def bsa_m2(weight_kg: float, height_cm: float, method: str = "mosteller") -> float:
    """Body surface area in m2 by Mosteller (sqrt(h*w/3600)) or DuBois."""
    if method == "mosteller":
        return math.sqrt(height_cm * weight_kg / 3600.0)
    if method == "dubois":
        return 0.007184 * weight_kg ** 0.425 * height_cm ** 0.725
    raise InputError(f"calendar: record -, field bsa_method: got {method!r}, expected mosteller | dubois")


def _round(mg: float, step: float) -> float:
    q = Decimal(str(step))
    return float((Decimal(repr(mg)) / q).quantize(Decimal(1), rounding=ROUND_HALF_UP) * q)


def _positive(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not math.isfinite(v) or v <= 0:
        raise InputError(f"calendar: record -, field {name}: got {value!r}, expected a positive number")
    return v


def _mg(ds: Any, drug: Any, weight_kg: float, bsa: float) -> float:
    if ds.basis == "mg/kg":
        return ds.dose * weight_kg
    if ds.basis == "mg/m2":
        return ds.dose * (min(bsa, drug.bsa_cap_m2) if drug.bsa_cap_m2 is not None else bsa)
    return ds.dose


def planned_dose_mg(protocol: Protocol, arm: str, weight_kg: float, height_cm: float, drug: str, cycle: int,
                    day: int) -> float | None:
    """The calendar's mg dose of `drug` on (cycle, day) for this body size, or None when the arm does not give the
    drug that day (the same computation as dosing_calendar, for one administration)."""
    w = _positive("weight_kg", weight_kg)
    h = _positive("height_cm", height_cm)
    for d in protocol.arm(arm).drugs:
        if d.name != drug:
            continue
        for ds in d.dosing:
            if ds.covers(cycle) and day in ds.days:
                return _round(_mg(ds, d, w, bsa_m2(w, h, protocol.treatment.bsa_method)), protocol.treatment.dose_rounding_mg)
    return None


def schedule(protocol: Protocol, arm: str, cycles: int) -> list[tuple[int, int, Any, Any, str]]:
    """Every administration of `arm` in cycles 1..`cycles` apart from its mg dose, in (cycle, day, drug) order:
    (cycle, day, drug, dosing step, route). Nothing here depends on the patient's body size."""
    if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 1:
        raise InputError(f"calendar: record -, field cycles: got {cycles!r}, expected an integer >= 1")
    codes = [a.code for a in protocol.arms]
    if arm not in codes:
        raise InputError(f"calendar: record -, field arm: got {arm!r}, expected one of {', '.join(codes)}")
    given: list[tuple[int, int, Any, Any]] = []  # (cycle, day, drug, dosing)
    for cycle in range(1, cycles + 1):
        for drug in protocol.arm(arm).drugs:
            for ds in drug.dosing:
                if ds.covers(cycle):
                    given.extend((cycle, day, drug, ds) for day in ds.days)
    routes_on: dict[tuple[int, int], set[str]] = {}
    for cycle, day, drug, _ in given:
        if drug.route_with_infusion is None:
            routes_on.setdefault((cycle, day), set()).add(drug.route)
    out = []
    for cycle, day, drug, ds in given:
        route = drug.route
        if drug.route_with_infusion is not None and drug.route_with_infusion in routes_on.get((cycle, day), set()):
            route = drug.route_with_infusion
        out.append((cycle, day, drug, ds, route))
    out.sort(key=lambda r: (r[0], r[1], r[2].name))
    return out


def step_doses_mg(protocol: Protocol, steps: list[tuple[Any, Any]], weight_kg: float, height_cm: float) -> list[float]:
    """The mg dose of each (drug, dosing step) for this body size, rounded as the calendar rounds it."""
    w = _positive("weight_kg", weight_kg)
    h = _positive("height_cm", height_cm)
    bsa = bsa_m2(w, h, protocol.treatment.bsa_method)
    return [_round(_mg(ds, drug, w, bsa), protocol.treatment.dose_rounding_mg) for drug, ds in steps]


def dosing_calendar(protocol: Protocol, arm: str, weight_kg: float, height_cm: float, cycles: int) -> list[dict[str, Any]]:
    """Every administration of `arm` in cycles 1..`cycles`: dicts with cycle, day, study_day, drug, route, dose, basis, dose_mg."""
    _positive("weight_kg", weight_kg)
    _positive("height_cm", height_cm)
    given = schedule(protocol, arm, cycles)
    steps = list({id(ds): (drug, ds) for _, _, drug, ds, _ in given}.values())  # the dose depends on the step only
    mg = dict(zip((id(ds) for _, ds in steps), step_doses_mg(protocol, steps, weight_kg, height_cm)))
    return [{"cycle": cycle, "day": day, "study_day": (cycle - 1) * protocol.cycle_length_days + day, "drug": drug.name,
             "route": route, "dose": ds.dose, "basis": ds.basis, "dose_mg": mg[id(ds)]}
            for cycle, day, drug, ds, route in given]
