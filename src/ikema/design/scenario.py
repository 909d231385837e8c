"""A simulation scenario: who is enrolled, how they are randomized, when events and dropouts happen, when the looks
are and where the efficacy boundary lies. `scenario_from_protocol` fills every default from the protocol file."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np

from ikema.errors import InputError
from ikema.stats.groupseq import check_information_rates, efficacy_boundaries


class DesignError(InputError):
    """A design input (rates, alpha, spending, hazards, counts) breaks its contract."""


def monthly_dropout_rate(annual_dropout: float) -> float:
    """Exponential dropout hazard per month from the share lost in a year: -log(1 - p) / 12."""
    p = float(annual_dropout)
    if not (0 <= p < 1):
        raise DesignError(f"annual_dropout: got {annual_dropout!r}, expected a share in [0, 1)")
    return -math.log1p(-p) / 12.0


def look_events(information_rates: Sequence[float], planned_events: int) -> tuple[int, ...]:
    """Events at each look: information rate x planned events rounded to the nearest integer (0.65 x 159 -> 103)."""
    t = check_information_rates(information_rates)
    d = int(planned_events)
    if d <= 0 or d != planned_events:
        raise DesignError(f"planned_events: got {planned_events!r}, expected a whole number of events > 0")
    counts = tuple(int(math.floor(x * d + 0.5)) for x in t)
    if counts[0] < 1 or any(b <= a for a, b in zip(counts, counts[1:])):
        raise DesignError(f"planned_events: {d} events at information rates {t.tolist()} give looks at {list(counts)} "
                          "events, expected at least 1 and strictly increasing counts")
    return counts


def parse_piecewise(text: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """'0:0.04,6:0.03' -> starts (months) and control-arm hazards per month of a piecewise-exponential model."""
    starts, hz = [], []
    for part in str(text).split(","):
        if not part.strip():
            continue
        try:
            a, b = part.split(":")
            starts.append(float(a))
            hz.append(float(b))
        except ValueError:
            raise DesignError(f"piecewise: got {text!r}, expected start:hazard pairs such as '0:0.04,6:0.03' "
                              "(months : events per month)") from None
    if not starts:
        raise DesignError(f"piecewise: got {text!r}, expected at least one start:hazard pair")
    return tuple(starts), tuple(hz)


@dataclass(frozen=True)
class Scenario:
    """Everything a simulated trial needs; times in months, hazards per month, arm 1 = experimental."""

    n_patients: int
    allocation: tuple[int, int]  # (experimental, control) weights of the randomization
    block_sizes: tuple[int, ...]
    stratum_labels: tuple[str, ...]
    stratum_prevalence: tuple[float, ...]
    accrual_months: float
    hazard_starts: tuple[float, ...]  # control arm: piecewise-exponential pieces starting at these times
    control_hazards: tuple[float, ...]
    hazard_ratio: float
    delay_months: float  # the hazard ratio applies from here on; before it, HR = 1 (delayed effect)
    annual_dropout: float
    look_events: tuple[int, ...]
    efficacy_z: tuple[float, ...]
    stratified: bool = True
    arm_codes: tuple[str, str] = ("experimental", "control")

    def __post_init__(self) -> None:
        if int(self.n_patients) != self.n_patients or self.n_patients < 2:
            raise DesignError(f"n_patients: got {self.n_patients!r}, expected a whole number >= 2")
        we, wc = self.allocation
        if int(we) != we or int(wc) != wc or we <= 0 or wc <= 0:
            raise DesignError(f"allocation: got {self.allocation!r}, expected positive whole weights (experimental, control)")
        for b in self.block_sizes:
            if int(b) != b or b <= 0 or b % (we + wc):
                raise DesignError(f"block_sizes: got {list(self.block_sizes)}, expected positive multiples of "
                                  f"the allocation total {we + wc}")
        if not self.block_sizes:
            raise DesignError("block_sizes: got [], expected at least one block size")
        prev = np.asarray(self.stratum_prevalence, dtype=float)
        if len(prev) == 0 or len(prev) != len(self.stratum_labels) or np.any(prev < 0) or abs(prev.sum() - 1) > 1e-6:
            raise DesignError(f"stratum_prevalence: got {list(self.stratum_prevalence)}, expected one share >= 0 per "
                              f"stratum ({len(self.stratum_labels)}) summing to 1")
        if not (self.accrual_months > 0 and math.isfinite(self.accrual_months)):
            raise DesignError(f"accrual_months: got {self.accrual_months!r}, expected a duration > 0")
        s = self.hazard_starts
        if len(s) == 0 or len(s) != len(self.control_hazards):
            raise DesignError(f"piecewise: got starts {list(s)} and hazards {list(self.control_hazards)}, expected "
                              "one hazard per start")
        if s[0] != 0 or any(b <= a for a, b in zip(s, s[1:])):
            raise DesignError(f"piecewise: got starts {list(s)}, expected strictly increasing starts from 0")
        if any(not (h >= 0 and math.isfinite(h)) for h in self.control_hazards) or self.control_hazards[-1] <= 0:
            raise DesignError(f"piecewise: got hazards {list(self.control_hazards)}, expected finite hazards >= 0, "
                              "the last one > 0")
        if not (self.hazard_ratio > 0 and math.isfinite(self.hazard_ratio)):
            raise DesignError(f"hazard_ratio: got {self.hazard_ratio!r}, expected a hazard ratio > 0")
        if not (self.delay_months >= 0 and math.isfinite(self.delay_months)):
            raise DesignError(f"delay_months: got {self.delay_months!r}, expected a delay >= 0 months")
        monthly_dropout_rate(self.annual_dropout)
        if len(self.look_events) != len(self.efficacy_z) or not self.look_events:
            raise DesignError(f"look_events: got {list(self.look_events)} for {len(self.efficacy_z)} boundaries, "
                              "expected one event count per boundary")
        if self.look_events[0] < 1 or any(b <= a for a, b in zip(self.look_events, self.look_events[1:])):
            raise DesignError(f"look_events: got {list(self.look_events)}, expected strictly increasing counts >= 1")
        if self.look_events[-1] > self.n_patients:
            raise DesignError(f"look_events: got {list(self.look_events)} with {self.n_patients} patients, expected "
                              "no more events than patients")

    @property
    def dropout_rate(self) -> float:
        """Exponential dropout hazard per month."""
        return monthly_dropout_rate(self.annual_dropout)

    def piecewise_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Starts of the pieces and hazards (row 0 control, row 1 experimental) with the delay as a breakpoint."""
        starts = sorted(set(self.hazard_starts) | ({self.delay_months} if self.delay_months > 0 else set()))
        ctl = np.array([self.control_hazards[int(np.searchsorted(self.hazard_starts, x, side="right")) - 1]
                        for x in starts])
        mult = np.array([1.0 if x < self.delay_months else self.hazard_ratio for x in starts])
        return np.asarray(starts, dtype=float), np.ascontiguousarray(np.vstack([ctl, ctl * mult]))

    def describe(self) -> dict:
        """JSON-ready summary of the scenario."""
        return {"n_patients": self.n_patients, "allocation": list(self.allocation), "arm_codes": list(self.arm_codes),
                "block_sizes": list(self.block_sizes),
                "strata": [{"stratum": lab, "prevalence": p} for lab, p in zip(self.stratum_labels, self.stratum_prevalence)],
                "accrual_months": self.accrual_months,
                "control_hazards": [{"from_month": a, "hazard_per_month": h}
                                    for a, h in zip(self.hazard_starts, self.control_hazards)],
                "hazard_ratio": self.hazard_ratio, "delay_months": self.delay_months,
                "annual_dropout": self.annual_dropout, "look_events": list(self.look_events),
                "efficacy_z": list(self.efficacy_z), "stratified": self.stratified}


def scenario_from_protocol(protocol: object = None, *, hazard_ratio: Optional[float] = None,
                           control_median: Optional[float] = None, piecewise: Optional[str] = None,
                           delay_months: float = 0.0, stratified: bool = True, n_patients: Optional[int] = None,
                           accrual_months: Optional[float] = None, annual_dropout: Optional[float] = None,
                           planned_events: Optional[int] = None, information_rates: Optional[Sequence[float]] = None,
                           alpha: Optional[float] = None, spending: Optional[str] = None,
                           gamma: Optional[float] = None) -> Scenario:
    """The protocol's design (enrollment, ratio, blocks, strata, looks, boundary, accrual, dropout) with overrides."""
    from ikema.protocol import Protocol, load_protocol

    p: Protocol = load_protocol() if protocol is None else protocol  # type: ignore[assignment]
    if p.design is None:
        raise DesignError("protocol: field design: got nothing, expected a [design] table (events, rates, alpha, ...)")
    d = p.design
    exp_code = p.arm_by_role("experimental").code
    ctl_code = p.arm_by_role("control").code
    ratio = p.randomization.ratio
    if piecewise is not None and control_median is not None:
        raise DesignError("piecewise: got both --piecewise and --control-median, expected one control-arm model")
    if piecewise is not None:
        starts, hz = parse_piecewise(piecewise)
    else:
        med = float(d.control_median_pfs_months if control_median is None else control_median)
        if not (med > 0 and math.isfinite(med)):
            raise DesignError(f"control_median: got {control_median!r}, expected a median > 0 months")
        starts, hz = (0.0,), (math.log(2) / med,)
    rates = list(d.information_rates if information_rates is None else information_rates)
    bnd = efficacy_boundaries(rates, d.alpha_one_sided if alpha is None else alpha,
                              d.spending if spending is None else spending, gamma)
    if d.stratum_prevalence:
        labels = tuple("/".join(f"{k}={v}" for k, v in sp.levels.items()) for sp in d.stratum_prevalence)
        prev = tuple(float(sp.prevalence) for sp in d.stratum_prevalence)
    else:
        labels, prev = ("all",), (1.0,)
    return Scenario(
        n_patients=int(p.study.enrollment if n_patients is None else n_patients),
        allocation=(int(ratio[exp_code]), int(ratio[ctl_code])),
        block_sizes=tuple(int(b) for b in p.randomization.block_sizes),
        stratum_labels=labels, stratum_prevalence=prev,
        accrual_months=float(d.accrual_months if accrual_months is None else accrual_months),
        hazard_starts=tuple(float(x) for x in starts), control_hazards=tuple(float(x) for x in hz),
        hazard_ratio=float(d.hazard_ratio if hazard_ratio is None else hazard_ratio),
        delay_months=float(delay_months),
        annual_dropout=float(d.annual_dropout if annual_dropout is None else annual_dropout),
        look_events=look_events(rates, d.planned_pfs_events if planned_events is None else planned_events),
        efficacy_z=bnd.efficacy_z, stratified=bool(stratified), arm_codes=(exp_code, ctl_code))


def with_overrides(scenario: Scenario, **changes: object) -> Scenario:
    """A copy of the scenario with some fields changed (validated again)."""
    return replace(scenario, **changes)
